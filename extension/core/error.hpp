// Errors raised by domain logic, and the catalog of every error code. The core cannot see
// PostgreSQL's ERRCODE_* macros, so a rule carries its SQLSTATE as the five-character code; the
// glue in extension/pg maps it.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace expense_ops::core {

// Every SQLSTATE the extension raises, or that its constraints raise for it, with the HTTP
// status PostgREST answers it with and what it means. This is the one place such a code is
// written: C++ names it by its constant, SQL by its name (expense.sqlstate('not_found')), and
// docs/errors.md is this table, which a unit test keeps equal to it.
namespace sqlstate {
// PostgreSQL's own codes, named as in its errcodes.txt.
inline constexpr char kStringDataRightTruncation[] = "22001";
inline constexpr char kNullValueNotAllowed[] = "22004";
inline constexpr char kNumericValueOutOfRange[] = "22003";
inline constexpr char kDatetimeFieldOverflow[] = "22008";
inline constexpr char kInvalidParameterValue[] = "22023";
inline constexpr char kInvalidTextRepresentation[] = "22P02";
inline constexpr char kInvalidBinaryRepresentation[] = "22P03";
inline constexpr char kNotNullViolation[] = "23502";
inline constexpr char kForeignKeyViolation[] = "23503";
inline constexpr char kUniqueViolation[] = "23505";
inline constexpr char kCheckViolation[] = "23514";
inline constexpr char kReadOnlySqlTransaction[] = "25006";
inline constexpr char kInvalidPassword[] = "28P01";
inline constexpr char kTriggerProtocolViolated[] = "39P01";
inline constexpr char kInsufficientPrivilege[] = "42501";
inline constexpr char kWrongObjectType[] = "42809";
inline constexpr char kOutOfMemory[] = "53200";
inline constexpr char kObjectNotInPrerequisiteState[] = "55000";
inline constexpr char kInternalError[] = "XX000";

// expense_ops' own codes, one per rule. Class 22 (data exception) for input that cannot be
// accepted as given; PostgREST answers them with HTTP 400.
inline constexpr char kUnknownCurrency[] = "22X01";
inline constexpr char kInvalidAmount[] = "22X02";
inline constexpr char kAmountPrecision[] = "22X03";
inline constexpr char kAmountNotPositive[] = "22X04";
inline constexpr char kAmountTooLarge[] = "22X05";
inline constexpr char kPasswordTooShort[] = "22X10";
inline constexpr char kPasswordTooLong[] = "22X11";
inline constexpr char kExpenseDateInFuture[] = "22X20";
inline constexpr char kExpenseTooOld[] = "22X21";
inline constexpr char kCategoryInactive[] = "22X22";
inline constexpr char kCategoryUnknown[] = "22X23";
inline constexpr char kStatusOutsideWorkflow[] = "22X30";
inline constexpr char kRejectionWithoutReason[] = "22X32";
inline constexpr char kReceiptMissing[] = "22X33";
inline constexpr char kAbovePerItemLimit[] = "22X34";
inline constexpr char kAbovePerDayLimit[] = "22X35";
inline constexpr char kNoExchangeRate[] = "22X36";

// SLA business calendars and clocks: a calendar definition that cannot describe a working week,
// and clock parameters that cannot be measured against.
inline constexpr char kUnknownTimeZone[] = "22X40";
inline constexpr char kCalendarIntervalInverted[] = "22X41";
inline constexpr char kCalendarIntervalsOverlap[] = "22X42";
inline constexpr char kCalendarWeekday[] = "22X43";
inline constexpr char kCalendarEmpty[] = "22X44";
inline constexpr char kSlaTargetNegative[] = "22X45";
inline constexpr char kSlaAtRiskFraction[] = "22X46";
inline constexpr char kSlaTargetMonths[] = "22X47";

// Tickets (core/ticket_lifecycle.hpp).
inline constexpr char kUnknownTicketKind[] = "22X50";
inline constexpr char kUnknownPriority[] = "22X51";
inline constexpr char kUnknownTicketState[] = "22X52";
inline constexpr char kTicketTransition[] = "22X53";
inline constexpr char kTicketCloseRequirements[] = "22X54";
inline constexpr char kPrioritisationInput[] = "22X55";

// Metrics (core/latency_sketch.hpp).
inline constexpr char kInvalidDuration[] = "22X60";
inline constexpr char kQuantileOutOfRange[] = "22X61";

// Alerting (core/alerting.hpp).
inline constexpr char kUnknownSeverity[] = "22X62";
inline constexpr char kInvalidComparator[] = "22X63";
inline constexpr char kInvalidMatcher[] = "22X64";
inline constexpr char kNegativeDuration[] = "22X65";
inline constexpr char kTemplateUnparseable[] = "22X66";
inline constexpr char kUnknownAlertState[] = "22X67";

// Alert payloads (core/alert_payload.hpp).
inline constexpr char kAlertLabels[] = "22X68";
inline constexpr char kAlertTimes[] = "22X69";

// Alert rules, silences and channels (extension/sql/alerting.sql).
inline constexpr char kUnknownMetric[] = "22X70";
inline constexpr char kUnknownChannelKind[] = "22X71";
inline constexpr char kSilenceInverted[] = "22X72";
inline constexpr char kNotificationState[] = "22X73";
inline constexpr char kLogOffset[] = "22X74";

// Backups and restore tests (extension/sql/backups.sql).
inline constexpr char kBackupState[] = "22X75";

// PostgREST answers "PTxyz" with HTTP status xyz.
inline constexpr char kUnauthorized[] = "PT401";
inline constexpr char kNotFound[] = "PT404";
inline constexpr char kWrongStatus[] = "PT409";
}  // namespace sqlstate

