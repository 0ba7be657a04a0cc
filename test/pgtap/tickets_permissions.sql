-- Who may do what with tickets outside the API: support staff and DBAs in psql (roles granted
-- expense_ops_admin), the worker (expense_ops_worker), and the API roles, which reach tickets
-- only through the SECURITY DEFINER functions and views of the api schema.
BEGIN;
SELECT plan(106);

CREATE ROLE tap_ticket_admin LOGIN IN ROLE expense_ops_admin;
CREATE ROLE tap_ticket_worker LOGIN IN ROLE expense_ops_worker;
CREATE ROLE tap_ticket_nobody LOGIN;

-- ---------------------------------------------------------------------------------------------
-- The API roles: no direct privilege on any ops table, and no way into the schema.

SELECT table_privs_are('ops', t, r, ARRAY[]::text[], format('%s has no privilege on ops.%s', r, t))
  FROM unnest(ARRAY['tickets', 'ticket_events', 'sla_transitions', 'sla_policies', 'calendars', 'calendar_hours',
                    'calendar_holidays', 'releases', 'sla_settings', 'paused_states']) t,
       unnest(ARRAY['expense_user', 'expense_anon']) r
 ORDER BY r, t;
SELECT schema_privs_are('ops', 'expense_user', ARRAY[]::text[], 'expense_user cannot use the ops schema');

SELECT table_privs_are('api', v, 'expense_user', ARRAY['SELECT'], format('expense_user may only read api.%s', v))
  FROM unnest(ARRAY['sla_board', 'feature_backlog', 'tickets', 'ticket_events']) v;
SELECT table_privs_are('api', v, 'expense_anon', ARRAY[]::text[], format('expense_anon may not read api.%s', v))
  FROM unnest(ARRAY['sla_board', 'feature_backlog', 'tickets', 'ticket_events']) v;
SELECT ok('security_barrier=true' = ANY (c.reloptions), format('api.%s is a security barrier view', c.relname))
  FROM pg_class c
 WHERE c.oid IN ('api.sla_board'::regclass, 'api.feature_backlog'::regclass, 'api.tickets'::regclass,
                 'api.ticket_events'::regclass)
 ORDER BY c.relname;

SET LOCAL ROLE expense_user;
SELECT throws_ok($$SELECT count(*) FROM ops.tickets$$, '42501', NULL, 'expense_user cannot read ops.tickets');
SELECT throws_ok($$INSERT INTO ops.ticket_events (ticket_id, actor, action) VALUES (1, 'x', 'comment')$$, '42501',
                 NULL, 'nor write ops.ticket_events');
SELECT throws_ok($$SELECT api.open_ticket('support', 'P2', 'x')$$, '42501', 'log in to open a ticket',
                 'without user claims expense_user is neither staff nor a tenant user');
RESET ROLE;
SET LOCAL ROLE expense_anon;
SELECT throws_ok($$SELECT api.ticket_sla(1)$$, '42501', NULL, 'expense_anon cannot call api.ticket_sla');
SELECT throws_ok($$SELECT count(*) FROM api.sla_board$$, '42501', NULL, 'nor read api.sla_board');
RESET ROLE;
SET LOCAL ROLE tap_ticket_nobody;
SELECT throws_ok($$SELECT api.open_ticket('support', 'P2', 'x')$$, '42501', NULL,
                 'a role without expense_ops_admin cannot open tickets');
RESET ROLE;

-- ---------------------------------------------------------------------------------------------
-- The api functions on tickets: SECURITY DEFINER with a fixed search_path, never for PUBLIC.

SELECT set_eq($$SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace
                 AND (p.proname LIKE '%ticket%' OR p.proname LIKE 'sla%')$$,
              ARRAY['open_ticket', 'move_ticket', 'set_ticket_priority', 'assign_ticket', 'comment_ticket',
                    'ticket_sla', 'ticket_counts', 'sla_report'],
              'the ticket functions of the api schema are the eight below');
