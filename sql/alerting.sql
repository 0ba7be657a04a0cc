-- Alerting: rules, evaluation, silences, inhibition, incidents, channels and the outbox, all
-- driven by explicit instants.
CREATE EXTENSION IF NOT EXISTS expense_ops;
SET client_min_messages = warning;
SET TIME ZONE 'UTC';

-- The plan's rules, channels and inhibition are seeded.
SELECT rule, metric, "window", confirm_window, quantile, comparator, threshold, for_duration, severity, opens_incident
  FROM ops.alert_rules ORDER BY rule;
SELECT channel, kind, target, group_by, group_wait, repeat_interval, send_resolved, enabled
  FROM ops.notification_channels ORDER BY channel;
SELECT inhibit_rule, source_matchers, target_matchers, equal FROM ops.inhibit_rules;

-- Bad rules: each refused with its own code, and nothing written.
\set VERBOSITY terse
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity) VALUES ('Bad', 'cpu_load', '>', 1, 'high');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, for_duration)
VALUES ('Bad', 'host_cpu_percent', '>', 1, 'high', '-5 minutes');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity) VALUES ('Bad', 'host_cpu_percent', '=>', 1, 'high');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity) VALUES ('Bad', 'host_cpu_percent', '>', 1, 'urgent');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, matchers)
VALUES ('Bad', 'host_cpu_percent', '>', 1, 'high', '[{"name": "host", "op": "=~", "value": "(db"}]');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, quantile)
VALUES ('Bad', 'request_latency_ms', '>', 1, 'high', 1.5);
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity)
VALUES ('Bad', 'request_latency_ms', '>', 1, 'high');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, summary)
VALUES ('Bad', 'host_cpu_percent', '>', 1, 'high', 'CPU {{ $value');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, summary)
VALUES ('Bad', 'host_cpu_percent', '>', 1, 'high', 'CPU {{ .Value }}');
INSERT INTO ops.alert_rules (rule, metric, "window", comparator, threshold, severity)
VALUES ('Bad', 'watchdog', '5 minutes', '>', 1, 'high');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity) VALUES ('Bad', 'slo_burn_rate', '>', 1, 'high');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, labels)
VALUES ('Bad', 'host_cpu_percent', '>', 1, 'high', '{"alertname": "Other"}');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity) VALUES ('Bad', 'host_cpu_percent', '>', 'NaN', 'high');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity) VALUES ('bad name', 'host_cpu_percent', '>', 1, 'high');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, labels)
VALUES ('Bad', 'host_cpu_percent', '>', 1, 'high', '{"team-name": "ops"}');
INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, opens_incident)
VALUES ('Bad', 'ticket_page', '>', 0, 'critical', true);
UPDATE ops.checks SET labels = labels || '{"on-call": "ops"}' WHERE check_id = 'health';
INSERT INTO ops.notification_channels (channel, kind, target) VALUES ('pager', 'sms', '+100');
INSERT INTO ops.notification_channels (channel, kind, target) VALUES ('hook', 'webhook', 'ftp://x');
INSERT INTO ops.notification_channels (channel, kind, target) VALUES ('cmd', 'command', 'rm -rf /');
INSERT INTO ops.notification_channels (channel, kind, target) VALUES ('mail', 'email', 'oncall');
INSERT INTO ops.notification_channels (channel, kind, target) VALUES ('mail', 'email', E'a@example.com\r\nBcc: b@example.com');
INSERT INTO ops.notification_channels (channel, kind, target) VALUES ('mail', 'email', 'a@example.com;b@example.com');
INSERT INTO ops.notification_channels (channel, kind, target) VALUES ('mail', 'email', E'a@example.com,\nb@example.com');
INSERT INTO ops.notification_channels (channel, kind, target) VALUES ('mail', 'email', E'a\x01@example.com');
INSERT INTO ops.notification_channels (channel, kind, target, enabled)
VALUES ('mail', 'email', 'oncall@example.com, ops@example.com', false) RETURNING channel, kind, target;
DELETE FROM ops.notification_channels WHERE channel = 'mail';
INSERT INTO ops.silences (matchers, starts_at, ends_at, comment)
VALUES ('[{"name": "host", "op": "=", "value": "db1"}]', '2026-06-10 12:00Z', '2026-06-10 11:00Z', 'backwards');
INSERT INTO ops.silences (matchers, starts_at, ends_at, comment) VALUES ('[]', '2026-06-10 12:00Z', '2026-06-10 13:00Z', 'all');
INSERT INTO ops.silences (matchers, starts_at, ends_at, comment)
VALUES ('[{"name": "host", "op": "=~", "value": "a(b"}]', '2026-06-10 12:00Z', '2026-06-10 13:00Z', 'bad regex');
SELECT ops.metric_samples('no_such_metric', NULL, NULL, '2026-06-10 12:00Z');
SELECT ops.retry_delay(0, '10 s', '1 h', 0.5);
SELECT ops.retry_delay(1, '10 s', '1 h', 1.0);
\set VERBOSITY default
SELECT count(*) AS rules_unchanged FROM ops.alert_rules;

