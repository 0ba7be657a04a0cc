-- The latency sketch: the type's forms, the aggregates (serial and parallel), the readers, and
-- every kind of bad input, which must be an error with a hint and never a crash.
CREATE EXTENSION IF NOT EXISTS expense_ops;
SET client_min_messages = warning;

CREATE TEMP TABLE latencies AS
SELECT i, (i % 60) AS minute,
       CASE WHEN i % 10 = 0 THEN 900 + (i % 7) ELSE 5 + (i % 13) / 10.0 END::double precision AS ms
  FROM generate_series(1, 20000) i;

-- Quantiles within 1 % of the exact value at rank floor(q * (n - 1)).
WITH exact AS (
  SELECT q, (array_agg(ms ORDER BY ms))[floor(q * (count(*) - 1))::int + 1] AS value
    FROM latencies, unnest(ARRAY[0, 0.5, 0.9, 0.95, 0.99, 1]) q GROUP BY q
), sketched AS (SELECT ops.latency_sketch(ms) AS sketch FROM latencies)
SELECT q, value AS exact, round(ops.sketch_quantile(sketch, q)::numeric, 3) AS estimate,
       abs(ops.sketch_quantile(sketch, q) - value) / value <= 0.01 AS within_one_percent
  FROM exact, sketched ORDER BY q;

SELECT ops.sketch_count(s), ops.sketch_sum(s) = (SELECT sum(ms) FROM latencies) AS exact_sum,
       round(ops.sketch_mean(s)::numeric, 6) = round((SELECT avg(ms) FROM latencies)::numeric, 6) AS exact_mean,
       ops.sketch_min(s), ops.sketch_max(s),
       ops.sketch_quantiles(s, '{0.5,0.95,0.99}') = ARRAY[ops.sketch_quantile(s, 0.5), ops.sketch_quantile(s, 0.95),
                                                        ops.sketch_quantile(s, 0.99)] AS quantiles_agree
  FROM (SELECT ops.latency_sketch(ms) AS s FROM latencies) t;

-- The text form: exact and canonical both ways.
SELECT ops.latency_sketch(x) FROM (VALUES (2.0::double precision), (2.0), (0)) v(x);
SELECT 'v1;n=0'::ops.latency_sketch, ops.sketch_count('v1;n=0'), ops.sketch_quantile('v1;n=0', 0.5) IS NULL AS no_median,
       ops.sketch_mean('v1;n=0') IS NULL AS no_mean;
SELECT s::text::ops.latency_sketch::text = s::text AS text_round_trip
  FROM (SELECT ops.latency_sketch(ms) AS s FROM latencies) t;

-- NULLs are skipped; no rows (or only NULLs) give NULL, as sum() does.
SELECT ops.sketch_count(ops.latency_sketch(x)) FROM (VALUES (1.0::double precision), (NULL), (3.0)) v(x);
SELECT ops.latency_sketch(x) IS NULL AS no_rows FROM (VALUES (1.0::double precision)) v(x) WHERE false;
SELECT ops.latency_sketch(NULL::double precision) IS NULL AS only_nulls;

-- Minutes merged into an hour are the sketch of the hour's rows: no loss.
CREATE TEMP TABLE minute_sketches AS
SELECT minute, ops.latency_sketch(ms) AS sketch FROM latencies GROUP BY minute;
-- (The sums are added in another order, so they may differ in the last bits; the rest is equal.)
CREATE FUNCTION pg_temp.without_sum(s ops.latency_sketch) RETURNS text
LANGUAGE sql AS $$SELECT regexp_replace(s::text, ';sum=[^;]*', '')$$;
CREATE FUNCTION pg_temp.same_sketch(a ops.latency_sketch, b ops.latency_sketch) RETURNS boolean
LANGUAGE sql AS $$SELECT pg_temp.without_sum(a) = pg_temp.without_sum(b)
                     AND abs(ops.sketch_sum(a) - ops.sketch_sum(b)) <= 1e-9 * ops.sketch_sum(b)$$;
SELECT pg_temp.same_sketch((SELECT ops.latency_sketch_merge(sketch) FROM minute_sketches),
                           (SELECT ops.latency_sketch(ms) FROM latencies)) AS merged_equals_whole;
SELECT ops.latency_sketch_merge(sketch) IS NULL AS merge_of_nothing FROM minute_sketches WHERE false;

-- Parallel aggregation (partial states serialised, combined) gives the same sketch.
CREATE TABLE public.many_latencies AS
SELECT (random() * 1000)::double precision AS ms FROM generate_series(1, 200000);
ANALYZE public.many_latencies;
CREATE TEMP TABLE serial_sketch AS SELECT ops.latency_sketch(ms) AS s FROM public.many_latencies;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT ops.latency_sketch(ms) FROM public.many_latencies;
SELECT pg_temp.same_sketch((SELECT ops.latency_sketch(ms) FROM public.many_latencies), (SELECT s FROM serial_sketch))
       AS parallel_equals_serial;
