-- expense_ops 0.5.0 -> 0.6.0: monitoring, metrics and alerting inside the database (issue 10).
-- extension/sql/metrics.sql, extension/sql/monitoring.sql, extension/sql/objectives.sql, extension/sql/alert_payload.sql, in that order.



CREATE TYPE ops.latency_sketch;

CREATE FUNCTION ops.latency_sketch_in(cstring) RETURNS ops.latency_sketch
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_in';
CREATE FUNCTION ops.latency_sketch_out(ops.latency_sketch) RETURNS cstring
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_out';
CREATE FUNCTION ops.latency_sketch_recv(internal) RETURNS ops.latency_sketch
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_recv';
CREATE FUNCTION ops.latency_sketch_send(ops.latency_sketch) RETURNS bytea
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_send';

CREATE TYPE ops.latency_sketch (
  INPUT = ops.latency_sketch_in,
  OUTPUT = ops.latency_sketch_out,
  RECEIVE = ops.latency_sketch_recv,
  SEND = ops.latency_sketch_send,
  INTERNALLENGTH = VARIABLE,
  STORAGE = extended
);
COMMENT ON TYPE ops.latency_sketch IS
  'A distribution of durations in milliseconds (DDSketch-style): any quantile within 1 % relative error for values from 0.001 ms (1 us) to 86 400 000 ms (1 day), mergeable without loss, at most about 1 850 bins. Text form: v1;n=<count>;zeros=<count>;sum=<ms>;min=<ms>;max=<ms>;bins=<first bin>:<count>,...';
COMMENT ON FUNCTION ops.latency_sketch_in(cstring) IS 'Reads the text form of ops.latency_sketch; refuses malformed or contradictory text (22P02)';
COMMENT ON FUNCTION ops.latency_sketch_out(ops.latency_sketch) IS 'Writes the text form of ops.latency_sketch';
COMMENT ON FUNCTION ops.latency_sketch_recv(internal) IS 'Reads the binary form of ops.latency_sketch; refuses truncated, corrupt or unknown-version values (22P03)';
COMMENT ON FUNCTION ops.latency_sketch_send(ops.latency_sketch) IS 'Writes the binary form of ops.latency_sketch (version byte, sum, min, max, varint bins)';

-- The aggregates' support functions: internal, so nobody but the aggregates calls them.
CREATE FUNCTION ops.latency_sketch_add(internal, double precision) RETURNS internal
LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_add';
CREATE FUNCTION ops.latency_sketch_merge_add(internal, ops.latency_sketch) RETURNS internal
LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_merge_add';
CREATE FUNCTION ops.latency_sketch_combine(internal, internal) RETURNS internal
LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_combine';
CREATE FUNCTION ops.latency_sketch_serialize(internal) RETURNS bytea
LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_serialize';
CREATE FUNCTION ops.latency_sketch_deserialize(bytea, internal) RETURNS internal
LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_deserialize';
CREATE FUNCTION ops.latency_sketch_final(internal) RETURNS ops.latency_sketch
LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_latency_sketch_final';
COMMENT ON FUNCTION ops.latency_sketch_add(internal, double precision) IS 'Transition function of ops.latency_sketch(double precision)';
COMMENT ON FUNCTION ops.latency_sketch_merge_add(internal, ops.latency_sketch) IS 'Transition function of ops.latency_sketch_merge(ops.latency_sketch)';
COMMENT ON FUNCTION ops.latency_sketch_combine(internal, internal) IS 'Combine function of the latency sketch aggregates (parallel aggregation)';
COMMENT ON FUNCTION ops.latency_sketch_serialize(internal) IS 'Serial function of the latency sketch aggregates (parallel aggregation)';
COMMENT ON FUNCTION ops.latency_sketch_deserialize(bytea, internal) IS 'Deserial function of the latency sketch aggregates (parallel aggregation)';
COMMENT ON FUNCTION ops.latency_sketch_final(internal) IS 'Final function of the latency sketch aggregates';
REVOKE ALL ON FUNCTION ops.latency_sketch_add(internal, double precision),
  ops.latency_sketch_merge_add(internal, ops.latency_sketch), ops.latency_sketch_combine(internal, internal),
  ops.latency_sketch_serialize(internal), ops.latency_sketch_deserialize(bytea, internal),
  ops.latency_sketch_final(internal) FROM PUBLIC;

