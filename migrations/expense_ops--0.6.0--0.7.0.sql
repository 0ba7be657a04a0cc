-- expense_ops 0.6.0 -> 0.7.0: what the worker's jobs need (issue 11): the log shipper's offsets, a NOTIFY when the checks
-- change, the email channel, and a receiver's Retry-After.
-- The same objects as extension/sql/worker_support.sql, then the changes to extension/sql/alerting.sql.

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

-- ---------------------------------------------------------------------------------------------
-- Delivery (extension/sql/alerting.sql): the email channel, and a failure that carries the
-- receiver's Retry-After.

CREATE OR REPLACE FUNCTION ops.validate_channel() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_RELID <> 'ops.notification_channels'::regclass OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RAISE EXCEPTION 'ops.validate_channel() fires only BEFORE each row of ops.notification_channels, not on %',
      TG_RELID::regclass USING ERRCODE = expense.sqlstate('trigger_protocol');
  END IF;
  IF NEW.kind IS NULL OR NEW.kind NOT IN ('webhook', 'alertmanager', 'email', 'log', 'command') THEN
    RAISE EXCEPTION 'kind: "%" is not a channel kind', NEW.kind USING ERRCODE = expense.sqlstate('unknown_channel_kind'),
      HINT = 'Use webhook, alertmanager, email, log or command.';
  END IF;
  IF NEW.kind IN ('webhook', 'alertmanager') AND NEW.target !~ '^(https?://[^/\s]+(/\S*)?|secret:[a-z][a-z0-9_-]{0,62})$' THEN
    RAISE EXCEPTION 'target: a % channel needs an http(s) URL or secret:NAME', NEW.kind
      USING ERRCODE = expense.sqlstate('unknown_channel_kind'),
      HINT = 'Give http://alertmanager:9093/api/v2/alerts, or secret:NAME for a URL the worker''s configuration holds.';
  ELSIF NEW.kind = 'command' AND NEW.target !~ '^[a-z][a-z0-9_-]{0,62}$' THEN
    RAISE EXCEPTION 'target: a command channel names a command of the worker''s configuration'
      USING ERRCODE = expense.sqlstate('unknown_channel_kind'), HINT = 'Give its name, such as page-oncall.';
  ELSIF NEW.kind = 'email'
        AND NEW.target !~ '^[^@[:space:][:cntrl:],<>"]{1,64}@[A-Za-z0-9.-]{1,253}([ \t]*,[ \t]*[^@[:space:][:cntrl:],<>"]{1,64}@[A-Za-z0-9.-]{1,253}){0,19}$' THEN
    RAISE EXCEPTION 'target: an email channel needs 1 to 20 addresses, separated by commas'
      USING ERRCODE = expense.sqlstate('unknown_channel_kind'), HINT = 'Such as oncall@example.com, ops@example.com.';
  END IF;
  PERFORM ops.severity_rank(NEW.min_severity);
  PERFORM ops.check_matchers(NEW.matchers);
  IF EXISTS (SELECT FROM unnest(NEW.group_by) g WHERE g IS NULL OR g !~ '^[A-Za-z_][A-Za-z0-9_]*$') THEN
    RAISE EXCEPTION 'group_by: label names are letters, digits and _' USING ERRCODE = expense.sqlstate('invalid_matcher'),
      HINT = 'Such as {alertname, service}.';
  END IF;
  RETURN NEW;
END
$$;

COMMENT ON COLUMN ops.notification_channels.kind IS
  'webhook (Alertmanager''s webhook payload, version 4), alertmanager (the alert list POSTed to an Alertmanager''s /api/v2/alerts), email (a plain-text mail through the worker''s SMTP server), log (the worker logs the payload) or command (the worker runs a command its configuration names, payload on stdin)';
COMMENT ON COLUMN ops.notification_channels.target IS
  'webhook and alertmanager: an http(s) URL or secret:NAME; email: 1 to 20 addresses separated by commas; command: the name of a command in the worker''s configuration; log: ignored';

DROP FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision);
CREATE FUNCTION ops.notification_failed(notification_id bigint, error text, retryable boolean DEFAULT true,
                                        worker text DEFAULT NULL, at timestamptz DEFAULT now(),
                                        jitter double precision DEFAULT random(), retry_after interval DEFAULT NULL)
RETURNS ops.notifications
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  held ops.notifications;
  settings ops.alerting_settings := (SELECT s FROM ops.alerting_settings s);
  gives_up boolean;
BEGIN
  IF retry_after < interval '0' OR retry_after > interval '1 day' THEN
    RAISE EXCEPTION 'retry_after: wait 0 to 1 day, not %', retry_after USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'The receiver''s Retry-After, clamped to a day.';
  END IF;
  held := ops.held_notification(notification_id, worker);
  gives_up := NOT coalesce(retryable, false) OR held.attempts >= settings.max_attempts;
  UPDATE ops.notifications o
     SET status = CASE WHEN gives_up THEN 'dead' ELSE 'failed' END,
         -- A receiver that says when to come back (429 with Retry-After) is not asked sooner.
         next_attempt_at = CASE WHEN gives_up THEN o.next_attempt_at
                                ELSE at + greatest(ops.retry_delay(held.attempts, settings.retry_base, settings.retry_cap, jitter),
                                                   coalesce(retry_after, interval '0')) END,
         leased_by = NULL, lease_expires_at = NULL,
         last_error = left(coalesce(nullif(btrim(error), ''), 'no reason given'), 1000)
   WHERE o.notification_id = held.notification_id
  RETURNING * INTO held;
  RETURN held;
