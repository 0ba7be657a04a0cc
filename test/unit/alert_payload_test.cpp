#include "core/alert_payload.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "caught.hpp"
#include "core/alerting.hpp"
#include "core/time.hpp"

namespace core = expense_ops::core;
namespace json = expense_ops::core::json;
namespace ap = expense_ops::core::alert_payload;
using core::Instant;
using expense_ops::test::caught;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

// 2026-12-01T10:00:00Z.
const Instant kTen = Instant(seconds(1796119200));

Instant at_micros(std::int64_t micros) {
  return Instant(microseconds(micros));
}

ap::Alert firing_alert() {
  ap::Alert alert;
  alert.labels = {{"alertname", "ApiDown"}, {"severity", "critical"}, {"service", "api"}};
  alert.annotations = {{"summary", "api.health() is down"}, {"runbook", "docs/operations.md"}};
  alert.starts_at = kTen + microseconds(123456);
  alert.generator_url = "http://prometheus:9090/graph?g0.expr=up";
  alert.fingerprint = "1a2b3c4d5e6f7081";
  return alert;
}

ap::Alert resolved_alert() {
  ap::Alert alert;
  alert.labels = {{"alertname", "ApiDown"}, {"severity", "warning"}, {"service", "api"}};
  alert.annotations = {{"summary", "api.health() is degraded"}, {"runbook", "docs/operations.md"}};
  alert.starts_at = kTen - minutes(30);
  alert.ends_at = kTen + microseconds(500000);
  alert.resolved = true;
  alert.generator_url = "http://prometheus:9090/graph?g0.expr=up";
  alert.fingerprint = "0f0e0d0c0b0a0908";
  return alert;
}

ap::WebhookGroup group_of(std::vector<ap::Alert> alerts) {
  ap::WebhookGroup group;
  group.receiver = "ops";
  group.external_url = "http://alertmanager:9093";
  group.group_key = "{}:{alertname=\"ApiDown\"}";
  group.group_labels = {{"alertname", "ApiDown"}};
  group.alerts = std::move(alerts);
  return group;
}

std::string member(const json::Value& document, const char* name) {
  const json::Value* value = document.find(name);
  return value == nullptr ? "<absent>" : json::dump(*value);
}

}  // namespace

TEST(AlertPayload, FormatsTimesAsGoDoes) {
  EXPECT_EQ(ap::format_go_time(kTen + microseconds(123456)), "2026-12-01T10:00:00.123456Z");
  // Trailing zeros of the fraction go, and the fraction goes on a whole second.
  EXPECT_EQ(ap::format_go_time(kTen + microseconds(120000)), "2026-12-01T10:00:00.12Z");
  EXPECT_EQ(ap::format_go_time(kTen + microseconds(500000)), "2026-12-01T10:00:00.5Z");
  EXPECT_EQ(ap::format_go_time(kTen + microseconds(1)), "2026-12-01T10:00:00.000001Z");
  EXPECT_EQ(ap::format_go_time(kTen), "2026-12-01T10:00:00Z");
  EXPECT_EQ(ap::format_go_time(Instant(seconds(1709251199))), "2024-02-29T23:59:59Z");
  EXPECT_EQ(ap::format_go_time(Instant{}), "1970-01-01T00:00:00Z");
  // Before 1970 the time of day still counts forwards from midnight.
  EXPECT_EQ(ap::format_go_time(at_micros(-500000)), "1969-12-31T23:59:59.5Z");
  EXPECT_EQ(ap::format_go_time(at_micros(-1)), "1969-12-31T23:59:59.999999Z");
  // Go's zero time, and the ends of the years Go writes.
  EXPECT_EQ(ap::format_go_time(Instant(seconds(-62135596800LL))), ap::kGoZeroTime);
  EXPECT_EQ(ap::format_go_time(Instant(seconds(-62167219200LL))), "0000-01-01T00:00:00Z");
  EXPECT_EQ(ap::format_go_time(Instant(seconds(253402300799LL)) + microseconds(999999)),
            "9999-12-31T23:59:59.999999Z");
}