SELECT ok(p.prosecdef, format('api.%s is SECURITY DEFINER', p.proname))
  FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace
   AND (p.proname LIKE '%ticket%' OR p.proname LIKE 'sla%') ORDER BY p.proname;
SELECT ok(coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false),
          format('api.%s runs with search_path = pg_catalog, pg_temp', p.proname))
  FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace
   AND (p.proname LIKE '%ticket%' OR p.proname LIKE 'sla%') ORDER BY p.proname;
SELECT is(array_agg(p.proname::text ORDER BY p.proname)
            FILTER (WHERE has_function_privilege('public', p.oid, 'EXECUTE')
                       OR has_function_privilege('expense_anon', p.oid, 'EXECUTE')
                       OR NOT has_function_privilege('expense_user', p.oid, 'EXECUTE')
                       OR NOT has_function_privilege('expense_ops_admin', p.oid, 'EXECUTE')),
          NULL, 'each is executable by expense_user and expense_ops_admin, not by PUBLIC or expense_anon')
  FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace AND (p.proname LIKE '%ticket%' OR p.proname LIKE 'sla%');
SELECT function_privs_are('ops', 'refresh_sla_transitions', ARRAY[]::text[], 'expense_user', ARRAY[]::text[],
                          'expense_user may not refresh the transitions');

-- ---------------------------------------------------------------------------------------------
-- Staff are marked by expense_ops_admin alone: a tenant's admin is not staff.

INSERT INTO expense.orgs (org_id, name, base_currency) VALUES ('00000000-0000-0000-0000-0000000000b1', 'Tenant', 'EUR');
INSERT INTO iam.users (user_id, org_id, email, display_name, role) VALUES
  ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000b1', 'boss@tenant.test', 'Boss', 'admin');
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000b2"}', true);
SELECT ok(NOT ops.is_support_staff(), 'a tenant''s admin is not staff');
SET LOCAL ROLE expense_user;
SELECT throws_ok($$SELECT iam.set_staff('00000000-0000-0000-0000-0000000000b2', true)$$, '42501', NULL,
                 'and cannot make themselves staff');
RESET ROLE;
SET LOCAL ROLE tap_ticket_admin;
SELECT lives_ok($$SELECT iam.set_staff('00000000-0000-0000-0000-0000000000b2', true)$$,
                'expense_ops_admin marks a user as staff');
RESET ROLE;
SELECT ok(ops.is_support_staff(), 'who is then staff');
SELECT set_config('request.jwt.claims', '', true);

-- ---------------------------------------------------------------------------------------------
-- expense_ops_admin in psql.

SET LOCAL ROLE tap_ticket_admin;
SELECT ok(ops.is_support_staff(), 'a role granted expense_ops_admin is support staff');
SELECT lives_ok($$INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('support', 'P2', 'Direct', 'dba')$$,
                'expense_ops_admin opens a ticket with INSERT');
SELECT max(ticket_id) AS direct FROM ops.tickets \gset
SELECT is(state, 'New', 'the trigger puts it in the first state') FROM ops.tickets WHERE ticket_id = :direct;
SELECT is((SELECT count(*) FROM ops.sla_board WHERE ticket_id = :direct), 1::bigint, 'it reads ops.sla_board');
SELECT is((SELECT count(*) FROM api.sla_board WHERE ticket_id = :direct), 1::bigint, 'and api.sla_board');
SELECT lives_ok(format($$UPDATE ops.tickets SET state = 'Open' WHERE ticket_id = %s$$, :direct),
                'it moves the ticket with UPDATE');
SELECT ok(first_response_at IS NOT NULL AND state = 'Open', 'the move is the first response')
  FROM ops.tickets WHERE ticket_id = :direct;
SELECT throws_ok(format($$UPDATE ops.tickets SET state = 'Closed' WHERE ticket_id = %s$$, :direct), '22X53', NULL,
                 'the trigger still enforces the lifecycle on direct updates (22X53)');
