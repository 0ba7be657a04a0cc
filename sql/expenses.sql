-- The rules on every write of expense.expenses (trigger expense_rules, C++), at their edges.
CREATE EXTENSION IF NOT EXISTS expense_ops;
\set VERBOSITY default
-- The organisations below are in UTC: so is "today" here, also when pg_regress's own zone
-- (PST8PDT) is still on yesterday.
SET TimeZone = 'UTC';

INSERT INTO expense.orgs (org_id, name, base_currency, time_zone)
VALUES ('00000000-0000-0000-0000-00000000e0a1', 'Rules Inc', 'EUR', 'UTC'),
       ('00000000-0000-0000-0000-00000000e0b2', 'Other Ltd', 'USD', 'UTC');
INSERT INTO iam.users (user_id, org_id, email, display_name)
VALUES ('00000000-0000-0000-0000-00000000e002', '00000000-0000-0000-0000-00000000e0a1', 'eve@rules.test', 'Eve');
INSERT INTO expense.categories (category_id, org_id, name, max_age_days)
VALUES ('00000000-0000-0000-0000-00000000ec01', '00000000-0000-0000-0000-00000000e0a1', 'Meals', 30),
       ('00000000-0000-0000-0000-00000000ec09', '00000000-0000-0000-0000-00000000e0b2', 'Elsewhere', 30);

CREATE FUNCTION pg_temp.add(days_ago int, amount bigint, currency text,
                            category uuid DEFAULT '00000000-0000-0000-0000-00000000ec01')
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant, amount_minor, currency)
  VALUES ('00000000-0000-0000-0000-00000000e0a1', '00000000-0000-0000-0000-00000000e002', category,
          current_date - days_ago, 'Café Ünicode; DROP TABLE x --', amount, currency);
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Dates: today and the oldest allowed day pass; tomorrow and one day too old do not.
SELECT pg_temp.add(0, 1250, 'EUR') AS today;
SELECT pg_temp.add(-1, 1250, 'EUR') LIKE '22X20: expense_date % is in the future%' AS tomorrow;
SELECT pg_temp.add(30, 1250, 'EUR') AS thirty_days;
SELECT pg_temp.add(31, 1250, 'EUR') LIKE '22X21: expense_date % is more than 30 days old, the category''s limit'
       AS thirty_one_days;

-- Amounts and currencies, in each currency's own minor units.
SELECT pg_temp.add(0, 1, 'EUR') AS one_cent;
SELECT pg_temp.add(0, 0, 'EUR') AS zero;
SELECT pg_temp.add(0, -500, 'JPY') AS negative_yen;
SELECT pg_temp.add(0, 99999999999999, 'EUR') AS largest;
SELECT pg_temp.add(0, 100000000000000, 'EUR') AS too_large;
SELECT pg_temp.add(0, 1000000000000, 'JPY') AS too_large_yen;
SELECT pg_temp.add(0, 1500, 'eur') AS lower_case;
SELECT pg_temp.add(0, 1500, 'ABC') AS unknown;

-- Categories: another organisation's, a missing one, an inactive one.
SELECT pg_temp.add(0, 1250, 'EUR', '00000000-0000-0000-0000-00000000ec09') AS other_orgs_category;
SELECT pg_temp.add(0, 1250, 'EUR', '00000000-0000-0000-0000-000000000bad') AS missing_category;
UPDATE expense.categories SET active = false WHERE name = 'Meals';
SELECT pg_temp.add(0, 1250, 'EUR') AS inactive_category;

-- Edits are judged again, status changes are not: the category is inactive by now.
UPDATE expense.expenses SET status = 'submitted' WHERE amount_minor = 1 RETURNING status;
UPDATE expense.expenses SET amount_minor = 0 WHERE amount_minor = 1;
UPDATE expense.expenses SET expense_date = current_date + 1 WHERE amount_minor = 1;

-- Nothing partial was written: only the accepted rows exist.
SELECT amount_minor, currency, expense_date = current_date AS today
  FROM expense.expenses ORDER BY amount_minor;

-- The rules trigger is only a trigger.
SELECT expense.enforce_expense_rules();

-- Both forms of the amount: a writer of the table gives either, and the trigger keeps the
-- other, with exactly the currency's decimals, and the organisation's base currency.
UPDATE expense.categories SET active = true WHERE name = 'Meals';
INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant, amount, currency)
VALUES ('00000000-0000-0000-0000-00000000e0a1', '00000000-0000-0000-0000-00000000e002',
        '00000000-0000-0000-0000-00000000ec01', current_date, 'Decimal', 7.5, 'EUR')