END
$$;
COMMENT ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision, interval) IS
  'The worker failed to deliver the notification it holds: failed with the next attempt after an exponential backoff with jitter (and not before retry_after, the receiver''s Retry-After), or dead when not retryable or out of attempts. error is kept to 1000 characters: leave secrets out of it';
REVOKE ALL ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.notification_failed(bigint, text, boolean, text, timestamptz, double precision, interval)
  TO expense_ops_worker, expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Check results that move alerts ask for an evaluation at once (extension/sql/monitoring.sql).

CREATE OR REPLACE FUNCTION ops.record_check_results(results jsonb, at timestamptz DEFAULT now())
RETURNS TABLE (index integer, check_id text, reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bounds record;
BEGIN
  IF results IS NULL OR jsonb_typeof(results) <> 'array' THEN
    RAISE EXCEPTION 'results must be a JSON array of check results'
      USING ERRCODE = expense.sqlstate('invalid_parameter'),
            HINT = 'Send [{"check_id": "health", "started_at": "...", "outcome": "up", "duration_ms": 12.5, "status": 200}, ...].';
  END IF;
  bounds := ops.accepted_window('ops.check_results', at);
  CREATE TEMP TABLE IF NOT EXISTS pg_temp.check_batch (
    index integer, check_id text, started_at text, duration_ms text, outcome text, status text,
    detail text, timings jsonb, worker text, problem text) ON COMMIT DROP;
  TRUNCATE pg_temp.check_batch;
  INSERT INTO pg_temp.check_batch
  SELECT r.ordinality - 1, r.value->>'check_id', r.value->>'started_at', r.value->>'duration_ms',
         r.value->>'outcome', r.value->>'status', left(r.value->>'detail', 1000),
         CASE WHEN jsonb_typeof(r.value->'timings') = 'object' THEN r.value->'timings' ELSE '{}' END,
         r.value->>'worker',
         CASE WHEN jsonb_typeof(r.value) <> 'object' THEN 'not a JSON object'
              ELSE ops.check_result_problem(r.value->>'check_id', r.value->>'started_at', r.value->>'duration_ms',
                                            r.value->>'outcome', r.value->>'status', r.value->>'detail',
                                            bounds.earliest, bounds.latest) END
    FROM jsonb_array_elements(results) WITH ORDINALITY r;
  UPDATE pg_temp.check_batch b SET problem = 'check_id: "' || left(b.check_id, 63) || '" is not a check (ops.checks)'
   WHERE b.problem IS NULL AND NOT EXISTS (SELECT FROM ops.checks c WHERE c.check_id = b.check_id);
  PERFORM ops.ensure_partitions('ops.check_results',
                                 ARRAY(SELECT b.started_at::timestamptz FROM pg_temp.check_batch b WHERE b.problem IS NULL));
  -- A run recorded twice (the worker retrying a batch) is kept once.
  INSERT INTO ops.check_results (check_id, started_at, duration_ms, outcome, status, detail, timings, worker, recorded_at)
  SELECT b.check_id, b.started_at::timestamptz, b.duration_ms::double precision, b.outcome, b.status::integer,
         b.detail, b.timings, b.worker, record_check_results.at
    FROM pg_temp.check_batch b WHERE b.problem IS NULL
  ON CONFLICT DO NOTHING;
  -- A check that is down, or up again after it was not, may move its alerts: the worker
  -- evaluates the rules on check failures at once rather than at its next interval.
  IF EXISTS (SELECT FROM pg_temp.check_batch b
              WHERE b.problem IS NULL
                AND (b.outcome = 'down'
                     OR (b.outcome = 'up' AND EXISTS (
                           SELECT FROM (SELECT r.outcome FROM ops.check_results r
                                         WHERE r.check_id = b.check_id AND r.started_at < b.started_at::timestamptz
                                         ORDER BY r.started_at DESC LIMIT 1) previous
                            WHERE previous.outcome <> 'up')))) THEN
    PERFORM pg_notify('expense_ops_evaluate', 'check_consecutive_failures');
  END IF;
  RETURN QUERY SELECT b.index, b.check_id, b.problem FROM pg_temp.check_batch b WHERE b.problem IS NOT NULL ORDER BY b.index;
END
$$;
COMMENT ON FUNCTION ops.record_check_results(jsonb, timestamptz) IS
  'The worker''s batch write of check results, received at `at`: a JSON array of {check_id, started_at, duration_ms, outcome (up, down, unknown), status, detail, timings, worker}, each started within the retention before `at` and no later than the clock skew after it. Each bad element is returned with its index (from 0) and reason and the rest are kept; a run already recorded is not recorded twice. A check down, or up again, sends NOTIFY expense_ops_evaluate (check_consecutive_failures)';

-- ---------------------------------------------------------------------------------------------
-- Claims that cost what they take, not what is waiting (extension/sql/alerting.sql).

DROP INDEX ops.notifications_due;
CREATE INDEX notifications_due ON ops.notifications (next_attempt_at, notification_id) WHERE status IN ('pending', 'sending', 'failed');

CREATE OR REPLACE FUNCTION ops.claim_notifications(worker text, n integer DEFAULT 10, lease interval DEFAULT '1 minute',
                                        at timestamptz DEFAULT now())
RETURNS SETOF ops.notifications
-- The walk below must be an ordered index scan that stops early. Statistics taken while the
-- outbox was empty (its normal state) make the planner sort the whole backlog instead, for every
-- claim; with no sort allowed, notifications_due gives the order. Custom plans, so that a plan
-- cached while the outbox was empty does not outlive the first backlog either.
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
  SET enable_sort = off AS $$
DECLARE
  most integer := (SELECT s.max_attempts FROM ops.alerting_settings s);
  candidate record;
  held ops.notifications;
  claimed integer := 0;
BEGIN
  IF worker IS NULL OR btrim(worker) = '' OR length(worker) > 200 THEN
    RAISE EXCEPTION 'worker: name the worker that claims' USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Its id, such as host:pid.';
  ELSIF n IS NULL OR n < 1 OR n > 1000 THEN
    RAISE EXCEPTION 'n: claim 1 to 1000 notifications, not %', n USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Such as 10.';
  ELSIF lease IS NULL OR lease <= interval '0' OR lease > interval '1 hour' THEN
    RAISE EXCEPTION 'lease: a lease lasts more than 0 and at most 1 hour' USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'Such as ''1 minute'', longer than a delivery takes.';
  END IF;
  -- The undelivered, oldest due first, walked along notifications_due and left as soon as n are
  -- claimed: a claim costs what it takes, not what is waiting (a backlog of thousands after an
  -- outage, with statistics that still say the outbox is empty). Each candidate is checked with
  -- index lookups whose plans do not depend on the table's size.
  FOR candidate IN
    SELECT x.notification_id, x.channel, x.group_key FROM ops.notifications x
     WHERE x.status IN ('pending', 'sending', 'failed') AND x.next_attempt_at <= at
       AND (x.status <> 'sending' OR x.lease_expires_at <= at)  -- in flight elsewhere: not even locked
     ORDER BY x.next_attempt_at, x.notification_id
  LOOP
    -- A group's notifications leave in order, one at a time: a retried "firing" never lands
    -- after the "resolved" behind it.
    CONTINUE WHEN (SELECT y.notification_id FROM ops.notifications y
                    WHERE y.channel = candidate.channel AND y.group_key = candidate.group_key
                      AND y.status IN ('pending', 'sending', 'failed')
                    ORDER BY y.notification_id LIMIT 1) <> candidate.notification_id;
    SELECT * INTO held FROM ops.notifications o WHERE o.notification_id = candidate.notification_id
       FOR UPDATE SKIP LOCKED;
    -- Another worker holds it, or it moved on since the walk began.
    CONTINUE WHEN NOT FOUND OR held.status NOT IN ('pending', 'sending', 'failed') OR held.next_attempt_at > at
                  OR (held.status = 'sending' AND held.lease_expires_at > at);
    IF held.status = 'sending' AND held.attempts >= most THEN
      -- The lease ran out on the last attempt: the worker died sending it; nothing retries it.
      UPDATE ops.notifications o
         SET status = 'dead', leased_by = NULL, lease_expires_at = NULL,
             last_error = 'the lease expired on the last attempt'
       WHERE o.notification_id = held.notification_id;
      CONTINUE;
    END IF;
    UPDATE ops.notifications o
       SET status = 'sending', attempts = o.attempts + 1, leased_by = worker, lease_expires_at = at + lease
     WHERE o.notification_id = held.notification_id
    RETURNING o.* INTO held;
    RETURN NEXT held;
    claimed := claimed + 1;
    EXIT WHEN claimed >= n;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION ops.held_notification(notification_id bigint, worker text) RETURNS ops.notifications
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  held ops.notifications;
BEGIN
  SELECT * INTO held FROM ops.notifications o WHERE o.notification_id = held_notification.notification_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'notification_id: no notification %', notification_id USING ERRCODE = expense.sqlstate('not_found');
  ELSIF held.status <> 'sending' THEN
    RAISE EXCEPTION 'notification %: it is %, not being sent', notification_id, held.status
      USING ERRCODE = expense.sqlstate('notification_state'), HINT = 'Claim it with ops.claim_notifications() first.';
  ELSIF worker IS NOT NULL AND held.leased_by <> worker THEN
    RAISE EXCEPTION 'notification %: leased to another worker', notification_id
      USING ERRCODE = expense.sqlstate('notification_state'),
      HINT = 'The lease expired and another worker took it over; drop the result.';
  END IF;
  RETURN held;
END
$$;
