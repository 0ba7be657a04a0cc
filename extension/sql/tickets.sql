-- expense_ops: support tickets. The kinds and their lifecycles (C++, extension/core/
-- ticket_lifecycle), the tickets and their append-only event log, the lifecycle trigger, who may
-- see and work on a ticket, and the ticket API. The SLA clocks of the tickets are in sla.sql.
--
-- Tickets have a tenant boundary, as help desks have one (Zendesk, Jira Service Management):
--   * the operator's staff, marked explicitly (iam.users.is_staff), work every tenant's tickets.
--     A tenant's own admin is not staff, and neither is a tenant user whose app role is support;
--   * every ticket carries the organisation it concerns; operator-internal ones carry none;
--   * tenant users open support tickets and bug reports for their own organisation, with a
--     requested priority that staff confirm at triage (a tenant cannot page anyone), read their
--     organisation's tickets, and add public comments. Nothing else;
--   * comments are public or internal; tenants never see internal ones;
--   * a tenant admin sees the reports and counts of their organisation only.

-- ---------------------------------------------------------------------------------------------
-- Primitives in C++ (extension/pg/ticket_lifecycle.cpp).

CREATE FUNCTION ops.ticket_initial_state(kind text) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_ticket_initial_state';
COMMENT ON FUNCTION ops.ticket_initial_state(text) IS
  'The state a ticket of this kind (incident, bug, feature, support, security) opens in';

CREATE FUNCTION ops.ticket_opening_state(kind text, state text) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_ticket_opening_state';
COMMENT ON FUNCTION ops.ticket_opening_state(text, text) IS
  'The state a new ticket of this kind opens in, when state is NULL or that state; raises 22X52 for an unknown state and 22X53 for any other, which only moves reach';

CREATE FUNCTION ops.ticket_states(kind text) RETURNS text[]
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_ticket_states';
COMMENT ON FUNCTION ops.ticket_states(text) IS 'Every state of the kind''s lifecycle, in lifecycle order';

CREATE FUNCTION ops.ticket_next_states(kind text, state text) RETURNS text[]
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_ticket_next_states';
COMMENT ON FUNCTION ops.ticket_next_states(text, text) IS
  'The states a ticket of this kind may move to from this state (empty in a final state)';

CREATE FUNCTION ops.ticket_phase(kind text, state text) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_ticket_phase';
COMMENT ON FUNCTION ops.ticket_phase(text, text) IS
  'open, resolved (the resolution clock stops) or closed, for a state of the kind''s lifecycle';

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

CREATE FUNCTION ops.check_priority(priority text) RETURNS text
LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_check_priority';
COMMENT ON FUNCTION ops.check_priority(text) IS 'Returns the priority (P0-P3), or raises 22X51';