RETURNING amount_minor, amount, base_currency, description;
INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant, amount, amount_minor, currency)
VALUES ('00000000-0000-0000-0000-00000000e0a1', '00000000-0000-0000-0000-00000000e002',
        '00000000-0000-0000-0000-00000000ec01', current_date, 'Both', 7.51, 750, 'EUR');
INSERT INTO expense.expenses (user_id, category_id, expense_date, merchant, currency)
VALUES ('00000000-0000-0000-0000-00000000e002', '00000000-0000-0000-0000-00000000ec01', current_date, 'None', 'EUR');
UPDATE expense.expenses SET amount = 8 WHERE merchant = 'Decimal' RETURNING amount_minor, amount;
UPDATE expense.expenses SET amount_minor = 900 WHERE merchant = 'Decimal' RETURNING amount_minor, amount;
UPDATE expense.expenses SET amount = 8.5, currency = 'JPY' WHERE merchant = 'Decimal';
UPDATE expense.expenses SET amount = NULL WHERE merchant = 'Decimal';
UPDATE expense.expenses SET currency = 'KWD' WHERE merchant = 'Decimal' RETURNING amount_minor, amount;

-- Through the API, as PostgREST does it: the user's role and claims, then the statement. A
-- creation goes straight into the table (the view is automatically updatable for INSERT), and
-- the rules trigger completes it: the owner, their organisation, the stored text.
SET ROLE expense_user;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000e002"}', false) IS NOT NULL AS as_eve;
INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency, receipt_ref, description)
VALUES ('00000000-0000-0000-0000-00000000ec01', current_date, 'Through the API', 12.3, 'EUR', '  doc-1 ', NULL)
RETURNING user_id, amount, base_currency, receipt_ref, description = '' AS empty_description, status;
-- Bad input: each with its own error, and nothing written.
INSERT INTO api.expenses (user_id, category_id, expense_date, merchant, amount, currency)
VALUES ('00000000-0000-0000-0000-00000000e0ff', '00000000-0000-0000-0000-00000000ec01', current_date, 'Not mine', 1, 'EUR');
INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency, status)
VALUES ('00000000-0000-0000-0000-00000000ec01', current_date, 'Approved already', 1, 'EUR', 'approved');
INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency)
VALUES ('00000000-0000-0000-0000-00000000ec01', current_date, repeat('m', 201), 1, 'EUR');
INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency, receipt_ref)
VALUES ('00000000-0000-0000-0000-00000000ec01', current_date, 'Long reference', 1, 'EUR', repeat('r', 501));
INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency)
VALUES ('00000000-0000-0000-0000-00000000ec01', current_date, 'No amount', NULL, 'EUR');
INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency)
VALUES ('00000000-0000-0000-0000-00000000ec01', current_date, 'Too precise', 1.234, 'EUR');
-- Read-only columns are refused, not silently dropped.
INSERT INTO api.expenses (id, category_id, expense_date, merchant, amount, currency)
VALUES (gen_random_uuid(), '00000000-0000-0000-0000-00000000ec01', current_date, 'Chosen id', 1, 'EUR');
INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency, base_amount)
VALUES ('00000000-0000-0000-0000-00000000ec01', current_date, 'Chosen base amount', 1, 'EUR', 1);
RESET ROLE;
SELECT merchant, receipt_ref FROM expense.expenses WHERE merchant NOT LIKE 'Café%' ORDER BY merchant;
-- Every creation is in the audit trail, by whoever was calling.
SELECT e.merchant, ev.action, ev.to_status, ev.actor_id AS actor, ev.changed_fields
  FROM expense.expense_events ev JOIN expense.expenses e USING (expense_id)
 WHERE ev.action = 'create' AND e.merchant IN ('Decimal', 'Through the API') ORDER BY ev.event_id;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS claims_cleared;