SELECT throws_ok($$INSERT INTO ops.tickets (kind, priority, title, reporter, state)
                   VALUES ('support', 'P2', 'x', 'dba', 'Resolved')$$, '22X53', NULL,
                 'a ticket cannot be inserted in a later state (22X53)');
SELECT throws_ok(format($$UPDATE ops.tickets SET resolved_at = now() WHERE ticket_id = %s$$, :direct), '22X53', NULL,
                 'nor can the lifecycle timestamps be written (22X53)');
SELECT throws_ok(format($$UPDATE ops.tickets SET priority = 'P5' WHERE ticket_id = %s$$, :direct), '22X51', NULL,
                 'nor an unknown priority (22X51)');
SELECT is(array_agg(action || ':' || actor ORDER BY event_id), ARRAY['open:' || session_user, 'status:' || session_user],
          'direct writes are logged with the database session user as actor')
  FROM ops.ticket_events WHERE ticket_id = :direct;
SELECT throws_ok(format($$UPDATE ops.ticket_events SET body = 'rewritten' WHERE ticket_id = %s$$, :direct), '42501', NULL,
                 'but cannot UPDATE ops.ticket_events');
SELECT throws_ok(format($$DELETE FROM ops.ticket_events WHERE ticket_id = %s$$, :direct), '42501', NULL,
                 'nor DELETE from it');
SELECT throws_ok(format($$DELETE FROM ops.tickets WHERE ticket_id = %s$$, :direct), '42501', NULL,
                 'nor DELETE a ticket');
SELECT throws_ok($$TRUNCATE ops.tickets$$, '42501', NULL, 'nor TRUNCATE the tickets');
SELECT throws_ok(format($$INSERT INTO ops.sla_transitions (ticket_id, clock, state, at)
                          VALUES (%s, 'response', 'breached', now())$$, :direct), '42501', NULL,
                 'nor write ops.sla_transitions (the triggers and the worker do)');
SELECT throws_ok(format($$SELECT ops.sync_sla_transitions(t, now() + interval '1 year') FROM ops.tickets t
                          WHERE ticket_id = %s$$, :direct), '42501', NULL,
                 'nor fabricate transitions through ops.sync_sla_transitions');
SELECT is(count(*), 0::bigint, 'and none were fabricated') FROM ops.sla_transitions
 WHERE ticket_id = :direct AND state = 'breached';
SELECT ok(NOT has_table_privilege('tap_ticket_admin', 'ops.ticket_events', 'UPDATE, DELETE, TRUNCATE'),
          'expense_ops_admin holds no UPDATE, DELETE or TRUNCATE privilege on ops.ticket_events');
SELECT ok(NOT has_table_privilege('tap_ticket_admin', 'ops.tickets', 'DELETE, TRUNCATE'),
          'nor DELETE or TRUNCATE on ops.tickets');
SELECT throws_ok($$SELECT ops.record_worker_heartbeat('dba', 'h', 1, '0.3.0', now(), interval '5 seconds')$$,
                 '42501', NULL, 'nor record worker heartbeats');
SELECT lives_ok($$SELECT api.open_ticket('incident', 'P0', 'Opened in psql')$$, 'it calls api.open_ticket in psql');
SELECT is(must_page, true, 'and the P0 pages') FROM ops.tickets WHERE title = 'Opened in psql';

-- The SLA configuration is the admin's to edit, and editing it restates the tickets.
SELECT lives_ok($$UPDATE ops.sla_policies SET response_target = '1 hour' WHERE priority = 'P3'$$,
                'it edits ops.sla_policies');
SELECT lives_ok(format($$UPDATE ops.tickets SET priority = 'P3' WHERE ticket_id = %s$$, :direct),
                'and changes a priority directly');
SELECT is(response_due_at, opened_at + interval '1 hour', 'the ticket is due by the edited policy')
  FROM ops.tickets WHERE ticket_id = :direct;
SELECT throws_ok($$UPDATE ops.sla_policies SET at_risk_fraction = 1.5 WHERE priority = 'P3'$$, '22X46', NULL,
                 'a policy is still validated (22X46)');
