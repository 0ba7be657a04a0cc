-- expense_ops: Alertmanager's payloads (extension/core/alert_payload.*, glue in
-- extension/pg/alert_payload.cpp). The webhook payload Alertmanager 0.25 POSTs to a receiver,
-- and the body of Alertmanager's POST /api/v2/alerts, built from alerts given as jsonb, so that
-- a notification channel can speak to a webhook receiver or to Alertmanager itself
-- (docs/monitoring.md). test/integration/alertmanager_test.py holds both against a real
-- Alertmanager 0.25.

CREATE FUNCTION ops.webhook_payload(receiver text, group_key text, group_labels jsonb, alerts jsonb,
                                    external_url text DEFAULT '', truncated_alerts integer DEFAULT 0)
RETURNS jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_webhook_payload';
COMMENT ON FUNCTION ops.webhook_payload(text, text, jsonb, jsonb, text, integer) IS
  'The webhook payload (version 4) Alertmanager 0.25 POSTs to a receiver for one notification of an aggregation group: receiver (regex metacharacters escaped, as Alertmanager does), status, the alerts in Alertmanager''s order with their fingerprints and Go''s times (a firing alert ends at 0001-01-01T00:00:00Z), groupLabels, commonLabels, commonAnnotations, externalURL, version, groupKey (such as {}:{alertname="X"}) and truncatedAlerts. Labels with an empty value are left out, as Alertmanager drops them. alerts is a JSON array of {"labels", "annotations", "starts_at", "ends_at", "generator_url", "fingerprint", "status"} (docs/monitoring.md). No argument may be NULL (22004); 22023 a malformed alert or a negative truncated_alerts, 22X68 labels Alertmanager refuses, 22X69 bad times';
CREATE FUNCTION ops.alertmanager_payload(alerts jsonb) RETURNS jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_alertmanager_payload';
COMMENT ON FUNCTION ops.alertmanager_payload(jsonb) IS
  'The body of Alertmanager''s POST /api/v2/alerts for alerts given as ops.webhook_payload takes them: an array of {labels, annotations, startsAt, endsAt (resolved alerts only), generatorURL}. Refuses what Alertmanager would answer with 400: no label with a value or a bad label name (22X68), an end before the start (22X69); 22023 a malformed alert, 22004 NULL';
REVOKE ALL ON FUNCTION ops.webhook_payload(text, text, jsonb, jsonb, text, integer), ops.alertmanager_payload(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.webhook_payload(text, text, jsonb, jsonb, text, integer), ops.alertmanager_payload(jsonb)
  TO expense_ops_admin, expense_ops_worker;
