#include "core/alert_payload.hpp"

#include <date/date.h>

#include <chrono>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string_view>
#include <utility>

#include "core/error.hpp"
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
Labels common_pairs(const std::vector<Alert>& alerts, Labels Alert::*member) {
  if (alerts.empty()) {
    return {};
  }
  Labels common = alerts.front().*member;
  for (std::size_t i = 1; i < alerts.size() && !common.empty(); ++i) {
    const Labels& other = alerts[i].*member;
    for (auto it = common.begin(); it != common.end();) {
      const auto found = other.find(it->first);
      const std::string_view value =
          found == other.end() ? std::string_view() : std::string_view(found->second);
      it = value == it->second ? std::next(it) : common.erase(it);
    }
  }
  return common;
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

json::Value webhook_payload(const WebhookGroup& group) {
  if (group.truncated_alerts > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) {
    throw RuleViolation(
        sqlstate::kInvalidParameterValue,
        "truncated_alerts: " + std::to_string(group.truncated_alerts) + " is above 2^63 - 1");
  }
  bool any_firing = false;
  json::Array alerts;
  alerts.reserve(group.alerts.size());
  for (std::size_t i = 0; i < group.alerts.size(); ++i) {
    const Alert& alert = group.alerts[i];
    AlertTimes times = times_of(alert, i);
    any_firing = any_firing || !alert.resolved;
    alerts.emplace_back(json::Object{
        {"status", status_of(alert)},
        {"labels", label_object(alert.labels)},
        {"annotations", label_object(alert.annotations)},
        {"startsAt", std::move(times.starts_at)},
        // Alertmanager zeroes a firing alert's end when it flushes the group, so that the alert
        // cannot turn resolved by itself while the notification is on its way.
        {"endsAt", times.ends_at ? std::move(*times.ends_at) : std::string(kGoZeroTime)},
        {"generatorURL", alert.generator_url},
        {"fingerprint", alert.fingerprint},
    });
  }
  return json::Object{
      {"receiver", quote_meta(group.receiver)},
      {"status", any_firing ? "firing" : "resolved"},
      {"alerts", std::move(alerts)},
      {"groupLabels", label_object(group.group_labels)},
      {"commonLabels", label_object(common_pairs(group.alerts, &Alert::labels))},
      {"commonAnnotations", label_object(common_pairs(group.alerts, &Alert::annotations))},
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

}  // namespace expense_ops::core::alert_payload
