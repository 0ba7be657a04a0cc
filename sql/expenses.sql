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