EXPLAIN (COSTS OFF) SELECT ops.latency_sketch_merge(sketch) FROM (SELECT ops.latency_sketch(ms) AS sketch FROM public.many_latencies) t;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE public.many_latencies;

-- The binary form: COPY BINARY out and in again goes through send and recv.
CREATE TABLE public.sketch_copies (s ops.latency_sketch);
COPY (SELECT ops.latency_sketch(ms) FROM latencies) TO '/tmp/expense_ops_regress_sketch.bin' (FORMAT binary);
COPY public.sketch_copies FROM '/tmp/expense_ops_regress_sketch.bin' (FORMAT binary);
SELECT s::text = (SELECT ops.latency_sketch(ms) FROM latencies)::text AS binary_round_trip FROM public.sketch_copies;

-- Bytes that are not a sketch, received in binary: a bytea written with COPY BINARY is read back
-- as a sketch, so recv sees exactly these bytes.
COPY (SELECT '\x02'::bytea) TO '/tmp/expense_ops_regress_sketch.bin' (FORMAT binary);
COPY public.sketch_copies FROM '/tmp/expense_ops_regress_sketch.bin' (FORMAT binary);
COPY (SELECT '\x01000000'::bytea) TO '/tmp/expense_ops_regress_sketch.bin' (FORMAT binary);
COPY public.sketch_copies FROM '/tmp/expense_ops_regress_sketch.bin' (FORMAT binary);
COPY (SELECT ops.latency_sketch_send(ops.latency_sketch(ms)) || '\x00'::bytea FROM latencies)
  TO '/tmp/expense_ops_regress_sketch.bin' (FORMAT binary);
COPY public.sketch_copies FROM '/tmp/expense_ops_regress_sketch.bin' (FORMAT binary);
SELECT count(*) AS still_one_copy FROM public.sketch_copies;

-- A stored value that is corrupt (here forced in through a binary-coercible cast) is an error in
-- every reader, never a wrong answer or a crash.
CREATE CAST (bytea AS ops.latency_sketch) WITHOUT FUNCTION;
SELECT ops.sketch_quantile('\x01ffff'::bytea::ops.latency_sketch, 0.5);
SELECT ops.sketch_count(('\x01' || repeat('00', 24) || '00' || '00' || 'ffffffffffffffffffff01')::bytea::ops.latency_sketch);
SELECT '\x01'::bytea::ops.latency_sketch::text;
SELECT ops.latency_sketch_merge(s) FROM (VALUES ('\x09'::bytea::ops.latency_sketch)) v(s);
DROP CAST (bytea AS ops.latency_sketch);
DROP TABLE public.sketch_copies;

-- Bad literals.
SELECT 'v2;n=0'::ops.latency_sketch;
SELECT 'v1;n=3;zeros=0;sum=4;min=2;max=2;bins=36:2'::ops.latency_sketch;
SELECT 'v1;n=2;zeros=0;sum=4;min=3;max=2;bins=51:2'::ops.latency_sketch;
SELECT 'v1;n=1;zeros=0;sum=4;min=4;max=4;bins=99999:1'::ops.latency_sketch;
SELECT 'nonsense'::ops.latency_sketch;

-- Bad durations and quantiles.
SELECT ops.latency_sketch(x) FROM (VALUES (1.0::double precision), (-1.0)) v(x);
SELECT ops.latency_sketch('NaN'::double precision);
SELECT ops.latency_sketch('Infinity'::double precision);
SELECT ops.sketch_quantile(ops.latency_sketch(1.0), 1.5);
SELECT ops.sketch_quantile(ops.latency_sketch(1.0), 'NaN');
SELECT ops.sketch_quantiles(ops.latency_sketch(1.0), '{0.5,NULL}');
SELECT ops.sketch_quantiles(ops.latency_sketch(1.0), '{{0.5},{0.9}}');
SELECT ops.sketch_quantiles(ops.latency_sketch(1.0), '{}');

-- The aggregates' support functions are theirs alone: revoked from PUBLIC (and, taking
-- internal, not callable from SQL at all).
SELECT p.oid::regprocedure AS support_function, has_function_privilege('expense_user', p.oid, 'EXECUTE') AS user_may_call
  FROM pg_proc p WHERE p.pronamespace = 'ops'::regnamespace AND p.proname LIKE 'latency\_sketch\_%'
   AND p.proname NOT IN ('latency_sketch_in', 'latency_sketch_out', 'latency_sketch_recv', 'latency_sketch_send')
   AND p.prokind = 'f'
 ORDER BY p.oid::regprocedure::text;
