-- expense_ops 0.2.0 -> 0.3.0: support tickets and the SLA engine. Lifecycles, tier actions and
-- the clock arithmetic are C++ (extension/core/ticket_lifecycle, sla_calendar, sla_clock); the
-- tables below hold the configuration and the tickets, and the triggers apply the rules.
\echo Use "ALTER EXTENSION expense_ops UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Primitives in C++ (extension/pg/tickets.cpp and sla.cpp).

CREATE FUNCTION ops.ticket_initial_state(kind text) RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_ticket_initial_state';
COMMENT ON FUNCTION ops.ticket_initial_state(text) IS
  'The state a ticket of this kind (incident, bug, feature, support, security) opens in';

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

CREATE FUNCTION ops.check_ticket_move(kind text, priority text, from_state text, to_state text,
                                      workaround text, root_cause text, postmortem_url text) RETURNS text
LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_check_ticket_move';
COMMENT ON FUNCTION ops.check_ticket_move(text, text, text, text, text, text, text) IS
  'Returns the phase the move leads to (open, resolved, closed), or raises: 22X53 naming the allowed next states, 22X52 for an unknown state, 22X54 naming the tier actions a close lacks (P0: root cause and post-mortem link, P1: root cause)';

CREATE FUNCTION ops.check_priority(priority text) RETURNS text
LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_check_priority';
COMMENT ON FUNCTION ops.check_priority(text) IS 'Returns the priority (P0-P3), or raises 22X51';

CREATE FUNCTION ops.feature_score(user_impact integer, business_value integer, complexity integer,
                                  resource_availability integer, strategic_alignment integer,
                                  user_impact_weight float8 DEFAULT 0.30, business_value_weight float8 DEFAULT 0.25,
                                  complexity_weight float8 DEFAULT 0.15, resource_availability_weight float8 DEFAULT 0.10,
                                  strategic_alignment_weight float8 DEFAULT 0.20) RETURNS numeric
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_feature_score';
COMMENT ON FUNCTION ops.feature_score(integer, integer, integer, integer, integer, float8, float8, float8, float8, float8) IS
$$Feature prioritisation score, 0 to 100: 100 * sum(w_i * (x_i - 1) / 4) / sum(w_i) over user impact, business value, 6 - complexity, resource availability and strategic alignment (each 1-5; 22X55 otherwise). NULL while an input is missing. Weights are >= 0, not all 0; defaults 0.30, 0.25, 0.15, 0.10, 0.20$$;

CREATE FUNCTION ops.business_time(calendar text, "from" timestamptz, "to" timestamptz) RETURNS interval
LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_business_time';
COMMENT ON FUNCTION ops.business_time(text, timestamptz, timestamptz) IS
  'Working time of the calendar between two instants (zero when "to" is not after "from")';

CREATE FUNCTION ops.add_business_time(calendar text, start timestamptz, duration interval) RETURNS timestamptz
LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_add_business_time';
COMMENT ON FUNCTION ops.add_business_time(text, timestamptz, interval) IS
  'The earliest instant when the calendar has counted `duration` of working time after `start`';

CREATE FUNCTION ops.clock_due(calendar text, started timestamptz, target interval,
                              pauses tstzmultirange DEFAULT '{}') RETURNS timestamptz
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_clock_due';
COMMENT ON FUNCTION ops.clock_due(text, timestamptz, interval, tstzmultirange) IS
  'When a clock started at `started` uses up `target` of working time, paused time excluded; NULL while an open-ended pause stops it';

CREATE TYPE ops.sla_clock_state AS ENUM ('met', 'on_track', 'at_risk', 'breached', 'paused');
COMMENT ON TYPE ops.sla_clock_state IS
  'An SLA clock at an instant: met (stopped in time), on_track, at_risk (the policy''s share of the target used), breached (due passed, or stopped late), paused';

CREATE TYPE ops.sla_clock AS (
  state ops.sla_clock_state,
  due_at timestamptz,
  remaining interval,
  used float8
);
COMMENT ON TYPE ops.sla_clock IS 'The reading of one SLA clock: its state, due instant, time remaining (negative when overdue) and share of the target used';
COMMENT ON COLUMN ops.sla_clock.state IS 'met, on_track, at_risk, breached or paused';
COMMENT ON COLUMN ops.sla_clock.due_at IS 'When the target is used up; NULL while paused without end';
COMMENT ON COLUMN ops.sla_clock.remaining IS 'Working time left before the due instant; negative when overdue. For a stopped clock, as at the stop';
COMMENT ON COLUMN ops.sla_clock.used IS 'Share of the target used, 0 to 1 and beyond';

CREATE FUNCTION ops.read_clock(calendar text, started timestamptz, target interval, stopped timestamptz,
                               pauses tstzmultirange, at_risk_fraction float8, at timestamptz)
  RETURNS ops.sla_clock
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_read_clock';
COMMENT ON FUNCTION ops.read_clock(text, timestamptz, interval, timestamptz, tstzmultirange, float8, timestamptz) IS
  'Reads an SLA clock at the instant `at`: state, due instant, remaining time and share used. Pauses and a stop after `at` are ignored';

CREATE FUNCTION ops.sla_configuration_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_sla_configuration_changed';
COMMENT ON FUNCTION ops.sla_configuration_changed() IS
  'AFTER each statement on the calendars: makes this and every other session reload them';

-- ---------------------------------------------------------------------------------------------
-- Calendars: an IANA time zone, weekly working hours and holidays. Due times count only working
-- time. The default calendar, 24x7, counts every instant.

