-- Tickets: lifecycles, tier actions, calendars, policies, clocks, restatement and reports.
CREATE EXTENSION IF NOT EXISTS expense_ops;
\set VERBOSITY default

-- What a statement says: 'ok', or its SQLSTATE and message. Nothing partial stays behind.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.open(kind text, priority text, opened_at timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE sql AS $$
  INSERT INTO ops.tickets (kind, priority, title, reporter, opened_at)
  VALUES (kind, priority, kind || ' ' || priority, 'reporter@example.com', opened_at) RETURNING ticket_id
$$;
CREATE FUNCTION pg_temp.walk(ticket bigint, VARIADIC states text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  next_state text;
BEGIN
  FOREACH next_state IN ARRAY states LOOP
    UPDATE ops.tickets SET state = next_state WHERE ticket_id = ticket;
  END LOOP;
  RETURN (SELECT state FROM ops.tickets WHERE ticket_id = ticket);
END $$;

-- Each kind opens in its first state and walks its main line to the end.
SELECT kind, ops.ticket_initial_state(kind), ops.ticket_states(kind)
  FROM unnest(ARRAY['bug', 'feature', 'security', 'incident', 'support']) kind;
SELECT pg_temp.walk(pg_temp.open('bug', 'P2'), 'Triage', 'Assigned', 'In Progress', 'Testing', 'Resolved', 'Deployed');
SELECT pg_temp.walk(pg_temp.open('feature', 'P3'), 'Review', 'Prioritize', 'Plan', 'Develop', 'Test', 'Deploy');
SELECT pg_temp.walk(pg_temp.open('security', 'P2'), 'Contain', 'Assess', 'Remediate', 'Document', 'Notify', 'Prevent');
SELECT pg_temp.walk(pg_temp.open('incident', 'P2'), 'Mitigated', 'Root-caused', 'Fixed', 'Post-mortem done', 'Closed');
SELECT pg_temp.walk(pg_temp.open('support', 'P2'), 'Open', 'Waiting on customer', 'Resolved', 'Closed');

-- Moves back and exits.
SELECT pg_temp.walk(pg_temp.open('bug', 'P2'), 'Triage', 'Assigned', 'In Progress', 'Testing', 'In Progress',
                    'Testing', 'Resolved', 'In Progress') AS reopened_bug;
SELECT pg_temp.walk(pg_temp.open('bug', 'P3'), 'Triage', 'Won''t fix') AS wont_fix,
       pg_temp.walk(pg_temp.open('bug', 'P3'), 'Triage', 'Duplicate') AS duplicate,
       pg_temp.walk(pg_temp.open('feature', 'P3'), 'Review', 'Declined') AS declined_in_review,
       pg_temp.walk(pg_temp.open('feature', 'P3'), 'Review', 'Prioritize', 'Declined') AS declined_later;
SELECT ops.ticket_next_states('bug', 'Resolved'), ops.ticket_next_states('feature', 'Deploy');

-- Illegal moves name the allowed next states, and change nothing.
SELECT pg_temp.open('bug', 'P2') AS bug \gset
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Assigned' WHERE ticket_id = %s$$, :bug));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Reported' WHERE ticket_id = %s$$, :bug));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Closed' WHERE ticket_id = %s$$, :bug));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET kind = 'feature' WHERE ticket_id = %s$$, :bug));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET resolved_at = now() WHERE ticket_id = %s$$, :bug));
SELECT pg_temp.walk(:bug, 'Triage', 'Assigned', 'In Progress', 'Testing', 'Resolved', 'Deployed');
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'In Progress' WHERE ticket_id = %s$$, :bug));
SELECT state, first_response_at IS NOT NULL AS responded, resolved_at IS NOT NULL AS resolved,
       closed_at IS NOT NULL AS closed FROM ops.tickets WHERE ticket_id = :bug;

