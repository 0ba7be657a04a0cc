-- expense_ops 0.4.0 -> 0.5.0: one place for every definition.
--   * One error catalog: SQL raises each rule's SQLSTATE by its name through
--     expense.sqlstate(name), which reads the catalog compiled into the library
--     (extension/core/error.hpp; docs/errors.md shows it), instead of writing the code itself.
--   * The SLA milestones are computed once, in C++: ops.ticket_milestones for what a ticket
--     stores, ops.sla_crossings and ops.next_sla_crossing for the transitions and the refresh.
--   * A single-row write close to a bare insert: the caller's user row read once per
--     transaction in C++ (iam.current_account and its siblings); api.expenses automatically
--     updatable for INSERT, with the rules trigger completing the row (expense.expenses keeps
--     the decimal amount and the base currency); creations audited by a C++ statement trigger.
-- The functions re-created below are as extension/sql/ defines them (scripts/changed-functions.sh
-- lists what changed since 0.4.0).
\echo Use "ALTER EXTENSION expense_ops UPDATE TO '0.5.0'" to load this file. \quit

CREATE FUNCTION expense.sqlstate(name text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sqlstate';
COMMENT ON FUNCTION expense.sqlstate(text) IS
  'The SQLSTATE of an error of the catalog, by its name (docs/errors.md); 22023 for a name the catalog does not hold';
REVOKE ALL ON FUNCTION expense.sqlstate(text) FROM PUBLIC;
-- Raised with the caller's rights by the INSTEAD OF triggers, the policies' helpers and the
-- tickets' triggers that staff fire in psql.
GRANT EXECUTE ON FUNCTION expense.sqlstate(text) TO expense_user, expense_ops_admin;
-- Staff writing tickets in psql raise through it too.
GRANT USAGE ON SCHEMA expense TO expense_ops_admin;

-- The milestones of a ticket's two clocks, and the crossings recorded from them: computed once,
-- in C++ (core::sla::clock_milestones, crossings_by, next_crossing), for the stored instants,
-- the transitions and the refresh alike; ops.read_clock uses the same computation.
CREATE FUNCTION ops.ticket_milestones(calendar text, opened timestamptz, response_target interval,
                                      resolution_target interval, at_risk_fraction float8,
                                      first_response timestamptz, resolved timestamptz, pauses tstzmultirange,
                                      OUT response_at_risk timestamptz, OUT response_due timestamptz,
                                      OUT resolution_at_risk timestamptz, OUT resolution_due timestamptz)
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_ticket_milestones';
COMMENT ON FUNCTION ops.ticket_milestones(text, timestamptz, interval, interval, float8, timestamptz, timestamptz, tstzmultirange) IS
  'When each of a ticket''s clocks becomes at risk and is due, counting working time of the calendar outside the pauses (those before the clock''s stop, once it stopped); NULL while an open pause holds a clock';

CREATE FUNCTION ops.sla_crossings(response_at_risk timestamptz, response_due timestamptz,
                                  resolution_at_risk timestamptz, resolution_due timestamptz,
                                  first_response timestamptz, resolved timestamptz, by_instant timestamptz)
RETURNS TABLE (clock text, state ops.sla_clock_state, at timestamptz)
-- At most four rows: the planner must not take it for a table of a thousand.
LANGUAGE c IMMUTABLE PARALLEL SAFE ROWS 4 AS 'MODULE_PATHNAME', 'expense_ops_sla_crossings';
COMMENT ON FUNCTION ops.sla_crossings(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
  'The moves into at_risk and breached that have happened by by_instant: each milestone at or before it that came before its clock stopped';

CREATE FUNCTION ops.next_sla_crossing(response_at_risk timestamptz, response_due timestamptz,
                                      resolution_at_risk timestamptz, resolution_due timestamptz,
                                      first_response timestamptz, resolved timestamptz, after timestamptz)
RETURNS timestamptz
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_next_sla_crossing';
COMMENT ON FUNCTION ops.next_sla_crossing(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
  'The next instant after `after` at which a clock still running crosses into at_risk or breached; NULL when none will';

REVOKE ALL ON FUNCTION
  ops.ticket_milestones(text, timestamptz, interval, interval, float8, timestamptz, timestamptz, tstzmultirange),
  ops.sla_crossings(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
  ops.next_sla_crossing(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  ops.ticket_milestones(text, timestamptz, interval, interval, float8, timestamptz, timestamptz, tstzmultirange),
  ops.sla_crossings(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
  ops.next_sla_crossing(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz)
  TO expense_ops_admin;

-- Who is calling, in C++ (extension/pg/caller.cpp): the user row read once per transaction,
-- and forgotten when iam.users is written.
CREATE OR REPLACE FUNCTION iam.current_user_id() RETURNS uuid
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_current_user_id';
CREATE OR REPLACE FUNCTION iam.current_account(OUT user_id uuid, OUT org_id uuid, OUT role text)
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_current_account';
COMMENT ON FUNCTION iam.current_account() IS
  'The calling user''s id, organisation and application role, from their user row (one row of NULLs for anonymous or disabled callers); read once per transaction';
CREATE OR REPLACE FUNCTION iam.can_see_expenses_of(owner uuid) RETURNS boolean
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_can_see_expenses_of';
CREATE OR REPLACE FUNCTION iam.caller_has_role(org_id uuid, VARIADIC roles text[]) RETURNS boolean
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_caller_has_role';
CREATE FUNCTION iam.forget_caller() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_forget_caller';
COMMENT ON FUNCTION iam.forget_caller() IS
  'AFTER each statement on iam.users: drops this backend''s cached caller, which the write may have changed';
REVOKE ALL ON FUNCTION iam.forget_caller() FROM PUBLIC;
CREATE TRIGGER forget_caller AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam.users
  FOR EACH STATEMENT EXECUTE FUNCTION iam.forget_caller();

-- expense.expenses keeps the API's decimal amount and the base currency, so that api.expenses
-- can be one table's view. Filled for the rows already there without firing the triggers: the
-- audit trail must not show an edit nobody made.
ALTER TABLE expense.expenses ADD COLUMN amount numeric, ADD COLUMN base_currency text;
ALTER TABLE expense.expenses DISABLE TRIGGER USER;
UPDATE expense.expenses e
   SET amount = expense.to_amount(e.amount_minor, e.currency), base_currency = o.base_currency
  FROM expense.orgs o
 WHERE o.org_id = e.org_id;
ALTER TABLE expense.expenses ENABLE TRIGGER USER;
ALTER TABLE expense.expenses ALTER COLUMN amount SET NOT NULL, ALTER COLUMN base_currency SET NOT NULL;
COMMENT ON COLUMN expense.expenses.amount IS
  'amount_minor as the API shows it, with exactly the currency''s decimals. A write gives either; the trigger expense_rules keeps the other';
COMMENT ON COLUMN expense.expenses.base_currency IS
  'The organisation''s base currency, which base_amount_minor is in; kept by the trigger expense_rules';
COMMENT ON FUNCTION expense.enforce_expense_rules() IS
  'BEFORE INSERT OR UPDATE on expense.expenses: currency and amount (kept as both amount and amount_minor), date against today in the organisation''s time zone and the category''s maximum age, an active category of the same organisation, text limits (22001); fills in the owner''s organisation and its base currency, and refuses a tenant''s creation of someone else''s expense (42501) or of one not in draft (22X30)';
GRANT INSERT (amount, status) ON expense.expenses TO expense_user;
GRANT UPDATE (amount) ON expense.expenses TO expense_user;
ALTER POLICY visible ON expense.expenses
  USING (org_id = (iam.current_account()).org_id AND iam.can_see_expenses_of(user_id));
ALTER POLICY owner_creates_drafts ON expense.expenses
  WITH CHECK (status = 'draft' AND user_id = (iam.current_account()).user_id
              AND org_id = (iam.current_account()).org_id);

-- api.expenses: automatically updatable for INSERT; edits and deletions keep their trigger.
DROP TRIGGER write ON api.expenses;
CREATE OR REPLACE VIEW api.expenses WITH (security_invoker = true) AS
SELECT e.expense_id AS id, e.user_id, e.category_id, e.expense_date, e.merchant, e.description,
       e.amount, e.currency, expense.to_amount(e.base_amount_minor, e.base_currency) AS base_amount,
       e.base_currency, e.exchange_rate, e.receipt_ref, e.status, e.created_at, e.updated_at,
       e.rejection_reason
  FROM expense.expenses e;
ALTER VIEW api.expenses ALTER COLUMN user_id SET DEFAULT iam.current_user_id();
CREATE TRIGGER write INSTEAD OF UPDATE OR DELETE ON api.expenses
  FOR EACH ROW EXECUTE FUNCTION api.write_expense();
COMMENT ON FUNCTION api.write_expense() IS
  'INSTEAD OF UPDATE or DELETE of api.expenses: writes expense.expenses as the caller, so row-level security and the rules apply, and explains a refused write (42501, PT409)';

-- Creations in the audit trail, in C++ (extension/pg/audit.cpp).
CREATE FUNCTION expense.record_expense_creations() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_record_expense_creations';
COMMENT ON FUNCTION expense.record_expense_creations() IS
  'AFTER INSERT on expense.expenses, each statement: appends a create event per new expense to expense.expense_events';
REVOKE ALL ON FUNCTION expense.record_expense_creations() FROM PUBLIC;
DROP TRIGGER audit_insert ON expense.expenses;
CREATE TRIGGER audit_insert AFTER INSERT ON expense.expenses
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_creations();
COMMENT ON FUNCTION expense.record_expense_events() IS
  'AFTER each UPDATE or DELETE statement on expense.expenses: appends its edits, transitions and deletions to expense.expense_events';

-- The audit trail of expenses keeps one index: its key finds an expense's events too.
ALTER TABLE expense.expense_events DROP CONSTRAINT expense_events_pkey;
DROP INDEX expense.expense_events_expense;
ALTER TABLE expense.expense_events ADD PRIMARY KEY (expense_id, event_id);

-- The functions that now raise by name, and those that read the milestones.
CREATE OR REPLACE FUNCTION api.accept_invitation(code text, password text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    RAISE EXCEPTION 'code: the invitation code is wrong, used or expired' USING ERRCODE = expense.sqlstate('invalid_credentials'),
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
      RAISE EXCEPTION 'email: % already has an account', invitation.email USING ERRCODE = expense.sqlstate('unique_violation'),
        HINT = 'Log in with that account, or ask your administrator to invite another address.';
    END;
  END IF;
  UPDATE iam.invitations i SET accepted_at = now() WHERE i.invitation_id = invitation.invitation_id;
  RETURN jsonb_build_object('user_id', invitee.user_id, 'email', invitee.email);
END
$function$
;
CREATE OR REPLACE FUNCTION api.change_password(old_password text, new_password text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  me iam.users;
  decision record;
BEGIN
  SELECT * INTO me FROM iam.users u WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL FOR UPDATE;
  IF me.user_id IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = expense.sqlstate('unauthorized');
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
$function$
;
CREATE OR REPLACE FUNCTION api.comment_ticket(ticket_id bigint, body text, visibility text DEFAULT 'public'::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  t ops.tickets := ops.visible_ticket(ticket_id, true);
  staff boolean := ops.is_support_staff();
  actor text := ops.current_actor();
BEGIN
  IF body IS NULL OR body !~ '[^[:space:]]' THEN
    RAISE EXCEPTION 'body: a comment needs text' USING ERRCODE = expense.sqlstate('null_value'), HINT = 'Write something.';
  END IF;
  PERFORM expense.bounded_text('body', body, 20000);
  IF visibility IS NULL OR visibility NOT IN ('public', 'internal') THEN
    RAISE EXCEPTION 'visibility: "%" is neither public nor internal', visibility USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Use public (the ticket''s organisation reads it) or internal (staff only).';
  END IF;
  IF visibility = 'internal' AND NOT staff THEN
    RAISE EXCEPTION 'visibility: only staff write internal comments' USING ERRCODE = expense.sqlstate('forbidden'),
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
$function$
;
CREATE OR REPLACE FUNCTION api.confirm_not_duplicate(id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION api.create_user(email text, display_name text, role text DEFAULT 'employee'::text, manager_id uuid DEFAULT NULL::uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  me iam.users := iam.require_admin();
  secret text := rtrim(translate(encode(iam.random_bytes(24), 'base64'), '+/', '-_'), '=');
  invitee_email text := btrim(expense.bounded_text('email', email, 320));
  invitee_name text := btrim(expense.bounded_text('display_name', display_name, 200));
  invitation iam.invitations;
BEGIN
  IF invitee_email IS NULL OR invitee_email !~ '^[^@\s]+@[^@\s]+$' THEN
    RAISE EXCEPTION 'email: "%" is not an email address', invitee_email USING ERRCODE = expense.sqlstate('check_violation'),
      HINT = 'Give an address such as jane@example.com.';
  END IF;
  IF invitee_name IS NULL OR invitee_name = '' THEN
    RAISE EXCEPTION 'display_name: a name is required' USING ERRCODE = expense.sqlstate('check_violation'), HINT = 'Give the name others see.';
  END IF;
  IF role IS NULL OR role NOT IN ('employee', 'manager', 'finance', 'support', 'admin') THEN
    RAISE EXCEPTION 'role: "%" is not an application role', role USING ERRCODE = expense.sqlstate('check_violation'),
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
      USING ERRCODE = expense.sqlstate('unique_violation'), HINT = 'Use that account, or wait until the invitation expires.';
  END IF;
  INSERT INTO iam.invitations (user_id, org_id, email, display_name, role, manager_id, secret_hash, created_by)
  VALUES (gen_random_uuid(), me.org_id, invitee_email, invitee_name, role, manager_id, iam.rehash_password(secret),
          me.user_id)
  RETURNING * INTO invitation;
  RETURN jsonb_build_object('user_id', invitation.user_id, 'email', invitation.email, 'role', invitation.role,
                            'invitation_code', invitation.invitation_id || '.' || secret,
                            'invitation_expires_at', invitation.expires_at);
END
$function$
;
CREATE OR REPLACE FUNCTION api.deactivate_user(user_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  me iam.users := iam.require_admin();
BEGIN
  IF user_id = me.user_id THEN
    RAISE EXCEPTION 'user_id: admins cannot deactivate themselves' USING ERRCODE = expense.sqlstate('wrong_status'),
      HINT = 'Ask another admin.';
  END IF;
  PERFORM iam.user_of_org(user_id, me.org_id);
  UPDATE iam.users u SET disabled_at = coalesce(u.disabled_at, now()) WHERE u.user_id = deactivate_user.user_id;
END
$function$
;
CREATE OR REPLACE FUNCTION api.expense_summary("from" date, "to" date)
 RETURNS TABLE(month date, category text, base_currency text, expenses bigint, total numeric)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION api.logout()
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
BEGIN
  IF claims->>'jti' IS NULL OR claims->>'sub' IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = expense.sqlstate('unauthorized'), HINT = 'Send the token to revoke.';
  END IF;
  INSERT INTO iam.revoked_tokens (jti, user_id, expires_at)
  VALUES ((claims->>'jti')::uuid, (claims->>'sub')::uuid, to_timestamp((claims->>'exp')::bigint))
  ON CONFLICT (jti) DO NOTHING;
  -- Expired revocations serve no purpose.
  DELETE FROM iam.revoked_tokens WHERE expires_at < now() - interval '1 day';
END
$function$
;
CREATE OR REPLACE FUNCTION api.open_ticket(kind text, priority text, title text, description text DEFAULT ''::text, reporter text DEFAULT NULL::text, labels text[] DEFAULT '{}'::text[], affected_release text DEFAULT NULL::text, org_id uuid DEFAULT NULL::uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    RAISE EXCEPTION 'log in to open a ticket' USING ERRCODE = expense.sqlstate('forbidden');
  END IF;
  IF kind NOT IN ('support', 'bug') THEN
    RAISE EXCEPTION 'kind: you may open support tickets and bug reports, not %', kind USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Open a support ticket; the operator''s staff turn it into an incident, a feature request or a security issue.';
  END IF;
  IF open_ticket.org_id IS DISTINCT FROM me.org_id AND open_ticket.org_id IS NOT NULL THEN
    RAISE EXCEPTION 'org_id: you open tickets for your own organisation only' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Leave org_id out.';
  END IF;
  IF reporter IS NOT NULL AND lower(btrim(reporter)) <> lower(me_email) THEN
    RAISE EXCEPTION 'reporter: you report as yourself' USING ERRCODE = expense.sqlstate('forbidden'), HINT = 'Leave reporter out.';
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
$function$
;
CREATE OR REPLACE FUNCTION api.pre_request()
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    RAISE EXCEPTION 'token signed with a retired or unknown key' USING ERRCODE = expense.sqlstate('unauthorized'), HINT = 'Log in again.';
  END IF;
  IF claims->>'sub' IS NULL THEN
    RETURN;  -- anonymous
  END IF;
  IF EXISTS (SELECT FROM iam.revoked_tokens WHERE jti = (claims->>'jti')::uuid) THEN
    RAISE EXCEPTION 'token revoked' USING ERRCODE = expense.sqlstate('unauthorized'), HINT = 'Log in again.';
  END IF;
  SELECT u.disabled_at, u.password_changed_at INTO account
    FROM iam.users u WHERE u.user_id = (claims->>'sub')::uuid;
  IF NOT FOUND OR account.disabled_at IS NOT NULL THEN
    RAISE EXCEPTION 'account disabled' USING ERRCODE = expense.sqlstate('unauthorized'), HINT = 'Ask an administrator.';
  END IF;
  -- iat has whole seconds; against the exact change instant, every token issued before the
  -- change is refused (and one issued later within the same second too: log in again).
  IF account.password_changed_at IS NOT NULL
     AND (claims->>'iat')::numeric < extract(epoch FROM account.password_changed_at) THEN
    RAISE EXCEPTION 'token issued before the last password change' USING ERRCODE = expense.sqlstate('unauthorized'),
      HINT = 'Log in again with the new password.';
  END IF;
END
$function$
;
CREATE OR REPLACE FUNCTION api.submit_expense(id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION api.write_category()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION api.write_exchange_rate()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION api.write_expense()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION api.write_organisation()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
-- The workflow's decision is a row now, not a string to compare with 'submitted+first_approval'.
-- A function's result type cannot be replaced in place: both are dropped and created again.
DROP FUNCTION expense.apply_step(expense.expenses, text, text);
DROP FUNCTION expense.workflow_step(text, text, text, boolean, boolean, boolean, boolean, boolean, text);
CREATE FUNCTION expense.workflow_step(action text, status text, actor_role text, actor_is_owner boolean, actor_manages_owner boolean, above_threshold boolean, first_approval_given boolean, actor_gave_first_approval boolean, reason text, OUT next_status text, OUT records_first_approval boolean)
 RETURNS record
 LANGUAGE c
 IMMUTABLE
AS '$libdir/expense_ops', $function$expense_ops_workflow_decision$function$
;
CREATE OR REPLACE FUNCTION iam.caller_has_role(org_id uuid, VARIADIC roles text[])
 RETURNS boolean
 LANGUAGE c
 STABLE
AS '$libdir/expense_ops', $function$expense_ops_caller_has_role$function$
;
CREATE OR REPLACE FUNCTION iam.can_see_expenses_of(owner uuid)
 RETURNS boolean
 LANGUAGE c
 STABLE
AS '$libdir/expense_ops', $function$expense_ops_can_see_expenses_of$function$
;
CREATE OR REPLACE FUNCTION iam.current_account(OUT user_id uuid, OUT org_id uuid, OUT role text)
 RETURNS record
 LANGUAGE c
 STABLE
AS '$libdir/expense_ops', $function$expense_ops_current_account$function$
;
CREATE OR REPLACE FUNCTION iam.current_user_id()
 RETURNS uuid
 LANGUAGE c
 STABLE
AS '$libdir/expense_ops', $function$expense_ops_current_user_id$function$
;
CREATE OR REPLACE FUNCTION iam.require_admin()
 RETURNS iam.users
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  me iam.users;
BEGIN
  SELECT * INTO me FROM iam.users u WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL;
  IF me.user_id IS NULL OR me.role <> 'admin' THEN
    RAISE EXCEPTION 'only an admin manages users' USING ERRCODE = expense.sqlstate('forbidden'), HINT = 'Ask an administrator.';
  END IF;
  RETURN me;
END
$function$
;
COMMENT ON FUNCTION expense.workflow_step(text, text, text, boolean, boolean, boolean, boolean, boolean, text) IS
  'The next status for a workflow action, and whether the step is a first approval that leaves the expense submitted; or the error that forbids it (PT409 wrong status, 42501 not allowed, 22X32 no reason)';
CREATE FUNCTION expense.apply_step(expense expense.expenses, action text, reason text DEFAULT NULL::text, OUT next_status text, OUT records_first_approval boolean)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
COMMENT ON FUNCTION expense.apply_step(expense.expenses, text, text) IS
  'Asks the C++ workflow for the caller''s next step on an expense';
REVOKE ALL ON FUNCTION expense.workflow_step(text, text, text, boolean, boolean, boolean, boolean, boolean, text),
  expense.apply_step(expense.expenses, text, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION api.approve_expense(id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
-- The conversion of a submission's amount into the base currency, in C++.
CREATE FUNCTION expense.to_base_amount(amount_minor bigint, currency text, rate numeric, base_currency text)
RETURNS bigint LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_to_base_amount';
COMMENT ON FUNCTION expense.to_base_amount(bigint, text, numeric, text) IS
  'An amount in minor units of currency, at rate (base units per unit), in minor units of base_currency, rounded half away from zero';
REVOKE ALL ON FUNCTION expense.to_base_amount(bigint, text, numeric, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION expense.bounded_text(field text, value text, max_characters integer)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF length(value) > max_characters THEN
    RAISE EXCEPTION '%: at most % characters, got %', field, max_characters, length(value)
      USING ERRCODE = expense.sqlstate('text_too_long'), HINT = format('Shorten %s to %s characters or fewer.', field, max_characters);
  END IF;
  RETURN value;
END
$function$
;
CREATE OR REPLACE FUNCTION expense.expense_for_update(id uuid)
 RETURNS expense.expenses
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION expense.explain_refused_write(expense_id uuid, verb text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION expense.limit_in_minor_units(field text, amount numeric, currency text)
 RETURNS bigint
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION expense.record_expense_events()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  actor uuid := iam.current_user_id();
BEGIN
  -- SECURITY DEFINER writes the audit trail: on any other table it would let the caller forge
  -- events for any organisation.
  IF TG_RELID <> 'expense.expenses'::regclass OR TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'STATEMENT'
     OR TG_OP NOT IN ('UPDATE', 'DELETE') THEN
    RAISE EXCEPTION 'expense.record_expense_events() fires only AFTER each UPDATE or DELETE statement on expense.expenses, not on % (%)',
      TG_RELID::regclass, TG_OP USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF TG_OP = 'DELETE' THEN
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
         FROM jsonb_object_keys(to_jsonb(n) - 'updated_at' - 'amount' - 'base_currency') key
        WHERE (to_jsonb(o) -> key) IS DISTINCT FROM (to_jsonb(n) -> key)) d
     WHERE d.changes IS NOT NULL;
  END IF;
  RETURN NULL;
END
$function$
;
CREATE OR REPLACE FUNCTION expense.refuse_rewriting_history()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = expense.sqlstate('forbidden'),
    HINT = 'Events are recorded by the expense triggers and never changed.';
END
$function$
;
CREATE OR REPLACE FUNCTION iam.require_admin()
 RETURNS iam.users
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  me iam.users;
BEGIN
  SELECT * INTO me FROM iam.users u WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL;
  IF me.user_id IS NULL OR me.role <> 'admin' THEN
    RAISE EXCEPTION 'only an admin manages users' USING ERRCODE = expense.sqlstate('forbidden'), HINT = 'Ask an administrator.';
  END IF;
  RETURN me;
END
$function$
;
CREATE OR REPLACE FUNCTION iam.retire_signing_key(kid text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF NOT EXISTS (SELECT FROM iam.signing_keys k WHERE k.kid = retire_signing_key.kid AND retired_at IS NULL) THEN
    RAISE EXCEPTION 'no signing key "%" is in use', kid USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'SELECT kid FROM iam.postgrest_jwks() lists the keys in use.';
  END IF;
  IF (SELECT count(*) FROM iam.signing_keys WHERE retired_at IS NULL) = 1 THEN
    RAISE EXCEPTION 'signing key "%" is the last one in use', kid USING ERRCODE = expense.sqlstate('object_state'),
      HINT = 'Run iam.rotate_signing_key() first.';
  END IF;
  UPDATE iam.signing_keys k SET retired_at = now() WHERE k.kid = retire_signing_key.kid;
END
$function$
;
CREATE OR REPLACE FUNCTION iam.set_staff(user_id uuid, is_staff boolean)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  UPDATE iam.users u SET is_staff = coalesce(set_staff.is_staff, false) WHERE u.user_id = set_staff.user_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'user_id: no user %', user_id USING ERRCODE = expense.sqlstate('not_found');
  END IF;
END
$function$
;
CREATE OR REPLACE FUNCTION iam.user_of_org(user_id uuid, org_id uuid)
 RETURNS iam.users
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  found iam.users;
BEGIN
  SELECT * INTO found FROM iam.users u WHERE u.user_id = user_of_org.user_id AND u.org_id = user_of_org.org_id
     FOR UPDATE;
  IF found.user_id IS NULL THEN
    RAISE EXCEPTION 'user_id: no user % in your organisation', user_id USING ERRCODE = expense.sqlstate('not_found');
  END IF;
  RETURN found;
END
$function$
;
CREATE OR REPLACE FUNCTION ops.apply_ticket_rules()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  moment timestamptz := now();
  to_phase text;
  was_paused boolean;
  is_paused boolean;
  unchanged ops.tickets;
BEGIN
  IF TG_RELID <> 'ops.tickets'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.apply_ticket_rules() fires only BEFORE each row of ops.tickets, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  NEW.priority := ops.check_priority(NEW.priority);
  IF TG_OP = 'INSERT' THEN
    IF NEW.state IS NULL THEN
      NEW.state := ops.ticket_initial_state(NEW.kind);
    ELSIF NEW.state <> ops.ticket_initial_state(NEW.kind) THEN
      PERFORM ops.ticket_phase(NEW.kind, NEW.state);  -- an unknown state: 22X52
      RAISE EXCEPTION 'state: a new % ticket starts in "%", not "%"', NEW.kind,
        ops.ticket_initial_state(NEW.kind), NEW.state
        USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Open it without a state, then move it along its lifecycle.';
    END IF;
    IF NEW.first_response_at IS NOT NULL OR NEW.resolved_at IS NOT NULL OR NEW.closed_at IS NOT NULL
       OR NEW.paused_during <> '{}' THEN
      RAISE EXCEPTION 'first_response_at, resolved_at, closed_at and paused_during follow the lifecycle'
        USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Leave them out; moving the ticket sets them.';
    END IF;
  ELSE
    IF NEW.kind <> OLD.kind THEN
      RAISE EXCEPTION 'kind: a ticket''s kind cannot change (% to %)', OLD.kind, NEW.kind
        USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Close it and open a ticket of the other kind.';
    END IF;
    IF (NEW.resolved_at, NEW.closed_at, NEW.paused_during) IS DISTINCT FROM
       (OLD.resolved_at, OLD.closed_at, OLD.paused_during)
       OR NEW.first_response_at IS DISTINCT FROM OLD.first_response_at AND OLD.first_response_at IS NOT NULL THEN
      RAISE EXCEPTION 'first_response_at, resolved_at, closed_at and paused_during follow the lifecycle'
        USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Move the ticket (state) or comment on it; these follow.';
    END IF;
    IF OLD.first_response_at IS NULL AND NEW.first_response_at IS NOT NULL
       AND (NEW.first_response_at < NEW.opened_at OR NEW.first_response_at > moment) THEN
      RAISE EXCEPTION 'first_response_at: % is not between the opening (%) and now', NEW.first_response_at,
        NEW.opened_at USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Give the instant of the first response.';
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
$function$
;
CREATE OR REPLACE FUNCTION ops.bounded_labels(labels text[])
 RETURNS text[]
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  label text;
BEGIN
  IF cardinality(labels) > 20 THEN
    RAISE EXCEPTION 'labels: at most 20 labels, got %', cardinality(labels)
      USING ERRCODE = expense.sqlstate('text_too_long'), HINT = 'Keep the 20 labels that matter most.';
  END IF;
  FOREACH label IN ARRAY coalesce(labels, '{}') LOOP
    PERFORM expense.bounded_text('labels', label, 50);
  END LOOP;
  RETURN labels;
END
$function$
;
CREATE OR REPLACE FUNCTION ops.compute_ticket_sla(ticket ops.tickets)
 RETURNS ops.tickets
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  policy ops.sla_policies;
  fallback interval;
  release_at timestamptz;
  resolution_target interval;
BEGIN
  SELECT * INTO STRICT policy FROM ops.sla_policies WHERE priority = ticket.priority;
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
  SELECT m.response_at_risk, m.response_due, m.resolution_at_risk, m.resolution_due
    INTO ticket.response_at_risk_at, ticket.response_due_at, ticket.resolution_at_risk_at, ticket.resolution_due_at
    FROM ops.ticket_milestones(policy.calendar_id, ticket.opened_at, policy.response_target, resolution_target,
                               policy.at_risk_fraction, ticket.first_response_at, ticket.resolved_at,
                               ticket.paused_during) m;
  ticket.sla_computed_at := now();
  RETURN ticket;
END
$function$
;
CREATE OR REPLACE FUNCTION ops.next_sla_check(ticket ops.tickets, after timestamp with time zone)
 RETURNS timestamp with time zone
 LANGUAGE sql
 IMMUTABLE
AS $function$
  SELECT ops.next_sla_crossing(ticket.response_at_risk_at, ticket.response_due_at, ticket.resolution_at_risk_at,
                               ticket.resolution_due_at, ticket.first_response_at, ticket.resolved_at, after)
$function$
;
CREATE OR REPLACE FUNCTION ops.record_ticket_events()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  actor text := ops.current_actor();
  edited text[];
  next_check timestamptz;
BEGIN
  -- SECURITY DEFINER writes the event log and the transitions: on any other table it would let
  -- the caller fabricate a ticket's history.
  IF TG_RELID <> 'ops.tickets'::regclass OR TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.record_ticket_events() fires only AFTER each row of ops.tickets, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
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
$function$
;
CREATE OR REPLACE FUNCTION ops.refresh_sla_transitions()
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  moment timestamptz := now();
  touched integer;
BEGIN
  -- One set-based statement. Instants only move on a restatement, which the tickets' trigger
  -- records itself; here time has merely passed, so what is recorded stays as it is.
  WITH due AS (
    SELECT t AS ticket FROM ops.sla_checks c JOIN ops.tickets t USING (ticket_id)
     WHERE c.next_check_at <= moment
       FOR UPDATE OF c SKIP LOCKED),
  crossed AS (
    INSERT INTO ops.sla_transitions (ticket_id, clock, state, at)
    SELECT (d.ticket).ticket_id, v.clock, v.state, v.at
      FROM due d
     CROSS JOIN LATERAL ops.sla_crossings((d.ticket).response_at_risk_at, (d.ticket).response_due_at,
                                          (d.ticket).resolution_at_risk_at, (d.ticket).resolution_due_at,
                                          (d.ticket).first_response_at, (d.ticket).resolved_at, moment) v
    ON CONFLICT (ticket_id, clock, state) DO NOTHING),
  next AS (
    SELECT (d.ticket).ticket_id, ops.next_sla_check(d.ticket, moment) AS at FROM due d),
  moved AS (
    UPDATE ops.sla_checks c SET next_check_at = n.at FROM next n
     WHERE c.ticket_id = n.ticket_id AND n.at IS NOT NULL),
  finished AS (
    DELETE FROM ops.sla_checks c USING next n WHERE c.ticket_id = n.ticket_id AND n.at IS NULL)
  SELECT count(*) INTO touched FROM due;
  RETURN touched;
END
$function$
;
CREATE OR REPLACE FUNCTION ops.refuse_deleting_tickets()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  RAISE EXCEPTION 'tickets are never deleted' USING ERRCODE = expense.sqlstate('forbidden'),
    HINT = 'Close it: as Won''t fix, Duplicate or Declined where its lifecycle allows.';
END
$function$
;
CREATE OR REPLACE FUNCTION ops.report_scope()
 RETURNS uuid
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  me record := iam.current_account();
BEGIN
  IF ops.is_support_staff() THEN
    RETURN NULL;
  ELSIF me.role = 'admin' THEN
    RETURN me.org_id;
  END IF;
  RAISE EXCEPTION 'ticket reports are for staff and your organisation''s admins' USING ERRCODE = expense.sqlstate('forbidden'),
    HINT = 'Ask your administrator.';
END
$function$
;
CREATE OR REPLACE FUNCTION ops.require_support_staff()
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF NOT ops.is_support_staff() THEN
    RAISE EXCEPTION 'only the operator''s staff work on tickets' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Tenant users open support tickets and bug reports, read their organisation''s tickets and comment on them.';
  END IF;
END
$function$
;
CREATE OR REPLACE FUNCTION ops.restate_tickets()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF TG_RELID NOT IN ('ops.sla_policies'::regclass, 'ops.releases'::regclass, 'ops.sla_settings'::regclass,
                      'ops.calendars'::regclass, 'ops.calendar_hours'::regclass, 'ops.calendar_holidays'::regclass)
     OR TG_LEVEL <> 'STATEMENT' THEN
    RAISE EXCEPTION 'ops.restate_tickets() fires only after statements on the SLA configuration, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  UPDATE ops.tickets SET sla_computed_at = clock_timestamp();
  RETURN NULL;
END
$function$
;
CREATE OR REPLACE FUNCTION ops.sla_report("from" timestamp with time zone, "to" timestamp with time zone, org_id uuid DEFAULT NULL::uuid)
 RETURNS TABLE(priority text, tickets bigint, response_met_pct numeric, resolution_met_pct numeric, mean_first_response interval, median_first_response interval, p90_first_response interval, mttr interval, response_breaches bigint, resolution_breaches bigint, mean_satisfaction numeric)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF "from" IS NULL OR "to" IS NULL OR "to" <= "from" THEN
    RAISE EXCEPTION 'from/to: % to % is not a period', "from", "to" USING ERRCODE = expense.sqlstate('invalid_parameter'),
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
$function$
;
CREATE OR REPLACE FUNCTION ops.sync_sla_transitions(ticket ops.tickets, now timestamp with time zone)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  WITH holding AS (
    SELECT c.clock, c.state, c.at
      FROM ops.sla_crossings(ticket.response_at_risk_at, ticket.response_due_at, ticket.resolution_at_risk_at,
                             ticket.resolution_due_at, ticket.first_response_at, ticket.resolved_at, now) c),
  untrue AS (
    DELETE FROM ops.sla_transitions t
     WHERE t.ticket_id = ticket.ticket_id
       AND NOT EXISTS (SELECT FROM holding h WHERE h.clock = t.clock AND h.state = t.state))
  INSERT INTO ops.sla_transitions AS t (ticket_id, clock, state, at)
  SELECT ticket.ticket_id, h.clock, h.state, h.at FROM holding h
  ON CONFLICT (ticket_id, clock, state) DO UPDATE SET at = excluded.at, recorded_at = now()
   WHERE t.at IS DISTINCT FROM excluded.at
$function$
;
CREATE OR REPLACE FUNCTION ops.ticket_sla(ticket_id bigint, at timestamp with time zone DEFAULT now())
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  t ops.tickets;
  response ops.sla_clock;
  resolution ops.sla_clock;
BEGIN
  SELECT * INTO t FROM ops.tickets WHERE tickets.ticket_id = ticket_sla.ticket_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ticket_id: no ticket %', ticket_sla.ticket_id USING ERRCODE = expense.sqlstate('not_found');
  END IF;
  response := ops.read_clock(t.sla_calendar_id, t.opened_at, t.response_target, t.first_response_at,
                             t.paused_during, t.at_risk_fraction, at);
  resolution := ops.read_clock(t.sla_calendar_id, t.opened_at, t.resolution_target, t.resolved_at,
                               t.paused_during, t.at_risk_fraction, at);
  RETURN jsonb_build_object(
    'ticket_id', t.ticket_id, 'kind', t.kind, 'priority', t.priority, 'state', t.state, 'at', at,
    'calendar', t.sla_calendar_id, 'must_page', t.must_page,
    'response', to_jsonb(response) || jsonb_build_object('target', t.response_target),
    'resolution', to_jsonb(resolution) || jsonb_build_object('target', t.resolution_target,
                                                             'next_release_fallback', t.resolution_due_is_fallback));
END
$function$
;
CREATE OR REPLACE FUNCTION ops.validate_calendar()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  changed text;
BEGIN
  IF TG_RELID NOT IN ('ops.calendars'::regclass, 'ops.calendar_hours'::regclass) OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_calendar() fires only for rows of ops.calendars and ops.calendar_hours, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.calendar_id ELSE NEW.calendar_id END;
  IF EXISTS (SELECT FROM ops.calendars c WHERE c.calendar_id = changed) THEN
    PERFORM ops.business_time(changed, now(), now());  -- loading validates: 22X40 to 22X44
  END IF;
  RETURN NULL;
END
$function$
;
CREATE OR REPLACE FUNCTION ops.validate_sla_policy()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF TG_RELID <> 'ops.sla_policies'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_sla_policy() fires only BEFORE each row of ops.sla_policies, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  NEW.priority := ops.check_priority(NEW.priority);
  PERFORM ops.clock_due('24x7', now(), NEW.response_target);  -- 22X45 for a negative target
  IF NEW.resolution_target IS NOT NULL THEN
    PERFORM ops.clock_due('24x7', now(), NEW.resolution_target);
  END IF;
  IF NEW.at_risk_fraction IS NULL OR NEW.at_risk_fraction <= 0 OR NEW.at_risk_fraction > 1 THEN
    RAISE EXCEPTION 'at_risk_fraction: % is not a share of the target', NEW.at_risk_fraction
      USING ERRCODE = expense.sqlstate('sla_at_risk_fraction'), HINT = 'Use a number above 0 and at most 1, such as 0.75.';
  END IF;
  RETURN NEW;
END
$function$
;
CREATE OR REPLACE FUNCTION ops.visible_ticket(ticket_id bigint, lock boolean)
 RETURNS ops.tickets
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    RAISE EXCEPTION 'ticket_id: no ticket % is visible to you', visible_ticket.ticket_id USING ERRCODE = expense.sqlstate('not_found'),
      HINT = 'List the tickets you may see on api.tickets.';
  END IF;
  RETURN found_ticket;
END
$function$
;

-- ---------------------------------------------------------------------------------------------
-- Ticket moves decided in C++ (extension/core/ticket_lifecycle): the state a new ticket opens
-- in, and what a move changes (the lifecycle timestamps and the pause), which the trigger now
-- only assigns. ops.ticket_move_effect replaces ops.check_ticket_move.

CREATE FUNCTION ops.ticket_opening_state(kind text, state text) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_ticket_opening_state';
COMMENT ON FUNCTION ops.ticket_opening_state(text, text) IS
  'The state a new ticket of this kind opens in, when state is NULL or that state; raises 22X52 for an unknown state and 22X53 for any other, which only moves reach';

CREATE FUNCTION ops.ticket_move_effect(
  kind text, priority text, from_state text, to_state text, workaround text, root_cause text,
  postmortem_url text, first_response_at timestamptz, resolved_at timestamptz, closed_at timestamptz,
  from_paused boolean, to_paused boolean, at timestamptz,
  OUT to_phase text, OUT first_response_at timestamptz, OUT resolved_at timestamptz,
  OUT closed_at timestamptz, OUT pause_starts boolean, OUT pause_ends boolean)
LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_ticket_move_effect';
COMMENT ON FUNCTION ops.ticket_move_effect(text, text, text, text, text, text, text, timestamptz, timestamptz,
                                           timestamptz, boolean, boolean, timestamptz) IS
  'What moving a ticket from from_state to to_state at `at` changes: the phase it leads to (open, resolved, closed), its first_response_at, resolved_at and closed_at, and whether the clocks pause (entering a paused state) or resume (leaving one). Raises 22X53 naming the allowed next states, 22X52 for an unknown state, 22X54 naming the tier actions a close lacks (P0: root cause and post-mortem link, P1: root cause)';

REVOKE ALL ON FUNCTION ops.ticket_opening_state(text, text),
  ops.ticket_move_effect(text, text, text, text, text, text, text, timestamptz, timestamptz, timestamptz, boolean,
                         boolean, timestamptz)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.ticket_opening_state(text, text),
  ops.ticket_move_effect(text, text, text, text, text, text, text, timestamptz, timestamptz, timestamptz, boolean,
                         boolean, timestamptz)
  TO expense_ops_admin;

CREATE OR REPLACE FUNCTION ops.apply_ticket_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  moment timestamptz := now();
  from_paused boolean;
  to_paused boolean;
  effect record;
  unchanged ops.tickets;
BEGIN
  IF TG_RELID <> 'ops.tickets'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.apply_ticket_rules() fires only BEFORE each row of ops.tickets, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  NEW.priority := ops.check_priority(NEW.priority);
  IF TG_OP = 'INSERT' THEN
    NEW.state := ops.ticket_opening_state(NEW.kind, NEW.state);
    IF NEW.first_response_at IS NOT NULL OR NEW.resolved_at IS NOT NULL OR NEW.closed_at IS NOT NULL
       OR NEW.paused_during <> '{}' THEN
      RAISE EXCEPTION 'first_response_at, resolved_at, closed_at and paused_during follow the lifecycle'
        USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Leave them out; moving the ticket sets them.';
    END IF;
  ELSE
    IF NEW.kind <> OLD.kind THEN
      RAISE EXCEPTION 'kind: a ticket''s kind cannot change (% to %)', OLD.kind, NEW.kind
        USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Close it and open a ticket of the other kind.';
    END IF;
    IF (NEW.resolved_at, NEW.closed_at, NEW.paused_during) IS DISTINCT FROM
       (OLD.resolved_at, OLD.closed_at, OLD.paused_during)
       OR NEW.first_response_at IS DISTINCT FROM OLD.first_response_at AND OLD.first_response_at IS NOT NULL THEN
      RAISE EXCEPTION 'first_response_at, resolved_at, closed_at and paused_during follow the lifecycle'
        USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Move the ticket (state) or comment on it; these follow.';
    END IF;
    IF OLD.first_response_at IS NULL AND NEW.first_response_at IS NOT NULL
       AND (NEW.first_response_at < NEW.opened_at OR NEW.first_response_at > moment) THEN
      RAISE EXCEPTION 'first_response_at: % is not between the opening (%) and now', NEW.first_response_at,
        NEW.opened_at USING ERRCODE = expense.sqlstate('ticket_transition'), HINT = 'Give the instant of the first response.';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state THEN
      -- What the move changes is decided in C++ (extension/core/ticket_lifecycle); which states
      -- pause the clocks is configuration, read here.
      from_paused := EXISTS (SELECT FROM ops.paused_states p WHERE p.kind = NEW.kind AND p.state = OLD.state);
      to_paused := EXISTS (SELECT FROM ops.paused_states p WHERE p.kind = NEW.kind AND p.state = NEW.state);
      effect := ops.ticket_move_effect(NEW.kind, NEW.priority, OLD.state, NEW.state, NEW.workaround, NEW.root_cause,
                                       NEW.postmortem_url, NEW.first_response_at, NEW.resolved_at, NEW.closed_at,
                                       from_paused, to_paused, moment);
      NEW.first_response_at := effect.first_response_at;
      NEW.resolved_at := effect.resolved_at;
      NEW.closed_at := effect.closed_at;
      IF effect.pause_starts THEN
        NEW.paused_during := NEW.paused_during + tstzmultirange(tstzrange(moment, NULL));
      ELSIF effect.pause_ends THEN
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
    -- Staying is no move, and no update would reach the trigger's lifecycle: refuse it here,
    -- as the lifecycle does, with the allowed next states (22X53).
    PERFORM ops.ticket_move_effect(t.kind, t.priority, t.state, move_ticket.state, t.workaround, t.root_cause,
                                   t.postmortem_url, t.first_response_at, t.resolved_at, t.closed_at, false, false,
                                   now());
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

DROP FUNCTION ops.check_ticket_move(text, text, text, text, text, text, text);