-- The caller's row is read once per transaction, and read again when this session writes
-- iam.users or a subtransaction that may have written it rolls back.
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000e002"}', true) IS NOT NULL AS as_eve;
SELECT role FROM iam.current_account();
UPDATE iam.users SET role = 'finance' WHERE user_id = '00000000-0000-0000-0000-00000000e002';
SELECT role, iam.caller_has_role(org_id, 'finance', 'admin') AS finance_or_admin FROM iam.current_account();
SAVEPOINT promoted;
UPDATE iam.users SET role = 'admin' WHERE user_id = '00000000-0000-0000-0000-00000000e002';
SELECT role FROM iam.current_account();
ROLLBACK TO promoted;
SELECT role FROM iam.current_account();
UPDATE iam.users SET disabled_at = now() WHERE user_id = '00000000-0000-0000-0000-00000000e002';
SELECT user_id IS NULL AS disabled_is_nobody, iam.current_user_id() IS NOT NULL AS still_has_claims FROM iam.current_account();
SELECT set_config('request.jwt.claims', '{"sub": "not-a-uuid"}', true) IS NOT NULL AS bad_claims;
SELECT * FROM iam.current_account();
ROLLBACK;
SELECT * FROM iam.current_account();
SELECT iam.caller_has_role(NULL, 'admin') AS null_org, iam.can_see_expenses_of(NULL) AS null_owner;

-- Creations are audited in batches: more rows than a batch each get their event, and a trigger
-- someone adds to the audit trail fires for every event, after each row or before it.
BEGIN;
CREATE TEMP TABLE seen_events (event_id bigint);
CREATE FUNCTION pg_temp.seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO seen_events VALUES (NEW.event_id);
  RETURN NEW;
END $$;
CREATE TRIGGER watched AFTER INSERT ON expense.expense_events FOR EACH ROW EXECUTE FUNCTION pg_temp.seen();
INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant, amount_minor, currency)
SELECT '00000000-0000-0000-0000-00000000e0a1', '00000000-0000-0000-0000-00000000e002',
       '00000000-0000-0000-0000-00000000ec01', current_date, 'Batch ' || i, 100 + i, 'EUR'
  FROM generate_series(1, 2500) i;
DROP TRIGGER watched ON expense.expense_events;
CREATE TRIGGER watched BEFORE INSERT ON expense.expense_events FOR EACH ROW EXECUTE FUNCTION pg_temp.seen();
INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant, amount_minor, currency)
SELECT '00000000-0000-0000-0000-00000000e0a1', '00000000-0000-0000-0000-00000000e002',
       '00000000-0000-0000-0000-00000000ec01', current_date, 'Watched ' || i, 100 + i, 'EUR'
  FROM generate_series(1, 3) i;
DROP TRIGGER watched ON expense.expense_events;
COMMIT;
SELECT count(*) AS batch_expenses,
       count(*) FILTER (WHERE EXISTS (SELECT FROM expense.expense_events v
                                       WHERE v.expense_id = e.expense_id AND v.action = 'create')) AS with_their_event
  FROM expense.expenses e WHERE merchant LIKE 'Batch %' OR merchant LIKE 'Watched %';
SELECT count(*) AS seen_by_the_added_triggers, count(DISTINCT event_id) AS distinct_events FROM seen_events;
-- A statement's creations are written in the order of expense_id, numbered as they are written:
-- one event per expense, and event_id rising with expense_id.
SELECT count(*) AS batch_events, count(DISTINCT v.expense_id) AS batch_expenses_with_events,
       bool_and(v.event_id > 0) AS numbered,
       (SELECT bool_and(rising) FROM (
          SELECT w.expense_id > lag(w.expense_id) OVER (ORDER BY w.event_id) AS rising
            FROM expense.expense_events w JOIN expense.expenses f USING (expense_id)
           WHERE f.merchant LIKE 'Batch %') r) AS in_expense_id_order
  FROM expense.expense_events v JOIN expense.expenses e USING (expense_id)
 WHERE e.merchant LIKE 'Batch %';

-- The policy cache follows the tables when the extension is dropped and created again in this
-- session: the new tables' changes must still reach it.
DROP EXTENSION expense_ops CASCADE;
CREATE EXTENSION expense_ops;
INSERT INTO expense.orgs (org_id, name, base_currency, time_zone)
VALUES ('00000000-0000-0000-0000-00000000e0a1', 'Rules Inc', 'EUR', 'UTC');
INSERT INTO iam.users (user_id, org_id, email, display_name)
VALUES ('00000000-0000-0000-0000-00000000e002', '00000000-0000-0000-0000-00000000e0a1', 'eve@rules.test', 'Eve');
INSERT INTO expense.categories (category_id, org_id, name, max_age_days)
VALUES ('00000000-0000-0000-0000-00000000ec01', '00000000-0000-0000-0000-00000000e0a1', 'Meals', 30);
SELECT pg_temp.add(0, 1250, 'EUR') AS after_recreate;
UPDATE expense.categories SET active = false;
SELECT pg_temp.add(0, 1250, 'EUR') AS inactive_after_recreate;
