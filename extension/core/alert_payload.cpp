#include "core/alert_payload.hpp"

#include <date/date.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string_view>
#include <utility>
#include <variant>

#include "core/alerting.hpp"
#include "core/error.hpp"
#include "core/ingest.hpp"
#include "core/time.hpp"

namespace expense_ops::core::alert_payload {

namespace {

std::string alert_name(std::size_t index) {
  return "alerts[" + std::to_string(index) + "]";
}

// What Go's utf8.ValidString accepts: shortest forms only, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    int length = 0;
    std::uint32_t code_point = 0;
    std::uint32_t minimum = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      code_point = lead & 0x1Fu;
      minimum = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      code_point = lead & 0x0Fu;
      minimum = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      code_point = lead & 0x07u;
      minimum = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i < static_cast<std::size_t>(length)) {
      return false;
    }
    for (int k = 1; k < length; ++k) {
      const auto continuation = static_cast<unsigned char>(text[i + k]);
      if ((continuation & 0xC0u) != 0x80u) {
        return false;
      }
      code_point = (code_point << 6) | (continuation & 0x3Fu);
    }
    if (code_point < minimum || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(letter || (digit && i > 0))) {
      return false;
    }
  }
  return true;
}

void check_label_set(const Labels& set, const std::string& where) {
  for (const auto& [name, value] : set) {
    if (!valid_label_name(name)) {
      // Quoted as JSON, so that an empty name or a control character in one shows.
      std::string message = where + ": ";
      json::append_quoted(message, name);
      message += " is not a label name";
      throw RuleViolation(sqlstate::kAlertLabels, message,
                          "A name is a letter or _ followed by letters, digits or _ "
                          "([a-zA-Z_][a-zA-Z0-9_]*); Alertmanager answers any other with 400.");
    }
    if (!valid_utf8(value)) {
      std::string message = where + ".";
      message += name;
      message += ": value is not UTF-8";
      throw RuleViolation(sqlstate::kAlertLabels, message,
                          "Alertmanager answers a value that is not valid UTF-8 with 400.");
    }
  }
}

void check_labels(const Alert& alert, std::size_t index) {
  check_label_set(alert.labels, alert_name(index) + ".labels");
  check_label_set(alert.annotations, alert_name(index) + ".annotations");
  bool any_value = false;
  for (const auto& entry : alert.labels) {
    any_value = any_value || !entry.second.empty();
  }
  if (!any_value) {
    throw RuleViolation(sqlstate::kAlertLabels,
                        alert_name(index) + ".labels: an alert needs a label with a value",
                        "Give every alert at least its alertname; Alertmanager drops labels with "
                        "an empty value and answers an alert left without any with 400.");
  }
}

// The text of an instant Go can write, or nullopt outside the years 0000-9999: RFC 3339 in UTC
// as format_iso8601 writes it, but with the fraction's trailing zeros dropped, and the fraction
// itself on a whole second.
std::optional<std::string> go_time(core::Instant instant) {
  static const core::Instant first = date::sys_days(date::year(0) / 1 / 1);
  static const core::Instant after_last = date::sys_days(date::year(10000) / 1 / 1);
  if (instant < first || instant >= after_last) {
    return std::nullopt;
  }
  std::string text = core::format_iso8601(instant);  // ...SS.ffffffZ
  std::size_t fraction_end = text.size() - 1;
  while (text[fraction_end - 1] == '0') {
    --fraction_end;
  }
  if (text[fraction_end - 1] == '.') {
    --fraction_end;
  }
  text.erase(fraction_end, text.size() - 1 - fraction_end);
  return text;
}

std::string go_time_or_throw(core::Instant instant, const std::string& field) {
  std::optional<std::string> text = go_time(instant);
  if (!text) {
    throw RuleViolation(sqlstate::kAlertTimes,
                        field + ": " + std::to_string(instant.time_since_epoch().count()) +
                            " microseconds since 1970 is outside the years 0000-9999",
                        "Go, and so Alertmanager, writes no time outside those years.");
  }
  return std::move(*text);
}

struct AlertTimes {
  std::string starts_at;
  std::optional<std::string> ends_at;  // only for a resolved alert
};