CREATE TABLE ops.calendars (
  calendar_id text PRIMARY KEY CHECK (calendar_id ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  time_zone   text NOT NULL,
  description text NOT NULL DEFAULT ''
);
COMMENT ON TABLE ops.calendars IS 'Business calendars of the SLA clocks; 24x7 counts every instant';
COMMENT ON COLUMN ops.calendars.calendar_id IS 'Name, such as 24x7 or berlin-office';
COMMENT ON COLUMN ops.calendars.time_zone IS 'IANA time zone the working hours and holidays are in, such as Europe/Berlin';
COMMENT ON COLUMN ops.calendars.description IS 'What the calendar is for';

CREATE TABLE ops.calendar_hours (
  calendar_id text NOT NULL REFERENCES ops.calendars ON UPDATE CASCADE ON DELETE CASCADE,
  weekday     smallint NOT NULL,
  starts_at   time NOT NULL,
  ends_at     time NOT NULL,
  PRIMARY KEY (calendar_id, weekday, starts_at)
);
COMMENT ON TABLE ops.calendar_hours IS
  'Weekly working hours of a calendar, in its local time; several intervals a day are allowed, overlapping or inverted ones are refused';
COMMENT ON COLUMN ops.calendar_hours.calendar_id IS 'The calendar';
COMMENT ON COLUMN ops.calendar_hours.weekday IS 'ISO weekday: 1 Monday to 7 Sunday';
COMMENT ON COLUMN ops.calendar_hours.starts_at IS 'Local start of working time';
COMMENT ON COLUMN ops.calendar_hours.ends_at IS 'Local end of working time, exclusive; 24:00 for midnight';

CREATE TABLE ops.calendar_holidays (
  calendar_id text NOT NULL REFERENCES ops.calendars ON UPDATE CASCADE ON DELETE CASCADE,
  day         date NOT NULL,
  name        text NOT NULL DEFAULT '',
  PRIMARY KEY (calendar_id, day)
);
COMMENT ON TABLE ops.calendar_holidays IS 'Days without working time in a calendar (local dates)';
COMMENT ON COLUMN ops.calendar_holidays.calendar_id IS 'The calendar';
COMMENT ON COLUMN ops.calendar_holidays.day IS 'The local date';
COMMENT ON COLUMN ops.calendar_holidays.name IS 'What the holiday is';

INSERT INTO ops.calendars VALUES ('24x7', 'UTC', 'Every instant counts: the default');
INSERT INTO ops.calendar_hours SELECT '24x7', d, '00:00', '24:00' FROM generate_series(1, 7) d;

-- Named to fire before the "restate" triggers below (triggers fire in name order), so that the
-- restatement reads the new calendars.
CREATE TRIGGER reload AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ops.calendars
  FOR EACH STATEMENT EXECUTE FUNCTION ops.sla_configuration_changed();
CREATE TRIGGER reload AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ops.calendar_hours
  FOR EACH STATEMENT EXECUTE FUNCTION ops.sla_configuration_changed();
CREATE TRIGGER reload AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ops.calendar_holidays
  FOR EACH STATEMENT EXECUTE FUNCTION ops.sla_configuration_changed();

-- Checked at commit, so that a calendar and its hours can be written in separate statements.
CREATE FUNCTION ops.validate_calendar() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  changed text := CASE WHEN TG_OP = 'DELETE' THEN OLD.calendar_id ELSE NEW.calendar_id END;
BEGIN
  IF EXISTS (SELECT FROM ops.calendars c WHERE c.calendar_id = changed) THEN
    PERFORM ops.business_time(changed, now(), now());  -- loading validates: 22X40 to 22X44
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.validate_calendar() IS
  'At commit, for each changed calendar: its zone is known (22X40), intervals neither inverted (22X41) nor overlapping (22X42), weekdays 1-7 (22X43), some working time (22X44)';
CREATE CONSTRAINT TRIGGER valid AFTER INSERT OR UPDATE ON ops.calendars
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ops.validate_calendar();
CREATE CONSTRAINT TRIGGER valid AFTER INSERT OR UPDATE OR DELETE ON ops.calendar_hours
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ops.validate_calendar();

-- ---------------------------------------------------------------------------------------------
-- Policies, releases and the settings of the clock.

CREATE TABLE ops.sla_policies (
  priority          text PRIMARY KEY CHECK (priority IN ('P0', 'P1', 'P2', 'P3')),
  response_target   interval NOT NULL,
  resolution_target interval,
  calendar_id       text NOT NULL DEFAULT '24x7' REFERENCES ops.calendars ON UPDATE CASCADE,
  at_risk_fraction  numeric NOT NULL DEFAULT 0.75,
  pages_on_open     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE ops.sla_policies IS 'SLA targets per priority; editing one restates every ticket of that priority';
COMMENT ON COLUMN ops.sla_policies.priority IS 'P0 to P3';
COMMENT ON COLUMN ops.sla_policies.response_target IS 'Working time from opening to the first response';
COMMENT ON COLUMN ops.sla_policies.resolution_target IS 'Working time from opening to resolution; NULL: the next planned release';
COMMENT ON COLUMN ops.sla_policies.calendar_id IS 'The calendar the targets count in';
COMMENT ON COLUMN ops.sla_policies.at_risk_fraction IS 'Share of a target after which the clock is at risk (default 0.75)';
COMMENT ON COLUMN ops.sla_policies.pages_on_open IS 'Whether opening a ticket of this priority pages at once (read by the alerting)';

INSERT INTO ops.sla_policies (priority, response_target, resolution_target, pages_on_open) VALUES
  ('P0', '15 minutes', '4 hours', true),
  ('P1', '2 hours', '24 hours', false),
  ('P2', '24 hours', '7 days', false),
  ('P3', '7 days', NULL, false);

CREATE TABLE ops.releases (
  version     text PRIMARY KEY CHECK (version ~ '^[0-9]+\.[0-9]+\.[0-9]+$'),
  planned_for timestamptz NOT NULL,
  released_at timestamptz,
  notes       text NOT NULL DEFAULT ''
);
COMMENT ON TABLE ops.releases IS 'The release calendar: planned releases with their dates. A P3 ticket is due with the next one';
COMMENT ON COLUMN ops.releases.version IS 'Semantic version, such as 1.4.0';
COMMENT ON COLUMN ops.releases.planned_for IS 'When it is planned';
COMMENT ON COLUMN ops.releases.released_at IS 'When it shipped, once it has';
COMMENT ON COLUMN ops.releases.notes IS 'What it holds';

CREATE TABLE ops.sla_settings (
  singleton             boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  next_release_fallback interval NOT NULL DEFAULT '30 days',
  feature_score_weights jsonb NOT NULL DEFAULT
    '{"user_impact": 0.30, "business_value": 0.25, "complexity": 0.15, "resource_availability": 0.10, "strategic_alignment": 0.20}'
    CHECK (feature_score_weights ?& ARRAY['user_impact', 'business_value', 'complexity', 'resource_availability',
                                          'strategic_alignment'])
);
COMMENT ON TABLE ops.sla_settings IS 'One row: settings of the SLA clock and the feature backlog';
COMMENT ON COLUMN ops.sla_settings.singleton IS 'Always true: there is one row';
COMMENT ON COLUMN ops.sla_settings.next_release_fallback IS
  'Resolution target of a "next release" ticket when no release is planned after it opened (the ticket is flagged)';
COMMENT ON COLUMN ops.sla_settings.feature_score_weights IS 'Weights of the feature prioritisation score';
INSERT INTO ops.sla_settings DEFAULT VALUES;

CREATE TABLE ops.paused_states (
  kind  text NOT NULL,
  state text NOT NULL,
  PRIMARY KEY (kind, state)
);
COMMENT ON TABLE ops.paused_states IS 'Ticket states that stop the SLA clocks, such as support''s Waiting on customer';
COMMENT ON COLUMN ops.paused_states.kind IS 'Ticket kind';
COMMENT ON COLUMN ops.paused_states.state IS 'A state of that kind''s lifecycle';
INSERT INTO ops.paused_states VALUES ('support', 'Waiting on customer');

-- ---------------------------------------------------------------------------------------------
-- Tickets.

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
  CONSTRAINT satisfaction_on_close CHECK (satisfaction IS NULL OR closed_at IS NOT NULL)
);
CREATE INDEX tickets_open ON ops.tickets (priority, opened_at) WHERE closed_at IS NULL;
CREATE INDEX tickets_opened ON ops.tickets (opened_at);
COMMENT ON TABLE ops.tickets IS
  'Support tickets: incidents, bugs, features, support requests and security issues, with their lifecycle (enforced by trigger) and SLA clocks';
COMMENT ON COLUMN ops.tickets.ticket_id IS 'Key';
COMMENT ON COLUMN ops.tickets.org_id IS 'The customer organisation it concerns; NULL for internal tickets';
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

CREATE TABLE ops.ticket_events (
  event_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticket_id bigint NOT NULL REFERENCES ops.tickets ON DELETE RESTRICT,
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor     text NOT NULL,
  action    text NOT NULL CHECK (action IN ('open', 'status', 'priority', 'assignment', 'comment', 'pause', 'resume', 'edit')),
  from_value text,
  to_value   text,
  body       text
);
CREATE INDEX ticket_events_ticket ON ops.ticket_events (ticket_id, event_id);
COMMENT ON TABLE ops.ticket_events IS 'Append-only log of everything that happens to a ticket';
COMMENT ON COLUMN ops.ticket_events.event_id IS 'Order of events';
COMMENT ON COLUMN ops.ticket_events.ticket_id IS 'The ticket';
COMMENT ON COLUMN ops.ticket_events.at IS 'When';
COMMENT ON COLUMN ops.ticket_events.actor IS 'Who: the application user''s email under the API, else the database role';
COMMENT ON COLUMN ops.ticket_events.action IS 'open, status, priority, assignment, comment, pause, resume or edit';
COMMENT ON COLUMN ops.ticket_events.from_value IS 'Value before (state, priority, assignee)';
COMMENT ON COLUMN ops.ticket_events.to_value IS 'Value after';
COMMENT ON COLUMN ops.ticket_events.body IS 'Comment text, or the edited fields';
COMMENT ON SEQUENCE ops.ticket_events_event_id_seq IS 'Numbers ops.ticket_events';
COMMENT ON SEQUENCE ops.tickets_ticket_id_seq IS 'Numbers ops.tickets';

CREATE TABLE ops.sla_transitions (
  ticket_id   bigint NOT NULL REFERENCES ops.tickets ON DELETE CASCADE,
  clock       text NOT NULL CHECK (clock IN ('response', 'resolution')),
  state       ops.sla_clock_state NOT NULL CHECK (state IN ('at_risk', 'breached')),
  at          timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ticket_id, clock, state)
);
CREATE INDEX sla_transitions_recorded ON ops.sla_transitions (recorded_at);
COMMENT ON TABLE ops.sla_transitions IS
  'Each clock''s move into at_risk and into breached, once each, with the instant it happened; restated (moved or removed) when a change makes it untrue. The alerting reads it';