CREATE AGGREGATE ops.latency_sketch(double precision) (
  SFUNC = ops.latency_sketch_add,
  STYPE = internal,
  FINALFUNC = ops.latency_sketch_final,
  COMBINEFUNC = ops.latency_sketch_combine,
  SERIALFUNC = ops.latency_sketch_serialize,
  DESERIALFUNC = ops.latency_sketch_deserialize,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE ops.latency_sketch(double precision) IS
  'The sketch of a set of durations in milliseconds; NULLs are skipped, NaN, infinite and negative values refused (22X60); NULL for no rows';

CREATE AGGREGATE ops.latency_sketch_merge(ops.latency_sketch) (
  SFUNC = ops.latency_sketch_merge_add,
  STYPE = internal,
  FINALFUNC = ops.latency_sketch_final,
  COMBINEFUNC = ops.latency_sketch_combine,
  SERIALFUNC = ops.latency_sketch_serialize,
  DESERIALFUNC = ops.latency_sketch_deserialize,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE ops.latency_sketch_merge(ops.latency_sketch) IS
  'Merges sketches (minutes into hours, hours into days) with no loss: the result is the sketch of all their values; NULL for no rows';

CREATE FUNCTION ops.sketch_quantile(sketch ops.latency_sketch, q double precision) RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sketch_quantile';
COMMENT ON FUNCTION ops.sketch_quantile(ops.latency_sketch, double precision) IS
  'The q-quantile (0 <= q <= 1; 22X61 otherwise) of the sketched durations, in ms, within 1 % of the value at rank floor(q * (count - 1)); NULL for an empty sketch';
CREATE FUNCTION ops.sketch_quantiles(sketch ops.latency_sketch, qs double precision[]) RETURNS double precision[]
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sketch_quantiles';
COMMENT ON FUNCTION ops.sketch_quantiles(ops.latency_sketch, double precision[]) IS
  'Several quantiles at once, in the order asked, e.g. ''{0.5,0.95,0.99}'' for P50, P95 and P99; NULL for an empty sketch';
CREATE FUNCTION ops.sketch_count(sketch ops.latency_sketch) RETURNS bigint
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sketch_count';
COMMENT ON FUNCTION ops.sketch_count(ops.latency_sketch) IS 'How many durations the sketch holds';
CREATE FUNCTION ops.sketch_sum(sketch ops.latency_sketch) RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sketch_sum';
COMMENT ON FUNCTION ops.sketch_sum(ops.latency_sketch) IS 'The sum of the sketched durations, in ms (exact up to floating-point addition)';
CREATE FUNCTION ops.sketch_mean(sketch ops.latency_sketch) RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sketch_mean';
COMMENT ON FUNCTION ops.sketch_mean(ops.latency_sketch) IS 'The mean of the sketched durations, in ms; NULL for an empty sketch';
CREATE FUNCTION ops.sketch_min(sketch ops.latency_sketch) RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sketch_min';
COMMENT ON FUNCTION ops.sketch_min(ops.latency_sketch) IS 'The exact smallest sketched duration, in ms; NULL for an empty sketch';
CREATE FUNCTION ops.sketch_max(sketch ops.latency_sketch) RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sketch_max';
COMMENT ON FUNCTION ops.sketch_max(ops.latency_sketch) IS 'The exact largest sketched duration, in ms; NULL for an empty sketch';

-- Monitoring data belongs to the operator: its staff and the worker read sketches, nobody else.
REVOKE ALL ON FUNCTION ops.latency_sketch_in(cstring), ops.latency_sketch_out(ops.latency_sketch),
  ops.latency_sketch_recv(internal), ops.latency_sketch_send(ops.latency_sketch),
  ops.latency_sketch(double precision), ops.latency_sketch_merge(ops.latency_sketch),
  ops.sketch_quantile(ops.latency_sketch, double precision), ops.sketch_quantiles(ops.latency_sketch, double precision[]),
  ops.sketch_count(ops.latency_sketch), ops.sketch_sum(ops.latency_sketch), ops.sketch_mean(ops.latency_sketch),
  ops.sketch_min(ops.latency_sketch), ops.sketch_max(ops.latency_sketch) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.latency_sketch_in(cstring), ops.latency_sketch_out(ops.latency_sketch),
  ops.latency_sketch_recv(internal), ops.latency_sketch_send(ops.latency_sketch),
  ops.latency_sketch(double precision), ops.latency_sketch_merge(ops.latency_sketch),
  ops.sketch_quantile(ops.latency_sketch, double precision), ops.sketch_quantiles(ops.latency_sketch, double precision[]),
  ops.sketch_count(ops.latency_sketch), ops.sketch_sum(ops.latency_sketch), ops.sketch_mean(ops.latency_sketch),
  ops.sketch_min(ops.latency_sketch), ops.sketch_max(ops.latency_sketch) TO expense_ops_admin, expense_ops_worker;


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
    AND NOT jsonb_path_exists(labels, '$.* ? (@.type() != "string")'))
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

CREATE TABLE ops.request_log (
  at          timestamptz NOT NULL,
  method      text NOT NULL CHECK (method IN ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')),
  route       text NOT NULL CHECK (route ~ '^/' AND length(route) <= 200),
  status      integer NOT NULL CHECK (status BETWEEN 100 AND 599),
  duration_ms double precision NOT NULL CHECK (duration_ms >= 0 AND duration_ms < 'Infinity'),
  sqlstate    text CHECK (sqlstate ~ '^[0-9A-Z]{5}$'),
  org_id      uuid,
  user_id     uuid
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
CREATE TABLE ops.request_minutes_to_roll (
  minute   timestamptz PRIMARY KEY,
  marked_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.request_minutes_to_roll IS 'Minutes with requests not yet in ops.request_rollups: marked by every insert into ops.request_log (trigger mark_minutes), cleared by ops.rollup_requests()';
COMMENT ON COLUMN ops.request_minutes_to_roll.minute IS 'The minute (UTC)';
COMMENT ON COLUMN ops.request_minutes_to_roll.marked_at IS 'When rows for it last arrived';
GRANT SELECT ON ops.request_minutes_to_roll TO expense_ops_admin, expense_ops_worker;

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

-- Every insert into the request log, whichever way it comes (the functions below, or a COPY
-- straight into the table), marks its minutes for the next rollup in the same transaction.
CREATE FUNCTION ops.mark_request_minutes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_RELID <> 'ops.request_log'::regclass OR TG_LEVEL <> 'STATEMENT' OR TG_WHEN <> 'AFTER' OR TG_OP <> 'INSERT' THEN
    RAISE EXCEPTION 'ops.mark_request_minutes() fires only AFTER INSERT on ops.request_log, for each statement'
      USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  -- DO UPDATE, not DO NOTHING: it locks a mark that a running rollup is about to clear, so the
  -- rollup either sees these rows or leaves the mark for the next run.
  INSERT INTO ops.request_minutes_to_roll (minute)
  SELECT DISTINCT date_trunc('minute', n.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM new_rows n ORDER BY 1
  ON CONFLICT (minute) DO UPDATE SET marked_at = now();
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.mark_request_minutes() IS
  'AFTER INSERT on ops.request_log, each statement: marks the minutes of the new rows for ops.rollup_requests()';
REVOKE ALL ON FUNCTION ops.mark_request_minutes() FROM PUBLIC;
CREATE TRIGGER mark_minutes AFTER INSERT ON ops.request_log
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ops.mark_request_minutes();

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
  RETURN QUERY SELECT b.index, b.check_id, b.problem FROM pg_temp.check_batch b WHERE b.problem IS NOT NULL ORDER BY b.index;
END
$$;
COMMENT ON FUNCTION ops.record_check_results(jsonb, timestamptz) IS
  'The worker''s batch write of check results, received at `at`: a JSON array of {check_id, started_at, duration_ms, outcome (up, down, unknown), status, detail, timings, worker}, each started within the retention before `at` and no later than the clock skew after it. Each bad element is returned with its index (from 0) and reason and the rest are kept; a run already recorded is not recorded twice';
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
COMMENT ON FUNCTION ops.load_request_batch() IS 'Moves the checked rows of pg_temp.request_batch into ops.request_log (whose trigger marks their minutes)';
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
  -- The marks are cleared first, in their own statement: a load that marks a minute after this
  -- either waited for it (and marks again) or committed before the rebuild below looks.
  WITH cleared AS (
    DELETE FROM ops.request_minutes_to_roll m
     WHERE m.minute + interval '1 minute' <= until
    RETURNING m.minute)
  SELECT coalesce(array_agg(c.minute ORDER BY c.minute), '{}') INTO done FROM cleared c;
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

CREATE FUNCTION ops.request_metrics(since timestamptz, until timestamptz DEFAULT now(), only_route text DEFAULT NULL)
RETURNS TABLE (route text, requests bigint, per_second double precision, rate_4xx double precision,
               rate_5xx double precision, p50_ms double precision, p95_ms double precision,
               p99_ms double precision)
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
  SELECT coalesce(m.route, '*'), m.requests,
         m.requests / extract(epoch FROM until - since)::double precision,
         m.status_4xx::double precision / m.requests, m.status_5xx::double precision / m.requests,
         ops.sketch_quantile(m.latency, 0.5), ops.sketch_quantile(m.latency, 0.95), ops.sketch_quantile(m.latency, 0.99)
    FROM merged m
   ORDER BY m.route IS NULL, m.route;
END
$$;
COMMENT ON FUNCTION ops.request_metrics(timestamptz, timestamptz, text) IS
  'Requests in [since, until), per route and in total (route *): count, rate per second, 4xx and 5xx error rates, and P50/P95/P99 latency in ms (within 1 %). Whole minutes come from ops.request_rollups, the rest from ops.request_log, so the answer is the same before and after a rollup. only_route limits it to one route';
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
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  checked ops.checks;
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
  RETURN QUERY
  WITH slots AS (
    -- The check's intervals, aligned to the Unix epoch, that start within each day (UTC) and
    -- have ended by `at`.
    SELECT s AS slot_start, s + checked.every AS slot_end
      FROM generate_series(
             to_timestamp(floor(extract(epoch FROM (date_trunc('day', at AT TIME ZONE 'UTC') - (days - 1) * interval '1 day') AT TIME ZONE 'UTC')
                                / extract(epoch FROM checked.every)) * extract(epoch FROM checked.every)),
             at - checked.every, checked.every) s
     WHERE s >= (date_trunc('day', at AT TIME ZONE 'UTC') - (days - 1) * interval '1 day') AT TIME ZONE 'UTC'
  ), judged AS (
    SELECT (sl.slot_start AT TIME ZONE 'UTC')::date AS slot_day, sl.slot_start,
           CASE
             WHEN EXISTS (SELECT FROM ops.maintenance_windows w
                           WHERE w.starts_at < sl.slot_end AND w.ends_at > sl.slot_start
                             AND ops.labels_match(w.matchers, ops.check_labels(checked))) THEN 'maintenance'
             ELSE coalesce((SELECT CASE WHEN bool_or(r.outcome = 'down') THEN 'down'
                                        WHEN bool_or(r.outcome = 'up') THEN 'up' END
                              FROM ops.check_results r
                             WHERE r.check_id = checked.check_id
                               AND r.started_at >= sl.slot_start AND r.started_at < sl.slot_end), 'unknown')
           END AS verdict
      FROM slots sl
  ), runs AS (
    SELECT j.*, j.verdict = 'down' AND lag(j.verdict) OVER (ORDER BY j.slot_start) IS DISTINCT FROM 'down' AS starts_incident
      FROM judged j
  )
  SELECT d::date,
         count(r.verdict) FILTER (WHERE r.verdict <> 'maintenance')::integer,
         count(*) FILTER (WHERE r.verdict = 'up')::integer,
         count(*) FILTER (WHERE r.verdict = 'down')::integer,
         count(*) FILTER (WHERE r.verdict = 'unknown')::integer,
         count(*) FILTER (WHERE r.verdict = 'maintenance')::integer,
         round(100.0 * count(*) FILTER (WHERE r.verdict = 'up') / nullif(count(r.verdict) FILTER (WHERE r.verdict <> 'maintenance'), 0), 3),
         round(100.0 * count(*) FILTER (WHERE r.verdict = 'unknown') / nullif(count(r.verdict) FILTER (WHERE r.verdict <> 'maintenance'), 0), 3),
         count(*) FILTER (WHERE r.starts_incident)::integer
    FROM generate_series((date_trunc('day', at AT TIME ZONE 'UTC') - (days - 1) * interval '1 day')::date,
                         (at AT TIME ZONE 'UTC')::date, interval '1 day') d
    LEFT JOIN runs r ON r.slot_day = d::date
   GROUP BY d
   ORDER BY d;
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


CREATE FUNCTION ops.webhook_payload(receiver text, group_key text, group_labels jsonb, alerts jsonb,
                                    external_url text DEFAULT '', truncated_alerts integer DEFAULT 0)
RETURNS jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_webhook_payload';
COMMENT ON FUNCTION ops.webhook_payload(text, text, jsonb, jsonb, text, integer) IS
  'The webhook payload (version 4) Alertmanager 0.25 POSTs to a receiver for one notification of an aggregation group: receiver (regex metacharacters escaped, as Alertmanager does), status, the alerts in Alertmanager''s order with their fingerprints and Go''s times (a firing alert ends at 0001-01-01T00:00:00Z), groupLabels, commonLabels, commonAnnotations, externalURL, version, groupKey (such as {}:{alertname="X"}) and truncatedAlerts. Labels with an empty value are left out, as Alertmanager drops them. alerts is a JSON array of {"labels", "annotations", "starts_at", "ends_at", "generator_url", "fingerprint", "status"} (docs/monitoring.md). No argument may be NULL (22004); 22023 a malformed alert or a negative truncated_alerts, 22X68 labels Alertmanager refuses, 22X69 bad times';
CREATE FUNCTION ops.alertmanager_payload(alerts jsonb) RETURNS jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_alertmanager_payload';
COMMENT ON FUNCTION ops.alertmanager_payload(jsonb) IS
  'The body of Alertmanager''s POST /api/v2/alerts for alerts given as ops.webhook_payload takes them: an array of {labels, annotations, startsAt, endsAt (resolved alerts only), generatorURL}. Refuses what Alertmanager would answer with 400: no label with a value or a bad label name (22X68), an end before the start (22X69); 22023 a malformed alert, 22004 NULL';
REVOKE ALL ON FUNCTION ops.webhook_payload(text, text, jsonb, jsonb, text, integer), ops.alertmanager_payload(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.webhook_payload(text, text, jsonb, jsonb, text, integer), ops.alertmanager_payload(jsonb)
  TO expense_ops_admin, expense_ops_worker;