-- The C++ pieces, directly.
SELECT ops.label_fingerprint('{}') AS empty_set, ops.label_fingerprint('{"alertname": "HighCpu", "host": "db1"}') AS two_labels;
SELECT ops.render_template('{{ $labels.host }} at {{$value}} % ({{ $labels.missing }})', 93.5, '{"host": "db1"}');
SELECT ops.threshold_holds('>', 'NaN', 1) AS nan_never, ops.threshold_holds('!=', 2, 1) AS differs;
SELECT ops.retry_delay(1, '10 s', '1 h', 0) AS first, ops.retry_delay(4, '10 s', '1 h', 0.5) AS fourth,
       ops.retry_delay(20, '10 s', '1 h', 0.999) AS capped;

-- From here on only the rules under test run, on hosts db1 and db2. The tickets test before this
-- one paged at the real time; its alerts are not this test's.
TRUNCATE ops.alerts, ops.alert_events, ops.notifications, ops.notification_groups RESTART IDENTITY;
UPDATE ops.alert_rules SET enabled = false;
UPDATE ops.notification_channels SET enabled = false;
SELECT count(*) > 0 AS partitions_made FROM ops.maintain_partitions('2026-06-10 12:00Z');
INSERT INTO ops.alert_rules (rule, metric, "window", comparator, threshold, for_duration, keep_firing_for, severity,
                             labels, summary, description, opens_incident)
VALUES ('TestCpu', 'host_cpu_percent', '1 minute', '>', 80, '5 minutes', '2 minutes', 'high', '{"team": "ops"}',
        'CPU of {{ $labels.host }} at {{ $value }} %', 'CPU above 80 % for 5 minutes', true),
       ('TestMemory', 'host_memory_percent', '1 minute', '>', 90, '0', '0', 'warning', '{"team": "ops"}',
        'Memory of {{ $labels.host }} at {{ $value }} %', '', false);
INSERT INTO ops.notification_channels (channel, kind, target, group_by, group_wait, group_interval, repeat_interval)
VALUES ('ops-hook', 'webhook', 'http://receiver.example/hook', '{alertname}', '0', '2 minutes', '30 minutes'),
       ('am', 'alertmanager', 'http://alertmanager.example:9093/api/v2/alerts', '{alertname}', '0', '1 minute', '10 minutes');

-- A sample every 30 s until 12:40: db1 hot from 12:00, db2 from 12:02; db1's memory full from
-- 12:09.
CREATE FUNCTION pg_temp.sample(host text, at timestamptz, cpu double precision, memory double precision) RETURNS void
LANGUAGE sql AS $$ INSERT INTO ops.host_samples (host, at, cpu_percent, memory_percent) VALUES (host, at, cpu, memory) $$;
SELECT count(*) AS samples FROM generate_series('2026-06-10 11:55Z'::timestamptz, '2026-06-10 12:39:30Z', '30 s') t,
       LATERAL (SELECT pg_temp.sample('db1', t, 95, CASE WHEN t >= '2026-06-10 12:09Z' THEN 97 ELSE 40 END),
                       pg_temp.sample('db2', t, CASE WHEN t >= '2026-06-10 12:02Z' THEN 85 ELSE 20 END, 30)) s;