COMMENT ON COLUMN ops.sla_transitions.ticket_id IS 'The ticket';
COMMENT ON COLUMN ops.sla_transitions.clock IS 'response or resolution';
COMMENT ON COLUMN ops.sla_transitions.state IS 'at_risk or breached';
COMMENT ON COLUMN ops.sla_transitions.at IS 'The instant the clock crossed into the state';
COMMENT ON COLUMN ops.sla_transitions.recorded_at IS 'When it was recorded or last restated';

-- Kept apart from ops.tickets so that the refresh moves its bookmarks without firing the
-- tickets' triggers.
CREATE TABLE ops.sla_checks (
  ticket_id     bigint PRIMARY KEY REFERENCES ops.tickets ON DELETE CASCADE,
  next_check_at timestamptz NOT NULL
);
CREATE INDEX sla_checks_due ON ops.sla_checks (next_check_at);
COMMENT ON TABLE ops.sla_checks IS
  'For each ticket with a running clock, the next instant it crosses into at_risk or breached: where ops.refresh_sla_transitions() looks';
COMMENT ON COLUMN ops.sla_checks.ticket_id IS 'The ticket';
COMMENT ON COLUMN ops.sla_checks.next_check_at IS 'Its next crossing';

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

-- The due times of a ticket, from its policy, calendar, release calendar and pauses.
CREATE FUNCTION ops.compute_ticket_sla(ticket ops.tickets) RETURNS ops.tickets
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
     WHERE r.planned_for > ticket.opened_at AND r.released_at IS NULL;
    IF release_at IS NULL THEN
      SELECT s.next_release_fallback INTO fallback FROM ops.sla_settings s;
      resolution_target := fallback;
      ticket.resolution_due_is_fallback := true;
    ELSE
      resolution_target := ops.business_time(policy.calendar_id, ticket.opened_at, release_at);
    END IF;
  END IF;
  ticket.must_page := policy.pages_on_open;
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
  'The ticket with its due and at-risk instants computed from the open time, its policy, calendar, the release calendar and its pauses';

