-- expense_ops: metrics and objectives. Slow statements sampled from pg_stat_statements,
-- connection usage and replication as api.health_db() reports them, consecutive check failures,
-- service level objectives with their error budgets and burn rates, and the tickets whose SLA
-- clocks are at risk: what the alert rules read. Operator data: expense_ops_admin reads it in
-- psql, the worker samples the statements and evaluates the rules, and no tenant sees any of it.

-- ---------------------------------------------------------------------------------------------
-- Slow statements. pg_stat_statements keeps running totals per statement since its last reset;
-- the worker snapshots them, and the differences between snapshots say what ran in a period.

CREATE TABLE ops.statement_samples (
  at              timestamptz NOT NULL,
  userid          oid NOT NULL,
  queryid         bigint NOT NULL,
  toplevel        boolean NOT NULL,
  query           text NOT NULL CHECK (length(query) <= 1000),
  calls           bigint NOT NULL CHECK (calls >= 0),
  total_exec_time double precision NOT NULL CHECK (total_exec_time >= 0),
  PRIMARY KEY (at, queryid, userid, toplevel)
) PARTITION BY RANGE (at);
COMMENT ON TABLE ops.statement_samples IS
  'Snapshots of pg_stat_statements for this database, written by ops.sample_statements(); one partition per day (UTC), kept 30 days (ops.partition_settings)';
COMMENT ON COLUMN ops.statement_samples.at IS 'When the snapshot was taken';
COMMENT ON COLUMN ops.statement_samples.userid IS 'The role that ran the statement (pg_stat_statements.userid)';
COMMENT ON COLUMN ops.statement_samples.queryid IS 'The statement''s query id (pg_stat_statements.queryid)';
COMMENT ON COLUMN ops.statement_samples.toplevel IS 'Run at top level, not inside a function (pg_stat_statements.toplevel)';
COMMENT ON COLUMN ops.statement_samples.query IS 'The normalised statement text, cut at 1000 characters';
COMMENT ON COLUMN ops.statement_samples.calls IS 'Executions counted since the last reset of pg_stat_statements';
COMMENT ON COLUMN ops.statement_samples.total_exec_time IS 'Their total execution time in ms since that reset';
GRANT SELECT ON ops.statement_samples TO expense_ops_admin, expense_ops_worker;
INSERT INTO ops.partition_settings (parent, granularity, retention) VALUES ('ops.statement_samples', 'day', '30 days');

-- The schema of pg_stat_statements when it is installed in this database and loaded
-- (shared_preload_libraries); NULL otherwise. Looked up at each call: the extension may come
-- and go after expense_ops. Internal.
CREATE FUNCTION ops.statement_stats_schema() RETURNS name
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  schema name;
BEGIN
  SELECT n.nspname INTO schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pg_stat_statements';
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  BEGIN
    -- Without its shared memory (not preloaded) it raises 55000 on first use. showtext => false
    -- leaves the file of statement texts unread.
    EXECUTE format('SELECT FROM %I.pg_stat_statements(false) LIMIT 1', schema);
  EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_function THEN
    RETURN NULL;
  END;
  RETURN schema;
END
$$;
COMMENT ON FUNCTION ops.statement_stats_schema() IS
  'The schema of pg_stat_statements when it is installed in this database and preloaded, else NULL';
REVOKE ALL ON FUNCTION ops.statement_stats_schema() FROM PUBLIC;