// Across 1970-2100, Go's text is format_iso8601's with the fraction's trailing zeros trimmed.
TEST(AlertPayload, GoTimeIsIso8601Trimmed) {
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto micros = static_cast<std::int64_t>(state % 4102444800000000ULL);
    std::int64_t rounded = micros;
    switch (i % 3) {  // a third each with whole seconds and with whole milliseconds
      case 0:
        rounded -= micros % 1000000;
        break;
      case 1:
        rounded -= micros % 1000;
        break;
      default:
        break;
    }
    std::string expected = core::format_iso8601(at_micros(rounded));
    while (expected[expected.size() - 2] == '0') {
      expected.erase(expected.size() - 2, 1);
    }
    if (expected[expected.size() - 2] == '.') {
      expected.erase(expected.size() - 2, 1);
    }
    EXPECT_EQ(ap::format_go_time(at_micros(rounded)), expected) << rounded;
  }
}

TEST(AlertPayload, RefusesTimesGoCannotWrite) {
  for (const Instant instant : {Instant(seconds(253402300800LL)), Instant(seconds(-62167219201LL)),
                                at_micros(std::numeric_limits<std::int64_t>::max()),
                                at_micros(std::numeric_limits<std::int64_t>::min())}) {
    const auto violation = caught([&] { ap::format_go_time(instant); });
    EXPECT_EQ(violation.sqlstate(), "22X69");
    EXPECT_NE(std::string(violation.what()).find("outside the years 0000-9999"), std::string::npos)
        << violation.what();
  }
  ap::Alert alert = firing_alert();
  alert.starts_at = Instant(seconds(253402300800LL));
  const auto violation = caught([&] { ap::alertmanager_alerts({alert}); });
  EXPECT_EQ(violation.sqlstate(), "22X69");
  EXPECT_STREQ(violation.what(),
               "alerts[0].starts_at: 253402300800000000 microseconds since 1970 is outside the "
               "years 0000-9999");
  EXPECT_EQ(caught([&] { ap::webhook_payload(group_of({alert})); }).sqlstate(), "22X69");
}

TEST(AlertPayload, WebhookPayloadIsAlertmanagersText) {
  ap::WebhookGroup group = group_of({firing_alert(), resolved_alert()});
  group.truncated_alerts = 2;
  EXPECT_EQ(
      json::dump(ap::webhook_payload(group)),
      R"({"receiver":"ops","status":"firing","alerts":[)"
      R"({"status":"firing",)"
      R"("labels":{"alertname":"ApiDown","service":"api","severity":"critical"},)"
      R"("annotations":{"runbook":"docs/operations.md","summary":"api.health() is down"},)"
      R"("startsAt":"2026-12-01T10:00:00.123456Z","endsAt":"0001-01-01T00:00:00Z",)"
      R"("generatorURL":"http://prometheus:9090/graph?g0.expr=up",)"
      R"("fingerprint":"1a2b3c4d5e6f7081"},)"
      R"({"status":"resolved",)"
      R"("labels":{"alertname":"ApiDown","service":"api","severity":"warning"},)"
      R"("annotations":{"runbook":"docs/operations.md","summary":"api.health() is degraded"},)"
      R"("startsAt":"2026-12-01T09:30:00Z","endsAt":"2026-12-01T10:00:00.5Z",)"
      R"("generatorURL":"http://prometheus:9090/graph?g0.expr=up",)"
      R"("fingerprint":"0f0e0d0c0b0a0908"}],)"
      R"("groupLabels":{"alertname":"ApiDown"},)"
      R"("commonLabels":{"alertname":"ApiDown","service":"api"},)"
      R"("commonAnnotations":{"runbook":"docs/operations.md"},)"
      R"("externalURL":"http://alertmanager:9093","version":"4",)"
      R"("groupKey":"{}:{alertname=\"ApiDown\"}","truncatedAlerts":2})");
}

