-- The C++/PostgreSQL error boundary (README, "The boundary rules"). The probe functions live in a
-- test-only library, expense_ops_probes, and in no extension script; a superuser declares them
-- here.
CREATE EXTENSION IF NOT EXISTS expense_ops;

-- The production library exports none of them.
DO $$
BEGIN
  CREATE FUNCTION probe_in_production(text) RETURNS text LANGUAGE c
    AS '$libdir/expense_ops', 'expense_ops_probe_guarded_sql';
  RAISE NOTICE 'expense_ops.so exports expense_ops_probe_guarded_sql';
EXCEPTION WHEN undefined_function THEN
  RAISE NOTICE 'expense_ops.so has no probe functions (%)', SQLSTATE;
END
$$;
CREATE FUNCTION probe_raise(text) RETURNS text LANGUAGE c
  AS '$libdir/expense_ops_probes', 'expense_ops_probe_raise';
CREATE FUNCTION probe_guarded_sql(text) RETURNS text LANGUAGE c
  AS '$libdir/expense_ops_probes', 'expense_ops_probe_guarded_sql';
CREATE FUNCTION probe_counters() RETURNS text LANGUAGE c
  AS '$libdir/expense_ops_probes', 'expense_ops_probe_counters';

-- Reports the SQLSTATE and message a call ends with, from a subtransaction.
CREATE FUNCTION outcome(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  result text;
BEGIN
  EXECUTE 'SELECT ' || call INTO result;
  RETURN 'returned: ' || result;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- Each C++ exception becomes an ERROR with the intended SQLSTATE.
SELECT outcome($$probe_raise('rule_violation')$$);     -- 23514 check_violation, from the rule
SELECT outcome($$probe_raise('bad_alloc')$$);          -- 53200 out_of_memory
SELECT outcome($$probe_raise('huge_allocation')$$);    -- a real failed allocation: 53200
SELECT outcome($$probe_raise('runtime_error')$$);      -- XX000 internal_error
SELECT outcome($$probe_raise('non_standard')$$);       -- XX000, even for a thrown int
SELECT outcome($$probe_raise('none')$$);
SELECT outcome($$probe_raise('no such kind')$$);       -- 22023 with a hint
SELECT outcome($$probe_raise(NULL)$$);

-- The whole error, message, detail and hint, reaches the client.
SELECT probe_raise('rule_violation');

-- A PostgreSQL error raised under the guard reaches C++ as an exception: the probe catches it
-- (counted), C++ objects on the way out are destroyed (counted), and it leaves the boundary
-- with its own SQLSTATE. Each call has two witnesses, so three calls destroy six, the two
-- failed calls included.
SELECT probe_counters();
SELECT outcome($$probe_guarded_sql('SELECT 1/0')$$);                  -- 22012
SELECT outcome($$probe_guarded_sql('SELECT * FROM no_such_table')$$); -- 42P01
SELECT outcome($$probe_guarded_sql('SELECT 1')$$);
SELECT probe_counters();

-- Without a subtransaction around it, the error aborts the statement as any ERROR would.
SELECT probe_guarded_sql('SELECT pg_catalog.int4in(''seven'')');

-- And the session carries on.
SELECT 'session still alive' AS status, probe_raise('none');
SELECT api.health() ? 'status' AS health_still_answers;

DROP FUNCTION outcome(text);
DROP FUNCTION probe_counters();
DROP FUNCTION probe_guarded_sql(text);
DROP FUNCTION probe_raise(text);
