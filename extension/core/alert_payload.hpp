// Alertmanager's JSON documents, built as json::Value: the webhook payload Alertmanager 0.25
// POSTs to a receiver, so that the support plan's receivers can be tested against exactly what
// they will get, and the alert list Prometheus POSTs to Alertmanager's /api/v2/alerts, so that
// expense_ops can raise alerts itself. test/integration/alertmanager_test.py compares both with
// a real Alertmanager 0.25.
//
// Times are written as Go writes a time.Time in JSON (RFC 3339 with nanoseconds, in UTC here):
// the fraction loses its trailing zeros, and disappears on a whole second.
//
// Errors (RuleViolation):
//   22X68 an alert Alertmanager would answer with 400 for its labels: no label with a value, a
//         label or annotation name outside [a-zA-Z_][a-zA-Z0-9_]*, a label or annotation value
//         that is not UTF-8; and, reading alerts from JSON, labels or annotations that are not
//         an object of strings, or a fingerprint that is not the one of the alert's labels;
//   22X69 an alert's times: resolved without ends_at, ends_at before starts_at, a time outside
//         the years 0000-9999, which Go refuses to write, and, reading alerts from JSON, a time
//         that is not ISO 8601 with an offset or Z, or a missing starts_at;
//   22023 a truncated_alerts count beyond what JSON numbers here hold (2^63 - 1); reading alerts
//         from JSON, a document of the wrong shape: not an array, an alert that is not an
//         object, a field it does not know or of the wrong type, a status other than firing or
//         resolved.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/labels.hpp"
#include "core/time.hpp"

namespace expense_ops::core::alert_payload {

struct Alert {
  Labels labels;
  Labels annotations;
  core::Instant starts_at;
  std::optional<core::Instant> ends_at;  // set when resolved
  std::string generator_url;
  std::string fingerprint;
  bool resolved = false;
};

// One notification of an aggregation group, as Alertmanager's webhook notifier sees it: the
// alerts already cut to the receiver's max_alerts, and how many were cut.
struct WebhookGroup {
  std::string receiver;
  std::string external_url;
  std::string group_key;
  Labels group_labels;
  std::vector<Alert> alerts;
  std::size_t truncated_alerts = 0;
};

// Go's zero time.Time, which Alertmanager writes as a firing alert's endsAt.
inline constexpr char kGoZeroTime[] = "0001-01-01T00:00:00Z";

// An instant as Go's time.Time marshals itself in JSON, e.g. 2026-12-01T10:00:00.12Z; 22X69
// outside the years 0000-9999.
std::string format_go_time(core::Instant instant);

// The fingerprint Alertmanager gives an alert with these labels: alerting::fingerprint (FNV-1a, as
// Prometheus' LabelSet.Fingerprint) over the labels that have a value, since Alertmanager drops
// a label with an empty value when it receives the alert.
std::string alertmanager_fingerprint(const Labels& labels);

// The webhook payload, version 4, with Alertmanager's keys in Alertmanager's order:
//   receiver           the receiver's name with regular-expression metacharacters escaped by a
//                      backslash, as Alertmanager 0.25 does (regexp.QuoteMeta)
//   status             "firing" when any alert fires, else "resolved" (also with no alerts)
//   alerts             each: status, labels, annotations, startsAt, endsAt (kGoZeroTime while
//                      firing, whatever ends_at holds), generatorURL, fingerprint; in
//                      Alertmanager's order, whatever the caller's (types.AlertSlice: by the job
//                      label, then instance, an alert without one after those with it, then
//                      Prometheus' LabelSet.Before: fewer labels first, then name by name, the
//                      set lacking a name the other has first, else the smaller value); the
//                      labels without those of an empty value, which Alertmanager drops when it
//                      receives an alert
//   groupLabels        likewise without those of an empty value
//   commonLabels       the pairs the first alert in that order shares with every other; as in
//                      Go, a label absent from an alert counts as one with the empty value
//   commonAnnotations  the same for annotations
//   externalURL, version ("4"), groupKey, truncatedAlerts
// Label sets are objects sorted by name, bytewise, as Go writes maps. Refuses, naming the alert
// by its index in group.alerts, an alert Alertmanager could not hold (22X68, as
// alertmanager_alerts), and a resolved alert without ends_at or ending before it starts (22X69).
json::Value webhook_payload(const WebhookGroup& group);

// The body of POST /api/v2/alerts: an array of {labels, annotations, startsAt, endsAt,
// generatorURL}, endsAt only for a resolved alert (a firing one is left to Alertmanager's
// resolve_timeout). Refuses, naming the alert by its index, what Alertmanager would answer with
// 400 (22X68, 22X69 above); Alertmanager drops labels with an empty value before it checks that
// one is left, but this refuses a bad name even there.
json::Value alertmanager_alerts(const std::vector<Alert>& alerts);

// Alerts as ops.webhook_payload and ops.alertmanager_payload take them: a JSON array of objects
// with the fields
//   labels         required: an object of strings
//   annotations    an object of strings; {} when absent
//   starts_at      required: ISO 8601 with an offset or Z (core::ingest::parse_iso8601), such as
//                  "2026-12-01T10:00:00.123+00:00", the text jsonb_build_object makes of a
//                  timestamptz
//   ends_at        the same; may be absent while the alert fires
//   generator_url  a string; "" when absent
//   fingerprint    a string; when absent, alertmanager_fingerprint(labels), and when given it
//                  must be that
//   status         "firing" (when absent) or "resolved"
// A JSON null counts as absent. Errors (22023, 22X68, 22X69 above) name the alert by its index
// and the field, as "alerts[2].starts_at".
std::vector<Alert> alerts_from_json(const json::Value& alerts);

// A label set given as a JSON object of strings; 22X68 naming `field` otherwise.
Labels labels_from_json(const json::Value& object, const std::string& field);

}  // namespace expense_ops::core::alert_payload