TEST(AlertPayload, StatusIsFiringWhenAnyAlertFires) {
  EXPECT_EQ(member(ap::webhook_payload(group_of({firing_alert()})), "status"), R"("firing")");
  EXPECT_EQ(member(ap::webhook_payload(group_of({resolved_alert(), firing_alert()})), "status"),
            R"("firing")");
  EXPECT_EQ(member(ap::webhook_payload(group_of({resolved_alert()})), "status"), R"("resolved")");
  EXPECT_EQ(member(ap::webhook_payload(group_of({resolved_alert(), resolved_alert()})), "status"),
            R"("resolved")");
  // As Go's loop over no alerts finds none firing.
  const json::Value empty = ap::webhook_payload(group_of({}));
  EXPECT_EQ(member(empty, "status"), R"("resolved")");
  EXPECT_EQ(member(empty, "alerts"), "[]");
  EXPECT_EQ(member(empty, "commonLabels"), "{}");
  EXPECT_EQ(member(empty, "commonAnnotations"), "{}");
  EXPECT_EQ(member(empty, "truncatedAlerts"), "0");
}

TEST(AlertPayload, FiringAlertEndsAtGosZeroTime) {
  ap::Alert alert = firing_alert();
  alert.ends_at = kTen + minutes(5);  // Prometheus's planned end: not a resolution
  const json::Value payload = ap::webhook_payload(group_of({alert}));
  const json::Value* alerts = payload.find("alerts");
  ASSERT_NE(alerts, nullptr);
  const auto& first = std::get<json::Array>(alerts->storage()).at(0);
  EXPECT_EQ(member(first, "endsAt"), R"("0001-01-01T00:00:00Z")");
  EXPECT_EQ(member(first, "status"), R"("firing")");
}

TEST(AlertPayload, CommonLabelsAndAnnotations) {
  ap::Alert a = firing_alert();
  ap::Alert b = firing_alert();
  ap::Alert c = firing_alert();
  a.labels = {{"alertname", "X"}, {"env", "prod"}, {"team", "ops"}, {"zone", "a"}};
  b.labels = {{"alertname", "X"}, {"env", "prod"}, {"team", "dev"}, {"zone", "b"}};
  c.labels = {{"alertname", "X"}, {"env", "prod"}, {"zone", "a"}};
  a.annotations = {{"summary", "s"}, {"runbook", "r"}};
  b.annotations = {{"summary", "s"}};
  c.annotations = {{"summary", "s"}, {"runbook", "r"}, {"extra", "e"}};
  const json::Value payload = ap::webhook_payload(group_of({a, b, c}));
  EXPECT_EQ(member(payload, "commonLabels"), R"({"alertname":"X","env":"prod"})");
  EXPECT_EQ(member(payload, "commonAnnotations"), R"({"summary":"s"})");

  // One alert: everything it has is common.
  const json::Value single = ap::webhook_payload(group_of({a}));
  EXPECT_EQ(member(single, "commonLabels"),
            R"({"alertname":"X","env":"prod","team":"ops","zone":"a"})");
  EXPECT_EQ(member(single, "commonAnnotations"), R"({"runbook":"r","summary":"s"})");

  // Nothing shared at all.
  b.labels = {{"alertname", "Y"}};
  b.annotations = {};
  const json::Value disjoint = ap::webhook_payload(group_of({a, b}));
  EXPECT_EQ(member(disjoint, "commonLabels"), "{}");
  EXPECT_EQ(member(disjoint, "commonAnnotations"), "{}");

  // Go reads an absent annotation as "", so a pair with the empty value stays common. (Labels
  // never have an empty value: Alertmanager drops such a label.)
  a.labels = {{"alertname", "X"}, {"instance", "1"}};
  b.labels = {{"alertname", "X"}, {"instance", "2"}};
  a.annotations = {{"summary", "s"}, {"note", ""}};
  b.annotations = {{"summary", "s"}};
  EXPECT_EQ(member(ap::webhook_payload(group_of({a, b})), "commonAnnotations"),
            R"({"note":"","summary":"s"})");
  // The first alert in Alertmanager's order, not in the caller's, decides which names can be
  // common.
  EXPECT_EQ(member(ap::webhook_payload(group_of({b, a})), "commonAnnotations"),
            R"({"note":"","summary":"s"})");
  b.labels["instance"] = "0";
  EXPECT_EQ(member(ap::webhook_payload(group_of({a, b})), "commonAnnotations"),
            R"({"summary":"s"})");
}