struct ErrorCode {
  std::string_view name;  // how SQL names it
  std::string_view sqlstate;
  int http_status;  // what PostgREST answers; 42501 is 401 for the anonymous role instead
  std::string_view meaning;
};

// In the order docs/errors.md lists them.
inline constexpr ErrorCode kErrorCatalog[] = {
    {"text_too_long", sqlstate::kStringDataRightTruncation, 400,
     "a text or list longer than its limit; the message names the field and the limit (email 320, "
     "title 200, comment 20000, 20 labels of 50, ...)"},
    {"null_value", sqlstate::kNullValueNotAllowed, 400,
     "a required value is NULL, or a comment is blank, or a quantile asked for is NULL"},
    {"value_out_of_range", sqlstate::kNumericValueOutOfRange, 400,
     "a merge of latency sketches that would count more than 2^64 values"},
    {"instant_out_of_range", sqlstate::kDatetimeFieldOverflow, 400,
     "an SLA instant outside the years 1900-2399"},
    {"invalid_parameter", sqlstate::kInvalidParameterValue, 400,
     "a parameter outside its domain: a reversed or missing period, an unknown calendar or time "
     "zone, a comment visibility other than public or internal, an unknown signing key, an "
     "untrusted-proxy list that is not networks, an array of quantiles with more than one "
     "dimension, an alert given as JSON of the wrong shape (not an array of objects, an unknown "
     "field, a status other than firing or resolved), a negative truncated_alerts, an unknown SLO "
     "or a burn-rate window that is not positive, an SLO whose objective is not strictly between "
     "0 and 1, whose period is not positive or longer than 400 days, or whose threshold_ms is "
     "missing (latency) or misplaced"},
    {"invalid_text", sqlstate::kInvalidTextRepresentation, 400,
     "a latency_sketch literal that does not parse, or whose fields contradict each other"},
    {"invalid_binary", sqlstate::kInvalidBinaryRepresentation, 400,
     "a latency_sketch binary value (received, or stored) that is truncated, corrupt or of an "
     "unknown version"},
    {"unknown_currency", sqlstate::kUnknownCurrency, 400, "unknown currency"},
    {"invalid_amount", sqlstate::kInvalidAmount, 400, "amount is not a decimal number"},
    {"amount_precision", sqlstate::kAmountPrecision, 400, "more decimals than the currency has"},
    {"amount_not_positive", sqlstate::kAmountNotPositive, 400,
     "amount at or below zero; a negative limit or threshold"},
    {"amount_too_large", sqlstate::kAmountTooLarge, 400, "amount of 10^12 units or more"},
    {"password_too_short", sqlstate::kPasswordTooShort, 400,
     "new password shorter than 8 characters"},
    {"password_too_long", sqlstate::kPasswordTooLong, 400, "new password longer than 1024 bytes"},
    {"expense_date_in_future", sqlstate::kExpenseDateInFuture, 400,
     "expense date in the future (organisation's time zone)"},
    {"expense_too_old", sqlstate::kExpenseTooOld, 400,
     "expense date older than the category allows"},
    {"category_inactive", sqlstate::kCategoryInactive, 400, "category inactive"},
    {"category_unknown", sqlstate::kCategoryUnknown, 400,
     "category not in the expense's organisation"},
    {"status_outside_workflow", sqlstate::kStatusOutsideWorkflow, 400,
     "status changed by PATCH instead of a workflow function"},
    {"rejection_without_reason", sqlstate::kRejectionWithoutReason, 400,
     "rejection without a reason"},
    {"receipt_missing", sqlstate::kReceiptMissing, 400,
     "receipt missing (or blank) above the category's threshold"},
    {"above_per_item_limit", sqlstate::kAbovePerItemLimit, 400,
     "above the category's per-item limit"},
    {"above_per_day_limit", sqlstate::kAbovePerDayLimit, 400, "above the category's per-day limit"},
    {"no_exchange_rate", sqlstate::kNoExchangeRate, 400, "no exchange rate for the expense date"},
    {"unknown_time_zone", sqlstate::kUnknownTimeZone, 400, "SLA calendar: unknown time zone"},
    {"calendar_interval_inverted", sqlstate::kCalendarIntervalInverted, 400,
     "SLA calendar: a working interval that does not end after it starts, or leaves 00:00-24:00 "
     "(the hint splits an overnight shift at midnight)"},
    {"calendar_intervals_overlap", sqlstate::kCalendarIntervalsOverlap, 400,
     "SLA calendar: overlapping working intervals on one weekday"},
    {"calendar_weekday", sqlstate::kCalendarWeekday, 400,
     "SLA calendar: weekday outside 1 (Monday) .. 7 (Sunday)"},
    {"calendar_empty", sqlstate::kCalendarEmpty, 400, "SLA calendar: no working time in the week"},
    {"sla_target_negative", sqlstate::kSlaTargetNegative, 400,
     "SLA target (or business time to add) negative"},
    {"sla_at_risk_fraction", sqlstate::kSlaAtRiskFraction, 400,
     "SLA at-risk fraction outside (0, 1]"},
    {"sla_target_months", sqlstate::kSlaTargetMonths, 400, "SLA target in months"},
    {"unknown_ticket_kind", sqlstate::kUnknownTicketKind, 400, "unknown ticket kind"},
    {"unknown_priority", sqlstate::kUnknownPriority, 400, "unknown ticket priority"},
    {"unknown_ticket_state", sqlstate::kUnknownTicketState, 400, "unknown ticket state"},
    {"ticket_transition", sqlstate::kTicketTransition, 400,
     "a ticket move its lifecycle does not allow (skipping, going back, staying), or a field "
     "that follows the lifecycle written by hand"},
    {"ticket_close_requirements", sqlstate::kTicketCloseRequirements, 400,
     "closing without the tier's actions (P0: root cause and post-mortem link, P1: root cause)"},
    {"prioritisation_input", sqlstate::kPrioritisationInput, 400,
     "feature score input outside 1-5, or bad weights"},
    {"invalid_duration", sqlstate::kInvalidDuration, 400,
     "a latency that is NaN, infinite or negative, or a latency threshold that is NaN or "
     "negative"},
    {"quantile_out_of_range", sqlstate::kQuantileOutOfRange, 400,
     "a quantile outside 0..1, or NaN"},
    {"unknown_severity", sqlstate::kUnknownSeverity, 400,
     "alerting: a severity other than info, warning, high or critical"},
    {"invalid_comparator", sqlstate::kInvalidComparator, 400,
     "alerting: a threshold comparator other than >, >=, <, <=, == or !="},
    {"invalid_matcher", sqlstate::kInvalidMatcher, 400,
     "alerting: a label matcher with an empty name, an operator other than =, !=, =~ or !~, or a "
     "regex that does not compile or is longer than 1024 bytes"},
    {"negative_duration", sqlstate::kNegativeDuration, 400,
     "alerting: a negative for, keep_firing_for, retry base or retry cap"},
    {"template_unparseable", sqlstate::kTemplateUnparseable, 400,
     "alerting: a template with an action other than {{ $value }} or {{ $labels.NAME }}, an "
     "unclosed {{ or a stray }}"},
    {"unknown_alert_state", sqlstate::kUnknownAlertState, 400,
     "alerting: an alert state other than inactive, pending, firing or resolved"},
    {"alert_labels", sqlstate::kAlertLabels, 400,
     "an alert Alertmanager would refuse for its labels: none with a value, a label or annotation "
     "name outside `[a-zA-Z_][a-zA-Z0-9_]*`, a value that is not UTF-8; labels or annotations that "
     "are not a JSON object of strings, a fingerprint that is not the labels'"},
    {"alert_times", sqlstate::kAlertTimes, 400,
     "an alert resolved without its end, ending before it starts, at a time outside the years "
     "0000-9999, without its start, or at a time that is not ISO 8601 with an offset or Z"},
    {"unknown_metric", sqlstate::kUnknownMetric, 400,
     "alerting: a rule naming a metric that ops.metrics does not list, or a metric without its "
     "quantile or window"},
    {"unknown_channel_kind", sqlstate::kUnknownChannelKind, 400,
     "alerting: a channel kind other than webhook, alertmanager, log or command, or a channel "
     "without the target its kind needs"},
    {"silence_inverted", sqlstate::kSilenceInverted, 400,
     "a silence or maintenance window that ends before it starts, or has no matchers"},
    {"notification_state", sqlstate::kNotificationState, 400,
     "the worker reports on a notification it does not hold: not being sent, or leased to "
     "another worker"},
    {"log_offset", sqlstate::kLogOffset, 400,
     "the worker ships log lines from an offset other than the one recorded for the file: "
     "shipped twice, or a gap"},
    {"backup_state", sqlstate::kBackupState, 400,
     "the backup worker reports a step that does not fit a backup's or restore test's state: "
     "finishing one that is not running, verifying one that failed"},
    {"not_null_violation", sqlstate::kNotNullViolation, 400,
     "a required column of an expense is missing"},
    {"foreign_key_violation", sqlstate::kForeignKeyViolation, 409,
     "a reference to something that is not there: a manager from another organisation, an unknown "
     "organisation"},
    {"unique_violation", sqlstate::kUniqueViolation, 409,
     "a name or email already taken: in the admin's own organisation (create_user), by any account "
     "(accept_invitation), a category name twice"},
    {"check_violation", sqlstate::kCheckViolation, 400,
     "a value a check constraint refuses: malformed names, emails, roles, satisfaction, links"},
    {"read_only", sqlstate::kReadOnlySqlTransaction, 405, "a write sent to a standby"},
    {"invalid_credentials", sqlstate::kInvalidPassword, 403, "a wrong or used invitation code"},
    {"trigger_protocol", sqlstate::kTriggerProtocolViolated, 500,
     "a trigger function attached to a table not its own, fired at the wrong time, or called "
     "directly"},
    {"forbidden", sqlstate::kInsufficientPrivilege, 403,
     "not allowed (401 for the anonymous role): approving or reimbursing one's own expense, an "
     "approver who is not the manager, finance or an admin, someone else's user_id or expense, "
     "user administration by a non-admin, categories, rates or the organisation for the wrong "
     "role, ticket work, internal comments and reports for tenant users, rewriting an audit "
     "trail, deleting a ticket"},
    {"out_of_memory", sqlstate::kOutOfMemory, 503, "a C++ allocation failed"},
    {"object_state", sqlstate::kObjectNotInPrerequisiteState, 500,
     "retiring the last signing key in use"},
    {"internal_error", sqlstate::kInternalError, 500, "a C++ exception that is not a rule"},
    {"unauthorized", sqlstate::kUnauthorized, 401,
     "a token signed with a retired or unknown key, a revoked token, a disabled user, a token "
     "older "
     "than the password, not logged in"},
    {"not_found", sqlstate::kNotFound, 404,
     "an expense, user or ticket that is missing or not visible to the caller"},
    {"wrong_status", sqlstate::kWrongStatus, 409,
     "a workflow move the status does not allow; editing or deleting an expense that is not a "
     "draft; deactivating oneself; changing the base currency"},
};

// The catalog entry of a name as SQL uses it, or of a SQLSTATE; nullopt when there is none.
std::optional<ErrorCode> find_error_by_name(std::string_view name);
std::optional<ErrorCode> find_error_by_sqlstate(std::string_view sqlstate);

// The catalog as the markdown table docs/errors.md holds.
std::string error_table_markdown();

// A broken business rule: the message names the field and the rule, the hint says how to fix it.
class RuleViolation : public std::runtime_error {
 public:
  RuleViolation(std::string sqlstate, const std::string& message, std::string hint = {},
                std::string detail = {})
      : std::runtime_error(message),
        sqlstate_(std::move(sqlstate)),
        hint_(std::move(hint)),
        detail_(std::move(detail)) {}

  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& hint() const noexcept { return hint_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string sqlstate_;
  std::string hint_;
  std::string detail_;
};

}  // namespace expense_ops::core
