-- Roles, schemas, grants and comments that CREATE EXTENSION sets up.
CREATE EXTENSION IF NOT EXISTS expense_ops;

SELECT rolname, rolcanlogin, rolsuper, rolinherit
  FROM pg_roles
 WHERE rolname IN ('expense_anon', 'expense_user', 'expense_ops_worker', 'expense_ops_backup', 'expense_ops_admin')
 ORDER BY rolname;

-- Roles outlive the extension; creating it again finds them and does not fail.
DROP EXTENSION expense_ops;
SELECT count(*) AS roles_kept FROM pg_roles WHERE rolname LIKE 'expense\_%';
CREATE EXTENSION expense_ops;
SELECT extversion = default_version AS installed_the_default_version
  FROM pg_extension JOIN pg_available_extensions ON name = extname
 WHERE extname = 'expense_ops';

SELECT nspname FROM pg_namespace WHERE nspname IN ('api', 'expense', 'iam', 'ops') ORDER BY 1;

-- Who may call what.
SELECT r.rolname,
       has_function_privilege(r.rolname, 'api.health()', 'EXECUTE') AS health,
       has_function_privilege(r.rolname, 'api.health_db()', 'EXECUTE') AS health_db,
       has_function_privilege(r.rolname,
         'ops.record_worker_heartbeat(text, text, integer, text, timestamptz, interval)',
         'EXECUTE') AS record_heartbeat,
       has_table_privilege(r.rolname, 'ops.worker_heartbeats', 'SELECT') AS read_heartbeats,
       has_table_privilege(r.rolname, 'ops.worker_heartbeats', 'INSERT') AS write_heartbeats
  FROM pg_roles r
 WHERE r.rolname IN ('expense_anon', 'expense_user', 'expense_ops_worker', 'expense_ops_backup', 'expense_ops_admin')
 ORDER BY r.rolname;

-- PUBLIC gets nothing: a role outside expense_ops cannot reach the API.
CREATE ROLE stranger;
SELECT has_function_privilege('stranger', 'api.health()', 'EXECUTE') AS stranger_health,
       has_schema_privilege('stranger', 'api', 'USAGE') AS stranger_api;
DROP ROLE stranger;

-- SECURITY DEFINER functions pin their search_path.
SELECT p.oid::regprocedure AS function, p.proconfig
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'expense_ops'
 WHERE p.prosecdef
 ORDER BY p.oid::regprocedure::text;

-- Every object the extension owns carries a COMMENT ON.
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS uncommented
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'expense_ops'
 WHERE d.deptype = 'e'
   AND d.classid <> 'pg_type'::regclass  -- row types come with their tables
   AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL;

-- Every column of every table, too.
SELECT c.oid::regclass AS table_name, a.attname AS uncommented_column
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'expense_ops'
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'v', 'p') AND col_description(c.oid, a.attnum) IS NULL;