-- SECURITY DEFINER: pg_stat_statements shows other roles' statements (their text and query id)
-- only to superusers and members of pg_read_all_stats. The extension's owner is a superuser
-- (the control file says superuser = true), so a sample holds every role's statements; the
-- statements are normalised (constants become $1), and only operator roles read the samples.
CREATE FUNCTION ops.sample_statements(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  schema name;
  written integer;
BEGIN
  IF at IS NULL THEN
    RAISE EXCEPTION 'at must be an instant, not NULL'
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Leave it out to sample now.';
  END IF;
  schema := ops.statement_stats_schema();
  IF schema IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM ops.ensure_partitions('ops.statement_samples', ARRAY[at]);
  EXECUTE format($sql$
    INSERT INTO ops.statement_samples (at, userid, queryid, toplevel, query, calls, total_exec_time)
    SELECT $1, s.userid, s.queryid, s.toplevel, left(s.query, 1000), s.calls, s.total_exec_time
      FROM %I.pg_stat_statements(true) s
     WHERE s.dbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
       AND s.queryid IS NOT NULL AND s.calls > 0
    ON CONFLICT DO NOTHING$sql$, schema) USING at;
  GET DIAGNOSTICS written = ROW_COUNT;
  RETURN written;
END
$$;
COMMENT ON FUNCTION ops.sample_statements(timestamptz) IS
  'Snapshots pg_stat_statements (this database''s statements: query id, role, text cut at 1000 characters, calls, total execution time) into ops.statement_samples at `at`, and returns the rows written. Returns 0 and writes nothing when pg_stat_statements is not installed in this database or not in shared_preload_libraries. A second snapshot at the same instant writes nothing. Meant to run on a schedule, as the worker';
REVOKE ALL ON FUNCTION ops.sample_statements(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.sample_statements(timestamptz) TO expense_ops_worker, expense_ops_admin;

CREATE FUNCTION ops.slow_statements(since timestamptz, until timestamptz DEFAULT now())
RETURNS TABLE (queryid bigint, query text, calls bigint, mean_ms double precision,
               total_ms double precision, source text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF since IS NULL OR until IS NULL OR until <= since THEN
    RAISE EXCEPTION 'the period must end after it starts (since %, until %)', since, until
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Ask for since => now() - interval ''1 hour''.';
  END IF;
  IF NOT EXISTS (SELECT FROM ops.statement_samples s WHERE s.at >= since AND s.at <= until)
     AND ops.statement_stats_schema() IS NULL THEN
    -- Nothing sampled and nothing to sample: what runs now is all there is to say.
    RETURN QUERY
    SELECT a.query_id, left(a.query, 1000), 1::bigint, r.ms, r.ms, 'pg_stat_activity'::text
      FROM pg_stat_activity a
     CROSS JOIN LATERAL (SELECT extract(epoch FROM clock_timestamp() - a.query_start)::double precision * 1000 AS ms) r
     WHERE a.state = 'active' AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
       AND a.datname = current_database() AND a.query_start < clock_timestamp() - interval '1 second'
     ORDER BY r.ms DESC, a.pid;
    RETURN;
  END IF;
  RETURN QUERY
  WITH taken AS (
    SELECT s.*, min(s.at) OVER () AS first_at
      FROM ops.statement_samples s WHERE s.at >= since AND s.at <= until
  ), steps AS (
    SELECT t.queryid, t.query, t.at, t.first_at, t.calls, t.total_exec_time,
           lag(t.calls) OVER k AS previous_calls, lag(t.total_exec_time) OVER k AS previous_time
      FROM taken t
    WINDOW k AS (PARTITION BY t.queryid, t.userid, t.toplevel ORDER BY t.at)
  ), deltas AS (
    -- Each snapshot against the statement's one before it. The first snapshot of the period is
    -- the baseline; a statement first seen later is new (or was evicted) and counts from zero,
    -- and so do totals that shrank: pg_stat_statements was reset in between.
    SELECT st.queryid, st.query, st.at,
           CASE WHEN st.previous_calls IS NULL AND st.at = st.first_at THEN 0
                WHEN st.previous_calls IS NULL OR st.calls < st.previous_calls
                     OR st.total_exec_time < st.previous_time THEN st.calls
                ELSE st.calls - st.previous_calls END AS calls,
           CASE WHEN st.previous_calls IS NULL AND st.at = st.first_at THEN 0
                WHEN st.previous_calls IS NULL OR st.calls < st.previous_calls
                     OR st.total_exec_time < st.previous_time THEN st.total_exec_time
                ELSE st.total_exec_time - st.previous_time END AS total_ms
      FROM steps st
  ), per_statement AS (
    SELECT d.queryid, (array_agg(d.query ORDER BY d.at DESC))[1] AS query, sum(d.calls)::bigint AS calls,
           sum(d.total_ms) AS total_ms
      FROM deltas d GROUP BY d.queryid
  )
  SELECT p.queryid, p.query, p.calls, p.total_ms / p.calls, p.total_ms, 'pg_stat_statements'::text
    FROM per_statement p WHERE p.calls > 0
   ORDER BY p.total_ms / p.calls DESC, p.queryid;
END
$$;
COMMENT ON FUNCTION ops.slow_statements(timestamptz, timestamptz) IS
  'The statements that ran between the first snapshot at or after `since` and the last at or before `until` (ops.sample_statements), slowest mean first: calls, mean and total execution time in ms, summed over roles; a reset of pg_stat_statements in between counts from zero. Source pg_stat_statements. With no snapshot in the period and pg_stat_statements not available, falls back to pg_stat_activity: the statements of this database running for more than 1 s now (whatever the period), each as 1 call of its running time, source pg_stat_activity';
REVOKE ALL ON FUNCTION ops.slow_statements(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.slow_statements(timestamptz, timestamptz) TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Connections and replication: the facts and judgement of api.health_db(), one source of truth.

CREATE FUNCTION ops.health_db_detail() RETURNS jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_health_db_detail';
COMMENT ON FUNCTION ops.health_db_detail() IS
  'What api.health_db() answers members of expense_ops_admin, whoever calls; internal: the metrics below read it as the extension''s owner';
REVOKE ALL ON FUNCTION ops.health_db_detail() FROM PUBLIC;

CREATE FUNCTION ops.connection_usage()
RETURNS TABLE (used integer, max_connections integer, reserved integer, percent double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT (h.c->>'used')::integer, (h.c->>'max')::integer, (h.c->>'reserved_for_superuser')::integer,
         (h.c->>'percent')::double precision
    FROM (SELECT ops.health_db_detail()->'connections' AS c) h
$$;
COMMENT ON FUNCTION ops.connection_usage() IS
  'Connections as api.health_db() counts them: client backends open (used), max_connections, the superuser_reserved_connections (reserved), and percent = used of the slots open to ordinary roles (max - reserved), which api.health_db() degrades at 80 and downs at 95';
REVOKE ALL ON FUNCTION ops.connection_usage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.connection_usage() TO expense_ops_admin, expense_ops_worker;

CREATE FUNCTION ops.replication_metrics()
RETURNS TABLE (standby text, state text, lag_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH health AS (SELECT ops.health_db_detail()->'replication' AS r)
  SELECT x.replica->>'application_name', x.replica->>'state', (x.replica->>'replay_lag_seconds')::double precision
    FROM health h
   CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN h.r->>'role' = 'primary' THEN h.r->'replicas' ELSE '[]' END) x(replica)
  UNION ALL
  SELECT 'self', coalesce(h.r->>'wal_receiver', 'stopped'), (h.r->>'replay_lag_seconds')::double precision
    FROM health h WHERE h.r->>'role' = 'standby'
  ORDER BY 1, 2
$$;
COMMENT ON FUNCTION ops.replication_metrics() IS
  'Replication as api.health_db() reports it. On a primary, one row per connected standby: its application_name, its WAL sender''s state (streaming, catchup, ...) and its replay lag in seconds (NULL when idle and caught up). On a standby, one row named self: its WAL receiver''s state (stopped when none runs) and how far its replay trails the primary, in seconds';
REVOKE ALL ON FUNCTION ops.replication_metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.replication_metrics() TO expense_ops_admin, expense_ops_worker;

CREATE FUNCTION ops.standby_count() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN h.r->>'role' = 'primary' THEN (h.r->>'streaming_replicas')::integer END
    FROM (SELECT ops.health_db_detail()->'replication' AS r) h
$$;
COMMENT ON FUNCTION ops.standby_count() IS
  'On a primary, how many standbys stream from it (api.health_db()''s streaming_replicas, to compare with ops.health_settings.expected_replicas); NULL on a standby, which does not see its siblings';
REVOKE ALL ON FUNCTION ops.standby_count() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.standby_count() TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Consecutive failures. Each lookup walks one check's newest results backwards on the primary
-- key of ops.check_results, (check_id, started_at), partition by partition.

CREATE FUNCTION ops.consecutive_failures(at timestamptz DEFAULT now())
RETURNS TABLE (check_id text, failures integer, last_outcome text, since timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF at IS NULL THEN
    RAISE EXCEPTION 'at must be an instant, not NULL'
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Leave it out to ask about now.';
  END IF;
  RETURN QUERY
  SELECT c.check_id, coalesce(f.failures, 0)::integer, l.outcome, f.since
    FROM ops.checks c
    LEFT JOIN LATERAL (
      SELECT r.outcome FROM ops.check_results r
       WHERE r.check_id = c.check_id AND r.started_at <= consecutive_failures.at
       ORDER BY r.started_at DESC LIMIT 1) l ON true
    LEFT JOIN LATERAL (
      SELECT max(r.started_at) AS last_up FROM ops.check_results r
       WHERE r.check_id = c.check_id AND r.started_at <= consecutive_failures.at AND r.outcome = 'up') u ON true
    LEFT JOIN LATERAL (
      SELECT count(*) AS failures, min(r.started_at) AS since FROM ops.check_results r
       WHERE r.check_id = c.check_id AND r.started_at <= consecutive_failures.at
         AND r.started_at > coalesce(u.last_up, '-infinity') AND r.outcome = 'down') f ON true
   WHERE c.enabled
   ORDER BY c.check_id;
END
$$;
COMMENT ON FUNCTION ops.consecutive_failures(timestamptz) IS
  'Per enabled check, its newest results up to `at`: failures = how many down results came since its last up result (unknown results, runs the worker missed, neither count nor break the run), since = when the first of them started (NULL with none), last_outcome = the newest result''s outcome, unknown included (NULL with no results)';
REVOKE ALL ON FUNCTION ops.consecutive_failures(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.consecutive_failures(timestamptz) TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Service level objectives: each counts good events among all events over a period, from the
-- check results (availability) or the per-minute request rollups (error rate, latency).

-- Counts the durations of a sketch below a threshold, for "good = faster than 200 ms".
CREATE FUNCTION ops.sketch_count_below(sketch ops.latency_sketch, threshold_ms double precision) RETURNS bigint
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sketch_count_below';
COMMENT ON FUNCTION ops.sketch_count_below(ops.latency_sketch, double precision) IS
  'How many sketched durations lie below threshold_ms, within 1 %: all those below 0.99 * threshold_ms and none at or above 1.01 * threshold_ms; exact when the threshold is at or below the minimum (0) or above the maximum (all). A NaN or negative threshold is refused (22X60)';
REVOKE ALL ON FUNCTION ops.sketch_count_below(ops.latency_sketch, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.sketch_count_below(ops.latency_sketch, double precision) TO expense_ops_admin, expense_ops_worker;

CREATE TABLE ops.slos (
  slo          text PRIMARY KEY CHECK (slo ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  description  text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
  kind         text NOT NULL CHECK (kind IN ('availability', 'error_rate', 'latency')),
  objective    double precision NOT NULL CHECK (objective > 0 AND objective < 1),
  period       interval NOT NULL DEFAULT '30 days' CHECK (period > '0' AND period <= '400 days'),
  threshold_ms double precision CHECK (threshold_ms > 0 AND threshold_ms < 'Infinity'),
  matchers     jsonb NOT NULL DEFAULT '[]' CHECK (ops.check_matchers(matchers)),
  enabled      boolean NOT NULL DEFAULT true,
  CONSTRAINT threshold_for_latency CHECK ((kind = 'latency') = (threshold_ms IS NOT NULL))
);
COMMENT ON TABLE ops.slos IS
  'Service level objectives. Each counts good events among all events over its period: availability from the check results (good = up, out of up and down; unknown runs and maintenance excluded), error_rate and latency from ops.request_rollups (good = not 5xx; good = faster than threshold_ms). Edited by expense_ops_admin; read with ops.slo_status() and ops.slo_burn_rate()';
COMMENT ON COLUMN ops.slos.slo IS 'Name of the objective (lowercase, dots and dashes allowed)';
COMMENT ON COLUMN ops.slos.description IS 'What it promises, in words';
COMMENT ON COLUMN ops.slos.kind IS 'availability (check results), error_rate or latency (requests)';
COMMENT ON COLUMN ops.slos.objective IS 'The share of good events promised, strictly between 0 and 1 (0.995 for 99.5 %)';
COMMENT ON COLUMN ops.slos.period IS 'The rolling period it is judged over (default 30 days, at most 400)';
COMMENT ON COLUMN ops.slos.threshold_ms IS 'latency only (and required there): a request faster than this many ms is good';
COMMENT ON COLUMN ops.slos.matchers IS 'Label matchers (JSON array of {"name", "op", "value"}) choosing what counts: for availability the checks, by their labels and check_id; for requests the routes, by the label route. [] counts everything';
COMMENT ON COLUMN ops.slos.enabled IS 'Disabled objectives are left out of ops.slo_status()';
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.slos TO expense_ops_admin;
GRANT SELECT ON ops.slos TO expense_ops_worker;
SELECT pg_catalog.pg_extension_config_dump('ops.slos', '');

-- Clear errors before the CHECK constraints would answer.
CREATE FUNCTION ops.validate_slo() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_RELID <> 'ops.slos'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_slo() fires only BEFORE each row of ops.slos, not on %', TG_RELID::regclass
      USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF NEW.kind IS NULL OR NEW.kind NOT IN ('availability', 'error_rate', 'latency') THEN
    RAISE EXCEPTION 'kind: % is not availability, error_rate or latency', coalesce(NEW.kind, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter'),
            HINT = 'availability counts check results, error_rate and latency count requests.';
  END IF;
  IF NEW.objective IS NULL OR NOT (NEW.objective > 0 AND NEW.objective < 1) THEN
    RAISE EXCEPTION 'objective: % is not a share strictly between 0 and 1', coalesce(NEW.objective::text, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter'),
            HINT = 'Write 0.995 for 99.5 %; an objective of 1 leaves no error budget.';
  END IF;
  IF NEW.period IS NULL OR NEW.period <= interval '0' OR NEW.period > interval '400 days' THEN
    RAISE EXCEPTION 'period: % is not a positive interval of at most 400 days', coalesce(NEW.period::text, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'The plan judges over ''30 days''.';
  END IF;
  IF NEW.kind = 'latency' AND (NEW.threshold_ms IS NULL OR NOT (NEW.threshold_ms > 0 AND NEW.threshold_ms < 'Infinity')) THEN
    RAISE EXCEPTION 'threshold_ms: a latency objective needs a positive threshold, not %', coalesce(NEW.threshold_ms::text, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter'),
            HINT = 'Set threshold_ms => 200 to count requests faster than 200 ms as good.';
  END IF;
  IF NEW.kind <> 'latency' AND NEW.threshold_ms IS NOT NULL THEN
    RAISE EXCEPTION 'threshold_ms: only a latency objective has a threshold, not an % one', NEW.kind
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Leave threshold_ms NULL.';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION ops.validate_slo() IS
  'BEFORE each write of ops.slos: a known kind, an objective strictly between 0 and 1, a positive period of at most 400 days, and a positive threshold_ms for latency only (22023)';
REVOKE ALL ON FUNCTION ops.validate_slo() FROM PUBLIC;
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON ops.slos FOR EACH ROW EXECUTE FUNCTION ops.validate_slo();

-- The support plan's objectives.
INSERT INTO ops.slos (slo, kind, objective, period, threshold_ms, matchers, description) VALUES
  ('availability', 'availability', 0.995, '30 days', NULL, '[{"name": "service", "op": "=", "value": "api"}]',
   'Availability above 99.5 %: the runs of the API''s checks (label service=api) are up'),
  ('error_rate', 'error_rate', 0.999, '30 days', NULL, '[]',
   'Error rate below 0.1 %: requests answered without a 5xx'),
  ('latency_p95', 'latency', 0.95, '30 days', 200, '[]',
   'P95 below 200 ms: 95 % of requests answered in under 200 ms');

-- An objective's events in [since, until). Requests count by whole minutes of the rollups, and
-- the period is moved back to end where the minute holding `until` starts, so that a short
-- window (the 5 minutes of a burn-rate alert) holds as many whole minutes as it is long.
-- Internal: its callers run as the extension's owner.
CREATE FUNCTION ops.slo_events(target ops.slos, since timestamptz, until timestamptz,
                               OUT good bigint, OUT total bigint, OUT unknown bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  last_minute timestamptz;
BEGIN
  IF target.kind = 'availability' THEN
    SELECT count(*) FILTER (WHERE r.outcome = 'up'), count(*) FILTER (WHERE r.outcome IN ('up', 'down')),
           count(*) FILTER (WHERE r.outcome = 'unknown')
      INTO good, total, unknown
      FROM ops.checks c
      JOIN ops.check_results r ON r.check_id = c.check_id
     WHERE r.started_at >= since AND r.started_at < until
       AND ops.labels_match(target.matchers, ops.check_labels(c))
       AND NOT EXISTS (SELECT FROM ops.maintenance_windows w
                        WHERE w.starts_at <= r.started_at AND w.ends_at > r.started_at
                          AND ops.labels_match(w.matchers, ops.check_labels(c)));
    RETURN;
  END IF;
  last_minute := date_trunc('minute', until AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  SELECT coalesce(sum(CASE WHEN target.kind = 'error_rate' THEN r.requests - r.status_5xx
                           ELSE ops.sketch_count_below(r.latency, target.threshold_ms) END), 0)::bigint,
         coalesce(sum(r.requests), 0)::bigint
    INTO good, total
    FROM ops.request_rollups r
   WHERE r.minute >= last_minute - (until - since) AND r.minute < last_minute
     AND (target.matchers = '[]' OR ops.labels_match(target.matchers, jsonb_build_object('route', r.route)));
END
$$;
COMMENT ON FUNCTION ops.slo_events(ops.slos, timestamptz, timestamptz) IS
  'An objective''s good and total events in [since, until), and for availability the unknown check results left out; requests count by the whole minutes of the rollups before the minute holding `until`';
REVOKE ALL ON FUNCTION ops.slo_events(ops.slos, timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION ops.slo_status(at timestamptz DEFAULT now())
RETURNS TABLE (slo text, objective double precision, good bigint, total bigint, attainment double precision,
               error_budget_remaining double precision, kind text, period interval, unknown bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF at IS NULL THEN
    RAISE EXCEPTION 'at must be an instant, not NULL'
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Leave it out to ask about now.';
  END IF;
  RETURN QUERY
  SELECT s.slo, s.objective, e.good, e.total, e.good::double precision / nullif(e.total, 0),
         1 - ((e.total - e.good)::double precision / nullif(e.total, 0)) / (1 - s.objective),
         s.kind, s.period, e.unknown
    FROM ops.slos s
   CROSS JOIN LATERAL ops.slo_events(s, slo_status.at - s.period, slo_status.at) e
   WHERE s.enabled
   ORDER BY s.slo;
END
$$;
COMMENT ON FUNCTION ops.slo_status(timestamptz) IS
  'Each enabled objective over its period ending at `at`: good and total events, attainment = good / total, and error_budget_remaining = 1 - (bad / total) / (1 - objective): 1 untouched, 0 spent, negative overspent; both NULL with no events. unknown = the unknown check results left out (availability only; NULL for requests). Requests count by whole minutes, the period ending where the minute holding `at` starts';
REVOKE ALL ON FUNCTION ops.slo_status(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.slo_status(timestamptz) TO expense_ops_admin, expense_ops_worker;

CREATE FUNCTION ops.slo_burn_rate(slo text, period interval, at timestamptz DEFAULT now())
RETURNS double precision
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  target ops.slos;
  events record;
BEGIN
  SELECT * INTO target FROM ops.slos s WHERE s.slo = slo_burn_rate.slo;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no SLO "%"', slo_burn_rate.slo
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'See ops.slos.';
  END IF;
  IF slo_burn_rate.period IS NULL OR slo_burn_rate.period <= interval '0' THEN
    RAISE EXCEPTION 'the window must be a positive interval, not %', coalesce(slo_burn_rate.period::text, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Ask for interval ''1 hour'' or ''5 minutes''.';
  END IF;
  IF slo_burn_rate.at IS NULL THEN
    RAISE EXCEPTION 'at must be an instant, not NULL'
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Leave it out to ask about now.';
  END IF;
  SELECT * INTO events FROM ops.slo_events(target, slo_burn_rate.at - slo_burn_rate.period, slo_burn_rate.at);
  IF events.total = 0 THEN
    RETURN NULL;
  END IF;
  RETURN ((events.total - events.good)::double precision / events.total) / (1 - target.objective);
END
$$;
COMMENT ON FUNCTION ops.slo_burn_rate(text, interval, timestamptz) IS
  'How fast an objective spends its error budget over the window ending at `at`: (bad / total) / (1 - objective). 1 spends the budget exactly over the objective''s period; the multi-window alerts page at 14.4 over both 1 hour and 5 minutes. NULL with no events in the window. Requests count by whole minutes, the window ending where the minute holding `at` starts';
REVOKE ALL ON FUNCTION ops.slo_burn_rate(text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.slo_burn_rate(text, interval, timestamptz) TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Tickets at risk: the SLA clocks that have crossed into at_risk or breached
-- (ops.sla_transitions) and still run.

CREATE FUNCTION ops.sla_tickets_at_risk(at timestamptz DEFAULT now())
RETURNS TABLE (ticket_id bigint, priority text, clock text, state text, since timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF at IS NULL THEN
    RAISE EXCEPTION 'at must be an instant, not NULL'
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Leave it out to ask about now.';
  END IF;
  RETURN QUERY
  SELECT t.ticket_id, t.priority, x.clock, x.state::text, x.at
    FROM ops.tickets t
   CROSS JOIN LATERAL (
     -- The latest state of each clock by `at`: breached once it has been, else at_risk.
     SELECT DISTINCT ON (tr.clock) tr.clock, tr.state, tr.at
       FROM ops.sla_transitions tr
      WHERE tr.ticket_id = t.ticket_id AND tr.at <= sla_tickets_at_risk.at
      ORDER BY tr.clock, tr.state DESC, tr.at DESC) x
   WHERE t.opened_at <= sla_tickets_at_risk.at
     AND (t.closed_at IS NULL OR t.closed_at > sla_tickets_at_risk.at)
     AND CASE x.clock WHEN 'response' THEN t.first_response_at IS NULL OR t.first_response_at > sla_tickets_at_risk.at
                      ELSE t.resolved_at IS NULL OR t.resolved_at > sla_tickets_at_risk.at END
   ORDER BY x.state DESC, x.at, t.ticket_id, x.clock;
END
$$;
COMMENT ON FUNCTION ops.sla_tickets_at_risk(timestamptz) IS
  'The SLA clocks of open tickets that are at_risk or breached at `at` (ops.sla_transitions; breached wins over at_risk), since when: a response clock until the first response, a resolution clock until the ticket is resolved, and none once it is closed. Breached first, then the oldest';
REVOKE ALL ON FUNCTION ops.sla_tickets_at_risk(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.sla_tickets_at_risk(timestamptz) TO expense_ops_admin, expense_ops_worker;
