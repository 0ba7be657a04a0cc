#include "core/health.hpp"

#include <gtest/gtest.h>

namespace health = expense_ops::core::health;
namespace json = expense_ops::core::json;
using expense_ops::core::Instant;
using std::chrono::seconds;

namespace {

const Instant kNow = Instant(std::chrono::microseconds(1795710343000000LL));

health::ServiceFacts healthy_service() {
  health::ServiceFacts facts;
  facts.installed_version = "0.1.0";
  facts.library_version = "0.1.0";
  facts.now = kNow;
  facts.database = "expense_ops";
  facts.oldest_xid_age = 1000;
  facts.latest_heartbeat = health::WorkerHeartbeat{"w1", "host-a", kNow - seconds(4), 10.0};
  return facts;
}

std::string field(const json::Value& document, const char* name) {
  const json::Value* value = document.find(name);
  return value == nullptr ? "<absent>" : json::dump(*value);
}

health::DatabaseFacts healthy_database() {
  health::DatabaseFacts facts;
  facts.server_version = "15.20";
  facts.server_version_num = 150020;
  facts.connections_used = 10;
  facts.max_connections = 103;
  facts.reserved_connections = 3;
  facts.oldest_xid_age = 5000;
  facts.database = "expense_ops";
  facts.size_bytes = 8 << 20;
  facts.blocks_hit = 99000;
  facts.blocks_read = 1000;
  return facts;
}

}  // namespace

TEST(Status, WorstWins) {
  EXPECT_EQ(health::worst(health::Status::kOk, health::Status::kDegraded),
            health::Status::kDegraded);
  EXPECT_EQ(health::worst(health::Status::kDown, health::Status::kDegraded), health::Status::kDown);
  EXPECT_EQ(health::to_string(health::Status::kDown), "down");
}

TEST(ServiceHealth, OkWithAFreshHeartbeat) {
  const json::Value report = health::service_health(healthy_service());
  EXPECT_EQ(field(report, "status"), "\"ok\"");
  EXPECT_EQ(field(report, "version"), "\"0.1.0\"");
  EXPECT_EQ(field(report, "time"), "\"2026-11-26T16:25:43.000000Z\"");
  EXPECT_EQ(field(report, "database"), "\"expense_ops\"");
  EXPECT_EQ(field(report, "findings"), "[]");
  const json::Value& worker = *report.find("worker");
  EXPECT_EQ(field(worker, "status"), "\"ok\"");
  EXPECT_EQ(field(worker, "age_seconds"), "4");
  EXPECT_EQ(field(worker, "last_heartbeat"), "\"2026-11-26T16:25:39.000000Z\"");
}

TEST(ServiceHealth, WorkerStaleExactlyAfterThreeIntervals) {
  auto facts = healthy_service();
  facts.latest_heartbeat->last_seen = kNow - seconds(30);
  EXPECT_EQ(health::worker_state(facts, {}), "ok");
  facts.latest_heartbeat->last_seen = kNow - seconds(31);
  EXPECT_EQ(health::worker_state(facts, {}), "stale");
  const json::Value report = health::service_health(facts);
  EXPECT_EQ(field(report, "status"), "\"degraded\"");
  EXPECT_NE(field(report, "findings").find("no worker heartbeat for 31 s"), std::string::npos);
}

TEST(ServiceHealth, StalenessFollowsTheWorkersOwnInterval) {
  auto facts = healthy_service();
  facts.latest_heartbeat->interval_seconds = 1.0;
  facts.latest_heartbeat->last_seen = kNow - seconds(4);
  EXPECT_EQ(health::worker_state(facts, {}), "stale");
  health::ServiceThresholds lenient;
  lenient.missed_heartbeats = 5;
  EXPECT_EQ(health::worker_state(facts, lenient), "ok");
}

TEST(ServiceHealth, DegradedWithoutAnyWorker) {
  auto facts = healthy_service();
  facts.latest_heartbeat.reset();
  const json::Value report = health::service_health(facts);
  EXPECT_EQ(field(report, "status"), "\"degraded\"");
  EXPECT_EQ(field(*report.find("worker"), "status"), "\"missing\"");
  EXPECT_EQ(field(*report.find("worker"), "age_seconds"), "null");
}

TEST(ServiceHealth, AHeartbeatFromTheFutureHasAgeZero) {
  auto facts = healthy_service();
  facts.latest_heartbeat->last_seen = kNow + seconds(1);
  const json::Value report = health::service_health(facts);
  EXPECT_EQ(field(*report.find("worker"), "age_seconds"), "0");
  EXPECT_EQ(field(report, "status"), "\"ok\"");
}