CREATE FUNCTION ops.bounded_labels(labels text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION ops.bounded_labels(text[]) IS
  'Returns labels, or raises 22001 for more than 20 labels or a label of more than 50 characters';

-- ---------------------------------------------------------------------------------------------
-- Tickets, and everything that happens to them.

CREATE TABLE ops.tickets (
  ticket_id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id                     uuid REFERENCES expense.orgs,
  kind                       text NOT NULL CHECK (kind IN ('incident', 'bug', 'feature', 'support', 'security')),
  priority                   text NOT NULL CHECK (priority IN ('P0', 'P1', 'P2', 'P3')),
  state                      text NOT NULL,
  title                      text NOT NULL CHECK (btrim(title) <> '' AND length(title) <= 200),
  description                text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
  reporter                   text NOT NULL CHECK (btrim(reporter) <> ''),
  assignee                   text,
  labels                     text[] NOT NULL DEFAULT '{}',
  affected_release           text,
  opened_at                  timestamptz NOT NULL DEFAULT now(),
  first_response_at          timestamptz,
  resolved_at                timestamptz,
  closed_at                  timestamptz,
  paused_during              tstzmultirange NOT NULL DEFAULT '{}',
  workaround                 text,
  root_cause                 text,
  postmortem_url             text CHECK (postmortem_url ~ '^https?://'),
  satisfaction               smallint CHECK (satisfaction BETWEEN 1 AND 5),
  user_impact                smallint CHECK (user_impact BETWEEN 1 AND 5),
  business_value             smallint CHECK (business_value BETWEEN 1 AND 5),
  complexity                 smallint CHECK (complexity BETWEEN 1 AND 5),
  resource_availability      smallint CHECK (resource_availability BETWEEN 1 AND 5),
  strategic_alignment        smallint CHECK (strategic_alignment BETWEEN 1 AND 5),
  must_page                  boolean NOT NULL DEFAULT false,
  sla_calendar_id            text,
  response_target            interval,
  resolution_target          interval,
  at_risk_fraction           float8,
  response_due_at            timestamptz,
  response_at_risk_at        timestamptz,
  resolution_due_at          timestamptz,
  resolution_at_risk_at      timestamptz,
  resolution_due_is_fallback boolean NOT NULL DEFAULT false,
  sla_computed_at            timestamptz,
  updated_at                 timestamptz NOT NULL DEFAULT now(),
  requested_priority         text CHECK (requested_priority IN ('P0', 'P1', 'P2', 'P3')),
  triaged_at                 timestamptz,
  CONSTRAINT satisfaction_on_close CHECK (satisfaction IS NULL OR closed_at IS NOT NULL),
  CONSTRAINT reporter_length CHECK (length(reporter) <= 320),
  CONSTRAINT assignee_length CHECK (length(assignee) <= 320),
  CONSTRAINT labels_bounded CHECK (cardinality(labels) <= 20),
  CONSTRAINT affected_release_length CHECK (length(affected_release) <= 50),
  CONSTRAINT tier_actions_length CHECK (length(workaround) <= 20000 AND length(root_cause) <= 20000
                                        AND length(postmortem_url) <= 2000)
);
CREATE INDEX tickets_open ON ops.tickets (priority, opened_at) WHERE closed_at IS NULL;
CREATE INDEX tickets_opened ON ops.tickets (opened_at);
COMMENT ON TABLE ops.tickets IS
  'Support tickets: incidents, bugs, features, support requests and security issues, with their lifecycle (enforced by trigger) and SLA clocks';
COMMENT ON COLUMN ops.tickets.ticket_id IS 'Key';
COMMENT ON COLUMN ops.tickets.org_id IS
  'The customer organisation it concerns, whose users see it; NULL for operator-internal tickets, which only staff see';
COMMENT ON COLUMN ops.tickets.kind IS 'incident, bug, feature, support or security';
COMMENT ON COLUMN ops.tickets.priority IS 'P0 to P3; a change restates the due times from the open time';
COMMENT ON COLUMN ops.tickets.state IS 'State in the kind''s lifecycle (ops.ticket_states)';
COMMENT ON COLUMN ops.tickets.title IS 'One line';
COMMENT ON COLUMN ops.tickets.description IS 'What happened or is wanted';
COMMENT ON COLUMN ops.tickets.reporter IS 'Who reported it (email or name)';
COMMENT ON COLUMN ops.tickets.assignee IS 'Who works on it';
COMMENT ON COLUMN ops.tickets.labels IS 'Free labels';
COMMENT ON COLUMN ops.tickets.affected_release IS 'The release it affects, such as 1.3.2';
COMMENT ON COLUMN ops.tickets.opened_at IS 'When it was opened: both clocks start here';
COMMENT ON COLUMN ops.tickets.first_response_at IS 'First response (first move or staff comment): stops the response clock';
COMMENT ON COLUMN ops.tickets.resolved_at IS 'When it reached its resolved phase: stops the resolution clock; cleared on reopen';
COMMENT ON COLUMN ops.tickets.closed_at IS 'When it reached a final state';
COMMENT ON COLUMN ops.tickets.paused_during IS 'When the clocks were stopped by a paused state; an open-ended range while paused';
COMMENT ON COLUMN ops.tickets.workaround IS 'Tier action: the workaround given';
COMMENT ON COLUMN ops.tickets.root_cause IS 'Tier action: the root cause (closing a P0 or P1 needs it)';
COMMENT ON COLUMN ops.tickets.postmortem_url IS 'Tier action: link to the post-mortem (closing a P0 needs it)';
COMMENT ON COLUMN ops.tickets.satisfaction IS 'Customer satisfaction 1-5, given on close';
COMMENT ON COLUMN ops.tickets.user_impact IS 'Feature score input, 1-5';
COMMENT ON COLUMN ops.tickets.business_value IS 'Feature score input, 1-5';
COMMENT ON COLUMN ops.tickets.complexity IS 'Feature score input, 1-5 (simpler scores higher)';
COMMENT ON COLUMN ops.tickets.resource_availability IS 'Feature score input, 1-5';
COMMENT ON COLUMN ops.tickets.strategic_alignment IS 'Feature score input, 1-5';
COMMENT ON COLUMN ops.tickets.must_page IS 'Opened with a priority whose policy pages at once (P0); the alerting reads it';
COMMENT ON COLUMN ops.tickets.sla_calendar_id IS 'The calendar of its policy, as last computed';
COMMENT ON COLUMN ops.tickets.response_target IS 'Its response target, as last computed from its policy';
COMMENT ON COLUMN ops.tickets.resolution_target IS 'Its resolution target, as last computed (for "next release": the working time from opening to that release)';
COMMENT ON COLUMN ops.tickets.at_risk_fraction IS 'Its policy''s at-risk share, as last computed';
COMMENT ON COLUMN ops.tickets.response_due_at IS 'When the response target is used up (NULL while paused without end)';
COMMENT ON COLUMN ops.tickets.response_at_risk_at IS 'When the response clock becomes at risk';
COMMENT ON COLUMN ops.tickets.resolution_due_at IS 'When the resolution target is used up (NULL while paused without end)';
COMMENT ON COLUMN ops.tickets.resolution_at_risk_at IS 'When the resolution clock becomes at risk';
COMMENT ON COLUMN ops.tickets.resolution_due_is_fallback IS 'A "next release" target with no release planned: the fallback applies';
COMMENT ON COLUMN ops.tickets.sla_computed_at IS 'When the due times were last computed; setting it restates them';
COMMENT ON COLUMN ops.tickets.updated_at IS 'When it last changed';
COMMENT ON COLUMN ops.tickets.requested_priority IS
  'The priority a tenant asked for when opening the ticket; NULL for tickets opened by staff. Until staff triage it, the ticket runs at that priority, P0 taken as P1, and pages nobody';
COMMENT ON COLUMN ops.tickets.triaged_at IS
  'When staff confirmed (or changed) the priority of a tenant''s ticket; must_page waits for it';

CREATE TABLE ops.ticket_events (
  event_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticket_id  bigint NOT NULL REFERENCES ops.tickets ON DELETE RESTRICT,
  at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor      text NOT NULL,
  action     text NOT NULL
             CHECK (action IN ('open', 'status', 'priority', 'triage', 'assignment', 'comment', 'pause', 'resume', 'edit')),
  from_value text,
  to_value   text,
  body       text,
  visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'internal'))
);
CREATE INDEX ticket_events_ticket ON ops.ticket_events (ticket_id, event_id);
COMMENT ON TABLE ops.ticket_events IS 'Append-only log of everything that happens to a ticket';
COMMENT ON COLUMN ops.ticket_events.event_id IS 'Order of events';
COMMENT ON COLUMN ops.ticket_events.ticket_id IS 'The ticket';
COMMENT ON COLUMN ops.ticket_events.at IS 'When';
COMMENT ON COLUMN ops.ticket_events.actor IS 'Who: the application user''s email under the API, else the database role';
COMMENT ON COLUMN ops.ticket_events.action IS
  'open, status, priority, triage (staff confirmed a tenant''s priority), assignment, comment, pause, resume or edit';
