-- Alerting (issue 10, sections 5 to 7): the metric catalog, alert rules and their evaluation,
-- silences, inhibition, incident tickets, notification channels and the outbox. All of it is
-- the operator's (DESIGN.md section 3): DBAs use it with expense_ops_admin, the worker drives
-- ops.evaluate_alerts() and the outbox, staff read it through the api objects at the end.
-- Every decision takes an explicit instant, so tests and replays drive time.

CREATE TABLE ops.alerting_settings (
  singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  external_url   text NOT NULL DEFAULT 'http://127.0.0.1:3000'
                 CHECK (external_url ~ '^https?://[^/\s]+(/[^\s]*)?$' AND external_url !~ '/$'),
  max_attempts   integer NOT NULL DEFAULT 8 CHECK (max_attempts BETWEEN 1 AND 100),
  retry_base     interval NOT NULL DEFAULT '10 seconds' CHECK (retry_base > '0'),
  retry_cap      interval NOT NULL DEFAULT '1 hour',
  forget_after   interval NOT NULL DEFAULT '1 day' CHECK (forget_after >= '1 minute'),
  CONSTRAINT cap_above_base CHECK (retry_cap >= retry_base)
);
COMMENT ON TABLE ops.alerting_settings IS
  'One row: how alerts link back, how deliveries are retried, and when a resolved alert is forgotten. ops.evaluate_alerts() locks it, so evaluations run one at a time';
COMMENT ON COLUMN ops.alerting_settings.singleton IS 'Always true: there is one row';
COMMENT ON COLUMN ops.alerting_settings.external_url IS
  'Where staff read alerts (the PostgREST in front of the api schema): externalURL of the webhook payload, and the base of each alert''s generatorURL';
COMMENT ON COLUMN ops.alerting_settings.max_attempts IS 'Delivery attempts before a notification is dead (default 8)';
COMMENT ON COLUMN ops.alerting_settings.retry_base IS 'Wait after the first failed attempt; it doubles per attempt, with jitter';
COMMENT ON COLUMN ops.alerting_settings.retry_cap IS 'Longest wait between attempts';
COMMENT ON COLUMN ops.alerting_settings.forget_after IS
  'An alert that is inactive or resolved, and whose series has not been seen for this long, is deleted (its events stay)';
INSERT INTO ops.alerting_settings DEFAULT VALUES;
GRANT SELECT, UPDATE (external_url, max_attempts, retry_base, retry_cap, forget_after) ON ops.alerting_settings
  TO expense_ops_admin;
GRANT SELECT ON ops.alerting_settings TO expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- The C++ rules (extension/core/alerting.*).

CREATE FUNCTION ops.label_fingerprint(labels jsonb) RETURNS text
  AS 'MODULE_PATHNAME', 'expense_ops_label_fingerprint' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.label_fingerprint(jsonb) IS
  'Prometheus'' fingerprint of a label set (64-bit FNV-1a, 16 hex digits); 22X64 unless labels is an object of strings';
CREATE FUNCTION ops.check_comparator(comparator text) RETURNS text
  AS 'MODULE_PATHNAME', 'expense_ops_check_comparator' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.check_comparator(text) IS 'The comparator (>, >=, <, <=, ==, !=), or 22X63';
CREATE FUNCTION ops.threshold_holds(comparator text, value double precision, threshold double precision) RETURNS boolean
  AS 'MODULE_PATHNAME', 'expense_ops_threshold_holds' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.threshold_holds(text, double precision, double precision) IS
  'Whether value comparator threshold holds; never for NaN, a measurement that failed';
CREATE FUNCTION ops.severity_rank(severity text) RETURNS integer
  AS 'MODULE_PATHNAME', 'expense_ops_severity_rank' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.severity_rank(text) IS 'info 0, warning 1, high 2, critical 3; 22X62 for anything else';
CREATE FUNCTION ops.incident_priority(severity text) RETURNS text
  AS 'MODULE_PATHNAME', 'expense_ops_incident_priority' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.incident_priority(text) IS 'The priority of the incident a severity opens: critical P0, high P1, warning P2, info none (NULL)';
CREATE FUNCTION ops.check_template(template text) RETURNS text
  AS 'MODULE_PATHNAME', 'expense_ops_check_template' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.check_template(text) IS 'The template, or 22X66 saying what does not parse where';
CREATE FUNCTION ops.render_template(template text, value double precision, labels jsonb) RETURNS text
  AS 'MODULE_PATHNAME', 'expense_ops_render_template' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.render_template(text, double precision, jsonb) IS
  'The template with {{ $value }} and {{ $labels.NAME }} replaced, as Prometheus renders annotations; a missing label is <no value>';
CREATE FUNCTION ops.check_rule_timing(for_duration interval, keep_firing_for interval) RETURNS boolean
  AS 'MODULE_PATHNAME', 'expense_ops_check_rule_timing' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.check_rule_timing(interval, interval) IS 'True, or 22X65 naming the negative duration';
CREATE FUNCTION ops.alert_step(old_state text, old_active_since timestamptz, old_firing_since timestamptz,
                               old_last_true_at timestamptz, old_resolved_at timestamptz,
                               old_last_evaluated_at timestamptz, old_value double precision,
                               condition boolean, new_value double precision, at timestamptz,
                               for_duration interval, keep_firing_for interval,
                               OUT state text, OUT active_since timestamptz, OUT firing_since timestamptz,
                               OUT last_true_at timestamptz, OUT resolved_at timestamptz,
                               OUT last_evaluated_at timestamptz, OUT value double precision, OUT transition text)
  AS 'MODULE_PATHNAME', 'expense_ops_alert_step' LANGUAGE c IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ops.alert_step(text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz,
                                   double precision, boolean, double precision, timestamptz, interval, interval) IS
  'One evaluation of one alert: inactive -> pending -> firing -> resolved, honouring for and keep_firing_for; transition is the new state when it changed. An evaluation at or before the last one changes nothing';
CREATE FUNCTION ops.retry_delay(attempt integer, base interval, cap interval, jitter double precision) RETURNS interval
  AS 'MODULE_PATHNAME', 'expense_ops_retry_delay' LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ops.retry_delay(integer, interval, interval, double precision) IS
  'The wait after failed attempt n: base * 2^(n-1) capped at cap, half of it fixed and half scaled by jitter in [0, 1)';