-- Bad input at the door.
SELECT pg_temp.try($$INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('bug', 'P4', 't', 'r')$$);
SELECT pg_temp.try($$INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('bug', 'p1', 't', 'r')$$);
SELECT pg_temp.try($$INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('outage', 'P1', 't', 'r')$$);
SELECT pg_temp.try($$INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES (NULL, 'P1', 't', 'r')$$);
SELECT pg_temp.try($$INSERT INTO ops.tickets (kind, priority, title, reporter, state) VALUES ('bug', 'P1', 't', 'r', 'Testing')$$);
SELECT pg_temp.try($$INSERT INTO ops.tickets (kind, priority, title, reporter, state) VALUES ('bug', 'P1', 't', 'r', 'Flying')$$);
SELECT pg_temp.try($$INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('bug', 'P1', '   ', 'r')$$);
SELECT pg_temp.try($$INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('bug', 'P1', 'Robert''); DROP TABLE ops.tickets; --', 'r')$$);
SELECT pg_temp.try($$DELETE FROM ops.tickets$$);
SELECT pg_temp.try($$UPDATE ops.ticket_events SET actor = 'someone else'$$);
SELECT pg_temp.try($$DELETE FROM ops.ticket_events$$);

-- Tier actions: closing a P0 needs a root cause and a post-mortem link, a P1 a root cause.
SELECT pg_temp.open('incident', 'P0') AS p0 \gset
SELECT pg_temp.walk(:p0, 'Mitigated', 'Root-caused', 'Fixed', 'Post-mortem done');
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Closed' WHERE ticket_id = %s$$, :p0));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Closed', root_cause = 'disk full' WHERE ticket_id = %s$$, :p0));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Closed', root_cause = '  ', postmortem_url = 'https://wiki.example.com/pm/1' WHERE ticket_id = %s$$, :p0));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Closed', root_cause = 'disk full', postmortem_url = 'https://wiki.example.com/pm/1', satisfaction = 4 WHERE ticket_id = %s$$, :p0));
SELECT pg_temp.open('support', 'P1') AS p1 \gset
SELECT pg_temp.walk(:p1, 'Open', 'Waiting on customer', 'Resolved');
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Closed' WHERE ticket_id = %s$$, :p1));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET satisfaction = 5 WHERE ticket_id = %s$$, :p1)) AS before_close;
SELECT pg_temp.try(format($$UPDATE ops.tickets SET state = 'Closed', root_cause = 'cache' WHERE ticket_id = %s$$, :p1));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET satisfaction = 6 WHERE ticket_id = %s$$, :p1));
SELECT pg_temp.try(format($$UPDATE ops.tickets SET satisfaction = 5 WHERE ticket_id = %s$$, :p1));
SELECT action, from_value, to_value, body FROM ops.ticket_events WHERE ticket_id = :p1 ORDER BY event_id;

-- Calendars: a Berlin office, Monday to Friday 09-17 with a lunch break on Fridays, and holidays.
BEGIN;
INSERT INTO ops.calendars VALUES ('berlin-office', 'Europe/Berlin', 'Berlin support desk');
INSERT INTO ops.calendar_hours
SELECT 'berlin-office', d, time '09:00', time '17:00' FROM generate_series(1, 4) d
UNION ALL VALUES ('berlin-office', 5, time '09:00', time '12:00'), ('berlin-office', 5, time '13:00', time '17:00');
INSERT INTO ops.calendar_holidays VALUES ('berlin-office', '2026-12-25', 'Christmas'),
                                         ('berlin-office', '2026-12-24', 'Christmas Eve');
COMMIT;
-- Thursday 16:00 plus 2 working hours is Friday 10:00; a Friday 11:30 start skips lunch.
SELECT ops.add_business_time('berlin-office', '2026-11-26 16:00 Europe/Berlin', '2 hours') AT TIME ZONE 'Europe/Berlin';
SELECT ops.add_business_time('berlin-office', '2026-11-27 11:30 Europe/Berlin', '1 hour') AT TIME ZONE 'Europe/Berlin';
-- Friday 16:00 plus 2 hours is Monday 10:00; over Christmas Eve and Christmas it is Monday the 28th.
SELECT ops.add_business_time('berlin-office', '2026-11-27 16:00 Europe/Berlin', '2 hours') AT TIME ZONE 'Europe/Berlin';
SELECT ops.add_business_time('berlin-office', '2026-12-23 16:00 Europe/Berlin', '2 hours') AT TIME ZONE 'Europe/Berlin';
SELECT ops.business_time('berlin-office', '2026-11-23 00:00 Europe/Berlin', '2026-11-30 00:00 Europe/Berlin') AS one_week,
       ops.business_time('berlin-office', '2026-11-30 00:00 Europe/Berlin', '2026-11-23 00:00 Europe/Berlin') AS reversed,
       ops.business_time('24x7', '2026-03-29 00:00 Europe/Berlin', '2026-03-30 00:00 Europe/Berlin') AS spring_day;

