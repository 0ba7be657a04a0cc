-- The embedded default's setup on top of CREATE EXTENSION expense_ops: the LOGIN roles a real
-- deployment adds (README, "PostgREST"), and one organisation to try things with.

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

-- Acme: every application role. The password of all of them is "secret", stored as a bcrypt
-- hash the way an export from another system (such as Supabase's auth.users) carries it; each
-- is replaced by argon2id at that user's first login.
INSERT INTO expense.orgs (org_id, name, base_currency, time_zone, second_approval_threshold)
VALUES ('a0000000-0000-4000-8000-000000000001', 'Acme Corp', 'EUR', 'Europe/Berlin', 100000);

INSERT INTO iam.users (user_id, org_id, email, display_name, role, password_hash)
SELECT id::uuid, 'a0000000-0000-4000-8000-000000000001', email, name, role,
       '$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW'
  FROM (VALUES ('b0000000-0000-4000-8000-000000000003', 'mia@example.com', 'Mia Manager', 'manager'),
               ('b0000000-0000-4000-8000-000000000001', 'ana@example.com', 'Ana Employee', 'employee'),
               ('b0000000-0000-4000-8000-000000000002', 'ben@example.com', 'Ben Employee', 'employee'),
               ('b0000000-0000-4000-8000-000000000004', 'fay@example.com', 'Fay Finance', 'finance'),
               ('b0000000-0000-4000-8000-000000000005', 'sam@example.com', 'Sam Support', 'support'),
               ('b0000000-0000-4000-8000-000000000006', 'ada@example.com', 'Ada Admin', 'admin')) u(id, email, name, role);
UPDATE iam.users SET manager_id = 'b0000000-0000-4000-8000-000000000003' WHERE email IN ('ana@example.com', 'ben@example.com');

INSERT INTO expense.categories (category_id, org_id, name, per_item_limit, per_day_limit, receipt_threshold)
VALUES ('c0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 'Travel', 200000, NULL, 2500),
       ('c0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000001', 'Meals', NULL, 10000, 5000),
       ('c0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000001', 'Office', 50000, NULL, 2500);

INSERT INTO expense.exchange_rates (org_id, currency, valid_from, rate)
VALUES ('a0000000-0000-4000-8000-000000000001', 'USD', current_date - 365, 0.92),
       ('a0000000-0000-4000-8000-000000000001', 'GBP', current_date - 365, 1.17),
       ('a0000000-0000-4000-8000-000000000001', 'JPY', current_date - 365, 0.0061);

-- Expenses in every state, moved along by the workflow functions as the users themselves.
CREATE FUNCTION pg_temp.as_user(email text) RETURNS void LANGUAGE sql AS $$
  SELECT set_config('request.jwt.claims',
                    json_build_object('role', 'expense_user', 'sub', u.user_id)::text, false)
    FROM iam.users u WHERE u.email = as_user.email
$$;

INSERT INTO expense.expenses (expense_id, org_id, user_id, category_id, expense_date, merchant, description,
                              amount_minor, currency, receipt_ref)
VALUES
  ('e0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001',
   'c0000000-0000-4000-8000-000000000001', current_date - 1, 'Taxi Berlin', 'Airport to office', 2450, 'EUR', NULL),
  ('e0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001',
   'c0000000-0000-4000-8000-000000000001', current_date - 5, 'Hotel Lincoln', 'Customer visit, Boston', 18900, 'USD', 'receipts/hotel-lincoln.pdf'),
  ('e0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000002',
   'c0000000-0000-4000-8000-000000000002', current_date - 8, 'The Ivy', 'Team dinner', 6500, 'GBP', 'receipts/ivy.pdf'),
  ('e0000000-0000-4000-8000-000000000004', 'a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001',
   'c0000000-0000-4000-8000-000000000001', current_date - 20, 'JR East', 'Shinkansen Tokyo-Osaka', 14720, 'JPY', 'receipts/jr.pdf'),
  ('e0000000-0000-4000-8000-000000000005', 'a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000002',
   'c0000000-0000-4000-8000-000000000003', current_date - 3, 'Office Depot', 'Desk chair', 8000, 'EUR', 'receipts/chair.pdf'),
  ('e0000000-0000-4000-8000-000000000006', 'a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001',
   'c0000000-0000-4000-8000-000000000001', current_date - 2, 'Lufthansa', 'Flight to the customer', 142000, 'EUR', 'receipts/lh.pdf');

SELECT pg_temp.as_user('ana@example.com');
SELECT api.submit_expense(id) FROM unnest(ARRAY['e0000000-0000-4000-8000-000000000002', 'e0000000-0000-4000-8000-000000000004',
                                                'e0000000-0000-4000-8000-000000000006']::uuid[]) id;
SELECT pg_temp.as_user('ben@example.com');
SELECT api.submit_expense(id) FROM unnest(ARRAY['e0000000-0000-4000-8000-000000000003', 'e0000000-0000-4000-8000-000000000005']::uuid[]) id;
SELECT pg_temp.as_user('mia@example.com');
SELECT api.approve_expense('e0000000-0000-4000-8000-000000000003');
SELECT api.approve_expense('e0000000-0000-4000-8000-000000000004');
SELECT api.approve_expense('e0000000-0000-4000-8000-000000000006');  -- above the threshold: first of two
SELECT api.reject_expense('e0000000-0000-4000-8000-000000000005', 'Office furniture goes through procurement');
SELECT pg_temp.as_user('fay@example.com');
SELECT api.reimburse_expense('e0000000-0000-4000-8000-000000000004');
SELECT set_config('request.jwt.claims', '', false);
