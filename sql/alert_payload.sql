-- Alertmanager's payloads: the webhook payload a receiver gets and the body of Alertmanager's
-- POST /api/v2/alerts, from alerts given as jsonb the way an outbox writer builds them, with
-- jsonb_build_object over timestamptz values.
CREATE EXTENSION IF NOT EXISTS expense_ops;
SET client_min_messages = warning;
SET TIME ZONE 'UTC';

-- What a statement says: 'ok', or its SQLSTATE, message and hint.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  hint text;
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || SQLERRM || CASE WHEN hint <> '' THEN E'\nHINT: ' || hint ELSE '' END;
END $$;

-- Both are pure functions of their arguments, not strict: a NULL argument is an error.
SELECT p.oid::regprocedure, p.provolatile, p.proisstrict, p.proparallel
  FROM pg_proc p WHERE p.oid IN ('ops.webhook_payload'::regproc, 'ops.alertmanager_payload'::regproc)
 ORDER BY 1::text;

-- One group: a firing alert, and a resolved one with a label of an empty value, which
-- Alertmanager drops (and so leaves out of the fingerprint). Alertmanager sends the alerts by
-- their instance label, so "a" comes first.
CREATE TEMP TABLE fired AS
SELECT jsonb_build_array(
         jsonb_build_object(
           'labels', jsonb_build_object('alertname', 'ApiDown', 'instance', 'b', 'severity', 'critical'),
           'annotations', jsonb_build_object('summary', 'api.health() is down', 'runbook', 'docs/operations.md'),
           'starts_at', timestamptz '2026-12-01 10:00:00.123+00',
           'ends_at', NULL,
           'generator_url', 'http://127.0.0.1:3000/rpc/health',
           'status', 'firing'),
         jsonb_build_object(
           'labels', jsonb_build_object('alertname', 'ApiDown', 'instance', 'a', 'severity', 'warning', 'note', ''),
           'annotations', jsonb_build_object('summary', 'api.health() is degraded', 'runbook', 'docs/operations.md'),
           'starts_at', timestamptz '2026-12-01 09:30:00+00',
           'ends_at', timestamptz '2026-12-01 10:00:00.5+00',
           'status', 'resolved')) AS alerts;
SELECT jsonb_pretty(ops.webhook_payload('team.ops', '{}:{alertname="ApiDown"}', '{"alertname": "ApiDown"}',
                                        alerts, 'http://alertmanager:9093', 2)) FROM fired;
SELECT jsonb_pretty(ops.alertmanager_payload(alerts)) FROM fired;

-- The fingerprint is Alertmanager's: FNV-1a over the labels with a value. Given, it must agree.
SELECT ops.webhook_payload('ops', 'k', '{}', alerts) -> 'alerts' -> 0 ->> 'fingerprint' AS without_note,
       ops.webhook_payload('ops', 'k', '{}', jsonb_set(alerts, '{1,labels}', (alerts -> 1 -> 'labels') - 'note'))
         -> 'alerts' -> 0 ->> 'fingerprint' AS same_without_it,
       ops.webhook_payload('ops', 'k', '{}', jsonb_set(alerts, '{1,fingerprint}', '"e71a739d84dc2be7"'))
         -> 'alerts' -> 0 ->> 'fingerprint' AS given
  FROM fired;

-- The session's time zone does not matter: timestamptz text carries its offset, even the
-- seconds of a zone's local mean time.
SET TIME ZONE 'Asia/Kolkata';
SELECT ops.webhook_payload('ops', 'k', '{}', jsonb_build_array(jsonb_build_object(
         'labels', jsonb_build_object('alertname', 'X'), 'starts_at', timestamptz '2026-12-01 10:00:00.123+00')))
         -> 'alerts' -> 0 ->> 'startsAt' AS kolkata;
SET TIME ZONE 'Europe/Amsterdam';
SELECT jsonb_build_object('starts_at', timestamptz '1800-01-01 00:00:00+00') AS lmt_text,
       ops.webhook_payload('ops', 'k', '{}', jsonb_build_array(jsonb_build_object(
         'labels', jsonb_build_object('alertname', 'X'), 'starts_at', timestamptz '1800-01-01 00:00:00+00')))
         -> 'alerts' -> 0 ->> 'startsAt' AS lmt;
SET TIME ZONE 'UTC';

-- The defaults, and a group without alerts.
SELECT ops.webhook_payload('ops', '{}:{}', '{}', '[]');
SELECT ops.alertmanager_payload('[]');
-- Minimal alerts: only labels and starts_at; nulls count as absent.
SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}, "starts_at": "2026-12-01T10:00:00Z"},
                                  {"labels": {"alertname": "Y"}, "starts_at": "2026-12-01T11:00:00+01:00",
                                   "annotations": null, "generator_url": null, "fingerprint": null, "status": null}]');