COMMENT ON COLUMN ops.ticket_events.from_value IS 'Value before (state, priority, assignee)';
COMMENT ON COLUMN ops.ticket_events.to_value IS 'Value after';
COMMENT ON COLUMN ops.ticket_events.body IS 'Comment text, or the edited fields';
COMMENT ON COLUMN ops.ticket_events.visibility IS
  'public, or internal: a staff-only comment that the ticket''s organisation never sees';
COMMENT ON SEQUENCE ops.ticket_events_event_id_seq IS 'Numbers ops.ticket_events';
COMMENT ON SEQUENCE ops.tickets_ticket_id_seq IS 'Numbers ops.tickets';

-- Who is acting: the application user under PostgREST, otherwise the database role.
CREATE FUNCTION ops.current_actor() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  who text;
BEGIN
  SELECT u.email INTO who FROM iam.users u WHERE u.user_id = iam.current_user_id();
  RETURN coalesce(who, session_user::text);
END
$$;
COMMENT ON FUNCTION ops.current_actor() IS 'Who is acting on a ticket: the calling application user''s email, else the database session user';

-- ---------------------------------------------------------------------------------------------
-- Who may see and work on a ticket.

-- Staff: users marked is_staff through the API, and database roles granted expense_ops_admin in
-- psql (with no application user).
CREATE FUNCTION ops.is_support_staff() RETURNS boolean
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

