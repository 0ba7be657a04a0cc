-- expense_ops: the audit trail of expenses. Appended to by a trigger on every write to
-- expense.expenses, never rewritten (ops.ticket_events, in tickets.sql, uses the same guard),
-- and readable through api.expense_events by whoever may see the expense.

CREATE TABLE expense.expense_events (
  event_id       bigint GENERATED ALWAYS AS IDENTITY,
  org_id         uuid NOT NULL,
  expense_id     uuid NOT NULL,
  owner_id       uuid NOT NULL,
  actor_id       uuid,
  at             timestamptz NOT NULL DEFAULT clock_timestamp(),
  action         text NOT NULL CHECK (action IN ('create', 'edit', 'delete', 'transition')),
  from_status    text,
  to_status      text,
  changed_fields jsonb NOT NULL DEFAULT '{}',
  -- One index, which both identifies an event and finds an expense's trail: every created
  -- expense writes an event, and a second index (on event_id alone, which the identity already
  -- keeps unique) cost the write path more than the heap insert of the event itself.
  PRIMARY KEY (expense_id, event_id)
);
COMMENT ON SEQUENCE expense.expense_events_event_id_seq IS 'Numbers expense.expense_events';
COMMENT ON TABLE expense.expense_events IS 'Append-only audit trail of every change to an expense';
COMMENT ON COLUMN expense.expense_events.event_id IS 'Order of events';
COMMENT ON COLUMN expense.expense_events.org_id IS 'The organisation';
COMMENT ON COLUMN expense.expense_events.expense_id IS 'The expense (kept after a draft is deleted)';
COMMENT ON COLUMN expense.expense_events.owner_id IS 'The expense''s owner';
COMMENT ON COLUMN expense.expense_events.actor_id IS 'Who made the change: the calling user, NULL for a database session without one';
COMMENT ON COLUMN expense.expense_events.at IS 'When';
COMMENT ON COLUMN expense.expense_events.action IS 'create, edit, delete or transition';
COMMENT ON COLUMN expense.expense_events.from_status IS 'Status before';
COMMENT ON COLUMN expense.expense_events.to_status IS 'Status after';
COMMENT ON COLUMN expense.expense_events.changed_fields IS 'Each changed column with its old and new value';

-- Statement-level, over transition tables: a million-row INSERT ... SELECT writes its million
-- events in one pass instead of a million trigger calls.
--
-- Creations, the API's write path, in C++ (extension/pg/audit.cpp): the event is fixed but for
-- who, which and the status, and the executor inserts it directly, without a statement to plan.
CREATE FUNCTION expense.record_expense_creations() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_record_expense_creations';
COMMENT ON FUNCTION expense.record_expense_creations() IS
  'AFTER INSERT on expense.expenses, each statement: appends a create event per new expense to expense.expense_events';

-- Edits and deletions. An edit records each changed column with its old and new value; amount
-- and base_currency follow amount_minor and org_id, and are left out.
-- SECURITY DEFINER writes the audit trail, so it checks where it fires.
CREATE FUNCTION expense.record_expense_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION expense.record_expense_events() IS
  'AFTER each UPDATE or DELETE statement on expense.expenses: appends its edits, transitions and deletions to expense.expense_events';
CREATE TRIGGER audit_insert AFTER INSERT ON expense.expenses
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_creations();
CREATE TRIGGER audit_update AFTER UPDATE ON expense.expenses
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_events();
CREATE TRIGGER audit_delete AFTER DELETE ON expense.expenses
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_events();

CREATE FUNCTION expense.refuse_rewriting_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = expense.sqlstate('forbidden'),
    HINT = 'Events are recorded by the expense triggers and never changed.';
END
$$;
COMMENT ON FUNCTION expense.refuse_rewriting_history() IS
  'Keeps the audit trails (expense.expense_events, ops.ticket_events) append-only, whoever asks';
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON expense.expense_events
  FOR EACH STATEMENT EXECUTE FUNCTION expense.refuse_rewriting_history();

ALTER TABLE expense.expense_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON expense.expense_events FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()) AND iam.can_see_expenses_of(owner_id));
GRANT SELECT ON expense.expense_events TO expense_user, expense_ops_admin;

-- The audit trail in the API, read-only: the same events the caller's expenses show.
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

REVOKE ALL ON FUNCTION expense.record_expense_creations(), expense.record_expense_events(), expense.refuse_rewriting_history()
  FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('expense.expense_events', '');