-- Every malformed input is an error that names the alert and the field, with a hint.
\pset format unaligned
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('{"labels": {"alertname": "X"}}')$$) AS not_an_array;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('"alerts"')$$) AS a_scalar;
SELECT pg_temp.try($$SELECT ops.webhook_payload('ops', 'k', '{}', '[{"labels": {"alertname": "X"}, "starts_at": "2026-12-01T10:00:00Z"}, 1]')$$) AS element_not_an_object;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}, "startsAt": "2026-12-01T10:00:00Z"}]')$$) AS unknown_field;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"starts_at": "2026-12-01T10:00:00Z"}]')$$) AS labels_missing;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": ["alertname", "X"], "starts_at": "2026-12-01T10:00:00Z"}]')$$) AS labels_not_an_object;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X", "code": 500}, "starts_at": "2026-12-01T10:00:00Z"}]')$$) AS label_not_a_string;
SELECT pg_temp.try($$SELECT ops.webhook_payload('ops', 'k', '{}', '[{"labels": {"alertname": "X"}, "annotations": {"summary": null}, "starts_at": "2026-12-01T10:00:00Z"}]')$$) AS annotation_not_a_string;
SELECT pg_temp.try($$SELECT ops.webhook_payload('ops', 'k', '["alertname"]', '[]')$$) AS group_labels_not_an_object;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {}, "starts_at": "2026-12-01T10:00:00Z"}]')$$) AS no_labels;
SELECT pg_temp.try($$SELECT ops.webhook_payload('ops', 'k', '{}', '[{"labels": {"alertname": ""}, "starts_at": "2026-12-01T10:00:00Z"}]')$$) AS only_empty_labels;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alert-name": "X"}, "starts_at": "2026-12-01T10:00:00Z"}]')$$) AS bad_label_name;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}, "starts_at": "2026-12-01T10:00:00Z", "fingerprint": "0000000000000000"}]')$$) AS wrong_fingerprint;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}, "starts_at": "2026-12-01T10:00:00Z", "status": "pending"}]')$$) AS unknown_status;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}, "starts_at": "2026-12-01T10:00:00Z", "generator_url": 1}]')$$) AS url_not_a_string;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}}]')$$) AS start_missing;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}, "starts_at": "yesterday"}]')$$) AS bad_time;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload(jsonb_build_array(jsonb_build_object('labels', jsonb_build_object('alertname', 'X'), 'starts_at', timestamp '2026-12-01 10:00')))$$) AS time_without_offset;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload(jsonb_build_array(jsonb_build_object('labels', jsonb_build_object('alertname', 'X'), 'starts_at', timestamptz '-infinity')))$$) AS infinite_time;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload(jsonb_build_array(jsonb_build_object('labels', jsonb_build_object('alertname', 'X'), 'starts_at', timestamptz '0044-03-15 BC')))$$) AS time_before_christ;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}, "starts_at": 1796119200}]')$$) AS time_not_a_string;
SELECT pg_temp.try($$SELECT ops.webhook_payload('ops', 'k', '{}', '[{"labels": {"alertname": "X"}, "starts_at": "2026-12-01T10:00:00Z", "status": "resolved"}]')$$) AS resolved_without_end;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload('[{"labels": {"alertname": "X"}, "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T09:00:00Z", "status": "resolved"}]')$$) AS ends_before_it_starts;
SELECT pg_temp.try($$SELECT ops.webhook_payload('ops', 'k', '{}', '[]', '', -1)$$) AS negative_truncated;
SELECT pg_temp.try($$SELECT ops.alertmanager_payload(NULL)$$) AS null_alerts;
SELECT pg_temp.try($$SELECT ops.webhook_payload('ops', 'k', '{}', '[]', NULL)$$) AS null_external_url;
SELECT pg_temp.try($$SELECT ops.webhook_payload('ops', NULL, '{}', '[]')$$) AS null_group_key;

\pset format aligned

-- The worker and staff build payloads; the API's roles do not.
SELECT r AS role, has_function_privilege(r, 'ops.webhook_payload(text,text,jsonb,jsonb,text,integer)', 'EXECUTE') AS webhook,
       has_function_privilege(r, 'ops.alertmanager_payload(jsonb)', 'EXECUTE') AS alertmanager
  FROM unnest(ARRAY['expense_ops_admin', 'expense_ops_worker', 'expense_user', 'expense_anon', 'public']) r;
SET ROLE expense_ops_worker;
SELECT ops.alertmanager_payload('[]') AS worker_may;
RESET ROLE;
SET ROLE expense_ops_admin;
SELECT ops.webhook_payload('ops', 'k', '{}', '[]') ->> 'version' AS admin_may;
RESET ROLE;
