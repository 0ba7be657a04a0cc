-- expense_ops 0.3.0 -> 0.4.0: what the review found, closed.
--   * trigger functions refuse any relation but their own, and nothing internal is executable
--     by PUBLIC;
--   * tickets get a tenant boundary: staff are marked explicitly, tenants see and comment on
--     their own organisation's tickets only, and comments can be internal;
--   * logins cost one argon2id computation on every failing path, and the address throttle
--     trusts X-Forwarded-For only from configured proxies, counted under a lock;
--   * submissions are serialised per owner, so the daily limit and duplicate detection hold
--     under concurrency;
--   * SLA clocks read at a past instant, P3 release due dates and replication health tell
--     the truth;
--   * every text and array an API caller writes has a limit, named in its error.
\echo Use "ALTER EXTENSION expense_ops UPDATE TO '0.4.0'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Limits on what API callers write. A CHECK constraint would refuse too, but its message names
-- the constraint, not the limit; these name both the field and the limit (SQLSTATE 22001,
-- string_data_right_truncation: HTTP 400).

CREATE FUNCTION expense.bounded_text(field text, value text, max_characters integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF length(value) > max_characters THEN
    RAISE EXCEPTION '%: at most % characters, got %', field, max_characters, length(value)
      USING ERRCODE = '22001', HINT = format('Shorten %s to %s characters or fewer.', field, max_characters);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION expense.bounded_text(text, text, integer) IS
  'Returns value, or raises 22001 naming the field and its limit when it has more than max_characters characters';

CREATE FUNCTION ops.bounded_labels(labels text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  label text;
BEGIN
  IF cardinality(labels) > 20 THEN
    RAISE EXCEPTION 'labels: at most 20 labels, got %', cardinality(labels)
      USING ERRCODE = '22001', HINT = 'Keep the 20 labels that matter most.';
  END IF;
  FOREACH label IN ARRAY coalesce(labels, '{}') LOOP
    PERFORM expense.bounded_text('labels', label, 50);
  END LOOP;
  RETURN labels;
END
$$;
COMMENT ON FUNCTION ops.bounded_labels(text[]) IS
  'Returns labels, or raises 22001 for more than 20 labels or a label of more than 50 characters';

-- ---------------------------------------------------------------------------------------------
-- Trigger functions trust nothing about their call site: any session allowed to execute one can
-- attach it to a table of its own. Each checks the relation it fires on (the C++ ones compare
-- OIDs and column types, extension/pg/trigger.cpp), and none is executable by PUBLIC (see the
-- REVOKE at the end of this script).

CREATE OR REPLACE FUNCTION expense.record_expense_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  actor uuid := iam.current_user_id();
BEGIN
  -- SECURITY DEFINER writes the audit trail: on any other table it would let the caller forge
  -- events for any organisation.
  IF TG_RELID <> 'expense.expenses'::regclass OR TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'STATEMENT' THEN
    RAISE EXCEPTION 'expense.record_expense_events() fires only AFTER each statement on expense.expenses, not on %',
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO expense.expense_events (org_id, expense_id, owner_id, actor_id, action, to_status, changed_fields)
    SELECT n.org_id, n.expense_id, n.user_id, actor, 'create', n.status, '{}' FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO expense.expense_events (org_id, expense_id, owner_id, actor_id, action, from_status, changed_fields)
    SELECT o.org_id, o.expense_id, o.user_id, actor, 'delete', o.status, '{}' FROM old_rows o;
  ELSE
    INSERT INTO expense.expense_events (org_id, expense_id, owner_id, actor_id, action, from_status, to_status,
                                        changed_fields)
    SELECT n.org_id, n.expense_id, n.user_id, actor,
           CASE WHEN o.status IS DISTINCT FROM n.status THEN 'transition' ELSE 'edit' END,
           o.status, n.status, d.changes
      FROM old_rows o
      JOIN new_rows n USING (expense_id)
     CROSS JOIN LATERAL (
       SELECT jsonb_object_agg(key, jsonb_build_object('from', to_jsonb(o) -> key, 'to', to_jsonb(n) -> key)) AS changes
         FROM jsonb_object_keys(to_jsonb(n) - 'updated_at') key
        WHERE (to_jsonb(o) -> key) IS DISTINCT FROM (to_jsonb(n) -> key)) d
     WHERE d.changes IS NOT NULL;
  END IF;
  RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Expenses: the workflow columns are the workflow functions' alone. expense_user writes only the
-- columns a draft's owner edits; api.submit_expense and its siblings (SECURITY DEFINER) write
-- the rest.

REVOKE INSERT, UPDATE ON expense.expenses FROM expense_user;
GRANT INSERT (org_id, user_id, category_id, expense_date, merchant, description, amount_minor, currency,
              receipt_ref) ON expense.expenses TO expense_user;
GRANT UPDATE (category_id, expense_date, merchant, description, amount_minor, currency, receipt_ref, updated_at)
  ON expense.expenses TO expense_user;

-- A blank receipt reference is no receipt: stored as NULL, so "receipt required" sees it.
UPDATE expense.expenses SET receipt_ref = NULL WHERE receipt_ref !~ '[^[:space:]]';
ALTER TABLE expense.expenses
  ADD CONSTRAINT receipt_ref_not_blank CHECK (receipt_ref ~ '[^[:space:]]');

-- The rejection reason, for the owner to read (and everyone else who sees the expense).
CREATE OR REPLACE VIEW api.expenses WITH (security_invoker = true) AS
SELECT e.expense_id AS id, e.user_id, e.category_id, e.expense_date, e.merchant, e.description,
       expense.to_amount(e.amount_minor, e.currency) AS amount, e.currency,
       expense.to_amount(e.base_amount_minor, o.base_currency) AS base_amount,
       o.base_currency, e.exchange_rate, e.receipt_ref, e.status, e.created_at, e.updated_at,
       e.rejection_reason
  FROM expense.expenses e
  JOIN expense.orgs o USING (org_id);
COMMENT ON COLUMN api.expenses.rejection_reason IS
  'Why it was last rejected (read-only); cleared when it is submitted again';

CREATE OR REPLACE FUNCTION api.write_expense() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me record := iam.current_account();
  written expense.expenses;
  current_row record;
BEGIN
  IF TG_RELID <> 'api.expenses'::regclass OR TG_WHEN <> 'INSTEAD OF' THEN
    RAISE EXCEPTION 'api.write_expense() fires only INSTEAD OF writes on api.expenses, not on %',
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  IF TG_OP = 'DELETE' THEN
    DELETE FROM expense.expenses WHERE expense_id = OLD.id RETURNING * INTO written;
    IF written.expense_id IS NULL THEN
      PERFORM expense.explain_refused_write(OLD.id, 'delete');
      RETURN NULL;
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.user_id IS DISTINCT FROM me.user_id AND (TG_OP = 'INSERT' AND NEW.user_id IS NOT NULL
                                                  OR TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id) THEN
    RAISE EXCEPTION 'user_id: an expense belongs to the user who creates it' USING ERRCODE = '42501',
      HINT = 'Leave user_id out.';
  END IF;
  IF coalesce(NEW.status, 'draft') <> coalesce(CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, 'draft') THEN
    RAISE EXCEPTION 'status: an expense changes status through its workflow functions' USING ERRCODE = '22X30',
      HINT = 'Call api.submit_expense, api.approve_expense, api.reject_expense or api.reimburse_expense.';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.rejection_reason IS DISTINCT FROM OLD.rejection_reason THEN
    RAISE EXCEPTION 'rejection_reason: it is written by api.reject_expense' USING ERRCODE = '42501',
      HINT = 'Leave rejection_reason out.';
  END IF;
  PERFORM expense.bounded_text('merchant', NEW.merchant, 200), expense.bounded_text('description', NEW.description, 2000),
          expense.bounded_text('receipt_ref', NEW.receipt_ref, 500);
  IF TG_OP = 'INSERT' THEN
    INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant, description,
                                  amount_minor, currency, receipt_ref)
    VALUES (me.org_id, me.user_id, NEW.category_id, NEW.expense_date, NEW.merchant,
            coalesce(NEW.description, ''), expense.to_minor_units(NEW.amount, NEW.currency), NEW.currency,
            nullif(btrim(NEW.receipt_ref), ''))
    RETURNING * INTO written;
  ELSE
    UPDATE expense.expenses
       SET category_id = NEW.category_id, expense_date = NEW.expense_date, merchant = NEW.merchant,
           description = coalesce(NEW.description, ''),
           amount_minor = expense.to_minor_units(NEW.amount, NEW.currency), currency = NEW.currency,
           receipt_ref = nullif(btrim(NEW.receipt_ref), ''), updated_at = now()
     WHERE expense_id = OLD.id
    RETURNING * INTO written;
    IF written.expense_id IS NULL THEN
      PERFORM expense.explain_refused_write(OLD.id, 'edit');
      RETURN NULL;
    END IF;
  END IF;
  NEW.id := written.expense_id;
  NEW.user_id := written.user_id;
  NEW.status := written.status;
  NEW.amount := expense.to_amount(written.amount_minor, written.currency);
  NEW.receipt_ref := written.receipt_ref;
  NEW.rejection_reason := written.rejection_reason;
  NEW.created_at := written.created_at;
  NEW.updated_at := written.updated_at;
  RETURN NEW;
END
$$;

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
    RAISE EXCEPTION 'only the owner may % an expense', verb USING ERRCODE = '42501',
      HINT = 'Ask the owner; approvers act through api.approve_expense and api.reject_expense.';
  END IF;
  RAISE EXCEPTION 'status: only a draft can be %, this one is %',
    CASE verb WHEN 'edit' THEN 'edited' ELSE 'deleted' END, refused.status USING ERRCODE = 'PT409',
    HINT = CASE refused.status WHEN 'rejected' THEN 'Call api.reopen_expense to return it to draft first.'
                             ELSE 'Only drafts change; a submitted expense can be rejected and reopened.' END;
END
$$;
COMMENT ON FUNCTION expense.explain_refused_write(uuid, text) IS
  'Raises why a visible expense could not be edited or deleted: 42501 not the owner, PT409 not a draft';

-- Submission checks the day's total and looks for duplicates, then writes: a check-then-act
-- that two concurrent submissions of one owner would both pass. They are serialised per owner
-- with a transaction-level advisory lock taken before either check; the second submission then
-- reads the first one's committed row. Other owners never wait.
CREATE FUNCTION expense.serialise_owner(owner uuid) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_xact_lock(hashtext('expense_ops.expense_owner'), hashtext(owner::text));
$$;
COMMENT ON FUNCTION expense.serialise_owner(uuid) IS
  'Waits for, then holds until the end of the transaction, the lock that serialises one owner''s submissions';

CREATE OR REPLACE FUNCTION api.submit_expense(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
  org expense.orgs;
  category expense.categories;
  rate numeric;
  base_amount bigint;
  day_total bigint;
  duplicate uuid;
BEGIN
  PERFORM expense.apply_step(e, 'submit');
  PERFORM expense.serialise_owner(e.user_id);
  SELECT * INTO org FROM expense.orgs o WHERE o.org_id = e.org_id;
  SELECT * INTO category FROM expense.categories c WHERE c.category_id = e.category_id;

  IF e.currency = org.base_currency THEN
    rate := 1;
  ELSE
    SELECT r.rate INTO rate FROM expense.exchange_rates r
     WHERE r.org_id = e.org_id AND r.currency = e.currency AND r.valid_from <= e.expense_date
     ORDER BY r.valid_from DESC LIMIT 1;
    IF rate IS NULL THEN
      RAISE EXCEPTION 'currency: no exchange rate from % to % is valid on %', e.currency, org.base_currency,
        e.expense_date USING ERRCODE = '22X36',
        HINT = 'Ask finance to record the rate (POST /exchange_rates), then submit again.';
    END IF;
  END IF;
  base_amount := round(e.amount_minor * rate
                       * 10::numeric ^ (expense.currency_exponent(org.base_currency) - expense.currency_exponent(e.currency)));

  SELECT coalesce(sum(x.base_amount_minor), 0) INTO day_total FROM expense.expenses x
   WHERE x.org_id = e.org_id AND x.user_id = e.user_id AND x.category_id = e.category_id
     AND x.expense_date = e.expense_date AND x.expense_id <> e.expense_id
     AND x.status IN ('submitted', 'approved', 'reimbursed');
  PERFORM expense.check_submission(base_amount, org.base_currency, coalesce(e.receipt_ref ~ '[^[:space:]]', false),
                                   category.receipt_threshold, category.per_item_limit, day_total,
                                   category.per_day_limit);

  IF e.duplicate_confirmed_at IS NULL THEN
    SELECT x.expense_id INTO duplicate FROM expense.expenses x
     WHERE x.org_id = e.org_id AND x.user_id = e.user_id AND x.expense_date = e.expense_date
       AND x.amount_minor = e.amount_minor AND x.currency = e.currency
       AND expense.normalize_merchant(x.merchant) = expense.normalize_merchant(e.merchant)
       AND x.expense_id <> e.expense_id AND x.status IN ('submitted', 'approved', 'reimbursed')
     ORDER BY x.created_at LIMIT 1;
    IF duplicate IS NOT NULL THEN
      UPDATE expense.expenses x SET duplicate_of = duplicate WHERE x.expense_id = e.expense_id;
      -- Held, not refused: the flag must commit, so no exception (PostgREST would roll it back).
      PERFORM set_config('response.status', '409', true);
      RETURN jsonb_build_object('error', 'possible_duplicate', 'duplicate_of', duplicate,
        'message', 'this expense looks like one already claimed (same day, amount, currency and merchant)',
        'hint', 'If it is a different expense, call api.confirm_not_duplicate and submit again.');
    END IF;
  END IF;

  -- A resubmission starts its approvals afresh; the audit trail keeps the earlier ones.
  UPDATE expense.expenses x
     SET status = 'submitted', exchange_rate = rate, base_amount_minor = base_amount, submitted_at = now(),
         duplicate_of = NULL, first_approved_by = NULL, first_approved_at = NULL, second_approved_by = NULL,
         second_approved_at = NULL, rejected_by = NULL, rejection_reason = NULL, updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.submit_expense(uuid) IS
$$Submit a draft (POST /rpc/submit_expense, owner only). Freezes the exchange rate valid on the expense date and the base amount, then checks the receipt threshold, the per-item and per-day limits. A likely duplicate (same user, date, amount, currency and merchant) is held: HTTP 409 with duplicate_of, until api.confirm_not_duplicate. One owner's submissions are serialised, so concurrent ones cannot both pass a limit. Clears earlier approvals and the rejection reason.$$;

CREATE OR REPLACE FUNCTION api.reject_expense(id uuid, reason text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
BEGIN
  PERFORM expense.apply_step(e, 'reject', expense.bounded_text('reason', reason, 2000));
  UPDATE expense.expenses x
     SET status = 'rejected', rejected_by = (SELECT user_id FROM iam.current_account()),
         rejection_reason = btrim(reason), first_approved_by = NULL, first_approved_at = NULL, updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.reject_expense(uuid, text) IS
  'Reject a submitted expense with a reason (POST /rpc/reject_expense); whoever may approve it may reject it. Without a reason: 400 (22X32). The owner reads it in api.expenses.rejection_reason';

-- ---------------------------------------------------------------------------------------------
-- The rest of the expense domain in the API: the organisation, its categories and exchange
-- rates, and the audit trail. Each view runs with the caller's rights; row-level security decides
-- what is visible and who may write (finance and admin for categories and rates, admin for the
-- organisation), and INSTEAD OF triggers turn the API's decimal amounts into minor units.

-- A money amount an API caller gives for a limit or threshold: NULL stays NULL (no limit),
-- zero is allowed, and the rest is parsed exactly (22X02-22X05).
CREATE FUNCTION expense.limit_in_minor_units(field text, amount numeric, currency text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF amount IS NULL THEN
    RETURN NULL;
  ELSIF amount < 0 THEN
    RAISE EXCEPTION '%: % is negative', field, amount USING ERRCODE = '22X04',
      HINT = 'Give zero or more, in the organisation''s base currency.';
  ELSIF amount = 0 THEN
    RETURN 0;
  END IF;
  RETURN expense.to_minor_units(amount, currency);
END
$$;
COMMENT ON FUNCTION expense.limit_in_minor_units(text, numeric, text) IS
  'A limit given as a decimal amount of currency, in minor units: NULL stays NULL, 0 is 0, negative is 22X04 naming the field';

CREATE FUNCTION iam.caller_has_role(org_id uuid, VARIADIC roles text[]) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (SELECT FROM iam.current_account() me
                  WHERE me.org_id = caller_has_role.org_id AND me.role = ANY (roles));
END
$$;
COMMENT ON FUNCTION iam.caller_has_role(uuid, text[]) IS
  'Whether the calling user belongs to the organisation with one of the application roles (read from the user row)';

-- Categories.
CREATE POLICY finance_and_admin_create ON expense.categories FOR INSERT TO expense_user
  WITH CHECK (iam.caller_has_role(org_id, 'finance', 'admin'));
CREATE POLICY finance_and_admin_edit ON expense.categories FOR UPDATE TO expense_user
  USING (iam.caller_has_role(org_id, 'finance', 'admin'))
  WITH CHECK (iam.caller_has_role(org_id, 'finance', 'admin'));
GRANT INSERT (org_id, name, active, per_item_limit, per_day_limit, receipt_threshold, max_age_days),
      UPDATE (name, active, per_item_limit, per_day_limit, receipt_threshold, max_age_days)
  ON expense.categories TO expense_user;

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
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'categories are never deleted: expenses refer to them' USING ERRCODE = '42501',
      HINT = 'Set active to false; new expenses then cannot use it.';
  END IF;
  IF NOT iam.caller_has_role(me.org_id, 'finance', 'admin') THEN
    RAISE EXCEPTION 'only finance and admins manage categories' USING ERRCODE = '42501',
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

-- Exchange rates.
CREATE POLICY finance_and_admin_create ON expense.exchange_rates FOR INSERT TO expense_user
  WITH CHECK (iam.caller_has_role(org_id, 'finance', 'admin'));
CREATE POLICY finance_and_admin_edit ON expense.exchange_rates FOR UPDATE TO expense_user
  USING (iam.caller_has_role(org_id, 'finance', 'admin'))
  WITH CHECK (iam.caller_has_role(org_id, 'finance', 'admin'));
CREATE POLICY finance_and_admin_delete ON expense.exchange_rates FOR DELETE TO expense_user
  USING (iam.caller_has_role(org_id, 'finance', 'admin'));
GRANT INSERT (org_id, currency, valid_from, rate), UPDATE (currency, valid_from, rate), DELETE
  ON expense.exchange_rates TO expense_user;

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
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  IF NOT iam.caller_has_role(me.org_id, 'finance', 'admin') THEN
    RAISE EXCEPTION 'only finance and admins record exchange rates' USING ERRCODE = '42501',
      HINT = 'Ask finance.';
  END IF;
  IF TG_OP = 'DELETE' THEN
    DELETE FROM expense.exchange_rates r
     WHERE r.org_id = me.org_id AND r.currency = OLD.currency AND r.valid_from = OLD.valid_from
    RETURNING * INTO written;
    RETURN CASE WHEN written.org_id IS NULL THEN NULL ELSE OLD END;
  END IF;
  IF NEW.currency IS NULL OR NOT expense.is_currency(NEW.currency) THEN
    RAISE EXCEPTION 'currency: "%" is not an ISO 4217 currency code', NEW.currency USING ERRCODE = '22X01',
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

-- The organisation.
CREATE POLICY admin_edits ON expense.orgs FOR UPDATE TO expense_user
  USING (iam.caller_has_role(org_id, 'admin')) WITH CHECK (iam.caller_has_role(org_id, 'admin'));
GRANT UPDATE (name, time_zone, second_approval_threshold) ON expense.orgs TO expense_user;

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
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  IF NOT iam.caller_has_role(OLD.id, 'admin') THEN
    RAISE EXCEPTION 'only an admin changes the organisation' USING ERRCODE = '42501',
      HINT = 'Ask an administrator.';
  END IF;
  IF (NEW.id, NEW.base_currency, NEW.created_at) IS DISTINCT FROM (OLD.id, OLD.base_currency, OLD.created_at) THEN
    RAISE EXCEPTION 'id, base_currency and created_at cannot change' USING ERRCODE = 'PT409',
      HINT = 'Amounts, limits and thresholds are kept in the base currency; change name, time_zone or second_approval_threshold.';
  END IF;
  IF NEW.time_zone IS NULL OR NOT expense.is_time_zone(NEW.time_zone) THEN
    RAISE EXCEPTION 'time_zone: "%" is not a time zone name', NEW.time_zone USING ERRCODE = '22023',
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

-- The audit trail, read-only: the same events the caller's expenses show.
CREATE VIEW api.expense_events WITH (security_invoker = true) AS
SELECT ev.event_id, ev.expense_id, ev.owner_id, ev.actor_id, ev.at, ev.action, ev.from_status, ev.to_status,
       ev.changed_fields
  FROM expense.expense_events ev;
COMMENT ON VIEW api.expense_events IS
$$The audit trail (GET /expense_events?expense_id=eq.…): every create, edit, delete and transition of the expenses the caller may see, oldest first by event_id. Read-only; nobody can change it.$$;
COMMENT ON COLUMN api.expense_events.event_id IS 'Order of events';
COMMENT ON COLUMN api.expense_events.expense_id IS 'The expense (kept after a draft is deleted)';
COMMENT ON COLUMN api.expense_events.owner_id IS 'The expense''s owner';
COMMENT ON COLUMN api.expense_events.actor_id IS 'Who made the change; NULL for a database session without a user';
COMMENT ON COLUMN api.expense_events.at IS 'When';
COMMENT ON COLUMN api.expense_events.action IS 'create, edit, delete or transition';
COMMENT ON COLUMN api.expense_events.from_status IS 'Status before';
COMMENT ON COLUMN api.expense_events.to_status IS 'Status after';
COMMENT ON COLUMN api.expense_events.changed_fields IS 'Each changed column with its old and new value';
GRANT SELECT ON api.expense_events TO expense_user;

-- Duplicate detection now folds case with ICU (NFKC case folding, invisible characters dropped,
-- spaces and punctuation collapsed), so Bäckerei Müller and BÄCKEREI MÜLLER are one merchant.
-- The function's results changed under the same name, so the index built on it is rebuilt; the
-- same is needed after an upgrade of the ICU library (see the README).
COMMENT ON FUNCTION expense.normalize_merchant(text) IS
  'A merchant name as duplicate detection compares it: ICU NFKC case folding, default-ignorable characters dropped, spaces and punctuation collapsed to single spaces. Depends on the ICU version: REINDEX INDEX expense.expenses_duplicates after an ICU upgrade';
REINDEX INDEX expense.expenses_duplicates;

CREATE FUNCTION expense.currency_table_edition() RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_currency_table_edition';
COMMENT ON FUNCTION expense.currency_table_edition() IS
  'The ISO 4217 edition the compiled-in currency table follows, and its source';
COMMENT ON FUNCTION expense.is_currency(text) IS
  'True for an ISO 4217 currency code (upper case) that the compiled-in table accepts: see expense.currency_table_edition()';

-- ---------------------------------------------------------------------------------------------
-- Identity: bounded inputs.

-- Rows written before a limit existed may exceed it, and are kept: each new limit is added NOT
-- VALID, which holds every new write to it, and validated at the end of this script where the
-- data allows (see there).
ALTER TABLE iam.users
  ADD CONSTRAINT email_length CHECK (length(email) <= 320) NOT VALID,
  ADD CONSTRAINT display_name_length CHECK (length(display_name) <= 200) NOT VALID;

-- Invitations no longer create the user: the row appears when the invitation is accepted. An
-- admin inviting an address that already has an account in another organisation must learn
-- nothing from the answer, and with emails unique across organisations a user row made at
-- invitation time would have told them (409). So the invitation holds the future user, and its
-- user_id is reserved for it.
ALTER TABLE iam.invitations
  DROP CONSTRAINT invitations_user_id_fkey,
  ADD COLUMN org_id uuid REFERENCES expense.orgs,
  ADD COLUMN email text,
  ADD COLUMN display_name text,
  ADD COLUMN role text,
  ADD COLUMN manager_id uuid;
UPDATE iam.invitations i
   SET org_id = u.org_id, email = u.email, display_name = u.display_name, role = u.role, manager_id = u.manager_id
  FROM iam.users u
 WHERE u.user_id = i.user_id;
ALTER TABLE iam.invitations
  ALTER COLUMN org_id SET NOT NULL,
  ALTER COLUMN email SET NOT NULL,
  ALTER COLUMN display_name SET NOT NULL,
  ALTER COLUMN role SET NOT NULL;
CREATE INDEX invitations_pending_email ON iam.invitations (org_id, lower(email)) WHERE accepted_at IS NULL;
COMMENT ON TABLE iam.invitations IS
  'Invitations to join an organisation: the user row is created when the invitation is accepted. The code''s secret is kept only as an argon2id hash';
COMMENT ON COLUMN iam.invitations.user_id IS 'The user_id the invitee gets on acceptance (reserved at invitation)';
COMMENT ON COLUMN iam.invitations.org_id IS 'The inviting organisation';
COMMENT ON COLUMN iam.invitations.email IS 'The invitee''s email, their login name once accepted';
COMMENT ON COLUMN iam.invitations.display_name IS 'The invitee''s display name';
COMMENT ON COLUMN iam.invitations.role IS 'The application role the invitee gets';
COMMENT ON COLUMN iam.invitations.manager_id IS 'The invitee''s manager, from the same organisation';

CREATE OR REPLACE FUNCTION api.create_user(email text, display_name text, role text DEFAULT 'employee',
                                           manager_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users := iam.require_admin();
  secret text := rtrim(translate(encode(iam.random_bytes(24), 'base64'), '+/', '-_'), '=');
  invitee_email text := btrim(expense.bounded_text('email', email, 320));
  invitee_name text := btrim(expense.bounded_text('display_name', display_name, 200));
  invitation iam.invitations;
BEGIN
  IF invitee_email IS NULL OR invitee_email !~ '^[^@\s]+@[^@\s]+$' THEN
    RAISE EXCEPTION 'email: "%" is not an email address', invitee_email USING ERRCODE = '23514',
      HINT = 'Give an address such as jane@example.com.';
  END IF;
  IF invitee_name IS NULL OR invitee_name = '' THEN
    RAISE EXCEPTION 'display_name: a name is required' USING ERRCODE = '23514', HINT = 'Give the name others see.';
  END IF;
  IF role IS NULL OR role NOT IN ('employee', 'manager', 'finance', 'support', 'admin') THEN
    RAISE EXCEPTION 'role: "%" is not an application role', role USING ERRCODE = '23514',
      HINT = 'Use employee, manager, finance, support or admin.';
  END IF;
  IF manager_id IS NOT NULL THEN
    PERFORM iam.user_of_org(manager_id, me.org_id);
  END IF;
  -- Only the admin's own organisation is looked at: whether the address has an account
  -- elsewhere stays unknown to them.
  IF EXISTS (SELECT FROM iam.users u WHERE u.org_id = me.org_id AND lower(u.email) = lower(invitee_email))
     OR EXISTS (SELECT FROM iam.invitations i
                 WHERE i.org_id = me.org_id AND lower(i.email) = lower(invitee_email)
                   AND i.accepted_at IS NULL AND i.expires_at > now()) THEN
    RAISE EXCEPTION 'email: % already has an account or a pending invitation in your organisation', invitee_email
      USING ERRCODE = '23505', HINT = 'Use that account, or wait until the invitation expires.';
  END IF;
  INSERT INTO iam.invitations (user_id, org_id, email, display_name, role, manager_id, secret_hash, created_by)
  VALUES (gen_random_uuid(), me.org_id, invitee_email, invitee_name, role, manager_id, iam.rehash_password(secret),
          me.user_id)
  RETURNING * INTO invitation;
  RETURN jsonb_build_object('user_id', invitation.user_id, 'email', invitation.email, 'role', invitation.role,
                            'invitation_code', invitation.invitation_id || '.' || secret,
                            'invitation_expires_at', invitation.expires_at);
END
$$;
COMMENT ON FUNCTION api.create_user(text, text, text, uuid) IS
  'Admins invite a user into their organisation (POST /rpc/create_user). Returns the user_id the user will have and a one-time invitation_code, valid 7 days, which api.accept_invitation exchanges for the account and a first password. 409 only when the email is taken in the admin''s own organisation';

CREATE OR REPLACE FUNCTION api.accept_invitation(code text, password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  invitation iam.invitations;
  invitee iam.users;
BEGIN
  BEGIN
    SELECT * INTO invitation FROM iam.invitations i
     WHERE i.invitation_id = split_part(expense.bounded_text('code', code, 200), '.', 1)::uuid FOR UPDATE;
  EXCEPTION WHEN invalid_text_representation THEN
    invitation := NULL;
  END;
  IF invitation.invitation_id IS NULL OR invitation.accepted_at IS NOT NULL OR invitation.expires_at < now()
     OR iam.verify_password(split_part(code, '.', 2), invitation.secret_hash) = 'mismatch' THEN
    RAISE EXCEPTION 'code: the invitation code is wrong, used or expired' USING ERRCODE = '28P01',
      HINT = 'Ask your administrator for a new invitation.';
  END IF;
  SELECT * INTO invitee FROM iam.users u WHERE u.user_id = invitation.user_id FOR UPDATE;
  IF invitee.user_id IS NOT NULL THEN
    -- Invited before 0.4.0, when the user row came first. A first password leaves
    -- password_changed_at alone: no earlier token exists to end.
    UPDATE iam.users u SET password_hash = iam.hash_password(password)
     WHERE u.user_id = invitation.user_id RETURNING * INTO invitee;
  ELSE
    BEGIN
      INSERT INTO iam.users (user_id, org_id, email, display_name, role, manager_id, password_hash)
      VALUES (invitation.user_id, invitation.org_id, invitation.email, invitation.display_name, invitation.role,
              (SELECT u.user_id FROM iam.users u
                WHERE u.user_id = invitation.manager_id AND u.org_id = invitation.org_id),
              iam.hash_password(password))
      RETURNING * INTO invitee;
    EXCEPTION WHEN unique_violation THEN
      RAISE EXCEPTION 'email: % already has an account', invitation.email USING ERRCODE = '23505',
        HINT = 'Log in with that account, or ask your administrator to invite another address.';
    END;
  END IF;
  UPDATE iam.invitations i SET accepted_at = now() WHERE i.invitation_id = invitation.invitation_id;
  RETURN jsonb_build_object('user_id', invitee.user_id, 'email', invitee.email);
END
$$;
COMMENT ON FUNCTION api.accept_invitation(text, text) IS
  'Creates the invited account with its first password (POST /rpc/accept_invitation); the code works once. Then log in with api.login';

-- The kid of a token is checked on every request, so a retired key stops working at once,
-- without waiting for PostgREST to reload its jwt-secret.
CREATE FUNCTION iam.bearer_token_kid(headers jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  token text := substring(headers->>'authorization' FROM '^[Bb]earer +([A-Za-z0-9_.-]+) *$');
  header_segment text := split_part(token, '.', 1);
BEGIN
  IF token IS NULL THEN
    RETURN NULL;
  END IF;
  header_segment := translate(header_segment, '-_', '+/');
  header_segment := header_segment || repeat('=', (4 - length(header_segment) % 4) % 4);
  RETURN coalesce(convert_from(decode(header_segment, 'base64'), 'UTF8')::jsonb->>'kid', '');
EXCEPTION WHEN OTHERS THEN
  RETURN '';  -- a header that does not decode names no key: refused as unknown
END
$$;
COMMENT ON FUNCTION iam.bearer_token_kid(jsonb) IS
  'The kid in the JOSE header of the Authorization bearer token of request.headers; NULL without a bearer token, '''' when it names none';

CREATE OR REPLACE FUNCTION api.pre_request() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  token_kid text;
  account record;
BEGIN
  BEGIN
    token_kid := iam.bearer_token_kid(nullif(current_setting('request.headers', true), '')::jsonb);
  EXCEPTION WHEN invalid_text_representation THEN
    token_kid := NULL;  -- request.headers is PostgREST's own JSON; anything else carries no token
  END;
  IF token_kid IS NOT NULL
     AND NOT EXISTS (SELECT FROM iam.signing_keys k WHERE k.kid = token_kid AND k.retired_at IS NULL) THEN
    RAISE EXCEPTION 'token signed with a retired or unknown key' USING ERRCODE = 'PT401', HINT = 'Log in again.';
  END IF;
  IF claims->>'sub' IS NULL THEN
    RETURN;  -- anonymous
  END IF;
  IF EXISTS (SELECT FROM iam.revoked_tokens WHERE jti = (claims->>'jti')::uuid) THEN
    RAISE EXCEPTION 'token revoked' USING ERRCODE = 'PT401', HINT = 'Log in again.';
  END IF;
  SELECT u.disabled_at, u.password_changed_at INTO account
    FROM iam.users u WHERE u.user_id = (claims->>'sub')::uuid;
  IF NOT FOUND OR account.disabled_at IS NOT NULL THEN
    RAISE EXCEPTION 'account disabled' USING ERRCODE = 'PT401', HINT = 'Ask an administrator.';
  END IF;
  -- iat has whole seconds; against the exact change instant, every token issued before the
  -- change is refused (and one issued later within the same second too: log in again).
  IF account.password_changed_at IS NOT NULL
     AND (claims->>'iat')::numeric < extract(epoch FROM account.password_changed_at) THEN
    RAISE EXCEPTION 'token issued before the last password change' USING ERRCODE = 'PT401',
      HINT = 'Log in again with the new password.';
  END IF;
END
$$;
COMMENT ON FUNCTION api.pre_request() IS
  'PostgREST''s db-pre-request: refuses (HTTP 401) tokens signed with a retired key (read from the Authorization header), revoked tokens, disabled users and tokens issued before the user''s last password change';

-- ---------------------------------------------------------------------------------------------
-- Tickets get a tenant boundary, as help desks have one (Zendesk, Jira Service Management):
--   * the operator's staff, marked explicitly, work every tenant's tickets. A tenant's own
--     admin is not staff, and neither is a tenant user whose app role is support;
--   * every ticket carries the organisation it concerns; operator-internal ones carry none;
--   * tenant users open support tickets and bug reports for their own organisation, with a
--     requested priority that staff confirm at triage (a tenant cannot page anyone), read their
--     organisation's tickets, and add public comments. Nothing else;
--   * comments are public or internal; tenants never see internal ones;
--   * a tenant admin sees the reports and counts of their organisation only.

ALTER TABLE iam.users ADD COLUMN is_staff boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN iam.users.is_staff IS
  'The operator''s staff (support agents, on-call engineers), who work every tenant''s tickets. Set only by expense_ops_admin with iam.set_staff(); a tenant''s own admin is not staff';
GRANT SELECT (is_staff) ON iam.users TO expense_ops_admin;

CREATE FUNCTION iam.set_staff(user_id uuid, is_staff boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE iam.users u SET is_staff = coalesce(set_staff.is_staff, false) WHERE u.user_id = set_staff.user_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'user_id: no user %', user_id USING ERRCODE = 'PT404';
  END IF;
END
$$;
COMMENT ON FUNCTION iam.set_staff(uuid, boolean) IS
  'Marks a user as the operator''s staff, or not (expense_ops_admin only, in psql): staff work every tenant''s tickets through the API';

ALTER TABLE ops.tickets
  ADD COLUMN requested_priority text CHECK (requested_priority IN ('P0', 'P1', 'P2', 'P3')),
  ADD COLUMN triaged_at timestamptz,
  ADD CONSTRAINT reporter_length CHECK (length(reporter) <= 320) NOT VALID,
  ADD CONSTRAINT assignee_length CHECK (length(assignee) <= 320) NOT VALID,
  ADD CONSTRAINT labels_bounded CHECK (cardinality(labels) <= 20) NOT VALID,
  ADD CONSTRAINT affected_release_length CHECK (length(affected_release) <= 50) NOT VALID,
  ADD CONSTRAINT tier_actions_length CHECK (length(workaround) <= 20000 AND length(root_cause) <= 20000
                                            AND length(postmortem_url) <= 2000) NOT VALID;
COMMENT ON COLUMN ops.tickets.requested_priority IS
  'The priority a tenant asked for when opening the ticket; NULL for tickets opened by staff. Until staff triage it, the ticket runs at that priority, P0 taken as P1, and pages nobody';
COMMENT ON COLUMN ops.tickets.triaged_at IS
  'When staff confirmed (or changed) the priority of a tenant''s ticket; must_page waits for it';
COMMENT ON COLUMN ops.tickets.org_id IS
  'The customer organisation it concerns, whose users see it; NULL for operator-internal tickets, which only staff see';

ALTER TABLE ops.ticket_events
  ADD COLUMN visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'internal')),
  DROP CONSTRAINT ticket_events_action_check,
  ADD CONSTRAINT ticket_events_action_check
    CHECK (action IN ('open', 'status', 'priority', 'triage', 'assignment', 'comment', 'pause', 'resume', 'edit'));
COMMENT ON COLUMN ops.ticket_events.visibility IS
  'public, or internal: a staff-only comment that the ticket''s organisation never sees';
COMMENT ON COLUMN ops.ticket_events.action IS
  'open, status, priority, triage (staff confirmed a tenant''s priority), assignment, comment, pause, resume or edit';

-- Staff: users marked is_staff through the API, and database roles granted expense_ops_admin in
-- psql (with no application user).
CREATE OR REPLACE FUNCTION ops.is_support_staff() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  -- The caller's database role, which SECURITY DEFINER hides from current_user: the role set
  -- for the transaction (PostgREST), else the session's login role (psql).
  caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text ELSE current_setting('role') END;
  calling_user uuid := iam.current_user_id();
BEGIN
  IF calling_user IS NOT NULL THEN
    RETURN coalesce((SELECT u.is_staff FROM iam.users u WHERE u.user_id = calling_user AND u.disabled_at IS NULL),
                    false);
  END IF;
  RETURN pg_has_role(caller, 'expense_ops_admin', 'MEMBER');
END
$$;
COMMENT ON FUNCTION ops.is_support_staff() IS
  'Whether the caller is the operator''s staff: a user marked is_staff (API), or a database role granted expense_ops_admin (psql)';

CREATE OR REPLACE FUNCTION ops.require_support_staff() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT ops.is_support_staff() THEN
    RAISE EXCEPTION 'only the operator''s staff work on tickets' USING ERRCODE = '42501',
      HINT = 'Tenant users open support tickets and bug reports, read their organisation''s tickets and comment on them.';
  END IF;
END
$$;

-- A ticket the caller may see: any, for staff; their own organisation's, for tenant users.
-- Everything else answers 404, as a missing ticket does.
CREATE FUNCTION ops.visible_ticket(ticket_id bigint, lock boolean) RETURNS ops.tickets
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found_ticket ops.tickets;
BEGIN
  IF lock THEN
    SELECT * INTO found_ticket FROM ops.tickets t WHERE t.ticket_id = visible_ticket.ticket_id FOR UPDATE;
  ELSE
    SELECT * INTO found_ticket FROM ops.tickets t WHERE t.ticket_id = visible_ticket.ticket_id;
  END IF;
  IF found_ticket.ticket_id IS NULL
     OR NOT (ops.is_support_staff()
             OR found_ticket.org_id IS NOT DISTINCT FROM (SELECT org_id FROM iam.current_account())
                AND found_ticket.org_id IS NOT NULL) THEN
    RAISE EXCEPTION 'ticket_id: no ticket % is visible to you', visible_ticket.ticket_id USING ERRCODE = 'PT404',
      HINT = 'List the tickets you may see on api.tickets.';
  END IF;
  RETURN found_ticket;
END
$$;
COMMENT ON FUNCTION ops.visible_ticket(bigint, boolean) IS
  'A ticket the caller may see (staff: any; tenant users: their organisation''s), optionally locked; 404 otherwise';

CREATE OR REPLACE FUNCTION ops.ticket_for_update(ticket_id bigint) RETURNS ops.tickets
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.require_support_staff();
  RETURN ops.visible_ticket(ticket_id, true);
END
$$;
COMMENT ON FUNCTION ops.ticket_for_update(bigint) IS 'Locks and returns a ticket for a staff caller (42501 for others); 404 when there is none';

-- The due times. A P3's "next release" is the earliest release planned after the ticket opened
-- that had not shipped when it opened: shipping it later does not move the due time, so a P3
-- that missed its release stays breached.
CREATE OR REPLACE FUNCTION ops.compute_ticket_sla(ticket ops.tickets) RETURNS ops.tickets
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  policy ops.sla_policies;
  fallback interval;
  release_at timestamptz;
  resolution_target interval;
  response_pauses tstzmultirange;
  resolution_pauses tstzmultirange;
BEGIN
  SELECT * INTO STRICT policy FROM ops.sla_policies WHERE priority = ticket.priority;
  -- A stopped clock ignores pauses after its stop; none can start then, but a reopen can.
  response_pauses := ticket.paused_during
    * tstzmultirange(tstzrange(NULL, ticket.first_response_at));
  resolution_pauses := ticket.paused_during
    * tstzmultirange(tstzrange(NULL, ticket.resolved_at));
  resolution_target := policy.resolution_target;
  ticket.resolution_due_is_fallback := false;
  IF resolution_target IS NULL THEN
    SELECT min(r.planned_for) INTO release_at FROM ops.releases r
     WHERE r.planned_for > ticket.opened_at AND (r.released_at IS NULL OR r.released_at > ticket.opened_at);
    IF release_at IS NULL THEN
      SELECT s.next_release_fallback INTO fallback FROM ops.sla_settings s;
      resolution_target := fallback;
      ticket.resolution_due_is_fallback := true;
    ELSE
      resolution_target := ops.business_time(policy.calendar_id, ticket.opened_at, release_at);
    END IF;
  END IF;
  -- A tenant's ticket pages nobody until staff have confirmed its priority.
  ticket.must_page := policy.pages_on_open AND (ticket.requested_priority IS NULL OR ticket.triaged_at IS NOT NULL);
  ticket.sla_calendar_id := policy.calendar_id;
  ticket.response_target := policy.response_target;
  ticket.resolution_target := resolution_target;
  ticket.at_risk_fraction := policy.at_risk_fraction;
  ticket.response_due_at := ops.clock_due(policy.calendar_id, ticket.opened_at, policy.response_target, response_pauses);
  ticket.response_at_risk_at := ops.clock_due(policy.calendar_id, ticket.opened_at,
                                              policy.response_target * policy.at_risk_fraction, response_pauses);
  ticket.resolution_due_at := ops.clock_due(policy.calendar_id, ticket.opened_at, resolution_target, resolution_pauses);
  ticket.resolution_at_risk_at := ops.clock_due(policy.calendar_id, ticket.opened_at,
                                                resolution_target * policy.at_risk_fraction, resolution_pauses);
  ticket.sla_computed_at := now();
  RETURN ticket;
END
$$;
COMMENT ON FUNCTION ops.compute_ticket_sla(ops.tickets) IS
  'The ticket with its due and at-risk instants computed from the open time, its policy, calendar, the release calendar (the first release planned after it opened and unshipped then) and its pauses';

CREATE OR REPLACE FUNCTION ops.apply_ticket_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  moment timestamptz := now();
  to_phase text;
  was_paused boolean;
  is_paused boolean;
  unchanged ops.tickets;
BEGIN
  IF TG_RELID <> 'ops.tickets'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.apply_ticket_rules() fires only BEFORE each row of ops.tickets, not on %',
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  NEW.priority := ops.check_priority(NEW.priority);
  IF TG_OP = 'INSERT' THEN
    IF NEW.state IS NULL THEN
      NEW.state := ops.ticket_initial_state(NEW.kind);
    ELSIF NEW.state <> ops.ticket_initial_state(NEW.kind) THEN
      PERFORM ops.ticket_phase(NEW.kind, NEW.state);  -- an unknown state: 22X52
      RAISE EXCEPTION 'state: a new % ticket starts in "%", not "%"', NEW.kind,
        ops.ticket_initial_state(NEW.kind), NEW.state
        USING ERRCODE = '22X53', HINT = 'Open it without a state, then move it along its lifecycle.';
    END IF;
    IF NEW.first_response_at IS NOT NULL OR NEW.resolved_at IS NOT NULL OR NEW.closed_at IS NOT NULL
       OR NEW.paused_during <> '{}' THEN
      RAISE EXCEPTION 'first_response_at, resolved_at, closed_at and paused_during follow the lifecycle'
        USING ERRCODE = '22X53', HINT = 'Leave them out; moving the ticket sets them.';
    END IF;
  ELSE
    IF NEW.kind <> OLD.kind THEN
      RAISE EXCEPTION 'kind: a ticket''s kind cannot change (% to %)', OLD.kind, NEW.kind
        USING ERRCODE = '22X53', HINT = 'Close it and open a ticket of the other kind.';
    END IF;
    IF (NEW.resolved_at, NEW.closed_at, NEW.paused_during) IS DISTINCT FROM
       (OLD.resolved_at, OLD.closed_at, OLD.paused_during)
       OR NEW.first_response_at IS DISTINCT FROM OLD.first_response_at AND OLD.first_response_at IS NOT NULL THEN
      RAISE EXCEPTION 'first_response_at, resolved_at, closed_at and paused_during follow the lifecycle'
        USING ERRCODE = '22X53', HINT = 'Move the ticket (state) or comment on it; these follow.';
    END IF;
    IF OLD.first_response_at IS NULL AND NEW.first_response_at IS NOT NULL
       AND (NEW.first_response_at < NEW.opened_at OR NEW.first_response_at > moment) THEN
      RAISE EXCEPTION 'first_response_at: % is not between the opening (%) and now', NEW.first_response_at,
        NEW.opened_at USING ERRCODE = '22X53', HINT = 'Give the instant of the first response.';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state THEN
      to_phase := ops.check_ticket_move(NEW.kind, NEW.priority, OLD.state, NEW.state, NEW.workaround,
                                        NEW.root_cause, NEW.postmortem_url);
      NEW.first_response_at := coalesce(NEW.first_response_at, moment);  -- a move answers the ticket
      IF to_phase = 'open' THEN
        NEW.resolved_at := NULL;
        NEW.closed_at := NULL;
      ELSE
        NEW.resolved_at := coalesce(NEW.resolved_at, moment);
        NEW.closed_at := CASE WHEN to_phase = 'closed' THEN moment END;
      END IF;
      was_paused := EXISTS (SELECT FROM ops.paused_states p WHERE p.kind = NEW.kind AND p.state = OLD.state);
      is_paused := EXISTS (SELECT FROM ops.paused_states p WHERE p.kind = NEW.kind AND p.state = NEW.state);
      IF is_paused AND NOT was_paused THEN
        NEW.paused_during := NEW.paused_during + tstzmultirange(tstzrange(moment, NULL));
      ELSIF was_paused AND NOT is_paused THEN
        NEW.paused_during := NEW.paused_during - tstzmultirange(tstzrange(moment, NULL));
      END IF;
    END IF;
    -- Any change of a tenant's requested priority by staff is its triage.
    IF NEW.priority IS DISTINCT FROM OLD.priority AND NEW.requested_priority IS NOT NULL THEN
      NEW.triaged_at := coalesce(NEW.triaged_at, moment);
    END IF;
    -- A restatement (only sla_computed_at set) is not a change of the ticket.
    unchanged := NEW;
    unchanged.sla_computed_at := OLD.sla_computed_at;
    unchanged.updated_at := OLD.updated_at;
    NEW.updated_at := CASE WHEN unchanged IS DISTINCT FROM OLD THEN moment ELSE OLD.updated_at END;
  END IF;
  IF TG_OP = 'INSERT'
     OR (NEW.priority, NEW.opened_at, NEW.first_response_at, NEW.resolved_at, NEW.paused_during, NEW.sla_computed_at,
         NEW.triaged_at)
        IS DISTINCT FROM
        (OLD.priority, OLD.opened_at, OLD.first_response_at, OLD.resolved_at, OLD.paused_during, OLD.sla_computed_at,
         OLD.triaged_at) THEN
    NEW := ops.compute_ticket_sla(NEW);
  END IF;
  RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION ops.record_ticket_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  actor text := ops.current_actor();
  edited text[];
  next_check timestamptz;
BEGIN
  -- SECURITY DEFINER writes the event log and the transitions: on any other table it would let
  -- the caller fabricate a ticket's history.
  IF TG_RELID <> 'ops.tickets'::regclass OR TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.record_ticket_events() fires only AFTER each row of ops.tickets, not on %',
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO ops.ticket_events (ticket_id, actor, action, to_value, body)
    VALUES (NEW.ticket_id, actor, 'open', NEW.state, NEW.kind || ' ' || NEW.priority || ': ' || NEW.title);
  ELSE
    IF NEW.state IS DISTINCT FROM OLD.state THEN
      INSERT INTO ops.ticket_events (ticket_id, actor, action, from_value, to_value)
      VALUES (NEW.ticket_id, actor, 'status', OLD.state, NEW.state);
    END IF;
    IF NEW.paused_during IS DISTINCT FROM OLD.paused_during THEN
      INSERT INTO ops.ticket_events (ticket_id, actor, action, from_value, to_value)
      VALUES (NEW.ticket_id, actor,
              CASE WHEN upper_inf(NEW.paused_during) THEN 'pause' ELSE 'resume' END, OLD.state, NEW.state);
    END IF;
    IF NEW.priority IS DISTINCT FROM OLD.priority THEN
      INSERT INTO ops.ticket_events (ticket_id, actor, action, from_value, to_value)
      VALUES (NEW.ticket_id, actor, 'priority', OLD.priority, NEW.priority);
    END IF;
    IF NEW.triaged_at IS DISTINCT FROM OLD.triaged_at AND NEW.triaged_at IS NOT NULL THEN
      INSERT INTO ops.ticket_events (ticket_id, actor, action, from_value, to_value)
      VALUES (NEW.ticket_id, actor, 'triage', NEW.requested_priority, NEW.priority);
    END IF;
    IF NEW.assignee IS DISTINCT FROM OLD.assignee THEN
      INSERT INTO ops.ticket_events (ticket_id, actor, action, from_value, to_value)
      VALUES (NEW.ticket_id, actor, 'assignment', OLD.assignee, NEW.assignee);
    END IF;
    SELECT array_agg(key ORDER BY key) INTO edited
      FROM jsonb_each(to_jsonb(NEW)) n(key, value)
     WHERE key IN ('title', 'description', 'reporter', 'labels', 'affected_release', 'workaround', 'root_cause',
                   'postmortem_url', 'satisfaction', 'user_impact', 'business_value', 'complexity',
                   'resource_availability', 'strategic_alignment', 'org_id', 'opened_at', 'requested_priority')
       AND value IS DISTINCT FROM to_jsonb(OLD) -> key;
    IF edited IS NOT NULL THEN
      INSERT INTO ops.ticket_events (ticket_id, actor, action, body, visibility)
      VALUES (NEW.ticket_id, actor, 'edit', array_to_string(edited, ', '), 'internal');
    END IF;
  END IF;
  IF TG_OP = 'INSERT'
     OR (NEW.sla_computed_at, NEW.response_due_at, NEW.response_at_risk_at, NEW.resolution_due_at,
         NEW.resolution_at_risk_at, NEW.first_response_at, NEW.resolved_at)
        IS DISTINCT FROM
        (OLD.sla_computed_at, OLD.response_due_at, OLD.response_at_risk_at, OLD.resolution_due_at,
         OLD.resolution_at_risk_at, OLD.first_response_at, OLD.resolved_at) THEN
    PERFORM ops.sync_sla_transitions(NEW, now());
    next_check := ops.next_sla_check(NEW, now());
    IF next_check IS NULL THEN
      DELETE FROM ops.sla_checks WHERE ticket_id = NEW.ticket_id;
    ELSE
      INSERT INTO ops.sla_checks VALUES (NEW.ticket_id, next_check)
      ON CONFLICT (ticket_id) DO UPDATE SET next_check_at = excluded.next_check_at;
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ops.restate_tickets() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_RELID NOT IN ('ops.sla_policies'::regclass, 'ops.releases'::regclass, 'ops.sla_settings'::regclass,
                      'ops.calendars'::regclass, 'ops.calendar_hours'::regclass, 'ops.calendar_holidays'::regclass)
     OR TG_LEVEL <> 'STATEMENT' THEN
    RAISE EXCEPTION 'ops.restate_tickets() fires only after statements on the SLA configuration, not on %',
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  UPDATE ops.tickets SET sla_computed_at = clock_timestamp();
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ops.validate_calendar() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  changed text;
BEGIN
  IF TG_RELID NOT IN ('ops.calendars'::regclass, 'ops.calendar_hours'::regclass) OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_calendar() fires only for rows of ops.calendars and ops.calendar_hours, not on %',
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.calendar_id ELSE NEW.calendar_id END;
  IF EXISTS (SELECT FROM ops.calendars c WHERE c.calendar_id = changed) THEN
    PERFORM ops.business_time(changed, now(), now());  -- loading validates: 22X40 to 22X44
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ops.validate_sla_policy() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_RELID <> 'ops.sla_policies'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_sla_policy() fires only BEFORE each row of ops.sla_policies, not on %',
      TG_RELID::regclass USING ERRCODE = '39P01';
  END IF;
  NEW.priority := ops.check_priority(NEW.priority);
  PERFORM ops.clock_due('24x7', now(), NEW.response_target);  -- 22X45 for a negative target
  IF NEW.resolution_target IS NOT NULL THEN
    PERFORM ops.clock_due('24x7', now(), NEW.resolution_target);
  END IF;
  IF NEW.at_risk_fraction IS NULL OR NEW.at_risk_fraction <= 0 OR NEW.at_risk_fraction > 1 THEN
    RAISE EXCEPTION 'at_risk_fraction: % is not a share of the target', NEW.at_risk_fraction
      USING ERRCODE = '22X46', HINT = 'Use a number above 0 and at most 1, such as 0.75.';
  END IF;
  RETURN NEW;
END
$$;

-- The ticket API. Staff may do everything; tenant users open, read and comment.

CREATE OR REPLACE FUNCTION api.open_ticket(kind text, priority text, title text, description text DEFAULT '',
                                           reporter text DEFAULT NULL, labels text[] DEFAULT '{}',
                                           affected_release text DEFAULT NULL, org_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me record := iam.current_account();
  me_email text := (SELECT u.email FROM iam.users u WHERE u.user_id = me.user_id);
  opened bigint;
BEGIN
  PERFORM expense.bounded_text('title', title, 200), expense.bounded_text('description', description, 20000),
          expense.bounded_text('reporter', reporter, 320), expense.bounded_text('affected_release', affected_release, 50),
          ops.bounded_labels(labels);
  PERFORM ops.ticket_initial_state(kind);  -- an unknown kind is 22X50 for everyone
  IF ops.is_support_staff() THEN
    INSERT INTO ops.tickets (kind, priority, title, description, reporter, labels, affected_release, org_id)
    VALUES (kind, priority, title, coalesce(description, ''), coalesce(reporter, ops.current_actor()),
            coalesce(labels, '{}'), affected_release, open_ticket.org_id)
    RETURNING ticket_id INTO opened;
    RETURN ops.ticket_sla(opened);
  END IF;
  IF me.user_id IS NULL THEN
    RAISE EXCEPTION 'log in to open a ticket' USING ERRCODE = '42501';
  END IF;
  IF kind NOT IN ('support', 'bug') THEN
    RAISE EXCEPTION 'kind: you may open support tickets and bug reports, not %', kind USING ERRCODE = '42501',
      HINT = 'Open a support ticket; the operator''s staff turn it into an incident, a feature request or a security issue.';
  END IF;
  IF open_ticket.org_id IS DISTINCT FROM me.org_id AND open_ticket.org_id IS NOT NULL THEN
    RAISE EXCEPTION 'org_id: you open tickets for your own organisation only' USING ERRCODE = '42501',
      HINT = 'Leave org_id out.';
  END IF;
  IF reporter IS NOT NULL AND lower(btrim(reporter)) <> lower(me_email) THEN
    RAISE EXCEPTION 'reporter: you report as yourself' USING ERRCODE = '42501', HINT = 'Leave reporter out.';
  END IF;
  -- A tenant requests a priority; staff confirm it at triage. Until then no tenant pages anyone:
  -- a requested P0 runs as P1, and must_page waits for the triage.
  INSERT INTO ops.tickets (kind, priority, requested_priority, title, description, reporter, labels,
                           affected_release, org_id)
  VALUES (kind, CASE WHEN ops.check_priority(priority) = 'P0' THEN 'P1' ELSE priority END, priority, title,
          coalesce(description, ''), me_email, coalesce(labels, '{}'), affected_release, me.org_id)
  RETURNING ticket_id INTO opened;
  RETURN ops.ticket_sla(opened);
END
$$;
COMMENT ON FUNCTION api.open_ticket(text, text, text, text, text, text[], text, uuid) IS
$$Opens a ticket (POST /rpc/open_ticket) in its lifecycle's first state and returns its SLA clocks. Staff open any kind (incident, bug, feature, support, security) at any priority, for an organisation (org_id) or for the operator (no org_id). Tenant users open support tickets and bug reports for their own organisation, as their own reporter; their priority is a request that staff confirm at triage, and until then a requested P0 runs as P1 and pages nobody. Limits: title 200 characters, description 20000, reporter 320, affected_release 50, at most 20 labels of 50.$$;

CREATE OR REPLACE FUNCTION api.move_ticket(ticket_id bigint, state text, workaround text DEFAULT NULL,
                                           root_cause text DEFAULT NULL, postmortem_url text DEFAULT NULL,
                                           satisfaction integer DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets := ops.ticket_for_update(ticket_id);
BEGIN
  PERFORM expense.bounded_text('workaround', workaround, 20000), expense.bounded_text('root_cause', root_cause, 20000),
          expense.bounded_text('postmortem_url', postmortem_url, 2000);
  IF move_ticket.state = t.state THEN
    -- Staying is no move: the lifecycle refuses it with the allowed next states (22X53).
    PERFORM ops.check_ticket_move(t.kind, t.priority, t.state, move_ticket.state, t.workaround, t.root_cause,
                                  t.postmortem_url);
  END IF;
  UPDATE ops.tickets SET state = move_ticket.state,
         workaround = coalesce(move_ticket.workaround, t.workaround),
         root_cause = coalesce(move_ticket.root_cause, t.root_cause),
         postmortem_url = coalesce(move_ticket.postmortem_url, t.postmortem_url),
         satisfaction = coalesce(move_ticket.satisfaction, t.satisfaction)
   WHERE tickets.ticket_id = t.ticket_id;
  RETURN ops.ticket_sla(t.ticket_id);
END
$$;
COMMENT ON FUNCTION api.move_ticket(bigint, text, text, text, text, integer) IS
  'Staff move a ticket to the next state of its lifecycle (POST /rpc/move_ticket), recording the tier actions (workaround, root cause, post-mortem link) and, on close, customer satisfaction 1-5. Staying in the same state is refused (22X53)';

CREATE OR REPLACE FUNCTION api.set_ticket_priority(ticket_id bigint, priority text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets := ops.ticket_for_update(ticket_id);
BEGIN
  -- Setting a tenant's ticket's priority, even to the one requested, is its triage.
  UPDATE ops.tickets SET priority = set_ticket_priority.priority,
         triaged_at = CASE WHEN requested_priority IS NOT NULL THEN coalesce(triaged_at, now()) END
   WHERE tickets.ticket_id = t.ticket_id;
  RETURN ops.ticket_sla(t.ticket_id);
END
$$;
COMMENT ON FUNCTION api.set_ticket_priority(bigint, text) IS
  'Staff set a ticket''s priority (POST /rpc/set_ticket_priority); for a tenant''s ticket this is its triage, after which a paging priority pages. Due times are recomputed from the open time, and past breaches restated';

CREATE OR REPLACE FUNCTION api.assign_ticket(ticket_id bigint, assignee text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets := ops.ticket_for_update(ticket_id);
BEGIN
  UPDATE ops.tickets SET assignee = nullif(btrim(expense.bounded_text('assignee', assign_ticket.assignee, 320)), '')
   WHERE tickets.ticket_id = t.ticket_id;
  RETURN ops.ticket_sla(t.ticket_id);
END
$$;
COMMENT ON FUNCTION api.assign_ticket(bigint, text) IS
  'Staff assign a ticket (POST /rpc/assign_ticket; NULL or blank unassigns; at most 320 characters)';

DROP FUNCTION api.comment_ticket(bigint, text);
CREATE FUNCTION api.comment_ticket(ticket_id bigint, body text, visibility text DEFAULT 'public') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets := ops.visible_ticket(ticket_id, true);
  staff boolean := ops.is_support_staff();
  actor text := ops.current_actor();
BEGIN
  IF body IS NULL OR body !~ '[^[:space:]]' THEN
    RAISE EXCEPTION 'body: a comment needs text' USING ERRCODE = '22004', HINT = 'Write something.';
  END IF;
  PERFORM expense.bounded_text('body', body, 20000);
  IF visibility IS NULL OR visibility NOT IN ('public', 'internal') THEN
    RAISE EXCEPTION 'visibility: "%" is neither public nor internal', visibility USING ERRCODE = '22023',
      HINT = 'Use public (the ticket''s organisation reads it) or internal (staff only).';
  END IF;
  IF visibility = 'internal' AND NOT staff THEN
    RAISE EXCEPTION 'visibility: only staff write internal comments' USING ERRCODE = '42501',
      HINT = 'Leave visibility out: your comment is public.';
  END IF;
  INSERT INTO ops.ticket_events (ticket_id, actor, action, body, visibility)
  VALUES (t.ticket_id, actor, 'comment', body, comment_ticket.visibility);
  -- The first response is the first public answer by staff, other than the reporter's own.
  IF staff AND visibility = 'public' AND t.first_response_at IS NULL AND actor <> t.reporter THEN
    UPDATE ops.tickets SET first_response_at = now() WHERE tickets.ticket_id = t.ticket_id;
  END IF;
  RETURN ops.ticket_sla(t.ticket_id);
END
$$;
COMMENT ON FUNCTION api.comment_ticket(bigint, text, text) IS
  'Comments on a ticket the caller may see (POST /rpc/comment_ticket; at most 20000 characters). visibility is public (default) or internal, which only staff write and only staff read. The first public comment by staff, other than the reporter, is the first response';

CREATE OR REPLACE FUNCTION api.ticket_sla(ticket_id bigint, at timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.visible_ticket(ticket_id, false);
  RETURN ops.ticket_sla(ticket_id, at);
END
$$;
COMMENT ON FUNCTION api.ticket_sla(bigint, timestamptz) IS
  'Both SLA clocks of a ticket the caller may see, at an instant (default now): state (met, on_track, at_risk, breached, paused), due_at, remaining and used share. A reading at a past instant is what it showed then';

-- Reports and counts take an organisation: NULL for all of them.
DROP FUNCTION api.sla_report(timestamptz, timestamptz);
DROP FUNCTION api.ticket_counts(timestamptz, timestamptz);
DROP FUNCTION ops.sla_report(timestamptz, timestamptz);
DROP FUNCTION ops.ticket_counts(timestamptz, timestamptz);

CREATE FUNCTION ops.sla_report("from" timestamptz, "to" timestamptz, org_id uuid DEFAULT NULL)
RETURNS TABLE (priority text, tickets bigint, response_met_pct numeric, resolution_met_pct numeric,
               mean_first_response interval, median_first_response interval, p90_first_response interval,
               mttr interval, response_breaches bigint, resolution_breaches bigint, mean_satisfaction numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF "from" IS NULL OR "to" IS NULL OR "to" <= "from" THEN
    RAISE EXCEPTION 'from/to: % to % is not a period', "from", "to" USING ERRCODE = '22023',
      HINT = 'Give a start and a later end, such as now() - interval ''30 days'' and now().';
  END IF;
  RETURN QUERY
  WITH judged AS (
    SELECT t.priority, t.opened_at, t.first_response_at, t.resolved_at, t.satisfaction,
           CASE WHEN t.first_response_at IS NOT NULL THEN t.first_response_at <= t.response_due_at
                WHEN t.response_due_at <= now() THEN false END AS response_met,
           CASE WHEN t.resolved_at IS NOT NULL THEN t.resolved_at <= t.resolution_due_at
                WHEN t.resolution_due_at <= now() THEN false END AS resolution_met
      FROM ops.tickets t
     WHERE t.opened_at >= "from" AND t.opened_at < "to"
       AND (sla_report.org_id IS NULL OR t.org_id = sla_report.org_id))
  SELECT p.priority, count(j.opened_at),
         round(100.0 * count(*) FILTER (WHERE j.response_met) / nullif(count(j.response_met), 0), 1),
         round(100.0 * count(*) FILTER (WHERE j.resolution_met) / nullif(count(j.resolution_met), 0), 1),
         date_trunc('second', avg(j.first_response_at - j.opened_at)),
         date_trunc('second', percentile_cont(0.5) WITHIN GROUP (ORDER BY j.first_response_at - j.opened_at)),
         date_trunc('second', percentile_cont(0.9) WITHIN GROUP (ORDER BY j.first_response_at - j.opened_at)),
         date_trunc('second', avg(j.resolved_at - j.opened_at)),
         count(*) FILTER (WHERE NOT j.response_met),
         count(*) FILTER (WHERE NOT j.resolution_met),
         round(avg(j.satisfaction), 2)
    FROM ops.sla_policies p
    LEFT JOIN judged j ON j.priority = p.priority
   GROUP BY p.priority
   ORDER BY p.priority;
END
$$;
COMMENT ON FUNCTION ops.sla_report(timestamptz, timestamptz, uuid) IS
$$Per priority, for tickets opened in [from, to) (of one organisation, or all with org_id NULL): tickets, % meeting the response and resolution targets (of those decided: stopped, or past due), mean/median/P90 time to first response, MTTR (mean time to resolve), breaches of each clock, mean satisfaction$$;

CREATE FUNCTION ops.ticket_counts("from" timestamptz, "to" timestamptz, org_id uuid DEFAULT NULL)
RETURNS TABLE (kind text, state text, tickets bigint, mean_satisfaction numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(t.kind, 'all'), coalesce(t.state, 'all'), count(*), round(avg(t.satisfaction), 2)
    FROM ops.tickets t
   WHERE t.opened_at >= "from" AND t.opened_at < "to"
     AND (ticket_counts.org_id IS NULL OR t.org_id = ticket_counts.org_id)
   GROUP BY ROLLUP (t.kind, t.state)
   ORDER BY t.kind NULLS LAST, t.state NULLS LAST
$$;
COMMENT ON FUNCTION ops.ticket_counts(timestamptz, timestamptz, uuid) IS
  'Tickets opened in [from, to) (of one organisation, or all with org_id NULL) per kind and state, with subtotals per kind and a grand total (''all''), and mean customer satisfaction';

-- Whose reports the caller may read: staff all organisations' (NULL), a tenant admin their own.
CREATE FUNCTION ops.report_scope() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me record := iam.current_account();
BEGIN
  IF ops.is_support_staff() THEN
    RETURN NULL;
  ELSIF me.role = 'admin' THEN
    RETURN me.org_id;
  END IF;
  RAISE EXCEPTION 'ticket reports are for staff and your organisation''s admins' USING ERRCODE = '42501',
    HINT = 'Ask your administrator.';
END
$$;
COMMENT ON FUNCTION ops.report_scope() IS
  'The organisation whose ticket reports the caller reads: NULL (all) for staff, their own for a tenant admin; 42501 for anyone else';

CREATE FUNCTION api.sla_report("from" timestamptz, "to" timestamptz)
RETURNS TABLE (priority text, tickets bigint, response_met_pct numeric, resolution_met_pct numeric,
               mean_first_response interval, median_first_response interval, p90_first_response interval,
               mttr interval, response_breaches bigint, resolution_breaches bigint, mean_satisfaction numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY SELECT * FROM ops.sla_report("from", "to", ops.report_scope());
END
$$;
COMMENT ON FUNCTION api.sla_report(timestamptz, timestamptz) IS
  'SLA report per priority for tickets opened in [from, to) (GET /rpc/sla_report): staff see every organisation''s, a tenant admin their own; see ops.sla_report';

CREATE FUNCTION api.ticket_counts("from" timestamptz, "to" timestamptz)
RETURNS TABLE (kind text, state text, tickets bigint, mean_satisfaction numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY SELECT * FROM ops.ticket_counts("from", "to", ops.report_scope());
END
$$;
COMMENT ON FUNCTION api.ticket_counts(timestamptz, timestamptz) IS
  'Tickets opened in [from, to) per kind and state, with totals and mean satisfaction (GET /rpc/ticket_counts): staff see every organisation''s, a tenant admin their own; see ops.ticket_counts';

-- The board, the backlog and the tickets themselves, for whoever may see each ticket: staff all,
-- tenant users their organisation's. The filters are initplans, evaluated once per query.
CREATE OR REPLACE VIEW ops.sla_board AS
SELECT t.ticket_id, t.kind, t.priority, t.state, t.title, t.assignee, t.opened_at,
       r.state AS response_state, r.due_at AS response_due_at, r.remaining AS response_remaining,
       s.state AS resolution_state, s.due_at AS resolution_due_at, s.remaining AS resolution_remaining,
       least(CASE WHEN r.state IN ('on_track', 'at_risk', 'breached') THEN r.remaining END,
             CASE WHEN s.state IN ('on_track', 'at_risk', 'breached') THEN s.remaining END) AS time_to_breach,
       t.must_page, t.resolution_due_is_fallback, t.org_id
  FROM ops.tickets t
 CROSS JOIN LATERAL ops.read_clock(t.sla_calendar_id, t.opened_at, t.response_target, t.first_response_at,
                                   t.paused_during, t.at_risk_fraction, now()) r
 CROSS JOIN LATERAL ops.read_clock(t.sla_calendar_id, t.opened_at, t.resolution_target, t.resolved_at,
                                   t.paused_during, t.at_risk_fraction, now()) s
 WHERE t.closed_at IS NULL
 ORDER BY time_to_breach NULLS LAST, t.priority, t.opened_at;
COMMENT ON COLUMN ops.sla_board.org_id IS 'The organisation it concerns; NULL for operator-internal tickets';

CREATE OR REPLACE VIEW ops.feature_backlog AS
SELECT t.ticket_id, t.title, t.state, t.priority,
       ops.feature_score(t.user_impact, t.business_value, t.complexity, t.resource_availability,
                         t.strategic_alignment, (w->>'user_impact')::float8, (w->>'business_value')::float8,
                         (w->>'complexity')::float8, (w->>'resource_availability')::float8,
                         (w->>'strategic_alignment')::float8) AS score,
       t.user_impact, t.business_value, t.complexity, t.resource_availability, t.strategic_alignment, t.org_id
  FROM ops.tickets t CROSS JOIN (SELECT feature_score_weights AS w FROM ops.sla_settings) s
 WHERE t.kind = 'feature' AND t.closed_at IS NULL
 ORDER BY score DESC NULLS LAST, t.opened_at;
COMMENT ON COLUMN ops.feature_backlog.org_id IS 'The organisation that asked for it; NULL for the operator''s own';

CREATE OR REPLACE VIEW api.sla_board WITH (security_barrier = true) AS
SELECT b.ticket_id, b.kind, b.priority, b.state, b.title, b.assignee, b.opened_at, b.response_state,
       b.response_due_at, b.response_remaining, b.resolution_state, b.resolution_due_at, b.resolution_remaining,
       b.time_to_breach, b.must_page, b.resolution_due_is_fallback, b.org_id
  FROM ops.sla_board b
 WHERE (SELECT ops.is_support_staff()) OR b.org_id = (SELECT me.org_id FROM iam.current_account() me);
COMMENT ON VIEW api.sla_board IS
  'The SLA board (GET /sla_board): open tickets, nearest breach first. Staff see every ticket; tenant users their organisation''s';
COMMENT ON COLUMN api.sla_board.org_id IS 'The organisation it concerns; NULL for operator-internal tickets';

CREATE OR REPLACE VIEW api.feature_backlog WITH (security_barrier = true) AS
SELECT b.ticket_id, b.title, b.state, b.priority, b.score, b.user_impact, b.business_value, b.complexity,
       b.resource_availability, b.strategic_alignment, b.org_id
  FROM ops.feature_backlog b
 WHERE (SELECT ops.is_support_staff()) OR b.org_id = (SELECT me.org_id FROM iam.current_account() me);
COMMENT ON VIEW api.feature_backlog IS
  'Open feature requests by prioritisation score (GET /feature_backlog). Staff see all; tenant users those of their organisation';
COMMENT ON COLUMN api.feature_backlog.org_id IS 'The organisation that asked for it; NULL for the operator''s own';

CREATE VIEW api.tickets WITH (security_barrier = true) AS
SELECT t.ticket_id AS id, t.org_id, t.kind, t.priority, t.requested_priority, t.triaged_at, t.state, t.title,
       t.description, t.reporter, t.assignee, t.labels, t.affected_release, t.opened_at, t.first_response_at,
       t.resolved_at, t.closed_at, t.satisfaction, t.response_due_at, t.resolution_due_at, t.must_page,
       t.updated_at
  FROM ops.tickets t
 WHERE (SELECT ops.is_support_staff()) OR t.org_id = (SELECT me.org_id FROM iam.current_account() me);
COMMENT ON VIEW api.tickets IS
$$Tickets (GET /tickets): staff see every ticket, tenant users their organisation's. Read-only: tickets change through api.open_ticket, api.move_ticket, api.set_ticket_priority, api.assign_ticket and api.comment_ticket.$$;
COMMENT ON COLUMN api.tickets.id IS 'The ticket_id of the ticket functions';
COMMENT ON COLUMN api.tickets.org_id IS 'The organisation it concerns; NULL for operator-internal tickets';
COMMENT ON COLUMN api.tickets.kind IS 'incident, bug, feature, support or security';
COMMENT ON COLUMN api.tickets.priority IS 'P0 to P3, which the SLA clocks run at';
COMMENT ON COLUMN api.tickets.requested_priority IS 'What the tenant asked for when opening it; NULL when staff opened it';
COMMENT ON COLUMN api.tickets.triaged_at IS 'When staff confirmed the priority of a tenant''s ticket';
COMMENT ON COLUMN api.tickets.state IS 'State in the kind''s lifecycle';
COMMENT ON COLUMN api.tickets.title IS 'One line';
COMMENT ON COLUMN api.tickets.description IS 'What happened or is wanted';
COMMENT ON COLUMN api.tickets.reporter IS 'Who reported it';
COMMENT ON COLUMN api.tickets.assignee IS 'Who works on it';
COMMENT ON COLUMN api.tickets.labels IS 'Free labels';
COMMENT ON COLUMN api.tickets.affected_release IS 'The release it affects';
COMMENT ON COLUMN api.tickets.opened_at IS 'When it was opened: both clocks start here';
COMMENT ON COLUMN api.tickets.first_response_at IS 'The first response: a move, or staff''s first public comment';
COMMENT ON COLUMN api.tickets.resolved_at IS 'When it was resolved';
COMMENT ON COLUMN api.tickets.closed_at IS 'When it reached a final state';
COMMENT ON COLUMN api.tickets.satisfaction IS 'Customer satisfaction 1-5, given on close';
COMMENT ON COLUMN api.tickets.response_due_at IS 'When the response is due';
COMMENT ON COLUMN api.tickets.resolution_due_at IS 'When the resolution is due';
COMMENT ON COLUMN api.tickets.must_page IS 'Pages on open (P0 confirmed by staff)';
COMMENT ON COLUMN api.tickets.updated_at IS 'When it last changed';

-- One table in FROM, so that a write is refused for want of the privilege (403) rather than as
-- a view PostgreSQL cannot update (500).
CREATE VIEW api.ticket_events WITH (security_barrier = true) AS
SELECT e.event_id, e.ticket_id, e.at, e.actor, e.action, e.from_value, e.to_value, e.body, e.visibility
  FROM ops.ticket_events e
 WHERE (SELECT ops.is_support_staff())
    OR e.visibility = 'public' AND e.action IN ('open', 'status', 'priority', 'triage', 'comment', 'pause', 'resume')
       AND EXISTS (SELECT FROM ops.tickets t
                    WHERE t.ticket_id = e.ticket_id AND t.org_id = (SELECT me.org_id FROM iam.current_account() me));
COMMENT ON VIEW api.ticket_events IS
$$A ticket's history and comments (GET /ticket_events?ticket_id=eq.…). Staff see everything; tenant users see their organisation's tickets' openings, moves, priority changes, pauses and public comments, never internal comments, assignments or edits.$$;
COMMENT ON COLUMN api.ticket_events.event_id IS 'Order of events';
COMMENT ON COLUMN api.ticket_events.ticket_id IS 'The ticket';
COMMENT ON COLUMN api.ticket_events.at IS 'When';
COMMENT ON COLUMN api.ticket_events.actor IS 'Who: the application user''s email, else the database role';
COMMENT ON COLUMN api.ticket_events.action IS 'open, status, priority, triage, assignment, comment, pause, resume or edit';
COMMENT ON COLUMN api.ticket_events.from_value IS 'Value before';
COMMENT ON COLUMN api.ticket_events.to_value IS 'Value after';
COMMENT ON COLUMN api.ticket_events.body IS 'Comment text, or the edited fields';
COMMENT ON COLUMN api.ticket_events.visibility IS 'public or internal (staff only)';
GRANT SELECT ON api.tickets, api.ticket_events TO expense_user, expense_ops_admin;
GRANT SELECT ON ops.ticket_events TO expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Logins. The decision, the password work and the lockout are extension/core/login (C++); the
-- address is extension/core/client_address. Every failing path costs one argon2id computation.

CREATE TABLE iam.auth_settings (
  singleton             boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  trusted_proxies       cidr[] NOT NULL DEFAULT '{}',
  address_failure_limit integer NOT NULL DEFAULT 20 CHECK (address_failure_limit > 0)
);
COMMENT ON TABLE iam.auth_settings IS 'One row: how logins find and throttle the client address';
COMMENT ON COLUMN iam.auth_settings.singleton IS 'Always true: there is one row';
COMMENT ON COLUMN iam.auth_settings.trusted_proxies IS
$$Networks whose X-Forwarded-For is believed: PostgREST's own address as the database sees it (127.0.0.1 over a Unix socket) and every reverse proxy in front of it. Empty (the default): the header is ignored and the connection's address is the client's. The client is the right-most address that is not a trusted proxy$$;
COMMENT ON COLUMN iam.auth_settings.address_failure_limit IS
  'Failed logins from one client address within 15 minutes after which that address is refused (default 20)';
INSERT INTO iam.auth_settings DEFAULT VALUES;
GRANT SELECT, UPDATE ON iam.auth_settings TO expense_ops_admin;
SELECT pg_catalog.pg_extension_config_dump('iam.auth_settings', '');

ALTER TABLE iam.login_attempts
  ADD COLUMN via text NOT NULL DEFAULT 'login' CHECK (via IN ('login', 'change_password'));
COMMENT ON COLUMN iam.login_attempts.via IS 'login, or change_password (a wrong old password counts like a failed login)';
COMMENT ON COLUMN iam.login_attempts.client_ip IS
  'The client address: the right-most X-Forwarded-For entry that is not a trusted proxy (iam.auth_settings), else the connection''s (127.0.0.1 for a Unix socket)';

CREATE FUNCTION iam.resolve_client_address(forwarded_for text, connection_address text, trusted_proxies text)
RETURNS text LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_resolve_client_address';
COMMENT ON FUNCTION iam.resolve_client_address(text, text, text) IS
  'The client address of a request: the right-most X-Forwarded-For hop that is not a trusted proxy, read only when the connection itself comes from one; never NULL';

CREATE FUNCTION iam.decide_login(
  password text, account_found boolean, password_hash text, disabled boolean,
  failures integer, window_start timestamptz, locks integer, locked_until timestamptz,
  address_failures bigint, address_failure_limit integer, at timestamptz,
  OUT reason text, OUT failures integer, OUT window_start timestamptz, OUT locks integer,
  OUT locked_until timestamptz, OUT new_password_hash text)
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_decide_login';
COMMENT ON FUNCTION iam.decide_login(text, boolean, text, boolean, integer, timestamptz, integer, timestamptz, bigint, integer, timestamptz) IS
  'The login decision: reason (ok, unknown_email, no_password, disabled, locked, ip_throttled, wrong_password), the lockout state to store, and a new hash when the stored one must be upgraded. Each refusal costs one argon2id computation';

CREATE OR REPLACE FUNCTION iam.client_ip() RETURNS inet
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  forwarded text;
BEGIN
  BEGIN
    forwarded := nullif(current_setting('request.headers', true), '')::json->>'x-forwarded-for';
  EXCEPTION WHEN invalid_text_representation THEN
    forwarded := NULL;  -- headers that are not JSON carry no usable header
  END;
  RETURN iam.resolve_client_address(forwarded, host(inet_client_addr()),
                                    (SELECT array_to_string(s.trusted_proxies, ',') FROM iam.auth_settings s))::inet;
END
$$;
COMMENT ON FUNCTION iam.client_ip() IS
  'The client address of this request: see iam.resolve_client_address and iam.auth_settings.trusted_proxies';

-- Failed attempts from one address are counted under a lock on that address: concurrent
-- attempts queue between counting and recording, so a burst cannot pass the limit.
CREATE FUNCTION iam.serialise_address(address inet) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_xact_lock(hashtext('expense_ops.login_address'), hashtext(host(address)));
$$;
COMMENT ON FUNCTION iam.serialise_address(inet) IS
  'Waits for, then holds until the end of the transaction, the lock that serialises logins from one client address';

CREATE OR REPLACE FUNCTION api.login(email text, password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  given_email text := expense.bounded_text('email', coalesce(email, ''), 320);
  settings iam.auth_settings;
  ip inet := iam.client_ip();
  account iam.users;
  recent_failures bigint;
  decision record;
  signing_key iam.signing_keys;
  claims jsonb;
  expires_at timestamptz := date_trunc('second', now()) + interval '1 hour';
BEGIN
  SELECT * INTO settings FROM iam.auth_settings;
  PERFORM iam.serialise_address(ip);
  SELECT * INTO account FROM iam.users u WHERE lower(u.email) = lower(given_email) FOR UPDATE;
  SELECT count(*) INTO recent_failures FROM iam.login_attempts a
   WHERE a.client_ip = ip AND NOT a.succeeded AND a.at > now() - interval '15 minutes';

  SELECT * INTO decision
    FROM iam.decide_login(password, account.user_id IS NOT NULL, account.password_hash, account.disabled_at IS NOT NULL,
                          account.failed_logins, account.failure_window_start, account.lock_count,
                          account.locked_until, recent_failures, settings.address_failure_limit, now());
  IF account.user_id IS NOT NULL THEN
    UPDATE iam.users u
       SET failed_logins = decision.failures, failure_window_start = decision.window_start,
           lock_count = decision.locks, locked_until = decision.locked_until,
           password_hash = coalesce(decision.new_password_hash, u.password_hash)
     WHERE u.user_id = account.user_id
       AND (u.failed_logins, u.failure_window_start, u.lock_count, u.locked_until, decision.new_password_hash)
           IS DISTINCT FROM (decision.failures, decision.window_start, decision.locks, decision.locked_until, NULL);
  END IF;

  INSERT INTO iam.login_attempts (email, user_id, client_ip, succeeded, reason)
  VALUES (given_email, account.user_id, ip, decision.reason = 'ok', decision.reason);

  IF decision.reason <> 'ok' THEN
    -- No exception: under PostgREST it would roll back the attempt row just written.
    PERFORM set_config('response.status', '401', true);
    RETURN jsonb_build_object('error', 'invalid_credentials',
                              'message', 'the email or password is wrong, or the account is locked',
                              'hint', 'Check both and try again; after 5 failures wait a minute.');
  END IF;

  SELECT * INTO STRICT signing_key FROM iam.signing_keys
   WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1;
  claims := jsonb_build_object(
    'role', 'expense_user', 'sub', account.user_id, 'org', account.org_id,
    'app_role', account.role, 'iat', extract(epoch FROM date_trunc('second', now()))::bigint,
    'exp', extract(epoch FROM expires_at)::bigint, 'jti', gen_random_uuid());
  RETURN jsonb_build_object(
    'token', iam.sign_token(claims, signing_key.kid, signing_key.secret),
    'token_type', 'bearer', 'expires_at', expires_at,
    'user_id', account.user_id, 'org_id', account.org_id, 'role', account.role);
END
$$;
COMMENT ON FUNCTION api.login(text, text) IS
$$Log in (POST /rpc/login). Returns {token, token_type, expires_at, user_id, org_id, role}; the token is an HS256 JWT valid for one hour with the claims role, sub, org, app_role, iat, exp and jti. A wrong password, an unknown email, an over-long password and a locked or disabled account all get HTTP 401 with the same body, after the same one argon2id computation. Every attempt is recorded in iam.login_attempts. Five failures within 15 minutes lock the account for 1 minute, doubling per lock up to 1 hour; 20 failures from one client address within 15 minutes refuse that address (see iam.auth_settings for how the address is found). An email of more than 320 characters is 400 (22001).$$;

-- A wrong old password is a guess like a failed login: it counts towards the account's lockout,
-- is recorded, and is answered without an exception so that the count commits.
DROP FUNCTION api.change_password(text, text);
CREATE FUNCTION api.change_password(old_password text, new_password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users;
  decision record;
BEGIN
  SELECT * INTO me FROM iam.users u WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL FOR UPDATE;
  IF me.user_id IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = 'PT401';
  END IF;
  SELECT * INTO decision
    FROM iam.decide_login(old_password, true, me.password_hash, false, me.failed_logins, me.failure_window_start,
                          me.lock_count, me.locked_until, 0, NULL, now());
  IF decision.reason <> 'ok' THEN
    UPDATE iam.users u
       SET failed_logins = decision.failures, failure_window_start = decision.window_start,
           lock_count = decision.locks, locked_until = decision.locked_until
     WHERE u.user_id = me.user_id;
    INSERT INTO iam.login_attempts (email, user_id, client_ip, succeeded, reason, via)
    VALUES (me.email, me.user_id, iam.client_ip(), false, decision.reason, 'change_password');
    PERFORM set_config('response.status', '403', true);
    RETURN jsonb_build_object('error', 'invalid_credentials',
                              'message', 'old_password: the current password is wrong, or the account is locked',
                              'hint', 'Enter the password you log in with now; after 5 failures wait a minute.');
  END IF;
  UPDATE iam.users u
     SET password_hash = iam.hash_password(new_password), password_changed_at = now(), failed_logins = 0,
         failure_window_start = NULL, lock_count = 0, locked_until = NULL
   WHERE u.user_id = me.user_id;
  RETURN jsonb_build_object('user_id', me.user_id, 'password_changed_at', now());
END
$$;
COMMENT ON FUNCTION api.change_password(text, text) IS
  'Users change their own password, giving the old one (POST /rpc/change_password). A wrong old password answers 403 and counts towards the account''s lockout like a failed login; while locked even the right one is refused. Tokens issued before the change stop working; log in again';

-- Replaced by iam.decide_login. Their C symbols stay in the library: the update scripts from
-- 0.1.0 still create them on the way here.
DROP FUNCTION iam.spend_password_verification(text);
DROP FUNCTION iam.lockout_after_failure(integer, timestamptz, integer, timestamptz, timestamptz);

-- ---------------------------------------------------------------------------------------------
-- Health.

CREATE TABLE ops.health_settings (
  singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  expected_replicas integer NOT NULL DEFAULT 0 CHECK (expected_replicas >= 0)
);
COMMENT ON TABLE ops.health_settings IS 'One row: what api.health_db() expects of this deployment';
COMMENT ON COLUMN ops.health_settings.singleton IS 'Always true: there is one row';
COMMENT ON COLUMN ops.health_settings.expected_replicas IS
  'Streaming replicas a primary should have; fewer degrade api.health_db() (default 0: none expected)';
INSERT INTO ops.health_settings DEFAULT VALUES;
GRANT SELECT, UPDATE ON ops.health_settings TO expense_ops_admin;
SELECT pg_catalog.pg_extension_config_dump('ops.health_settings', '');

COMMENT ON FUNCTION api.health_db() IS
$$Database health (GET /rpc/health_db). Everyone gets status (ok, degraded, down), in_recovery, the replication role and the findings' checks; members of expense_ops_admin also get the detail: server version, replication (a primary's replicas with their lag, and how many stream against ops.health_settings.expected_replicas; a standby's WAL receiver, the time since its primary's last message and its replay lag), connections used/max/percent, the longest open transaction, transaction-id wraparound, database size, cache hit ratio, deadlocks and each finding's message. Degraded at 80 % of the connection slots open to ordinary roles (down at 95 %), a transaction open 300 s, replication lag of 60 s, a standby without a streaming WAL receiver or without a message from its primary for 60 s, fewer streaming replicas than expected, a cache hit ratio below 0.90 over at least 10000 block reads, or the oldest xid past 50 % of wraparound (down at 95 %).$$;
COMMENT ON FUNCTION api.health() IS
$$Service health (GET /rpc/health). status is ok, degraded or down: degraded when no worker heartbeat arrived within 3 of the worker's heartbeat intervals, when the loaded library and the installed extension versions differ, when the oldest transaction id passed 50 % of wraparound (down past 95 %), or on a standby that is not streaming from its primary or has heard nothing from it for 60 s. Also reports version, time, database, in_recovery, replication (on a standby), the worker (status ok/stale/missing, last_heartbeat, age_seconds) and the findings behind the status.$$;

-- The worker refreshes SLA transitions through its SECURITY DEFINER function and reads nothing
-- of the tickets itself.
REVOKE SELECT ON ops.sla_transitions, ops.sla_checks, ops.tickets FROM expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Privileges. PostgreSQL grants EXECUTE to PUBLIC on every new function; nothing of this
-- extension keeps that. Each role gets what it calls, and the API roles the few internal
-- functions that row-level security, the views and the INSTEAD OF triggers call as the caller.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA api, expense, iam, ops FROM PUBLIC;

-- Base amounts are computed by the SECURITY DEFINER workflow functions. (normalize_merchant stays
-- granted: the duplicates index on it is maintained with the writing role's rights.)
REVOKE EXECUTE ON FUNCTION expense.currency_exponent(text) FROM expense_user;
GRANT EXECUTE ON FUNCTION api.change_password(text, text), api.comment_ticket(bigint, text, text),
  api.sla_report(timestamptz, timestamptz), api.ticket_counts(timestamptz, timestamptz)
  TO expense_user;
GRANT EXECUTE ON FUNCTION api.comment_ticket(bigint, text, text), api.sla_report(timestamptz, timestamptz),
  api.ticket_counts(timestamptz, timestamptz) TO expense_ops_admin;
-- Called as the caller by the INSTEAD OF triggers of the api views and by the policies.
GRANT EXECUTE ON FUNCTION expense.bounded_text(text, text, integer), expense.explain_refused_write(uuid, text),
  expense.limit_in_minor_units(text, numeric, text), expense.is_time_zone(text), iam.caller_has_role(uuid, text[])
  TO expense_user;

-- Staff in psql: the SLA configuration and reading functions. The trigger functions are not
-- theirs to attach anywhere; what the tickets' invoker triggers call as them stays granted.
GRANT EXECUTE ON FUNCTION ops.sla_report(timestamptz, timestamptz, uuid), ops.ticket_counts(timestamptz, timestamptz, uuid),
  iam.set_staff(uuid, boolean), expense.currency_table_edition() TO expense_ops_admin;
-- The api views' filters, read by staff in psql too.
GRANT EXECUTE ON FUNCTION iam.current_user_id(), iam.current_account() TO expense_ops_admin;
REVOKE EXECUTE ON FUNCTION ops.record_ticket_events(), ops.apply_ticket_rules(), ops.restate_tickets(),
  ops.validate_calendar(), ops.validate_sla_policy(), ops.sla_configuration_changed(), ops.refuse_deleting_tickets()
  FROM expense_ops_admin;

-- The limits added NOT VALID above are validated where the data allows. One that an older row
-- breaks stays NOT VALID: it still holds every new write, the old row is kept as it was, and a
-- WARNING names the constraint so that the row can be shortened and the constraint validated.
DO $validate$
DECLARE
  pending record;
BEGIN
  FOR pending IN
    SELECT c.conrelid::regclass AS relation, c.conname
      FROM pg_constraint c
     WHERE NOT c.convalidated
       AND c.conrelid IN ('iam.users'::regclass, 'ops.tickets'::regclass)
     ORDER BY 1, 2
  LOOP
    BEGIN
      EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', pending.relation, pending.conname);
    EXCEPTION WHEN check_violation THEN
      RAISE WARNING 'expense_ops 0.4.0: rows of % written before the limit % exceed it; they are kept, and the limit holds for new writes',
        pending.relation, pending.conname
        USING HINT = format('Shorten them, then run ALTER TABLE %s VALIDATE CONSTRAINT %I.', pending.relation, pending.conname);
    END;
  END LOOP;
END
$validate$;

