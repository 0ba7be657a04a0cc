-- Backups and recovery: the backup worker's reports, the requests, the objectives, the metrics
-- and the gate. The worker itself is tested in test/integration/backup_test.py.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS expense_ops;
SET TIME ZONE 'UTC';
\set VERBOSITY terse

-- The alert rules the plan asks for are seeded.
SELECT rule, metric, comparator, threshold, severity FROM ops.alert_rules
 WHERE labels->>'service' = 'backup' ORDER BY rule;

-- Nothing backed up yet: the RPO counts from when tracking began, archiving is off.
SELECT s.rpo_seconds >= 0 AND s.rpo_seconds < 3600 AS rpo_from_tracking, s.restorable_at, s.wal_archiving,
       s.last_restore_test_status
  FROM ops.backup_status() s;

-- The default worker's role records nothing of backups, nor reads where they are: only the
-- backup worker's login also holds expense_ops_backup.
CREATE ROLE backup_test_default_worker IN ROLE expense_ops_worker;
SET ROLE backup_test_default_worker;
SELECT ops.write_backup_marker('db-host', 'backup');
SELECT ops.backup_verified(1, 1);
SELECT ops.restore_test_finished(1, true, '[]', 1, 1, NULL);
SELECT ops.take_backup_request('db-host', ARRAY['backup']);
SELECT count(*) FROM ops.backups;
RESET ROLE;
DROP ROLE backup_test_default_worker;

-- The backup worker's reports go through functions it may execute, and nothing else.
CREATE ROLE backup_test_worker IN ROLE expense_ops_worker, expense_ops_backup;
SET ROLE backup_test_worker;
INSERT INTO ops.backups (worker_id, backend, reason, marker_id) VALUES ('w', 'basebackup', 'x', 1);
SELECT m.purpose, m.worker_id, m.row_counts ? 'expense.expenses' AS counts_expenses,
       length(m.token) = 36 AS random_token, m.configuration
  FROM ops.write_backup_marker('db-host', 'backup', '{"/etc/postgresql/15/main/pg_hba.conf": "local all all peer"}') m;
SELECT ops.write_backup_marker('db-host', 'backup', '[1]');
SELECT ops.write_backup_marker('db-host', 'sideways');
-- Two markers never share a token.
SELECT count(DISTINCT token) = 2 AS tokens_differ FROM (
  SELECT (ops.write_backup_marker('db-host', 'backup')).token UNION ALL
  SELECT (ops.write_backup_marker('db-host', 'backup')).token) t;
SELECT ops.backup_started('db-host', 'basebackup', 'full', 'scheduled', NULL, 1, '/var/backups/expense_ops') AS backup_id;
SELECT backup_id, status, label, error FROM ops.backups;
-- Verifying or expiring a running backup is out of order, and so is reporting on no backup.
SELECT ops.backup_verified(1, 0.5);
SELECT ops.backup_expired(1);
SELECT ops.backup_finished(99, 'x', 1, '0/1', '0/2', NULL, 1);
SELECT ops.backup_failed(1, 'reading', 'x');
SELECT b.status, b.label, b.bytes, b.wal_start_lsn, b.wal_stop_lsn, b.restorable_at = b.finished_at AS restorable_at_end,
       b.row_counts_after ? 'iam.users' AS counted_after
  FROM ops.backup_finished(1, '20261202T020000Z', 123456, '0/2000028', '0/2000100', NULL, 1.5) b;
SELECT ops.backup_finished(1, 'again', 1, '0/1', '0/2', NULL, 1);
SELECT status, verify_seconds, verified_at IS NOT NULL AS verified FROM ops.backup_verified(1, 0.25);
-- A verified backup sets the restorable point.
SELECT s.rpo_seconds < 60 AS rpo_fresh, s.restorable_from, s.newest_verified_backup_id, s.last_backup_status
  FROM ops.backup_status() s;