-- pending at 12:01, firing once it held for 5 minutes (12:06), one transition each time.
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:01Z');
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:01Z') AS same_instant_again;
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:00Z') AS earlier_instant_changes_nothing;
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:04Z');
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:06Z');
SELECT labels->>'host' AS host, state, value, active_since, firing_since, annotations->>'summary' AS summary
  FROM ops.alerts WHERE rule = 'TestCpu' ORDER BY 1;
SELECT labels->>'host' AS host, from_state, to_state, at FROM ops.alert_events WHERE rule = 'TestCpu' ORDER BY event_id;

-- The webhook got one notification for the group, the alertmanager channel the alert list.
SELECT channel, group_key, status, firing, resolved, created_at, next_attempt_at FROM ops.notifications ORDER BY notification_id;
SELECT payload->>'version' AS version, payload->>'status' AS status, payload->>'receiver' AS receiver,
       payload->>'groupKey' AS group_key, payload->'groupLabels' AS group_labels, payload->'commonLabels' AS common_labels,
       payload->>'externalURL' AS external_url, payload->'truncatedAlerts' AS truncated,
       jsonb_array_length(payload->'alerts') AS alerts
  FROM ops.notifications WHERE channel = 'ops-hook';
SELECT a->>'status' AS status, a->'labels'->>'host' AS host, a->>'startsAt' AS starts_at, a->>'endsAt' AS ends_at,
       a->>'fingerprint' AS fingerprint, a->>'generatorURL' AS generator_url, a->'annotations'->>'summary' AS summary
  FROM ops.notifications, jsonb_array_elements(payload->'alerts') a WHERE channel = 'ops-hook' ORDER BY 2;
SELECT jsonb_typeof(payload) AS am_body, jsonb_array_length(payload) AS alerts,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(payload->0) k) AS keys
  FROM ops.notifications WHERE channel = 'am';

-- The incident: P1 for a high alert, opened when it fired, one per alert.
SELECT a.labels->>'host' AS host, t.kind, t.priority, t.title, t.opened_at, t.reporter, t.labels, t.closed_at
  FROM ops.alerts a JOIN ops.tickets t ON t.ticket_id = a.incident_ticket_id WHERE a.rule = 'TestCpu' ORDER BY 1;

-- Flapping inside keep_firing_for: db1 cools for one evaluation and stays firing, nothing sent.
UPDATE ops.host_samples SET cpu_percent = 50 WHERE host = 'db1' AND at > '2026-06-10 12:06Z' AND at < '2026-06-10 12:07Z';
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:07Z');
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:08Z');
SELECT labels->>'host' AS host, state FROM ops.alerts WHERE rule = 'TestCpu' ORDER BY 1;
SELECT count(*) AS notifications_after_flapping FROM ops.notifications;

-- db2, pending since 12:04, fires at 12:09 and joins db1's group: a change, told at once since
-- group_interval (2 minutes) has passed since the group's last notification.
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:09Z');
SELECT labels->>'host' AS host, from_state, to_state, at FROM ops.alert_events
 WHERE rule = 'TestCpu' AND at > '2026-06-10 12:06Z' ORDER BY event_id;
SELECT channel, firing, resolved, created_at FROM ops.notifications WHERE created_at > '2026-06-10 12:06Z' ORDER BY notification_id;

-- Silences suppress notifications, not state. db1's memory fires at 12:10 under a silence.
INSERT INTO ops.silences (matchers, starts_at, ends_at, author, comment)
VALUES ('[{"name": "alertname", "op": "=", "value": "TestMemory"}, {"name": "host", "op": "=~", "value": "db[0-9]"}]',
        '2026-06-10 12:00Z', '2026-06-10 13:00Z', 'dba', 'memory upgrade');
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:10Z');
SELECT rule, labels->>'host' AS host, state, silenced_by, maintenance_by, inhibited_by
  FROM ops.alert_status('2026-06-10 12:10Z') WHERE rule = 'TestMemory';
SELECT count(*) AS memory_notifications FROM ops.notifications WHERE payload::text LIKE '%TestMemory%';
-- Expired early, the next evaluation tells of it.
SELECT silence_id IS NOT NULL AS expired, ends_at, expired_at
  FROM ops.expire_silence((SELECT max(silence_id) FROM ops.silences), '2026-06-10 12:11Z');
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:11Z');
SELECT channel, firing, group_key FROM ops.notifications WHERE payload::text LIKE '%TestMemory%' ORDER BY notification_id;

