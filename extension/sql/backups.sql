-- expense_ops: backups and recovery (0.8.0). The backup job set of the worker
-- (`expense-ops-worker --jobs backup`, worker/backup/) takes, verifies, expires and restores
-- backups, and records each step here; staff read the records through api.backups and
-- api.restore_tests, the alert rules watch the metrics at the end, and a deployment waits on
-- ops.backup_gate(). All of it is operator data: tenants see none of it.

-- ---------------------------------------------------------------------------------------------
-- Since when the objectives count: before the first backup, the RPO is the time since this.

CREATE TABLE ops.backup_settings (
  singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  tracking_since timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.backup_settings IS 'One row: since when backups are tracked';
COMMENT ON COLUMN ops.backup_settings.singleton IS 'Always true: there is one row';
COMMENT ON COLUMN ops.backup_settings.tracking_since IS
  'When the extension began to track backups (its install, or the update to 0.8.0): until a backup is verified, the RPO counts from here, and so does the age of the newest restore test';
INSERT INTO ops.backup_settings DEFAULT VALUES;
GRANT SELECT ON ops.backup_settings TO expense_ops_admin, expense_ops_backup;
SELECT pg_catalog.pg_extension_config_dump('ops.backup_settings', '');

-- ---------------------------------------------------------------------------------------------
-- Markers: a row written just before each backup (and either side of a point-in-time drill's
-- target), whose random token a restore must contain. It carries the key tables' row counts at
-- that moment and the configuration of the day, so that a restore holds both.

CREATE FUNCTION ops.key_table_counts() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object(
    'expense.orgs', (SELECT count(*) FROM expense.orgs),
    'iam.users', (SELECT count(*) FROM iam.users),
    'expense.expenses', (SELECT count(*) FROM expense.expenses),
    'expense.expense_events', (SELECT count(*) FROM expense.expense_events),
    'ops.tickets', (SELECT count(*) FROM ops.tickets),
    'ops.ticket_events', (SELECT count(*) FROM ops.ticket_events))
$$;
COMMENT ON FUNCTION ops.key_table_counts() IS
  'Row counts of the key tables (organisations, users, expenses and their audit trail, tickets and their events): recorded with each backup marker and when the backup ends, and compared with a restore''s';
REVOKE ALL ON FUNCTION ops.key_table_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.key_table_counts() TO expense_ops_admin, expense_ops_backup;

CREATE TABLE ops.backup_markers (
  marker_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token         text NOT NULL UNIQUE DEFAULT gen_random_uuid()::text,
  purpose       text NOT NULL CHECK (purpose IN ('backup', 'drill_before', 'drill_after')),
  worker_id     text NOT NULL CHECK (worker_id <> ''),
  written_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  extension_version text NOT NULL,
  row_counts    jsonb NOT NULL,
  configuration jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(configuration) = 'object')
);
COMMENT ON SEQUENCE ops.backup_markers_marker_id_seq IS 'Numbers ops.backup_markers';
COMMENT ON TABLE ops.backup_markers IS
  'A row the backup worker writes just before each backup and either side of a point-in-time drill''s target: a restore test finds its token in the restore, or fails. Operator data, for expense_ops_admin only: configuration holds the server''s configuration files';
COMMENT ON COLUMN ops.backup_markers.marker_id IS 'Order of writing';
COMMENT ON COLUMN ops.backup_markers.token IS 'A random token (gen_random_uuid) the restore must contain';
COMMENT ON COLUMN ops.backup_markers.purpose IS 'backup (written before one), drill_before or drill_after (either side of a drill''s target time)';
COMMENT ON COLUMN ops.backup_markers.worker_id IS 'The backup worker that wrote it';
COMMENT ON COLUMN ops.backup_markers.written_at IS 'When it was written (clock_timestamp())';
COMMENT ON COLUMN ops.backup_markers.extension_version IS 'The installed version of expense_ops then: a restore of the backup must have the same';
COMMENT ON COLUMN ops.backup_markers.row_counts IS 'ops.key_table_counts() at that moment';
COMMENT ON COLUMN ops.backup_markers.configuration IS
  'The configuration that travels with the backup: each server configuration file outside the data directory and the worker''s own file, by path, with secrets removed by the worker';
GRANT SELECT ON ops.backup_markers TO expense_ops_admin;
SELECT pg_catalog.pg_extension_config_dump('ops.backup_markers', '');

CREATE FUNCTION ops.write_backup_marker(worker_id text, purpose text, configuration jsonb DEFAULT '{}')
RETURNS ops.backup_markers
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  written ops.backup_markers;
BEGIN
  IF configuration IS NULL OR jsonb_typeof(configuration) <> 'object' THEN
    RAISE EXCEPTION 'configuration must be a JSON object of file contents by path'
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  INSERT INTO ops.backup_markers AS m (purpose, worker_id, extension_version, row_counts, configuration)
  VALUES (write_backup_marker.purpose, write_backup_marker.worker_id,
          (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'expense_ops'), ops.key_table_counts(),
          write_backup_marker.configuration)
  RETURNING * INTO written;
  RETURN written;
END
$$;
COMMENT ON FUNCTION ops.write_backup_marker(text, text, jsonb) IS
  'Writes a backup marker with a fresh random token and the key tables'' row counts, and returns it (the backup worker, which commits it before the backup starts)';
REVOKE ALL ON FUNCTION ops.write_backup_marker(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.write_backup_marker(text, text, jsonb) TO expense_ops_backup;

-- The server's configuration files that live outside its data directory (Debian keeps them
-- under /etc/postgresql): the backup worker, on the database host, copies them into the marker.
CREATE FUNCTION ops.backup_configuration_files() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT DISTINCT f.path
    FROM (SELECT current_setting('config_file') AS path
          UNION ALL SELECT current_setting('hba_file')
          UNION ALL SELECT current_setting('ident_file')
          UNION ALL SELECT s.sourcefile FROM pg_file_settings s WHERE s.sourcefile IS NOT NULL) f
   WHERE f.path NOT LIKE current_setting('data_directory') || '/%'
   ORDER BY 1
$$;
COMMENT ON FUNCTION ops.backup_configuration_files() IS
  'Paths of the server''s configuration files (postgresql.conf and its includes, pg_hba.conf, pg_ident.conf) outside the data directory, which a base backup does not hold: the backup worker copies them into each backup marker';
REVOKE ALL ON FUNCTION ops.backup_configuration_files() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.backup_configuration_files() TO expense_ops_backup;

-- ---------------------------------------------------------------------------------------------
-- Requests: a backup, a restore test or a drill on demand. One waits per kind: asking again
-- while one waits joins it.

