-- expense_ops: monitoring data. The checks the worker runs and their results, the request log
-- and its per-minute rollups, and the partitions that keep the high-volume tables by day with
-- retention. Operator data: DBAs read it as expense_ops_admin, the worker writes it through the
-- functions below, and no tenant sees any of it (DESIGN.md section 3). The rules for each
-- ingested row are extension/core/ingest.*.

-- ---------------------------------------------------------------------------------------------
-- Settings.

CREATE TABLE ops.monitoring_settings (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  base_url  text NOT NULL DEFAULT 'http://127.0.0.1:3000' CHECK (base_url ~ '^https?://[^/\s]+(/[^\s]*)?$' AND base_url !~ '/$'),
  clock_skew interval NOT NULL DEFAULT '5 minutes' CHECK (clock_skew >= '0' AND clock_skew <= '1 day')
);
COMMENT ON TABLE ops.monitoring_settings IS 'One row: how monitoring reaches the API and how far ahead of the database clock an ingested row may be';
COMMENT ON COLUMN ops.monitoring_settings.singleton IS 'Always true: there is one row';
COMMENT ON COLUMN ops.monitoring_settings.base_url IS 'Where PostgREST serves the api schema; an http check whose target starts with / is relative to it (no trailing /)';
COMMENT ON COLUMN ops.monitoring_settings.clock_skew IS 'How far in the future an ingested request or check result may be before it is rejected (default 5 minutes)';
INSERT INTO ops.monitoring_settings DEFAULT VALUES;
GRANT SELECT, UPDATE ON ops.monitoring_settings TO expense_ops_admin;
GRANT SELECT ON ops.monitoring_settings TO expense_ops_worker;
SELECT pg_catalog.pg_extension_config_dump('ops.monitoring_settings', '');

-- The tables kept in partitions, and how long each keeps its rows.
CREATE TABLE ops.partition_settings (
  parent      regclass PRIMARY KEY,
  granularity text NOT NULL CHECK (granularity IN ('day', 'month')),
  retention   interval NOT NULL CHECK (retention >= '1 day'),
  premade     integer NOT NULL DEFAULT 3 CHECK (premade BETWEEN 1 AND 60)
);
COMMENT ON TABLE ops.partition_settings IS 'The partitioned monitoring tables: one partition per day or month, made ahead and dropped past the retention by ops.maintain_partitions()';
COMMENT ON COLUMN ops.partition_settings.parent IS 'The partitioned table';
COMMENT ON COLUMN ops.partition_settings.granularity IS 'day or month: the span of one partition (in UTC)';
COMMENT ON COLUMN ops.partition_settings.retention IS 'A partition is dropped once all of it is older than this';
COMMENT ON COLUMN ops.partition_settings.premade IS 'How many partitions to keep made ahead of the current one';
GRANT SELECT ON ops.partition_settings TO expense_ops_worker;
GRANT SELECT, UPDATE (retention, premade) ON ops.partition_settings TO expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Checks.

