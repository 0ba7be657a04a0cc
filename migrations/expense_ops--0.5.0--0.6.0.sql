-- expense_ops 0.5.0 -> 0.6.0: monitoring, metrics and alerting inside the database (issue 10).
-- extension/sql/metrics.sql, extension/sql/monitoring.sql, extension/sql/objectives.sql, extension/sql/alert_payload.sql, extension/sql/alerting.sql, in that order.



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
  'webhook (Alertmanager''s webhook payload, version 4), alertmanager (the alert list POSTed to an Alertmanager''s /api/v2/alerts), log (the worker logs the payload) or command (the worker runs a command its configuration names, payload on stdin)';
COMMENT ON COLUMN ops.notification_channels.target IS
  'webhook and alertmanager: an http(s) URL or secret:NAME; command: the name of a command in the worker''s configuration; log: ignored';
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
  IF NEW.kind IS NULL OR NEW.kind NOT IN ('webhook', 'alertmanager', 'log', 'command') THEN
    RAISE EXCEPTION 'kind: "%" is not a channel kind', NEW.kind USING ERRCODE = expense.sqlstate('unknown_channel_kind'),
      HINT = 'Use webhook, alertmanager, log or command.';
  END IF;
  IF NEW.kind IN ('webhook', 'alertmanager') AND NEW.target !~ '^(https?://[^/\s]+(/\S*)?|secret:[a-z][a-z0-9_-]{0,62})$' THEN
    RAISE EXCEPTION 'target: a % channel needs an http(s) URL or secret:NAME', NEW.kind
      USING ERRCODE = expense.sqlstate('unknown_channel_kind'),
      HINT = 'Give http://alertmanager:9093/api/v2/alerts, or secret:NAME for a URL the worker''s configuration holds.';
  ELSIF NEW.kind = 'command' AND NEW.target !~ '^[a-z][a-z0-9_-]{0,62}$' THEN
    RAISE EXCEPTION 'target: a command channel names a command of the worker''s configuration'
      USING ERRCODE = expense.sqlstate('unknown_channel_kind'), HINT = 'Give its name, such as page-oncall.';
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
CREATE INDEX notifications_due ON ops.notifications (next_attempt_at) WHERE status IN ('pending', 'sending', 'failed');
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
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  most integer := (SELECT s.max_attempts FROM ops.alerting_settings s);
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
  -- A lease that ran out on the last attempt: the worker died sending it; nothing retries it.
  UPDATE ops.notifications o
     SET status = 'dead', leased_by = NULL, lease_expires_at = NULL,
         last_error = 'the lease expired on the last attempt'
   WHERE o.notification_id IN (SELECT x.notification_id FROM ops.notifications x
                                WHERE x.status = 'sending' AND x.lease_expires_at <= at AND x.attempts >= most
                                  FOR UPDATE SKIP LOCKED);
  RETURN QUERY
  UPDATE ops.notifications o
     SET status = 'sending', attempts = o.attempts + 1, leased_by = worker, lease_expires_at = at + lease
   WHERE o.notification_id IN (SELECT x.notification_id FROM ops.notifications x
                                WHERE ((x.status IN ('pending', 'failed') AND x.next_attempt_at <= at)
                                       OR (x.status = 'sending' AND x.lease_expires_at <= at))
                                  -- A group's notifications leave in order, one at a time: a
                                  -- retried "firing" never lands after the "resolved" behind it.
                                  AND NOT EXISTS (SELECT FROM ops.notifications y
                                                   WHERE y.channel = x.channel AND y.group_key = x.group_key
                                                     AND y.notification_id < x.notification_id
                                                     AND y.status IN ('pending', 'sending', 'failed'))
                                ORDER BY x.next_attempt_at, x.notification_id
                                LIMIT n FOR UPDATE SKIP LOCKED)
  RETURNING o.*;
END
$$;
COMMENT ON FUNCTION ops.claim_notifications(text, integer, interval, timestamptz) IS
  'Leases up to n notifications that are due (pending, failed and past their wait, or sending with an expired lease) to the worker, oldest first, skipping those another worker holds and any whose group has an older one undelivered (a group''s notifications leave in order); counts the attempt';
REVOKE ALL ON FUNCTION ops.claim_notifications(text, integer, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.claim_notifications(text, integer, interval, timestamptz) TO expense_ops_worker, expense_ops_admin;

-- The notification the worker reports on, locked, or 22X73 when it does not hold it.
CREATE FUNCTION ops.held_notification(notification_id bigint, worker text) RETURNS ops.notifications
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
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
                                        jitter double precision DEFAULT random())
RETURNS ops.notifications
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  held ops.notifications := ops.held_notification(notification_id, worker);
  settings ops.alerting_settings := (SELECT s FROM ops.alerting_settings s);
  gives_up boolean := NOT coalesce(retryable, false) OR held.attempts >= settings.max_attempts;
BEGIN
  UPDATE ops.notifications o
     SET status = CASE WHEN gives_up THEN 'dead' ELSE 'failed' END,
         next_attempt_at = CASE WHEN gives_up THEN o.next_attempt_at
                                ELSE at + ops.retry_delay(held.attempts, settings.retry_base, settings.retry_cap, jitter) END,
         leased_by = NULL, lease_expires_at = NULL,
         last_error = left(coalesce(nullif(btrim(error), ''), 'no reason given'), 1000)
   WHERE o.notification_id = held.notification_id
  RETURNING * INTO held;
  RETURN held;
END
$$;
COMMENT ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision) IS
  'The worker failed to deliver the notification it holds: failed with the next attempt after an exponential backoff with jitter, or dead when not retryable or out of attempts. error is kept to 1000 characters: leave secrets out of it';
REVOKE ALL ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision)
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