-- Inhibition: while TestCpu fires on a host, that host's TestMemory is not notified.
INSERT INTO ops.inhibit_rules VALUES ('CpuInhibitsMemory', '[{"name": "alertname", "op": "=", "value": "TestCpu"}]',
                                      '[{"name": "alertname", "op": "=", "value": "TestMemory"}]', '{host}', true);
SELECT rule, labels->>'host' AS host, inhibited_by <> '{}' AS inhibited
  FROM ops.alert_status('2026-06-10 12:12Z') ORDER BY 1, 2;
DELETE FROM ops.inhibit_rules WHERE inhibit_rule = 'CpuInhibitsMemory';

-- Repeat: an unchanged group is told again after repeat_interval, not before.
SELECT count(*) AS before_repeat FROM ops.notifications WHERE channel = 'ops-hook' AND payload::text LIKE '%TestCpu%';
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:30Z');
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:40Z');
SELECT created_at, firing, resolved FROM ops.notifications
 WHERE channel = 'ops-hook' AND payload::text LIKE '%TestCpu%' ORDER BY notification_id;

-- Resolution: the samples stop, keep_firing_for passes, both resolve; the resolved notification
-- follows and the incident gets a comment but stays open.
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:43Z');
SELECT labels->>'host' AS host, state, resolved_at FROM ops.alerts WHERE rule = 'TestCpu' ORDER BY 1;
SELECT channel, firing, resolved, payload->>'status' AS status FROM ops.notifications
 WHERE created_at = '2026-06-10 12:43Z' ORDER BY notification_id;
SELECT a->>'status' AS status, a->>'endsAt' AS ends_at FROM ops.notifications, jsonb_array_elements(payload->'alerts') a
 WHERE channel = 'ops-hook' AND created_at = '2026-06-10 12:43Z' ORDER BY a->'labels'->>'host';
SELECT e.action, e.visibility, e.body LIKE 'Alert TestCpu % resolved at %' AS says_resolved, t.closed_at
  FROM ops.ticket_events e JOIN ops.tickets t USING (ticket_id)
 WHERE t.reporter = 'alerting' AND e.action = 'comment' ORDER BY e.event_id;

-- It fires again while its ticket is open: no second ticket, a comment on the first.
SELECT count(*) AS samples FROM generate_series('2026-06-10 12:50Z'::timestamptz, '2026-06-10 12:56Z', '30 s') t,
       LATERAL (SELECT pg_temp.sample('db1', t, 99, 40)) s;
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:51Z');
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:56Z');
SELECT state, firing_since FROM ops.alerts WHERE rule = 'TestCpu' AND labels->>'host' = 'db1';
SELECT count(*) AS incident_tickets_of_db1 FROM ops.tickets t
 WHERE t.reporter = 'alerting' AND t.description LIKE '%' || (SELECT fingerprint FROM ops.alerts WHERE rule = 'TestCpu' AND labels->>'host' = 'db1') || '%';
SELECT count(*) AS fired_again_comments FROM ops.ticket_events e JOIN ops.tickets t USING (ticket_id)
 WHERE t.reporter = 'alerting' AND e.body LIKE '%fired again%';

-- The worker's side: claim with a lease, skip what another holds, back off, give up.
UPDATE ops.alerting_settings SET max_attempts = 3, retry_base = '10 seconds', retry_cap = '1 minute';
SELECT count(*) AS due FROM ops.notifications WHERE status = 'pending';
SELECT notification_id AS first_id FROM ops.notifications ORDER BY notification_id LIMIT 1 \gset
SELECT notification_id = :first_id AS oldest_first, status, attempts, leased_by, lease_expires_at
  FROM ops.claim_notifications('worker-a', 1, '1 minute', '2026-06-10 13:00Z');
-- worker-b gets the oldest of every other group: a group's notifications leave one at a time.
SELECT count(*) AS worker_b_claims, count(DISTINCT group_key) AS groups, count(*) = count(DISTINCT channel || group_key) AS one_per_group
  FROM ops.claim_notifications('worker-b', 100, '1 minute', '2026-06-10 13:00Z');