-- Calendars that cannot be: each refused with its own SQLSTATE, at commit, leaving nothing.
SELECT pg_temp.try($$INSERT INTO ops.calendars VALUES ('mars', 'Mars/Olympus_Mons')$$);
SELECT pg_temp.try($$INSERT INTO ops.calendars VALUES ('empty', 'UTC')$$);
CREATE FUNCTION pg_temp.calendar_with(hours text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ops.calendars VALUES ('scratch', 'UTC');
  EXECUTE 'INSERT INTO ops.calendar_hours VALUES ' || hours;
  SET CONSTRAINTS ALL IMMEDIATE;
  RAISE EXCEPTION 'accepted' USING ERRCODE = 'P0001';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.calendar_with($$('scratch', 1, '17:00', '09:00')$$) AS inverted;
SELECT pg_temp.calendar_with($$('scratch', 1, '09:00', '13:00'), ('scratch', 1, '12:00', '17:00')$$) AS overlapping;
SELECT pg_temp.calendar_with($$('scratch', 8, '09:00', '17:00')$$) AS weekday;
SELECT pg_temp.calendar_with($$('scratch', 1, '09:00', '12:00'), ('scratch', 1, '12:00', '17:00')$$) AS touching;
SELECT count(*) AS scratch_calendars FROM ops.calendars WHERE calendar_id IN ('scratch', 'mars', 'empty');

-- Policies: the seeded defaults, and bad ones refused.
SELECT priority, response_target, resolution_target, calendar_id, at_risk_fraction, pages_on_open
  FROM ops.sla_policies ORDER BY priority;
SELECT pg_temp.try($$UPDATE ops.sla_policies SET response_target = '-5 minutes' WHERE priority = 'P0'$$);
SELECT pg_temp.try($$UPDATE ops.sla_policies SET resolution_target = '1 month' WHERE priority = 'P2'$$);
SELECT pg_temp.try($$UPDATE ops.sla_policies SET at_risk_fraction = 1.5 WHERE priority = 'P2'$$);
SELECT pg_temp.try($$UPDATE ops.sla_policies SET calendar_id = 'nowhere' WHERE priority = 'P2'$$);
SELECT pg_temp.try($$INSERT INTO ops.sla_policies (priority, response_target) VALUES ('P9', '1 hour')$$);

-- The clocks at chosen instants. A P1 opened at 10:00 UTC: response due 12:00, at risk from 11:30.
SELECT pg_temp.open('bug', 'P1', '2026-11-02 10:00+00') AS clock \gset
SELECT at, ops.ticket_sla(:clock, at) -> 'response' ->> 'state' AS response,
       ops.ticket_sla(:clock, at) -> 'response' ->> 'remaining' AS remaining,
       ops.ticket_sla(:clock, at) -> 'resolution' ->> 'state' AS resolution
  FROM unnest(ARRAY['2026-11-02 11:00+00', '2026-11-02 11:30+00', '2026-11-02 12:00+00',
                    '2026-11-02 13:00+00']::timestamptz[]) at;
SELECT clock, state, at FROM ops.sla_transitions WHERE ticket_id = :clock ORDER BY at, clock, state;

-- A support ticket waiting on the customer is paused; the pause is excluded from its due times.
SELECT pg_temp.open('support', 'P2') AS waiting \gset
SELECT pg_temp.walk(:waiting, 'Open', 'Waiting on customer');
SELECT ops.ticket_sla(:waiting) -> 'resolution' ->> 'state' AS while_waiting,
       ops.ticket_sla(:waiting) -> 'resolution' ->> 'due_at' IS NULL AS no_due_while_paused;
SELECT pg_temp.walk(:waiting, 'Open');
SELECT ops.ticket_sla(:waiting) -> 'resolution' ->> 'state' AS after_reply,
       upper(paused_during) IS NOT NULL AS pause_closed FROM ops.tickets WHERE ticket_id = :waiting;
SELECT action FROM ops.ticket_events WHERE ticket_id = :waiting ORDER BY event_id;
-- Paused time is taken out: two days paused push the due time by two days.
SELECT ops.clock_due('24x7', '2026-11-02 00:00+00', '7 days',
                     '{[2026-11-03 00:00+00,2026-11-05 00:00+00)}') AS due_after_pause,
       ops.clock_due('24x7', '2026-11-02 00:00+00', '7 days', '{[2026-11-03 00:00+00,)}') AS open_pause;
SELECT (ops.read_clock('24x7', '2026-11-02 00:00+00', '7 days', NULL,
                       '{[2026-11-03 00:00+00,2026-11-05 00:00+00)}', 0.75, '2026-11-04 00:00+00')).state AS in_pause;

-- Retroactive restatement: a priority change recomputes from the open time, and a past breach
-- that no longer holds is withdrawn.
SELECT pg_temp.open('incident', 'P0', now() - interval '1 hour') AS restated \gset
SELECT clock, state FROM ops.sla_transitions WHERE ticket_id = :restated ORDER BY clock, state;
UPDATE ops.tickets SET priority = 'P2' WHERE ticket_id = :restated;
SELECT response_due_at - opened_at AS response_target, resolution_due_at - opened_at AS resolution_target,
       must_page FROM ops.tickets WHERE ticket_id = :restated;
SELECT clock, state FROM ops.sla_transitions WHERE ticket_id = :restated ORDER BY clock, state;
-- A policy edit restates every ticket of that priority, without calling it a change.
SELECT updated_at AS updated_before FROM ops.tickets WHERE ticket_id = :restated \gset
UPDATE ops.sla_policies SET response_target = '30 minutes' WHERE priority = 'P2';
SELECT updated_at = :'updated_before' AS updated_at_kept FROM ops.tickets WHERE ticket_id = :restated;
SELECT response_due_at - opened_at AS response_target FROM ops.tickets WHERE ticket_id = :restated;
SELECT clock, state FROM ops.sla_transitions WHERE ticket_id = :restated ORDER BY clock, state;
UPDATE ops.sla_policies SET response_target = '24 hours' WHERE priority = 'P2';
-- So does a calendar edit: P2 on the Berlin office calendar.
SELECT pg_temp.open('bug', 'P2', '2026-11-26 16:00 Europe/Berlin') AS office \gset
UPDATE ops.sla_policies SET calendar_id = 'berlin-office' WHERE priority = 'P2';
SELECT response_due_at AT TIME ZONE 'Europe/Berlin' AS office_due FROM ops.tickets WHERE ticket_id = :office;
INSERT INTO ops.calendar_holidays VALUES ('berlin-office', '2026-11-27', 'Office closed');
SELECT response_due_at AT TIME ZONE 'Europe/Berlin' AS due_after_holiday FROM ops.tickets WHERE ticket_id = :office;
UPDATE ops.sla_policies SET calendar_id = '24x7' WHERE priority = 'P2';

-- P3 resolves with the next release; without one planned, the fallback applies and is flagged.
SELECT pg_temp.open('feature', 'P3', '2026-11-02 00:00+00') AS p3 \gset
SELECT resolution_due_at, resolution_due_is_fallback FROM ops.tickets WHERE ticket_id = :p3;
INSERT INTO ops.releases (version, planned_for) VALUES ('1.4.0', '2026-11-20 12:00+00');
SELECT resolution_due_at, resolution_due_is_fallback FROM ops.tickets WHERE ticket_id = :p3;
SELECT pg_temp.try($$INSERT INTO ops.releases (version, planned_for) VALUES ('next', now())$$);

-- Feature prioritisation.
SELECT ops.feature_score(1, 1, 5, 1, 1) AS worst, ops.feature_score(5, 5, 1, 5, 5) AS best,
       ops.feature_score(4, 3, 2, 3, 5) AS typical, ops.feature_score(4, 3, NULL, 3, 5) AS unrated;
SELECT pg_temp.try($$SELECT ops.feature_score(0, 3, 2, 3, 5)$$);
SELECT pg_temp.try($$SELECT ops.feature_score(1, 3, 2, 3, 5, 0, 0, 0, 0, 0)$$);
UPDATE ops.tickets SET user_impact = 5, business_value = 4, complexity = 2, resource_availability = 3,
                       strategic_alignment = 4 WHERE ticket_id = :p3;
SELECT ticket_id = :p3 AS scored_first, score FROM ops.feature_backlog LIMIT 1;

-- Reports, over a window of their own long ago: responses after 10, 20 and 150 minutes (set
-- directly, as an import would), a P2 resolved through its lifecycle in the same transaction as
-- its opening, so that now() is one instant.
BEGIN;
CREATE TEMP TABLE report_tickets AS
SELECT pg_temp.open(kind, priority, now() - interval '120000 hours' - age) AS ticket_id, response
  FROM (VALUES ('support', 'P1', interval '3 hours', interval '10 minutes'),
               ('support', 'P1', interval '3 hours', interval '20 minutes'),
               ('support', 'P1', interval '3 hours', interval '150 minutes'),
               ('incident', 'P2', interval '2 hours', NULL)) v(kind, priority, age, response);
UPDATE ops.tickets t SET first_response_at = t.opened_at + r.response
  FROM report_tickets r WHERE r.ticket_id = t.ticket_id AND r.response IS NOT NULL;
SELECT pg_temp.walk(ticket_id, 'Mitigated', 'Root-caused', 'Fixed') FROM report_tickets WHERE response IS NULL;
COMMIT;
SELECT * FROM ops.sla_report(now() - interval '120024 hours', now() - interval '119976 hours');
SELECT * FROM ops.ticket_counts(now() - interval '120024 hours', now() - interval '119976 hours');
SELECT pg_temp.try($$SELECT * FROM ops.sla_report(now(), now() - interval '1 day')$$) LIKE '22023: from/to: % is not a period' AS inverted_period;
SELECT pg_temp.try(format($$UPDATE ops.tickets SET first_response_at = opened_at - interval '1 minute' WHERE ticket_id = %s$$, :office)) LIKE '22X53: first_response_at: % is not between the opening (%) and now' AS before_opening,
       pg_temp.try(format($$UPDATE ops.tickets SET first_response_at = now() + interval '1 minute' WHERE ticket_id = %s$$, :office)) LIKE '22X53: first_response_at: % is not between the opening (%) and now' AS in_future;

-- The board lists open tickets only, nearest breach first.
SELECT count(*) FILTER (WHERE t.closed_at IS NOT NULL) AS closed_on_board
  FROM ops.sla_board b JOIN ops.tickets t USING (ticket_id);
SELECT bool_and(time_to_breach >= coalesce(lag, time_to_breach)) AS ordered
  FROM (SELECT time_to_breach, lag(time_to_breach) OVER () FROM ops.sla_board WHERE time_to_breach IS NOT NULL) s;

-- The refresh records crossings it finds due, each once: a second run finds nothing to do.
DELETE FROM ops.sla_transitions WHERE ticket_id = :clock;
INSERT INTO ops.sla_checks VALUES (:clock, now() - interval '1 second');
SELECT ops.refresh_sla_transitions() AS first_run, ops.refresh_sla_transitions() AS second_run;
SELECT clock, state, at FROM ops.sla_transitions WHERE ticket_id = :clock ORDER BY at, clock, state;

-- A clock read at a past instant shows what it showed then: a stop (or a pause's end) after
-- that instant has not happened yet.
SELECT * FROM ops.read_clock('24x7', '2026-11-02 10:00+00', '2 hours', '2026-11-02 11:40+00', '{}', 0.75,
                             '2026-11-02 11:30+00');
SELECT * FROM ops.read_clock('24x7', '2026-11-02 10:00+00', '2 hours', NULL,
                             '{[2026-11-02 10:30+00, 2026-11-02 11:00+00)}', 0.75, '2026-11-02 10:45+00');
SELECT (r.state, r.due_at, r.remaining, r.used) = (n.state, n.due_at, n.remaining, n.used) AS same_as_api_reading_then
  FROM ops.read_clock('24x7', '2026-11-02 10:00+00', '2 hours', '2026-11-02 13:00+00', '{}', 0.75, '2026-11-02 11:59+00') r,
       ops.read_clock('24x7', '2026-11-02 10:00+00', '2 hours', NULL, '{}', 0.75, '2026-11-02 11:59+00') n;

-- A P3 is due with the first release planned after it opened that had not shipped when it
-- opened. Shipping that release later does not move the due time, nor does it undo a breach.
BEGIN;
DELETE FROM ops.releases;
INSERT INTO ops.releases (version, planned_for) VALUES ('9.1.0', now() - interval '2 days'), ('9.2.0', now() + interval '30 days');
SELECT pg_temp.open('bug', 'P3', now() - interval '5 days') AS late_p3 \gset
SELECT resolution_due_at = (SELECT planned_for FROM ops.releases WHERE version = '9.1.0') AS due_with_9_1,
       (SELECT array_agg(state ORDER BY state) FROM ops.sla_transitions WHERE ticket_id = :late_p3 AND clock = 'resolution') AS recorded
  FROM ops.tickets WHERE ticket_id = :late_p3;
UPDATE ops.releases SET released_at = now() WHERE version = '9.1.0';
SELECT resolution_due_at = (SELECT planned_for FROM ops.releases WHERE version = '9.1.0') AS still_due_with_9_1,
       (SELECT array_agg(state ORDER BY state) FROM ops.sla_transitions WHERE ticket_id = :late_p3 AND clock = 'resolution') AS still_recorded,
       (ops.ticket_sla(:late_p3)->'resolution'->>'state') AS state_now
  FROM ops.tickets WHERE ticket_id = :late_p3;
-- A release that had already shipped when the ticket opened is not its "next release".
INSERT INTO ops.releases (version, planned_for, released_at) VALUES ('9.1.1', now() + interval '1 day', now() - interval '1 hour');
SELECT pg_temp.open('bug', 'P3') AS new_p3 \gset
SELECT resolution_due_at = (SELECT planned_for FROM ops.releases WHERE version = '9.2.0') AS new_p3_due_with_9_2
  FROM ops.tickets WHERE ticket_id = :new_p3;
ROLLBACK;

-- Staying in the same state is no move: refused with the allowed next states.
SELECT pg_temp.open('support', 'P2') AS same_state \gset
SELECT pg_temp.try(format($$SELECT api.move_ticket(%s, 'New')$$, :same_state));

-- Through the API, in a fresh backend that has loaded no calendar yet: staff see the board
-- (calendars are read as their owner, not as the caller); a tenant's employee sees only their
-- organisation's tickets, none here.
INSERT INTO expense.orgs (org_id, name, base_currency, time_zone)
VALUES ('00000000-0000-0000-0000-00000000d0a1', 'Desk Inc', 'EUR', 'UTC');
INSERT INTO iam.users (user_id, org_id, email, display_name, role)
VALUES ('00000000-0000-0000-0000-00000000d001', '00000000-0000-0000-0000-00000000d0a1', 'desk@desk.test', 'Desk', 'support'),
       ('00000000-0000-0000-0000-00000000d002', '00000000-0000-0000-0000-00000000d0a1', 'emp@desk.test', 'Emp', 'employee');
SELECT iam.set_staff('00000000-0000-0000-0000-00000000d001', true);
SELECT count(*) AS open_tickets FROM ops.tickets WHERE closed_at IS NULL \gset
\c
BEGIN;
SET LOCAL ROLE expense_user;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000d001"}', true) IS NOT NULL AS staff;
SELECT count(*) = :open_tickets AS board_complete, count(*) > 0 AS some FROM api.sla_board;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000d002"}', true) IS NOT NULL AS employee;
SELECT count(*) AS employee_rows FROM api.sla_board;
ROLLBACK;
