-- The embedded default's setup on top of CREATE EXTENSION expense_ops: the LOGIN roles a real
-- deployment adds (README, "PostgREST"), and the demo rows of the areas built so far.
-- Expenses, users and tickets join this file as their issues land.

-- The worker logs in with nothing but expense_ops_worker's privileges.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'expense_ops_worker_login') THEN
    CREATE ROLE expense_ops_worker_login LOGIN IN ROLE expense_ops_worker;
  END IF;
  -- PostgREST's authenticator: NOINHERIT, it only switches to the roles granted to it.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT;
  END IF;
END
$$;
GRANT expense_anon, expense_user TO authenticator;
