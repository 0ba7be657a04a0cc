-- expense_ops: the expense workflow. Each transition is a function of the API; what it may do
-- is decided in C++ (extension/core/workflow and expense_rules), and the function applies the
-- step: submit, confirm not a duplicate, approve (twice above the organisation's threshold),
-- reject, reimburse, reopen.

CREATE FUNCTION expense.workflow_step(
  action text, status text, actor_role text, actor_is_owner boolean, actor_manages_owner boolean,
  above_threshold boolean, first_approval_given boolean, actor_gave_first_approval boolean, reason text,
  OUT next_status text, OUT records_first_approval boolean)
LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_workflow_decision';
COMMENT ON FUNCTION expense.workflow_step(text, text, text, boolean, boolean, boolean, boolean, boolean, text) IS
  'The next status for a workflow action, and whether the step is a first approval that leaves the expense submitted; or the error that forbids it (PT409 wrong status, 42501 not allowed, 22X32 no reason)';
CREATE FUNCTION expense.to_base_amount(amount_minor bigint, currency text, rate numeric, base_currency text)
RETURNS bigint LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_to_base_amount';
COMMENT ON FUNCTION expense.to_base_amount(bigint, text, numeric, text) IS
  'An amount in minor units of currency, at rate (base units per unit), in minor units of base_currency, rounded half away from zero';
CREATE FUNCTION expense.check_submission(
  base_amount bigint, base_currency text, has_receipt boolean, receipt_threshold bigint,
  per_item_limit bigint, same_day_total bigint, per_day_limit bigint)
RETURNS void LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_check_submission';
COMMENT ON FUNCTION expense.check_submission(bigint, text, boolean, bigint, bigint, bigint, bigint) IS
  'Refuses a submission without a receipt above the threshold (22X33), above the per-item limit (22X34) or the per-day limit (22X35)';

-- The expense an api.*_expense function works on, locked, if the caller may see it. Others get
-- the same 404 as a missing id, so nobody learns which ids exist elsewhere.
CREATE FUNCTION expense.expense_for_update(id uuid) RETURNS expense.expenses
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  row expense.expenses;
BEGIN
  SELECT * INTO row FROM expense.expenses e WHERE e.expense_id = id FOR UPDATE;
  IF row.expense_id IS NULL OR NOT iam.can_see_expenses_of(row.user_id) THEN
    RAISE EXCEPTION 'id: no expense % is visible to you', id USING ERRCODE = expense.sqlstate('not_found'),
      HINT = 'Check the id; you see your own expenses, your reports'' and, in finance, everyone''s.';
  END IF;
  RETURN row;
END
$$;
COMMENT ON FUNCTION expense.expense_for_update(uuid) IS 'Locks and returns an expense the caller may see; 404 otherwise';

CREATE FUNCTION expense.apply_step(expense expense.expenses, action text, reason text DEFAULT NULL,
                                   OUT next_status text, OUT records_first_approval boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me record := iam.current_account();
  threshold bigint;
  manages boolean;
BEGIN
  IF me.user_id IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = expense.sqlstate('unauthorized');
  END IF;
  SELECT o.second_approval_threshold INTO threshold FROM expense.orgs o WHERE o.org_id = expense.org_id;
  SELECT u.manager_id IS NOT DISTINCT FROM me.user_id INTO manages FROM iam.users u WHERE u.user_id = expense.user_id;
  SELECT s.next_status, s.records_first_approval INTO next_status, records_first_approval
    FROM expense.workflow_step(action, expense.status, me.role, expense.user_id = me.user_id, manages,
                               coalesce(expense.base_amount_minor > threshold, false),
                               expense.first_approved_by IS NOT NULL,
                               expense.first_approved_by IS NOT DISTINCT FROM me.user_id, reason) s;
END
$$;
COMMENT ON FUNCTION expense.apply_step(expense.expenses, text, text) IS
  'Asks the C++ workflow for the caller''s next step on an expense';

CREATE FUNCTION expense.as_api_row(id uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT to_jsonb(x) FROM api.expenses x WHERE x.id = as_api_row.id
$$;
COMMENT ON FUNCTION expense.as_api_row(uuid) IS 'An expense as api.expenses shows it, as jsonb';

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

CREATE FUNCTION api.submit_expense(id uuid) RETURNS jsonb
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
        e.expense_date USING ERRCODE = expense.sqlstate('no_exchange_rate'),
        HINT = 'Ask finance to record the rate (POST /exchange_rates), then submit again.';
    END IF;
  END IF;
  base_amount := expense.to_base_amount(e.amount_minor, e.currency, rate, org.base_currency);

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

CREATE FUNCTION api.confirm_not_duplicate(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
BEGIN
  IF e.user_id IS DISTINCT FROM (SELECT user_id FROM iam.current_account()) THEN
    RAISE EXCEPTION 'only the owner confirms an expense is not a duplicate' USING ERRCODE = expense.sqlstate('forbidden');
  END IF;
  IF e.status <> 'draft' THEN
    RAISE EXCEPTION 'status: only a draft can be confirmed, this one is %', e.status USING ERRCODE = expense.sqlstate('wrong_status');
  END IF;
  UPDATE expense.expenses x SET duplicate_confirmed_at = now(), duplicate_of = NULL, updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.confirm_not_duplicate(uuid) IS
  'The owner confirms a held expense is not a duplicate (POST /rpc/confirm_not_duplicate); it can then be submitted';

CREATE FUNCTION api.approve_expense(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
  step record := expense.apply_step(e, 'approve');
  me uuid := (SELECT user_id FROM iam.current_account());
BEGIN
  IF step.records_first_approval THEN
    UPDATE expense.expenses x SET first_approved_by = me, first_approved_at = now(), updated_at = now()
     WHERE x.expense_id = e.expense_id;
  ELSIF e.first_approved_by IS NULL THEN
    UPDATE expense.expenses x SET status = 'approved', first_approved_by = me, first_approved_at = now(),
           updated_at = now() WHERE x.expense_id = e.expense_id;
  ELSE
    UPDATE expense.expenses x SET status = 'approved', second_approved_by = me, second_approved_at = now(),
           updated_at = now() WHERE x.expense_id = e.expense_id;
  END IF;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.approve_expense(uuid) IS
  'Approve a submitted expense (POST /rpc/approve_expense): the owner''s manager, finance or an admin, never the owner. Above the organisation''s threshold the first approval leaves it submitted and finance gives the second';

CREATE FUNCTION api.reject_expense(id uuid, reason text DEFAULT NULL) RETURNS jsonb
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

CREATE FUNCTION api.reimburse_expense(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
BEGIN
  PERFORM expense.apply_step(e, 'reimburse');
  UPDATE expense.expenses x
     SET status = 'reimbursed', reimbursed_by = (SELECT user_id FROM iam.current_account()), reimbursed_at = now(),
         updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.reimburse_expense(uuid) IS 'Mark an approved expense reimbursed (POST /rpc/reimburse_expense); finance only';

CREATE FUNCTION api.reopen_expense(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
BEGIN
  PERFORM expense.apply_step(e, 'reopen');
  UPDATE expense.expenses x
     SET status = 'draft', exchange_rate = NULL, base_amount_minor = NULL, updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.reopen_expense(uuid) IS
  'Return a rejected expense to draft (POST /rpc/reopen_expense), owner only, to fix and submit it again';

REVOKE ALL ON FUNCTION expense.workflow_step(text, text, text, boolean, boolean, boolean, boolean, boolean, text),
  expense.to_base_amount(bigint, text, numeric, text),
  expense.check_submission(bigint, text, boolean, bigint, bigint, bigint, bigint),
  expense.expense_for_update(uuid), expense.apply_step(expense.expenses, text, text), expense.as_api_row(uuid),
  expense.serialise_owner(uuid), api.submit_expense(uuid), api.confirm_not_duplicate(uuid),
  api.approve_expense(uuid), api.reject_expense(uuid, text), api.reimburse_expense(uuid), api.reopen_expense(uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.submit_expense(uuid), api.confirm_not_duplicate(uuid), api.approve_expense(uuid),
  api.reject_expense(uuid, text), api.reimburse_expense(uuid), api.reopen_expense(uuid) TO expense_user;