REVOKE ALL ON FUNCTION ops.label_fingerprint(jsonb), ops.check_comparator(text),
  ops.threshold_holds(text, double precision, double precision), ops.severity_rank(text), ops.incident_priority(text),
  ops.check_template(text), ops.render_template(text, double precision, jsonb), ops.check_rule_timing(interval, interval),
  ops.alert_step(text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, double precision, boolean,
                 double precision, timestamptz, interval, interval),
  ops.retry_delay(integer, interval, interval, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.label_fingerprint(jsonb), ops.check_comparator(text),
  ops.threshold_holds(text, double precision, double precision), ops.severity_rank(text), ops.incident_priority(text),
  ops.check_template(text), ops.render_template(text, double precision, jsonb), ops.check_rule_timing(interval, interval),
  ops.alert_step(text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, double precision, boolean,
                 double precision, timestamptz, interval, interval),
  ops.retry_delay(integer, interval, interval, double precision) TO expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- The metric catalog: what a rule may watch. Each metric is a set of series, one per label set,
-- computed by ops.metric_samples() at an instant over a window.

CREATE TABLE ops.metrics (
  metric        text PRIMARY KEY,
  description   text NOT NULL,
  unit          text NOT NULL,
  labels        text[] NOT NULL DEFAULT '{}',
  window_use    text NOT NULL CHECK (window_use IN ('none', 'optional', 'required')),
  default_window interval CHECK (default_window > '0'),
  needs_quantile boolean NOT NULL DEFAULT false,
  refresh       interval CHECK (refresh > '0'),
  CONSTRAINT window_default CHECK ((window_use = 'optional') = (default_window IS NOT NULL))
);
COMMENT ON TABLE ops.metrics IS
  'The metrics alert rules watch, each a set of series (one per label set) that ops.metric_samples() computes at an instant. Part of the extension: read-only';
COMMENT ON COLUMN ops.metrics.metric IS 'Its name, as rules give it';
COMMENT ON COLUMN ops.metrics.description IS 'What it measures and where it comes from';
COMMENT ON COLUMN ops.metrics.unit IS 'The unit of its values';
COMMENT ON COLUMN ops.metrics.labels IS 'The labels of its series';
COMMENT ON COLUMN ops.metrics.window_use IS
  'none: an instantaneous value (a rule gives no window); optional: over the rule''s window, default_window without one; required: the rule must give one';
COMMENT ON COLUMN ops.metrics.default_window IS 'The window when the rule gives none';
COMMENT ON COLUMN ops.metrics.needs_quantile IS 'Whether a rule must give a quantile (0 to 1)';
COMMENT ON COLUMN ops.metrics.refresh IS
  'For a metric over a long window that is costly to compute: evaluations reuse its series for this long (ops.metric_cache), as a recording rule would. NULL: computed at every evaluation';
INSERT INTO ops.metrics (metric, unit, labels, window_use, default_window, needs_quantile, description) VALUES
  ('request_latency_ms', 'ms', '{route}', 'optional', '5 minutes', true,
   'A quantile of request latency per route (and * for all), from the latency sketches of ops.request_sketches()'),
  ('request_rate', 'requests/s', '{route}', 'optional', '5 minutes', false, 'Requests per second per route (and *)'),
  ('request_error_ratio_5xx', 'ratio', '{route}', 'optional', '5 minutes', false,
   'Share of requests answered 5xx per route (and *), 0 to 1'),
  ('request_error_ratio_4xx', 'ratio', '{route}', 'optional', '5 minutes', false,
   'Share of requests answered 4xx per route (and *), 0 to 1'),
  ('statement_mean_ms', 'ms', '{queryid}', 'optional', '5 minutes', false,
   'Mean execution time per statement over the window, from ops.slow_statements()'),
  ('host_cpu_percent', '%', '{host}', 'optional', '1 minute', false, 'Average CPU use per host (ops.host_samples)'),
  ('host_memory_percent', '%', '{host}', 'optional', '1 minute', false, 'Average memory use per host'),
  ('host_load1', 'load', '{host}', 'optional', '1 minute', false, 'Peak one-minute load average per host'),
  ('host_disk_percent', '%', '{host}', 'optional', '5 minutes', false, 'Peak use of the data directory''s filesystem per host'),
  ('worker_rss_bytes', 'bytes', '{host}', 'optional', '5 minutes', false, 'Peak resident memory of the worker per host'),
  ('connection_usage_percent', '%', '{}', 'none', NULL, false,
   'Connections open to ordinary roles as a share of the slots they may use (ops.connection_usage())'),
  ('check_consecutive_failures', 'count', '{check_id}', 'none', NULL, false,
   'How many of a check''s latest results in a row are down (ops.consecutive_failures()); series carry the check''s labels'),
  ('check_uptime_percent', '%', '{check_id}', 'optional', '30 days', false,
   'Uptime of a check over whole days ending at the instant, maintenance excluded (ops.uptime_daily())'),
  ('slo_burn_rate', 'ratio', '{slo}', 'required', NULL, false,
   'How fast an objective spends its error budget over the window: 1 spends it exactly over the objective''s period (ops.slo_burn_rate())'),
  ('slo_error_budget_remaining', 'ratio', '{slo}', 'none', NULL, false,
   'Share of the error budget left over the objective''s period, below 0 once overspent (ops.slo_status())'),
  ('ticket_sla_state', '1 at risk, 2 breached', '{kind,ticket_id,priority,clock}', 'none', NULL, false,
   'Each open ticket clock that is at risk or breached (ops.sla_tickets_at_risk()); kind is always ticket'),
  ('ticket_page', '1', '{kind,ticket_id,priority}', 'none', NULL, false,
   'Each open ticket whose priority pages on open (must_page); kind is always ticket'),
  ('replication_standbys_missing', 'count', '{}', 'none', NULL, false,
   'Streaming standbys fewer than ops.health_settings.expected_replicas (0 when all are there)'),
  ('replication_lag_seconds', 's', '{standby}', 'none', NULL, false, 'Replay lag of each standby (ops.replication_metrics())'),
  ('watchdog', '1', '{}', 'none', NULL, false,
   'Always 1: the dead man''s switch. An external service pages when its notifications stop arriving');
-- Uptime reads 30 days of check results, the error budget 30 days of rollups: five minutes old is
-- fresh enough for a month-long objective. Burn rates look back up to 3 days; a minute will do.
UPDATE ops.metrics SET refresh = '5 minutes' WHERE metric IN ('check_uptime_percent', 'slo_error_budget_remaining');
UPDATE ops.metrics SET refresh = '1 minute' WHERE metric = 'slo_burn_rate';
GRANT SELECT ON ops.metrics TO expense_ops_admin, expense_ops_worker;
GRANT UPDATE (refresh) ON ops.metrics TO expense_ops_admin;

CREATE TABLE ops.metric_cache (
  metric     text NOT NULL REFERENCES ops.metrics ON DELETE CASCADE,
  span       interval NOT NULL,
  quantile   double precision NOT NULL,
  sampled_at timestamptz NOT NULL,
  labels     jsonb[] NOT NULL,
  "values"   double precision[] NOT NULL,
  PRIMARY KEY (metric, span, quantile)
);
COMMENT ON TABLE ops.metric_cache IS
  'The last series of each metric with a refresh, per window and quantile, and when they were computed: what evaluations reuse';
COMMENT ON COLUMN ops.metric_cache.metric IS 'The metric';
COMMENT ON COLUMN ops.metric_cache.span IS 'Its window (0 for none)';
COMMENT ON COLUMN ops.metric_cache.quantile IS 'Its quantile (-1 for none)';
COMMENT ON COLUMN ops.metric_cache.sampled_at IS 'The instant they were computed at';
COMMENT ON COLUMN ops.metric_cache.labels IS 'Each series'' labels';
COMMENT ON COLUMN ops.metric_cache."values" IS 'Each series'' value, in the same order';
GRANT SELECT ON ops.metric_cache TO expense_ops_admin, expense_ops_worker;

-- One row per series of the metric at `at`. The window is how far back the metric looks.
CREATE FUNCTION ops.metric_samples(metric text, "window" interval, quantile double precision,
                                   at timestamptz DEFAULT now())
RETURNS TABLE (labels jsonb, value double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
  since timestamptz := at - "window";
BEGIN
  CASE metric
  WHEN 'request_latency_ms' THEN
    RETURN QUERY SELECT jsonb_build_object('route', s.route), ops.sketch_quantile(s.latency, quantile)
                   FROM ops.request_sketches(since, at) s;
  WHEN 'request_rate' THEN
    RETURN QUERY SELECT jsonb_build_object('route', s.route),
                        s.requests / extract(epoch FROM "window")::double precision
                   FROM ops.request_sketches(since, at) s;
  WHEN 'request_error_ratio_5xx' THEN
    RETURN QUERY SELECT jsonb_build_object('route', s.route), s.status_5xx::double precision / s.requests
                   FROM ops.request_sketches(since, at) s;
  WHEN 'request_error_ratio_4xx' THEN
    RETURN QUERY SELECT jsonb_build_object('route', s.route), s.status_4xx::double precision / s.requests
                   FROM ops.request_sketches(since, at) s;
  WHEN 'statement_mean_ms' THEN
    RETURN QUERY SELECT jsonb_build_object('queryid', coalesce(s.queryid::text, '')), max(s.mean_ms)
                   FROM ops.slow_statements(since, at) s GROUP BY 1;
  WHEN 'host_cpu_percent' THEN
    RETURN QUERY SELECT jsonb_build_object('host', h.host), h.cpu_avg FROM ops.host_metrics(since, at) h
                  WHERE h.cpu_avg IS NOT NULL;
  WHEN 'host_memory_percent' THEN
    RETURN QUERY SELECT jsonb_build_object('host', h.host), h.memory_avg FROM ops.host_metrics(since, at) h
                  WHERE h.memory_avg IS NOT NULL;
  WHEN 'host_load1' THEN
    RETURN QUERY SELECT jsonb_build_object('host', h.host), h.load1_max FROM ops.host_metrics(since, at) h
                  WHERE h.load1_max IS NOT NULL;
  WHEN 'host_disk_percent' THEN
    RETURN QUERY SELECT jsonb_build_object('host', h.host), h.disk_max FROM ops.host_metrics(since, at) h
                  WHERE h.disk_max IS NOT NULL;
  WHEN 'worker_rss_bytes' THEN
    RETURN QUERY SELECT jsonb_build_object('host', h.host), h.worker_rss_max::double precision
                   FROM ops.host_metrics(since, at) h WHERE h.worker_rss_max IS NOT NULL;
  WHEN 'connection_usage_percent' THEN
    RETURN QUERY SELECT '{}'::jsonb, c.percent FROM ops.connection_usage() c;
  WHEN 'check_consecutive_failures' THEN
    RETURN QUERY SELECT ops.check_labels(c), f.failures::double precision
                   FROM ops.consecutive_failures(at) f JOIN ops.checks c USING (check_id);
  WHEN 'check_uptime_percent' THEN
    RETURN QUERY
    SELECT c.labels || jsonb_build_object('check_id', c.check_id),
           (100.0 * sum(u.up) / nullif(sum(u.intervals), 0))::double precision
      FROM ops.checks c
     CROSS JOIN LATERAL ops.uptime_daily(c.check_id, greatest(1, ceil(extract(epoch FROM "window") / 86400)::integer), at) u
     WHERE c.enabled
     GROUP BY c.check_id
    HAVING sum(u.intervals) > 0;
  WHEN 'slo_burn_rate' THEN
    RETURN QUERY SELECT jsonb_build_object('slo', o.slo), ops.slo_burn_rate(o.slo, "window", at)
                   FROM ops.slos o WHERE o.enabled AND ops.slo_burn_rate(o.slo, "window", at) IS NOT NULL;
  WHEN 'slo_error_budget_remaining' THEN
    RETURN QUERY SELECT jsonb_build_object('slo', s.slo), s.error_budget_remaining
                   FROM ops.slo_status(at) s WHERE s.error_budget_remaining IS NOT NULL;
  WHEN 'ticket_sla_state' THEN
    RETURN QUERY SELECT jsonb_build_object('kind', 'ticket', 'ticket_id', t.ticket_id::text, 'priority', t.priority,
                                           'clock', t.clock),
                        max(CASE t.state WHEN 'breached' THEN 2 ELSE 1 END)::double precision
                   FROM ops.sla_tickets_at_risk(at) t GROUP BY t.ticket_id, t.priority, t.clock;
  WHEN 'ticket_page' THEN
    RETURN QUERY SELECT jsonb_build_object('kind', 'ticket', 'ticket_id', t.ticket_id::text, 'priority', t.priority),
                        1::double precision
                   FROM ops.tickets t
                  WHERE t.must_page AND t.closed_at IS NULL AND t.resolved_at IS NULL AND t.opened_at <= at;
  WHEN 'replication_standbys_missing' THEN
    RETURN QUERY SELECT '{}'::jsonb, greatest(0, s.expected_replicas - ops.standby_count())::double precision
                   FROM ops.health_settings s;
  WHEN 'replication_lag_seconds' THEN
    RETURN QUERY SELECT jsonb_build_object('standby', r.standby), r.lag_seconds
                   FROM ops.replication_metrics() r WHERE r.lag_seconds IS NOT NULL;
  WHEN 'watchdog' THEN
    RETURN QUERY SELECT '{}'::jsonb, 1::double precision;
  WHEN 'backup_rpo_seconds', 'backup_failed', 'backup_verification_failed', 'restore_test_age_seconds',
       'restore_test_failed', 'restore_test_rto_seconds', 'wal_archive_failing' THEN
    -- extension/sql/backups.sql
    RETURN QUERY SELECT s.labels, s.value FROM ops.backup_metric_samples(metric, at) s;
  ELSE
    RAISE EXCEPTION 'metric: ops.metrics lists no "%"', metric USING ERRCODE = expense.sqlstate('unknown_metric'),
      HINT = 'SELECT metric FROM ops.metrics lists them.';
  END CASE;
END
$$;
COMMENT ON FUNCTION ops.metric_samples(text, interval, double precision, timestamptz) IS
  'The series of a metric of ops.metrics at an instant: one row per label set, over the window ending at at (ignored by instantaneous metrics); quantile for request_latency_ms';
REVOKE ALL ON FUNCTION ops.metric_samples(text, interval, double precision, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.metric_samples(text, interval, double precision, timestamptz) TO expense_ops_admin;

CREATE FUNCTION ops.cached_metric_samples(metric text, "window" interval, quantile double precision, at timestamptz)
RETURNS TABLE (labels jsonb, value double precision)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
  refresh interval := (SELECT m.refresh FROM ops.metrics m WHERE m.metric = cached_metric_samples.metric);
  kept ops.metric_cache;
BEGIN
  IF refresh IS NULL THEN
    RETURN QUERY SELECT s.labels, s.value FROM ops.metric_samples(metric, "window", quantile, at) s;
    RETURN;
  END IF;
  SELECT * INTO kept FROM ops.metric_cache c
   WHERE c.metric = cached_metric_samples.metric AND c.span = coalesce("window", interval '0')
     AND c.quantile = coalesce(cached_metric_samples.quantile, -1);
  -- Fresh means computed at or before `at` and within refresh of it: an evaluation of an
  -- earlier instant (a replay, a test) never sees a later one's numbers.
  IF NOT FOUND OR kept.sampled_at > at OR kept.sampled_at <= at - refresh THEN
    INSERT INTO ops.metric_cache AS c (metric, span, quantile, sampled_at, labels, "values")
    SELECT cached_metric_samples.metric, coalesce("window", interval '0'), coalesce(cached_metric_samples.quantile, -1), at,
           coalesce(array_agg(s.labels), '{}'), coalesce(array_agg(s.value), '{}')
      FROM ops.metric_samples(metric, "window", quantile, at) s
    ON CONFLICT ON CONSTRAINT metric_cache_pkey DO UPDATE
       SET sampled_at = excluded.sampled_at, labels = excluded.labels, "values" = excluded."values"
    RETURNING * INTO kept;
  END IF;
  RETURN QUERY SELECT u.labels, u.value FROM unnest(kept.labels, kept."values") u(labels, value);
END
$$;
COMMENT ON FUNCTION ops.cached_metric_samples(text, interval, double precision, timestamptz) IS
  'ops.metric_samples(), reused for the metric''s refresh interval when it has one (ops.metric_cache): what evaluations read';
REVOKE ALL ON FUNCTION ops.cached_metric_samples(text, interval, double precision, timestamptz) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Rules.

CREATE TABLE ops.alert_rules (
  rule            text PRIMARY KEY CONSTRAINT rule_name CHECK (rule ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'),
  metric          text NOT NULL,
  "window"        interval,
  confirm_window  interval,
  quantile        double precision,
  matchers        jsonb NOT NULL DEFAULT '[]',
  comparator      text NOT NULL,
  threshold       double precision NOT NULL,
  for_duration    interval NOT NULL DEFAULT '0',
  keep_firing_for interval NOT NULL DEFAULT '0',
  severity        text NOT NULL,
  labels          jsonb NOT NULL DEFAULT '{}',
  summary         text NOT NULL DEFAULT '' CHECK (length(summary) <= 1000),
  description     text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
  opens_incident  boolean NOT NULL DEFAULT false,
  enabled         boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE ops.alert_rules IS
  'Alert rules: when a series of a metric crosses a threshold for long enough, its alert fires. Edited by expense_ops_admin; every write is validated with a clear error';
COMMENT ON COLUMN ops.alert_rules.rule IS 'The rule''s name, which is the alertname label of its alerts';
COMMENT ON COLUMN ops.alert_rules.metric IS 'A metric of ops.metrics';
COMMENT ON COLUMN ops.alert_rules."window" IS 'How far back the metric looks (its default when NULL; none for instantaneous metrics)';
COMMENT ON COLUMN ops.alert_rules.confirm_window IS
  'A second, shorter window the condition must also hold over: the short window of a multi-window burn-rate alert';
COMMENT ON COLUMN ops.alert_rules.quantile IS 'For request_latency_ms: which quantile, 0 to 1 (0.95 is P95)';
COMMENT ON COLUMN ops.alert_rules.matchers IS 'Label filters on the metric''s series, JSON array of {"name", "op", "value"}';
COMMENT ON COLUMN ops.alert_rules.comparator IS '>, >=, <, <=, == or !=';
COMMENT ON COLUMN ops.alert_rules.threshold IS 'The value the series is compared with';
COMMENT ON COLUMN ops.alert_rules.for_duration IS 'How long the condition must hold before the alert fires (pending until then)';
COMMENT ON COLUMN ops.alert_rules.keep_firing_for IS 'How long a firing alert keeps firing after the condition last held: rides out flapping';
COMMENT ON COLUMN ops.alert_rules.severity IS 'critical, high, warning or info';
COMMENT ON COLUMN ops.alert_rules.labels IS 'Labels added to each alert (JSON object of strings); alertname and severity are set by the rule';
COMMENT ON COLUMN ops.alert_rules.summary IS 'Template of the summary annotation: {{ $value }}, {{ $labels.NAME }}';
COMMENT ON COLUMN ops.alert_rules.description IS 'Template of the description annotation';
COMMENT ON COLUMN ops.alert_rules.opens_incident IS
  'Whether a firing alert opens an incident ticket (critical P0, high P1, warning P2), one open ticket per alert; not while it is silenced, inhibited or in maintenance';
COMMENT ON COLUMN ops.alert_rules.enabled IS 'A disabled rule is not evaluated: its firing alerts resolve and its pending ones drop at the next evaluation';
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.alert_rules TO expense_ops_admin;
GRANT SELECT ON ops.alert_rules TO expense_ops_worker;

CREATE FUNCTION ops.validate_alert_rule() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  described ops.metrics;
BEGIN
  IF TG_RELID <> 'ops.alert_rules'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_alert_rule() fires only BEFORE each row of ops.alert_rules, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  SELECT * INTO described FROM ops.metrics m WHERE m.metric = NEW.metric;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'metric: ops.metrics lists no "%"', NEW.metric USING ERRCODE = expense.sqlstate('unknown_metric'),
      HINT = 'One of: ' || (SELECT string_agg(m.metric, ', ' ORDER BY m.metric) FROM ops.metrics m) || '.';
  END IF;
  IF described.needs_quantile AND NEW.quantile IS NULL THEN
    RAISE EXCEPTION 'quantile: % needs one', NEW.metric USING ERRCODE = expense.sqlstate('unknown_metric'),
      HINT = 'Give 0.95 for P95.';
  ELSIF NOT described.needs_quantile AND NEW.quantile IS NOT NULL THEN
    RAISE EXCEPTION 'quantile: % takes none', NEW.metric USING ERRCODE = expense.sqlstate('unknown_metric'),
      HINT = 'Leave quantile NULL.';
  ELSIF NEW.quantile IS NOT NULL AND NOT (NEW.quantile BETWEEN 0 AND 1) THEN
    RAISE EXCEPTION 'quantile: % is outside 0 to 1', NEW.quantile USING ERRCODE = expense.sqlstate('quantile_out_of_range'),
      HINT = 'Give 0.95 for P95.';
  END IF;
  IF described.window_use = 'none' AND (NEW."window" IS NOT NULL OR NEW.confirm_window IS NOT NULL) THEN
    RAISE EXCEPTION 'window: % is instantaneous and takes no window', NEW.metric
      USING ERRCODE = expense.sqlstate('unknown_metric'), HINT = 'Leave window and confirm_window NULL.';
  ELSIF described.window_use = 'required' AND NEW."window" IS NULL THEN
    RAISE EXCEPTION 'window: % needs one', NEW.metric USING ERRCODE = expense.sqlstate('unknown_metric'),
      HINT = 'Give the window it looks back over, such as ''1 hour''.';
  ELSIF NEW."window" <= interval '0' OR NEW.confirm_window <= interval '0' THEN
    RAISE EXCEPTION 'window: windows are positive' USING ERRCODE = expense.sqlstate('negative_duration'),
      HINT = 'Give a window such as ''5 minutes''.';
  END IF;
  PERFORM ops.check_rule_timing(NEW.for_duration, NEW.keep_firing_for);
  PERFORM ops.check_matchers(NEW.matchers);
  NEW.comparator := ops.check_comparator(NEW.comparator);
  PERFORM ops.severity_rank(NEW.severity);
  IF NEW.threshold = 'NaN' THEN
    RAISE EXCEPTION 'threshold: NaN compares with nothing' USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Give a number.';
  END IF;
  PERFORM ops.label_fingerprint(NEW.labels);
  IF EXISTS (SELECT FROM jsonb_object_keys(NEW.labels) k WHERE k !~ '^[A-Za-z_][A-Za-z0-9_]*$') THEN
    RAISE EXCEPTION 'labels: names are letters, digits and _, not starting with a digit'
      USING ERRCODE = expense.sqlstate('invalid_matcher'), HINT = 'Alertmanager refuses other names: use team_name, not team-name.';
  END IF;
  IF NEW.opens_incident AND NEW.metric IN ('ticket_page', 'ticket_sla_state') THEN
    RAISE EXCEPTION 'opens_incident: % watches tickets; an incident of its own would page again', NEW.metric
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Leave opens_incident false for ticket rules.';
  END IF;
  IF NEW.labels ?| ARRAY['alertname', 'severity'] THEN
    RAISE EXCEPTION 'labels: alertname and severity come from the rule' USING ERRCODE = expense.sqlstate('invalid_matcher'),
      HINT = 'Name the rule and give its severity instead.';
  END IF;
  PERFORM ops.check_template(NEW.summary);
  PERFORM ops.check_template(NEW.description);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION ops.validate_alert_rule() IS
  'BEFORE each write of ops.alert_rules: unknown metric (22X70), quantile (22X61), negative durations (22X65), matchers and labels (22X64), comparator (22X63), severity (22X62), templates (22X66)';
REVOKE ALL ON FUNCTION ops.validate_alert_rule() FROM PUBLIC;
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON ops.alert_rules
  FOR EACH ROW EXECUTE FUNCTION ops.validate_alert_rule();

-- Seeded from the support plan. The health check and the API-level rules share the label
-- service="api", which the seeded inhibition compares.
INSERT INTO ops.alert_rules (rule, metric, "window", confirm_window, quantile, matchers, comparator, threshold,
                             for_duration, keep_firing_for, severity, labels, summary, description, opens_incident) VALUES
  ('SlowResponses', 'request_latency_ms', '5 minutes', NULL, 0.95, '[{"name": "route", "op": "!=", "value": "*"}]',
   '>', 500, '5 minutes', '2 minutes', 'high', '{"service": "api"}',
   'P95 of {{ $labels.route }} is {{ $value }} ms', 'P95 latency above 500 ms for 5 minutes', false),
  ('HighErrorRate', 'request_error_ratio_5xx', '5 minutes', NULL, NULL, '[{"name": "route", "op": "!=", "value": "*"}]',
   '>', 0.005, '5 minutes', '2 minutes', 'critical', '{"service": "api"}',
   '5xx share of {{ $labels.route }} is {{ $value }}', 'More than 0.5 % of requests answered 5xx for 5 minutes', true),
  ('SlowQuery', 'statement_mean_ms', '5 minutes', NULL, NULL, '[]', '>', 1000, '0', '0', 'warning', '{"service": "db"}',
   'Statement {{ $labels.queryid }} takes {{ $value }} ms on average', 'A statement''s mean time above 1000 ms', false),
  ('HighCpu', 'host_cpu_percent', '1 minute', NULL, NULL, '[]', '>', 80, '5 minutes', '0', 'warning', '{}',
   'CPU of {{ $labels.host }} at {{ $value }} %', 'CPU above 80 % for 5 minutes', false),
  ('HighMemory', 'host_memory_percent', '1 minute', NULL, NULL, '[]', '>', 90, '5 minutes', '0', 'high', '{}',
   'Memory of {{ $labels.host }} at {{ $value }} %', 'Memory above 90 % for 5 minutes', false),
  ('HealthCheckDown', 'check_consecutive_failures', NULL, NULL, NULL, '[]', '>=', 2, '0', '0', 'critical',
   '{"service": "api"}', 'Check {{ $labels.check_id }} failed {{ $value }} times in a row',
   'Two consecutive failures of a health check', true),
  ('UptimeBelowObjective', 'check_uptime_percent', '30 days', NULL, NULL, '[]', '<', 99.5, '0', '0', 'high', '{}',
   'Uptime of {{ $labels.check_id }} is {{ $value }} % over 30 days', 'Uptime below 99.5 % over 30 days', false),
  ('SlaBreached', 'ticket_sla_state', NULL, NULL, NULL, '[]', '>=', 2, '0', '0', 'critical', '{}',
   'Ticket {{ $labels.ticket_id }} ({{ $labels.priority }}) breached its {{ $labels.clock }} SLA', 'A ticket breached its SLA', false),
  ('SlaAtRisk', 'ticket_sla_state', NULL, NULL, NULL, '[]', '==', 1, '0', '0', 'warning', '{}',
   'Ticket {{ $labels.ticket_id }} ({{ $labels.priority }}) is at risk of breaching its {{ $labels.clock }} SLA',
   'A ticket clock is at risk', false),
  ('TicketPage', 'ticket_page', NULL, NULL, NULL, '[]', '>', 0, '0', '0', 'critical', '{}',
   'Ticket {{ $labels.ticket_id }} ({{ $labels.priority }}) pages on open', 'A ticket whose priority pages at once', false),
  ('ErrorBudgetBurnFast', 'slo_burn_rate', '1 hour', '5 minutes', NULL, '[]', '>', 14.4, '0', '0', 'critical', '{}',
   '{{ $labels.slo }} burns its error budget at {{ $value }}x', 'Burn rate above 14.4 over 1 hour and 5 minutes', false),
  ('ErrorBudgetBurnMedium', 'slo_burn_rate', '6 hours', '30 minutes', NULL, '[]', '>', 6, '0', '0', 'critical', '{}',
   '{{ $labels.slo }} burns its error budget at {{ $value }}x', 'Burn rate above 6 over 6 hours and 30 minutes', false),
  ('ErrorBudgetBurnSlow', 'slo_burn_rate', '3 days', '6 hours', NULL, '[]', '>', 1, '0', '0', 'warning', '{}',
   '{{ $labels.slo }} burns its error budget at {{ $value }}x', 'Burn rate above 1 over 3 days and 6 hours', false),
  ('StandbyLost', 'replication_standbys_missing', NULL, NULL, NULL, '[]', '>', 0, '0', '0', 'critical', '{}',
   '{{ $value }} expected standby(s) not streaming', 'Fewer streaming standbys than expected', false),
  ('ReplicationLag', 'replication_lag_seconds', NULL, NULL, NULL, '[]', '>', 60, '0', '0', 'high', '{}',
   'Standby {{ $labels.standby }} lags {{ $value }} s', 'Replication lag above 60 s', false),
  ('Watchdog', 'watchdog', NULL, NULL, NULL, '[]', '>', 0, '0', '0', 'info', '{}',
   'The alerting pipeline is alive',
   'Always firing. Route it to a dead man''s switch service, which pages when it stops arriving', false);

-- ---------------------------------------------------------------------------------------------
-- Alerts and their transitions.

CREATE TABLE ops.alerts (
  fingerprint        text PRIMARY KEY,
  rule               text NOT NULL REFERENCES ops.alert_rules ON UPDATE CASCADE ON DELETE CASCADE,
  labels             jsonb NOT NULL,
  annotations        jsonb NOT NULL DEFAULT '{}',
  state              text NOT NULL CHECK (state IN ('inactive', 'pending', 'firing', 'resolved')),
  value              double precision,
  active_since       timestamptz,
  firing_since       timestamptz,
  last_true_at       timestamptz,
  resolved_at        timestamptz,
  last_evaluated_at  timestamptz NOT NULL,
  last_seen_at       timestamptz NOT NULL,
  incident_ticket_id bigint REFERENCES ops.tickets
);
CREATE INDEX alerts_rule ON ops.alerts (rule);
COMMENT ON TABLE ops.alerts IS
  'Each alert (a rule and one label set, by its fingerprint) and where ops.evaluate_alerts() left it';
COMMENT ON COLUMN ops.alerts.fingerprint IS 'Prometheus'' fingerprint of its labels (ops.label_fingerprint())';
COMMENT ON COLUMN ops.alerts.rule IS 'The rule';
COMMENT ON COLUMN ops.alerts.labels IS 'The series'' labels, the rule''s labels, alertname and severity';
COMMENT ON COLUMN ops.alerts.annotations IS 'summary and description, rendered when the condition last held';
COMMENT ON COLUMN ops.alerts.state IS 'inactive, pending, firing or resolved';
COMMENT ON COLUMN ops.alerts.value IS 'The value when the condition last held';
COMMENT ON COLUMN ops.alerts.active_since IS 'When the condition began to hold, this episode';
COMMENT ON COLUMN ops.alerts.firing_since IS 'When it fired, this episode';
COMMENT ON COLUMN ops.alerts.last_true_at IS 'The last evaluation at which the condition held';
COMMENT ON COLUMN ops.alerts.resolved_at IS 'When it resolved';
COMMENT ON COLUMN ops.alerts.last_evaluated_at IS 'The last evaluation';
COMMENT ON COLUMN ops.alerts.last_seen_at IS 'The last evaluation whose metric had this series';
COMMENT ON COLUMN ops.alerts.incident_ticket_id IS 'The incident ticket it opened, if its rule opens one';
GRANT SELECT ON ops.alerts TO expense_ops_admin, expense_ops_worker;

CREATE TABLE ops.alert_events (
  event_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  fingerprint text NOT NULL,
  rule        text NOT NULL,
  labels      jsonb NOT NULL,
  from_state  text NOT NULL,
  to_state    text NOT NULL,
  at          timestamptz NOT NULL,
  value       double precision,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_fingerprint ON ops.alert_events (fingerprint, event_id);
CREATE INDEX alert_events_at ON ops.alert_events (at);
COMMENT ON TABLE ops.alert_events IS 'Every transition of every alert, once: the history behind ops.alerts';
COMMENT ON COLUMN ops.alert_events.event_id IS 'Order of recording';
COMMENT ON COLUMN ops.alert_events.fingerprint IS 'The alert';
COMMENT ON COLUMN ops.alert_events.rule IS 'Its rule, as named then';
COMMENT ON COLUMN ops.alert_events.labels IS 'Its labels';
COMMENT ON COLUMN ops.alert_events.from_state IS 'State before';
COMMENT ON COLUMN ops.alert_events.to_state IS 'State after: pending, firing, resolved or inactive (a pending alert that did not fire)';
COMMENT ON COLUMN ops.alert_events.at IS 'The evaluation instant';
COMMENT ON COLUMN ops.alert_events.value IS 'The value then (NULL when the series was gone)';
COMMENT ON COLUMN ops.alert_events.recorded_at IS 'When it was written';
COMMENT ON SEQUENCE ops.alert_events_event_id_seq IS 'Numbers ops.alert_events';
GRANT SELECT ON ops.alert_events TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Silences and inhibition: they suppress notifications, never state.

CREATE TABLE ops.silences (
  silence_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  matchers   jsonb NOT NULL,
  starts_at  timestamptz NOT NULL DEFAULT now(),
  ends_at    timestamptz NOT NULL,
  author     text NOT NULL DEFAULT current_user CHECK (btrim(author) <> '' AND length(author) <= 320),
  comment    text NOT NULL CHECK (btrim(comment) <> '' AND length(comment) <= 2000),
  created_at timestamptz NOT NULL DEFAULT now(),
  expired_at timestamptz
);
CREATE INDEX silences_ends ON ops.silences (ends_at);
COMMENT ON TABLE ops.silences IS
  'Silences, as in Alertmanager: between starts_at and ends_at, alerts whose labels match every matcher are not notified. Their state moves on';
COMMENT ON COLUMN ops.silences.silence_id IS 'Identifies the silence';
COMMENT ON COLUMN ops.silences.matchers IS 'Label matchers, JSON array of {"name", "op", "value"} with op =, !=, =~ or !~; at least one';
COMMENT ON COLUMN ops.silences.starts_at IS 'Start';
COMMENT ON COLUMN ops.silences.ends_at IS 'End; expiring the silence early moves it';
COMMENT ON COLUMN ops.silences.author IS 'Who silenced';
COMMENT ON COLUMN ops.silences.comment IS 'Why';
COMMENT ON COLUMN ops.silences.created_at IS 'When it was entered';
COMMENT ON COLUMN ops.silences.expired_at IS 'When it was expired early, if it was';
COMMENT ON SEQUENCE ops.silences_silence_id_seq IS 'Numbers ops.silences';
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.silences TO expense_ops_admin;
GRANT SELECT ON ops.silences TO expense_ops_worker;

CREATE FUNCTION ops.validate_silence() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_RELID <> 'ops.silences'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_silence() fires only BEFORE each row of ops.silences, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  PERFORM ops.check_matchers(NEW.matchers);
  IF jsonb_array_length(NEW.matchers) = 0 THEN
    RAISE EXCEPTION 'matchers: a silence needs at least one' USING ERRCODE = expense.sqlstate('silence_inverted'),
      HINT = 'Match what to silence, such as [{"name": "alertname", "op": "=", "value": "HighCpu"}].';
  END IF;
  IF NEW.ends_at <= NEW.starts_at THEN
    RAISE EXCEPTION 'ends_at: the silence ends (%) before it starts (%)', NEW.ends_at, NEW.starts_at
      USING ERRCODE = expense.sqlstate('silence_inverted'), HINT = 'Give an end after the start, such as now() + interval ''2 hours''.';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION ops.validate_silence() IS 'BEFORE each write of ops.silences: matchers (22X64, 22X72) and the end after the start (22X72)';
REVOKE ALL ON FUNCTION ops.validate_silence() FROM PUBLIC;
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON ops.silences FOR EACH ROW EXECUTE FUNCTION ops.validate_silence();

CREATE FUNCTION ops.expire_silence(silence_id bigint, at timestamptz DEFAULT now()) RETURNS ops.silences
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  expired ops.silences;
BEGIN
  -- A silence that has not started yet ends before it ever does.
  UPDATE ops.silences s SET starts_at = least(s.starts_at, at - interval '1 microsecond'), ends_at = least(s.ends_at, at),
                            expired_at = at
   WHERE s.silence_id = expire_silence.silence_id AND s.ends_at > at
  RETURNING * INTO expired;
  IF NOT FOUND THEN
    IF NOT EXISTS (SELECT FROM ops.silences s WHERE s.silence_id = expire_silence.silence_id) THEN
      RAISE EXCEPTION 'silence_id: no silence %', silence_id USING ERRCODE = expense.sqlstate('not_found');
    END IF;
    SELECT * INTO expired FROM ops.silences s WHERE s.silence_id = expire_silence.silence_id;
  END IF;
  RETURN expired;
END
$$;
COMMENT ON FUNCTION ops.expire_silence(bigint, timestamptz) IS
  'Ends a silence early at at (a silence that already ended is left as it is) and returns it';
REVOKE ALL ON FUNCTION ops.expire_silence(bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.expire_silence(bigint, timestamptz) TO expense_ops_admin;

CREATE TABLE ops.inhibit_rules (
  inhibit_rule    text PRIMARY KEY CHECK (inhibit_rule ~ '^[A-Za-z_][A-Za-z0-9_-]{0,62}$'),
  source_matchers jsonb NOT NULL CHECK (ops.check_matchers(source_matchers)),
  target_matchers jsonb NOT NULL CHECK (ops.check_matchers(target_matchers)),
  equal           text[] NOT NULL DEFAULT '{}',
  enabled         boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE ops.inhibit_rules IS
  'Inhibition, as Alertmanager''s inhibit_rules: while an alert matching source_matchers fires, alerts matching target_matchers whose equal labels have the same values are not notified';
COMMENT ON COLUMN ops.inhibit_rules.inhibit_rule IS 'Its name';
COMMENT ON COLUMN ops.inhibit_rules.source_matchers IS 'Which firing alerts inhibit';
COMMENT ON COLUMN ops.inhibit_rules.target_matchers IS 'Which alerts they inhibit';
COMMENT ON COLUMN ops.inhibit_rules.equal IS 'Labels that must have the same value in both (a missing label is empty)';
COMMENT ON COLUMN ops.inhibit_rules.enabled IS 'Whether it applies';
INSERT INTO ops.inhibit_rules VALUES
  ('HealthCheckDownInhibitsApi', '[{"name": "alertname", "op": "=", "value": "HealthCheckDown"}]',
   '[{"name": "alertname", "op": "=~", "value": "SlowResponses|HighErrorRate"}]', '{service}', true);
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.inhibit_rules TO expense_ops_admin;
GRANT SELECT ON ops.inhibit_rules TO expense_ops_worker;

-- Every alert with what keeps it from being notified at `at`: silences, maintenance windows and
-- inhibiting alerts. An alert is notified when all three are empty.
CREATE FUNCTION ops.alert_status(at timestamptz DEFAULT now())
RETURNS TABLE (fingerprint text, rule text, labels jsonb, annotations jsonb, state text, severity text,
               value double precision, active_since timestamptz, firing_since timestamptz, resolved_at timestamptz,
               incident_ticket_id bigint, silenced_by bigint[], maintenance_by bigint[], inhibited_by text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
  WITH silences AS (
    SELECT s.silence_id, s.matchers FROM ops.silences s WHERE s.starts_at <= at AND s.ends_at > at
  ), windows AS (
    SELECT w.window_id, w.matchers FROM ops.maintenance_windows w WHERE w.starts_at <= at AND w.ends_at > at
  ), sides AS (
    -- Each alert on each side of each inhibition rule it matches, keyed by its equal labels.
    SELECT i.inhibit_rule, a.fingerprint, a.state = 'firing' AND ops.labels_match(i.source_matchers, a.labels) AS source,
           ops.labels_match(i.target_matchers, a.labels) AS target,
           (SELECT coalesce(jsonb_object_agg(e.name, coalesce(a.labels->>e.name, '')), '{}')
              FROM unnest(i.equal) e(name)) AS equal_key
      FROM ops.inhibit_rules i CROSS JOIN ops.alerts a
     WHERE i.enabled
  ), inhibited AS (
    SELECT t.fingerprint, array_agg(DISTINCT s.fingerprint ORDER BY s.fingerprint) AS by
      FROM sides t JOIN sides s ON s.inhibit_rule = t.inhibit_rule AND s.equal_key = t.equal_key
                               AND s.source AND s.fingerprint <> t.fingerprint
     WHERE t.target
     GROUP BY t.fingerprint
  )
  SELECT a.fingerprint, a.rule, a.labels, a.annotations, a.state, a.labels->>'severity', a.value, a.active_since,
         a.firing_since, a.resolved_at, a.incident_ticket_id,
         ARRAY(SELECT s.silence_id FROM silences s WHERE ops.labels_match(s.matchers, a.labels) ORDER BY 1),
         ARRAY(SELECT w.window_id FROM windows w WHERE ops.labels_match(w.matchers, a.labels) ORDER BY 1),
         coalesce(i.by, '{}')
    FROM ops.alerts a LEFT JOIN inhibited i USING (fingerprint)
$$;
COMMENT ON FUNCTION ops.alert_status(timestamptz) IS
  'Every alert at an instant with what keeps it from being notified: the silences and maintenance windows that match it and the firing alerts that inhibit it (fingerprints)';
REVOKE ALL ON FUNCTION ops.alert_status(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.alert_status(timestamptz) TO expense_ops_admin, expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Channels and the outbox.

CREATE TABLE ops.notification_channels (
  channel         text PRIMARY KEY CHECK (channel ~ '^[a-z][a-z0-9_-]{0,62}$'),
  kind            text NOT NULL,
  target          text NOT NULL DEFAULT '' CHECK (length(target) <= 2000),
  min_severity    text NOT NULL DEFAULT 'info',
  matchers        jsonb NOT NULL DEFAULT '[]',
  group_by        text[] NOT NULL DEFAULT '{alertname}',
  group_wait      interval NOT NULL DEFAULT '30 seconds' CHECK (group_wait >= '0'),
  group_interval  interval NOT NULL DEFAULT '5 minutes' CHECK (group_interval > '0'),
  repeat_interval interval NOT NULL DEFAULT '4 hours' CHECK (repeat_interval > '0'),
  send_resolved   boolean NOT NULL DEFAULT true,
  max_alerts      integer NOT NULL DEFAULT 0 CHECK (max_alerts >= 0),
  enabled         boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE ops.notification_channels IS
  'Where notifications go, and how alerts are grouped and repeated (Alertmanager''s receivers and route timers). A target that is a secret (a URL with a token) is named as secret:NAME and lives in the worker''s configuration';
COMMENT ON COLUMN ops.notification_channels.channel IS 'Its name: the receiver of the webhook payload';
COMMENT ON COLUMN ops.notification_channels.kind IS
  'webhook (Alertmanager''s webhook payload, version 4), alertmanager (the alert list POSTed to an Alertmanager''s /api/v2/alerts), email (a plain-text mail through the worker''s SMTP server), log (the worker logs the payload) or command (the worker runs a command its configuration names, payload on stdin)';
COMMENT ON COLUMN ops.notification_channels.target IS
  'webhook and alertmanager: an http(s) URL or secret:NAME; email: 1 to 20 addresses separated by commas; command: the name of a command in the worker''s configuration; log: ignored';
COMMENT ON COLUMN ops.notification_channels.min_severity IS 'Alerts below this severity do not go here';
COMMENT ON COLUMN ops.notification_channels.matchers IS 'Label matchers an alert must satisfy to go here';
COMMENT ON COLUMN ops.notification_channels.group_by IS 'Labels whose values form a group: one notification carries one group''s alerts';
COMMENT ON COLUMN ops.notification_channels.group_wait IS 'How long a new group waits before its first notification';
COMMENT ON COLUMN ops.notification_channels.group_interval IS 'How long a group waits after a notification before telling of a change';
COMMENT ON COLUMN ops.notification_channels.repeat_interval IS 'How long a group waits before repeating an unchanged notification of firing alerts';
COMMENT ON COLUMN ops.notification_channels.send_resolved IS 'Whether resolved alerts are sent';
COMMENT ON COLUMN ops.notification_channels.max_alerts IS 'Most alerts in one notification (0: all); the payload counts the rest as truncatedAlerts';
COMMENT ON COLUMN ops.notification_channels.enabled IS 'Whether anything goes here';
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.notification_channels TO expense_ops_admin;
GRANT SELECT ON ops.notification_channels TO expense_ops_worker;

CREATE FUNCTION ops.validate_channel() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_RELID <> 'ops.notification_channels'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_channel() fires only BEFORE each row of ops.notification_channels, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF NEW.kind IS NULL OR NEW.kind NOT IN ('webhook', 'alertmanager', 'email', 'log', 'command') THEN
    RAISE EXCEPTION 'kind: "%" is not a channel kind', NEW.kind USING ERRCODE = expense.sqlstate('unknown_channel_kind'),
      HINT = 'Use webhook, alertmanager, email, log or command.';
  END IF;
  IF NEW.kind IN ('webhook', 'alertmanager') AND NEW.target !~ '^(https?://[^/\s]+(/\S*)?|secret:[a-z][a-z0-9_-]{0,62})$' THEN
    RAISE EXCEPTION 'target: a % channel needs an http(s) URL or secret:NAME', NEW.kind
      USING ERRCODE = expense.sqlstate('unknown_channel_kind'),
      HINT = 'Give http://alertmanager:9093/api/v2/alerts, or secret:NAME for a URL the worker''s configuration holds.';
  ELSIF NEW.kind = 'command' AND NEW.target !~ '^[a-z][a-z0-9_-]{0,62}$' THEN
    RAISE EXCEPTION 'target: a command channel names a command of the worker''s configuration'
      USING ERRCODE = expense.sqlstate('unknown_channel_kind'), HINT = 'Give its name, such as page-oncall.';
  ELSIF NEW.kind = 'email'
        AND NEW.target !~ '^[^@[:space:][:cntrl:],<>"]{1,64}@[A-Za-z0-9.-]{1,253}([ \t]*,[ \t]*[^@[:space:][:cntrl:],<>"]{1,64}@[A-Za-z0-9.-]{1,253}){0,19}$' THEN
    RAISE EXCEPTION 'target: an email channel needs 1 to 20 addresses, separated by commas'
      USING ERRCODE = expense.sqlstate('unknown_channel_kind'), HINT = 'Such as oncall@example.com, ops@example.com.';
  END IF;
  PERFORM ops.severity_rank(NEW.min_severity);
  PERFORM ops.check_matchers(NEW.matchers);
  IF EXISTS (SELECT FROM unnest(NEW.group_by) g WHERE g IS NULL OR g !~ '^[A-Za-z_][A-Za-z0-9_]*$') THEN
    RAISE EXCEPTION 'group_by: label names are letters, digits and _' USING ERRCODE = expense.sqlstate('invalid_matcher'),
      HINT = 'Such as {alertname, service}.';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION ops.validate_channel() IS
  'BEFORE each write of ops.notification_channels: kind and target (22X71), severity (22X62), matchers and group_by (22X64)';
REVOKE ALL ON FUNCTION ops.validate_channel() FROM PUBLIC;
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON ops.notification_channels
  FOR EACH ROW EXECUTE FUNCTION ops.validate_channel();

INSERT INTO ops.notification_channels (channel, kind, target, min_severity, matchers, group_by, group_wait,
                                       group_interval, repeat_interval, send_resolved, enabled) VALUES
  ('log', 'log', '', 'info', '[{"name": "alertname", "op": "!=", "value": "Watchdog"}]', '{alertname}', '0',
   '5 minutes', '4 hours', true, true),
  ('deadmans-switch', 'webhook', 'secret:deadmans_switch_url', 'info',
   '[{"name": "alertname", "op": "=", "value": "Watchdog"}]', '{alertname}', '0', '1 minute', '1 minute', false, false);

-- Where each group of each channel stands: what it was last told.
CREATE TABLE ops.notification_groups (
  channel          text NOT NULL REFERENCES ops.notification_channels ON UPDATE CASCADE ON DELETE CASCADE,
  group_key        text NOT NULL,
  group_labels     jsonb NOT NULL,
  first_seen_at    timestamptz NOT NULL,
  last_notified_at timestamptz,
  notified         jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (channel, group_key)
);
COMMENT ON TABLE ops.notification_groups IS
  'Each aggregation group of each channel: when it was first seen, last notified, and which alerts that notification told as firing';
COMMENT ON COLUMN ops.notification_groups.channel IS 'The channel';
COMMENT ON COLUMN ops.notification_groups.group_key IS 'Alertmanager''s groupKey: the route and the group''s labels';
COMMENT ON COLUMN ops.notification_groups.group_labels IS 'The values of the channel''s group_by labels';
COMMENT ON COLUMN ops.notification_groups.first_seen_at IS 'When an alert of the group first waited to be notified';
COMMENT ON COLUMN ops.notification_groups.last_notified_at IS 'The last notification';
COMMENT ON COLUMN ops.notification_groups.notified IS 'The fingerprints that notification told as firing, as a JSON object of fingerprint to true';
GRANT SELECT ON ops.notification_groups TO expense_ops_admin, expense_ops_worker;

CREATE TABLE ops.notifications (
  notification_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel          text NOT NULL REFERENCES ops.notification_channels ON UPDATE CASCADE ON DELETE CASCADE,
  kind             text NOT NULL,
  target           text NOT NULL,
  group_key        text NOT NULL,
  idempotency_key  text NOT NULL UNIQUE,
  payload          jsonb NOT NULL,
  firing           integer NOT NULL,
  resolved         integer NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  leased_by        text,
  lease_expires_at timestamptz,
  last_error       text CHECK (length(last_error) <= 1000),
  created_at       timestamptz NOT NULL,
  delivered_at     timestamptz,
  CONSTRAINT lease_while_sending CHECK ((status = 'sending') = (leased_by IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE INDEX notifications_due ON ops.notifications (next_attempt_at, notification_id) WHERE status IN ('pending', 'sending', 'failed');
CREATE INDEX notifications_created ON ops.notifications (created_at);
CREATE INDEX notifications_undelivered ON ops.notifications (channel, group_key, notification_id)
  WHERE status IN ('pending', 'sending', 'failed');
COMMENT ON TABLE ops.notifications IS
  'The outbox: each notification, written in the transaction of the evaluation that decided it, then NOTIFY expense_ops_notifications. The worker claims, delivers and reports';
COMMENT ON COLUMN ops.notifications.notification_id IS 'Identifies it';
COMMENT ON COLUMN ops.notifications.channel IS 'The channel';
COMMENT ON COLUMN ops.notifications.kind IS 'The channel''s kind when it was written';
COMMENT ON COLUMN ops.notifications.target IS 'The channel''s target when it was written';
COMMENT ON COLUMN ops.notifications.group_key IS 'The group it tells of';
COMMENT ON COLUMN ops.notifications.idempotency_key IS 'Unique per channel, group and evaluation: a receiver may use it to drop a repeated delivery';
COMMENT ON COLUMN ops.notifications.payload IS 'What to send: the webhook payload (webhook, log, command) or the alert list (alertmanager)';
COMMENT ON COLUMN ops.notifications.firing IS 'Firing alerts in it';
COMMENT ON COLUMN ops.notifications.resolved IS 'Resolved alerts in it';
COMMENT ON COLUMN ops.notifications.status IS
  'pending (waiting), sending (leased to a worker), delivered, failed (waiting to retry) or dead (out of attempts, or refused for good)';
COMMENT ON COLUMN ops.notifications.attempts IS 'Delivery attempts so far';
COMMENT ON COLUMN ops.notifications.next_attempt_at IS 'Not claimed before this';
COMMENT ON COLUMN ops.notifications.leased_by IS 'The worker sending it';
COMMENT ON COLUMN ops.notifications.lease_expires_at IS 'When another worker may take it over';
COMMENT ON COLUMN ops.notifications.last_error IS 'Why the last attempt failed (at most 1000 characters)';
COMMENT ON COLUMN ops.notifications.created_at IS 'The evaluation instant that wrote it';
COMMENT ON COLUMN ops.notifications.delivered_at IS 'When it was delivered';
COMMENT ON SEQUENCE ops.notifications_notification_id_seq IS 'Numbers ops.notifications';
GRANT SELECT ON ops.notifications TO expense_ops_admin, expense_ops_worker;

-- Go's %q for label values is close enough to JSON's quoting for a key that only has to be
-- stable and readable: {}/{channel="log"}:{alertname="HighCpu"}.
CREATE FUNCTION ops.group_key(channel text, group_labels jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT '{}/{channel=' || to_json(channel)::text || '}:{'
         || coalesce((SELECT string_agg(l.key || '=' || to_json(l.value)::text, ', ' ORDER BY l.key COLLATE "C")
                        FROM jsonb_each_text(group_labels) l), '')
         || '}'
$$;
COMMENT ON FUNCTION ops.group_key(text, jsonb) IS 'Alertmanager''s groupKey of a channel''s group';
REVOKE ALL ON FUNCTION ops.group_key(text, jsonb) FROM PUBLIC;

-- The payload of one notification. alerts: [{fingerprint, labels, annotations, firing_since,
-- resolved_at, status}] of the group, in order.
CREATE FUNCTION ops.notification_payload(channel ops.notification_channels, group_key text, group_labels jsonb,
                                         alerts jsonb, truncated integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  base text := (SELECT s.external_url FROM ops.alerting_settings s);
  shaped jsonb;
BEGIN
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'labels', a->'labels', 'annotations', a->'annotations', 'starts_at', a->'firing_since',
           'ends_at', CASE WHEN a->>'status' = 'resolved' THEN a->'resolved_at' END,
           'generator_url', base || '/alerts?fingerprint=eq.' || (a->>'fingerprint'),
           'fingerprint', a->'fingerprint', 'status', a->'status') ORDER BY ordinality), '[]')
    INTO shaped FROM jsonb_array_elements(alerts) WITH ORDINALITY e(a, ordinality);
  IF channel.kind = 'alertmanager' THEN
    RETURN ops.alertmanager_payload(shaped);
  END IF;
  RETURN ops.webhook_payload(channel.channel, group_key, group_labels, shaped, base, truncated);
END
$$;
COMMENT ON FUNCTION ops.notification_payload(ops.notification_channels, text, jsonb, jsonb, integer) IS
  'The body a channel gets for a group: Alertmanager''s webhook payload, or for an alertmanager channel the alert list of /api/v2/alerts';
REVOKE ALL ON FUNCTION ops.notification_payload(ops.notification_channels, text, jsonb, jsonb, integer) FROM PUBLIC;

-- Alertmanager's dispatch, decided at `at` for every group: a new group is notified after
-- group_wait; a changed one (an alert fired, or one it told as firing resolved) group_interval
-- after its last notification; an unchanged one with firing alerts again after repeat_interval.
-- Silenced, inhibited and maintained alerts are left out as if they were not there. Returns the
-- notifications written.
CREATE FUNCTION ops.queue_notifications(at timestamptz, only_rules text[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
  g record;
  ch ops.notification_channels;
  changed boolean;
  due boolean;
  sent jsonb;
  payload jsonb;
  queued integer := 0;
  key text;
  failure text;
BEGIN
  FOR g IN
    WITH status AS (
      SELECT s.* FROM ops.alert_status(at) s
       WHERE s.state IN ('firing', 'resolved') AND s.silenced_by = '{}' AND s.maintenance_by = '{}'
         AND s.inhibited_by = '{}'
    ), routed AS (
      SELECT c.channel, s.*,
             (SELECT coalesce(jsonb_object_agg(b.name, coalesce(s.labels->>b.name, '')), '{}')
                FROM unnest(c.group_by) b(name)) AS group_labels
        FROM ops.notification_channels c
        JOIN status s ON ops.severity_rank(s.severity) >= ops.severity_rank(c.min_severity)
                     AND ops.labels_match(c.matchers, s.labels)
       WHERE c.enabled
    ), grouped AS (
      SELECT r.channel, r.group_labels, ops.group_key(r.channel, r.group_labels) AS group_key,
             jsonb_agg(jsonb_build_object('fingerprint', r.fingerprint, 'labels', r.labels, 'annotations', r.annotations,
                                          'firing_since', r.firing_since, 'resolved_at', r.resolved_at,
                                          'status', r.state)
                       ORDER BY r.state DESC, r.fingerprint) AS alerts,
             bool_or(only_rules IS NULL OR r.rule = ANY (only_rules)) AS touched
        FROM routed r GROUP BY r.channel, r.group_labels
    )
    SELECT gr.*, ng.first_seen_at, ng.last_notified_at, coalesce(ng.notified, '{}') AS notified
      FROM grouped gr
      LEFT JOIN ops.notification_groups ng ON ng.channel = gr.channel AND ng.group_key = gr.group_key
     WHERE gr.touched
     ORDER BY gr.channel, gr.group_key
  LOOP
    IF g.last_notified_at >= at OR g.first_seen_at > at THEN
      CONTINUE;  -- decided at this instant or later already
    END IF;
    SELECT * INTO ch FROM ops.notification_channels c WHERE c.channel = g.channel;
    -- What to tell: every firing alert, and each resolved one the last notification told as firing.
    SELECT coalesce(jsonb_agg(a ORDER BY o), '[]') INTO sent
      FROM jsonb_array_elements(g.alerts) WITH ORDINALITY e(a, o)
     WHERE a->>'status' = 'firing' OR g.notified ? (a->>'fingerprint');
    changed := EXISTS (SELECT FROM jsonb_array_elements(sent) a
                        WHERE a->>'status' = 'firing' AND NOT g.notified ? (a->>'fingerprint')
                           OR a->>'status' = 'resolved')
               OR EXISTS (SELECT FROM jsonb_object_keys(g.notified) k
                           WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(sent) a WHERE a->>'fingerprint' = k));
    IF g.first_seen_at IS NULL THEN
      CONTINUE WHEN NOT jsonb_path_exists(sent, '$[*] ? (@.status == "firing")');
      INSERT INTO ops.notification_groups (channel, group_key, group_labels, first_seen_at)
      VALUES (g.channel, g.group_key, g.group_labels, at);
      g.first_seen_at := at;
    END IF;
    IF g.last_notified_at IS NULL THEN
      due := at >= g.first_seen_at + ch.group_wait AND jsonb_path_exists(sent, '$[*] ? (@.status == "firing")');
    ELSIF changed THEN
      due := at >= g.last_notified_at + ch.group_interval;
    ELSE
      due := at >= g.last_notified_at + ch.repeat_interval AND jsonb_path_exists(sent, '$[*] ? (@.status == "firing")');
    END IF;
    CONTINUE WHEN NOT due;
    UPDATE ops.notification_groups n
       SET last_notified_at = at,
           notified = (SELECT coalesce(jsonb_object_agg(a->>'fingerprint', true), '{}')
                         FROM jsonb_array_elements(sent) a WHERE a->>'status' = 'firing')
     WHERE n.channel = g.channel AND n.group_key = g.group_key;
    IF NOT ch.send_resolved THEN
      sent := (SELECT coalesce(jsonb_agg(a ORDER BY o), '[]')
                 FROM jsonb_array_elements(sent) WITH ORDINALITY e(a, o) WHERE a->>'status' = 'firing');
    END IF;
    CONTINUE WHEN jsonb_array_length(sent) = 0;
    -- One group whose alerts a receiver would refuse must not stop the others, nor the
    -- evaluation: its notification is written dead, with the reason.
    failure := NULL;
    BEGIN
      payload := ops.notification_payload(
        ch, g.group_key, g.group_labels,
        CASE WHEN ch.max_alerts > 0
             THEN (SELECT jsonb_agg(a ORDER BY o) FROM jsonb_array_elements(sent) WITH ORDINALITY e(a, o) WHERE o <= ch.max_alerts)
             ELSE sent END,
        greatest(0, jsonb_array_length(sent) - CASE WHEN ch.max_alerts > 0 THEN ch.max_alerts ELSE jsonb_array_length(sent) END));
    EXCEPTION WHEN data_exception THEN
      payload := jsonb_build_object('alerts', sent);
      failure := left('the payload could not be built: ' || SQLERRM, 1000);
    END;
    key := md5(g.channel || E'\n' || g.group_key || E'\n' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'));
    INSERT INTO ops.notifications (channel, kind, target, group_key, idempotency_key, payload, firing, resolved,
                                   next_attempt_at, created_at, status, last_error)
    VALUES (g.channel, ch.kind, ch.target, g.group_key, key, payload,
            (SELECT count(*) FROM jsonb_array_elements(sent) a WHERE a->>'status' = 'firing'),
            (SELECT count(*) FROM jsonb_array_elements(sent) a WHERE a->>'status' = 'resolved'), at, at,
            CASE WHEN failure IS NULL THEN 'pending' ELSE 'dead' END, failure)
    ON CONFLICT (idempotency_key) DO NOTHING;
    IF FOUND THEN
      queued := queued + 1;
    END IF;
  END LOOP;
  IF queued > 0 THEN
    PERFORM pg_notify('expense_ops_notifications', queued::text);
  END IF;
  RETURN queued;
END
$$;
COMMENT ON FUNCTION ops.queue_notifications(timestamptz, text[]) IS
  'Writes the outbox rows due at at, as Alertmanager dispatches (group_wait, group_interval, repeat_interval, send_resolved, silences, inhibition, maintenance), and NOTIFYs expense_ops_notifications. Called by ops.evaluate_alerts()';
REVOKE ALL ON FUNCTION ops.queue_notifications(timestamptz, text[]) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Evaluation.

CREATE FUNCTION ops.evaluate_alerts(at timestamptz DEFAULT now(), only_metrics text[] DEFAULT NULL,
                                    OUT transitions integer, OUT notifications integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
  fired text[];
  resolved text[];
  evaluated text[];
  opened integer := 0;
  incident record;
  ticket_id bigint;
  more record;
BEGIN
  IF at IS NULL THEN
    RAISE EXCEPTION 'at: evaluate at an instant' USING ERRCODE = expense.sqlstate('null_value'), HINT = 'Leave it out for now().';
  END IF;
  -- One evaluation at a time: a second waits here and then finds every alert already evaluated
  -- at this instant, so nothing moves twice. That needs each statement to see what the one
  -- before it committed: READ COMMITTED.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'evaluate alerts under READ COMMITTED, not %', current_setting('transaction_isolation')
      USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'A snapshot taken before the lock would evaluate what another evaluation already moved.';
  END IF;
  PERFORM FROM ops.alerting_settings FOR NO KEY UPDATE;
  PERFORM set_config('expense_ops.evaluating_alerts', 'on', true);

  -- A disabled rule is evaluated as if its condition never held, with no keep_firing_for: its
  -- firing alerts resolve, so that nobody is told again of an alert nobody evaluates.
  WITH rules AS (
    SELECT r.*, coalesce(r."window", m.default_window) AS span,
           CASE WHEN r.enabled THEN r.keep_firing_for ELSE interval '0' END AS keep_for
      FROM ops.alert_rules r JOIN ops.metrics m USING (metric)
     WHERE only_metrics IS NULL OR r.metric = ANY (only_metrics)
  ), series AS (
    SELECT DISTINCT r.metric, r.span, r.quantile FROM rules r WHERE r.enabled
    UNION
    SELECT DISTINCT r.metric, r.confirm_window, r.quantile FROM rules r WHERE r.enabled AND r.confirm_window IS NOT NULL
  ), samples AS (
    SELECT s.metric, s.span, s.quantile, v.labels, v.value
      FROM series s CROSS JOIN LATERAL ops.cached_metric_samples(s.metric, s.span, s.quantile, at) v
  ), observed AS (
    SELECT r.rule, x.labels || r.labels || jsonb_build_object('alertname', r.rule, 'severity', r.severity) AS labels,
           x.value,
           ops.threshold_holds(r.comparator, x.value, r.threshold)
             AND (r.confirm_window IS NULL
                  OR EXISTS (SELECT FROM samples c
                              WHERE c.metric = r.metric AND c.span = r.confirm_window
                                AND c.quantile IS NOT DISTINCT FROM r.quantile AND c.labels = x.labels
                                AND ops.threshold_holds(r.comparator, c.value, r.threshold))) AS condition
      FROM rules r
      JOIN samples x ON x.metric = r.metric AND x.span IS NOT DISTINCT FROM r.span AND x.quantile IS NOT DISTINCT FROM r.quantile
     WHERE r.enabled AND ops.labels_match(r.matchers, x.labels)
  ), keyed AS (
    -- A rule's labels override the series', so two series may become one alert: it holds when
    -- either does, with the larger value.
    SELECT DISTINCT ON (f.fingerprint) f.*
      FROM (SELECT o.*, ops.label_fingerprint(o.labels) AS fingerprint FROM observed o) f
     ORDER BY f.fingerprint, f.condition DESC, f.value DESC
  ), known AS (
    SELECT a.* FROM ops.alerts a WHERE a.rule IN (SELECT r.rule FROM rules r)
  ), present AS (
    SELECT coalesce(k.fingerprint, a.fingerprint) AS fingerprint, coalesce(k.rule, a.rule) AS rule,
           coalesce(k.labels, a.labels) AS labels, coalesce(k.condition, false) AS condition, k.value AS new_value,
           k.fingerprint IS NOT NULL AS seen, a.state AS old_state, a.active_since, a.firing_since, a.last_true_at,
           a.resolved_at, a.last_evaluated_at, a.value AS old_value, a.annotations AS old_annotations,
           a.last_seen_at
      FROM keyed k FULL JOIN known a ON a.fingerprint = k.fingerprint
  ), stepped AS (
    SELECT p.fingerprint, p.rule, p.labels, p.seen, p.old_state, p.last_seen_at, p.condition, s.*,
           CASE WHEN p.condition
                THEN jsonb_build_object('summary', ops.render_template(r.summary, p.new_value, p.labels),
                                        'description', ops.render_template(r.description, p.new_value, p.labels))
                ELSE coalesce(p.old_annotations, '{}') END AS annotations
      FROM present p
      JOIN rules r ON r.rule = p.rule
     CROSS JOIN LATERAL ops.alert_step(p.old_state, p.active_since, p.firing_since, p.last_true_at, p.resolved_at,
                                       p.last_evaluated_at, p.old_value, p.condition, p.new_value, at,
                                       r.for_duration, r.keep_for) s
     WHERE p.old_state IS NOT NULL OR p.condition
  ), written AS (
    INSERT INTO ops.alerts AS a (fingerprint, rule, labels, annotations, state, value, active_since, firing_since,
                                 last_true_at, resolved_at, last_evaluated_at, last_seen_at)
    SELECT s.fingerprint, s.rule, s.labels, s.annotations, s.state, s.value, s.active_since, s.firing_since,
           s.last_true_at, s.resolved_at, s.last_evaluated_at,
           CASE WHEN s.seen THEN greatest(at, s.last_seen_at) ELSE s.last_seen_at END
      FROM stepped s
    ON CONFLICT (fingerprint) DO UPDATE
       SET labels = excluded.labels, annotations = excluded.annotations, state = excluded.state, value = excluded.value,
           active_since = excluded.active_since, firing_since = excluded.firing_since,
           last_true_at = excluded.last_true_at, resolved_at = excluded.resolved_at,
           last_evaluated_at = excluded.last_evaluated_at, last_seen_at = excluded.last_seen_at
     WHERE (a.state, a.last_evaluated_at, a.last_seen_at) IS DISTINCT FROM
           (excluded.state, excluded.last_evaluated_at, excluded.last_seen_at)
  ), events AS (
    INSERT INTO ops.alert_events (fingerprint, rule, labels, from_state, to_state, at, value)
    SELECT s.fingerprint, s.rule, s.labels, coalesce(s.old_state, 'inactive'), s.transition, at,
           CASE WHEN s.condition THEN s.value END
      FROM stepped s WHERE s.transition IS NOT NULL
    RETURNING fingerprint, to_state
  )
  SELECT count(*)::integer, array_agg(e.fingerprint) FILTER (WHERE e.to_state = 'firing'),
         array_agg(e.fingerprint) FILTER (WHERE e.to_state = 'resolved')
    INTO transitions, fired, resolved
    FROM events e;

  -- Incidents: one open ticket per alert, its SLA clock started when the alert fired. An alert
  -- that fires again while its ticket is open comments on it. A silenced, inhibited or
  -- maintained alert opens none until that ends (an inhibited one is another incident's
  -- symptom); a ticket closed while the alert still fires is not reopened that episode.
  FOR incident IN
    SELECT a.fingerprint, a.incident_ticket_id FROM ops.alerts a JOIN ops.tickets t ON t.ticket_id = a.incident_ticket_id
     WHERE a.fingerprint = ANY (fired) AND t.closed_at IS NULL ORDER BY a.fingerprint
  LOOP
    INSERT INTO ops.ticket_events (ticket_id, actor, action, body, visibility)
    VALUES (incident.incident_ticket_id, 'alerting', 'comment',
            'Alert ' || (SELECT a.rule FROM ops.alerts a WHERE a.fingerprint = incident.fingerprint) || ' '
            || incident.fingerprint || ' fired again at ' || at, 'internal');
  END LOOP;
  -- Which alerts are suppressed is a pass over every alert; skip it when no rule opens incidents.
  IF EXISTS (SELECT FROM ops.alert_rules r
              WHERE r.enabled AND r.opens_incident AND (only_metrics IS NULL OR r.metric = ANY (only_metrics))) THEN
    FOR incident IN
      SELECT s.fingerprint, s.labels, s.annotations, s.firing_since, r.rule, r.severity
        FROM ops.alert_status(at) s JOIN ops.alert_rules r USING (rule)
        LEFT JOIN ops.tickets t ON t.ticket_id = s.incident_ticket_id
       WHERE s.state = 'firing' AND r.opens_incident AND ops.incident_priority(r.severity) IS NOT NULL
         AND s.silenced_by = '{}' AND s.maintenance_by = '{}' AND s.inhibited_by = '{}'
         AND (t.ticket_id IS NULL OR (t.closed_at IS NOT NULL AND t.opened_at < s.firing_since))
         AND (only_metrics IS NULL OR r.metric = ANY (only_metrics))
       ORDER BY s.fingerprint
    LOOP
      INSERT INTO ops.tickets (kind, priority, title, description, reporter, labels, opened_at)
      VALUES ('incident', ops.incident_priority(incident.severity),
              left(coalesce(nullif(btrim(incident.annotations->>'summary'), ''), incident.rule), 200),
              left(coalesce(incident.annotations->>'description', '') || E'\n\nAlert ' || incident.fingerprint || ' '
                   || incident.labels::text, 20000),
              'alerting', ARRAY['alert', left(incident.rule, 50)], incident.firing_since)
      RETURNING tickets.ticket_id INTO ticket_id;
      UPDATE ops.alerts a SET incident_ticket_id = ticket_id WHERE a.fingerprint = incident.fingerprint;
      opened := opened + 1;
    END LOOP;
  END IF;
  FOR incident IN
    SELECT a.fingerprint, a.rule, a.incident_ticket_id FROM ops.alerts a JOIN ops.tickets t ON t.ticket_id = a.incident_ticket_id
     WHERE a.fingerprint = ANY (resolved) AND t.closed_at IS NULL ORDER BY a.fingerprint
  LOOP
    INSERT INTO ops.ticket_events (ticket_id, actor, action, body, visibility)
    VALUES (incident.incident_ticket_id, 'alerting', 'comment',
            'Alert ' || incident.rule || ' ' || incident.fingerprint || ' resolved at ' || at
            || '. The ticket stays open until someone closes it.', 'internal');
  END LOOP;

  -- Forget series long gone, so that per-ticket and per-statement alerts do not pile up.
  DELETE FROM ops.alerts a
   WHERE a.state IN ('inactive', 'resolved') AND a.last_seen_at < at - (SELECT s.forget_after FROM ops.alerting_settings s)
     AND (only_metrics IS NULL OR a.rule IN (SELECT r.rule FROM ops.alert_rules r WHERE r.metric = ANY (only_metrics)));

  evaluated := CASE WHEN only_metrics IS NULL THEN NULL
                    ELSE ARRAY(SELECT r.rule FROM ops.alert_rules r WHERE r.metric = ANY (only_metrics)) END;
  notifications := ops.queue_notifications(at, evaluated);
  PERFORM set_config('expense_ops.evaluating_alerts', 'off', true);
  -- An incident opened just now may page (a P0): its ticket is a new series of ticket_page.
  IF opened > 0 AND (only_metrics IS NULL OR NOT only_metrics @> '{ticket_page}') THEN
    more := ops.evaluate_alerts(at, '{ticket_page}');
    transitions := transitions + more.transitions;
    notifications := notifications + more.notifications;
  END IF;
END
$$;
COMMENT ON FUNCTION ops.evaluate_alerts(timestamptz, text[]) IS
  'Evaluates every enabled rule at at (only those over only_metrics when given): moves each alert through inactive, pending, firing and resolved, records the transitions in ops.alert_events, opens and comments incident tickets, and writes the notifications due to the outbox. One at a time; idempotent for the same at. The worker calls it every 15 s';
REVOKE ALL ON FUNCTION ops.evaluate_alerts(timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.evaluate_alerts(timestamptz, text[]) TO expense_ops_worker, expense_ops_admin;

-- Tickets page at once: a ticket that must page, and a clock that turns at risk or breached,
-- are evaluated in the transaction that makes them so. A failure here must not cost the ticket:
-- the worker's next evaluation catches up.
CREATE FUNCTION ops.page_tickets() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  metric text;
BEGIN
  IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'STATEMENT'
     OR TG_RELID NOT IN ('ops.tickets'::regclass, 'ops.sla_transitions'::regclass) THEN
    RAISE EXCEPTION 'ops.page_tickets() fires only AFTER statements on ops.tickets and ops.sla_transitions, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF current_setting('expense_ops.evaluating_alerts', true) = 'on' THEN
    RETURN NULL;  -- the evaluation that is running sees it
  END IF;
  IF TG_RELID = 'ops.sla_transitions'::regclass THEN
    IF NOT EXISTS (SELECT FROM changed) THEN
      RETURN NULL;
    END IF;
    metric := 'ticket_sla_state';
  ELSIF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT FROM changed c WHERE c.must_page) THEN
      RETURN NULL;
    END IF;
    metric := 'ticket_page';
  ELSE
    -- Columns the rules trigger sets count too, so compare the rows rather than the statement's
    -- column list.
    IF NOT EXISTS (SELECT FROM changed c JOIN previous p USING (ticket_id)
                    WHERE (c.must_page, c.resolved_at, c.closed_at) IS DISTINCT FROM (p.must_page, p.resolved_at, p.closed_at)) THEN
      RETURN NULL;
    END IF;
    metric := 'ticket_page';
  END IF;
  -- Never wait for an evaluation that is running, nor make one wait for this transaction: when
  -- the lock is taken, ask the worker to evaluate after this commits instead.
  PERFORM FROM ops.alerting_settings FOR NO KEY UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    PERFORM pg_notify('expense_ops_evaluate', metric);
    RETURN NULL;
  END IF;
  BEGIN
    PERFORM ops.evaluate_alerts(now(), ARRAY[metric]);
  EXCEPTION WHEN OTHERS THEN
    RAISE LOG 'expense_ops: paging for % failed: %', metric, SQLERRM;
    RAISE WARNING 'paging waits for the next evaluation of the alert rules';
    PERFORM pg_notify('expense_ops_evaluate', metric);
  END;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.page_tickets() IS
  'AFTER statements on ops.tickets and ops.sla_transitions: evaluates the ticket rules at once, so that a P0 and an SLA transition page without waiting for the worker; when an evaluation is running, NOTIFY expense_ops_evaluate asks the worker to evaluate after the commit';
REVOKE ALL ON FUNCTION ops.page_tickets() FROM PUBLIC;
CREATE TRIGGER page AFTER INSERT ON ops.tickets REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION ops.page_tickets();
CREATE TRIGGER page_on_change AFTER UPDATE ON ops.tickets REFERENCING OLD TABLE AS previous NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION ops.page_tickets();
CREATE TRIGGER page AFTER INSERT ON ops.sla_transitions REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION ops.page_tickets();

-- ---------------------------------------------------------------------------------------------
-- The worker's side of the outbox.

CREATE FUNCTION ops.claim_notifications(worker text, n integer DEFAULT 10, lease interval DEFAULT '1 minute',
                                        at timestamptz DEFAULT now())
RETURNS SETOF ops.notifications
-- The walk below must be an ordered index scan that stops early. Statistics taken while the
-- outbox was empty (its normal state) make the planner sort the whole backlog instead, for every
-- claim; with no sort allowed, notifications_due gives the order. Custom plans, so that a plan
-- cached while the outbox was empty does not outlive the first backlog either.
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
  SET enable_sort = off AS $$
DECLARE
  most integer := (SELECT s.max_attempts FROM ops.alerting_settings s);
  candidate record;
  held ops.notifications;
  claimed integer := 0;
BEGIN
  IF worker IS NULL OR btrim(worker) = '' OR length(worker) > 200 THEN
    RAISE EXCEPTION 'worker: name the worker that claims' USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Its id, such as host:pid.';
  ELSIF n IS NULL OR n < 1 OR n > 1000 THEN
    RAISE EXCEPTION 'n: claim 1 to 1000 notifications, not %', n USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Such as 10.';
  ELSIF lease IS NULL OR lease <= interval '0' OR lease > interval '1 hour' THEN
    RAISE EXCEPTION 'lease: a lease lasts more than 0 and at most 1 hour' USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Such as ''1 minute'', longer than a delivery takes.';
  END IF;
  -- The undelivered, oldest due first, walked along notifications_due and left as soon as n are
  -- claimed: a claim costs what it takes, not what is waiting (a backlog of thousands after an
  -- outage, with statistics that still say the outbox is empty). Each candidate is checked with
  -- index lookups whose plans do not depend on the table's size.
  FOR candidate IN
    SELECT x.notification_id, x.channel, x.group_key FROM ops.notifications x
     WHERE x.status IN ('pending', 'sending', 'failed') AND x.next_attempt_at <= at
       AND (x.status <> 'sending' OR x.lease_expires_at <= at)  -- in flight elsewhere: not even locked
     ORDER BY x.next_attempt_at, x.notification_id
  LOOP
    -- A group's notifications leave in order, one at a time: a retried "firing" never lands
    -- after the "resolved" behind it.
    CONTINUE WHEN (SELECT y.notification_id FROM ops.notifications y
                    WHERE y.channel = candidate.channel AND y.group_key = candidate.group_key
                      AND y.status IN ('pending', 'sending', 'failed')
                    ORDER BY y.notification_id LIMIT 1) <> candidate.notification_id;
    SELECT * INTO held FROM ops.notifications o WHERE o.notification_id = candidate.notification_id
       FOR UPDATE SKIP LOCKED;
    -- Another worker holds it, or it moved on since the walk began.
    CONTINUE WHEN NOT FOUND OR held.status NOT IN ('pending', 'sending', 'failed') OR held.next_attempt_at > at
                  OR (held.status = 'sending' AND held.lease_expires_at > at);
    IF held.status = 'sending' AND held.attempts >= most THEN
      -- The lease ran out on the last attempt: the worker died sending it; nothing retries it.
      UPDATE ops.notifications o
         SET status = 'dead', leased_by = NULL, lease_expires_at = NULL,
             last_error = 'the lease expired on the last attempt'
       WHERE o.notification_id = held.notification_id;
      CONTINUE;
    END IF;
    UPDATE ops.notifications o
       SET status = 'sending', attempts = o.attempts + 1, leased_by = worker, lease_expires_at = at + lease
     WHERE o.notification_id = held.notification_id
    RETURNING o.* INTO held;
    RETURN NEXT held;
    claimed := claimed + 1;
    EXIT WHEN claimed >= n;
  END LOOP;
END
$$;
COMMENT ON FUNCTION ops.claim_notifications(text, integer, interval, timestamptz) IS
  'Leases up to n notifications that are due (pending, failed and past their wait, or sending with an expired lease) to the worker, oldest first, skipping those another worker holds and any whose group has an older one undelivered (a group''s notifications leave in order); counts the attempt';
REVOKE ALL ON FUNCTION ops.claim_notifications(text, integer, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.claim_notifications(text, integer, interval, timestamptz) TO expense_ops_worker, expense_ops_admin;

-- The notification the worker reports on, locked, or 22X73 when it does not hold it.
CREATE FUNCTION ops.held_notification(notification_id bigint, worker text) RETURNS ops.notifications
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  held ops.notifications;
BEGIN
  SELECT * INTO held FROM ops.notifications o WHERE o.notification_id = held_notification.notification_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'notification_id: no notification %', notification_id USING ERRCODE = expense.sqlstate('not_found');
  ELSIF held.status <> 'sending' THEN
    RAISE EXCEPTION 'notification %: it is %, not being sent', notification_id, held.status
      USING ERRCODE = expense.sqlstate('notification_state'), HINT = 'Claim it with ops.claim_notifications() first.';
  ELSIF worker IS NOT NULL AND held.leased_by <> worker THEN
    RAISE EXCEPTION 'notification %: leased to another worker', notification_id
      USING ERRCODE = expense.sqlstate('notification_state'),
      HINT = 'The lease expired and another worker took it over; drop the result.';
  END IF;
  RETURN held;
END
$$;
REVOKE ALL ON FUNCTION ops.held_notification(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION ops.held_notification(bigint, text) IS 'The notification a worker reports on, locked; 22X73 unless it is being sent by that worker';

CREATE FUNCTION ops.notification_delivered(notification_id bigint, worker text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS ops.notifications
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  held ops.notifications := ops.held_notification(notification_id, worker);
BEGIN
  UPDATE ops.notifications o SET status = 'delivered', delivered_at = at, leased_by = NULL, lease_expires_at = NULL,
                                 last_error = NULL
   WHERE o.notification_id = held.notification_id
  RETURNING * INTO held;
  RETURN held;
END
$$;
COMMENT ON FUNCTION ops.notification_delivered(bigint, text, timestamptz) IS
  'The worker delivered the notification it holds (22X73 otherwise; with worker given, it must hold the lease)';
REVOKE ALL ON FUNCTION ops.notification_delivered(bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.notification_delivered(bigint, text, timestamptz) TO expense_ops_worker, expense_ops_admin;

CREATE FUNCTION ops.notification_failed(notification_id bigint, error text, retryable boolean DEFAULT true,
                                        worker text DEFAULT NULL, at timestamptz DEFAULT now(),
                                        jitter double precision DEFAULT random(), retry_after interval DEFAULT NULL)
RETURNS ops.notifications
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  held ops.notifications;
  settings ops.alerting_settings := (SELECT s FROM ops.alerting_settings s);
  gives_up boolean;
BEGIN
  IF retry_after < interval '0' OR retry_after > interval '1 day' THEN
    RAISE EXCEPTION 'retry_after: wait 0 to 1 day, not %', retry_after USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'The receiver''s Retry-After, clamped to a day.';
  END IF;
  held := ops.held_notification(notification_id, worker);
  gives_up := NOT coalesce(retryable, false) OR held.attempts >= settings.max_attempts;
  UPDATE ops.notifications o
     SET status = CASE WHEN gives_up THEN 'dead' ELSE 'failed' END,
         -- A receiver that says when to come back (429 with Retry-After) is not asked sooner.
         next_attempt_at = CASE WHEN gives_up THEN o.next_attempt_at
                                ELSE at + greatest(ops.retry_delay(held.attempts, settings.retry_base, settings.retry_cap, jitter),
                                                   coalesce(retry_after, interval '0')) END,
         leased_by = NULL, lease_expires_at = NULL,
         last_error = left(coalesce(nullif(btrim(error), ''), 'no reason given'), 1000)
   WHERE o.notification_id = held.notification_id
  RETURNING * INTO held;
  RETURN held;
END
$$;
COMMENT ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision, interval) IS
  'The worker failed to deliver the notification it holds: failed with the next attempt after an exponential backoff with jitter (and not before retry_after, the receiver''s Retry-After), or dead when not retryable or out of attempts. error is kept to 1000 characters: leave secrets out of it';
REVOKE ALL ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision, interval)
  TO expense_ops_worker, expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Staff through the API (DESIGN.md section 3): the operator's staff read alerts, their history,
-- silences and a metrics summary, and silence and plan maintenance. Tenant users, their admins
-- included, see no rows and may call nothing here; anonymous callers have no grant at all.

CREATE FUNCTION ops.require_monitoring_staff() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT ops.is_support_staff() THEN
    RAISE EXCEPTION 'monitoring is for the operator''s staff' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Ask the operator''s support; api.health() tells anyone whether the service is up.';
  END IF;
END
$$;
COMMENT ON FUNCTION ops.require_monitoring_staff() IS 'Raises 42501 unless the caller is the operator''s staff (ops.is_support_staff())';
REVOKE ALL ON FUNCTION ops.require_monitoring_staff() FROM PUBLIC;

-- A view calls functions with its caller's privileges, so api.alerts reads through this one,
-- which answers nobody but staff.
CREATE FUNCTION ops.staff_alert_status()
RETURNS TABLE (fingerprint text, rule text, labels jsonb, annotations jsonb, state text, severity text,
               value double precision, active_since timestamptz, firing_since timestamptz, resolved_at timestamptz,
               incident_ticket_id bigint, silenced_by bigint[], maintenance_by bigint[], inhibited_by text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
  SELECT s.* FROM ops.alert_status(now()) s WHERE (SELECT ops.is_support_staff())
$$;
COMMENT ON FUNCTION ops.staff_alert_status() IS 'ops.alert_status(now()) for the operator''s staff, nothing for anyone else: what api.alerts reads';
REVOKE ALL ON FUNCTION ops.staff_alert_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.staff_alert_status() TO expense_user, expense_ops_admin;

CREATE VIEW api.alerts WITH (security_barrier = true) AS
SELECT s.fingerprint, s.rule, s.labels, s.annotations, s.state, s.severity, s.value, s.active_since, s.firing_since,
       s.resolved_at, s.incident_ticket_id,
       s.silenced_by <> '{}' OR s.maintenance_by <> '{}' AS silenced, s.inhibited_by <> '{}' AS inhibited,
       s.silenced_by, s.maintenance_by, s.inhibited_by
  FROM ops.staff_alert_status() s
 WHERE (SELECT ops.is_support_staff());
COMMENT ON VIEW api.alerts IS
  'Alerts now (GET /alerts?state=eq.firing), for the operator''s staff: state, labels, annotations and what keeps each from being notified. Tenants see no rows';
COMMENT ON COLUMN api.alerts.fingerprint IS 'Identifies the alert (its labels'' fingerprint)';
COMMENT ON COLUMN api.alerts.rule IS 'Its rule (the alertname label)';
COMMENT ON COLUMN api.alerts.labels IS 'Its labels';
COMMENT ON COLUMN api.alerts.annotations IS 'summary and description';
COMMENT ON COLUMN api.alerts.state IS 'inactive, pending, firing or resolved';
COMMENT ON COLUMN api.alerts.severity IS 'critical, high, warning or info';
COMMENT ON COLUMN api.alerts.value IS 'The value when its condition last held';
COMMENT ON COLUMN api.alerts.active_since IS 'When the condition began to hold';
COMMENT ON COLUMN api.alerts.firing_since IS 'When it fired';
COMMENT ON COLUMN api.alerts.resolved_at IS 'When it resolved';
COMMENT ON COLUMN api.alerts.incident_ticket_id IS 'The incident ticket it opened';
COMMENT ON COLUMN api.alerts.silenced IS 'Whether a silence or a maintenance window covers it now';
COMMENT ON COLUMN api.alerts.inhibited IS 'Whether a firing alert inhibits it now';
COMMENT ON COLUMN api.alerts.silenced_by IS 'The silences that cover it';
COMMENT ON COLUMN api.alerts.maintenance_by IS 'The maintenance windows that cover it';
COMMENT ON COLUMN api.alerts.inhibited_by IS 'The fingerprints of the alerts that inhibit it';

CREATE VIEW api.alert_events WITH (security_barrier = true) AS
SELECT e.event_id, e.fingerprint, e.rule, e.labels, e.from_state, e.to_state, e.at, e.value
  FROM ops.alert_events e
 WHERE (SELECT ops.is_support_staff());
COMMENT ON VIEW api.alert_events IS 'Every alert transition (GET /alert_events?order=event_id.desc), for the operator''s staff';
COMMENT ON COLUMN api.alert_events.event_id IS 'Order of recording';
COMMENT ON COLUMN api.alert_events.fingerprint IS 'The alert';
COMMENT ON COLUMN api.alert_events.rule IS 'Its rule';
COMMENT ON COLUMN api.alert_events.labels IS 'Its labels';
COMMENT ON COLUMN api.alert_events.from_state IS 'State before';
COMMENT ON COLUMN api.alert_events.to_state IS 'State after';
COMMENT ON COLUMN api.alert_events.at IS 'The evaluation instant';
COMMENT ON COLUMN api.alert_events.value IS 'The value then';

CREATE VIEW api.silences WITH (security_barrier = true) AS
SELECT s.silence_id, s.matchers, s.starts_at, s.ends_at, s.author, s.comment, s.created_at, s.expired_at,
       CASE WHEN now() < s.starts_at THEN 'pending' WHEN now() < s.ends_at THEN 'active' ELSE 'expired' END AS status
  FROM ops.silences s
 WHERE (SELECT ops.is_support_staff());
COMMENT ON VIEW api.silences IS
  'Silences (GET /silences?status=eq.active), for the operator''s staff; create with POST /rpc/create_silence, end early with POST /rpc/expire_silence';
COMMENT ON COLUMN api.silences.silence_id IS 'Identifies it';
COMMENT ON COLUMN api.silences.matchers IS 'Label matchers';
COMMENT ON COLUMN api.silences.starts_at IS 'Start';
COMMENT ON COLUMN api.silences.ends_at IS 'End';
COMMENT ON COLUMN api.silences.author IS 'Who silenced';
COMMENT ON COLUMN api.silences.comment IS 'Why';
COMMENT ON COLUMN api.silences.created_at IS 'When it was entered';
COMMENT ON COLUMN api.silences.expired_at IS 'When it was expired early';
COMMENT ON COLUMN api.silences.status IS 'pending, active or expired, as Alertmanager says';
GRANT SELECT ON api.alerts, api.alert_events, api.silences TO expense_user, expense_ops_admin;

CREATE FUNCTION api.create_silence(matchers jsonb, ends_at timestamptz, comment text, starts_at timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  made ops.silences;
BEGIN
  PERFORM ops.require_monitoring_staff();
  IF ends_at IS NULL OR comment IS NULL OR matchers IS NULL THEN
    RAISE EXCEPTION 'matchers, ends_at and comment: a silence needs all three' USING ERRCODE = expense.sqlstate('null_value'),
      HINT = 'Say what to silence, until when, and why.';
  END IF;
  INSERT INTO ops.silences (matchers, starts_at, ends_at, author, comment)
  VALUES (matchers, coalesce(starts_at, now()), ends_at, ops.current_actor(), comment)
  RETURNING * INTO made;
  RETURN to_jsonb(made);
END
$$;
COMMENT ON FUNCTION api.create_silence(jsonb, timestamptz, text, timestamptz) IS
  'Silences alerts (POST /rpc/create_silence), for the operator''s staff: matchers is a JSON array of {"name", "op", "value"} (op =, !=, =~, !~); returns the silence. Errors: 22X64 a bad matcher, 22X72 no matchers or an end before the start';

CREATE FUNCTION api.expire_silence(silence_id bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.require_monitoring_staff();
  RETURN to_jsonb(ops.expire_silence(silence_id, now()));
END
$$;
COMMENT ON FUNCTION api.expire_silence(bigint) IS 'Ends a silence now (POST /rpc/expire_silence), for the operator''s staff; returns it';

CREATE FUNCTION api.create_maintenance_window(matchers jsonb, starts_at timestamptz, ends_at timestamptz, reason text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  made ops.maintenance_windows;
BEGIN
  PERFORM ops.require_monitoring_staff();
  IF matchers IS NULL OR starts_at IS NULL OR ends_at IS NULL OR reason IS NULL THEN
    RAISE EXCEPTION 'matchers, starts_at, ends_at and reason: a maintenance window needs all four'
      USING ERRCODE = expense.sqlstate('null_value'), HINT = 'Say what it covers, when, and why.';
  END IF;
  PERFORM ops.check_matchers(matchers);
  IF jsonb_array_length(matchers) = 0 THEN
    RAISE EXCEPTION 'matchers: a maintenance window needs at least one' USING ERRCODE = expense.sqlstate('silence_inverted'),
      HINT = 'Match what it covers, such as [{"name": "check_id", "op": "=", "value": "api-health"}].';
  ELSIF ends_at <= starts_at THEN
    RAISE EXCEPTION 'ends_at: the window ends (%) before it starts (%)', ends_at, starts_at
      USING ERRCODE = expense.sqlstate('silence_inverted'), HINT = 'Give an end after the start.';
  ELSIF starts_at < now() - interval '5 minutes' THEN
    -- A window in the past would take downtime that happened out of the uptime figures.
    RAISE EXCEPTION 'starts_at: maintenance is planned, not backdated (% is in the past)', starts_at
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'Start it now or later; a DBA records past maintenance in ops.maintenance_windows.';
  END IF;
  INSERT INTO ops.maintenance_windows (matchers, starts_at, ends_at, author, reason)
  VALUES (matchers, starts_at, ends_at, ops.current_actor(), reason)
  RETURNING * INTO made;
  RETURN to_jsonb(made);
END
$$;
COMMENT ON FUNCTION api.create_maintenance_window(jsonb, timestamptz, timestamptz, text) IS
  'Plans maintenance (POST /rpc/create_maintenance_window), for the operator''s staff: the alerts, checks and routes whose labels match are not notified and leave uptime untouched between starts_at and ends_at';

CREATE FUNCTION api.end_maintenance_window(window_id bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  ended ops.maintenance_windows;
BEGIN
  PERFORM ops.require_monitoring_staff();
  UPDATE ops.maintenance_windows w SET ends_at = greatest(w.starts_at + interval '1 microsecond', now())
   WHERE w.window_id = end_maintenance_window.window_id AND w.ends_at > now()
  RETURNING * INTO ended;
  IF NOT FOUND THEN
    SELECT * INTO ended FROM ops.maintenance_windows w WHERE w.window_id = end_maintenance_window.window_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'window_id: no maintenance window %', window_id USING ERRCODE = expense.sqlstate('not_found');
    END IF;
  END IF;
  RETURN to_jsonb(ended);
END
$$;
COMMENT ON FUNCTION api.end_maintenance_window(bigint) IS 'Ends a maintenance window now (POST /rpc/end_maintenance_window), for the operator''s staff; returns it';

CREATE FUNCTION api.metrics_summary(period interval DEFAULT '1 hour') RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  moment timestamptz := now();
BEGIN
  PERFORM ops.require_monitoring_staff();
  IF period IS NULL OR period <= interval '0' OR period > interval '400 days' THEN
    RAISE EXCEPTION 'period: ask for more than 0 and at most 400 days' USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Such as ''1 hour''.';
  END IF;
  RETURN jsonb_build_object(
    'period', period, 'at', moment,
    'requests', (SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.route), '[]') FROM ops.request_metrics(moment - period, moment) m),
    'hosts', (SELECT coalesce(jsonb_agg(to_jsonb(h) ORDER BY h.host), '[]') FROM ops.host_metrics(moment - period, moment) h),
    'checks', (SELECT coalesce(jsonb_agg(to_jsonb(f) ORDER BY f.check_id), '[]') FROM ops.consecutive_failures(moment) f),
    'objectives', (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.slo), '[]') FROM ops.slo_status(moment) s),
    'errors', (SELECT coalesce(jsonb_agg(to_jsonb(e)), '[]') FROM ops.error_trends(period, moment) e),
    'alerts', (SELECT jsonb_build_object('firing', count(*) FILTER (WHERE a.state = 'firing'),
                                         'pending', count(*) FILTER (WHERE a.state = 'pending'))
                 FROM ops.alerts a));
END
$$;
COMMENT ON FUNCTION api.metrics_summary(interval) IS
  'The operator''s dashboard in one document (GET /rpc/metrics_summary?period=1%20hour), for staff: requests per route (rate, error rates, P50/P95/P99), hosts, consecutive check failures, objectives, error trends and alert counts over the period ending now';
REVOKE ALL ON FUNCTION api.create_silence(jsonb, timestamptz, text, timestamptz), api.expire_silence(bigint),
  api.create_maintenance_window(jsonb, timestamptz, timestamptz, text), api.end_maintenance_window(bigint),
  api.metrics_summary(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_silence(jsonb, timestamptz, text, timestamptz), api.expire_silence(bigint),
  api.create_maintenance_window(jsonb, timestamptz, timestamptz, text), api.end_maintenance_window(bigint),
  api.metrics_summary(interval) TO expense_user, expense_ops_admin;
