-- expense_ops: expenses. Money as bigint minor units plus an ISO 4217 code, categories with
-- their policies, exchange rates, the expenses with their rules (C++, extension/pg/
-- expense_rules.cpp) and row-level security, and the views PostgREST serves over them, whose
-- INSTEAD OF triggers turn the API's decimal amounts into minor units. The workflow is in
-- workflow.sql, the audit trail in audit.sql.

-- ---------------------------------------------------------------------------------------------
-- Money and merchants, in C++ (extension/core/currency and merchant).

CREATE FUNCTION expense.to_minor_units(amount numeric, currency text) RETURNS bigint
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_to_minor_units';
COMMENT ON FUNCTION expense.to_minor_units(numeric, text) IS
  'An amount as minor units of its currency; refuses an unknown currency (22X01), more decimals than it has (22X03), amounts <= 0 (22X04) and absurd ones (22X05)';
CREATE FUNCTION expense.to_amount(minor_units bigint, currency text) RETURNS numeric
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_to_amount';
COMMENT ON FUNCTION expense.to_amount(bigint, text) IS
  'Minor units as a numeric with exactly the currency''s decimals: 1230 EUR is 12.30, 1500 JPY is 1500';
CREATE FUNCTION expense.currency_exponent(currency text) RETURNS integer
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_currency_exponent';
COMMENT ON FUNCTION expense.currency_exponent(text) IS 'Digits after the decimal point in the currency''s minor unit';

-- Duplicate detection folds case with ICU (NFKC case folding, invisible characters dropped,
-- spaces and punctuation collapsed), so Bäckerei Müller and BÄCKEREI MÜLLER are one merchant.
-- The index expense.expenses_duplicates is built on it: rebuild it after an upgrade of the ICU
-- library (see the README).
CREATE FUNCTION expense.normalize_merchant(merchant text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_normalize_merchant';
COMMENT ON FUNCTION expense.normalize_merchant(text) IS
  'A merchant name as duplicate detection compares it: ICU NFKC case folding, default-ignorable characters dropped, spaces and punctuation collapsed to single spaces. Depends on the ICU version: REINDEX INDEX expense.expenses_duplicates after an ICU upgrade';

-- A money amount an API caller gives for a limit or threshold: NULL stays NULL (no limit),
-- zero is allowed, and the rest is parsed exactly (22X02-22X05).
CREATE FUNCTION expense.limit_in_minor_units(field text, amount numeric, currency text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF amount IS NULL THEN
    RETURN NULL;
  ELSIF amount < 0 THEN
    RAISE EXCEPTION '%: % is negative', field, amount USING ERRCODE = expense.sqlstate('amount_not_positive'),
      HINT = 'Give zero or more, in the organisation''s base currency.';
  ELSIF amount = 0 THEN
    RETURN 0;
  END IF;
  RETURN expense.to_minor_units(amount, currency);
END
$$;
COMMENT ON FUNCTION expense.limit_in_minor_units(text, numeric, text) IS
  'A limit given as a decimal amount of currency, in minor units: NULL stays NULL, 0 is 0, negative is 22X04 naming the field';

-- ---------------------------------------------------------------------------------------------
-- The rules trigger caches organisations and categories per backend; a change to either must
-- reach every backend. This trigger sends the invalidation, delivered at commit.

CREATE FUNCTION expense.invalidate_policy_cache() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_invalidate_policy_cache';
COMMENT ON FUNCTION expense.invalidate_policy_cache() IS
  'AFTER change on expense.orgs or expense.categories: tells every backend to drop its cached policies';
CREATE TRIGGER policy_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON expense.orgs
  FOR EACH STATEMENT EXECUTE FUNCTION expense.invalidate_policy_cache();

-- ---------------------------------------------------------------------------------------------
-- Categories, each with its policy. Everyone in the organisation reads them; finance and admin
-- create and edit them (through api.categories). They are never deleted.

CREATE TABLE expense.categories (
  category_id       uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  org_id            uuid NOT NULL REFERENCES expense.orgs,
  name              text NOT NULL CHECK (btrim(name) <> ''),
  active            boolean NOT NULL DEFAULT true,
  per_item_limit    bigint CHECK (per_item_limit > 0),
  per_day_limit     bigint CHECK (per_day_limit > 0),
  receipt_threshold bigint NOT NULL DEFAULT 2500 CHECK (receipt_threshold >= 0),
  max_age_days      integer NOT NULL DEFAULT 90 CHECK (max_age_days BETWEEN 1 AND 3650),
  UNIQUE (org_id, category_id),
  UNIQUE (org_id, name)
);
COMMENT ON TABLE expense.categories IS 'Expense categories of an organisation, each with its policy';
COMMENT ON COLUMN expense.categories.category_id IS 'Key';
COMMENT ON COLUMN expense.categories.org_id IS 'The organisation';
COMMENT ON COLUMN expense.categories.name IS 'Name, unique within the organisation';
COMMENT ON COLUMN expense.categories.active IS 'New expenses may only use active categories';
COMMENT ON COLUMN expense.categories.per_item_limit IS 'Largest single expense, base-currency minor units; NULL for none';
COMMENT ON COLUMN expense.categories.per_day_limit IS 'Largest total per user and day, base-currency minor units; NULL for none';
COMMENT ON COLUMN expense.categories.receipt_threshold IS 'Above this base-currency amount a receipt is required before submission';
COMMENT ON COLUMN expense.categories.max_age_days IS 'Expenses older than this many days (in the organisation''s time zone) are refused';
CREATE TRIGGER policy_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON expense.categories
  FOR EACH STATEMENT EXECUTE FUNCTION expense.invalidate_policy_cache();

ALTER TABLE expense.categories ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON expense.categories FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()));
CREATE POLICY finance_and_admin_create ON expense.categories FOR INSERT TO expense_user
  WITH CHECK (iam.caller_has_role(org_id, 'finance', 'admin'));
