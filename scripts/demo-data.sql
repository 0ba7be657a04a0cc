-- The embedded default's setup on top of CREATE EXTENSION expense_ops: the LOGIN roles a real
-- deployment adds (docs/operations.md, "PostgREST"), and one organisation to try things with.

-- The worker logs in with nothing but expense_ops_worker's privileges.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'expense_ops_worker_login') THEN
    CREATE ROLE expense_ops_worker_login LOGIN IN ROLE expense_ops_worker;
  END IF;
  -- The backup worker also records backups and restore tests, which the default worker may not
  -- (expense_ops_backup, from 0.8.0 on: the upgrade test loads this file into older versions).
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'expense_ops_backup')
     AND NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'expense_ops_backup_login') THEN
    CREATE ROLE expense_ops_backup_login LOGIN IN ROLE expense_ops_worker, expense_ops_backup;
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

-- ---------------------------------------------------------------------------------------------
-- Support tickets: every kind and priority, in states that show every SLA status on the board.
-- Ages are relative to the load, so the board looks the same whenever `make run` starts.

BEGIN;  -- a calendar is checked at commit, with its hours
INSERT INTO ops.calendars VALUES ('berlin-office', 'Europe/Berlin', 'Support desk in Berlin: Mon-Fri 09-17');
INSERT INTO ops.calendar_hours SELECT 'berlin-office', d, time '09:00', time '17:00' FROM generate_series(1, 5) d;
INSERT INTO ops.calendar_holidays VALUES ('berlin-office', '2026-12-24', 'Christmas Eve'),
  ('berlin-office', '2026-12-25', 'Christmas Day'), ('berlin-office', '2026-12-26', 'Boxing Day'),
  ('berlin-office', '2027-01-01', 'New Year''s Day');
COMMIT;
INSERT INTO ops.releases (version, planned_for, notes) VALUES
  ('1.4.0', now() + interval '12 days', 'Dark mode, bulk approval'),
  ('1.5.0', now() + interval '40 days', 'Auditor export');

