-- expense_ops: metrics. The latency sketch (extension/core/latency_sketch.*, glue in
-- extension/pg/latency_sketch.cpp): a type that holds a distribution of durations in
-- milliseconds and answers any quantile within 1 %, the aggregates that build it from rows and
-- merge stored sketches (minutes into hours and days), and the functions that read it.

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