AlertTimes times_of(const Alert& alert, std::size_t index) {
  const std::string name = alert_name(index);
  AlertTimes times{go_time_or_throw(alert.starts_at, name + ".starts_at"), std::nullopt};
  if (!alert.resolved) {
    return times;
  }
  if (!alert.ends_at) {
    throw RuleViolation(sqlstate::kAlertTimes, name + ".ends_at: a resolved alert needs its end",
                        "Set ends_at to when the alert resolved.");
  }
  times.ends_at = go_time_or_throw(*alert.ends_at, name + ".ends_at");
  if (*alert.ends_at < alert.starts_at) {
    throw RuleViolation(
        sqlstate::kAlertTimes,
        name + ".ends_at: " + *times.ends_at + " is before starts_at " + times.starts_at,
        "An alert cannot end before it starts; Alertmanager answers such an alert with 400.");
  }
  return times;
}

json::Value label_object(const Labels& set) {
  json::Object object;
  object.reserve(set.size());
  for (const auto& [name, value] : set) {
    object.emplace_back(name, value);
  }
  return object;
}

// The pairs of the first set that every other set holds too. Go reads an absent key as "", so
// ("a", "") stays common with a set that lacks "a"; the payload must say what Alertmanager says.
Labels common_pairs(const std::vector<const Labels*>& sets) {
  if (sets.empty()) {
    return {};
  }
  Labels common = *sets.front();
  for (std::size_t i = 1; i < sets.size() && !common.empty(); ++i) {
    const Labels& other = *sets[i];
    for (auto it = common.begin(); it != common.end();) {
      const auto found = other.find(it->first);
      const std::string_view value =
          found == other.end() ? std::string_view() : std::string_view(found->second);
      it = value == it->second ? std::next(it) : common.erase(it);
    }
  }
  return common;
}

// The labels Alertmanager keeps of an alert it receives: those with a value.
Labels with_values(const Labels& set) {
  Labels kept;
  for (const auto& entry : set) {
    if (!entry.second.empty()) {
      kept.insert(kept.end(), entry);
    }
  }
  return kept;
}

// Prometheus' LabelSet.Before: fewer labels first; then, over the names of both in order, the
// first name one set lacks puts that set first, and the first differing value decides.
bool labels_before(const Labels& a, const Labels& b) {
  if (a.size() != b.size()) {
    return a.size() < b.size();
  }
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() && ib != b.end()) {
    if (ia->first < ib->first) {
      return false;  // b lacks ia's name
    }
    if (ib->first < ia->first) {
      return true;  // a lacks ib's name
    }
    if (ia->second != ib->second) {
      return ia->second < ib->second;
    }
    ++ia;
    ++ib;
  }
  return false;
}

// Alertmanager's types.AlertSlice order, in which it sends a group's alerts: by the job label,
// then the instance label, an alert that has the label before one that does not, and then by
// the label sets.
bool alertmanager_order(const Labels& a, const Labels& b) {
  for (const char* key : {"job", "instance"}) {
    const auto in_a = a.find(key);
    const auto in_b = b.find(key);
    const bool a_has = in_a != a.end();
    const bool b_has = in_b != b.end();
    if (!a_has && !b_has) {
      continue;
    }
    if (a_has != b_has) {
      return a_has;
    }
    if (in_a->second != in_b->second) {
      return in_a->second < in_b->second;
    }
  }
  return labels_before(a, b);
}

// Go's regexp.QuoteMeta, which Alertmanager 0.25 applies to the receiver's name.
std::string quote_meta(std::string_view text) {
  static constexpr std::string_view kSpecial = "\\.+*?()|[]{}^$";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (kSpecial.find(c) != std::string_view::npos) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

std::string_view status_of(const Alert& alert) {
  return alert.resolved ? "resolved" : "firing";
}

}  // namespace

std::string format_go_time(core::Instant instant) {
  return go_time_or_throw(instant, "time");
}

std::string alertmanager_fingerprint(const Labels& labels) {
  return alerting::fingerprint(with_values(labels));
}

