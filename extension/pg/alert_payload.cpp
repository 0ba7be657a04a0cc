// Alertmanager's payloads at the SQL boundary (extension/core/alert_payload.*): jsonb arguments
// become the core's alerts, the core builds the document, and it comes back as jsonb.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/alert_payload.hpp"
#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/jsonb.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;
namespace payload = expense_ops::core::alert_payload;

// ops.webhook_payload(receiver text, group_key text, group_labels jsonb, alerts jsonb,
//                     external_url text, truncated_alerts integer) RETURNS jsonb
EXPENSE_OPS_FUNCTION(expense_ops_webhook_payload) {
  payload::WebhookGroup group;
  group.receiver = pg::text_argument(fcinfo, 0, "receiver");
  group.group_key = pg::text_argument(fcinfo, 1, "group_key");
  group.group_labels =
      payload::labels_from_json(pg::jsonb_argument(fcinfo, 2, "group_labels"), "group_labels");
  group.alerts = payload::alerts_from_json(pg::jsonb_argument(fcinfo, 3, "alerts"));
  group.external_url = pg::text_argument(fcinfo, 4, "external_url");
  const std::int32_t truncated = pg::int32_argument(fcinfo, 5, "truncated_alerts");
  if (truncated < 0) {
    throw core::RuleViolation(core::sqlstate::kInvalidParameterValue,
                              "truncated_alerts: " + std::to_string(truncated) + " is negative",
                              "truncated_alerts counts the alerts cut from the group; 0 when none "
                              "were.");
  }
  group.truncated_alerts = static_cast<std::size_t>(truncated);
  return pg::to_jsonb(payload::webhook_payload(group));
}

// ops.alertmanager_payload(alerts jsonb) RETURNS jsonb
EXPENSE_OPS_FUNCTION(expense_ops_alertmanager_payload) {
  const auto alerts = payload::alerts_from_json(pg::jsonb_argument(fcinfo, 0, "alerts"));
  return pg::to_jsonb(payload::alertmanager_alerts(alerts));
}