TEST(AlertPayload, WebhookLeavesOutLabelsWithoutValue) {
  ap::Alert alert = firing_alert();
  alert.labels["note"] = "";
  ap::WebhookGroup group = group_of({alert});
  group.group_labels = {{"alertname", "ApiDown"}, {"env", ""}};
  const json::Value payload = ap::webhook_payload(group);
  const auto& first = std::get<json::Array>(payload.find("alerts")->storage()).at(0);
  EXPECT_EQ(member(first, "labels"),
            R"({"alertname":"ApiDown","service":"api","severity":"critical"})");
  EXPECT_EQ(member(payload, "groupLabels"), R"({"alertname":"ApiDown"})");
  EXPECT_EQ(member(payload, "commonLabels"),
            R"({"alertname":"ApiDown","service":"api","severity":"critical"})");
  // ... and so does the fingerprint Alertmanager gives it.
  EXPECT_EQ(ap::alertmanager_fingerprint(alert.labels),
            core::alerting::fingerprint(firing_alert().labels));
  EXPECT_EQ(ap::alertmanager_fingerprint({{"alertname", ""}}), "cbf29ce484222325");
}

TEST(AlertPayload, WebhookSendsAlertsInAlertmanagersOrder) {
  const auto alert_with = [](core::Labels labels) {
    ap::Alert alert = firing_alert();
    alert.labels = std::move(labels);
    return alert;
  };
  // types.AlertSlice: job, then instance, each present before absent; then LabelSet.Before:
  // fewer labels first, and at the first name only one set has, the set lacking it first.
  const std::vector<ap::Alert> expected = {
      alert_with({{"alertname", "A"}, {"job", "a"}, {"instance", "1"}}),
      alert_with({{"alertname", "A"}, {"job", "a"}, {"instance", "2"}}),
      alert_with({{"alertname", "A"}, {"job", "b"}}),
      alert_with({{"alertname", "A"}, {"instance", "0"}}),
      alert_with({{"alertname", "A"}}),
      alert_with({{"alertname", "A"}, {"zz", "1"}}),
      alert_with({{"alertname", "A"}, {"c", "2"}}),
      alert_with({{"alertname", "A"}, {"b", "2"}}),
      alert_with({{"alertname", "A"}, {"b", "3"}}),
  };
  std::vector<ap::Alert> shuffled = {expected[5], expected[8], expected[2],
                                     expected[0], expected[7], expected[4],
                                     expected[1], expected[6], expected[3]};
  const json::Value payload = ap::webhook_payload(group_of(shuffled));
  const auto& alerts = std::get<json::Array>(payload.find("alerts")->storage());
  ASSERT_EQ(alerts.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    std::string labels = "{";
    for (const auto& [name, value] : expected[i].labels) {
      labels += (labels.size() > 1 ? "," : "") + std::string("\"") + name + "\":\"" + value + "\"";
    }
    EXPECT_EQ(member(alerts[i], "labels"), labels + "}") << i;
  }
}