TEST(ServiceHealth, VersionMismatchDegradesAndSaysWhatToRun) {
  auto facts = healthy_service();
  facts.installed_version = "0.0.9";
  const json::Value report = health::service_health(facts);
  EXPECT_EQ(field(report, "status"), "\"degraded\"");
  EXPECT_NE(field(report, "findings").find("ALTER EXTENSION expense_ops UPDATE"),
            std::string::npos);
}

TEST(ServiceHealth, WraparoundDegradesThenGoesDown) {
  auto facts = healthy_service();
  facts.oldest_xid_age = 1'073'741'823;  // just under 50 %
  EXPECT_EQ(field(health::service_health(facts), "status"), "\"ok\"");
  facts.oldest_xid_age = 1'073'741'824;  // 50 %
  EXPECT_EQ(field(health::service_health(facts), "status"), "\"degraded\"");
  facts.oldest_xid_age = 2'040'109'466;  // 95 %
  EXPECT_EQ(field(health::service_health(facts), "status"), "\"down\"");
}

TEST(DatabaseHealth, OkWhenEverythingIsWithinThresholds) {
  const json::Value report = health::database_health(healthy_database());
  EXPECT_EQ(field(report, "status"), "\"ok\"");
  EXPECT_EQ(field(report, "findings"), "[]");
  EXPECT_EQ(field(*report.find("connections"), "percent"), "10");
  EXPECT_EQ(field(*report.find("database"), "cache_hit_ratio"), "0.99");
  EXPECT_EQ(field(*report.find("replication"), "role"), "\"primary\"");
}

TEST(DatabaseHealth, ConnectionThresholdsCountOnlyOrdinarySlots) {
  auto facts = healthy_database();
  facts.connections_used = 79;  // of 100 ordinary slots
  EXPECT_EQ(health::database_findings(facts).size(), 0u);
  facts.connections_used = 80;
  auto findings = health::database_findings(facts);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].check, "connections");
  EXPECT_EQ(findings[0].status, health::Status::kDegraded);
  facts.connections_used = 95;
  EXPECT_EQ(health::database_findings(facts)[0].status, health::Status::kDown);
}

TEST(DatabaseHealth, NoOrdinarySlotsMeansFull) {
  auto facts = healthy_database();
  facts.max_connections = 3;
  facts.reserved_connections = 3;
  EXPECT_DOUBLE_EQ(health::connections_percent(facts), 100.0);
}

TEST(DatabaseHealth, LongTransactionsDegrade) {
  auto facts = healthy_database();
  facts.longest_transaction_seconds = 299.0;
  EXPECT_TRUE(health::database_findings(facts).empty());
  facts.longest_transaction_seconds = 300.0;
  EXPECT_EQ(health::database_findings(facts).at(0).check, "long_transaction");
}

TEST(DatabaseHealth, ReplicationLagDegradesOnPrimaryAndStandby) {
  auto primary = healthy_database();
  primary.replicas.push_back({"replica-1", "10.0.0.2", "streaming", "async", 12.0, 4096});
  EXPECT_TRUE(health::database_findings(primary).empty());
  primary.replicas.push_back({"replica-2", std::nullopt, "streaming", "async", 75.0, 1 << 20});
  const auto findings = health::database_findings(primary);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_NE(findings[0].message.find("replica-2"), std::string::npos);

  auto standby = healthy_database();
  standby.in_recovery = true;
  standby.standby_replay_lag_seconds = 61.0;
  const json::Value report = health::database_health(standby);
  EXPECT_EQ(field(report, "status"), "\"degraded\"");
  EXPECT_EQ(field(*report.find("replication"), "role"), "\"standby\"");
  EXPECT_EQ(field(*report.find("replication"), "replay_lag_seconds"), "61");
}

TEST(DatabaseHealth, CacheHitRatioNeedsEnoughReadsToJudge) {
  auto facts = healthy_database();
  facts.blocks_hit = 50;
  facts.blocks_read = 50;  // a ratio of 0.5, but over 100 blocks it says nothing
  EXPECT_TRUE(health::database_findings(facts).empty());
  facts.blocks_hit = 8000;
  facts.blocks_read = 2000;
  EXPECT_EQ(health::database_findings(facts).at(0).check, "cache_hit_ratio");
  facts.blocks_hit = 0;
  facts.blocks_read = 0;
  EXPECT_FALSE(health::cache_hit_ratio(facts).has_value());
}

TEST(DatabaseHealth, StatusIsTheWorstFinding) {
  auto facts = healthy_database();
  facts.longest_transaction_seconds = 900.0;
  facts.connections_used = 99;
  const json::Value report = health::database_health(facts);
  EXPECT_EQ(field(report, "status"), "\"down\"");
  EXPECT_EQ(health::database_findings(facts).size(), 2u);
}