json::Value webhook_payload(const WebhookGroup& group) {
  if (group.truncated_alerts > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) {
    throw RuleViolation(
        sqlstate::kInvalidParameterValue,
        "truncated_alerts: " + std::to_string(group.truncated_alerts) + " is above 2^63 - 1");
  }
  // Checked in the caller's order, so that an error names the alert as the caller counts.
  struct Entry {
    const Alert* alert;
    Labels labels;
    AlertTimes times;
  };
  std::vector<Entry> entries;
  entries.reserve(group.alerts.size());
  for (std::size_t i = 0; i < group.alerts.size(); ++i) {
    const Alert& alert = group.alerts[i];
    check_labels(alert, i);
    entries.push_back(Entry{&alert, with_values(alert.labels), times_of(alert, i)});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return alertmanager_order(a.labels, b.labels);
  });

  bool any_firing = false;
  json::Array alerts;
  alerts.reserve(entries.size());
  std::vector<const Labels*> label_sets;
  std::vector<const Labels*> annotation_sets;
  for (Entry& entry : entries) {
    const Alert& alert = *entry.alert;
    any_firing = any_firing || !alert.resolved;
    label_sets.push_back(&entry.labels);
    annotation_sets.push_back(&alert.annotations);
    alerts.emplace_back(json::Object{
        {"status", status_of(alert)},
        {"labels", label_object(entry.labels)},
        {"annotations", label_object(alert.annotations)},
        {"startsAt", std::move(entry.times.starts_at)},
        // Alertmanager zeroes a firing alert's end when it flushes the group, so that the alert
        // cannot turn resolved by itself while the notification is on its way.
        {"endsAt",
         entry.times.ends_at ? std::move(*entry.times.ends_at) : std::string(kGoZeroTime)},
        {"generatorURL", alert.generator_url},
        {"fingerprint", alert.fingerprint},
    });
  }
  return json::Object{
      {"receiver", quote_meta(group.receiver)},
      {"status", any_firing ? "firing" : "resolved"},
      {"alerts", std::move(alerts)},
      {"groupLabels", label_object(with_values(group.group_labels))},
      {"commonLabels", label_object(common_pairs(label_sets))},
      {"commonAnnotations", label_object(common_pairs(annotation_sets))},
      {"externalURL", group.external_url},
      {"version", "4"},
      {"groupKey", group.group_key},
      {"truncatedAlerts", static_cast<long long>(group.truncated_alerts)},
  };
}

json::Value alertmanager_alerts(const std::vector<Alert>& alerts) {
  json::Array body;
  body.reserve(alerts.size());
  for (std::size_t i = 0; i < alerts.size(); ++i) {
    const Alert& alert = alerts[i];
    check_labels(alert, i);
    AlertTimes times = times_of(alert, i);
    json::Object object{
        {"labels", label_object(alert.labels)},
        {"annotations", label_object(alert.annotations)},
        {"startsAt", std::move(times.starts_at)},
    };
    if (times.ends_at) {
      object.emplace_back("endsAt", std::move(*times.ends_at));
    }
    object.emplace_back("generatorURL", alert.generator_url);
    body.emplace_back(std::move(object));
  }
  return body;
}

