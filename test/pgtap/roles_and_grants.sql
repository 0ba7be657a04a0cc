-- The public surface (docs/operations.md, "Roles"): roles, schemas, and least privilege.
BEGIN;
SELECT plan(27);

SELECT has_role(r, format('role %s exists', r))
  FROM unnest(ARRAY['expense_anon', 'expense_user', 'expense_ops_worker', 'expense_ops_backup', 'expense_ops_admin']) r;
SELECT isnt_superuser(r, format('%s is not a superuser', r))
  FROM unnest(ARRAY['expense_anon', 'expense_user', 'expense_ops_worker', 'expense_ops_backup', 'expense_ops_admin']) r;
SELECT ok(NOT rolcanlogin, format('%s is NOLOGIN', rolname))
  FROM pg_roles
 WHERE rolname IN ('expense_anon', 'expense_user', 'expense_ops_worker', 'expense_ops_backup', 'expense_ops_admin')
 ORDER BY rolname;

SELECT schemas_are(ARRAY['api', 'expense', 'iam', 'ops', 'public'], 'the extension adds exactly api, expense, iam and ops');

SELECT function_returns('api', 'health', ARRAY[]::text[], 'jsonb');
SELECT function_returns('api', 'health_db', ARRAY[]::text[], 'jsonb');
SELECT isnt_definer('api', 'health', ARRAY[]::text[], 'api.health() runs no SQL and needs no owner rights');
SELECT volatility_is('api', 'health', ARRAY[]::text[], 'stable', 'api.health() is STABLE (GET in PostgREST)');
SELECT volatility_is('api', 'health_db', ARRAY[]::text[], 'stable', 'api.health_db() is STABLE (GET in PostgREST)');

SELECT function_privs_are('api', 'health', ARRAY[]::text[], 'expense_anon', ARRAY['EXECUTE'],
                          'the anonymous caller may call api.health()');
SELECT function_privs_are('api', 'health_db', ARRAY[]::text[], 'expense_anon', ARRAY['EXECUTE'],
                          'the anonymous caller may call api.health_db()');
SELECT function_privs_are('ops', 'record_worker_heartbeat',
                          ARRAY['text', 'text', 'integer', 'text', 'timestamp with time zone', 'interval'],
                          'expense_anon', ARRAY[]::text[],
                          'the anonymous caller may not record heartbeats');
SELECT table_privs_are('ops', 'worker_heartbeats', 'expense_ops_worker', ARRAY[]::text[],
                       'the worker has no direct table privileges, only its function');
SELECT table_privs_are('ops', 'worker_heartbeats', 'expense_ops_admin', ARRAY['SELECT'],
                       'support staff read heartbeats');
SELECT schema_privs_are('ops', 'expense_anon', ARRAY[]::text[], 'the anonymous caller cannot see ops');

SELECT * FROM finish();
ROLLBACK;