CREATE FUNCTION pg_temp.demo_ticket(kind text, priority text, title text, age interval,
                                    responded_after interval, VARIADIC moves text[] DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  ticket bigint;
  next_state text;
BEGIN
  -- Incidents and security issues are the operator's own (no organisation); the rest concern
  -- Acme, which reported them.
  INSERT INTO ops.tickets (kind, priority, title, description, reporter, assignee, opened_at, org_id)
  VALUES (kind, priority, title, 'Demo ticket',
          CASE WHEN kind IN ('incident', 'security') THEN 'oncall@ops.example.com' ELSE 'ana@example.com' END,
          CASE WHEN responded_after IS NOT NULL THEN 'sue@ops.example.com' END, now() - age,
          CASE WHEN kind NOT IN ('incident', 'security') THEN 'a0000000-0000-4000-8000-000000000001'::uuid END)
  RETURNING ticket_id INTO ticket;
  IF responded_after IS NOT NULL THEN
    UPDATE ops.tickets SET first_response_at = opened_at + responded_after WHERE ticket_id = ticket;
  END IF;
  FOREACH next_state IN ARRAY moves LOOP
    UPDATE ops.tickets SET state = next_state WHERE ticket_id = ticket;
  END LOOP;
  RETURN ticket;
END
$$;

SELECT pg_temp.demo_ticket('incident', 'P0', 'Checkout of expenses returns 500s', '20 minutes', NULL);        -- response breached
SELECT pg_temp.demo_ticket('support', 'P0', 'Acme cannot submit any expense', '12 minutes', NULL);           -- response at risk
SELECT pg_temp.demo_ticket('bug', 'P0', 'SSO users cannot log in', '3 hours 30 minutes', '9 minutes',
                           'Triage', 'Assigned', 'In Progress');                                              -- resolution at risk
SELECT pg_temp.demo_ticket('security', 'P0', 'API key leaked in a public repository', '40 minutes', '4 minutes',
                           'Contain', 'Assess');                                                              -- on track
SELECT pg_temp.demo_ticket('feature', 'P0', 'Audit export required by contract', '1 hour', '10 minutes', 'Review');
SELECT pg_temp.demo_ticket('incident', 'P1', 'Expense list slow (P95 above 2 s)', '30 hours', '50 minutes',
                           'Mitigated');                                                                      -- resolution breached
SELECT pg_temp.demo_ticket('bug', 'P1', 'Duplicate detection misses accented merchants', '1 hour 45 minutes', NULL); -- response at risk
SELECT pg_temp.demo_ticket('support', 'P1', 'Reimbursement stuck in approved', '3 hours', '25 minutes',
                           'Open', 'Waiting on customer');                                                    -- paused
SELECT pg_temp.demo_ticket('feature', 'P1', 'Bulk approval for managers', '5 hours', '1 hour', 'Review', 'Prioritize');
SELECT pg_temp.demo_ticket('security', 'P1', 'Brute force from one address range', '2 days', '20 minutes',
                           'Contain', 'Assess', 'Remediate');                                                 -- resolution breached
SELECT pg_temp.demo_ticket('incident', 'P2', 'Status page shows stale uptime', '6 hours', '2 hours', 'Mitigated');
SELECT pg_temp.demo_ticket('bug', 'P2', 'CSV export drops the description column', '26 hours', NULL);         -- response breached
SELECT pg_temp.demo_ticket('support', 'P2', 'How do I change my manager?', '2 days', '3 hours', 'Open', 'Waiting on customer',
                           'Resolved');                                                                       -- resolution met, awaiting close
SELECT pg_temp.demo_ticket('feature', 'P2', 'Receipt photos from the mobile app', '3 days', '4 hours', 'Review');
SELECT pg_temp.demo_ticket('security', 'P2', 'Stale admin accounts found in access review', '1 day', '2 hours', 'Contain');
SELECT pg_temp.demo_ticket('incident', 'P3', 'Typo on the login page', '2 days', '1 day', 'Mitigated');
SELECT pg_temp.demo_ticket('bug', 'P3', 'Dates shown in UTC in the summary', '5 days', '2 days', 'Triage', 'Assigned');
SELECT pg_temp.demo_ticket('support', 'P3', 'Feature question about currencies', '8 days', NULL);              -- response breached
SELECT pg_temp.demo_ticket('feature', 'P3', 'Dark mode', '20 days', '3 days', 'Review', 'Prioritize', 'Plan');
SELECT pg_temp.demo_ticket('security', 'P3', 'Harden TLS ciphers on the status page', '3 days', '1 day', 'Contain');
-- Closed ones, for the report.
SELECT pg_temp.demo_ticket('incident', 'P0', 'Primary database out of disk', '2 days', '6 minutes',
                           'Mitigated', 'Root-caused', 'Fixed', 'Post-mortem done') AS closed_incident \gset
UPDATE ops.tickets SET workaround = 'Fail over to the replica', root_cause = 'Disk full on the primary',
                       postmortem_url = 'https://wiki.example.com/postmortems/2026-11-disk'
 WHERE ticket_id = :closed_incident;
UPDATE ops.tickets SET state = 'Closed', satisfaction = 4 WHERE ticket_id = :closed_incident;
SELECT pg_temp.demo_ticket('support', 'P1', 'Receipt upload times out', '4 days', '30 minutes',
                           'Open', 'Waiting on customer', 'Resolved') AS closed_support \gset
UPDATE ops.tickets SET root_cause = 'Timeout too short for large uploads', state = 'Closed', satisfaction = 5
 WHERE ticket_id = :closed_support;
SELECT pg_temp.demo_ticket('bug', 'P3', 'Sorting by amount ignores currency', '6 days', '1 day', 'Triage', 'Duplicate');
UPDATE ops.tickets SET user_impact = v.impact, business_value = v.value, complexity = v.complexity,
                       resource_availability = v.resources, strategic_alignment = v.alignment
  FROM (VALUES ('Audit export required by contract', 4, 5, 3, 3, 5),
               ('Bulk approval for managers', 4, 4, 2, 4, 4),
               ('Receipt photos from the mobile app', 5, 4, 4, 2, 4),
               ('Dark mode', 2, 1, 2, 4, 2)) v(title, impact, value, complexity, resources, alignment)
 WHERE tickets.title = v.title;
SELECT ops.refresh_sla_transitions();

-- ---------------------------------------------------------------------------------------------
-- Staff: the operator's support agent, who works every tenant's tickets (password "secret").
-- Acme's own admin and its support-role user are tenants, not staff.

INSERT INTO expense.orgs (org_id, name, base_currency, time_zone)
VALUES ('a0000000-0000-4000-8000-0000000000ff', 'expense_ops Operations', 'EUR', 'Europe/Berlin');
INSERT INTO iam.users (user_id, org_id, email, display_name, role, password_hash)
VALUES ('b0000000-0000-4000-8000-0000000000ff', 'a0000000-0000-4000-8000-0000000000ff', 'sue@ops.example.com',
        'Sue Support', 'support', '$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW');
SELECT iam.set_staff('b0000000-0000-4000-8000-0000000000ff', true);