CREATE TABLE ops.backup_requests (
  request_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('backup', 'restore_test', 'pitr_drill')),
  reason       text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
  requested_by text NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now(),
  taken_at     timestamptz,
  taken_by     text,
  CONSTRAINT taken_together CHECK ((taken_at IS NULL) = (taken_by IS NULL))
);
COMMENT ON SEQUENCE ops.backup_requests_request_id_seq IS 'Numbers ops.backup_requests';
CREATE UNIQUE INDEX backup_requests_one_waiting ON ops.backup_requests (kind) WHERE taken_at IS NULL;
COMMENT ON TABLE ops.backup_requests IS
  'Backups, restore tests and point-in-time drills asked for on demand (ops.request_backup(), api.request_backup()); at most one waits per kind. Operator data';
COMMENT ON COLUMN ops.backup_requests.request_id IS 'Identifies it; the backup or restore test it led to names it';
COMMENT ON COLUMN ops.backup_requests.kind IS 'backup, restore_test or pitr_drill';
COMMENT ON COLUMN ops.backup_requests.reason IS 'Why, as the requester said';
COMMENT ON COLUMN ops.backup_requests.requested_by IS 'Who asked: the API user''s email, else the database role';
COMMENT ON COLUMN ops.backup_requests.requested_at IS 'When';
COMMENT ON COLUMN ops.backup_requests.taken_at IS 'When a backup worker took it up';
COMMENT ON COLUMN ops.backup_requests.taken_by IS 'The backup worker that took it up';
GRANT SELECT ON ops.backup_requests TO expense_ops_admin, expense_ops_backup;
SELECT pg_catalog.pg_extension_config_dump('ops.backup_requests', '');

CREATE FUNCTION ops.request_backup_work(kind text, reason text) RETURNS ops.backup_requests
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
  requester text := coalesce((SELECT u.email FROM iam.users u WHERE u.user_id = iam.current_user_id()),
                             CASE WHEN current_setting('role') = 'none' THEN session_user::text
                                  ELSE current_setting('role') END);
  request ops.backup_requests;