TEST(AlertPayload, WebhookRefusesWhatAlertmanagerCannotHold) {
  ap::Alert unnamed = firing_alert();
  unnamed.labels = {{"alertname", ""}};
  const auto empty = caught([&] { ap::webhook_payload(group_of({firing_alert(), unnamed})); });
  EXPECT_EQ(empty.sqlstate(), "22X68");
  EXPECT_STREQ(empty.what(), "alerts[1].labels: an alert needs a label with a value");
  ap::Alert dashed = firing_alert();
  dashed.labels["bad-name"] = "v";
  EXPECT_EQ(caught([&] { ap::webhook_payload(group_of({dashed})); }).sqlstate(), "22X68");
}

TEST(AlertPayload, ReceiverIsQuotedAsAlertmanagerDoes) {
  ap::WebhookGroup group = group_of({firing_alert()});
  group.receiver = "team.ops (eu)+[a|b]{1}^$*?\\";
  EXPECT_EQ(member(ap::webhook_payload(group), "receiver"),
            R"("team\\.ops \\(eu\\)\\+\\[a\\|b\\]\\{1\\}\\^\\$\\*\\?\\\\")");
  group.receiver = "ops-team_1";
  EXPECT_EQ(member(ap::webhook_payload(group), "receiver"), R"("ops-team_1")");
}

TEST(AlertPayload, WebhookRefusesIncoherentTimes) {
  ap::Alert no_end = resolved_alert();
  no_end.ends_at.reset();
  const auto missing = caught([&] { ap::webhook_payload(group_of({firing_alert(), no_end})); });
  EXPECT_EQ(missing.sqlstate(), "22X69");
  EXPECT_STREQ(missing.what(), "alerts[1].ends_at: a resolved alert needs its end");

  ap::Alert backwards = resolved_alert();
  backwards.ends_at = backwards.starts_at - microseconds(1);
  const auto before = caught([&] { ap::webhook_payload(group_of({backwards})); });
  EXPECT_EQ(before.sqlstate(), "22X69");
  EXPECT_STREQ(before.what(),
               "alerts[0].ends_at: 2026-12-01T09:29:59.999999Z is before starts_at "
               "2026-12-01T09:30:00Z");

  // Ending the instant it starts is allowed, as in Alertmanager.
  ap::Alert instant = resolved_alert();
  instant.ends_at = instant.starts_at;
  const json::Value payload = ap::webhook_payload(group_of({instant}));
  EXPECT_EQ(member(payload, "status"), R"("resolved")");
}

TEST(AlertPayload, WebhookRefusesATruncationCountJsonCannotHold) {
  ap::WebhookGroup group = group_of({firing_alert()});
  group.truncated_alerts = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(member(ap::webhook_payload(group), "truncatedAlerts"), "9223372036854775807");
  group.truncated_alerts += 1;
  EXPECT_EQ(caught([&] { ap::webhook_payload(group); }).sqlstate(), "22023");
}