-- A later verification that fails marks it failed at that step, and it no longer counts.
SELECT status, failed_step, error, verified_at FROM ops.backup_failed(1, 'verification', 'pg_verifybackup: error: "/var/backups/x/base/1/123" has size 0 on disk but size 8192 in the manifest');
SELECT s.newest_verified_backup_id, s.rpo_seconds > 60 AS rpo_from_tracking_again FROM ops.backup_status() s;
-- A backup the worker left running when it died fails once it starts again.
SELECT ops.backup_started('db-host', 'basebackup', 'full', 'scheduled', NULL, 3, NULL) AS second_backup_id;
SELECT ops.backup_started('other-host', 'basebackup', 'full', 'scheduled', NULL, 3, NULL) AS third_backup_id;
SELECT backup_id, status, failed_step, error FROM ops.backups_interrupted('db-host');
SELECT backup_id, status FROM ops.backups ORDER BY backup_id;
SELECT status FROM ops.backup_failed(3, 'backup', '  ');
SELECT status, error, expired_at IS NOT NULL AS expired FROM ops.backup_expired(3);

-- Restore tests: one passes only with every check passed and its RTO measured.
SELECT ops.backup_started('db-host', 'basebackup', 'full', 'scheduled', NULL, 4, NULL) AS fourth_backup_id;
SELECT status FROM ops.backup_finished(4, 'fourth', 10, '0/3000028', '0/3000100', now() - interval '1 minute', 2);
SELECT status FROM ops.backup_verified(4, 0.5);
SELECT ops.restore_test_started('db-host', 'restore', 4, 'scheduled', NULL, NULL) AS restore_test_id;
SELECT ops.restore_test_started('db-host', 'pitr_drill', 4, 'scheduled', NULL, NULL);
SELECT ops.restore_test_finished(1, true, '[{"check": "marker", "passed": false}]', 3, 4, NULL);
SELECT ops.restore_test_finished(1, true, '[{"check": "marker", "passed": true}]', 3, NULL, NULL);
SELECT ops.restore_test_finished(1, NULL, '[]', 3, NULL, NULL);
SELECT status, rto_seconds, restore_seconds, error
  FROM ops.restore_test_finished(1, true, '[{"check": "consistency", "passed": true}, {"check": "marker", "passed": true}]', 3, 4.5, NULL);
SELECT ops.restore_test_finished(1, false, '[]', 3, 4, 'again');
RESET ROLE;
SELECT e.token = m.token AS marker_token, e.extension_version = (SELECT extversion FROM pg_extension WHERE extname = 'expense_ops') AS version,
       e.row_counts_low = e.row_counts_high AS quiet_database
  FROM ops.restore_expectations(4) e JOIN ops.backups b ON b.backup_id = 4 JOIN ops.backup_markers m USING (marker_id);
SET ROLE backup_test_worker;
SELECT ops.restore_test_started('db-host', 'restore', 4, 'on demand', NULL, NULL) AS second_restore_test_id;
SELECT ops.restore_test_started('db-host', 'restore', 4, 'scratch gone', NULL, NULL) AS third_restore_test_id;
SELECT status, error FROM ops.restore_test_finished(4, false,
  '[{"check": "restore", "passed": true, "detail": "restored"}, {"check": "start", "passed": false, "detail": "cannot open /var/lib/postgresql/expense_ops/scratch/restore-4/data/PG_VERSION"}]',
  NULL, NULL, 'start: the restored server did not start');
SELECT t.restore_test_id, t.status, t.error FROM ops.restore_tests_interrupted('db-host') t;
RESET ROLE;

-- The objectives and the metrics the rules watch.
SELECT s.restorable_from, s.newest_verified_backup_id, s.last_restore_test_status, s.last_rto_seconds,
       s.seconds_since_passed_restore_test < 60 AS restore_test_recent
  FROM ops.backup_status() s;