CREATE POLICY finance_and_admin_edit ON expense.categories FOR UPDATE TO expense_user
  USING (iam.caller_has_role(org_id, 'finance', 'admin'))
  WITH CHECK (iam.caller_has_role(org_id, 'finance', 'admin'));
GRANT SELECT,
      INSERT (org_id, name, active, per_item_limit, per_day_limit, receipt_threshold, max_age_days),
      UPDATE (name, active, per_item_limit, per_day_limit, receipt_threshold, max_age_days)
  ON expense.categories TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- Exchange rates. Everyone in the organisation reads them; finance and admin record them.

CREATE TABLE expense.exchange_rates (
  org_id     uuid NOT NULL REFERENCES expense.orgs,
  currency   text NOT NULL CHECK (expense.is_currency(currency)),
  valid_from date NOT NULL,
  rate       numeric NOT NULL CHECK (rate > 0),
  PRIMARY KEY (org_id, currency, valid_from)
);
COMMENT ON TABLE expense.exchange_rates IS
  'Units of the organisation''s base currency per unit of currency, valid from valid_from until the next row';
COMMENT ON COLUMN expense.exchange_rates.org_id IS 'The organisation';
COMMENT ON COLUMN expense.exchange_rates.currency IS 'The foreign currency';
COMMENT ON COLUMN expense.exchange_rates.valid_from IS 'First day the rate applies';
COMMENT ON COLUMN expense.exchange_rates.rate IS 'Base-currency units per unit of currency';

ALTER TABLE expense.exchange_rates ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON expense.exchange_rates FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()));
CREATE POLICY finance_and_admin_create ON expense.exchange_rates FOR INSERT TO expense_user
  WITH CHECK (iam.caller_has_role(org_id, 'finance', 'admin'));
CREATE POLICY finance_and_admin_edit ON expense.exchange_rates FOR UPDATE TO expense_user
  USING (iam.caller_has_role(org_id, 'finance', 'admin'))
  WITH CHECK (iam.caller_has_role(org_id, 'finance', 'admin'));
CREATE POLICY finance_and_admin_delete ON expense.exchange_rates FOR DELETE TO expense_user
  USING (iam.caller_has_role(org_id, 'finance', 'admin'));
GRANT SELECT, INSERT (org_id, currency, valid_from, rate), UPDATE (currency, valid_from, rate), DELETE
  ON expense.exchange_rates TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- Expenses

CREATE TABLE expense.expenses (
  expense_id          uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  org_id              uuid NOT NULL REFERENCES expense.orgs,
  user_id             uuid NOT NULL,
  category_id         uuid NOT NULL,
  expense_date        date NOT NULL,
  merchant            text NOT NULL CHECK (btrim(merchant) <> '' AND length(merchant) <= 200),
  description         text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
  amount_minor        bigint NOT NULL,
  currency            text NOT NULL,
  receipt_ref         text CHECK (length(receipt_ref) <= 500),
  status              text NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'submitted', 'approved', 'reimbursed', 'rejected')),
  exchange_rate       numeric,
  base_amount_minor   bigint,
  submitted_at        timestamptz,
  first_approved_by   uuid,
  first_approved_at   timestamptz,
  second_approved_by  uuid,
  second_approved_at  timestamptz,
  rejected_by         uuid,
  rejection_reason    text,
  reimbursed_by       uuid,
  reimbursed_at       timestamptz,
  duplicate_of        uuid,
  duplicate_confirmed_at timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  amount              numeric NOT NULL,
  base_currency       text NOT NULL,
  FOREIGN KEY (org_id, user_id) REFERENCES iam.users (org_id, user_id),
  FOREIGN KEY (org_id, category_id) REFERENCES expense.categories (org_id, category_id),
  -- A blank receipt reference is no receipt: stored as NULL, so "receipt required" sees it.
  CONSTRAINT receipt_ref_not_blank CHECK (receipt_ref ~ '[^[:space:]]')
);
CREATE INDEX expenses_user ON expense.expenses (org_id, user_id, expense_date);
CREATE INDEX expenses_duplicates ON expense.expenses
  (org_id, user_id, expense_date, amount_minor, currency, expense.normalize_merchant(merchant));
