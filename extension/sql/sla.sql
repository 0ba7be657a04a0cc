-- expense_ops: the SLA engine of the tickets. Business calendars, policies per priority, the
-- release calendar and the settings; each ticket's response and resolution clocks (the clock
-- arithmetic is C++, extension/core/sla_calendar and sla_clock), their at_risk and breached
-- transitions, restated whenever the configuration changes; the SLA board, the feature backlog
-- and the reports, with their API.

-- ---------------------------------------------------------------------------------------------
-- Primitives in C++ (extension/pg/sla_calendar.cpp and sla_clock.cpp).

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
-- The clocks of each ticket: their transitions, and where the refresh looks next.

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

-- The due times. A P3's "next release" is the earliest release planned after the ticket opened
-- that had not shipped when it opened: shipping it later does not move the due time, so a P3
-- that missed its release stays breached.
CREATE FUNCTION ops.compute_ticket_sla(ticket ops.tickets) RETURNS ops.tickets
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION ops.compute_ticket_sla(ops.tickets) IS
  'The ticket with its due and at-risk instants computed from the open time, its policy, calendar, the release calendar (the first release planned after it opened and unshipped then) and its pauses';

-- The next instant a running clock crosses into at_risk or breached, after `after`.
CREATE FUNCTION ops.next_sla_check(ticket ops.tickets, after timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
  SELECT ops.next_sla_crossing(ticket.response_at_risk_at, ticket.response_due_at, ticket.resolution_at_risk_at,
                               ticket.resolution_due_at, ticket.first_response_at, ticket.resolved_at, after)
$$;
COMMENT ON FUNCTION ops.next_sla_check(ops.tickets, timestamptz) IS
  'The next instant after `after` when one of the ticket''s running clocks becomes at risk or breached';

-- Makes ops.sla_transitions true for one ticket as of `now`: records what has happened and
-- removes what a restatement made untrue.
CREATE FUNCTION ops.sync_sla_transitions(ticket ops.tickets, now timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION ops.sync_sla_transitions(ops.tickets, timestamptz) IS
  'Records the ticket''s at_risk and breached transitions that have happened by `now`, and removes those a restatement made untrue';

-- Policy, release and pause configuration changes restate every ticket they touch.
CREATE FUNCTION ops.restate_tickets() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION ops.refresh_sla_transitions() IS
  'Call every 15 s: records the at_risk and breached transitions that have come due (each once) and returns how many tickets it looked at';

-- ---------------------------------------------------------------------------------------------
-- Reading the clocks: one ticket at any instant, and the board of open tickets. The board, the
-- backlog and the tickets are for whoever may see each ticket: staff all, tenant users their
-- organisation's. The filters are initplans, evaluated once per query.

CREATE FUNCTION ops.ticket_sla(ticket_id bigint, at timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION ops.ticket_sla(bigint, timestamptz) IS
  'Both SLA clocks of a ticket at an instant (default now): state (met, on_track, at_risk, breached, paused), due_at, remaining (negative when overdue), used share and target';

CREATE FUNCTION api.ticket_sla(ticket_id bigint, at timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ops.visible_ticket(ticket_id, false);
  RETURN ops.ticket_sla(ticket_id, at);
END
$$;
COMMENT ON FUNCTION api.ticket_sla(bigint, timestamptz) IS
  'Both SLA clocks of a ticket the caller may see, at an instant (default now): state (met, on_track, at_risk, breached, paused), due_at, remaining and used share. A reading at a past instant is what it showed then';

CREATE VIEW ops.sla_board AS
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
COMMENT ON COLUMN ops.sla_board.org_id IS 'The organisation it concerns; NULL for operator-internal tickets';

CREATE VIEW api.sla_board WITH (security_barrier = true) AS
SELECT b.ticket_id, b.kind, b.priority, b.state, b.title, b.assignee, b.opened_at, b.response_state,
       b.response_due_at, b.response_remaining, b.resolution_state, b.resolution_due_at, b.resolution_remaining,
       b.time_to_breach, b.must_page, b.resolution_due_is_fallback, b.org_id
  FROM ops.sla_board b
 WHERE (SELECT ops.is_support_staff()) OR b.org_id = (SELECT me.org_id FROM iam.current_account() me);
COMMENT ON VIEW api.sla_board IS
  'The SLA board (GET /sla_board): open tickets, nearest breach first. Staff see every ticket; tenant users their organisation''s';
COMMENT ON COLUMN api.sla_board.ticket_id IS 'The ticket';
COMMENT ON COLUMN api.sla_board.kind IS 'Kind';
COMMENT ON COLUMN api.sla_board.priority IS 'P0 to P3';
COMMENT ON COLUMN api.sla_board.state IS 'Lifecycle state';
COMMENT ON COLUMN api.sla_board.title IS 'Title';
COMMENT ON COLUMN api.sla_board.assignee IS 'Who works on it';
COMMENT ON COLUMN api.sla_board.opened_at IS 'When it was opened';
COMMENT ON COLUMN api.sla_board.response_state IS 'Response clock: met, on_track, at_risk, breached or paused';
COMMENT ON COLUMN api.sla_board.response_due_at IS 'When the response is due';
COMMENT ON COLUMN api.sla_board.response_remaining IS 'Working time until the response is due (negative: overdue)';
COMMENT ON COLUMN api.sla_board.resolution_state IS 'Resolution clock: met, on_track, at_risk, breached or paused';
COMMENT ON COLUMN api.sla_board.resolution_due_at IS 'When the resolution is due';
COMMENT ON COLUMN api.sla_board.resolution_remaining IS 'Working time until the resolution is due (negative: overdue)';
COMMENT ON COLUMN api.sla_board.time_to_breach IS 'The smaller remaining time of the running clocks';
COMMENT ON COLUMN api.sla_board.must_page IS 'Pages on open (P0)';
COMMENT ON COLUMN api.sla_board.resolution_due_is_fallback IS 'No release planned: the fallback target applies';
COMMENT ON COLUMN api.sla_board.org_id IS 'The organisation it concerns; NULL for operator-internal tickets';

-- ---------------------------------------------------------------------------------------------
-- The feature backlog: open feature requests by prioritisation score.

CREATE FUNCTION ops.feature_score(user_impact integer, business_value integer, complexity integer,
                                  resource_availability integer, strategic_alignment integer,
                                  user_impact_weight float8 DEFAULT 0.30, business_value_weight float8 DEFAULT 0.25,
                                  complexity_weight float8 DEFAULT 0.15, resource_availability_weight float8 DEFAULT 0.10,
                                  strategic_alignment_weight float8 DEFAULT 0.20) RETURNS numeric
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_feature_score';
COMMENT ON FUNCTION ops.feature_score(integer, integer, integer, integer, integer, float8, float8, float8, float8, float8) IS
$$Feature prioritisation score, 0 to 100: 100 * sum(w_i * (x_i - 1) / 4) / sum(w_i) over user impact, business value, 6 - complexity, resource availability and strategic alignment (each 1-5; 22X55 otherwise). NULL while an input is missing. Weights are >= 0, not all 0; defaults 0.30, 0.25, 0.15, 0.10, 0.20$$;

CREATE VIEW ops.feature_backlog AS
SELECT t.ticket_id, t.title, t.state, t.priority,
       ops.feature_score(t.user_impact, t.business_value, t.complexity, t.resource_availability,
                         t.strategic_alignment, (w->>'user_impact')::float8, (w->>'business_value')::float8,
                         (w->>'complexity')::float8, (w->>'resource_availability')::float8,
                         (w->>'strategic_alignment')::float8) AS score,
       t.user_impact, t.business_value, t.complexity, t.resource_availability, t.strategic_alignment, t.org_id
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
COMMENT ON COLUMN ops.feature_backlog.org_id IS 'The organisation that asked for it; NULL for the operator''s own';

CREATE VIEW api.feature_backlog WITH (security_barrier = true) AS
SELECT b.ticket_id, b.title, b.state, b.priority, b.score, b.user_impact, b.business_value, b.complexity,
       b.resource_availability, b.strategic_alignment, b.org_id
  FROM ops.feature_backlog b
 WHERE (SELECT ops.is_support_staff()) OR b.org_id = (SELECT me.org_id FROM iam.current_account() me);
COMMENT ON VIEW api.feature_backlog IS
  'Open feature requests by prioritisation score (GET /feature_backlog). Staff see all; tenant users those of their organisation';
COMMENT ON COLUMN api.feature_backlog.ticket_id IS 'The feature request';
COMMENT ON COLUMN api.feature_backlog.title IS 'Title';
COMMENT ON COLUMN api.feature_backlog.state IS 'Lifecycle state';
COMMENT ON COLUMN api.feature_backlog.priority IS 'P0 to P3';
COMMENT ON COLUMN api.feature_backlog.score IS 'Prioritisation score, 0 to 100; NULL until every input is set';
COMMENT ON COLUMN api.feature_backlog.user_impact IS 'Input, 1-5';
COMMENT ON COLUMN api.feature_backlog.business_value IS 'Input, 1-5';
COMMENT ON COLUMN api.feature_backlog.complexity IS 'Input, 1-5 (simpler scores higher)';
COMMENT ON COLUMN api.feature_backlog.resource_availability IS 'Input, 1-5';
COMMENT ON COLUMN api.feature_backlog.strategic_alignment IS 'Input, 1-5';
COMMENT ON COLUMN api.feature_backlog.org_id IS 'The organisation that asked for it; NULL for the operator''s own';

-- ---------------------------------------------------------------------------------------------
-- Reports over tickets opened in a period, of one organisation or all. Computed from the stored
-- due instants, so a restatement restates them too.

CREATE FUNCTION ops.sla_report("from" timestamptz, "to" timestamptz, org_id uuid DEFAULT NULL)
RETURNS TABLE (priority text, tickets bigint, response_met_pct numeric, resolution_met_pct numeric,
               mean_first_response interval, median_first_response interval, p90_first_response interval,
               mttr interval, response_breaches bigint, resolution_breaches bigint, mean_satisfaction numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
  RAISE EXCEPTION 'ticket reports are for staff and your organisation''s admins' USING ERRCODE = expense.sqlstate('forbidden'),
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

-- ---------------------------------------------------------------------------------------------
-- Privileges. The API roles read the board, the backlog, clocks and reports through the api
-- functions and views. The views call ops.read_clock and ops.feature_score as the caller: they
-- are pure computations (calendars are read as their owner). The worker refreshes the
-- transitions through its SECURITY DEFINER function and reads nothing of the tickets itself.
-- Support staff and DBAs in psql read everything and edit the SLA configuration; transitions
-- are written by the tickets' trigger and the refresh, never by hand.

REVOKE ALL ON FUNCTION ops.business_time(text, timestamptz, timestamptz), ops.add_business_time(text, timestamptz, interval),
  ops.clock_due(text, timestamptz, interval, tstzmultirange),
  ops.read_clock(text, timestamptz, interval, timestamptz, tstzmultirange, float8, timestamptz),
  ops.sla_configuration_changed(), ops.validate_calendar(), ops.compute_ticket_sla(ops.tickets),
  ops.next_sla_check(ops.tickets, timestamptz), ops.sync_sla_transitions(ops.tickets, timestamptz),
  ops.restate_tickets(), ops.validate_sla_policy(), ops.refresh_sla_transitions(),
  ops.ticket_sla(bigint, timestamptz), api.ticket_sla(bigint, timestamptz),
  ops.feature_score(integer, integer, integer, integer, integer, float8, float8, float8, float8, float8),
  ops.sla_report(timestamptz, timestamptz, uuid), ops.ticket_counts(timestamptz, timestamptz, uuid),
  ops.report_scope(), api.sla_report(timestamptz, timestamptz), api.ticket_counts(timestamptz, timestamptz),
  ops.ticket_milestones(text, timestamptz, interval, interval, float8, timestamptz, timestamptz, tstzmultirange),
  ops.sla_crossings(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
  ops.next_sla_crossing(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.ticket_sla(bigint, timestamptz), api.sla_report(timestamptz, timestamptz),
  api.ticket_counts(timestamptz, timestamptz),
  ops.read_clock(text, timestamptz, interval, timestamptz, tstzmultirange, float8, timestamptz),
  ops.feature_score(integer, integer, integer, integer, integer, float8, float8, float8, float8, float8)
  TO expense_user, expense_ops_admin;
GRANT EXECUTE ON FUNCTION ops.refresh_sla_transitions() TO expense_ops_worker, expense_ops_admin;
GRANT EXECUTE ON FUNCTION ops.business_time(text, timestamptz, timestamptz),
  ops.add_business_time(text, timestamptz, interval), ops.clock_due(text, timestamptz, interval, tstzmultirange),
  ops.compute_ticket_sla(ops.tickets), ops.next_sla_check(ops.tickets, timestamptz),
  ops.ticket_milestones(text, timestamptz, interval, interval, float8, timestamptz, timestamptz, tstzmultirange),
  ops.sla_crossings(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
  ops.next_sla_crossing(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
  ops.ticket_sla(bigint, timestamptz), ops.sla_report(timestamptz, timestamptz, uuid),
  ops.ticket_counts(timestamptz, timestamptz, uuid) TO expense_ops_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.calendars, ops.calendar_hours, ops.calendar_holidays,
  ops.sla_policies, ops.releases, ops.paused_states TO expense_ops_admin;
GRANT SELECT, UPDATE ON ops.sla_settings TO expense_ops_admin;
GRANT SELECT ON ops.sla_transitions, ops.sla_checks, ops.sla_board, ops.feature_backlog TO expense_ops_admin;
GRANT SELECT ON api.sla_board, api.feature_backlog TO expense_user, expense_ops_admin;

SELECT pg_catalog.pg_extension_config_dump('ops.sla_transitions', '');
SELECT pg_catalog.pg_extension_config_dump('ops.releases', '');
SELECT pg_catalog.pg_extension_config_dump('ops.calendars', $$WHERE calendar_id <> '24x7'$$);
SELECT pg_catalog.pg_extension_config_dump('ops.calendar_holidays', '');
