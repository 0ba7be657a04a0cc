-- Trigger functions trust nothing about their call site (README, "The boundary rules"). Any
-- session allowed to execute one can attach it to a table of its own, with any columns; each
-- must refuse to run anywhere but on its own relation, with an error, never a crash.
CREATE EXTENSION IF NOT EXISTS expense_ops;
\set VERBOSITY default
\set ON_ERROR_ROLLBACK on

-- The review's crash: expense.enforce_expense_rules() on a look-alike with integers where it
-- reads uuids and a date. It used to dereference the integers as pointers.
CREATE TEMP TABLE lookalike_expenses (org_id int, category_id int, expense_date int, amount_minor bigint, currency text);
CREATE TRIGGER rules BEFORE INSERT ON lookalike_expenses FOR EACH ROW EXECUTE FUNCTION expense.enforce_expense_rules();
INSERT INTO lookalike_expenses VALUES (42, 43, 1, 100, 'EUR');
-- A look-alike with the right types is still not expense.expenses.
CREATE TEMP TABLE typed_lookalike (org_id uuid, category_id uuid, expense_date date, amount_minor bigint, currency text);
CREATE TRIGGER rules BEFORE INSERT ON typed_lookalike FOR EACH ROW EXECUTE FUNCTION expense.enforce_expense_rules();
INSERT INTO typed_lookalike VALUES (gen_random_uuid(), gen_random_uuid(), current_date, 100, 'EUR');
-- The wrong timing or level is refused too.
CREATE TEMP TABLE after_lookalike (org_id uuid);
CREATE TRIGGER rules AFTER INSERT ON after_lookalike FOR EACH STATEMENT EXECUTE FUNCTION expense.enforce_expense_rules();
INSERT INTO after_lookalike VALUES (gen_random_uuid());

-- On its own relation it checks the type of every column it reads: were amount_minor ever
-- anything but bigint, the rules would refuse to read it rather than misread the Datum.
BEGIN;
ALTER EXTENSION expense_ops DROP VIEW api.expenses;
DROP VIEW api.expenses;
ALTER TABLE expense.expenses ALTER COLUMN amount_minor TYPE numeric;
INSERT INTO expense.orgs (org_id, name, base_currency) VALUES ('00000000-0000-0000-0000-0000000000e1', 'Typed', 'EUR');
INSERT INTO expense.categories (category_id, org_id, name) VALUES
  ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000e1', 'Travel');
INSERT INTO iam.users (user_id, org_id, email, display_name) VALUES
  ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000e1', 'typed@example.com', 'Typed');
INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant, amount_minor, currency)
VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000d1',
        '00000000-0000-0000-0000-0000000000c1', current_date, 'Taxi', 1250, 'EUR');
ROLLBACK;

-- The other C++ triggers: the policy cache and the SLA calendars' invalidation.
CREATE TEMP TABLE lookalike_orgs (org_id text);
CREATE TRIGGER policy_cache AFTER INSERT ON lookalike_orgs
  FOR EACH STATEMENT EXECUTE FUNCTION expense.invalidate_policy_cache();
INSERT INTO lookalike_orgs VALUES ('x');
CREATE TEMP TABLE lookalike_users (user_id uuid);
CREATE TRIGGER forget_caller AFTER INSERT ON lookalike_users
  FOR EACH STATEMENT EXECUTE FUNCTION iam.forget_caller();
INSERT INTO lookalike_users VALUES (gen_random_uuid());
CREATE TEMP TABLE lookalike_calendars (calendar_id int);
CREATE TRIGGER reload AFTER INSERT ON lookalike_calendars
  FOR EACH STATEMENT EXECUTE FUNCTION ops.sla_configuration_changed();
INSERT INTO lookalike_calendars VALUES (1);

