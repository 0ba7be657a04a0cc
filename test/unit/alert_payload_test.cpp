#include "core/alert_payload.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "caught.hpp"
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

  // Go reads an absent label as "", so a pair with the empty value stays common.
  a.labels = {{"alertname", "X"}, {"note", ""}};
  b.labels = {{"alertname", "X"}};
  EXPECT_EQ(member(ap::webhook_payload(group_of({a, b})), "commonLabels"),
            R"({"alertname":"X","note":""})");
  // The first alert decides which names can be common.
  EXPECT_EQ(member(ap::webhook_payload(group_of({b, a})), "commonLabels"), R"({"alertname":"X"})");
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