SELECT count(*) AS nothing_left FROM ops.claim_notifications('worker-c', 100, '1 minute', '2026-06-10 13:00Z');
\set VERBOSITY terse
SELECT ops.notification_delivered(:first_id, 'worker-b', '2026-06-10 13:00:05Z');
SELECT ops.notification_delivered(-1);
\set VERBOSITY default
SELECT status, delivered_at, leased_by FROM ops.notification_delivered(:first_id, 'worker-a', '2026-06-10 13:00:05Z');
\set VERBOSITY terse
SELECT ops.notification_delivered(:first_id, 'worker-a');
\set VERBOSITY default
-- worker-b fails one for good: a receiver that refuses the payload is not retried.
SELECT status, attempts, last_error FROM ops.notification_failed(
  (SELECT notification_id FROM ops.notifications WHERE leased_by = 'worker-b' ORDER BY notification_id DESC LIMIT 1),
  '400 Bad Request: the receiver refuses the payload', false, 'worker-b', '2026-06-10 13:00:08Z');
-- And another with a retryable error: back off 10 s * 2^0 with jitter 0.5 -> 7.5 s.
SELECT notification_id AS second_id FROM ops.notifications WHERE leased_by = 'worker-b' ORDER BY notification_id LIMIT 1 \gset
SELECT status, attempts, next_attempt_at, last_error
  FROM ops.notification_failed(:second_id, 'HTTP 503 from receiver', true, 'worker-b', '2026-06-10 13:00:10Z', 0.5);
SELECT count(*) FILTER (WHERE notification_id = :second_id) AS not_before_its_wait
  FROM ops.claim_notifications('worker-c', 100, '1 minute', '2026-06-10 13:00:17Z');
SELECT attempts FROM ops.claim_notifications('worker-c', 100, '1 minute', '2026-06-10 13:00:18Z')
 WHERE notification_id = :second_id;
-- 10 s * 2^1 with jitter 0 would be 10 s, but the receiver said Retry-After: 45 (a 429).
\set VERBOSITY terse
SELECT ops.notification_failed(:second_id, '429', true, 'worker-c', '2026-06-10 13:00:20Z', 0, '-1 second');
SELECT ops.notification_failed(:second_id, '429', true, 'worker-c', '2026-06-10 13:00:20Z', 0, '2 days');
\set VERBOSITY default
SELECT status, attempts, next_attempt_at
  FROM ops.notification_failed(:second_id, 'HTTP 429, Retry-After 45 s', true, 'worker-c', '2026-06-10 13:00:20Z', 0,
                               '45 seconds');