SELECT m.metric, s.labels, s.value
  FROM ops.metrics m CROSS JOIN LATERAL ops.metric_samples(m.metric, NULL, NULL) s
 WHERE m.metric IN ('backup_failed', 'backup_verification_failed', 'restore_test_failed', 'restore_test_rto_seconds',
                    'wal_archive_failing')
 ORDER BY 1, 2::text;
SELECT s.value < 120 AS rpo_under_two_minutes FROM ops.metric_samples('backup_rpo_seconds', NULL, NULL) s;
SELECT s.value < 60 AS restore_test_fresh FROM ops.metric_samples('restore_test_age_seconds', NULL, NULL) s;
SELECT ops.backup_metric_samples('backup_size', now());
-- As of an instant before any backup, none counts.
SELECT s.newest_verified_backup_id, s.last_backup_status FROM ops.backup_status(now() - interval '1 day') s;

-- Requests: staff only, one waiting per kind, joined by a second.
CREATE ROLE backup_test_tenant IN ROLE expense_user;
SET ROLE backup_test_tenant;
SELECT api.request_backup('please');
SELECT count(*) AS backups_seen_by_tenant FROM api.backups;
SELECT count(*) AS restore_tests_seen_by_tenant FROM api.restore_tests;
SELECT * FROM ops.backups;
RESET ROLE;
SET ROLE expense_ops_admin;
SELECT request_id, kind, reason, requested_by, taken_at FROM ops.request_backup('  before the migration ');
SELECT request_id, kind, reason FROM ops.request_backup('a second reason joins the first');
SELECT request_id, kind FROM ops.request_restore_test('monthly test');
SELECT request_id, kind FROM ops.request_restore_test('drill', point_in_time => true);
SELECT ops.request_backup('');
SELECT ops.request_backup(NULL);
SELECT ops.request_backup(repeat('x', 501));
SELECT ops.request_backup_work('snapshot', 'x');
SELECT backup_id, status, error FROM api.backups ORDER BY backup_id;
SELECT restore_test_id, kind, status, rto_seconds FROM api.restore_tests ORDER BY restore_test_id;
-- The checks' details lose their paths on the way out, as errors do.
SELECT restore_test_id, checks->1->>'detail' AS second_detail, error FROM api.restore_tests WHERE status = 'failed';
RESET ROLE;
SET ROLE backup_test_worker;
SELECT request_id, kind, taken_by FROM ops.take_backup_request('db-host', '{backup}');
SELECT request_id, kind, taken_by FROM ops.take_backup_request('db-host', '{backup}');
SELECT request_id, kind FROM ops.take_backup_request('db-host', '{restore_test,pitr_drill}');
RESET ROLE;
-- Taken, the next request of the kind waits anew.
SET ROLE expense_ops_admin;
SELECT request_id, kind FROM ops.request_backup('after the first was taken');
RESET ROLE;

-- Paths never reach the API.
SELECT ops.without_paths('could not create directory "/var/backups/x": Permission denied; see /etc/pgbackrest.conf, (/tmp/a)');

-- The gate: a verified backup newer than max_age passes at once; without one it requests one
-- and waits, here not at all.
CALL ops.backup_gate('1 hour', '0 seconds');
CALL ops.backup_gate('1 second', '0 seconds');
CALL ops.backup_gate('-1 hour', '0 seconds');
SELECT kind, reason FROM ops.backup_requests WHERE taken_at IS NULL ORDER BY request_id;

-- Every new object is commented, and nothing new is executable by PUBLIC.
SELECT p.oid::regprocedure FROM pg_proc p
 WHERE p.pronamespace IN ('ops'::regnamespace, 'api'::regnamespace)
   AND p.proname ~ 'backup|restore|key_table|wal_archived|without_paths'
   AND (obj_description(p.oid, 'pg_proc') IS NULL OR has_function_privilege('public', p.oid, 'EXECUTE'))
 ORDER BY 1::text;
DROP ROLE backup_test_worker;
DROP ROLE backup_test_tenant;
