-- What the expense benchmarks write into: one organisation, one user, eight categories, and
-- public.bare_expenses, the peer table with the same columns, constraints, indexes and foreign
-- keys as expense.expenses but no triggers.
INSERT INTO expense.orgs (org_id, name, base_currency, time_zone)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'Bench', 'EUR', 'Europe/Berlin') ON CONFLICT DO NOTHING;
INSERT INTO iam.users (user_id, org_id, email, display_name)
VALUES ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a1', 'bench@bench.test', 'Bench')
ON CONFLICT DO NOTHING;
INSERT INTO expense.categories (category_id, org_id, name)
SELECT ('00000000-0000-0000-0000-0000000000' || lpad(to_hex(i), 2, '0'))::uuid,
       '00000000-0000-0000-0000-0000000000a1', 'Category ' || i
  FROM generate_series(1, 8) i ON CONFLICT DO NOTHING;
DROP TABLE IF EXISTS public.bare_expenses;
CREATE TABLE public.bare_expenses (LIKE expense.expenses INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
ALTER TABLE public.bare_expenses
  ADD FOREIGN KEY (org_id) REFERENCES expense.orgs,
  ADD FOREIGN KEY (org_id, user_id) REFERENCES iam.users (org_id, user_id),
  ADD FOREIGN KEY (org_id, category_id) REFERENCES expense.categories (org_id, category_id);