-- A lease that expires is taken over (worker-b's others too); the third attempt is the last.
SELECT attempts, leased_by FROM ops.claim_notifications('worker-d', 100, '1 minute', '2026-06-10 13:05Z')
 WHERE notification_id = :second_id;
SELECT status, attempts, last_error FROM ops.notification_failed(:second_id, 'timeout', true, NULL, '2026-06-10 13:05:01Z', 0);
-- A lease that expires on the last attempt: dead, not retried forever.
UPDATE ops.notifications SET attempts = 3 WHERE leased_by = 'worker-d';
SELECT count(*) AS reclaimed FROM ops.claim_notifications('worker-e', 100, '1 minute', '2026-06-10 13:10Z');
SELECT status, last_error, count(*) FROM ops.notifications GROUP BY status, last_error ORDER BY status, last_error;

-- Tickets page at once: a P0 opened now is a firing TicketPage alert and an outbox row before
-- the transaction ends.
UPDATE ops.alert_rules SET enabled = true WHERE rule = 'TicketPage';
UPDATE ops.notification_channels SET enabled = true, group_wait = '0' WHERE channel = 'log';
-- (Earlier tests' open P0 tickets page too; only this one is looked at.)
BEGIN;
INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('incident', 'P0', 'Payments down', 'oncall@example.com')
RETURNING must_page, ticket_id AS paging_ticket \gset
SELECT :'must_page' AS must_page;
SELECT state, labels->>'kind' AS kind, labels->>'priority' AS priority FROM ops.alerts
 WHERE rule = 'TicketPage' AND labels->>'ticket_id' = :'paging_ticket';
SELECT channel, status FROM ops.notifications
 WHERE channel = 'log' AND payload @? format('$.alerts[*] ? (@.labels.ticket_id == "%s")', :'paging_ticket')::jsonpath;
ROLLBACK;
-- A P2 pages nobody.
BEGIN;
INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('incident', 'P2', 'Slow export', 'oncall@example.com');
SELECT count(*) AS no_page FROM ops.alerts a JOIN ops.tickets t ON t.ticket_id::text = a.labels->>'ticket_id'
 WHERE a.rule = 'TicketPage' AND t.title = 'Slow export';
ROLLBACK;
UPDATE ops.alert_rules SET enabled = false WHERE rule = 'TicketPage';

-- A rule switched off resolves its firing alerts at the next evaluation (db1 is still hot at
-- 12:56, so the rule would hold).
SELECT labels->>'host' AS host, state FROM ops.alerts WHERE rule = 'TestCpu' ORDER BY 1;
UPDATE ops.alert_rules SET enabled = false WHERE rule = 'TestCpu';
SELECT * FROM ops.evaluate_alerts('2026-06-10 12:57Z');
SELECT labels->>'host' AS host, state, resolved_at FROM ops.alerts WHERE rule = 'TestCpu' ORDER BY 1;

-- A group a receiver would refuse (here a label name written around the rules' checks) is
-- written dead with the reason; the other groups and the evaluation go on.
INSERT INTO ops.alerts (fingerprint, rule, labels, state, value, active_since, firing_since, last_true_at,
                        last_evaluated_at, last_seen_at)
VALUES (ops.label_fingerprint('{"alertname": "Forged", "bad-name": "x", "severity": "high"}'), 'TestMemory',
        '{"alertname": "Forged", "bad-name": "x", "severity": "high"}', 'firing', 1,
        '2026-06-10 12:58Z', '2026-06-10 12:58Z', '2026-06-10 12:58Z', '2026-06-10 12:58Z', '2026-06-10 12:58Z');
SELECT ops.queue_notifications('2026-06-10 12:59Z') AS written;
SELECT channel, status, left(last_error, 60) AS last_error FROM ops.notifications
 WHERE created_at = '2026-06-10 12:59Z' ORDER BY channel;
DELETE FROM ops.alerts WHERE labels->>'alertname' = 'Forged';

-- The watchdog always fires.
UPDATE ops.alert_rules SET enabled = (rule = 'Watchdog');
SELECT * FROM ops.evaluate_alerts('2026-06-10 13:10Z');
SELECT rule, state, labels FROM ops.alerts WHERE rule = 'Watchdog';

-- Trigger functions refuse other call sites.
CREATE TEMP TABLE fake_rules (LIKE ops.alert_rules);
CREATE TRIGGER v BEFORE INSERT ON fake_rules FOR EACH ROW EXECUTE FUNCTION ops.validate_alert_rule();
\set VERBOSITY terse
INSERT INTO fake_rules (rule, metric, comparator, threshold, severity) VALUES ('X', 'watchdog', '>', 0, 'info');
\set VERBOSITY default

-- Access: the worker evaluates and delivers; tenants and the anonymous get nothing.
SET ROLE expense_ops_worker;
SELECT count(*) >= 0 AS worker_reads_alerts FROM ops.alerts;
SELECT count(*) AS worker_claims FROM ops.claim_notifications('w', 1, '1 minute', '2026-06-10 14:00Z');
\set VERBOSITY terse
UPDATE ops.alert_rules SET threshold = 0;
INSERT INTO ops.silences (matchers, ends_at, comment) VALUES ('[{"name": "a", "op": "=", "value": "b"}]', now() + interval '1 h', 'x');
\set VERBOSITY default
RESET ROLE;
SET ROLE expense_user;
SELECT count(*) AS tenant_sees_no_alerts FROM api.alerts;
SELECT count(*) AS tenant_sees_no_events FROM api.alert_events;
SELECT count(*) AS tenant_sees_no_silences FROM api.silences;
\set VERBOSITY terse
SELECT api.metrics_summary('1 hour');
SELECT api.create_silence('[{"name": "a", "op": "=", "value": "b"}]', now() + interval '1 hour', 'hide it');
SELECT * FROM ops.alerts;
\set VERBOSITY default
RESET ROLE;
SET ROLE expense_anon;
\set VERBOSITY terse
SELECT count(*) FROM api.alerts;
SELECT api.metrics_summary('1 hour');
\set VERBOSITY default
RESET ROLE;