CREATE FUNCTION ops.require_support_staff() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT ops.is_support_staff() THEN
    RAISE EXCEPTION 'only the operator''s staff work on tickets' USING ERRCODE = expense.sqlstate('forbidden'),
      HINT = 'Tenant users open support tickets and bug reports, read their organisation''s tickets and comment on them.';
  END IF;
END
$$;
COMMENT ON FUNCTION ops.require_support_staff() IS 'Raises 42501 unless ops.is_support_staff()';

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
    RAISE EXCEPTION 'ticket_id: no ticket % is visible to you', visible_ticket.ticket_id USING ERRCODE = expense.sqlstate('not_found'),
      HINT = 'List the tickets you may see on api.tickets.';
  END IF;
  RETURN found_ticket;
END
$$;
COMMENT ON FUNCTION ops.visible_ticket(bigint, boolean) IS
  'A ticket the caller may see (staff: any; tenant users: their organisation''s), optionally locked; 404 otherwise';

CREATE FUNCTION ops.ticket_for_update(ticket_id bigint) RETURNS ops.tickets
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.require_support_staff();
  RETURN ops.visible_ticket(ticket_id, true);
END
$$;
COMMENT ON FUNCTION ops.ticket_for_update(bigint) IS 'Locks and returns a ticket for a staff caller (42501 for others); 404 when there is none';

-- ---------------------------------------------------------------------------------------------
-- The lifecycle trigger: legal moves only, tier actions on close, the lifecycle timestamps, the
-- pauses, triage, and the due times restated whenever what they depend on changes. Each trigger
-- function checks the relation it fires on: any session allowed to execute one could attach it
-- to a table of its own.

CREATE FUNCTION ops.apply_ticket_rules() RETURNS trigger
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
COMMENT ON FUNCTION ops.apply_ticket_rules() IS
  'BEFORE each ticket write: the lifecycle (22X52/22X53), tier actions on close (22X54), lifecycle timestamps, pauses, and the due times';
CREATE TRIGGER rules BEFORE INSERT OR UPDATE ON ops.tickets
  FOR EACH ROW EXECUTE FUNCTION ops.apply_ticket_rules();

-- The event log and the transitions, after the row is written.
-- SECURITY DEFINER: the log is written by this trigger only, so no role needs INSERT on it.
CREATE FUNCTION ops.record_ticket_events() RETURNS trigger
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
$$;
COMMENT ON FUNCTION ops.record_ticket_events() IS
  'AFTER each ticket write: appends to ops.ticket_events and restates the ticket''s SLA transitions';
CREATE TRIGGER events AFTER INSERT OR UPDATE ON ops.tickets
  FOR EACH ROW EXECUTE FUNCTION ops.record_ticket_events();

CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ops.ticket_events
  FOR EACH STATEMENT EXECUTE FUNCTION expense.refuse_rewriting_history();
CREATE FUNCTION ops.refuse_deleting_tickets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tickets are never deleted' USING ERRCODE = expense.sqlstate('forbidden'),
    HINT = 'Close it: as Won''t fix, Duplicate or Declined where its lifecycle allows.';
END
$$;
COMMENT ON FUNCTION ops.refuse_deleting_tickets() IS 'Tickets and their history stay: closing replaces deleting';
CREATE TRIGGER never_deleted BEFORE DELETE OR TRUNCATE ON ops.tickets
  FOR EACH STATEMENT EXECUTE FUNCTION ops.refuse_deleting_tickets();

-- ---------------------------------------------------------------------------------------------
-- The ticket API (PostgREST: POST /rpc/...; GET /tickets, /ticket_events). Staff may do
-- everything; tenant users open, read and comment.