COMMENT ON TABLE expense.expenses IS 'Expenses. Rules run in C++ (trigger expense_rules); api.expenses is the view PostgREST serves';
COMMENT ON COLUMN expense.expenses.expense_id IS 'Key';
COMMENT ON COLUMN expense.expenses.org_id IS 'The organisation (the owner''s)';
COMMENT ON COLUMN expense.expenses.user_id IS 'The owner, who spent the money';
COMMENT ON COLUMN expense.expenses.category_id IS 'Category, whose policy applies';
COMMENT ON COLUMN expense.expenses.expense_date IS 'When the money was spent; not in the future and not older than the policy allows';
COMMENT ON COLUMN expense.expenses.merchant IS 'Who was paid';
COMMENT ON COLUMN expense.expenses.description IS 'What for';
COMMENT ON COLUMN expense.expenses.amount_minor IS 'Amount in minor units of currency, above zero';
COMMENT ON COLUMN expense.expenses.currency IS 'ISO 4217 code';
COMMENT ON COLUMN expense.expenses.receipt_ref IS 'Reference to the receipt (a document id or URL)';
COMMENT ON COLUMN expense.expenses.status IS 'draft, submitted, approved, reimbursed or rejected';
COMMENT ON COLUMN expense.expenses.exchange_rate IS 'Rate frozen at submission';
COMMENT ON COLUMN expense.expenses.base_amount_minor IS 'Amount in base-currency minor units, frozen at submission';
COMMENT ON COLUMN expense.expenses.submitted_at IS 'When it was last submitted';
COMMENT ON COLUMN expense.expenses.first_approved_by IS 'Who approved it (first approver above the threshold)';
COMMENT ON COLUMN expense.expenses.first_approved_at IS 'When';
COMMENT ON COLUMN expense.expenses.second_approved_by IS 'Finance''s second approval, above the organisation''s threshold';
COMMENT ON COLUMN expense.expenses.second_approved_at IS 'When';
COMMENT ON COLUMN expense.expenses.rejected_by IS 'Who rejected it last';
COMMENT ON COLUMN expense.expenses.rejection_reason IS 'Why';
COMMENT ON COLUMN expense.expenses.reimbursed_by IS 'Who in finance reimbursed it';
COMMENT ON COLUMN expense.expenses.reimbursed_at IS 'When';
COMMENT ON COLUMN expense.expenses.duplicate_of IS 'Set when submission found a likely duplicate; the expense waits in draft';
COMMENT ON COLUMN expense.expenses.duplicate_confirmed_at IS 'When the owner confirmed it is not a duplicate (api.confirm_not_duplicate)';
COMMENT ON COLUMN expense.expenses.created_at IS 'When it was created';
COMMENT ON COLUMN expense.expenses.updated_at IS 'When it last changed';
COMMENT ON COLUMN expense.expenses.amount IS
  'amount_minor as the API shows it, with exactly the currency''s decimals. A write gives either; the trigger expense_rules keeps the other';
COMMENT ON COLUMN expense.expenses.base_currency IS
  'The organisation''s base currency, which base_amount_minor is in; kept by the trigger expense_rules';

CREATE FUNCTION expense.enforce_expense_rules() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_enforce_expense_rules';
COMMENT ON FUNCTION expense.enforce_expense_rules() IS
  'BEFORE INSERT OR UPDATE on expense.expenses: currency and amount (kept as both amount and amount_minor), date against today in the organisation''s time zone and the category''s maximum age, an active category of the same organisation, text limits (22001); fills in the owner''s organisation and its base currency, and refuses a tenant''s creation of someone else''s expense (42501) or of one not in draft (22X30)';
CREATE TRIGGER expense_rules BEFORE INSERT OR UPDATE ON expense.expenses
  FOR EACH ROW EXECUTE FUNCTION expense.enforce_expense_rules();