CREATE TABLE ops.checks (
  check_id        text PRIMARY KEY CHECK (check_id ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  kind            text NOT NULL CHECK (kind IN ('http', 'tcp', 'db', 'sql')),
  target          text NOT NULL CHECK (target <> '' AND length(target) <= 2000),
  method          text CHECK (method IN ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')),
  headers         jsonb NOT NULL DEFAULT '{}',
  body            text,
  expected_status integer CHECK (expected_status BETWEEN 100 AND 599),
  expected_body   text,
  credentials     text CHECK (credentials ~ '^[a-z][a-z0-9_-]{0,62}$'),
  every           interval NOT NULL CHECK (every >= '1 second' AND every <= '1 day'),
  timeout         interval NOT NULL DEFAULT '10 seconds' CHECK (timeout > '0' AND timeout <= every),
  enabled         boolean NOT NULL DEFAULT true,
  labels          jsonb NOT NULL DEFAULT '{}',
  description     text NOT NULL DEFAULT '',
  CONSTRAINT http_has_method_and_status CHECK (kind <> 'http' OR (method IS NOT NULL AND expected_status IS NOT NULL)),
  CONSTRAINT http_only_fields CHECK (kind = 'http' OR (method IS NULL AND headers = '{}' AND body IS NULL
                                                       AND expected_status IS NULL AND expected_body IS NULL)),
  CONSTRAINT http_target CHECK (kind <> 'http' OR target ~ '^(/|https?://)'),
  CONSTRAINT tcp_target CHECK (kind <> 'tcp' OR target ~ '^[^\s:]+:[0-9]{1,5}$'),
  CONSTRAINT db_target CHECK (kind <> 'db' OR target ~ '^[a-z][a-z0-9_-]{0,62}$'),
  CONSTRAINT headers_are_strings CHECK (jsonb_typeof(headers) = 'object'
    AND NOT jsonb_path_exists(headers, '$.* ? (@.type() != "string")')),
  -- A secret has no place here: a check that needs one names it (credentials), and the worker's
  -- configuration holds it.
  CONSTRAINT no_secrets_in_headers CHECK (NOT jsonb_path_exists(headers,
    '$.keyvalue() ? (@.key like_regex "^(authorization|proxy-authorization|cookie|x-api-key|apikey)$" flag "i")')),
  CONSTRAINT labels_are_strings CHECK (jsonb_typeof(labels) = 'object'
    AND NOT jsonb_path_exists(labels, '$.* ? (@.type() != "string")')),
  -- Alertmanager refuses other label names, and alerts carry a check's labels.
  CONSTRAINT label_names CHECK (NOT jsonb_path_exists(labels, '$.keyvalue() ? (!(@.key like_regex "^[A-Za-z_][A-Za-z0-9_]*$"))'))
);
COMMENT ON TABLE ops.checks IS 'What the worker checks and how often. Edited by expense_ops_admin; secrets never live here, only the name of one in the worker''s configuration';
COMMENT ON COLUMN ops.checks.check_id IS 'Name of the check (lowercase, dots and dashes allowed)';
COMMENT ON COLUMN ops.checks.kind IS 'http (a request), tcp (a connect), db (connect with a named DSN and SELECT 1) or sql (a probe query that must return true)';
COMMENT ON COLUMN ops.checks.target IS 'http: a URL, or a path relative to ops.monitoring_settings.base_url; tcp: host:port; db: the name of a connection in the worker''s configuration; sql: the probe query';
COMMENT ON COLUMN ops.checks.method IS 'http: the method';
COMMENT ON COLUMN ops.checks.headers IS 'http: request headers as a JSON object of strings; no Authorization, Cookie or API key (use credentials)';
COMMENT ON COLUMN ops.checks.body IS 'http: the request body';
COMMENT ON COLUMN ops.checks.expected_status IS 'http: the status that means up';
COMMENT ON COLUMN ops.checks.expected_body IS 'http: a substring the body must contain to be up';
COMMENT ON COLUMN ops.checks.credentials IS 'The name of a secret in the worker''s configuration that the check logs in with (the monitoring account); never the secret itself';
COMMENT ON COLUMN ops.checks.every IS 'The interval between runs';
COMMENT ON COLUMN ops.checks.timeout IS 'A run taking longer is down (at most the interval)';
COMMENT ON COLUMN ops.checks.enabled IS 'Disabled checks are not run';
COMMENT ON COLUMN ops.checks.labels IS 'Labels (JSON object of strings) carried by the check''s metrics and alerts';
COMMENT ON COLUMN ops.checks.description IS 'What the check proves';
GRANT SELECT ON ops.checks TO expense_ops_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.checks TO expense_ops_admin;
SELECT pg_catalog.pg_extension_config_dump('ops.checks', '');

-- The support plan's checks. The login and expenses checks log in as the monitoring account,
-- whose password is the worker's secret "monitoring".
INSERT INTO ops.checks (check_id, kind, target, method, body, expected_status, expected_body, credentials, every, timeout, labels, description) VALUES
  ('health', 'http', '/rpc/health', 'GET', NULL, 200, '"status"', NULL, '30 seconds', '5 seconds',
   '{"service": "api", "route": "/rpc/health"}', 'The API answers its health endpoint'),
  ('endpoint.health', 'http', '/rpc/health', 'GET', NULL, 200, NULL, NULL, '5 minutes', '10 seconds',
   '{"service": "api", "route": "/rpc/health", "suite": "endpoints"}', 'Endpoint test: /rpc/health'),
  ('endpoint.health_db', 'http', '/rpc/health_db', 'GET', NULL, 200, NULL, NULL, '5 minutes', '10 seconds',
   '{"service": "api", "route": "/rpc/health_db", "suite": "endpoints"}', 'Endpoint test: /rpc/health_db'),
  ('endpoint.login', 'http', '/rpc/login', 'POST', NULL, 200, '"token"', 'monitoring', '5 minutes', '10 seconds',
   '{"service": "api", "route": "/rpc/login", "suite": "endpoints"}', 'Endpoint test: the monitoring account logs in'),
  ('endpoint.expenses', 'http', '/expenses?limit=1', 'GET', NULL, 200, NULL, 'monitoring', '5 minutes', '10 seconds',
   '{"service": "api", "route": "/expenses", "suite": "endpoints"}', 'Endpoint test: the monitoring account lists expenses'),
  ('database', 'db', 'primary', NULL, NULL, NULL, NULL, NULL, '1 minute', '10 seconds',
   '{"service": "database"}', 'The database accepts a connection and answers SELECT 1');

-- Each run of a check. The worker records a run it missed as unknown, with the reason.
CREATE TABLE ops.check_results (
  check_id    text NOT NULL,
  started_at  timestamptz NOT NULL,
  duration_ms double precision CHECK (duration_ms >= 0 AND duration_ms < 'Infinity'),
  outcome     text NOT NULL CHECK (outcome IN ('up', 'down', 'unknown')),
  status      integer CHECK (status BETWEEN 100 AND 599),
  detail      text CHECK (length(detail) <= 1000),
  timings     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(timings) = 'object'),
  worker      text,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (check_id, started_at),
  CHECK (outcome <> 'unknown' OR detail IS NOT NULL)
) PARTITION BY RANGE (started_at);
COMMENT ON TABLE ops.check_results IS 'Every run of every check, one partition per day (UTC), kept 30 days by default (ops.partition_settings)';
COMMENT ON COLUMN ops.check_results.check_id IS 'The check (ops.checks)';
COMMENT ON COLUMN ops.check_results.started_at IS 'When the run started';
COMMENT ON COLUMN ops.check_results.duration_ms IS 'How long it took, in ms';
COMMENT ON COLUMN ops.check_results.outcome IS 'up, down, or unknown for a run the worker missed (the reason in detail)';
COMMENT ON COLUMN ops.check_results.status IS 'The HTTP status, for http checks';
COMMENT ON COLUMN ops.check_results.detail IS 'The short error of a run that was down, the reason of an unknown one (at most 1000 characters)';
COMMENT ON COLUMN ops.check_results.timings IS 'For http: the time to DNS, connect, TLS, first byte and total, in ms';
COMMENT ON COLUMN ops.check_results.worker IS 'Which worker ran it';
COMMENT ON COLUMN ops.check_results.recorded_at IS 'When the database received it';
GRANT SELECT ON ops.check_results TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Requests.

-- One CHECK for the whole row, in C++ (core/ingest.*, the rules the loading functions apply): a
-- row that reaches the log by COPY or INSERT straight into it is held to them too. One call a
-- row costs a fifth of what five separate CHECKs did.
CREATE FUNCTION ops.request_is_valid(method text, route text, status integer, duration_ms double precision,
                                     sqlstate text) RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_request_is_valid';
COMMENT ON FUNCTION ops.request_is_valid(text, text, integer, double precision, text) IS
  'Whether a request may be stored in ops.request_log: method one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS; route starting with / and at most 200 bytes, with no control character; status 100-599; duration_ms finite and at or above 0; sqlstate NULL or five characters of 0-9 and A-Z. The log''s CHECK';
-- The CHECK runs with the writer's rights: a role given INSERT on the log needs EXECUTE too.
REVOKE ALL ON FUNCTION ops.request_is_valid(text, text, integer, double precision, text) FROM PUBLIC;

CREATE TABLE ops.request_log (
  at          timestamptz NOT NULL,
  method      text NOT NULL,
  route       text NOT NULL,
  status      integer NOT NULL,
  duration_ms double precision NOT NULL,
  sqlstate    text,
  org_id      uuid,
  user_id     uuid,
  CONSTRAINT request_is_valid CHECK (ops.request_is_valid(method, route, status, duration_ms, sqlstate))
) PARTITION BY RANGE (at);
COMMENT ON TABLE ops.request_log IS 'Every API request: one partition per day (UTC), kept 14 days by default. Load it with ops.ingest_requests(jsonb), or COPY into ops.request_staging and call ops.load_request_staging(); a clean bulk load may COPY into it directly once ops.maintain_partitions() has made the partitions';
COMMENT ON COLUMN ops.request_log.at IS 'When the request arrived';
COMMENT ON COLUMN ops.request_log.method IS 'HTTP method';
COMMENT ON COLUMN ops.request_log.route IS 'The route, without the query string (e.g. /rpc/login, /expenses)';
COMMENT ON COLUMN ops.request_log.status IS 'HTTP status answered';
COMMENT ON COLUMN ops.request_log.duration_ms IS 'Time to answer, in ms';
COMMENT ON COLUMN ops.request_log.sqlstate IS 'The SQLSTATE of a failed request, when known';
COMMENT ON COLUMN ops.request_log.org_id IS 'The caller''s organisation, when logged in';
COMMENT ON COLUMN ops.request_log.user_id IS 'The caller, when logged in';
GRANT SELECT ON ops.request_log TO expense_ops_admin, expense_ops_worker;

-- COPY's text format stops at the first bad value (PostgreSQL 15), so bulk loads land here as
-- text first, and ops.load_request_staging() keeps the good rows and reports the others.
CREATE UNLOGGED TABLE ops.request_staging (
  line        bigint GENERATED ALWAYS AS IDENTITY,
  at          text,
  method      text,
  route       text,
  status      text,
  duration_ms text,
  sqlstate    text,
  org_id      text,
  user_id     text
);
COMMENT ON TABLE ops.request_staging IS 'Requests as text, for COPY ops.request_staging (at, method, route, status, duration_ms, sqlstate, org_id, user_id) FROM ...; ops.load_request_staging() moves them into ops.request_log';
COMMENT ON SEQUENCE ops.request_staging_line_seq IS 'Numbers the staged rows';
COMMENT ON COLUMN ops.request_staging.line IS 'Order of arrival, reported with a rejected row';
COMMENT ON COLUMN ops.request_staging.at IS 'ISO 8601 with an offset or Z';
COMMENT ON COLUMN ops.request_staging.method IS 'HTTP method';
COMMENT ON COLUMN ops.request_staging.route IS 'The route';
COMMENT ON COLUMN ops.request_staging.status IS 'HTTP status';
COMMENT ON COLUMN ops.request_staging.duration_ms IS 'Time to answer, in ms';
COMMENT ON COLUMN ops.request_staging.sqlstate IS 'SQLSTATE, or empty';
COMMENT ON COLUMN ops.request_staging.org_id IS 'Organisation UUID, or empty';
COMMENT ON COLUMN ops.request_staging.user_id IS 'User UUID, or empty';
GRANT INSERT (at, method, route, status, duration_ms, sqlstate, org_id, user_id) ON ops.request_staging
  TO expense_ops_worker, expense_ops_admin;
GRANT SELECT ON ops.request_staging TO expense_ops_worker, expense_ops_admin;

-- Per-minute rollups per route, from which hours and days are merged.
CREATE TABLE ops.request_rollups (
  minute    timestamptz NOT NULL,
  route     text NOT NULL,
  requests  bigint NOT NULL CHECK (requests > 0),
  status_2xx bigint NOT NULL,
  status_4xx bigint NOT NULL,
  status_5xx bigint NOT NULL,
  latency   ops.latency_sketch NOT NULL,
  PRIMARY KEY (minute, route)
) PARTITION BY RANGE (minute);
COMMENT ON TABLE ops.request_rollups IS 'Requests per route and minute (UTC): counts and a latency sketch; one partition per month, kept 400 days. Built by ops.rollup_requests()';
COMMENT ON COLUMN ops.request_rollups.minute IS 'The minute (start)';
COMMENT ON COLUMN ops.request_rollups.route IS 'The route';
COMMENT ON COLUMN ops.request_rollups.requests IS 'Requests in the minute';
COMMENT ON COLUMN ops.request_rollups.status_2xx IS 'Of which answered 2xx';
COMMENT ON COLUMN ops.request_rollups.status_4xx IS 'Of which answered 4xx';
COMMENT ON COLUMN ops.request_rollups.status_5xx IS 'Of which answered 5xx';
COMMENT ON COLUMN ops.request_rollups.latency IS 'The sketch of their durations (ms)';
GRANT SELECT ON ops.request_rollups TO expense_ops_admin, expense_ops_worker;

-- The minutes whose rows changed since they were rolled up: the rollup's bookmark. A row that
-- arrives late marks its minute again, in the same transaction, so that minute is rebuilt.
-- Each transaction adds its own mark, a plain insert: no loader waits for another or for a
-- rollup, and none can deadlock with another over marks taken in a different order.
CREATE TABLE ops.request_minutes_to_roll (
  mark_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- a replica identity, for publications
  minute    timestamptz NOT NULL,
  marked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_minutes_to_roll_minute ON ops.request_minutes_to_roll (minute);
COMMENT ON TABLE ops.request_minutes_to_roll IS 'Minutes with requests not yet in ops.request_rollups: each transaction that inserts into ops.request_log adds a mark for each minute it wrote to (index request_log_minute_marks); ops.rollup_requests() clears them';
COMMENT ON COLUMN ops.request_minutes_to_roll.mark_id IS 'Numbers the marks';
COMMENT ON SEQUENCE ops.request_minutes_to_roll_mark_id_seq IS 'Numbers the marks';
COMMENT ON COLUMN ops.request_minutes_to_roll.minute IS 'The minute (UTC)';
COMMENT ON COLUMN ops.request_minutes_to_roll.marked_at IS 'When the transaction that marked it started';
COMMENT ON INDEX ops.request_minutes_to_roll_minute IS 'The rollup clears, and the metrics look up, marks by minute';
GRANT SELECT ON ops.request_minutes_to_roll TO expense_ops_admin, expense_ops_worker;

-- Every row that reaches the log, whichever way (the loading functions, COPY or INSERT straight
-- into it, a partition or the parent), marks its minute in the same transaction. The marks come
-- from an index that stores nothing (extension/pg/minute_marks.cpp): an index hears of each row
-- without taking COPY's multi-inserts away, as a transition table on a partitioned table does.
CREATE FUNCTION ops.minute_marks_handler(internal) RETURNS index_am_handler
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_minute_marks_handler';
COMMENT ON FUNCTION ops.minute_marks_handler(internal) IS
  'The handler of the expense_ops_minute_marks index access method (the request log''s change capture)';
REVOKE ALL ON FUNCTION ops.minute_marks_handler(internal) FROM PUBLIC;
CREATE ACCESS METHOD expense_ops_minute_marks TYPE INDEX HANDLER ops.minute_marks_handler;
COMMENT ON ACCESS METHOD expense_ops_minute_marks IS
  'Not a searchable index: on each row inserted into a partition of ops.request_log it marks the row''s minute in ops.request_minutes_to_roll, once a transaction. It serves that table only';
CREATE OPERATOR CLASS ops.minute_marks_timestamptz DEFAULT FOR TYPE timestamptz
  USING expense_ops_minute_marks AS STORAGE timestamptz;
COMMENT ON OPERATOR CLASS ops.minute_marks_timestamptz USING expense_ops_minute_marks IS
  'The request time, for the minute marks';
COMMENT ON OPERATOR FAMILY ops.minute_marks_timestamptz USING expense_ops_minute_marks IS
  'The request time, for the minute marks';
CREATE INDEX request_log_minute_marks ON ops.request_log USING expense_ops_minute_marks (at);
COMMENT ON INDEX ops.request_log_minute_marks IS
  'Marks the minute of every new request for ops.rollup_requests(); answers no query';
-- The index writes a minute's mark once a transaction. A rollup in the same transaction clears
-- the marks, and then the minutes must be marked again.
CREATE FUNCTION ops.forget_minute_marks() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_forget_minute_marks';
COMMENT ON FUNCTION ops.forget_minute_marks() IS
  'AFTER DELETE, UPDATE or TRUNCATE on ops.request_minutes_to_roll, each statement: the minutes this transaction marked must be marked again';
REVOKE ALL ON FUNCTION ops.forget_minute_marks() FROM PUBLIC;
CREATE TRIGGER forget_minute_marks AFTER DELETE OR UPDATE OR TRUNCATE ON ops.request_minutes_to_roll
  FOR EACH STATEMENT EXECUTE FUNCTION ops.forget_minute_marks();
-- Fires in a logical replication subscriber too (session_replication_role = replica).
ALTER TABLE ops.request_minutes_to_roll ENABLE ALWAYS TRIGGER forget_minute_marks;

-- An index hears of new rows only, and not of an update that leaves `at` alone (HOT): rows
-- changed or deleted mark their old and new minutes here. Only the log's owner may change it,
-- so this is rare, and row by row is fine.
CREATE FUNCTION ops.mark_changed_minutes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR TG_OP NOT IN ('UPDATE', 'DELETE')
     OR NOT EXISTS (SELECT FROM pg_inherits i
                     WHERE i.inhrelid = TG_RELID AND i.inhparent = 'ops.request_log'::regclass) THEN
    RAISE EXCEPTION 'ops.mark_changed_minutes() fires only AFTER UPDATE or DELETE on the partitions of ops.request_log, for each row'
      USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  INSERT INTO ops.request_minutes_to_roll (minute)
  VALUES (date_trunc('minute', OLD.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
  IF TG_OP = 'UPDATE' THEN
    INSERT INTO ops.request_minutes_to_roll (minute)
    VALUES (date_trunc('minute', NEW.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.mark_changed_minutes() IS
  'AFTER UPDATE or DELETE on the partitions of ops.request_log, each row: marks the old and new minutes for ops.rollup_requests()';
REVOKE ALL ON FUNCTION ops.mark_changed_minutes() FROM PUBLIC;
CREATE TRIGGER mark_changed_minutes AFTER UPDATE OR DELETE ON ops.request_log
  FOR EACH ROW EXECUTE FUNCTION ops.mark_changed_minutes();
ALTER TABLE ops.request_log ENABLE ALWAYS TRIGGER mark_changed_minutes;

INSERT INTO ops.partition_settings (parent, granularity, retention) VALUES
  ('ops.check_results', 'day', '30 days'),
  ('ops.request_log', 'day', '14 days'),
  ('ops.request_rollups', 'month', '400 days');
SELECT pg_catalog.pg_extension_config_dump('ops.partition_settings', '');

-- ---------------------------------------------------------------------------------------------
-- Partitions.

-- The partitions of `parent` that hold the instants, made where missing. The one place that
-- names and bounds a partition. Internal.
CREATE FUNCTION ops.ensure_partitions(parent regclass, instants timestamptz[]) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  span text;
  lower_bound timestamptz;
  name text;
BEGIN
  SELECT granularity INTO span FROM ops.partition_settings s WHERE s.parent = ensure_partitions.parent;
  IF NOT FOUND THEN
    RAISE EXCEPTION '% is not a partitioned monitoring table', parent
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'See ops.partition_settings.';
  END IF;
  FOR lower_bound IN SELECT DISTINCT date_trunc(span, i AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                       FROM unnest(instants) i WHERE i IS NOT NULL ORDER BY 1 LOOP
    name := (SELECT c.relname FROM pg_class c WHERE c.oid = parent) || '_'
            || to_char(lower_bound AT TIME ZONE 'UTC', CASE span WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END);
    IF to_regclass(format('ops.%I', name)) IS NULL THEN
      -- Two loads may need the same new partition at once. This lock conflicts with itself but
      -- not with inserts, so the second waits for the first to commit; taking it also reads the
      -- catalog afresh, so the second then finds the partition.
      EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE', parent);
    END IF;
    IF to_regclass(format('ops.%I', name)) IS NULL THEN
      EXECUTE format('CREATE TABLE ops.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)', name, parent,
                     lower_bound, ((lower_bound AT TIME ZONE 'UTC') + ('1 ' || span)::interval) AT TIME ZONE 'UTC');
      RETURN NEXT name;
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION ops.ensure_partitions(regclass, timestamptz[]) IS
  'Makes the partitions of a monitoring table that hold the instants, where they are missing; returns the names of those it made';
REVOKE ALL ON FUNCTION ops.ensure_partitions(regclass, timestamptz[]) FROM PUBLIC;

CREATE FUNCTION ops.maintain_partitions(at timestamptz DEFAULT now())
RETURNS TABLE (parent regclass, partition text, action text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  setting ops.partition_settings;
  child record;
BEGIN
  -- One maintainer at a time; a second waits and then finds nothing left to do.
  PERFORM pg_advisory_xact_lock(hashtext('ops.maintain_partitions'));
  FOR setting IN SELECT * FROM ops.partition_settings s ORDER BY s.parent::text LOOP
    FOR partition IN
      SELECT * FROM ops.ensure_partitions(setting.parent, ARRAY(
        SELECT ((at AT TIME ZONE 'UTC') + step * ('1 ' || setting.granularity)::interval) AT TIME ZONE 'UTC'
          FROM generate_series(0, setting.premade) step))
    LOOP
      parent := setting.parent; action := 'created';
      RETURN NEXT;
    END LOOP;
    -- A partition goes once its whole range is older than the retention.
    FOR child IN
      SELECT c.oid::regclass AS relation, c.relname,
             substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = setting.parent
    LOOP
      IF child.upper_bound IS NOT NULL AND child.upper_bound <= at - setting.retention THEN
        EXECUTE format('DROP TABLE %s', child.relation);
        parent := setting.parent; partition := child.relname; action := 'dropped';
        RETURN NEXT;
      END IF;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION ops.maintain_partitions(timestamptz) IS
  'Makes the partitions of the monitoring tables for the period holding `at` and the next ones (ops.partition_settings.premade), and drops those wholly older than each table''s retention. Idempotent; the worker calls it. Returns what it did';
REVOKE ALL ON FUNCTION ops.maintain_partitions(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.maintain_partitions(timestamptz) TO expense_ops_worker, expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Ingestion. The rules for a row are in C++ (extension/core/ingest.*).

CREATE FUNCTION ops.request_problem(at text, method text, route text, status text, duration_ms text,
                                    sqlstate text, org_id text, user_id text,
                                    earliest timestamptz, latest timestamptz) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_request_problem';
COMMENT ON FUNCTION ops.request_problem(text, text, text, text, text, text, text, text, timestamptz, timestamptz) IS
  'Why a request given as text cannot go into ops.request_log (naming the field), or NULL when it can; `at` must lie between earliest and latest';
CREATE FUNCTION ops.check_result_problem(check_id text, started_at text, duration_ms text, outcome text,
                                         status text, detail text,
                                         earliest timestamptz, latest timestamptz) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_check_result_problem';
COMMENT ON FUNCTION ops.check_result_problem(text, text, text, text, text, text, timestamptz, timestamptz) IS
  'Why a check result given as text cannot go into ops.check_results (naming the field), or NULL when it can';
GRANT EXECUTE ON FUNCTION ops.request_problem(text, text, text, text, text, text, text, text, timestamptz, timestamptz),
  ops.check_result_problem(text, text, text, text, text, text, timestamptz, timestamptz)
  TO expense_ops_worker, expense_ops_admin;
REVOKE ALL ON FUNCTION ops.request_problem(text, text, text, text, text, text, text, text, timestamptz, timestamptz),
  ops.check_result_problem(text, text, text, text, text, text, timestamptz, timestamptz) FROM PUBLIC;

-- The window an ingested instant must fall in: within the table's retention, and no further in
-- the future than the allowed clock skew.
CREATE FUNCTION ops.accepted_window(parent regclass, at timestamptz, OUT earliest timestamptz, OUT latest timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT at - s.retention, at + m.clock_skew
    FROM ops.partition_settings s, ops.monitoring_settings m WHERE s.parent = accepted_window.parent
$$;
COMMENT ON FUNCTION ops.accepted_window(regclass, timestamptz) IS
  'The instants a row ingested into a monitoring table at `at` may carry: no older than its retention, no later than the clock skew allows';
REVOKE ALL ON FUNCTION ops.accepted_window(regclass, timestamptz) FROM PUBLIC;

CREATE FUNCTION ops.record_check_results(results jsonb, at timestamptz DEFAULT now())
RETURNS TABLE (index integer, check_id text, reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bounds record;
BEGIN
  IF results IS NULL OR jsonb_typeof(results) <> 'array' THEN
    RAISE EXCEPTION 'results must be a JSON array of check results'
      USING ERRCODE = expense.sqlstate('invalid_parameter'),
            HINT = 'Send [{"check_id": "health", "started_at": "...", "outcome": "up", "duration_ms": 12.5, "status": 200}, ...].';
  END IF;
  bounds := ops.accepted_window('ops.check_results', at);
  CREATE TEMP TABLE IF NOT EXISTS pg_temp.check_batch (
    index integer, check_id text, started_at text, duration_ms text, outcome text, status text,
    detail text, timings jsonb, worker text, problem text) ON COMMIT DROP;
  TRUNCATE pg_temp.check_batch;
  INSERT INTO pg_temp.check_batch
  SELECT r.ordinality - 1, r.value->>'check_id', r.value->>'started_at', r.value->>'duration_ms',
         r.value->>'outcome', r.value->>'status', left(r.value->>'detail', 1000),
         CASE WHEN jsonb_typeof(r.value->'timings') = 'object' THEN r.value->'timings' ELSE '{}' END,
         r.value->>'worker',
         CASE WHEN jsonb_typeof(r.value) <> 'object' THEN 'not a JSON object'
              ELSE ops.check_result_problem(r.value->>'check_id', r.value->>'started_at', r.value->>'duration_ms',
                                            r.value->>'outcome', r.value->>'status', r.value->>'detail',
                                            bounds.earliest, bounds.latest) END
    FROM jsonb_array_elements(results) WITH ORDINALITY r;
  UPDATE pg_temp.check_batch b SET problem = 'check_id: "' || left(b.check_id, 63) || '" is not a check (ops.checks)'
   WHERE b.problem IS NULL AND NOT EXISTS (SELECT FROM ops.checks c WHERE c.check_id = b.check_id);
  PERFORM ops.ensure_partitions('ops.check_results',
                                 ARRAY(SELECT b.started_at::timestamptz FROM pg_temp.check_batch b WHERE b.problem IS NULL));
  -- A run recorded twice (the worker retrying a batch) is kept once.
  INSERT INTO ops.check_results (check_id, started_at, duration_ms, outcome, status, detail, timings, worker, recorded_at)
  SELECT b.check_id, b.started_at::timestamptz, b.duration_ms::double precision, b.outcome, b.status::integer,
         b.detail, b.timings, b.worker, record_check_results.at
    FROM pg_temp.check_batch b WHERE b.problem IS NULL
  ON CONFLICT DO NOTHING;
  -- A check that is down, or up again after it was not, may move its alerts: the worker
  -- evaluates the rules on check failures at once rather than at its next interval.
  IF EXISTS (SELECT FROM pg_temp.check_batch b
              WHERE b.problem IS NULL
                AND (b.outcome = 'down'
                     OR (b.outcome = 'up' AND EXISTS (
                           SELECT FROM (SELECT r.outcome FROM ops.check_results r
                                         WHERE r.check_id = b.check_id AND r.started_at < b.started_at::timestamptz
                                         ORDER BY r.started_at DESC LIMIT 1) previous
                            WHERE previous.outcome <> 'up')))) THEN
    PERFORM pg_notify('expense_ops_evaluate', 'check_consecutive_failures');
  END IF;
  RETURN QUERY SELECT b.index, b.check_id, b.problem FROM pg_temp.check_batch b WHERE b.problem IS NOT NULL ORDER BY b.index;
END
$$;
COMMENT ON FUNCTION ops.record_check_results(jsonb, timestamptz) IS
  'The worker''s batch write of check results, received at `at`: a JSON array of {check_id, started_at, duration_ms, outcome (up, down, unknown), status, detail, timings, worker}, each started within the retention before `at` and no later than the clock skew after it. Each bad element is returned with its index (from 0) and reason and the rest are kept; a run already recorded is not recorded twice. A check down, or up again, sends NOTIFY expense_ops_evaluate (check_consecutive_failures)';
REVOKE ALL ON FUNCTION ops.record_check_results(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.record_check_results(jsonb, timestamptz) TO expense_ops_worker, expense_ops_admin;

-- The batch both loads fill with requests as text and their problems, empty. Internal.
CREATE FUNCTION ops.new_request_batch() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS pg_temp.request_batch (
    line bigint, at text, method text, route text, status text, duration_ms text, sqlstate text,
    org_id text, user_id text, problem text) ON COMMIT DROP;
  TRUNCATE pg_temp.request_batch;
END
$$;
COMMENT ON FUNCTION ops.new_request_batch() IS 'Creates (or empties) pg_temp.request_batch, which ops.ingest_requests and ops.load_request_staging fill';
REVOKE ALL ON FUNCTION ops.new_request_batch() FROM PUBLIC;

-- Moves checked requests from a text batch into the log. Internal: both loads end here.
CREATE FUNCTION ops.load_request_batch() RETURNS TABLE (line bigint, reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.ensure_partitions('ops.request_log',
                                 ARRAY(SELECT b.at::timestamptz FROM pg_temp.request_batch b WHERE b.problem IS NULL));
  INSERT INTO ops.request_log (at, method, route, status, duration_ms, sqlstate, org_id, user_id)
  SELECT b.at::timestamptz, b.method, b.route, b.status::integer, b.duration_ms::double precision,
         b.sqlstate, b.org_id::uuid, b.user_id::uuid
    FROM pg_temp.request_batch b WHERE b.problem IS NULL;
  RETURN QUERY SELECT b.line, b.problem FROM pg_temp.request_batch b WHERE b.problem IS NOT NULL ORDER BY b.line;
END
$$;
COMMENT ON FUNCTION ops.load_request_batch() IS 'Moves the checked rows of pg_temp.request_batch into ops.request_log (whose index request_log_minute_marks marks their minutes)';
REVOKE ALL ON FUNCTION ops.load_request_batch() FROM PUBLIC;

CREATE FUNCTION ops.ingest_requests(requests jsonb, at timestamptz DEFAULT now()) RETURNS TABLE (index bigint, reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bounds record;
BEGIN
  IF requests IS NULL OR jsonb_typeof(requests) <> 'array' THEN
    RAISE EXCEPTION 'requests must be a JSON array of requests'
      USING ERRCODE = expense.sqlstate('invalid_parameter'),
            HINT = 'Send [{"at": "2026-12-01T10:00:00Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": 12.5}, ...].';
  END IF;
  bounds := ops.accepted_window('ops.request_log', ingest_requests.at);
  PERFORM ops.new_request_batch();
  INSERT INTO pg_temp.request_batch
  SELECT r.ordinality - 1, r.value->>'at', r.value->>'method', r.value->>'route', r.value->>'status',
         r.value->>'duration_ms', nullif(r.value->>'sqlstate', ''), nullif(r.value->>'org_id', ''),
         nullif(r.value->>'user_id', ''),
         CASE WHEN jsonb_typeof(r.value) <> 'object' THEN 'not a JSON object'
              ELSE ops.request_problem(r.value->>'at', r.value->>'method', r.value->>'route', r.value->>'status',
                                       r.value->>'duration_ms', nullif(r.value->>'sqlstate', ''),
                                       nullif(r.value->>'org_id', ''), nullif(r.value->>'user_id', ''),
                                       bounds.earliest, bounds.latest) END
    FROM jsonb_array_elements(requests) WITH ORDINALITY r;
  RETURN QUERY SELECT * FROM ops.load_request_batch();
END
$$;
COMMENT ON FUNCTION ops.ingest_requests(jsonb, timestamptz) IS
  'Loads requests, received at `at`, given as a JSON array of {at, method, route, status, duration_ms, sqlstate, org_id, user_id} into ops.request_log. Each bad element is returned with its index (from 0) and reason and the rest are kept';
REVOKE ALL ON FUNCTION ops.ingest_requests(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.ingest_requests(jsonb, timestamptz) TO expense_ops_worker, expense_ops_admin;

CREATE FUNCTION ops.load_request_staging(at timestamptz DEFAULT now()) RETURNS TABLE (line bigint, reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bounds record;
BEGIN
  bounds := ops.accepted_window('ops.request_log', load_request_staging.at);
  PERFORM ops.new_request_batch();
  -- The staged rows are taken, not copied: whatever another session stages meanwhile waits
  -- for the next load.
  WITH taken AS (DELETE FROM ops.request_staging RETURNING *)
  INSERT INTO pg_temp.request_batch
  SELECT t.line - min(t.line) OVER () + 1, t.at, t.method, t.route, t.status, t.duration_ms, nullif(t.sqlstate, ''),
         nullif(t.org_id, ''), nullif(t.user_id, ''),
         ops.request_problem(t.at, t.method, t.route, t.status, t.duration_ms, nullif(t.sqlstate, ''),
                             nullif(t.org_id, ''), nullif(t.user_id, ''), bounds.earliest, bounds.latest)
    FROM taken t;
  RETURN QUERY SELECT * FROM ops.load_request_batch();
END
$$;
COMMENT ON FUNCTION ops.load_request_staging(timestamptz) IS
  'Moves, at `at`, the rows COPY put into ops.request_staging into ops.request_log: each bad row is returned with its line (1 = the first row staged since the last load) and reason, the rest are kept, and the staging table is left empty';
REVOKE ALL ON FUNCTION ops.load_request_staging(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.load_request_staging(timestamptz) TO expense_ops_worker, expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Rollups.

CREATE FUNCTION ops.rollup_requests(until timestamptz DEFAULT now())
RETURNS TABLE (minutes integer, rollup_rows integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  done timestamptz[];
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('ops.rollup_requests'));
  -- The marks are cleared first, in their own statement, and the log is read after it. A load
  -- whose mark this statement saw had committed, so the rebuild sees its rows; a mark it did
  -- not see stays for the next run, which rebuilds that minute again.
  WITH cleared AS (
    DELETE FROM ops.request_minutes_to_roll m
     WHERE m.minute <= until - interval '1 minute'
    RETURNING m.minute)
  SELECT coalesce(array_agg(DISTINCT c.minute ORDER BY c.minute), '{}') INTO done FROM cleared c;
  minutes := cardinality(done);
  IF minutes = 0 THEN
    rollup_rows := 0;
    RETURN NEXT;
    RETURN;
  END IF;
  PERFORM ops.ensure_partitions('ops.request_rollups', done);
  DELETE FROM ops.request_rollups r WHERE r.minute = ANY (done);
  INSERT INTO ops.request_rollups (minute, route, requests, status_2xx, status_4xx, status_5xx, latency)
  SELECT date_trunc('minute', l.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', l.route, count(*),
         count(*) FILTER (WHERE l.status BETWEEN 200 AND 299),
         count(*) FILTER (WHERE l.status BETWEEN 400 AND 499),
         count(*) FILTER (WHERE l.status BETWEEN 500 AND 599),
         ops.latency_sketch(l.duration_ms)
    FROM ops.request_log l
   WHERE l.at >= done[1] AND l.at < done[minutes] + interval '1 minute'
     AND date_trunc('minute', l.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' = ANY (done)
   GROUP BY 1, 2;
  GET DIAGNOSTICS rollup_rows = ROW_COUNT;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION ops.rollup_requests(timestamptz) IS
  'Builds the per-minute rollups of every complete minute before `until` that has new requests, late ones included: each such minute is rebuilt from the log, so running it again writes nothing twice. Returns how many minutes and rollup rows it wrote';
REVOKE ALL ON FUNCTION ops.rollup_requests(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.rollup_requests(timestamptz) TO expense_ops_worker, expense_ops_admin;

-- Hours and days are merges of minutes.
CREATE VIEW ops.request_rollups_hourly AS
SELECT date_trunc('hour', r.minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, r.route,
       sum(r.requests)::bigint AS requests, sum(r.status_2xx)::bigint AS status_2xx,
       sum(r.status_4xx)::bigint AS status_4xx, sum(r.status_5xx)::bigint AS status_5xx,
       ops.latency_sketch_merge(r.latency) AS latency
  FROM ops.request_rollups r GROUP BY 1, 2;
COMMENT ON VIEW ops.request_rollups_hourly IS 'Requests per route and hour (UTC): the merge of the minutes';
COMMENT ON COLUMN ops.request_rollups_hourly.hour IS 'The hour (start, UTC)';
COMMENT ON COLUMN ops.request_rollups_hourly.route IS 'The route';
COMMENT ON COLUMN ops.request_rollups_hourly.requests IS 'Requests in the hour';
COMMENT ON COLUMN ops.request_rollups_hourly.status_2xx IS 'Of which answered 2xx';
COMMENT ON COLUMN ops.request_rollups_hourly.status_4xx IS 'Of which answered 4xx';
COMMENT ON COLUMN ops.request_rollups_hourly.status_5xx IS 'Of which answered 5xx';
COMMENT ON COLUMN ops.request_rollups_hourly.latency IS 'The sketch of their durations (ms)';
CREATE VIEW ops.request_rollups_daily AS
SELECT date_trunc('day', r.minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, r.route,
       sum(r.requests)::bigint AS requests, sum(r.status_2xx)::bigint AS status_2xx,
       sum(r.status_4xx)::bigint AS status_4xx, sum(r.status_5xx)::bigint AS status_5xx,
       ops.latency_sketch_merge(r.latency) AS latency
  FROM ops.request_rollups r GROUP BY 1, 2;
COMMENT ON VIEW ops.request_rollups_daily IS 'Requests per route and day (UTC): the merge of the minutes';
COMMENT ON COLUMN ops.request_rollups_daily.day IS 'The day (start, UTC)';
COMMENT ON COLUMN ops.request_rollups_daily.route IS 'The route';
COMMENT ON COLUMN ops.request_rollups_daily.requests IS 'Requests in the day';
COMMENT ON COLUMN ops.request_rollups_daily.status_2xx IS 'Of which answered 2xx';
COMMENT ON COLUMN ops.request_rollups_daily.status_4xx IS 'Of which answered 4xx';
COMMENT ON COLUMN ops.request_rollups_daily.status_5xx IS 'Of which answered 5xx';
COMMENT ON COLUMN ops.request_rollups_daily.latency IS 'The sketch of their durations (ms)';
GRANT SELECT ON ops.request_rollups_hourly, ops.request_rollups_daily TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Error tracking. Errors are counted under the plan's categories (authentication, validation,
-- database, external, unknown; extension/core/error_class.*): failed requests from the request
-- log, and server errors from PostgreSQL's jsonlog, which the worker feeds in.

CREATE FUNCTION ops.classify_error(sqlstate text, http_status integer) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_classify_error';
COMMENT ON FUNCTION ops.classify_error(text, integer) IS
  'The error category (authentication, validation, database, external or unknown) of a SQLSTATE, or of an HTTP status when there is no well-formed SQLSTATE; total: every input gets one (docs/errors.md, "Error categories")';
REVOKE ALL ON FUNCTION ops.classify_error(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.classify_error(text, integer) TO expense_ops_admin, expense_ops_worker;

CREATE TABLE ops.error_events (
  at          timestamptz NOT NULL,
  source      text NOT NULL CHECK (source IN ('postgres', 'worker')),
  severity    text NOT NULL CHECK (severity IN ('ERROR', 'FATAL', 'PANIC')),
  sqlstate    text CHECK (sqlstate ~ '^[0-9A-Z]{5}$'),
  category    text NOT NULL CHECK (category IN ('authentication', 'validation', 'database', 'external', 'unknown')),
  message     text NOT NULL CHECK (length(message) <= 2000),
  application text CHECK (length(application) <= 200),
  backend     text CHECK (length(backend) <= 100)
) PARTITION BY RANGE (at);
COMMENT ON TABLE ops.error_events IS 'Server errors from PostgreSQL''s jsonlog, fed by the worker through ops.ingest_errors(); one partition per day (UTC), kept 30 days. The statement and the detail are not kept: they may hold data';
COMMENT ON COLUMN ops.error_events.at IS 'When the error was logged';
COMMENT ON COLUMN ops.error_events.source IS 'postgres (its log) or worker';
COMMENT ON COLUMN ops.error_events.severity IS 'ERROR, FATAL or PANIC';
COMMENT ON COLUMN ops.error_events.sqlstate IS 'The SQLSTATE (jsonlog''s state_code)';
COMMENT ON COLUMN ops.error_events.category IS 'ops.classify_error(sqlstate, NULL)';
COMMENT ON COLUMN ops.error_events.message IS 'The primary message (at most 2000 characters)';
COMMENT ON COLUMN ops.error_events.application IS 'application_name of the session';
COMMENT ON COLUMN ops.error_events.backend IS 'The backend type (client backend, autovacuum worker, ...)';
GRANT SELECT ON ops.error_events TO expense_ops_admin, expense_ops_worker;
INSERT INTO ops.partition_settings (parent, granularity, retention) VALUES ('ops.error_events', 'day', '30 days');

CREATE FUNCTION ops.log_entry_problem(logged_at text, severity text, sqlstate text, message text,
                                      earliest timestamptz, latest timestamptz) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_log_entry_problem';
COMMENT ON FUNCTION ops.log_entry_problem(text, text, text, text, timestamptz, timestamptz) IS
  'Why a jsonlog entry given as text cannot go into ops.error_events (naming the field), or NULL when it can';
REVOKE ALL ON FUNCTION ops.log_entry_problem(text, text, text, text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.log_entry_problem(text, text, text, text, timestamptz, timestamptz)
  TO expense_ops_admin, expense_ops_worker;

CREATE FUNCTION ops.ingest_errors(entries jsonb, at timestamptz DEFAULT now())
RETURNS TABLE (index bigint, reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bounds record;
BEGIN
  IF entries IS NULL OR jsonb_typeof(entries) <> 'array' THEN
    RAISE EXCEPTION 'entries must be a JSON array of jsonlog entries'
      USING ERRCODE = expense.sqlstate('invalid_parameter'),
            HINT = 'Send the lines of PostgreSQL''s jsonlog as a JSON array: [{"timestamp": "...", "error_severity": "ERROR", "state_code": "23505", "message": "..."}, ...].';
  END IF;
  bounds := ops.accepted_window('ops.error_events', ingest_errors.at);
  CREATE TEMP TABLE IF NOT EXISTS pg_temp.error_batch (
    index bigint, logged_at text, severity text, sqlstate text, message text, application text,
    backend text, problem text) ON COMMIT DROP;
  TRUNCATE pg_temp.error_batch;
  -- Entries below ERROR (LOG, WARNING, ...) are not errors: they are skipped without a word.
  INSERT INTO pg_temp.error_batch
  SELECT e.ordinality - 1, e.value->>'timestamp', e.value->>'error_severity', nullif(e.value->>'state_code', ''),
         left(e.value->>'message', 2000), left(e.value->>'application_name', 200), left(e.value->>'backend_type', 100),
         CASE WHEN jsonb_typeof(e.value) <> 'object' THEN 'not a JSON object'
              ELSE ops.log_entry_problem(e.value->>'timestamp', e.value->>'error_severity',
                                         nullif(e.value->>'state_code', ''), e.value->>'message',
                                         bounds.earliest, bounds.latest) END
    FROM jsonb_array_elements(entries) WITH ORDINALITY e
   WHERE jsonb_typeof(e.value) <> 'object' OR coalesce(e.value->>'error_severity', '') NOT IN
         ('DEBUG1', 'DEBUG2', 'DEBUG3', 'DEBUG4', 'DEBUG5', 'LOG', 'INFO', 'NOTICE', 'WARNING');
  PERFORM ops.ensure_partitions('ops.error_events',
                                 ARRAY(SELECT b.logged_at::timestamptz FROM pg_temp.error_batch b WHERE b.problem IS NULL));
  INSERT INTO ops.error_events (at, source, severity, sqlstate, category, message, application, backend)
  SELECT b.logged_at::timestamptz, 'postgres', b.severity, b.sqlstate, ops.classify_error(b.sqlstate, NULL),
         b.message, b.application, b.backend
    FROM pg_temp.error_batch b WHERE b.problem IS NULL;
  RETURN QUERY SELECT b.index, b.problem FROM pg_temp.error_batch b WHERE b.problem IS NOT NULL ORDER BY b.index;
END
$$;
COMMENT ON FUNCTION ops.ingest_errors(jsonb, timestamptz) IS
  'Loads PostgreSQL jsonlog entries (a JSON array of its objects: timestamp, error_severity, state_code, message, application_name, backend_type) into ops.error_events. Entries below ERROR are skipped; each bad entry is returned with its index (from 0) and reason, and the rest are kept. Only the message is kept, never the statement or the detail';
REVOKE ALL ON FUNCTION ops.ingest_errors(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.ingest_errors(jsonb, timestamptz) TO expense_ops_worker, expense_ops_admin;

CREATE FUNCTION ops.error_trends(period interval, at timestamptz DEFAULT now())
RETURNS TABLE (kind text, key text, current bigint, previous bigint, change bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF period IS NULL OR period <= interval '0' THEN
    RAISE EXCEPTION 'period must be a positive interval, not %', coalesce(period::text, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Ask for interval ''1 hour'' or ''1 day''.';
  END IF;
  RETURN QUERY
  WITH events AS (
    SELECT l.at AS logged_at, ops.classify_error(l.sqlstate, l.status) AS category, l.sqlstate, l.route
      FROM ops.request_log l
     WHERE l.status >= 400 AND l.at >= error_trends.at - 2 * period AND l.at < error_trends.at
    UNION ALL
    SELECT e.at, e.category, e.sqlstate, NULL
      FROM ops.error_events e WHERE e.at >= error_trends.at - 2 * period AND e.at < error_trends.at
  ), tagged AS (
    SELECT ev.*, ev.logged_at >= error_trends.at - period AS in_current FROM events ev
  ), categories AS (
    SELECT 'category'::text AS kind, c.name AS key,
           count(t.category) FILTER (WHERE t.in_current) AS current,
           count(t.category) FILTER (WHERE NOT t.in_current) AS previous, c.position
      FROM unnest(ARRAY['authentication', 'validation', 'database', 'external', 'unknown']) WITH ORDINALITY c(name, position)
      LEFT JOIN tagged t ON t.category = c.name
     GROUP BY c.name, c.position
  ), sqlstates AS (
    SELECT 'sqlstate'::text AS kind, t.sqlstate AS key, count(*) FILTER (WHERE t.in_current) AS current,
           count(*) FILTER (WHERE NOT t.in_current) AS previous
      FROM tagged t WHERE t.sqlstate IS NOT NULL GROUP BY t.sqlstate
     ORDER BY 3 DESC, 2 LIMIT 10
  ), routes AS (
    SELECT 'route'::text AS kind, t.route AS key, count(*) FILTER (WHERE t.in_current) AS current,
           count(*) FILTER (WHERE NOT t.in_current) AS previous
      FROM tagged t WHERE t.route IS NOT NULL GROUP BY t.route
     ORDER BY 3 DESC, 2 LIMIT 10
  )
  SELECT r.kind, r.key, r.current, r.previous, r.current - r.previous
    FROM (SELECT c.kind, c.key, c.current, c.previous, 1 AS section, c.position AS rank FROM categories c
          UNION ALL
          SELECT s.kind, s.key, s.current, s.previous, 2, row_number() OVER (ORDER BY s.current DESC, s.key) FROM sqlstates s
          UNION ALL
          SELECT o.kind, o.key, o.current, o.previous, 3, row_number() OVER (ORDER BY o.current DESC, o.key) FROM routes o) r
   ORDER BY r.section, r.rank;
END
$$;
COMMENT ON FUNCTION ops.error_trends(interval, timestamptz) IS
  'Errors in the period before `at` against the period before that: one row per category (all five, always), then the top 10 SQLSTATEs and the top 10 routes, each with current, previous and the change. Counts failed requests (status 400 and above) from ops.request_log and server errors from ops.error_events';
REVOKE ALL ON FUNCTION ops.error_trends(interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.error_trends(interval, timestamptz) TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Request metrics over any period.

-- The one place that decides which requests of a period come from the rollups and which from
-- the log: the metrics below and the alert rules read it.
CREATE FUNCTION ops.request_sketches(since timestamptz, until timestamptz DEFAULT now(), only_route text DEFAULT NULL)
RETURNS TABLE (route text, requests bigint, status_4xx bigint, status_5xx bigint, latency ops.latency_sketch)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF since IS NULL OR until IS NULL OR until <= since THEN
    RAISE EXCEPTION 'the period must end after it starts (since %, until %)', since, until
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Ask for since => now() - interval ''1 hour''.';
  END IF;
  RETURN QUERY
  WITH rolled AS (
    -- Whole minutes inside the period that are rolled up and not waiting to be rebuilt.
    SELECT r.route, r.requests, r.status_4xx, r.status_5xx, r.latency, r.minute
      FROM ops.request_rollups r
     WHERE r.minute >= since AND r.minute + interval '1 minute' <= until
       AND (only_route IS NULL OR r.route = only_route)
       AND NOT EXISTS (SELECT FROM ops.request_minutes_to_roll m WHERE m.minute = r.minute)
  ), covered AS (
    SELECT DISTINCT c.minute FROM rolled c
  ), raw AS (
    -- Everything else comes from the log itself: the edges of the period, and minutes not yet
    -- rolled up.
    SELECT l.route, count(*) AS requests, count(*) FILTER (WHERE l.status BETWEEN 400 AND 499) AS status_4xx,
           count(*) FILTER (WHERE l.status BETWEEN 500 AND 599) AS status_5xx,
           ops.latency_sketch(l.duration_ms) AS latency
      FROM ops.request_log l
     WHERE l.at >= since AND l.at < until
       AND (only_route IS NULL OR l.route = only_route)
       AND NOT EXISTS (SELECT FROM covered c
                        WHERE c.minute = date_trunc('minute', l.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
     GROUP BY l.route
  ), parts AS (
    SELECT p.route, p.requests, p.status_4xx, p.status_5xx, p.latency FROM rolled p
    UNION ALL
    SELECT w.route, w.requests, w.status_4xx, w.status_5xx, w.latency FROM raw w
  ), merged AS (
    SELECT p.route, sum(p.requests)::bigint AS requests, sum(p.status_4xx)::bigint AS status_4xx,
           sum(p.status_5xx)::bigint AS status_5xx, ops.latency_sketch_merge(p.latency) AS latency
      FROM parts p GROUP BY GROUPING SETS ((p.route), ())
  )
  SELECT coalesce(m.route, '*'), m.requests, m.status_4xx, m.status_5xx, m.latency
    FROM merged m
   ORDER BY m.route IS NULL, m.route;
END
$$;
COMMENT ON FUNCTION ops.request_sketches(timestamptz, timestamptz, text) IS
  'Requests in [since, until), per route and in total (route *): count, 4xx and 5xx counts and the latency sketch. Whole minutes come from ops.request_rollups, the rest from ops.request_log, so the answer is the same before and after a rollup. only_route limits it to one route';
REVOKE ALL ON FUNCTION ops.request_sketches(timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.request_sketches(timestamptz, timestamptz, text) TO expense_ops_admin;

CREATE FUNCTION ops.request_metrics(since timestamptz, until timestamptz DEFAULT now(), only_route text DEFAULT NULL)
RETURNS TABLE (route text, requests bigint, per_second double precision, rate_4xx double precision,
               rate_5xx double precision, p50_ms double precision, p95_ms double precision,
               p99_ms double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT m.route, m.requests, m.requests / extract(epoch FROM until - since)::double precision,
         m.status_4xx::double precision / m.requests, m.status_5xx::double precision / m.requests,
         ops.sketch_quantile(m.latency, 0.5), ops.sketch_quantile(m.latency, 0.95), ops.sketch_quantile(m.latency, 0.99)
    FROM ops.request_sketches(since, until, only_route) m
$$;
COMMENT ON FUNCTION ops.request_metrics(timestamptz, timestamptz, text) IS
  'Requests in [since, until), per route and in total (route *): count, rate per second, 4xx and 5xx error rates, and P50/P95/P99 latency in ms (within 1 %), from ops.request_sketches(), so the answer is the same before and after a rollup. only_route limits it to one route';
REVOKE ALL ON FUNCTION ops.request_metrics(timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.request_metrics(timestamptz, timestamptz, text) TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Label matchers, maintenance windows and uptime.

CREATE FUNCTION ops.labels_match(matchers jsonb, labels jsonb) RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_labels_match';
COMMENT ON FUNCTION ops.labels_match(jsonb, jsonb) IS
  'Whether a label set (a JSON object of strings) satisfies every matcher of a JSON array of {"name", "op", "value"}, op being =, !=, =~ or !~, as Alertmanager matches: regexes are anchored and a missing label counts as empty. No matchers match everything. 22X64 names a bad matcher';
CREATE FUNCTION ops.check_matchers(matchers jsonb) RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_check_matchers';
COMMENT ON FUNCTION ops.check_matchers(jsonb) IS
  'True for a valid JSON array of label matchers; otherwise the error (22X64) names what is wrong';
REVOKE ALL ON FUNCTION ops.labels_match(jsonb, jsonb), ops.check_matchers(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.labels_match(jsonb, jsonb), ops.check_matchers(jsonb) TO expense_ops_admin, expense_ops_worker;

-- A check's labels as matchers see them: its own labels, plus check_id.
CREATE FUNCTION ops.check_labels(c ops.checks) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT c.labels || jsonb_build_object('check_id', c.check_id) $$;
COMMENT ON FUNCTION ops.check_labels(ops.checks) IS 'The labels of a check, with check_id among them, as matchers see them';
REVOKE ALL ON FUNCTION ops.check_labels(ops.checks) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.check_labels(ops.checks) TO expense_ops_admin, expense_ops_worker;

CREATE TABLE ops.maintenance_windows (
  window_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  matchers  jsonb NOT NULL CHECK (ops.check_matchers(matchers)),
  starts_at timestamptz NOT NULL,
  ends_at   timestamptz NOT NULL,
  author    text NOT NULL DEFAULT current_user CHECK (author <> ''),
  reason    text NOT NULL CHECK (reason <> '' AND length(reason) <= 2000),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ends_after_it_starts CHECK (ends_at > starts_at)
);
COMMENT ON TABLE ops.maintenance_windows IS
  'Planned maintenance: the checks (and, with alerting, the rules and routes) whose labels match are excluded from uptime between starts_at and ends_at';
COMMENT ON COLUMN ops.maintenance_windows.window_id IS 'Identifies the window';
COMMENT ON COLUMN ops.maintenance_windows.matchers IS 'Label matchers, JSON array of {"name", "op", "value"}; a check''s labels include check_id';
COMMENT ON COLUMN ops.maintenance_windows.starts_at IS 'Start';
COMMENT ON COLUMN ops.maintenance_windows.ends_at IS 'End (after the start)';
COMMENT ON COLUMN ops.maintenance_windows.author IS 'Who planned it';
COMMENT ON COLUMN ops.maintenance_windows.reason IS 'Why';
COMMENT ON COLUMN ops.maintenance_windows.created_at IS 'When it was entered';
COMMENT ON SEQUENCE ops.maintenance_windows_window_id_seq IS 'Numbers ops.maintenance_windows';
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.maintenance_windows TO expense_ops_admin;
GRANT SELECT ON ops.maintenance_windows TO expense_ops_worker;
SELECT pg_catalog.pg_extension_config_dump('ops.maintenance_windows', '');

CREATE FUNCTION ops.uptime_daily(check_id text, days integer DEFAULT 30, at timestamptz DEFAULT now())
RETURNS TABLE (day date, intervals integer, up integer, down integer, unknown integer, maintenance integer,
               up_percent numeric, unknown_percent numeric, incidents integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
  checked ops.checks;
  step numeric;
  width interval;
  first_slot timestamptz;
  slots bigint;
BEGIN
  SELECT * INTO checked FROM ops.checks c WHERE c.check_id = uptime_daily.check_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no check "%"', uptime_daily.check_id
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'See ops.checks.';
  END IF;
  IF days IS NULL OR days < 1 OR days > 400 THEN
    RAISE EXCEPTION 'days must be between 1 and 400, not %', coalesce(days::text, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Ask for 30 for the last 30 days.';
  END IF;
  -- The check's intervals are aligned to the Unix epoch: the first starts within the first day
  -- (UTC), and the last has ended by `at`. Slot n is [first_slot + n * width, + width).
  step := extract(epoch FROM checked.every);
  width := step * interval '1 second';
  first_slot := to_timestamp(0) + ceil(extract(epoch FROM (date_trunc('day', at AT TIME ZONE 'UTC')
                                                           - (days - 1) * interval '1 day') AT TIME ZONE 'UTC') / step)
                                  * width;
  slots := greatest(0, floor(extract(epoch FROM at - first_slot) / step));
  -- Only the slots with a result or under maintenance are listed: every other slot is unknown,
  -- and each day's count of slots is arithmetic. So the cost follows the results, not the
  -- slots (30 days of a 1 s check are 2.6 million of them).
  RETURN QUERY
  WITH maintained AS (
    -- The slots each window of this check overlaps: [floor((start - first) / width),
    -- ceil((end - first) / width) - 1], computed rather than tested slot by slot.
    SELECT DISTINCT generate_series(greatest(0, floor(extract(epoch FROM w.starts_at - first_slot) / step))::bigint,
                                    least(slots, ceil(extract(epoch FROM w.ends_at - first_slot) / step))::bigint - 1) AS slot
      FROM ops.maintenance_windows w
     WHERE w.ends_at > first_slot AND w.starts_at < at AND ops.labels_match(w.matchers, ops.check_labels(checked))
  ), verdicts AS (
    -- Each run in the slot it started in: one pass over the results.
    SELECT floor(extract(epoch FROM r.started_at - first_slot) / step)::bigint AS slot,
           CASE WHEN bool_or(r.outcome = 'down') THEN 'down' WHEN bool_or(r.outcome = 'up') THEN 'up' END AS verdict
      FROM ops.check_results r
     WHERE r.check_id = checked.check_id AND r.started_at >= first_slot AND r.started_at < first_slot + slots * width
     GROUP BY 1
  ), judged AS (
    -- The slots that are not unknown: maintenance wins over a result.
    SELECT coalesce(m.slot, v.slot) AS n,
           CASE WHEN m.slot IS NOT NULL THEN 'maintenance' ELSE v.verdict END AS verdict
      FROM verdicts v FULL JOIN maintained m ON m.slot = v.slot
     WHERE m.slot IS NOT NULL OR v.verdict IS NOT NULL
  ), downs AS (
    -- A down slot starts an incident unless the slot just before it was down too.
    SELECT j.n, lag(j.n) OVER (ORDER BY j.n) IS DISTINCT FROM j.n - 1 AS starts_incident
      FROM judged j WHERE j.verdict = 'down'
  ), known AS (
    SELECT ((first_slot + j.n * width) AT TIME ZONE 'UTC')::date AS slot_day, j.verdict,
           coalesce(d.starts_incident, false) AS starts_incident
      FROM judged j LEFT JOIN downs d ON d.n = j.n
  ), days AS (
    -- The slots that start on each day: [n_from, n_to).
    SELECT g::date AS d,
           least(slots, greatest(0, ceil(extract(epoch FROM (g AT TIME ZONE 'UTC') - first_slot) / step)))::bigint AS n_from,
           least(slots, greatest(0, ceil(extract(epoch FROM ((g + interval '1 day') AT TIME ZONE 'UTC') - first_slot) / step)))::bigint AS n_to
      FROM generate_series((date_trunc('day', at AT TIME ZONE 'UTC') - (days - 1) * interval '1 day'),
                           date_trunc('day', at AT TIME ZONE 'UTC'), interval '1 day') g
  ), counted AS (
    SELECT ds.d, ds.n_to - ds.n_from AS all_slots,
           count(*) FILTER (WHERE k.verdict = 'up') AS up_slots,
           count(*) FILTER (WHERE k.verdict = 'down') AS down_slots,
           count(*) FILTER (WHERE k.verdict = 'maintenance') AS maintenance_slots,
           count(*) FILTER (WHERE k.starts_incident) AS incident_starts
      FROM days ds LEFT JOIN known k ON k.slot_day = ds.d
     GROUP BY ds.d, ds.n_from, ds.n_to
  )
  SELECT c.d,
         (c.all_slots - c.maintenance_slots)::integer,
         c.up_slots::integer,
         c.down_slots::integer,
         (c.all_slots - c.maintenance_slots - c.up_slots - c.down_slots)::integer,
         c.maintenance_slots::integer,
         round(100.0 * c.up_slots / nullif(c.all_slots - c.maintenance_slots, 0), 3),
         round(100.0 * (c.all_slots - c.maintenance_slots - c.up_slots - c.down_slots) / nullif(c.all_slots - c.maintenance_slots, 0), 3),
         c.incident_starts::integer
    FROM counted c
   ORDER BY c.d;
END
$$;
COMMENT ON FUNCTION ops.uptime_daily(text, integer, timestamptz) IS
  'A check''s uptime per day (UTC) over the last `days` days up to `at`, for a status page: its intervals (aligned to the Unix epoch) that ended by `at`, each up (a successful run and no failed one), down (a failed run), unknown (no result, or only unknown ones: never counted as up) or under maintenance (excluded); up_percent and unknown_percent of the intervals outside maintenance; incidents = runs of consecutive down intervals that start that day';
REVOKE ALL ON FUNCTION ops.uptime_daily(text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.uptime_daily(text, integer, timestamptz) TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Host samples, which the worker writes every 15 s (its next issue).

CREATE TABLE ops.host_samples (
  host             text NOT NULL CHECK (host <> '' AND length(host) <= 255),
  at               timestamptz NOT NULL,
  cpu_percent      double precision CHECK (cpu_percent BETWEEN 0 AND 100),
  memory_percent   double precision CHECK (memory_percent BETWEEN 0 AND 100),
  load1            double precision CHECK (load1 >= 0 AND load1 < 'Infinity'),
  load5            double precision CHECK (load5 >= 0 AND load5 < 'Infinity'),
  load15           double precision CHECK (load15 >= 0 AND load15 < 'Infinity'),
  disk_percent     double precision CHECK (disk_percent BETWEEN 0 AND 100),
  worker_rss_bytes bigint CHECK (worker_rss_bytes >= 0),
  PRIMARY KEY (host, at)
) PARTITION BY RANGE (at);
COMMENT ON TABLE ops.host_samples IS 'What the worker measures on each host every 15 s; one partition per day (UTC), kept 30 days';
COMMENT ON COLUMN ops.host_samples.host IS 'The host''s name';
COMMENT ON COLUMN ops.host_samples.at IS 'When it was measured';
COMMENT ON COLUMN ops.host_samples.cpu_percent IS 'CPU busy since the previous sample (from /proc/stat), percent';
COMMENT ON COLUMN ops.host_samples.memory_percent IS 'Memory in use (1 - MemAvailable / MemTotal), percent';
COMMENT ON COLUMN ops.host_samples.load1 IS 'Load average over 1 minute';
COMMENT ON COLUMN ops.host_samples.load5 IS 'Load average over 5 minutes';
COMMENT ON COLUMN ops.host_samples.load15 IS 'Load average over 15 minutes';
COMMENT ON COLUMN ops.host_samples.disk_percent IS 'Use of the filesystem holding the data directory, percent';
COMMENT ON COLUMN ops.host_samples.worker_rss_bytes IS 'The worker''s resident memory, bytes';
GRANT SELECT ON ops.host_samples TO expense_ops_admin, expense_ops_worker;
GRANT INSERT ON ops.host_samples TO expense_ops_worker;
INSERT INTO ops.partition_settings (parent, granularity, retention) VALUES ('ops.host_samples', 'day', '30 days');

CREATE FUNCTION ops.host_metrics(since timestamptz, until timestamptz DEFAULT now())
RETURNS TABLE (host text, samples bigint, cpu_avg double precision, cpu_max double precision,
               memory_avg double precision, memory_max double precision, load1_max double precision,
               disk_max double precision, worker_rss_max bigint, last_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF since IS NULL OR until IS NULL OR until <= since THEN
    RAISE EXCEPTION 'the period must end after it starts (since %, until %)', since, until
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Ask for since => now() - interval ''5 minutes''.';
  END IF;
  RETURN QUERY
  SELECT s.host, count(*), avg(s.cpu_percent), max(s.cpu_percent), avg(s.memory_percent), max(s.memory_percent),
         max(s.load1), max(s.disk_percent), max(s.worker_rss_bytes), max(s.at)
    FROM ops.host_samples s WHERE s.at >= since AND s.at < until
   GROUP BY s.host ORDER BY s.host;
END
$$;
COMMENT ON FUNCTION ops.host_metrics(timestamptz, timestamptz) IS
  'Per host over [since, until): samples, average and peak CPU and memory percent, peak load, disk use and worker RSS, and the last sample''s time';
REVOKE ALL ON FUNCTION ops.host_metrics(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.host_metrics(timestamptz, timestamptz) TO expense_ops_admin, expense_ops_worker;