BEGIN
  PERFORM ops.require_monitoring_staff();
  IF request_backup_work.kind IS NULL OR request_backup_work.kind NOT IN ('backup', 'restore_test', 'pitr_drill') THEN
    RAISE EXCEPTION 'kind must be backup, restore_test or pitr_drill, not %', coalesce(request_backup_work.kind, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  IF request_backup_work.reason IS NULL OR btrim(request_backup_work.reason) = '' THEN
    RAISE EXCEPTION 'reason: say why' USING ERRCODE = expense.sqlstate('null_value'),
      HINT = 'The reason is kept with the request, and with what it leads to.';
  END IF;
  IF length(btrim(request_backup_work.reason)) > 500 THEN
    RAISE EXCEPTION 'reason: at most 500 characters' USING ERRCODE = expense.sqlstate('text_too_long');
  END IF;
  -- The partial unique index serialises two requests of one kind: the second waits for the
  -- first to commit, then joins it.
  -- The waiting one may be taken between the two statements: then there is room for ours.
  LOOP
    INSERT INTO ops.backup_requests AS r (kind, reason, requested_by)
    VALUES (request_backup_work.kind, btrim(request_backup_work.reason), requester)
    ON CONFLICT (kind) WHERE taken_at IS NULL DO NOTHING
    RETURNING * INTO request;
    EXIT WHEN FOUND;
    SELECT * INTO request FROM ops.backup_requests r
     WHERE r.kind = request_backup_work.kind AND r.taken_at IS NULL;
    EXIT WHEN FOUND;
  END LOOP;
  -- The backup worker listens, and takes it up at once.
  PERFORM pg_notify('expense_ops_backups', request.kind);
  RETURN request;
END
$$;
COMMENT ON FUNCTION ops.request_backup_work(text, text) IS
  'Asks the backup worker for a backup, a restore test or a point-in-time drill now, for the operator''s staff; returns the request, which is the one already waiting of that kind if there is one. Errors: 42501 not staff, 22023 an unknown kind, 22004 no reason';
REVOKE ALL ON FUNCTION ops.request_backup_work(text, text) FROM PUBLIC;

CREATE FUNCTION ops.request_backup(reason text) RETURNS ops.backup_requests
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT ops.request_backup_work('backup', reason)
$$;
COMMENT ON FUNCTION ops.request_backup(text) IS
  'Asks the backup worker for a backup now (SELECT ops.request_backup(''before the migration'')), for staff and DBAs; returns the request. The backup is verified at once, like every backup';
CREATE FUNCTION ops.request_restore_test(reason text, point_in_time boolean DEFAULT false) RETURNS ops.backup_requests
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT ops.request_backup_work(CASE WHEN point_in_time THEN 'pitr_drill' ELSE 'restore_test' END, reason)
$$;
COMMENT ON FUNCTION ops.request_restore_test(text, boolean) IS
  'Asks the backup worker for a restore test of the newest verified backup now, or with point_in_time a point-in-time drill (pgbackrest backend), for staff and DBAs; returns the request';
REVOKE ALL ON FUNCTION ops.request_backup(text), ops.request_restore_test(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.request_backup(text), ops.request_restore_test(text, boolean) TO expense_ops_admin;

CREATE FUNCTION ops.take_backup_request(worker_id text, kinds text[]) RETURNS ops.backup_requests
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE ops.backup_requests r SET taken_at = now(), taken_by = take_backup_request.worker_id
   WHERE r.request_id = (SELECT w.request_id FROM ops.backup_requests w
                          WHERE w.taken_at IS NULL AND w.kind = ANY (take_backup_request.kinds)
                          ORDER BY w.requested_at, w.request_id
                          LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING r.*
$$;
COMMENT ON FUNCTION ops.take_backup_request(text, text[]) IS
  'The oldest waiting request of the given kinds, now taken by this backup worker; NULL when none waits';
REVOKE ALL ON FUNCTION ops.take_backup_request(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.take_backup_request(text, text[]) TO expense_ops_backup;

-- ---------------------------------------------------------------------------------------------
-- Backups.

CREATE TABLE ops.backups (
  backup_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  backend        text NOT NULL CHECK (backend IN ('basebackup', 'pgbackrest')),
  kind           text NOT NULL DEFAULT 'full' CHECK (kind IN ('full', 'diff')),
  label          text CHECK (label ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  location       text,
  reason         text NOT NULL,
  request_id     bigint REFERENCES ops.backup_requests,
  worker_id      text NOT NULL CHECK (worker_id <> ''),
  marker_id      bigint NOT NULL REFERENCES ops.backup_markers,
  status         text NOT NULL DEFAULT 'running'
                   CHECK (status IN ('running', 'completed', 'verified', 'failed', 'expired')),
  failed_step    text CHECK (failed_step IN ('backup', 'verification')),
  started_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz,
  verified_at    timestamptz,
  expired_at     timestamptz,
  bytes          bigint CHECK (bytes >= 0),
  wal_start_lsn  pg_lsn,
  wal_stop_lsn   pg_lsn,
  restorable_at  timestamptz,
  backup_seconds double precision CHECK (backup_seconds >= 0),
  verify_seconds double precision CHECK (verify_seconds >= 0),
  row_counts_after jsonb,
  error          text,
  CONSTRAINT failed_with_reason CHECK ((status = 'failed') = (failed_step IS NOT NULL AND error IS NOT NULL)),
  CONSTRAINT finished_unless_running CHECK ((status = 'running') = (finished_at IS NULL)),
  CONSTRAINT verified_when_verified CHECK (status <> 'verified' OR verified_at IS NOT NULL),
  CONSTRAINT expired_when_expired CHECK ((status = 'expired') = (expired_at IS NOT NULL))
);
COMMENT ON SEQUENCE ops.backups_backup_id_seq IS 'Numbers ops.backups';
CREATE UNIQUE INDEX backups_label ON ops.backups (backend, label);
CREATE INDEX backups_newest ON ops.backups (status, restorable_at DESC);
COMMENT ON TABLE ops.backups IS
  'Every backup the backup worker took: running, completed (taken, not yet verified), verified, failed (at the backup or the verification) or expired (removed by retention). Operator data: staff read api.backups, which leaves out where backups are kept';
COMMENT ON COLUMN ops.backups.backup_id IS 'Identifies it';
COMMENT ON COLUMN ops.backups.backend IS 'basebackup (pg_basebackup, checked with pg_verifybackup) or pgbackrest';
COMMENT ON COLUMN ops.backups.kind IS 'full, or diff (pgbackrest: the changes since the last full backup)';
COMMENT ON COLUMN ops.backups.label IS 'The backend''s name for it (the directory of a base backup, a pgBackRest backup label)';
COMMENT ON COLUMN ops.backups.location IS 'Where the backend keeps it: a directory or a pgBackRest repository and stanza. Not in api.backups';
COMMENT ON COLUMN ops.backups.reason IS 'scheduled, or the reason of the request';
COMMENT ON COLUMN ops.backups.request_id IS 'The request it answers, if any';
COMMENT ON COLUMN ops.backups.worker_id IS 'The backup worker that took it';
COMMENT ON COLUMN ops.backups.marker_id IS 'The marker written just before it: a restore of it must hold the marker''s token';
COMMENT ON COLUMN ops.backups.status IS 'running, completed, verified, failed or expired';
COMMENT ON COLUMN ops.backups.failed_step IS 'Of a failed backup: backup (the backup itself) or verification';
COMMENT ON COLUMN ops.backups.started_at IS 'When it started';
COMMENT ON COLUMN ops.backups.finished_at IS 'When the backup ended, or failed';
COMMENT ON COLUMN ops.backups.verified_at IS 'When its verification passed';
COMMENT ON COLUMN ops.backups.expired_at IS 'When retention removed it';
COMMENT ON COLUMN ops.backups.bytes IS 'Its size as taken (a base backup''s files, pgBackRest''s backup size)';
COMMENT ON COLUMN ops.backups.wal_start_lsn IS 'The WAL position it starts from';
COMMENT ON COLUMN ops.backups.wal_stop_lsn IS 'The WAL position it is consistent at';
COMMENT ON COLUMN ops.backups.restorable_at IS 'The newest moment it restores to without more WAL: when the backup stopped';
COMMENT ON COLUMN ops.backups.backup_seconds IS 'How long the backup took';
COMMENT ON COLUMN ops.backups.verify_seconds IS 'How long the verification took';
COMMENT ON COLUMN ops.backups.row_counts_after IS 'ops.key_table_counts() when the backup ended: with the marker''s, the range a restore''s counts must fall in';
COMMENT ON COLUMN ops.backups.error IS 'Why it failed: the tool''s own message';
GRANT SELECT ON ops.backups TO expense_ops_admin, expense_ops_backup;
SELECT pg_catalog.pg_extension_config_dump('ops.backups', '');

-- A report that does not fit the backup's state (finishing one that is not running, verifying
-- one that failed) is the worker's mistake or a second worker's: it is refused, not guessed at.
CREATE FUNCTION ops.backup_in_state(backup_id bigint, expected text[]) RETURNS ops.backups
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found_backup ops.backups;
BEGIN
  SELECT * INTO found_backup FROM ops.backups b WHERE b.backup_id = backup_in_state.backup_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'backup % does not exist', backup_id USING ERRCODE = expense.sqlstate('not_found');
  END IF;
  IF NOT found_backup.status = ANY (expected) THEN
    RAISE EXCEPTION 'backup % is %, not %', backup_id, found_backup.status, array_to_string(expected, ' or ')
      USING ERRCODE = expense.sqlstate('backup_state');
  END IF;
  RETURN found_backup;
END
$$;
COMMENT ON FUNCTION ops.backup_in_state(bigint, text[]) IS
  'The backup, locked, if its status is one of expected; else 22X75 (backup_state), or PT404 when there is none';
REVOKE ALL ON FUNCTION ops.backup_in_state(bigint, text[]) FROM PUBLIC;

CREATE FUNCTION ops.backup_started(worker_id text, backend text, kind text, reason text, request_id bigint,
                                   marker_id bigint, location text)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO ops.backups (worker_id, backend, kind, reason, request_id, marker_id, location)
  VALUES (backup_started.worker_id, backup_started.backend, backup_started.kind, backup_started.reason,
          backup_started.request_id, backup_started.marker_id, backup_started.location)
  RETURNING backup_id
$$;
COMMENT ON FUNCTION ops.backup_started(text, text, text, text, bigint, bigint, text) IS
  'Records a backup as running, and returns its id (the backup worker, before it starts the backend)';

CREATE FUNCTION ops.backup_finished(backup_id bigint, label text, bytes bigint, wal_start_lsn pg_lsn,
                                    wal_stop_lsn pg_lsn, restorable_at timestamptz, backup_seconds double precision)
RETURNS ops.backups
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  finished ops.backups;
BEGIN
  PERFORM ops.backup_in_state(backup_finished.backup_id, '{running}');
  UPDATE ops.backups b
     SET status = 'completed', label = backup_finished.label, finished_at = now(), bytes = backup_finished.bytes,
         wal_start_lsn = backup_finished.wal_start_lsn, wal_stop_lsn = backup_finished.wal_stop_lsn,
         restorable_at = coalesce(backup_finished.restorable_at, now()),
         backup_seconds = backup_finished.backup_seconds, row_counts_after = ops.key_table_counts()
   WHERE b.backup_id = backup_finished.backup_id
  RETURNING * INTO finished;
  RETURN finished;
END
$$;
COMMENT ON FUNCTION ops.backup_finished(bigint, text, bigint, pg_lsn, pg_lsn, timestamptz, double precision) IS
  'Records a running backup as completed (taken, to be verified) with what the backend reported, and the key tables'' row counts now';

CREATE FUNCTION ops.backup_verified(backup_id bigint, verify_seconds double precision) RETURNS ops.backups
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  verified ops.backups;
BEGIN
  PERFORM ops.backup_in_state(backup_verified.backup_id, '{completed,verified}');
  UPDATE ops.backups b SET status = 'verified', verified_at = now(), verify_seconds = backup_verified.verify_seconds
   WHERE b.backup_id = backup_verified.backup_id
  RETURNING * INTO verified;
  RETURN verified;
END
$$;
COMMENT ON FUNCTION ops.backup_verified(bigint, double precision) IS
  'Records that a completed backup passed its verification (again, for one verified before)';

CREATE FUNCTION ops.backup_failed(backup_id bigint, step text, error text) RETURNS ops.backups
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  failed ops.backups;
BEGIN
  IF step IS NULL OR step NOT IN ('backup', 'verification') THEN
    RAISE EXCEPTION 'step must be backup or verification, not %', coalesce(step, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  PERFORM ops.backup_in_state(backup_failed.backup_id,
                              CASE step WHEN 'backup' THEN '{running}'::text[] ELSE '{completed,verified}' END);
  UPDATE ops.backups b
     SET status = 'failed', failed_step = backup_failed.step, finished_at = coalesce(b.finished_at, now()),
         verified_at = NULL, error = left(coalesce(nullif(btrim(backup_failed.error), ''), 'no reason given'), 2000)
   WHERE b.backup_id = backup_failed.backup_id
  RETURNING * INTO failed;
  RETURN failed;
END
$$;
COMMENT ON FUNCTION ops.backup_failed(bigint, text, text) IS
  'Records that a running backup failed (step backup), or that a taken one failed its verification (step verification), with the error; the alert rules BackupFailed and BackupVerificationFailed see it';

CREATE FUNCTION ops.backup_expired(backup_id bigint) RETURNS ops.backups
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  expired ops.backups;
BEGIN
  PERFORM ops.backup_in_state(backup_expired.backup_id, '{completed,verified,failed}');
  UPDATE ops.backups b SET status = 'expired', expired_at = now(),
                           failed_step = NULL, error = NULL, finished_at = coalesce(b.finished_at, now())
   WHERE b.backup_id = backup_expired.backup_id
  RETURNING * INTO expired;
  RETURN expired;
END
$$;
COMMENT ON FUNCTION ops.backup_expired(bigint) IS 'Records that retention removed a backup from its backend';

-- The backups a worker left running when it died: a restarted worker fails them before anything else.
CREATE FUNCTION ops.backups_interrupted(worker_id text) RETURNS SETOF ops.backups
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE ops.backups b
     SET status = 'failed', failed_step = 'backup', finished_at = now(),
         error = 'interrupted: the backup worker stopped or died during the backup'
   WHERE b.worker_id = backups_interrupted.worker_id AND b.status = 'running'
  RETURNING b.*
$$;
COMMENT ON FUNCTION ops.backups_interrupted(text) IS
  'Fails every backup this worker left running (it stopped or died midway) and returns them, so that it removes their partial files';

REVOKE ALL ON FUNCTION ops.backup_started(text, text, text, text, bigint, bigint, text),
  ops.backup_finished(bigint, text, bigint, pg_lsn, pg_lsn, timestamptz, double precision),
  ops.backup_verified(bigint, double precision), ops.backup_failed(bigint, text, text),
  ops.backup_expired(bigint), ops.backups_interrupted(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.backup_started(text, text, text, text, bigint, bigint, text),
  ops.backup_finished(bigint, text, bigint, pg_lsn, pg_lsn, timestamptz, double precision),
  ops.backup_verified(bigint, double precision), ops.backup_failed(bigint, text, text),
  ops.backup_expired(bigint), ops.backups_interrupted(text) TO expense_ops_backup;

-- ---------------------------------------------------------------------------------------------
-- Restore tests.

CREATE TABLE ops.restore_tests (
  restore_test_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('restore', 'pitr_drill')),
  backup_id       bigint NOT NULL REFERENCES ops.backups,
  reason          text NOT NULL,
  request_id      bigint REFERENCES ops.backup_requests,
  worker_id       text NOT NULL CHECK (worker_id <> ''),
  target_time     timestamptz,
  status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'passed', 'failed')),
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  restore_seconds double precision CHECK (restore_seconds >= 0),
  rto_seconds     double precision CHECK (rto_seconds >= 0),
  checks          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(checks) = 'array'),
  error           text,
  CONSTRAINT drill_has_target CHECK ((kind = 'pitr_drill') = (target_time IS NOT NULL)),
  CONSTRAINT finished_unless_running CHECK ((status = 'running') = (finished_at IS NULL)),
  CONSTRAINT measured_when_passed CHECK (status <> 'passed' OR rto_seconds IS NOT NULL)
);
COMMENT ON SEQUENCE ops.restore_tests_restore_test_id_seq IS 'Numbers ops.restore_tests';
CREATE INDEX restore_tests_newest ON ops.restore_tests (status, finished_at DESC);
COMMENT ON TABLE ops.restore_tests IS
  'Every restore test: a backup restored into a scratch directory and started on a loopback port, checked (consistency, pg_amcheck, the extension''s version, api.health_db(), the marker, row counts), then removed. rto_seconds is the measured RTO. Operator data: staff read api.restore_tests';
COMMENT ON COLUMN ops.restore_tests.restore_test_id IS 'Identifies it';
COMMENT ON COLUMN ops.restore_tests.kind IS 'restore (the newest verified backup, to its end) or pitr_drill (to target_time, between two markers)';
COMMENT ON COLUMN ops.restore_tests.backup_id IS 'The backup restored';
COMMENT ON COLUMN ops.restore_tests.reason IS 'scheduled, or the reason of the request';
COMMENT ON COLUMN ops.restore_tests.request_id IS 'The request it answers, if any';
COMMENT ON COLUMN ops.restore_tests.worker_id IS 'The backup worker that ran it';
COMMENT ON COLUMN ops.restore_tests.target_time IS 'A drill''s recovery target: after its drill_before marker, before its drill_after marker';
COMMENT ON COLUMN ops.restore_tests.status IS 'running, passed (every check passed) or failed';
COMMENT ON COLUMN ops.restore_tests.started_at IS 'When the restore started';
COMMENT ON COLUMN ops.restore_tests.finished_at IS 'When the checks ended';
COMMENT ON COLUMN ops.restore_tests.restore_seconds IS 'The bare restore: from its start until the restored server accepted connections';
COMMENT ON COLUMN ops.restore_tests.rto_seconds IS 'The measured RTO: from the start of the restore to the passing checks';
COMMENT ON COLUMN ops.restore_tests.checks IS 'Each check''s outcome: [{"check", "passed", "detail", "seconds"}]';
COMMENT ON COLUMN ops.restore_tests.error IS 'Why it failed, in short';
GRANT SELECT ON ops.restore_tests TO expense_ops_admin, expense_ops_backup;
SELECT pg_catalog.pg_extension_config_dump('ops.restore_tests', '');

CREATE FUNCTION ops.restore_test_started(worker_id text, kind text, backup_id bigint, reason text,
                                         request_id bigint, target_time timestamptz)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO ops.restore_tests (worker_id, kind, backup_id, reason, request_id, target_time)
  VALUES (restore_test_started.worker_id, restore_test_started.kind, restore_test_started.backup_id,
          restore_test_started.reason, restore_test_started.request_id, restore_test_started.target_time)
  RETURNING restore_test_id
$$;
COMMENT ON FUNCTION ops.restore_test_started(text, text, bigint, text, bigint, timestamptz) IS
  'Records a restore test as running, and returns its id';

CREATE FUNCTION ops.restore_test_finished(restore_test_id bigint, passed boolean, checks jsonb,
                                          restore_seconds double precision, rto_seconds double precision, error text)
RETURNS ops.restore_tests
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  finished ops.restore_tests;
BEGIN
  IF passed IS NULL OR checks IS NULL OR jsonb_typeof(checks) <> 'array' THEN
    RAISE EXCEPTION 'a restore test finishes with passed and an array of checks'
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  IF passed AND (rto_seconds IS NULL OR EXISTS (SELECT FROM jsonb_array_elements(checks) c
                                                 WHERE c->'passed' IS DISTINCT FROM 'true'::jsonb)) THEN
    RAISE EXCEPTION 'a restore test passes only with every check passed and its RTO measured'
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  UPDATE ops.restore_tests t
     SET status = CASE WHEN passed THEN 'passed' ELSE 'failed' END, finished_at = now(),
         checks = restore_test_finished.checks, restore_seconds = restore_test_finished.restore_seconds,
         rto_seconds = CASE WHEN passed THEN restore_test_finished.rto_seconds END,
         error = CASE WHEN NOT passed THEN left(coalesce(nullif(btrim(restore_test_finished.error), ''), 'a check failed'), 2000) END
   WHERE t.restore_test_id = restore_test_finished.restore_test_id AND t.status = 'running'
  RETURNING * INTO finished;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'restore test % is not running', restore_test_id USING ERRCODE = expense.sqlstate('backup_state');
  END IF;
  RETURN finished;
END
$$;
COMMENT ON FUNCTION ops.restore_test_finished(bigint, boolean, jsonb, double precision, double precision, text) IS
  'Records a running restore test''s outcome: passed (every check passed, with the measured RTO) or failed (with why)';

CREATE FUNCTION ops.restore_tests_interrupted(worker_id text) RETURNS SETOF ops.restore_tests
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE ops.restore_tests t
     SET status = 'failed', finished_at = now(), error = 'interrupted: the backup worker stopped or died during the test'
   WHERE t.worker_id = restore_tests_interrupted.worker_id AND t.status = 'running'
  RETURNING t.*
$$;
COMMENT ON FUNCTION ops.restore_tests_interrupted(text) IS
  'Fails every restore test this worker left running, and returns them, so that it removes their scratch directories';

-- What a restore must hold, for the worker to compare: the marker's token, and the range each
-- key table's count must fall in (between the marker's count and the count when the backup ended).
CREATE FUNCTION ops.restore_expectations(backup_id bigint)
RETURNS TABLE (token text, marker_written_at timestamptz, extension_version text, row_counts_low jsonb,
               row_counts_high jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT m.token, m.written_at, m.extension_version,
         (SELECT jsonb_object_agg(k, least((m.row_counts->>k)::bigint, coalesce((b.row_counts_after->>k)::bigint, (m.row_counts->>k)::bigint)))
            FROM jsonb_object_keys(m.row_counts) k),
         (SELECT jsonb_object_agg(k, greatest((m.row_counts->>k)::bigint, coalesce((b.row_counts_after->>k)::bigint, (m.row_counts->>k)::bigint)))
            FROM jsonb_object_keys(m.row_counts) k)
    FROM ops.backups b JOIN ops.backup_markers m USING (marker_id)
   WHERE b.backup_id = restore_expectations.backup_id
$$;
COMMENT ON FUNCTION ops.restore_expectations(bigint) IS
  'What a restore of the backup must hold: its marker''s token, the extension''s version when the marker was written, and per key table the lowest and highest row count it may have (the counts at the marker and when the backup ended; churn of deletes and inserts during the backup can leave that range)';

REVOKE ALL ON FUNCTION ops.restore_test_started(text, text, bigint, text, bigint, timestamptz),
  ops.restore_test_finished(bigint, boolean, jsonb, double precision, double precision, text),
  ops.restore_tests_interrupted(text), ops.restore_expectations(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.restore_test_started(text, text, bigint, text, bigint, timestamptz),
  ops.restore_test_finished(bigint, boolean, jsonb, double precision, double precision, text),
  ops.restore_tests_interrupted(text), ops.restore_expectations(bigint) TO expense_ops_backup;

-- A drill needs WAL archived past its second marker before it restores.
CREATE FUNCTION ops.backup_switch_wal() RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_walfile_name(pg_switch_wal())
$$;
COMMENT ON FUNCTION ops.backup_switch_wal() IS
  'Switches to a new WAL file and returns the name of the one it closed, which the archiver then archives (the backup worker, for a point-in-time drill)';
CREATE FUNCTION ops.wal_archived(walfile text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  -- WAL file names order by timeline, then position: the archiver works through them in order.
  SELECT coalesce(substr(a.last_archived_wal, 1, 24) >= wal_archived.walfile, false) FROM pg_stat_archiver a
$$;
COMMENT ON FUNCTION ops.wal_archived(text) IS 'Whether the archiver has archived the WAL file (or a later one)';
REVOKE ALL ON FUNCTION ops.backup_switch_wal(), ops.wal_archived(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.backup_switch_wal(), ops.wal_archived(text) TO expense_ops_backup;

-- ---------------------------------------------------------------------------------------------
-- The objectives: RPO and the restore tests, for the metrics, api.health_db() and the gate.

CREATE FUNCTION ops.backup_status(at timestamptz DEFAULT now())
RETURNS TABLE (rpo_seconds double precision, restorable_at timestamptz, restorable_from text,
               newest_verified_backup_id bigint, last_backup_status text, last_restore_test_at timestamptz,
               last_restore_test_status text, last_rto_seconds double precision,
               seconds_since_passed_restore_test double precision, wal_archiving text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH verified AS (
    SELECT b.backup_id, b.backend, b.restorable_at FROM ops.backups b
     WHERE b.status = 'verified' AND b.restorable_at <= at
     ORDER BY b.restorable_at DESC LIMIT 1
  ), archiver AS (
    -- Archived WAL extends a verified backup only while archiving works (the last attempt
    -- succeeded), and only a backend that restores through it: pgbackrest, whose archive-push
    -- the archiver runs. A base backup restores to its own end, whatever archive_command does.
    SELECT a.last_archived_time,
           CASE WHEN a.last_archived_time IS NULL AND a.last_failed_time IS NULL THEN 'off'
                WHEN a.last_failed_time IS NOT NULL
                     AND (a.last_archived_time IS NULL OR a.last_failed_time > a.last_archived_time) THEN 'failing'
                ELSE 'ok' END AS state
      FROM pg_stat_archiver a
  ), point AS (
    SELECT CASE WHEN v.backend = 'pgbackrest' AND ar.state = 'ok' AND ar.last_archived_time > v.restorable_at
                     AND ar.last_archived_time <= at
                THEN ar.last_archived_time ELSE v.restorable_at END AS restorable_at,
           CASE WHEN v.backup_id IS NULL THEN NULL
                WHEN v.backend = 'pgbackrest' AND ar.state = 'ok' AND ar.last_archived_time > v.restorable_at
                     AND ar.last_archived_time <= at
                THEN 'archived_wal' ELSE 'backup' END AS restorable_from,
           v.backup_id, ar.state
      FROM archiver ar LEFT JOIN verified v ON true
  ), last_test AS (
    SELECT t.started_at, t.status, t.rto_seconds FROM ops.restore_tests t
     WHERE t.status <> 'running' AND t.finished_at <= at ORDER BY t.finished_at DESC LIMIT 1
  ), last_passed AS (
    SELECT t.finished_at, t.rto_seconds FROM ops.restore_tests t
     WHERE t.status = 'passed' AND t.finished_at <= at ORDER BY t.finished_at DESC LIMIT 1
  )
  SELECT extract(epoch FROM at - coalesce(p.restorable_at, s.tracking_since))::double precision,
         p.restorable_at, p.restorable_from, p.backup_id,
         (SELECT b.status FROM ops.backups b WHERE b.started_at <= at AND b.status <> 'running'
           ORDER BY b.started_at DESC, b.backup_id DESC LIMIT 1),
         lt.started_at, lt.status, lp.rto_seconds,
         extract(epoch FROM at - coalesce(lp.finished_at, s.tracking_since))::double precision,
         p.state
    FROM ops.backup_settings s CROSS JOIN point p
    LEFT JOIN last_test lt ON true LEFT JOIN last_passed lp ON true
$$;
COMMENT ON FUNCTION ops.backup_status(timestamptz) IS
  'The recovery objectives at an instant: rpo_seconds is the time since the newest restorable point (the end of the newest verified backup, or, for a pgbackrest backup, the last archived WAL after it while archiving works; before any, since ops.backup_settings.tracking_since), the newest restore test and the RTO of the newest passing one, and wal_archiving (off, ok or failing)';
REVOKE ALL ON FUNCTION ops.backup_status(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.backup_status(timestamptz) TO expense_ops_admin, expense_ops_backup;

-- The series of the backup metrics of ops.metrics (ops.metric_samples() hands them here).
CREATE FUNCTION ops.backup_metric_samples(metric text, at timestamptz)
RETURNS TABLE (labels jsonb, value double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  CASE metric
  WHEN 'backup_rpo_seconds' THEN
    RETURN QUERY SELECT '{}'::jsonb, s.rpo_seconds FROM ops.backup_status(at) s;
  WHEN 'backup_failed' THEN
    -- The newest finished backup of each backend failed while being taken.
    RETURN QUERY SELECT jsonb_build_object('backend', b.backend),
                        CASE WHEN b.status = 'failed' AND b.failed_step = 'backup' THEN 1 ELSE 0 END::double precision
                   FROM (SELECT DISTINCT ON (x.backend) x.* FROM ops.backups x
                          WHERE x.status <> 'running' AND x.started_at <= at
                          ORDER BY x.backend, x.started_at DESC, x.backup_id DESC) b;
  WHEN 'backup_verification_failed' THEN
    -- The newest verification of each backend failed.
    RETURN QUERY SELECT jsonb_build_object('backend', b.backend),
                        CASE WHEN b.failed_step = 'verification' THEN 1 ELSE 0 END::double precision
                   FROM (SELECT DISTINCT ON (x.backend) x.* FROM ops.backups x
                          WHERE (x.verified_at IS NOT NULL OR x.failed_step = 'verification') AND x.started_at <= at
                          ORDER BY x.backend, x.started_at DESC, x.backup_id DESC) b;
  WHEN 'restore_test_age_seconds' THEN
    RETURN QUERY SELECT '{}'::jsonb, s.seconds_since_passed_restore_test FROM ops.backup_status(at) s;
  WHEN 'restore_test_failed' THEN
    RETURN QUERY SELECT jsonb_build_object('kind', t.kind), CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END::double precision
                   FROM (SELECT DISTINCT ON (x.kind) x.* FROM ops.restore_tests x
                          WHERE x.status <> 'running' AND x.finished_at <= at
                          ORDER BY x.kind, x.finished_at DESC, x.restore_test_id DESC) t;
  WHEN 'restore_test_rto_seconds' THEN
    RETURN QUERY SELECT jsonb_build_object('kind', t.kind), t.rto_seconds
                   FROM (SELECT DISTINCT ON (x.kind) x.* FROM ops.restore_tests x
                          WHERE x.status = 'passed' AND x.finished_at <= at
                          ORDER BY x.kind, x.finished_at DESC, x.restore_test_id DESC) t;
  WHEN 'wal_archive_failing' THEN
    RETURN QUERY SELECT '{}'::jsonb, CASE WHEN s.wal_archiving = 'failing' THEN 1 ELSE 0 END::double precision
                   FROM ops.backup_status(at) s;
  ELSE
    RAISE EXCEPTION 'metric: no backup metric "%"', metric USING ERRCODE = expense.sqlstate('unknown_metric');
  END CASE;
END
$$;
COMMENT ON FUNCTION ops.backup_metric_samples(text, timestamptz) IS
  'The series of the backup metrics of ops.metrics at an instant (what ops.metric_samples() returns for them)';
REVOKE ALL ON FUNCTION ops.backup_metric_samples(text, timestamptz) FROM PUBLIC;

INSERT INTO ops.metrics (metric, unit, labels, window_use, default_window, needs_quantile, description) VALUES
  ('backup_rpo_seconds', 's', '{}', 'none', NULL, false,
   'The recovery point: seconds since the newest restorable point, the end of the newest verified backup or the last archived WAL after it (ops.backup_status())'),
  ('backup_failed', '1', '{backend}', 'none', NULL, false,
   '1 when the newest finished backup of the backend failed while being taken, else 0'),
  ('backup_verification_failed', '1', '{backend}', 'none', NULL, false,
   '1 when the newest verification of a backup of the backend failed, else 0'),
  ('restore_test_age_seconds', 's', '{}', 'none', NULL, false,
   'Seconds since the newest passing restore test ended (since tracking began, before any)'),
  ('restore_test_failed', '1', '{kind}', 'none', NULL, false,
   '1 when the newest restore test of the kind (restore, pitr_drill) failed, else 0'),
  ('restore_test_rto_seconds', 's', '{kind}', 'none', NULL, false,
   'The measured RTO of the newest passing restore test of the kind'),
  ('wal_archive_failing', '1', '{}', 'none', NULL, false,
   '1 when WAL archiving fails: pg_stat_archiver''s last failure is newer than its last success, so failed_count rises, else 0');

INSERT INTO ops.alert_rules (rule, metric, "window", confirm_window, quantile, matchers, comparator, threshold,
                             for_duration, keep_firing_for, severity, labels, summary, description, opens_incident) VALUES
  ('BackupRpoExceeded', 'backup_rpo_seconds', NULL, NULL, NULL, '[]', '>', 86400, '0', '0', 'critical',
   '{"service": "backup"}', 'The newest restorable point is {{ $value }} s old',
   'RPO above 24 hours: no verified backup (or archived WAL) in the last day', false),
  ('BackupFailed', 'backup_failed', NULL, NULL, NULL, '[]', '>', 0, '0', '0', 'high', '{"service": "backup"}',
   'The last {{ $labels.backend }} backup failed', 'The newest backup failed while being taken: see api.backups', false),
  ('BackupVerificationFailed', 'backup_verification_failed', NULL, NULL, NULL, '[]', '>', 0, '0', '0', 'critical',
   '{"service": "backup"}', 'A {{ $labels.backend }} backup failed its verification',
   'The newest verification of a backup failed: the backup cannot be trusted', false),
  ('RestoreTestMissing', 'restore_test_age_seconds', NULL, NULL, NULL, '[]', '>', 2678400, '0', '0', 'high',
   '{"service": "backup"}', 'No restore test passed for {{ $value }} s',
   'No successful restore test in 31 days', false),
  ('RestoreTestFailed', 'restore_test_failed', NULL, NULL, NULL, '[]', '>', 0, '0', '0', 'high',
   '{"service": "backup"}', 'The last {{ $labels.kind }} test failed', 'The newest restore test failed: see api.restore_tests', false),
  ('RtoExceeded', 'restore_test_rto_seconds', NULL, NULL, NULL, '[]', '>', 14400, '0', '0', 'high',
   '{"service": "backup"}', 'The measured RTO is {{ $value }} s', 'The newest restore test took over 4 hours', false),
  ('WalArchivingFailing', 'wal_archive_failing', NULL, NULL, NULL, '[]', '>', 0, '0', '0', 'critical',
   '{"service": "backup"}', 'WAL archiving fails', 'pg_stat_archiver.failed_count rises: point-in-time recovery stops at the last archived WAL', false);

-- ---------------------------------------------------------------------------------------------
-- The gate a deployment calls first (issue 13): a verified backup newer than max_age, or one
-- requested and waited for.

-- A procedure with SECURITY DEFINER or a SET clause may not COMMIT, so this one has neither: it
-- runs with its caller's rights (expense_ops_admin reads ops.backups and may request backups),
-- and names every object with its schema.
CREATE PROCEDURE ops.backup_gate(max_age interval, timeout interval, INOUT passed boolean DEFAULT NULL,
                                 INOUT backup_id bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  deadline timestamptz;
  request ops.backup_requests;
  answer ops.backups;
BEGIN
  IF max_age IS NULL OR max_age <= interval '0' OR timeout IS NULL OR timeout < interval '0' THEN
    RAISE EXCEPTION 'max_age must be positive and timeout not negative'
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  SELECT b.backup_id INTO backup_gate.backup_id FROM ops.backups b
   WHERE b.status = 'verified' AND b.restorable_at > pg_catalog.now() - max_age
   ORDER BY b.restorable_at DESC LIMIT 1;
  IF FOUND THEN
    passed := true;
    RETURN;
  END IF;
  request := ops.request_backup('backup gate: no verified backup newer than ' || max_age::text);
  -- The worker sees the request only once it is committed; each later statement sees what the
  -- worker committed since.
  COMMIT;
  deadline := pg_catalog.clock_timestamp() + timeout;
  LOOP
    SELECT * INTO answer FROM ops.backups b WHERE b.request_id = request.request_id ORDER BY b.backup_id DESC LIMIT 1;
    IF answer.status = 'verified' THEN
      passed := true;
      backup_id := answer.backup_id;
      RETURN;
    END IF;
    -- A failed backup answers too: waiting longer would not make it pass.
    EXIT WHEN answer.status = 'failed' OR pg_catalog.clock_timestamp() >= deadline;
    -- Each poll in a transaction of its own: a gate waiting half an hour holds none open.
    COMMIT;
    PERFORM pg_catalog.pg_sleep(least(0.5, greatest(0, extract(epoch FROM deadline - pg_catalog.clock_timestamp()))));
  END LOOP;
  passed := false;
  backup_id := answer.backup_id;
  RAISE NOTICE 'no verified backup within %: request % %', timeout, request.request_id,
    CASE WHEN answer.backup_id IS NULL THEN 'has not started yet'
         ELSE 'led to backup ' || answer.backup_id || ', ' || answer.status || coalesce(': ' || answer.error, '') END;
END
$$;
COMMENT ON PROCEDURE ops.backup_gate(interval, interval, boolean, bigint) IS
  'CALL ops.backup_gate(''1 hour'', ''30 minutes''): passed when a verified backup newer than max_age exists (backup_id names it). Else it requests one, commits the request so the worker sees it, and waits up to timeout for that backup to be verified; passed is false when it was not. Must be CALLed outside a transaction block';
REVOKE ALL ON PROCEDURE ops.backup_gate(interval, interval, boolean, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE ops.backup_gate(interval, interval, boolean, bigint) TO expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Staff through the API: the backups and restore tests without where they are kept, and the
-- requests. Errors are the tools' own, which name paths: the API shows them with paths cut out.

CREATE FUNCTION ops.without_paths(message text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT regexp_replace(message, '(^|[\s"''=:(\[])(/[^\s"'')\],;]*)', '\1<path>', 'g')
$$;
COMMENT ON FUNCTION ops.without_paths(text) IS 'The message with every absolute path replaced by <path>: what api.backups and api.restore_tests show of an error';
REVOKE ALL ON FUNCTION ops.without_paths(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.without_paths(text) TO expense_user, expense_ops_admin;

CREATE VIEW api.backups WITH (security_barrier = true) AS
SELECT b.backup_id, b.backend, b.kind, b.label, b.reason, b.request_id, b.status, b.failed_step, b.started_at,
       b.finished_at, b.verified_at, b.expired_at, b.bytes, b.wal_start_lsn::text AS wal_start_lsn,
       b.wal_stop_lsn::text AS wal_stop_lsn, b.restorable_at, b.backup_seconds, b.verify_seconds,
       ops.without_paths(b.error) AS error
  FROM ops.backups b
 WHERE (SELECT ops.is_support_staff());
COMMENT ON VIEW api.backups IS
  'Every backup (GET /backups?order=backup_id.desc), for the operator''s staff: status, size, WAL range, timings and error (paths cut out). Ask for one with POST /rpc/request_backup. Tenants see no rows';
COMMENT ON COLUMN api.backups.backup_id IS 'Identifies it';
COMMENT ON COLUMN api.backups.backend IS 'basebackup or pgbackrest';
COMMENT ON COLUMN api.backups.kind IS 'full or diff';
COMMENT ON COLUMN api.backups.label IS 'The backend''s name for it';
COMMENT ON COLUMN api.backups.reason IS 'scheduled, or the reason of the request';
COMMENT ON COLUMN api.backups.request_id IS 'The request it answers';
COMMENT ON COLUMN api.backups.status IS 'running, completed, verified, failed or expired';
COMMENT ON COLUMN api.backups.failed_step IS 'backup or verification, when failed';
COMMENT ON COLUMN api.backups.started_at IS 'When it started';
COMMENT ON COLUMN api.backups.finished_at IS 'When it ended';
COMMENT ON COLUMN api.backups.verified_at IS 'When its verification passed';
COMMENT ON COLUMN api.backups.expired_at IS 'When retention removed it';
COMMENT ON COLUMN api.backups.bytes IS 'Its size';
COMMENT ON COLUMN api.backups.wal_start_lsn IS 'WAL start';
COMMENT ON COLUMN api.backups.wal_stop_lsn IS 'WAL stop: consistent from here';
COMMENT ON COLUMN api.backups.restorable_at IS 'The newest moment it restores to';
COMMENT ON COLUMN api.backups.backup_seconds IS 'How long it took';
COMMENT ON COLUMN api.backups.verify_seconds IS 'How long its verification took';
COMMENT ON COLUMN api.backups.error IS 'Why it failed, paths cut out';

CREATE VIEW api.restore_tests WITH (security_barrier = true) AS
SELECT t.restore_test_id, t.kind, t.backup_id, t.reason, t.request_id, t.target_time, t.status, t.started_at,
       t.finished_at, t.restore_seconds, t.rto_seconds,
       coalesce((SELECT jsonb_agg(c || jsonb_build_object('detail', ops.without_paths(c->>'detail')) ORDER BY n)
                   FROM jsonb_array_elements(t.checks) WITH ORDINALITY AS e(c, n)), '[]') AS checks,
       ops.without_paths(t.error) AS error
  FROM ops.restore_tests t
 WHERE (SELECT ops.is_support_staff());
COMMENT ON VIEW api.restore_tests IS
  'Every restore test and point-in-time drill (GET /restore_tests?order=restore_test_id.desc), for the operator''s staff: each check''s outcome and the measured RTO. Ask for one with POST /rpc/request_restore_test. Tenants see no rows';
COMMENT ON COLUMN api.restore_tests.restore_test_id IS 'Identifies it';
COMMENT ON COLUMN api.restore_tests.kind IS 'restore or pitr_drill';
COMMENT ON COLUMN api.restore_tests.backup_id IS 'The backup restored';
COMMENT ON COLUMN api.restore_tests.reason IS 'scheduled, or the reason of the request';
COMMENT ON COLUMN api.restore_tests.request_id IS 'The request it answers';
COMMENT ON COLUMN api.restore_tests.target_time IS 'A drill''s recovery target';
COMMENT ON COLUMN api.restore_tests.status IS 'running, passed or failed';
COMMENT ON COLUMN api.restore_tests.started_at IS 'When the restore started';
COMMENT ON COLUMN api.restore_tests.finished_at IS 'When the checks ended';
COMMENT ON COLUMN api.restore_tests.restore_seconds IS 'The bare restore, until the server accepted connections';
COMMENT ON COLUMN api.restore_tests.rto_seconds IS 'The measured RTO: restore start to passing checks';
COMMENT ON COLUMN api.restore_tests.checks IS 'Each check: check, passed, detail (paths cut out), seconds';
COMMENT ON COLUMN api.restore_tests.error IS 'Why it failed, paths cut out';

CREATE VIEW api.backup_requests WITH (security_barrier = true) AS
SELECT r.request_id, r.kind, r.reason, r.requested_by, r.requested_at, r.taken_at
  FROM ops.backup_requests r
 WHERE (SELECT ops.is_support_staff());
COMMENT ON VIEW api.backup_requests IS 'Backups and restore tests asked for (GET /backup_requests), for the operator''s staff';
COMMENT ON COLUMN api.backup_requests.request_id IS 'Identifies it';
COMMENT ON COLUMN api.backup_requests.kind IS 'backup, restore_test or pitr_drill';
COMMENT ON COLUMN api.backup_requests.reason IS 'Why';
COMMENT ON COLUMN api.backup_requests.requested_by IS 'Who asked';
COMMENT ON COLUMN api.backup_requests.requested_at IS 'When';
COMMENT ON COLUMN api.backup_requests.taken_at IS 'When the backup worker took it up (NULL: waiting)';

GRANT SELECT ON api.backups, api.restore_tests, api.backup_requests TO expense_user, expense_ops_admin;

CREATE FUNCTION api.request_backup(reason text) RETURNS api.backup_requests
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT r.request_id, r.kind, r.reason, r.requested_by, r.requested_at, r.taken_at
    FROM ops.request_backup_work('backup', reason) r
$$;
COMMENT ON FUNCTION api.request_backup(text) IS
  'Asks for a backup now (POST /rpc/request_backup {"reason": "..."}), for the operator''s staff; returns the request, the one already waiting if there is one. The backup shows in /backups with this request_id. Errors: 42501 not staff, 22004 no reason';
CREATE FUNCTION api.request_restore_test(reason text, point_in_time boolean DEFAULT false) RETURNS api.backup_requests
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT r.request_id, r.kind, r.reason, r.requested_by, r.requested_at, r.taken_at
    FROM ops.request_backup_work(CASE WHEN point_in_time THEN 'pitr_drill' ELSE 'restore_test' END, reason) r
$$;
COMMENT ON FUNCTION api.request_restore_test(text, boolean) IS
  'Asks for a restore test of the newest verified backup now (POST /rpc/request_restore_test {"reason": "..."}), or with point_in_time a point-in-time drill, for the operator''s staff; returns the request. Errors: 42501 not staff, 22004 no reason';
REVOKE ALL ON FUNCTION api.request_backup(text), api.request_restore_test(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.request_backup(text), api.request_restore_test(text, boolean)
  TO expense_user, expense_ops_admin;