-- Row-level security: enforced in the database for every path, the API's view included. The
-- workflow columns are the workflow functions' alone: expense_user writes only the columns a
-- draft's owner edits; api.submit_expense and its siblings (SECURITY DEFINER) write the rest.
ALTER TABLE expense.expenses ENABLE ROW LEVEL SECURITY;
-- The caller's row is read as (iam.current_account()).field, a call of a function that reads
-- it once per transaction: a subquery over it would set up a function scan in every statement,
-- which costs a single-row write more than the check itself.
CREATE POLICY visible ON expense.expenses FOR SELECT TO expense_user
  USING (org_id = (iam.current_account()).org_id AND iam.can_see_expenses_of(user_id));
CREATE POLICY owner_creates_drafts ON expense.expenses FOR INSERT TO expense_user
  WITH CHECK (status = 'draft' AND user_id = (iam.current_account()).user_id
              AND org_id = (iam.current_account()).org_id);
CREATE POLICY owner_edits_drafts ON expense.expenses FOR UPDATE TO expense_user
  USING (user_id = (SELECT user_id FROM iam.current_account()) AND status = 'draft')
  WITH CHECK (status = 'draft' AND EXISTS (SELECT FROM iam.current_account() me
                                           WHERE me.user_id = expenses.user_id AND me.org_id = expenses.org_id));
CREATE POLICY owner_deletes_drafts ON expense.expenses FOR DELETE TO expense_user
  USING (user_id = (SELECT user_id FROM iam.current_account()) AND status = 'draft');
GRANT SELECT, DELETE ON expense.expenses TO expense_user;
-- status is granted for INSERT so that a creation in another status meets the rules trigger's
-- 22X30 rather than a bare "permission denied"; the policy above admits drafts only.
GRANT INSERT (org_id, user_id, category_id, expense_date, merchant, description, amount_minor, amount, currency,
              receipt_ref, status) ON expense.expenses TO expense_user;
GRANT UPDATE (category_id, expense_date, merchant, description, amount_minor, amount, currency, receipt_ref,
              updated_at)
  ON expense.expenses TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- api.expenses: what PostgREST serves as /expenses. It runs with the caller's rights, so the
-- policies above decide every row.
--
-- A creation goes straight into expense.expenses: the view is automatically updatable for
-- INSERT, and the rules trigger checks and completes the row (the single-row write path costs
-- one statement, not a trigger running a second). Edits and deletions go through the INSTEAD OF
-- trigger below, which explains a refused write instead of answering "200 []".
CREATE VIEW api.expenses WITH (security_invoker = true) AS
SELECT e.expense_id AS id, e.user_id, e.category_id, e.expense_date, e.merchant, e.description,
       e.amount, e.currency, expense.to_amount(e.base_amount_minor, e.base_currency) AS base_amount,
       e.base_currency, e.exchange_rate, e.receipt_ref, e.status, e.created_at, e.updated_at,
       e.rejection_reason
  FROM expense.expenses e;
ALTER VIEW api.expenses ALTER COLUMN user_id SET DEFAULT iam.current_user_id();
COMMENT ON VIEW api.expenses IS
$$Expenses (GET/POST/PATCH/DELETE /expenses; Accept: text/csv exports). Employees see and change their own, managers see their reports', finance and admin the whole organisation's. Only the owner edits or deletes, and only drafts; status changes go through api.submit_expense and its siblings.$$;
COMMENT ON COLUMN api.expenses.id IS 'Key';
COMMENT ON COLUMN api.expenses.user_id IS 'The owner; always the caller on creation';
COMMENT ON COLUMN api.expenses.category_id IS 'One of the organisation''s active categories';
COMMENT ON COLUMN api.expenses.expense_date IS 'When the money was spent: not in the future, not older than the category allows';
COMMENT ON COLUMN api.expenses.merchant IS 'Who was paid';
COMMENT ON COLUMN api.expenses.description IS 'What for';
COMMENT ON COLUMN api.expenses.amount IS 'Amount with exactly the currency''s decimals, above zero';
COMMENT ON COLUMN api.expenses.currency IS 'ISO 4217 code';
COMMENT ON COLUMN api.expenses.base_amount IS 'Amount in the base currency, frozen at submission';
COMMENT ON COLUMN api.expenses.base_currency IS 'The organisation''s base currency';
COMMENT ON COLUMN api.expenses.exchange_rate IS 'Rate frozen at submission';
COMMENT ON COLUMN api.expenses.receipt_ref IS 'Reference to the receipt';
COMMENT ON COLUMN api.expenses.status IS 'draft, submitted, approved, reimbursed or rejected';
COMMENT ON COLUMN api.expenses.created_at IS 'When it was created';
COMMENT ON COLUMN api.expenses.updated_at IS 'When it last changed';
COMMENT ON COLUMN api.expenses.rejection_reason IS
  'Why it was last rejected (read-only); cleared when it is submitted again';