CREATE FUNCTION api.open_ticket(kind text, priority text, title text, description text DEFAULT '',
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
$$;
COMMENT ON FUNCTION api.open_ticket(text, text, text, text, text, text[], text, uuid) IS
$$Opens a ticket (POST /rpc/open_ticket) in its lifecycle's first state and returns its SLA clocks. Staff open any kind (incident, bug, feature, support, security) at any priority, for an organisation (org_id) or for the operator (no org_id). Tenant users open support tickets and bug reports for their own organisation, as their own reporter; their priority is a request that staff confirm at triage, and until then a requested P0 runs as P1 and pages nobody. Limits: title 200 characters, description 20000, reporter 320, affected_release 50, at most 20 labels of 50.$$;

CREATE FUNCTION api.move_ticket(ticket_id bigint, state text, workaround text DEFAULT NULL,
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
COMMENT ON FUNCTION api.move_ticket(bigint, text, text, text, text, integer) IS
  'Staff move a ticket to the next state of its lifecycle (POST /rpc/move_ticket), recording the tier actions (workaround, root cause, post-mortem link) and, on close, customer satisfaction 1-5. Staying in the same state is refused (22X53)';

CREATE FUNCTION api.set_ticket_priority(ticket_id bigint, priority text) RETURNS jsonb
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

CREATE FUNCTION api.assign_ticket(ticket_id bigint, assignee text) RETURNS jsonb
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

CREATE FUNCTION api.comment_ticket(ticket_id bigint, body text, visibility text DEFAULT 'public') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION api.comment_ticket(bigint, text, text) IS
  'Comments on a ticket the caller may see (POST /rpc/comment_ticket; at most 20000 characters). visibility is public (default) or internal, which only staff write and only staff read. The first public comment by staff, other than the reporter, is the first response';

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

-- ---------------------------------------------------------------------------------------------
-- Privileges. The API roles reach tickets only through the functions and views above. Support
-- staff and DBAs in psql read everything and work tickets directly (the triggers hold the
-- rules); the internals that triggers and SECURITY DEFINER functions use are nobody's.

REVOKE ALL ON FUNCTION ops.ticket_initial_state(text), ops.ticket_opening_state(text, text), ops.ticket_states(text),
  ops.ticket_next_states(text, text),
  ops.ticket_phase(text, text),
  ops.ticket_move_effect(text, text, text, text, text, text, text, timestamptz, timestamptz, timestamptz, boolean,
                         boolean, timestamptz),
  ops.check_priority(text), ops.bounded_labels(text[]), ops.current_actor(), ops.is_support_staff(),
  ops.require_support_staff(), ops.visible_ticket(bigint, boolean), ops.ticket_for_update(bigint),
  ops.apply_ticket_rules(), ops.record_ticket_events(), ops.refuse_deleting_tickets(),
  api.open_ticket(text, text, text, text, text, text[], text, uuid), api.move_ticket(bigint, text, text, text, text, integer),
  api.set_ticket_priority(bigint, text), api.assign_ticket(bigint, text), api.comment_ticket(bigint, text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.open_ticket(text, text, text, text, text, text[], text, uuid),
  api.move_ticket(bigint, text, text, text, text, integer), api.set_ticket_priority(bigint, text),
  api.assign_ticket(bigint, text), api.comment_ticket(bigint, text, text)
  TO expense_user, expense_ops_admin;
-- The api views call it as the caller; expense_user has no USAGE on ops.
GRANT EXECUTE ON FUNCTION ops.is_support_staff() TO expense_user, expense_ops_admin;
GRANT EXECUTE ON FUNCTION ops.ticket_initial_state(text), ops.ticket_opening_state(text, text), ops.ticket_states(text),
  ops.ticket_next_states(text, text),
  ops.ticket_phase(text, text),
  ops.ticket_move_effect(text, text, text, text, text, text, text, timestamptz, timestamptz, timestamptz, boolean,
                         boolean, timestamptz),
  ops.check_priority(text), ops.current_actor(), ops.require_support_staff(), ops.ticket_for_update(bigint)
  TO expense_ops_admin;
GRANT SELECT, INSERT, UPDATE ON ops.tickets TO expense_ops_admin;
GRANT SELECT ON ops.ticket_events TO expense_ops_admin;
GRANT SELECT ON api.tickets, api.ticket_events TO expense_user, expense_ops_admin;

SELECT pg_catalog.pg_extension_config_dump('ops.tickets', '');
SELECT pg_catalog.pg_extension_config_dump('ops.ticket_events', '');