SELECT lives_ok($$INSERT INTO ops.calendars VALUES ('tap-office', 'Europe/Berlin', 'Mon-Fri 09-17');
                  INSERT INTO ops.calendar_hours SELECT 'tap-office', d, '09:00', '17:00' FROM generate_series(1, 5) d;
                  INSERT INTO ops.calendar_holidays VALUES ('tap-office', '2026-12-25', 'Christmas Day');
                  SET CONSTRAINTS ALL IMMEDIATE$$, 'it writes a calendar, its hours and holidays');
SELECT lives_ok($$UPDATE ops.sla_policies SET calendar_id = 'tap-office' WHERE priority = 'P3'$$,
                'and puts a policy on it');
SELECT is(sla_calendar_id, 'tap-office', 'which restates the ticket on the new calendar')
  FROM ops.tickets WHERE ticket_id = :direct;
SELECT lives_ok($$DELETE FROM ops.calendar_holidays WHERE calendar_id = 'tap-office'$$, 'it deletes holidays');
SELECT throws_ok($$INSERT INTO ops.calendars VALUES ('tap-nowhere', 'Mars/Olympus_Mons'); SET CONSTRAINTS ALL IMMEDIATE$$,
                 '22X40', NULL, 'a calendar in an unknown zone is refused (22X40)');
SELECT lives_ok($$UPDATE ops.sla_settings SET next_release_fallback = '14 days'$$, 'it edits ops.sla_settings');
SELECT lives_ok($$INSERT INTO ops.releases (version, planned_for) VALUES ('9.9.9', now() + interval '10 days')$$,
                'and the release calendar');
RESET ROLE;

-- ---------------------------------------------------------------------------------------------
-- The worker: refreshes the transitions and reads them, and touches nothing else.

-- A P0 opened a day ago has breached both clocks: opening it recorded the four transitions.
INSERT INTO ops.tickets (kind, priority, title, reporter, opened_at)
VALUES ('incident', 'P0', 'Old outage', 'tap', now() - interval '1 day');
SELECT max(ticket_id) AS old FROM ops.tickets \gset

SET LOCAL ROLE tap_ticket_worker;
SELECT lives_ok($$SELECT ops.refresh_sla_transitions()$$, 'the worker calls ops.refresh_sla_transitions()');
SELECT throws_ok($$SELECT count(*) FROM ops.sla_transitions$$, '42501', NULL,
                 'but reads no transitions: its job needs none');
SELECT throws_ok($$SELECT count(*) FROM ops.tickets$$, '42501', NULL, 'nor tickets');
SELECT throws_ok($$SELECT count(*) FROM ops.sla_checks$$, '42501', NULL, 'nor the refresh bookmarks');
SELECT throws_ok(format($$UPDATE ops.tickets SET title = 'x' WHERE ticket_id = %s$$, :old), '42501', NULL,
                 'the worker cannot UPDATE tickets');
SELECT throws_ok($$INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('support', 'P2', 'x', 'w')$$,
                 '42501', NULL, 'nor INSERT them');
SELECT throws_ok(format($$DELETE FROM ops.sla_transitions WHERE ticket_id = %s$$, :old), '42501', NULL,
                 'nor DELETE transitions');
SELECT ok(NOT has_table_privilege('tap_ticket_worker', 'ops.tickets', 'INSERT, UPDATE, DELETE, TRUNCATE')
          AND NOT has_table_privilege('tap_ticket_worker', 'ops.ticket_events', 'INSERT, UPDATE, DELETE, TRUNCATE')
          AND NOT has_table_privilege('tap_ticket_worker', 'ops.sla_transitions', 'INSERT, UPDATE, DELETE, TRUNCATE'),
          'the worker holds no write privilege on tickets, events or transitions: it writes through its function');
SELECT throws_ok($$SELECT api.move_ticket(1, 'Open')$$, '42501', NULL, 'nor call the ticket API');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