-- The INSTEAD OF trigger sees only expenses the caller may see. When such a write then changes
-- nothing, a rule refused it, and PostgREST users deserve the rule's error, not "200 []".
CREATE FUNCTION expense.explain_refused_write(expense_id uuid, verb text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  refused record;
BEGIN
  SELECT e.user_id, e.status INTO refused FROM expense.expenses e WHERE e.expense_id = explain_refused_write.expense_id;
  IF NOT FOUND THEN
    RETURN;  -- gone meanwhile: nothing to explain
  END IF;
  IF refused.user_id IS DISTINCT FROM (SELECT user_id FROM iam.current_account()) THEN
    RAISE EXCEPTION 'only the owner may % an expense', verb USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Ask the owner; approvers act through api.approve_expense and api.reject_expense.';
  END IF;
  RAISE EXCEPTION 'status: only a draft can be %, this one is %',
    CASE verb WHEN 'edit' THEN 'edited' ELSE 'deleted' END, refused.status USING ERRCODE = expense.sqlstate('wrong_status'),
    HINT = CASE refused.status WHEN 'rejected' THEN 'Call api.reopen_expense to return it to draft first.'
                             ELSE 'Only drafts change; a submitted expense can be rejected and reopened.' END;
END
$$;
COMMENT ON FUNCTION expense.explain_refused_write(uuid, text) IS
  'Raises why a visible expense could not be edited or deleted: 42501 not the owner, PT409 not a draft';

-- Trigger functions trust nothing about their call site: any session allowed to execute one can
-- attach it to a table of its own. Each checks the relation it fires on (the C++ ones compare
-- OIDs and column types, extension/pg/trigger.cpp), and none is executable by PUBLIC.
CREATE FUNCTION api.write_expense() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  written expense.expenses;
BEGIN
  IF TG_RELID <> 'api.expenses'::regclass OR TG_WHEN <> 'INSTEAD OF' OR TG_OP NOT IN ('UPDATE', 'DELETE') THEN
    RAISE EXCEPTION 'api.write_expense() fires only INSTEAD OF UPDATE or DELETE on api.expenses, not on % (%)',
      TG_RELID::regclass, TG_OP USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF TG_OP = 'DELETE' THEN
    DELETE FROM expense.expenses WHERE expense_id = OLD.id RETURNING * INTO written;
    IF written.expense_id IS NULL THEN
      PERFORM expense.explain_refused_write(OLD.id, 'delete');
      RETURN NULL;
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
    RAISE EXCEPTION 'user_id: an expense belongs to the user who creates it' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Leave user_id out.';
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    RAISE EXCEPTION 'status: an expense changes status through its workflow functions' USING ERRCODE = expense.sqlstate('status_outside_workflow'),
      HINT = 'Call api.submit_expense, api.approve_expense, api.reject_expense or api.reimburse_expense.';
  END IF;
  IF NEW.rejection_reason IS DISTINCT FROM OLD.rejection_reason THEN
    RAISE EXCEPTION 'rejection_reason: it is written by api.reject_expense' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Leave rejection_reason out.';
  END IF;
  -- The rules trigger reads the amount in the currency, bounds and stores the text.
  UPDATE expense.expenses
     SET category_id = NEW.category_id, expense_date = NEW.expense_date, merchant = NEW.merchant,
         description = NEW.description, amount = NEW.amount, currency = NEW.currency,
         receipt_ref = NEW.receipt_ref, updated_at = now()
   WHERE expense_id = OLD.id
  RETURNING * INTO written;
  IF written.expense_id IS NULL THEN
    PERFORM expense.explain_refused_write(OLD.id, 'edit');
    RETURN NULL;
  END IF;
  NEW.id := written.expense_id;
  NEW.user_id := written.user_id;
  NEW.status := written.status;
  NEW.description := written.description;
  NEW.amount := written.amount;
  NEW.receipt_ref := written.receipt_ref;
  NEW.rejection_reason := written.rejection_reason;
  NEW.created_at := written.created_at;
  NEW.updated_at := written.updated_at;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION api.write_expense() IS
  'INSTEAD OF UPDATE or DELETE of api.expenses: writes expense.expenses as the caller, so row-level security and the rules apply, and explains a refused write (42501, PT409)';
CREATE TRIGGER write INSTEAD OF UPDATE OR DELETE ON api.expenses
  FOR EACH ROW EXECUTE FUNCTION api.write_expense();
GRANT SELECT, INSERT, UPDATE, DELETE ON api.expenses TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- The rest of the expense domain in the API: the organisation, its categories and exchange
-- rates. Each view runs with the caller's rights; row-level security decides what is visible and
-- who may write (finance and admin for categories and rates, admin for the organisation), and
-- INSTEAD OF triggers turn the API's decimal amounts into minor units.

CREATE VIEW api.categories WITH (security_invoker = true) AS
SELECT c.category_id AS id, c.name, c.active,
       expense.to_amount(c.per_item_limit, o.base_currency) AS per_item_limit,
       expense.to_amount(c.per_day_limit, o.base_currency) AS per_day_limit,
       expense.to_amount(c.receipt_threshold, o.base_currency) AS receipt_threshold,
       o.base_currency, c.max_age_days
  FROM expense.categories c
  JOIN expense.orgs o USING (org_id);
COMMENT ON VIEW api.categories IS
$$Expense categories of the caller's organisation with their policy (GET /categories: everyone in the organisation; POST and PATCH: finance and admin). Categories are never deleted: set active to false.$$;
COMMENT ON COLUMN api.categories.id IS 'The category_id of expenses';
COMMENT ON COLUMN api.categories.name IS 'Name, unique within the organisation (at most 100 characters)';
COMMENT ON COLUMN api.categories.active IS 'New expenses may only use active categories';
COMMENT ON COLUMN api.categories.per_item_limit IS 'Largest single expense in the base currency; NULL for none';
COMMENT ON COLUMN api.categories.per_day_limit IS 'Largest total per user and day in the base currency; NULL for none';
COMMENT ON COLUMN api.categories.receipt_threshold IS 'Above this amount in the base currency a receipt is required';
COMMENT ON COLUMN api.categories.base_currency IS 'The organisation''s base currency, which the amounts are in (read-only)';
COMMENT ON COLUMN api.categories.max_age_days IS 'Expenses older than this many days are refused (1 to 3650)';

CREATE FUNCTION api.write_category() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me record := iam.current_account();
  currency text;
  written expense.categories;
BEGIN
  IF TG_RELID <> 'api.categories'::regclass OR TG_WHEN <> 'INSTEAD OF' THEN
    RAISE EXCEPTION 'api.write_category() fires only INSTEAD OF writes on api.categories, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'categories are never deleted: expenses refer to them' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Set active to false; new expenses then cannot use it.';
  END IF;
  IF NOT iam.caller_has_role(me.org_id, 'finance', 'admin') THEN
    RAISE EXCEPTION 'only finance and admins manage categories' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Ask finance or an administrator.';
  END IF;
  SELECT o.base_currency INTO currency FROM expense.orgs o WHERE o.org_id = me.org_id;
  PERFORM expense.bounded_text('name', NEW.name, 100);
  IF TG_OP = 'INSERT' THEN
    INSERT INTO expense.categories (org_id, name, active, per_item_limit, per_day_limit, receipt_threshold,
                                    max_age_days)
    VALUES (me.org_id, btrim(NEW.name), coalesce(NEW.active, true),
            expense.limit_in_minor_units('per_item_limit', NEW.per_item_limit, currency),
            expense.limit_in_minor_units('per_day_limit', NEW.per_day_limit, currency),
            coalesce(expense.limit_in_minor_units('receipt_threshold', NEW.receipt_threshold, currency), 2500),
            coalesce(NEW.max_age_days, 90))
    RETURNING * INTO written;
  ELSE
    UPDATE expense.categories c
       SET name = btrim(NEW.name), active = NEW.active,
           per_item_limit = expense.limit_in_minor_units('per_item_limit', NEW.per_item_limit, currency),
           per_day_limit = expense.limit_in_minor_units('per_day_limit', NEW.per_day_limit, currency),
           receipt_threshold = expense.limit_in_minor_units('receipt_threshold', NEW.receipt_threshold, currency),
           max_age_days = NEW.max_age_days
     WHERE c.category_id = OLD.id
    RETURNING * INTO written;
    IF written.category_id IS NULL THEN
      RETURN NULL;
    END IF;
  END IF;
  NEW.id := written.category_id;
  NEW.name := written.name;
  NEW.active := written.active;
  NEW.base_currency := currency;
  NEW.per_item_limit := expense.to_amount(written.per_item_limit, currency);
  NEW.per_day_limit := expense.to_amount(written.per_day_limit, currency);
  NEW.receipt_threshold := expense.to_amount(written.receipt_threshold, currency);
  NEW.max_age_days := written.max_age_days;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION api.write_category() IS
  'INSTEAD OF trigger of api.categories: writes expense.categories as the caller (finance or admin), amounts in the base currency; refuses deletion (42501: deactivate instead)';
CREATE TRIGGER write INSTEAD OF INSERT OR UPDATE OR DELETE ON api.categories
  FOR EACH ROW EXECUTE FUNCTION api.write_category();
GRANT SELECT, INSERT, UPDATE, DELETE ON api.categories TO expense_user;

CREATE VIEW api.exchange_rates WITH (security_invoker = true) AS
SELECT r.currency, r.valid_from, r.rate, o.base_currency
  FROM expense.exchange_rates r
  JOIN expense.orgs o USING (org_id);
COMMENT ON VIEW api.exchange_rates IS
$$Exchange rates of the caller's organisation (GET /exchange_rates: everyone in the organisation; POST, PATCH and DELETE: finance and admin). Submission freezes the rate valid on the expense date, so a later change never touches submitted expenses.$$;
COMMENT ON COLUMN api.exchange_rates.currency IS 'The foreign currency (ISO 4217)';
COMMENT ON COLUMN api.exchange_rates.valid_from IS 'First day the rate applies; it holds until the next row of the currency';
COMMENT ON COLUMN api.exchange_rates.rate IS 'Units of the base currency per unit of currency, above zero';
COMMENT ON COLUMN api.exchange_rates.base_currency IS 'The organisation''s base currency (read-only)';

CREATE FUNCTION api.write_exchange_rate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me record := iam.current_account();
  written expense.exchange_rates;
BEGIN
  IF TG_RELID <> 'api.exchange_rates'::regclass OR TG_WHEN <> 'INSTEAD OF' THEN
    RAISE EXCEPTION 'api.write_exchange_rate() fires only INSTEAD OF writes on api.exchange_rates, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF NOT iam.caller_has_role(me.org_id, 'finance', 'admin') THEN
    RAISE EXCEPTION 'only finance and admins record exchange rates' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Ask finance.';
  END IF;
  IF TG_OP = 'DELETE' THEN
    DELETE FROM expense.exchange_rates r
     WHERE r.org_id = me.org_id AND r.currency = OLD.currency AND r.valid_from = OLD.valid_from
    RETURNING * INTO written;
    RETURN CASE WHEN written.org_id IS NULL THEN NULL ELSE OLD END;
  END IF;
  IF NEW.currency IS NULL OR NOT expense.is_currency(NEW.currency) THEN
    RAISE EXCEPTION 'currency: "%" is not an ISO 4217 currency code', NEW.currency USING ERRCODE = expense.sqlstate('unknown_currency'),
      HINT = 'Use an active three-letter code in upper case, such as USD.';
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO expense.exchange_rates (org_id, currency, valid_from, rate)
    VALUES (me.org_id, NEW.currency, NEW.valid_from, NEW.rate)
    RETURNING * INTO written;
  ELSE
    UPDATE expense.exchange_rates r SET currency = NEW.currency, valid_from = NEW.valid_from, rate = NEW.rate
     WHERE r.org_id = me.org_id AND r.currency = OLD.currency AND r.valid_from = OLD.valid_from
    RETURNING * INTO written;
    IF written.org_id IS NULL THEN
      RETURN NULL;
    END IF;
  END IF;
  NEW.base_currency := (SELECT o.base_currency FROM expense.orgs o WHERE o.org_id = me.org_id);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION api.write_exchange_rate() IS
  'INSTEAD OF trigger of api.exchange_rates: writes the caller''s organisation''s rates as the caller (finance or admin)';
CREATE TRIGGER write INSTEAD OF INSERT OR UPDATE OR DELETE ON api.exchange_rates
  FOR EACH ROW EXECUTE FUNCTION api.write_exchange_rate();
GRANT SELECT, INSERT, UPDATE, DELETE ON api.exchange_rates TO expense_user;

CREATE VIEW api.organisation WITH (security_invoker = true) AS
SELECT o.org_id AS id, o.name, o.base_currency, o.time_zone,
       expense.to_amount(o.second_approval_threshold, o.base_currency) AS second_approval_threshold, o.created_at
  FROM expense.orgs o;
COMMENT ON VIEW api.organisation IS
$$The caller's organisation (GET /organisation: everyone in it; PATCH: its admins may change name, time_zone and second_approval_threshold). The base currency is fixed: amounts and limits are kept in it.$$;
COMMENT ON COLUMN api.organisation.id IS 'The org_id: the org claim of its users'' tokens';
COMMENT ON COLUMN api.organisation.name IS 'Display name (at most 200 characters)';
COMMENT ON COLUMN api.organisation.base_currency IS 'ISO 4217 code that reports and limits are kept in (read-only)';
COMMENT ON COLUMN api.organisation.time_zone IS 'IANA time zone that dates such as "today" are judged in';
COMMENT ON COLUMN api.organisation.second_approval_threshold IS
  'Expenses above this amount in the base currency need a second approval, by finance';
COMMENT ON COLUMN api.organisation.created_at IS 'When the organisation was created (read-only)';

CREATE FUNCTION api.write_organisation() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  written expense.orgs;
BEGIN
  IF TG_RELID <> 'api.organisation'::regclass OR TG_WHEN <> 'INSTEAD OF' OR TG_OP <> 'UPDATE' THEN
    RAISE EXCEPTION 'api.write_organisation() fires only INSTEAD OF UPDATE on api.organisation, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF NOT iam.caller_has_role(OLD.id, 'admin') THEN
    RAISE EXCEPTION 'only an admin changes the organisation' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Ask an administrator.';
  END IF;
  IF (NEW.id, NEW.base_currency, NEW.created_at) IS DISTINCT FROM (OLD.id, OLD.base_currency, OLD.created_at) THEN
    RAISE EXCEPTION 'id, base_currency and created_at cannot change' USING ERRCODE = expense.sqlstate('wrong_status'),
      HINT = 'Amounts, limits and thresholds are kept in the base currency; change name, time_zone or second_approval_threshold.';
  END IF;
  IF NEW.time_zone IS NULL OR NOT expense.is_time_zone(NEW.time_zone) THEN
    RAISE EXCEPTION 'time_zone: "%" is not a time zone name', NEW.time_zone USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Use an IANA name, such as Europe/Berlin.';
  END IF;
  UPDATE expense.orgs o
     SET name = btrim(expense.bounded_text('name', NEW.name, 200)), time_zone = NEW.time_zone,
         second_approval_threshold = expense.to_minor_units(NEW.second_approval_threshold, o.base_currency)
   WHERE o.org_id = OLD.id
  RETURNING * INTO written;
  IF written.org_id IS NULL THEN
    RETURN NULL;
  END IF;
  NEW.name := written.name;
  NEW.second_approval_threshold := expense.to_amount(written.second_approval_threshold, written.base_currency);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION api.write_organisation() IS
  'INSTEAD OF trigger of api.organisation: an admin updates the name, time zone and second approval threshold';
CREATE TRIGGER write INSTEAD OF UPDATE ON api.organisation
  FOR EACH ROW EXECUTE FUNCTION api.write_organisation();
GRANT SELECT, UPDATE ON api.organisation TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- Reporting

CREATE FUNCTION api.expense_summary("from" date, "to" date)
RETURNS TABLE (month date, category text, base_currency text, expenses bigint, total numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF "from" IS NULL OR "to" IS NULL OR "from" > "to" THEN
    RAISE EXCEPTION 'from and to must be dates with from <= to, got % and %', "from", "to"
      USING ERRCODE = expense.sqlstate('invalid_parameter'), HINT = 'For example: from => ''2026-01-01'', to => ''2026-12-31''.';
  END IF;
  -- Runs with the caller's rights: row-level security limits it to the expenses they may see.
  RETURN QUERY
  SELECT date_trunc('month', e.expense_date)::date, c.name, o.base_currency, count(*),
         expense.to_amount(sum(e.base_amount_minor)::bigint, o.base_currency)
    FROM expense.expenses e
    JOIN expense.categories c USING (category_id)
    JOIN expense.orgs o ON o.org_id = e.org_id
   WHERE e.expense_date BETWEEN "from" AND "to"
     AND e.status IN ('submitted', 'approved', 'reimbursed')
   GROUP BY 1, 2, 3
   ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION api.expense_summary(date, date) IS
  'Totals of submitted, approved and reimbursed expenses per month and category, in the base currency, over the expenses the caller may see (GET /rpc/expense_summary?from=2026-01-01&to=2026-12-31)';

-- ---------------------------------------------------------------------------------------------
-- Privileges. Nothing here is executable by PUBLIC; expense_user gets the functions that the
-- views, the INSTEAD OF triggers and the duplicates index call with its rights. Base amounts
-- are computed by the SECURITY DEFINER workflow functions. (normalize_merchant stays granted:
-- the duplicates index on it is maintained with the writing role's rights.)

REVOKE ALL ON FUNCTION expense.to_minor_units(numeric, text), expense.to_amount(bigint, text),
  expense.currency_exponent(text), expense.normalize_merchant(text), expense.limit_in_minor_units(text, numeric, text),
  expense.invalidate_policy_cache(), expense.enforce_expense_rules(), expense.explain_refused_write(uuid, text),
  api.write_expense(), api.write_category(), api.write_exchange_rate(), api.write_organisation(),
  api.expense_summary(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expense.to_minor_units(numeric, text), expense.to_amount(bigint, text),
  expense.normalize_merchant(text), expense.limit_in_minor_units(text, numeric, text),
  expense.explain_refused_write(uuid, text), api.expense_summary(date, date) TO expense_user;

-- pg_dump leaves an extension's tables out unless they are marked as configuration.
SELECT pg_catalog.pg_extension_config_dump('expense.categories', '');
SELECT pg_catalog.pg_extension_config_dump('expense.exchange_rates', '');
SELECT pg_catalog.pg_extension_config_dump('expense.expenses', '');