-- The next instant a running clock crosses into at_risk or breached, after `after`.
CREATE FUNCTION ops.next_sla_check(ticket ops.tickets, after timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
  SELECT min(at) FROM (VALUES
    (CASE WHEN ticket.first_response_at IS NULL THEN ticket.response_at_risk_at END),
    (CASE WHEN ticket.first_response_at IS NULL THEN ticket.response_due_at END),
    (CASE WHEN ticket.resolved_at IS NULL THEN ticket.resolution_at_risk_at END),
    (CASE WHEN ticket.resolved_at IS NULL THEN ticket.resolution_due_at END)) v(at)
   WHERE at > after
$$;
COMMENT ON FUNCTION ops.next_sla_check(ops.tickets, timestamptz) IS
  'The next instant after `after` when one of the ticket''s running clocks becomes at risk or breached';

-- Makes ops.sla_transitions true for one ticket as of `now`: records what has happened and
-- removes what a restatement made untrue.
CREATE FUNCTION ops.sync_sla_transitions(ticket ops.tickets, now timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH holding AS (
    SELECT v.clock, v.state, v.at FROM (VALUES
        ('response', 'at_risk'::ops.sla_clock_state, ticket.response_at_risk_at, ticket.first_response_at),
        ('response', 'breached', ticket.response_due_at, ticket.first_response_at),
        ('resolution', 'at_risk', ticket.resolution_at_risk_at, ticket.resolved_at),
        ('resolution', 'breached', ticket.resolution_due_at, ticket.resolved_at)) v(clock, state, at, stopped)
     WHERE v.at IS NOT NULL AND v.at <= now AND (v.stopped IS NULL OR v.at < v.stopped)),
  untrue AS (
    DELETE FROM ops.sla_transitions t
     WHERE t.ticket_id = ticket.ticket_id
       AND NOT EXISTS (SELECT FROM holding h WHERE h.clock = t.clock AND h.state = t.state))
  INSERT INTO ops.sla_transitions AS t (ticket_id, clock, state, at)
  SELECT ticket.ticket_id, h.clock, h.state, h.at FROM holding h
  ON CONFLICT (ticket_id, clock, state) DO UPDATE SET at = excluded.at, recorded_at = now()
   WHERE t.at IS DISTINCT FROM excluded.at
$$;
COMMENT ON FUNCTION ops.sync_sla_transitions(ops.tickets, timestamptz) IS
  'Records the ticket''s at_risk and breached transitions that have happened by `now`, and removes those a restatement made untrue';

-- ---------------------------------------------------------------------------------------------
-- The lifecycle trigger: legal moves only, tier actions on close, the lifecycle timestamps, the
-- pauses, and the due times restated whenever what they depend on changes.

CREATE FUNCTION ops.apply_ticket_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  moment timestamptz := now();
  to_phase text;
  was_paused boolean;
  is_paused boolean;
  unchanged ops.tickets;
BEGIN
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
    -- A restatement (only sla_computed_at set) is not a change of the ticket.
    unchanged := NEW;
    unchanged.sla_computed_at := OLD.sla_computed_at;
    unchanged.updated_at := OLD.updated_at;
    NEW.updated_at := CASE WHEN unchanged IS DISTINCT FROM OLD THEN moment ELSE OLD.updated_at END;
  END IF;
  IF TG_OP = 'INSERT'
     OR (NEW.priority, NEW.opened_at, NEW.first_response_at, NEW.resolved_at, NEW.paused_during, NEW.sla_computed_at)
        IS DISTINCT FROM
        (OLD.priority, OLD.opened_at, OLD.first_response_at, OLD.resolved_at, OLD.paused_during, OLD.sla_computed_at) THEN
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
    IF NEW.assignee IS DISTINCT FROM OLD.assignee THEN
      INSERT INTO ops.ticket_events (ticket_id, actor, action, from_value, to_value)
      VALUES (NEW.ticket_id, actor, 'assignment', OLD.assignee, NEW.assignee);
    END IF;
    SELECT array_agg(key ORDER BY key) INTO edited
      FROM jsonb_each(to_jsonb(NEW)) n(key, value)
     WHERE key IN ('title', 'description', 'reporter', 'labels', 'affected_release', 'workaround', 'root_cause',
                   'postmortem_url', 'satisfaction', 'user_impact', 'business_value', 'complexity',
                   'resource_availability', 'strategic_alignment', 'org_id', 'opened_at')
       AND value IS DISTINCT FROM to_jsonb(OLD) -> key;
    IF edited IS NOT NULL THEN
      INSERT INTO ops.ticket_events (ticket_id, actor, action, body)
      VALUES (NEW.ticket_id, actor, 'edit', array_to_string(edited, ', '));
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
COMMENT ON FUNCTION expense.refuse_rewriting_history() IS
  'Keeps the audit trails (expense.expense_events, ops.ticket_events) append-only, whoever asks';
CREATE FUNCTION ops.refuse_deleting_tickets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tickets are never deleted' USING ERRCODE = '42501',
    HINT = 'Close it: as Won''t fix, Duplicate or Declined where its lifecycle allows.';
END
$$;
COMMENT ON FUNCTION ops.refuse_deleting_tickets() IS 'Tickets and their history stay: closing replaces deleting';
CREATE TRIGGER never_deleted BEFORE DELETE OR TRUNCATE ON ops.tickets
  FOR EACH STATEMENT EXECUTE FUNCTION ops.refuse_deleting_tickets();

-- Policy, release and pause configuration changes restate every ticket they touch.
CREATE FUNCTION ops.restate_tickets() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE ops.tickets SET sla_computed_at = clock_timestamp();
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.restate_tickets() IS
  'AFTER each statement on the SLA configuration: recomputes every ticket''s due times, transitions and so its reports';
CREATE TRIGGER restate AFTER INSERT OR UPDATE OR DELETE ON ops.sla_policies
  FOR EACH STATEMENT EXECUTE FUNCTION ops.restate_tickets();
CREATE TRIGGER restate AFTER INSERT OR UPDATE OR DELETE ON ops.releases
  FOR EACH STATEMENT EXECUTE FUNCTION ops.restate_tickets();
CREATE TRIGGER restate AFTER UPDATE ON ops.sla_settings
  FOR EACH STATEMENT EXECUTE FUNCTION ops.restate_tickets();
CREATE TRIGGER restate AFTER INSERT OR UPDATE OR DELETE ON ops.calendars
  FOR EACH STATEMENT EXECUTE FUNCTION ops.restate_tickets();
CREATE TRIGGER restate AFTER INSERT OR UPDATE OR DELETE ON ops.calendar_hours
  FOR EACH STATEMENT EXECUTE FUNCTION ops.restate_tickets();
CREATE TRIGGER restate AFTER INSERT OR UPDATE OR DELETE ON ops.calendar_holidays
  FOR EACH STATEMENT EXECUTE FUNCTION ops.restate_tickets();

-- Policy validation: the clear errors of the core, before a CHECK would answer.
CREATE FUNCTION ops.validate_sla_policy() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
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
COMMENT ON FUNCTION ops.validate_sla_policy() IS 'BEFORE each policy write: known priority (22X51), targets not negative (22X45), at-risk share in (0, 1] (22X46)';
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON ops.sla_policies
  FOR EACH ROW EXECUTE FUNCTION ops.validate_sla_policy();

-- Run on a schedule (the worker, every 15 s): records what has crossed into at_risk or
-- breached since. Touches only tickets whose next crossing has come, through an index.
CREATE FUNCTION ops.refresh_sla_transitions() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
     CROSS JOIN LATERAL (VALUES
        ('response', 'at_risk'::ops.sla_clock_state, (d.ticket).response_at_risk_at, (d.ticket).first_response_at),
        ('response', 'breached', (d.ticket).response_due_at, (d.ticket).first_response_at),
        ('resolution', 'at_risk', (d.ticket).resolution_at_risk_at, (d.ticket).resolved_at),
        ('resolution', 'breached', (d.ticket).resolution_due_at, (d.ticket).resolved_at)) v(clock, state, at, stopped)
     WHERE v.at <= moment AND (v.stopped IS NULL OR v.at < v.stopped)
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
$$;
COMMENT ON FUNCTION ops.refresh_sla_transitions() IS
  'Call every 15 s: records the at_risk and breached transitions that have come due (each once) and returns how many tickets it looked at';

-- ---------------------------------------------------------------------------------------------
-- Reading the clocks: one ticket at any instant, and the board of open tickets.

CREATE FUNCTION ops.ticket_sla(ticket_id bigint, at timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets;
  response ops.sla_clock;
  resolution ops.sla_clock;
BEGIN
  SELECT * INTO t FROM ops.tickets WHERE tickets.ticket_id = ticket_sla.ticket_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ticket_id: no ticket %', ticket_sla.ticket_id USING ERRCODE = 'PT404';
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
$$;
COMMENT ON FUNCTION ops.ticket_sla(bigint, timestamptz) IS
  'Both SLA clocks of a ticket at an instant (default now): state (met, on_track, at_risk, breached, paused), due_at, remaining (negative when overdue), used share and target';

CREATE VIEW ops.sla_board AS
SELECT t.ticket_id, t.kind, t.priority, t.state, t.title, t.assignee, t.opened_at,
       r.state AS response_state, r.due_at AS response_due_at, r.remaining AS response_remaining,
       s.state AS resolution_state, s.due_at AS resolution_due_at, s.remaining AS resolution_remaining,
       least(CASE WHEN r.state IN ('on_track', 'at_risk', 'breached') THEN r.remaining END,
             CASE WHEN s.state IN ('on_track', 'at_risk', 'breached') THEN s.remaining END) AS time_to_breach,
       t.must_page, t.resolution_due_is_fallback
  FROM ops.tickets t
 CROSS JOIN LATERAL ops.read_clock(t.sla_calendar_id, t.opened_at, t.response_target, t.first_response_at,
                                   t.paused_during, t.at_risk_fraction, now()) r
 CROSS JOIN LATERAL ops.read_clock(t.sla_calendar_id, t.opened_at, t.resolution_target, t.resolved_at,
                                   t.paused_during, t.at_risk_fraction, now()) s
 WHERE t.closed_at IS NULL
 ORDER BY time_to_breach NULLS LAST, t.priority, t.opened_at;
COMMENT ON VIEW ops.sla_board IS 'The SLA board: open tickets with both clocks now, the nearest breach first (most overdue at the top; paused and met clocks last)';
COMMENT ON COLUMN ops.sla_board.ticket_id IS 'The ticket';
COMMENT ON COLUMN ops.sla_board.kind IS 'Kind';
COMMENT ON COLUMN ops.sla_board.priority IS 'P0 to P3';
COMMENT ON COLUMN ops.sla_board.state IS 'Lifecycle state';
COMMENT ON COLUMN ops.sla_board.title IS 'Title';
COMMENT ON COLUMN ops.sla_board.assignee IS 'Who works on it';
COMMENT ON COLUMN ops.sla_board.opened_at IS 'When it was opened';
COMMENT ON COLUMN ops.sla_board.response_state IS 'Response clock: met, on_track, at_risk, breached or paused';
COMMENT ON COLUMN ops.sla_board.response_due_at IS 'When the response is due';
COMMENT ON COLUMN ops.sla_board.response_remaining IS 'Working time until the response is due (negative: overdue)';
COMMENT ON COLUMN ops.sla_board.resolution_state IS 'Resolution clock: met, on_track, at_risk, breached or paused';
COMMENT ON COLUMN ops.sla_board.resolution_due_at IS 'When the resolution is due';
COMMENT ON COLUMN ops.sla_board.resolution_remaining IS 'Working time until the resolution is due (negative: overdue)';
COMMENT ON COLUMN ops.sla_board.time_to_breach IS 'The smaller remaining time of the running clocks';
COMMENT ON COLUMN ops.sla_board.must_page IS 'Pages on open (P0)';
COMMENT ON COLUMN ops.sla_board.resolution_due_is_fallback IS 'No release planned: the fallback target applies';

-- ---------------------------------------------------------------------------------------------
-- Reports over tickets opened in a period. Computed from the stored due instants, so a
-- restatement restates them too.

CREATE FUNCTION ops.sla_report("from" timestamptz, "to" timestamptz)
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
     WHERE t.opened_at >= "from" AND t.opened_at < "to")
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
COMMENT ON FUNCTION ops.sla_report(timestamptz, timestamptz) IS
$$Per priority, for tickets opened in [from, to): tickets, % meeting the response and resolution targets (of those decided: stopped, or past due), mean/median/P90 time to first response, MTTR (mean time to resolve), breaches of each clock, mean satisfaction$$;

CREATE FUNCTION ops.ticket_counts("from" timestamptz, "to" timestamptz)
RETURNS TABLE (kind text, state text, tickets bigint, mean_satisfaction numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(t.kind, 'all'), coalesce(t.state, 'all'), count(*), round(avg(t.satisfaction), 2)
    FROM ops.tickets t
   WHERE t.opened_at >= "from" AND t.opened_at < "to"
   GROUP BY ROLLUP (t.kind, t.state)
   ORDER BY t.kind NULLS LAST, t.state NULLS LAST
$$;
COMMENT ON FUNCTION ops.ticket_counts(timestamptz, timestamptz) IS
  'Tickets opened in [from, to) per kind and state, with subtotals per kind and a grand total (''all''), and mean customer satisfaction';

CREATE VIEW ops.feature_backlog AS
SELECT t.ticket_id, t.title, t.state, t.priority,
       ops.feature_score(t.user_impact, t.business_value, t.complexity, t.resource_availability,
                         t.strategic_alignment, (w->>'user_impact')::float8, (w->>'business_value')::float8,
                         (w->>'complexity')::float8, (w->>'resource_availability')::float8,
                         (w->>'strategic_alignment')::float8) AS score,
       t.user_impact, t.business_value, t.complexity, t.resource_availability, t.strategic_alignment
  FROM ops.tickets t CROSS JOIN (SELECT feature_score_weights AS w FROM ops.sla_settings) s
 WHERE t.kind = 'feature' AND t.closed_at IS NULL
 ORDER BY score DESC NULLS LAST, t.opened_at;
COMMENT ON VIEW ops.feature_backlog IS 'Open feature requests, best prioritisation score first (ops.feature_score with the configured weights); unscored ones last';
COMMENT ON COLUMN ops.feature_backlog.ticket_id IS 'The feature request';
COMMENT ON COLUMN ops.feature_backlog.title IS 'Title';
COMMENT ON COLUMN ops.feature_backlog.state IS 'Lifecycle state';
COMMENT ON COLUMN ops.feature_backlog.priority IS 'P0 to P3';
COMMENT ON COLUMN ops.feature_backlog.score IS 'Prioritisation score, 0 to 100; NULL until every input is set';
COMMENT ON COLUMN ops.feature_backlog.user_impact IS 'Input, 1-5';
COMMENT ON COLUMN ops.feature_backlog.business_value IS 'Input, 1-5';
COMMENT ON COLUMN ops.feature_backlog.complexity IS 'Input, 1-5 (simpler scores higher)';
COMMENT ON COLUMN ops.feature_backlog.resource_availability IS 'Input, 1-5';
COMMENT ON COLUMN ops.feature_backlog.strategic_alignment IS 'Input, 1-5';

-- ---------------------------------------------------------------------------------------------
-- Who may work on tickets: support and admin users through the API, and database roles granted
-- expense_ops_admin in psql.

CREATE FUNCTION ops.is_support_staff() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  -- The caller's database role, which SECURITY DEFINER hides from current_user: the role set
  -- for the transaction (PostgREST), else the session's login role (psql).
  caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text ELSE current_setting('role') END;
  me record;
BEGIN
  SELECT * INTO me FROM iam.current_account();
  IF me.user_id IS NOT NULL THEN
    RETURN me.role IN ('support', 'admin');
  END IF;
  RETURN iam.current_user_id() IS NULL AND pg_has_role(caller, 'expense_ops_admin', 'MEMBER');
END
$$;
COMMENT ON FUNCTION ops.is_support_staff() IS
  'Whether the caller works on tickets: a support or admin user (API), or a database role granted expense_ops_admin (psql)';

CREATE FUNCTION ops.require_support_staff() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT ops.is_support_staff() THEN
    RAISE EXCEPTION 'tickets are for support staff' USING ERRCODE = '42501',
      HINT = 'Log in as a support or admin user, or use a database role granted expense_ops_admin.';
  END IF;
END
$$;
COMMENT ON FUNCTION ops.require_support_staff() IS 'Raises 42501 unless ops.is_support_staff()';

CREATE FUNCTION ops.ticket_for_update(ticket_id bigint) RETURNS ops.tickets
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found_ticket ops.tickets;
BEGIN
  PERFORM ops.require_support_staff();
  SELECT * INTO found_ticket FROM ops.tickets t WHERE t.ticket_id = ticket_for_update.ticket_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ticket_id: no ticket %', ticket_for_update.ticket_id USING ERRCODE = 'PT404',
      HINT = 'List tickets on api.sla_board.';
  END IF;
  RETURN found_ticket;
END
$$;
COMMENT ON FUNCTION ops.ticket_for_update(bigint) IS 'Locks and returns a ticket for a support staff caller; 404 when there is none';

-- ---------------------------------------------------------------------------------------------
-- The API for support staff (PostgREST: POST /rpc/...; GET /sla_board, /feature_backlog).

CREATE FUNCTION api.open_ticket(kind text, priority text, title text, description text DEFAULT '',
                                reporter text DEFAULT NULL, labels text[] DEFAULT '{}',
                                affected_release text DEFAULT NULL, org_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  opened bigint;
BEGIN
  PERFORM ops.require_support_staff();
  INSERT INTO ops.tickets (kind, priority, title, description, reporter, labels, affected_release, org_id)
  VALUES (kind, priority, title, coalesce(description, ''), coalesce(reporter, ops.current_actor()),
          coalesce(labels, '{}'), affected_release, org_id)
  RETURNING ticket_id INTO opened;
  RETURN ops.ticket_sla(opened);
END
$$;
COMMENT ON FUNCTION api.open_ticket(text, text, text, text, text, text[], text, uuid) IS
  'Opens a ticket (kind incident, bug, feature, support or security; priority P0-P3) in its lifecycle''s first state and returns its SLA clocks';

CREATE FUNCTION api.move_ticket(ticket_id bigint, state text, workaround text DEFAULT NULL,
                                root_cause text DEFAULT NULL, postmortem_url text DEFAULT NULL,
                                satisfaction integer DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets := ops.ticket_for_update(ticket_id);
BEGIN
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
  'Moves a ticket to the next state of its lifecycle, recording the tier actions (workaround, root cause, post-mortem link) and, on close, customer satisfaction 1-5';

CREATE FUNCTION api.set_ticket_priority(ticket_id bigint, priority text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets := ops.ticket_for_update(ticket_id);
BEGIN
  UPDATE ops.tickets SET priority = set_ticket_priority.priority WHERE tickets.ticket_id = t.ticket_id;
  RETURN ops.ticket_sla(t.ticket_id);
END
$$;
COMMENT ON FUNCTION api.set_ticket_priority(bigint, text) IS
  'Changes a ticket''s priority; its due times are recomputed from the open time, and past breaches restated';

CREATE FUNCTION api.assign_ticket(ticket_id bigint, assignee text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets := ops.ticket_for_update(ticket_id);
BEGIN
  UPDATE ops.tickets SET assignee = nullif(btrim(assign_ticket.assignee), '') WHERE tickets.ticket_id = t.ticket_id;
  RETURN ops.ticket_sla(t.ticket_id);
END
$$;
COMMENT ON FUNCTION api.assign_ticket(bigint, text) IS 'Assigns a ticket (NULL or blank unassigns)';

CREATE FUNCTION api.comment_ticket(ticket_id bigint, body text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t ops.tickets := ops.ticket_for_update(ticket_id);
  actor text := ops.current_actor();
BEGIN
  IF body IS NULL OR body !~ '[^[:space:]]' THEN
    RAISE EXCEPTION 'body: a comment needs text' USING ERRCODE = '22004', HINT = 'Write something.';
  END IF;
  INSERT INTO ops.ticket_events (ticket_id, actor, action, body) VALUES (t.ticket_id, actor, 'comment', body);
  IF t.first_response_at IS NULL AND actor <> t.reporter THEN
    UPDATE ops.tickets SET first_response_at = now() WHERE tickets.ticket_id = t.ticket_id;
  END IF;
  RETURN ops.ticket_sla(t.ticket_id);
END
$$;
COMMENT ON FUNCTION api.comment_ticket(bigint, text) IS
  'Comments on a ticket; the first comment by someone other than the reporter is the first response';

CREATE FUNCTION api.ticket_sla(ticket_id bigint, at timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.require_support_staff();
  RETURN ops.ticket_sla(ticket_id, at);
END
$$;
COMMENT ON FUNCTION api.ticket_sla(bigint, timestamptz) IS
  'Both SLA clocks of a ticket at an instant (default now): state (met, on_track, at_risk, breached, paused), due_at, remaining and used share';

CREATE FUNCTION api.sla_report("from" timestamptz, "to" timestamptz)
RETURNS TABLE (priority text, tickets bigint, response_met_pct numeric, resolution_met_pct numeric,
               mean_first_response interval, median_first_response interval, p90_first_response interval,
               mttr interval, response_breaches bigint, resolution_breaches bigint, mean_satisfaction numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.require_support_staff();
  RETURN QUERY SELECT * FROM ops.sla_report("from", "to");
END
$$;
COMMENT ON FUNCTION api.sla_report(timestamptz, timestamptz) IS
  'SLA report per priority for tickets opened in [from, to): see ops.sla_report';

CREATE FUNCTION api.ticket_counts("from" timestamptz, "to" timestamptz)
RETURNS TABLE (kind text, state text, tickets bigint, mean_satisfaction numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.require_support_staff();
  RETURN QUERY SELECT * FROM ops.ticket_counts("from", "to");
END
$$;
COMMENT ON FUNCTION api.ticket_counts(timestamptz, timestamptz) IS
  'Tickets opened in [from, to) per kind and state, with totals and mean satisfaction: see ops.ticket_counts';

CREATE VIEW api.sla_board WITH (security_barrier = true) AS
SELECT * FROM ops.sla_board WHERE ops.is_support_staff();
COMMENT ON VIEW api.sla_board IS 'The SLA board (GET /sla_board), for support staff: open tickets, nearest breach first';
CREATE VIEW api.feature_backlog WITH (security_barrier = true) AS
SELECT * FROM ops.feature_backlog WHERE ops.is_support_staff();
COMMENT ON VIEW api.feature_backlog IS 'Open feature requests by prioritisation score (GET /feature_backlog), for support staff';
DO $$
DECLARE
  col record;
BEGIN
  FOR col IN SELECT c.relname, a.attname, d.description
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'ops'
               JOIN pg_description d ON d.objoid = a.attrelid AND d.objsubid = a.attnum
              WHERE c.relname IN ('sla_board', 'feature_backlog') LOOP
    EXECUTE format('COMMENT ON COLUMN api.%I.%I IS %L', col.relname, col.attname, col.description);
  END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges. The API roles reach tickets only through the functions and views above.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ops FROM PUBLIC;
-- The views api.sla_board and api.feature_backlog call these as the caller; they are pure
-- computations (calendars are read as their owner), and expense_user has no USAGE on ops.
GRANT EXECUTE ON FUNCTION ops.is_support_staff(),
  ops.read_clock(text, timestamptz, interval, timestamptz, tstzmultirange, float8, timestamptz),
  ops.feature_score(integer, integer, integer, integer, integer, float8, float8, float8, float8, float8)
  TO expense_user;
GRANT EXECUTE ON FUNCTION ops.refresh_sla_transitions() TO expense_ops_worker;
REVOKE ALL ON FUNCTION api.open_ticket(text, text, text, text, text, text[], text, uuid),
  api.move_ticket(bigint, text, text, text, text, integer), api.set_ticket_priority(bigint, text),
  api.assign_ticket(bigint, text), api.comment_ticket(bigint, text), api.ticket_sla(bigint, timestamptz),
  api.sla_report(timestamptz, timestamptz), api.ticket_counts(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.open_ticket(text, text, text, text, text, text[], text, uuid),
  api.move_ticket(bigint, text, text, text, text, integer), api.set_ticket_priority(bigint, text),
  api.assign_ticket(bigint, text), api.comment_ticket(bigint, text), api.ticket_sla(bigint, timestamptz),
  api.sla_report(timestamptz, timestamptz), api.ticket_counts(timestamptz, timestamptz)
  TO expense_user, expense_ops_admin;
GRANT SELECT ON api.sla_board, api.feature_backlog TO expense_user, expense_ops_admin;

-- Support staff and DBAs in psql: read everything, work tickets directly (the triggers hold
-- the rules), and edit the SLA configuration.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ops TO expense_ops_admin;
REVOKE EXECUTE ON FUNCTION ops.record_worker_heartbeat(text, text, integer, text, timestamptz, interval)
  FROM expense_ops_admin;  -- only workers beat
-- Transitions are written by the tickets' trigger and the refresh, never by hand.
REVOKE EXECUTE ON FUNCTION ops.sync_sla_transitions(ops.tickets, timestamptz) FROM expense_ops_admin;
GRANT SELECT ON ops.tickets, ops.ticket_events, ops.sla_transitions, ops.sla_checks, ops.sla_board,
  ops.feature_backlog TO expense_ops_admin;
GRANT INSERT, UPDATE ON ops.tickets TO expense_ops_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.calendars, ops.calendar_hours, ops.calendar_holidays,
  ops.sla_policies, ops.releases, ops.paused_states TO expense_ops_admin;
GRANT SELECT, UPDATE ON ops.sla_settings TO expense_ops_admin;
GRANT SELECT ON ops.sla_transitions, ops.sla_checks, ops.tickets TO expense_ops_worker;

SELECT pg_catalog.pg_extension_config_dump('ops.tickets', '');
SELECT pg_catalog.pg_extension_config_dump('ops.ticket_events', '');
SELECT pg_catalog.pg_extension_config_dump('ops.sla_transitions', '');
SELECT pg_catalog.pg_extension_config_dump('ops.releases', '');
SELECT pg_catalog.pg_extension_config_dump('ops.calendars', $$WHERE calendar_id <> '24x7'$$);
SELECT pg_catalog.pg_extension_config_dump('ops.calendar_holidays', '');
