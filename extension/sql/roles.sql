-- expense_ops: the roles the extension's privileges are granted to, its four schemas, and who
-- may use each schema.
--
-- extension/sql/*.sql hold the current definition of every object of expense_ops, each defined
-- once, by area. The Makefile concatenates them, in the order of SQL_SOURCES (dependencies
-- first), into the full install script expense_ops--<default_version>.sql. Changes to a shipped
-- version also need an update script in migrations/; test/integration/upgrade_path.sh checks
-- that both paths end in the same schema.

-- Roles are cluster-wide and outlive the extension, so they are created only when missing
-- and never dropped by DROP EXTENSION.
DO $roles$
DECLARE
  role_name text;
  role_comment text;
BEGIN
  FOR role_name, role_comment IN VALUES
    ('expense_anon', 'expense_ops: the unauthenticated caller (PostgREST db-anon-role)'),
    ('expense_user', 'expense_ops: every logged-in caller of the api schema'),
    ('expense_ops_worker', 'expense_ops: privileges of the sidecar worker; grant it to the worker''s LOGIN role'),
    ('expense_ops_admin', 'expense_ops: support staff and DBAs working in psql'),
    ('expense_ops_backup', 'expense_ops: privileges of the backup job set (expense-ops-worker --jobs backup) to record backups and restore tests; grant it, with expense_ops_worker, to the backup worker''s LOGIN role only')
  LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      EXECUTE format('COMMENT ON ROLE %I IS %L', role_name, role_comment);
    END IF;
  END LOOP;
END
$roles$;

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS 'expense_ops: the public API, the only schema PostgREST exposes';
CREATE SCHEMA expense;
COMMENT ON SCHEMA expense IS 'expense_ops: domain data (expenses, categories, policies)';
CREATE SCHEMA iam;
COMMENT ON SCHEMA iam IS 'expense_ops: users, credentials, keys and login attempts; private';
CREATE SCHEMA ops;
COMMENT ON SCHEMA ops IS 'expense_ops: support operations (tickets, SLA, checks, metrics, alerts, backups, releases)';

-- api is the only schema PostgREST exposes. The callers of the API also reach expense and iam,
-- where row-level security and the few functions granted to them decide what they see; iam's
-- tables and ops stay closed to them. The worker records its heartbeat through a function in ops.
GRANT USAGE ON SCHEMA api TO expense_anon, expense_user, expense_ops_worker, expense_ops_admin;
GRANT USAGE ON SCHEMA expense, iam TO expense_user;
-- expense for the error catalog (expense.sqlstate), which the tickets' triggers raise through
-- when staff write tickets in psql.
GRANT USAGE ON SCHEMA expense, iam, ops TO expense_ops_admin;
GRANT USAGE ON SCHEMA ops TO expense_ops_worker, expense_ops_backup;