-- The SECURITY DEFINER triggers that write the audit trails: attached elsewhere they would
-- append forged events to any organisation's trail.
INSERT INTO expense.orgs (org_id, name, base_currency) VALUES ('00000000-0000-0000-0000-0000000000f1', 'Victim', 'EUR');
CREATE TEMP TABLE forged_expenses (org_id uuid, expense_id uuid, user_id uuid, status text);
CREATE TRIGGER audit AFTER INSERT ON forged_expenses REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_events();
INSERT INTO forged_expenses VALUES ('00000000-0000-0000-0000-0000000000f1', gen_random_uuid(), gen_random_uuid(), 'approved');
DROP TRIGGER audit ON forged_expenses;
-- The creations' writer is C++, and inserts without privilege checks: elsewhere, or fired by
-- anything but an INSERT with its transition table, it refuses.
CREATE TRIGGER audit AFTER INSERT ON forged_expenses REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_creations();
INSERT INTO forged_expenses VALUES ('00000000-0000-0000-0000-0000000000f1', gen_random_uuid(), gen_random_uuid(), 'approved');
BEGIN;
CREATE TRIGGER audit_updates AFTER UPDATE ON expense.expenses
  FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_creations();
UPDATE expense.expenses SET merchant = merchant WHERE false;
ROLLBACK;
SELECT count(*) AS forged_expense_events FROM expense.expense_events WHERE org_id = '00000000-0000-0000-0000-0000000000f1';
INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('support', 'P2', 'Real ticket', 'someone') RETURNING ticket_id AS real_ticket \gset
CREATE TEMP TABLE forged_tickets (LIKE ops.tickets);
CREATE TRIGGER events AFTER UPDATE ON forged_tickets FOR EACH ROW EXECUTE FUNCTION ops.record_ticket_events();
INSERT INTO forged_tickets SELECT * FROM ops.tickets WHERE ticket_id = :real_ticket;
UPDATE forged_tickets SET state = 'Closed';
SELECT count(*) AS forged_ticket_events FROM ops.ticket_events WHERE ticket_id = :real_ticket AND action = 'status';
-- And the other PL/pgSQL triggers, likewise.
CREATE TEMP TABLE generic_lookalike (id int);
CREATE TRIGGER t1 BEFORE INSERT ON generic_lookalike FOR EACH ROW EXECUTE FUNCTION ops.apply_ticket_rules();
INSERT INTO generic_lookalike VALUES (1);
DROP TRIGGER t1 ON generic_lookalike;
CREATE TRIGGER t2 AFTER INSERT ON generic_lookalike FOR EACH STATEMENT EXECUTE FUNCTION ops.restate_tickets();
INSERT INTO generic_lookalike VALUES (1);
DROP TRIGGER t2 ON generic_lookalike;
CREATE TRIGGER t3 BEFORE INSERT ON generic_lookalike FOR EACH ROW EXECUTE FUNCTION ops.validate_sla_policy();
INSERT INTO generic_lookalike VALUES (1);
DROP TRIGGER t3 ON generic_lookalike;
CREATE TRIGGER t4 AFTER INSERT ON generic_lookalike FOR EACH ROW EXECUTE FUNCTION ops.validate_calendar();
INSERT INTO generic_lookalike VALUES (1);
DROP TRIGGER t4 ON generic_lookalike;

-- Nobody but the extension's owner may even attach them: EXECUTE is not PUBLIC's.
SET ROLE expense_user;
CREATE TEMP TABLE mine (org_id int, category_id int, expense_date int, amount_minor bigint, currency text);
CREATE TRIGGER rules BEFORE INSERT ON mine FOR EACH ROW EXECUTE FUNCTION expense.enforce_expense_rules();
CREATE TRIGGER audit AFTER INSERT ON mine REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_events();
CREATE TRIGGER creations AFTER INSERT ON mine REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_creations();
CREATE TRIGGER forget_caller AFTER INSERT ON mine FOR EACH STATEMENT EXECUTE FUNCTION iam.forget_caller();
RESET ROLE;
SET ROLE expense_ops_admin;
CREATE TEMP TABLE admin_tickets (LIKE ops.tickets);
CREATE TRIGGER events AFTER UPDATE ON admin_tickets FOR EACH ROW EXECUTE FUNCTION ops.record_ticket_events();
RESET ROLE;

-- The real tables still work through their own triggers, and the session is alive.
SELECT state, (SELECT count(*) FROM ops.ticket_events e WHERE e.ticket_id = t.ticket_id) AS events
  FROM ops.tickets t WHERE ticket_id = :real_ticket;
SELECT api.health() ? 'status' AS session_alive;
\set ON_ERROR_ROLLBACK off
