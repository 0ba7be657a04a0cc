-- What the worker's jobs of issue 11 need from the database (0.7.0): the log shipper's offsets,
-- which commit with the lines they cover, and a NOTIFY when the checks change.

-- ---------------------------------------------------------------------------------------------
-- Log shipping: every file the worker tails has its position here.

CREATE TABLE ops.log_offsets (
  source       text PRIMARY KEY CHECK (source ~ '^[a-z][a-z0-9_.@-]{0,126}$'),
  kind         text NOT NULL CHECK (kind IN ('access', 'jsonlog')),
  file_id      text NOT NULL CHECK (file_id ~ '^[0-9]+:[0-9]+:[0-9]+$'),
  offset_bytes bigint NOT NULL CHECK (offset_bytes >= 0),
  lines        bigint NOT NULL DEFAULT 0 CHECK (lines >= 0),
  rejected     bigint NOT NULL DEFAULT 0 CHECK (rejected >= 0),
  shipped_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.log_offsets IS 'Where the worker''s log shipper is in each file it tails: moved only by ops.ship_log(), in the transaction that loads the lines it covers, so a crash never loses or doubles a line. Operator data';
COMMENT ON COLUMN ops.log_offsets.source IS 'The shipper''s name for the file (its configuration), such as nginx or postgres';
COMMENT ON COLUMN ops.log_offsets.kind IS 'access (an access log, to ops.request_log) or jsonlog (PostgreSQL''s, to ops.error_events)';
COMMENT ON COLUMN ops.log_offsets.file_id IS 'device:inode:generation of the file being read; the generation counts copytruncate rotations of the same inode';
COMMENT ON COLUMN ops.log_offsets.offset_bytes IS 'The byte after the last line shipped';
COMMENT ON COLUMN ops.log_offsets.lines IS 'Lines shipped from this source, all files';
COMMENT ON COLUMN ops.log_offsets.rejected IS 'Of which refused (each with its reason in the worker''s log)';
COMMENT ON COLUMN ops.log_offsets.shipped_at IS 'When lines last arrived';
GRANT SELECT ON ops.log_offsets TO expense_ops_admin, expense_ops_worker;

CREATE FUNCTION ops.ship_log(source text, kind text, file_id text, from_offset bigint, to_offset bigint,
                             entries jsonb, at timestamptz DEFAULT now())
RETURNS TABLE (index bigint, reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  recorded ops.log_offsets;
  refused bigint;
BEGIN
  IF kind IS NULL OR kind NOT IN ('access', 'jsonlog') THEN
    RAISE EXCEPTION 'kind must be access or jsonlog, not %', coalesce(kind, 'NULL')
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  IF from_offset IS NULL OR to_offset IS NULL OR from_offset < 0 OR to_offset < from_offset THEN
    RAISE EXCEPTION 'the lines must cover [from_offset, to_offset) of the file, not [%, %)', from_offset, to_offset
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  -- The row is locked for the rest of the transaction: two shippers of one file take turns, and
  -- the second finds the offset moved.
  INSERT INTO ops.log_offsets AS o (source, kind, file_id, offset_bytes)
  VALUES (ship_log.source, ship_log.kind, ship_log.file_id, 0)
  ON CONFLICT ON CONSTRAINT log_offsets_pkey DO NOTHING;
  SELECT * INTO recorded FROM ops.log_offsets o WHERE o.source = ship_log.source FOR UPDATE;
  IF recorded.kind <> ship_log.kind THEN
    RAISE EXCEPTION 'source % ships % lines, not %', ship_log.source, recorded.kind, ship_log.kind
      USING ERRCODE = expense.sqlstate('invalid_parameter');
  END IF;
  -- The same file goes on where it stopped; a new file (rotated, or truncated in place) starts at 0.
  IF (recorded.file_id = ship_log.file_id AND recorded.offset_bytes <> from_offset)
     OR (recorded.file_id <> ship_log.file_id AND from_offset <> 0) THEN
    RAISE EXCEPTION 'source % is at % of file %, not at % of file %', ship_log.source, recorded.offset_bytes,
                    recorded.file_id, from_offset, ship_log.file_id
      USING ERRCODE = expense.sqlstate('log_offset'),
            HINT = 'Read ops.log_offsets again and go on from there: these lines were shipped already, or some before them were not.';
  END IF;
  IF ship_log.kind = 'access' THEN
    RETURN QUERY SELECT r.index, r.reason FROM ops.ingest_requests(coalesce(entries, '[]'), at) r;
  ELSE
    RETURN QUERY SELECT r.index, r.reason FROM ops.ingest_errors(coalesce(entries, '[]'), at) r;
  END IF;
  GET DIAGNOSTICS refused = ROW_COUNT;
  UPDATE ops.log_offsets o
     SET file_id = ship_log.file_id, offset_bytes = to_offset,
         lines = o.lines + jsonb_array_length(coalesce(entries, '[]')), rejected = o.rejected + refused,
         shipped_at = at
   WHERE o.source = ship_log.source;
END
$$;
COMMENT ON FUNCTION ops.ship_log(text, text, text, bigint, bigint, jsonb, timestamptz) IS
  'The log shipper''s write: the entries parsed from bytes [from_offset, to_offset) of file file_id go to ops.ingest_requests (kind access) or ops.ingest_errors (kind jsonlog), and the file''s offset moves to to_offset, in one transaction. 22X74 when from_offset is not where the file was left (or a new file does not start at 0). Returns the refused entries with their reasons';
REVOKE ALL ON FUNCTION ops.ship_log(text, text, text, bigint, bigint, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.ship_log(text, text, text, bigint, bigint, jsonb, timestamptz)
  TO expense_ops_worker, expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- The checks job reloads at once when ops.checks or the base URL changes.

CREATE FUNCTION ops.notify_checks_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_LEVEL <> 'STATEMENT' OR TG_WHEN <> 'AFTER'
     OR TG_RELID NOT IN ('ops.checks'::regclass, 'ops.monitoring_settings'::regclass) THEN
    RAISE EXCEPTION 'ops.notify_checks_changed() fires only AFTER each statement on ops.checks or ops.monitoring_settings'
      USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  PERFORM pg_notify('expense_ops_checks', '');
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.notify_checks_changed() IS
  'AFTER each statement on ops.checks and ops.monitoring_settings: NOTIFY expense_ops_checks, which the worker''s checks job listens to';
REVOKE ALL ON FUNCTION ops.notify_checks_changed() FROM PUBLIC;
CREATE TRIGGER notify_checks_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ops.checks
  FOR EACH STATEMENT EXECUTE FUNCTION ops.notify_checks_changed();
CREATE TRIGGER notify_checks_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ops.monitoring_settings
  FOR EACH STATEMENT EXECUTE FUNCTION ops.notify_checks_changed();

-- ---------------------------------------------------------------------------------------------
-- A worker that stops gives back what it claimed and did not finish, so nobody waits for its
-- leases to run out.

CREATE FUNCTION ops.release_notifications(worker text, notification_ids bigint[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  released integer;
BEGIN
  IF worker IS NULL OR btrim(worker) = '' THEN
    RAISE EXCEPTION 'worker: name the worker that holds them' USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'The name it claimed them under.';
  END IF;
  -- The attempt did not happen: it is not counted, and the notification is due at once.
  UPDATE ops.notifications o
     SET status = CASE WHEN o.attempts > 1 THEN 'failed' ELSE 'pending' END, attempts = o.attempts - 1,
         leased_by = NULL, lease_expires_at = NULL
   WHERE o.notification_id = ANY (notification_ids) AND o.status = 'sending' AND o.leased_by = worker;
  GET DIAGNOSTICS released = ROW_COUNT;
  RETURN released;
END
$$;
COMMENT ON FUNCTION ops.release_notifications(text, bigint[]) IS
  'Gives back notifications the worker claimed and did not deliver (it is stopping): uncounted, due at once for any worker. Those it no longer holds are left alone. Returns how many it gave back';
REVOKE ALL ON FUNCTION ops.release_notifications(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.release_notifications(text, bigint[]) TO expense_ops_worker, expense_ops_admin;
