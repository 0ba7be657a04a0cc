// Alertmanager's JSON documents, built as json::Value: the webhook payload Alertmanager 0.25
// POSTs to a receiver, so that the support plan's receivers can be tested against exactly what
// they will get, and the alert list Prometheus POSTs to Alertmanager's /api/v2/alerts, so that
// expense_ops can raise alerts itself.
//
// Times are written as Go writes a time.Time in JSON (RFC 3339 with nanoseconds, in UTC here):
// the fraction loses its trailing zeros, and disappears on a whole second.
//
// Errors (RuleViolation):
//   22X68 an alert Alertmanager would answer with 400 for its labels (alertmanager_alerts only):
//         no label with a value, a label or annotation name outside [a-zA-Z_][a-zA-Z0-9_]*, a
//         label or annotation value that is not UTF-8;
//   22X69 an alert's times: resolved without ends_at, ends_at before starts_at, or a time
//         outside the years 0000-9999, which Go refuses to write;
//   22023 a truncated_alerts count beyond what JSON numbers here hold (2^63 - 1).
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

// The webhook payload, version 4, with Alertmanager's keys in Alertmanager's order:
//   receiver           the receiver's name with regular-expression metacharacters escaped by a
//                      backslash, as Alertmanager 0.25 does (regexp.QuoteMeta)
//   status             "firing" when any alert fires, else "resolved" (also with no alerts)
//   alerts             each: status, labels, annotations, startsAt, endsAt (kGoZeroTime while
//                      firing, whatever ends_at holds), generatorURL, fingerprint
//   groupLabels
//   commonLabels       the pairs the first alert shares with every other; as in Go, a label
//                      absent from an alert counts as one with the empty value
//   commonAnnotations  the same for annotations
//   externalURL, version ("4"), groupKey, truncatedAlerts
// Label sets are objects sorted by name, bytewise, as Go writes maps. 22X69 for a resolved
// alert without ends_at or ending before it starts.
json::Value webhook_payload(const WebhookGroup& group);

// The body of POST /api/v2/alerts: an array of {labels, annotations, startsAt, endsAt,
// generatorURL}, endsAt only for a resolved alert (a firing one is left to Alertmanager's
// resolve_timeout). Refuses, naming the alert by its index, what Alertmanager would answer with
// 400 (22X68, 22X69 above); Alertmanager drops labels with an empty value before it checks that
// one is left, but this refuses a bad name even there.
json::Value alertmanager_alerts(const std::vector<Alert>& alerts);

}  // namespace expense_ops::core::alert_payload