TEST(AlertPayload, AlertmanagerAlertsText) {
  ap::Alert firing = firing_alert();
  firing.ends_at = kTen + minutes(5);  // not sent: Alertmanager times a firing alert out itself
  firing.annotations = {};
  EXPECT_EQ(json::dump(ap::alertmanager_alerts({firing, resolved_alert()})),
            R"([{"labels":{"alertname":"ApiDown","service":"api","severity":"critical"},)"
            R"("annotations":{},"startsAt":"2026-12-01T10:00:00.123456Z",)"
            R"("generatorURL":"http://prometheus:9090/graph?g0.expr=up"},)"
            R"({"labels":{"alertname":"ApiDown","service":"api","severity":"warning"},)"
            R"("annotations":{"runbook":"docs/operations.md",)"
            R"("summary":"api.health() is degraded"},)"
            R"("startsAt":"2026-12-01T09:30:00Z","endsAt":"2026-12-01T10:00:00.5Z",)"
            R"("generatorURL":"http://prometheus:9090/graph?g0.expr=up"}])");
  EXPECT_EQ(json::dump(ap::alertmanager_alerts({})), "[]");
}

TEST(AlertPayload, AlertmanagerAlertsRefuseEmptyLabels) {
  ap::Alert empty = firing_alert();
  empty.labels = {};
  const auto violation = caught([&] { ap::alertmanager_alerts({firing_alert(), empty}); });
  EXPECT_EQ(violation.sqlstate(), "22X68");
  EXPECT_STREQ(violation.what(), "alerts[1].labels: an alert needs a label with a value");
  EXPECT_NE(violation.hint().find("alertname"), std::string::npos);

  // Alertmanager drops empty values first, so labels that are all empty are none.
  ap::Alert blank = firing_alert();
  blank.labels = {{"alertname", ""}, {"severity", ""}};
  EXPECT_EQ(caught([&] { ap::alertmanager_alerts({blank}); }).sqlstate(), "22X68");
  blank.labels["severity"] = "page";
  EXPECT_NO_THROW(ap::alertmanager_alerts({blank}));
}

TEST(AlertPayload, AlertmanagerAlertsRefuseBadNames) {
  for (const char* bad : {"", "9lives", "bad-name", "dotted.name", "with space", "caf\xC3\xA9",
                          "colon:name", "x\n"}) {
    ap::Alert alert = firing_alert();
    alert.labels[bad] = "v";
    const auto violation = caught([&] { ap::alertmanager_alerts({alert}); });
    EXPECT_EQ(violation.sqlstate(), "22X68") << bad;
    EXPECT_NE(std::string(violation.what()).find("alerts[0].labels: "), std::string::npos)
        << violation.what();
    EXPECT_NE(std::string(violation.what()).find("is not a label name"), std::string::npos)
        << violation.what();
    // Refused even on an empty value, which Alertmanager would drop.
    alert.labels[bad] = "";
    EXPECT_EQ(caught([&] { ap::alertmanager_alerts({alert}); }).sqlstate(), "22X68") << bad;

    ap::Alert annotated = firing_alert();
    annotated.annotations[bad] = "v";
    const auto annotation = caught([&] { ap::alertmanager_alerts({annotated}); });
    EXPECT_EQ(annotation.sqlstate(), "22X68") << bad;
    EXPECT_NE(std::string(annotation.what()).find("alerts[0].annotations: "), std::string::npos)
        << annotation.what();
  }
  // The message quotes the name as JSON, so that a control character shows.
  ap::Alert alert = firing_alert();
  alert.labels["x\n"] = "v";
  EXPECT_STREQ(caught([&] { ap::alertmanager_alerts({alert}); }).what(),
               "alerts[0].labels: \"x\\n\" is not a label name");

  ap::Alert good = firing_alert();
  good.labels = {{"_", "1"}, {"a1", "2"}, {"A_b_9", "3"}, {"__name__", "4"}};
  good.annotations = {{"_x", "any text, even \xE2\x9C\x93"}};
  EXPECT_NO_THROW(ap::alertmanager_alerts({good}));
}

TEST(AlertPayload, AlertmanagerAlertsRefuseValuesThatAreNotUtf8) {
  for (const char* bad :
       {"\xFF", "\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "ok\xE2\x9C"}) {
    ap::Alert alert = firing_alert();
    alert.labels["service"] = bad;
    const auto violation = caught([&] { ap::alertmanager_alerts({alert}); });
    EXPECT_EQ(violation.sqlstate(), "22X68");
    EXPECT_STREQ(violation.what(), "alerts[0].labels.service: value is not UTF-8");

    ap::Alert annotated = firing_alert();
    annotated.annotations["summary"] = bad;
    EXPECT_STREQ(caught([&] { ap::alertmanager_alerts({annotated}); }).what(),
                 "alerts[0].annotations.summary: value is not UTF-8");
  }
  ap::Alert alert = firing_alert();
  alert.labels["service"] = "\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x94\xA5 \xF4\x8F\xBF\xBF";
  EXPECT_NO_THROW(ap::alertmanager_alerts({alert}));
}

TEST(AlertPayload, AlertmanagerAlertsRefuseIncoherentTimes) {
  ap::Alert no_end = resolved_alert();
  no_end.ends_at.reset();
  EXPECT_EQ(caught([&] { ap::alertmanager_alerts({no_end}); }).sqlstate(), "22X69");
  ap::Alert backwards = resolved_alert();
  backwards.ends_at = backwards.starts_at - seconds(1);
  EXPECT_EQ(caught([&] {
              ap::alertmanager_alerts({firing_alert(), backwards});
            }).what(),
            std::string("alerts[1].ends_at: 2026-12-01T09:29:59Z is before starts_at "
                        "2026-12-01T09:30:00Z"));
  // A firing alert's ends_at is not sent, so it is not checked either.
  ap::Alert firing = firing_alert();
  firing.ends_at = firing.starts_at - seconds(1);
  EXPECT_NO_THROW(ap::alertmanager_alerts({firing}));
}

namespace {

// An alert object as the SQL functions take it: good labels and starts_at, the given fields
// put over them, and the field `omit` left out.
json::Value alert_json(const json::Object& fields, const std::string& omit = "") {
  json::Object object;
  const json::Object defaults = {
      {"labels", json::Object{{"alertname", "ApiDown"}, {"service", "api"}}},
      {"starts_at", "2026-12-01T10:00:00.123+00:00"},
  };
  for (const auto& member : defaults) {
    if (member.first != omit) {
      object.push_back(member);
    }
  }
  for (const auto& [key, value] : fields) {
    bool replaced = false;
    for (auto& existing : object) {
      if (existing.first == key) {
        existing.second = value;
        replaced = true;
      }
    }
    if (!replaced) {
      object.emplace_back(key, value);
    }
  }
  return object;
}

core::RuleViolation refused(const json::Value& alerts) {
  return caught([&] { ap::alerts_from_json(alerts); });
}

}  // namespace

TEST(AlertPayload, ReadsAlertsFromJson) {
  const std::vector<ap::Alert> alerts = ap::alerts_from_json(json::Array{
      alert_json({}),
      alert_json({{"labels", json::Object{{"alertname", "ApiDown"}, {"note", ""}}},
                  {"annotations", json::Object{{"summary", "down"}}},
                  {"starts_at", "2026-12-01T11:00:00+01:00"},
                  {"ends_at", "2026-12-01T10:30:00.5Z"},
                  {"generator_url", "http://prometheus:9090/graph"},
                  {"fingerprint", core::alerting::fingerprint({{"alertname", "ApiDown"}})},
                  {"status", "resolved"}}),
      alert_json({{"annotations", nullptr},
                  {"ends_at", nullptr},
                  {"generator_url", nullptr},
                  {"fingerprint", nullptr},
                  {"status", "firing"},
                  {"starts_at", "1800-01-01T00:19:32+00:19:32"}}),
  });
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[0].labels, (core::Labels{{"alertname", "ApiDown"}, {"service", "api"}}));
  EXPECT_TRUE(alerts[0].annotations.empty());
  EXPECT_EQ(alerts[0].starts_at, kTen + microseconds(123000));
  EXPECT_FALSE(alerts[0].ends_at.has_value());
  EXPECT_EQ(alerts[0].generator_url, "");
  EXPECT_FALSE(alerts[0].resolved);
  EXPECT_EQ(alerts[0].fingerprint, core::alerting::fingerprint(alerts[0].labels));

  // Labels keep their empty values (alertmanager_alerts checks their names), but the
  // fingerprint is Alertmanager's, without them.
  EXPECT_EQ(alerts[1].labels, (core::Labels{{"alertname", "ApiDown"}, {"note", ""}}));
  EXPECT_EQ(alerts[1].fingerprint, core::alerting::fingerprint({{"alertname", "ApiDown"}}));
  EXPECT_EQ(alerts[1].annotations, (core::Labels{{"summary", "down"}}));
  EXPECT_EQ(alerts[1].starts_at, kTen);
  EXPECT_EQ(alerts[1].ends_at, kTen + minutes(30) + microseconds(500000));
  EXPECT_EQ(alerts[1].generator_url, "http://prometheus:9090/graph");
  EXPECT_TRUE(alerts[1].resolved);

  EXPECT_FALSE(alerts[2].resolved);
  EXPECT_EQ(ap::format_go_time(alerts[2].starts_at), "1800-01-01T00:00:00Z");

  EXPECT_TRUE(ap::alerts_from_json(json::Array{}).empty());
  EXPECT_EQ(ap::labels_from_json(json::Object{{"alertname", "X"}}, "group_labels"),
            (core::Labels{{"alertname", "X"}}));
}

TEST(AlertPayload, RefusesMalformedAlertsFromJson) {
  struct Case {
    json::Value alerts;
    const char* sqlstate;
    const char* message;
  };
  const Case cases[] = {
      {json::Object{}, "22023", "alerts: an object, not an array"},
      {nullptr, "22023", "alerts: null, not an array"},
      {json::Array{alert_json({}), "x"}, "22023", "alerts[1]: a string, not an object"},
      {json::Array{alert_json({{"startsAt", "2026-12-01T10:00:00Z"}})}, "22023",
       "alerts[0]: no field \"startsAt\" (labels, annotations, starts_at, ends_at, "
       "generator_url, fingerprint, status)"},
      {json::Array{alert_json({{"status", "pending"}})}, "22023",
       "alerts[0].status: \"pending\" is neither firing nor resolved"},
      {json::Array{alert_json({{"status", true}})}, "22023",
       "alerts[0].status: a boolean, not a string"},
      {json::Array{alert_json({{"generator_url", 5}})}, "22023",
       "alerts[0].generator_url: a number, not a string"},
      {json::Array{alert_json({}, "labels")}, "22X68", "alerts[0].labels: missing"},
      {json::Array{alert_json({{"labels", nullptr}})}, "22X68", "alerts[0].labels: missing"},
      {json::Array{alert_json({{"labels", json::Array{}}})}, "22X68",
       "alerts[0].labels: an array, not an object"},
      {json::Array{alert_json({{"labels", json::Object{{"alertname", "X"}, {"code", 500}}}})},
       "22X68", "alerts[0].labels.code: a number, not a string"},
      {json::Array{alert_json({{"annotations", "text"}})}, "22X68",
       "alerts[0].annotations: a string, not an object"},
      {json::Array{alert_json({{"fingerprint", "0000000000000000"}})}, "22X68",
       "alerts[0].fingerprint: \"0000000000000000\" is not the fingerprint of its labels, "
       "a91422bb047fc3f7"},
      {json::Array{alert_json({}, "starts_at")}, "22X69", "alerts[0].starts_at: missing"},
      {json::Array{alert_json({{"starts_at", "2026-12-01T10:00:00"}})}, "22X69",
       "alerts[0].starts_at: \"2026-12-01T10:00:00\" is not ISO 8601 with an offset or Z"},
      {json::Array{alert_json({{"ends_at", "infinity"}})}, "22X69",
       "alerts[0].ends_at: \"infinity\" is not ISO 8601 with an offset or Z"},
      {json::Array{alert_json({{"starts_at", 1796119200}})}, "22X69",
       "alerts[0].starts_at: a number, not a string"},
  };
  for (const Case& c : cases) {
    const auto violation = refused(c.alerts);
    EXPECT_EQ(violation.sqlstate(), c.sqlstate) << c.message;
    EXPECT_STREQ(violation.what(), c.message);
    EXPECT_FALSE(violation.hint().empty()) << c.message;
  }
  const auto label_set = caught([] { ap::labels_from_json(json::Array{}, "group_labels"); });
  EXPECT_EQ(label_set.sqlstate(), "22X68");
  EXPECT_STREQ(label_set.what(), "group_labels: an array, not an object");
}