namespace {

constexpr char kAlertsHint[] =
    R"(Alerts are a JSON array of objects such as {"labels": {"alertname": "ApiDown"}, )"
    R"("annotations": {"summary": "..."}, "starts_at": "2026-12-01T10:00:00+00:00", )"
    R"("ends_at": null, "generator_url": "", "status": "firing"}; fingerprint may be given.)";
constexpr char kLabelsHint[] =
    R"(Labels and annotations are JSON objects of strings, such as {"alertname": "ApiDown", )"
    R"("severity": "critical"}.)";
constexpr char kTimeHint[] =
    "Give an instant with an offset or Z, such as 2026-12-01T10:00:00.123+00:00, as "
    "jsonb_build_object writes a timestamptz; a timestamp without time zone has no offset.";

std::string_view kind_of(const json::Value& value) {
  switch (value.storage().index()) {
    case 0:
      return "null";
    case 1:
      return "a boolean";
    case 2:
    case 3:
      return "a number";
    case 4:
      return "a string";
    case 5:
      return "an array";
    default:
      return "an object";
  }
}

// Text from the caller, quoted as JSON and cut to a readable length, for an error message.
std::string shown(std::string_view text) {
  constexpr std::size_t kLongest = 64;
  std::string out;
  json::append_quoted(out, text.substr(0, kLongest));
  if (text.size() > kLongest) {
    out.insert(out.size() - 1, "...");
  }
  return out;
}

const std::string& string_field(const json::Value& value, const std::string& field,
                                const char* sqlstate, const char* hint) {
  const auto* text = std::get_if<std::string>(&value.storage());
  if (text == nullptr) {
    throw RuleViolation(sqlstate, field + ": " + std::string(kind_of(value)) + ", not a string",
                        hint);
  }
  return *text;
}

core::Instant instant_field(const json::Value& value, const std::string& field) {
  const std::string& text = string_field(value, field, sqlstate::kAlertTimes, kTimeHint);
  const std::optional<core::Instant> instant = ingest::parse_iso8601(text);
  if (!instant) {
    throw RuleViolation(sqlstate::kAlertTimes,
                        field + ": " + shown(text) + " is not ISO 8601 with an offset or Z",
                        kTimeHint);
  }
  return *instant;
}

Alert alert_from_json(const json::Value& value, std::size_t index) {
  const std::string name = alert_name(index);
  const auto* object = std::get_if<json::Object>(&value.storage());
  if (object == nullptr) {
    throw RuleViolation(sqlstate::kInvalidParameterValue,
                        name + ": " + std::string(kind_of(value)) + ", not an object", kAlertsHint);
  }
  Alert alert;
  bool has_labels = false;
  bool has_start = false;
  std::optional<std::string> fingerprint;
  for (const auto& [key, member] : *object) {
    std::string field = name;
    field += '.';
    field += key;
    if (key != "labels" && key != "annotations" && key != "starts_at" && key != "ends_at" &&
        key != "generator_url" && key != "fingerprint" && key != "status") {
      throw RuleViolation(sqlstate::kInvalidParameterValue,
                          name + ": no field " + shown(key) +
                              " (labels, annotations, starts_at, ends_at, generator_url, "
                              "fingerprint, status)",
                          kAlertsHint);
    }
    if (member.is_null()) {
      continue;
    }
    if (key == "labels") {
      alert.labels = labels_from_json(member, field);
      has_labels = true;
    } else if (key == "annotations") {
      alert.annotations = labels_from_json(member, field);
    } else if (key == "starts_at") {
      alert.starts_at = instant_field(member, field);
      has_start = true;
    } else if (key == "ends_at") {
      alert.ends_at = instant_field(member, field);
    } else if (key == "generator_url") {
      alert.generator_url =
          string_field(member, field, sqlstate::kInvalidParameterValue, kAlertsHint);
    } else if (key == "fingerprint") {
      fingerprint = string_field(member, field, sqlstate::kAlertLabels, kAlertsHint);
    } else {
      const std::string& status =
          string_field(member, field, sqlstate::kInvalidParameterValue, kAlertsHint);
      if (status != "firing" && status != "resolved") {
        throw RuleViolation(sqlstate::kInvalidParameterValue,
                            field + ": " + shown(status) + " is neither firing nor resolved",
                            "An alert's status is \"firing\" or \"resolved\"; a resolved alert "
                            "needs its ends_at.");
      }
      alert.resolved = status == "resolved";
    }
  }
  if (!has_labels) {
    throw RuleViolation(sqlstate::kAlertLabels, name + ".labels: missing",
                        "Every alert needs its labels, at least alertname.");
  }
  if (!has_start) {
    throw RuleViolation(sqlstate::kAlertTimes, name + ".starts_at: missing",
                        "Every alert needs starts_at, when it started firing.");
  }
  alert.fingerprint = alertmanager_fingerprint(alert.labels);
  if (fingerprint && *fingerprint != alert.fingerprint) {
    throw RuleViolation(sqlstate::kAlertLabels,
                        name + ".fingerprint: " + shown(*fingerprint) +
                            " is not the fingerprint of its labels, " + alert.fingerprint,
                        "Leave fingerprint out: it is computed from the labels with a value, as "
                        "Alertmanager computes it.");
  }
  return alert;
}

}  // namespace

Labels labels_from_json(const json::Value& object, const std::string& field) {
  const auto* members = std::get_if<json::Object>(&object.storage());
  if (members == nullptr) {
    throw RuleViolation(sqlstate::kAlertLabels,
                        field + ": " + std::string(kind_of(object)) + ", not an object",
                        kLabelsHint);
  }
  Labels labels;
  for (const auto& [name, value] : *members) {
    std::string where = field;
    where += '.';
    where += name;
    labels.emplace(name, string_field(value, where, sqlstate::kAlertLabels, kLabelsHint));
  }
  return labels;
}

std::vector<Alert> alerts_from_json(const json::Value& alerts) {
  const auto* array = std::get_if<json::Array>(&alerts.storage());
  if (array == nullptr) {
    throw RuleViolation(sqlstate::kInvalidParameterValue,
                        "alerts: " + std::string(kind_of(alerts)) + ", not an array", kAlertsHint);
  }
  std::vector<Alert> result;
  result.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    result.push_back(alert_from_json((*array)[i], i));
  }
  return result;
}

}  // namespace expense_ops::core::alert_payload
