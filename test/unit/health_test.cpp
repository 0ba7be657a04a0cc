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

health::DatabaseFacts streaming_standby() {
  auto facts = healthy_database();
  facts.in_recovery = true;
  facts.wal_receiver_status = "streaming";
  facts.seconds_since_primary_message = 2.0;
  facts.standby_replay_lag_bytes = 0;
  facts.wal_pending = false;
  facts.seconds_since_last_replayed_commit = 5.0;
  facts.seconds_since_replay_caught_up = 5.0;
  return facts;
}

health::ServiceFacts streaming_standby_service() {
  auto facts = healthy_service();
  facts.in_recovery = true;
  facts.wal_receiver_status = "streaming";
  facts.seconds_since_primary_message = 3.0;
  return facts;
}

std::vector<std::string> keys(const json::Value& object) {
  std::vector<std::string> names;
  for (const auto& member : std::get<json::Object>(object.storage())) {
    names.push_back(member.first);
  }
  return names;
}

std::vector<std::string> checks(const std::vector<health::Finding>& findings) {
  std::vector<std::string> names;
  names.reserve(findings.size());
  for (const auto& finding : findings) {
    names.push_back(finding.check);
  }
  return names;
}

using Names = std::vector<std::string>;

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
  const json::Value report = health::database_health(healthy_database(), health::Detail::kFull);
  EXPECT_EQ(field(report, "status"), "\"ok\"");
  EXPECT_EQ(field(report, "findings"), "[]");
  EXPECT_EQ(field(*report.find("connections"), "percent"), "10");
  EXPECT_EQ(field(*report.find("database"), "cache_hit_ratio"), "0.99");
  EXPECT_EQ(field(*report.find("replication"), "role"), "\"primary\"");
}

TEST(DatabaseHealth, TheDetailHoldsTheRecoveryObjectivesAndTheCoarseReportNothingOfThem) {
  auto facts = healthy_database();
  EXPECT_EQ(health::database_health(facts, health::Detail::kFull).find("backups"), nullptr)
      << "an extension before 0.8.0 reports no backups";
  health::BackupFacts backups;
  backups.rpo_seconds = 3600.5;
  backups.restorable_at = "2026-12-02T02:00:00+00:00";
  backups.restorable_from = "backup";
  backups.last_restore_test_status = "passed";
  backups.last_rto_seconds = 42.0;
  backups.wal_archiving = "off";
  facts.backups = backups;
  const json::Value full = health::database_health(facts, health::Detail::kFull);
  ASSERT_NE(full.find("backups"), nullptr);
  EXPECT_EQ(field(*full.find("backups"), "rpo_seconds"), "3600.5");
  EXPECT_EQ(field(*full.find("backups"), "rto_seconds"), "42");
  EXPECT_EQ(field(*full.find("backups"), "restorable_from"), "\"backup\"");
  EXPECT_EQ(field(*full.find("backups"), "last_restore_test_at"), "null");
  EXPECT_EQ(field(full, "status"), "\"ok\"") << "the objectives are alerts, not health findings";
  EXPECT_EQ(health::database_health(facts, health::Detail::kCoarse).find("backups"), nullptr);
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

  auto standby = streaming_standby();
  standby.wal_pending = true;
  standby.seconds_since_last_replayed_commit = 61.0;
  standby.seconds_since_replay_caught_up = 900.0;
  const json::Value report = health::database_health(standby, health::Detail::kFull);
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
  const json::Value report = health::database_health(facts, health::Detail::kFull);
  EXPECT_EQ(field(report, "status"), "\"down\"");
  EXPECT_EQ(health::database_findings(facts).size(), 2u);
}

TEST(DatabaseHealth, AStreamingStandbyIsOk) {
  const json::Value report = health::database_health(streaming_standby(), health::Detail::kFull);
  EXPECT_EQ(field(report, "status"), "\"ok\"");
  EXPECT_EQ(field(report, "findings"), "[]");
  const json::Value& replication = *report.find("replication");
  EXPECT_EQ(keys(replication), (Names{"role", "wal_receiver", "seconds_since_primary_message",
                                      "replay_lag_seconds", "replay_lag_bytes"}));
  EXPECT_EQ(field(replication, "wal_receiver"), "\"streaming\"");
  EXPECT_EQ(field(replication, "seconds_since_primary_message"), "2");
  EXPECT_EQ(field(replication, "replay_lag_seconds"), "0");
  EXPECT_EQ(field(replication, "replay_lag_bytes"), "0");
}

TEST(DatabaseHealth, PrimarySilenceDegradesAfterTwoMissedKeepalives) {
  auto standby = streaming_standby();
  standby.seconds_since_primary_message = 59.0;
  EXPECT_TRUE(health::database_findings(standby).empty());
  standby.seconds_since_primary_message = 60.0;
  const auto findings = health::database_findings(standby);
  ASSERT_EQ(checks(findings), Names{"replication"});
  EXPECT_EQ(findings[0].status, health::Status::kDegraded);
  EXPECT_NE(findings[0].message.find("no message from the primary for 60 s"), std::string::npos);
  standby.seconds_since_primary_message.reset();  // unknown is no evidence of silence
  EXPECT_TRUE(health::database_findings(standby).empty());
}

TEST(DatabaseHealth, AStandbyWithoutAWalReceiverIsDegradedDespiteZeroLag) {
  auto standby = streaming_standby();
  standby.wal_receiver_status.reset();
  standby.seconds_since_primary_message.reset();
  const auto findings = health::database_findings(standby);
  ASSERT_EQ(checks(findings), Names{"replication"});
  EXPECT_NE(findings[0].message.find("no WAL receiver"), std::string::npos);
  EXPECT_NE(findings[0].message.find("primary_conninfo"), std::string::npos);
  const json::Value report = health::database_health(standby, health::Detail::kFull);
  EXPECT_EQ(field(report, "status"), "\"degraded\"");
  EXPECT_EQ(field(*report.find("replication"), "wal_receiver"), "null");
  EXPECT_EQ(field(*report.find("replication"), "replay_lag_seconds"), "0");
}

TEST(DatabaseHealth, AReceiverThatIsNotStreamingIsDegraded) {
  auto standby = streaming_standby();
  standby.wal_receiver_status = "waiting";
  const auto findings = health::database_findings(standby);
  ASSERT_EQ(checks(findings), Names{"replication"});
  EXPECT_NE(findings[0].message.find("WAL receiver is waiting"), std::string::npos);
}

TEST(DatabaseHealth, ReplayLagNothingPendingIsZeroEvenLongAfterTheLastCommit) {
  auto standby = streaming_standby();
  standby.seconds_since_last_replayed_commit = 3600.0;
  standby.seconds_since_replay_caught_up = 3600.0;
  EXPECT_EQ(health::standby_replay_lag_seconds(standby), 0.0);
  EXPECT_TRUE(health::database_findings(standby).empty());
}

TEST(DatabaseHealth, ReplayLagOneCommitAfterAnIdlePeriodIsNotBehindByTheIdleTime) {
  auto standby = streaming_standby();
  standby.wal_pending = true;
  standby.seconds_since_last_replayed_commit = 112.0;  // the commit before 70 idle seconds
  standby.seconds_since_replay_caught_up = 0.5;        // the new commit just arrived
  EXPECT_EQ(health::standby_replay_lag_seconds(standby), 0.5);
  EXPECT_TRUE(health::database_findings(standby).empty());
}

TEST(DatabaseHealth, ReplayLagSteadyLagIsTheAgeOfTheLastReplayedCommit) {
  auto standby = streaming_standby();
  standby.wal_pending = true;
  standby.seconds_since_last_replayed_commit = 75.0;
  standby.seconds_since_replay_caught_up = 3600.0;  // replay has trailed for an hour
  EXPECT_EQ(health::standby_replay_lag_seconds(standby), 75.0);
  const auto findings = health::database_findings(standby);
  ASSERT_EQ(checks(findings), Names{"replication_lag"});
  EXPECT_NE(findings[0].message.find("75 s behind"), std::string::npos);
}

TEST(DatabaseHealth, ReplayLagUsesWhicheverAgeIsKnown) {
  auto standby = streaming_standby();
  standby.wal_pending = true;
  standby.seconds_since_last_replayed_commit.reset();  // nothing replayed since startup
  standby.seconds_since_replay_caught_up = 8.0;
  EXPECT_EQ(health::standby_replay_lag_seconds(standby), 8.0);
  standby.seconds_since_replay_caught_up.reset();
  EXPECT_FALSE(health::standby_replay_lag_seconds(standby).has_value());
  standby.seconds_since_last_replayed_commit = -2.0;  // the primary's clock runs ahead
  EXPECT_EQ(health::standby_replay_lag_seconds(standby), 0.0);
  EXPECT_FALSE(health::standby_replay_lag_seconds(healthy_database()).has_value());
}

TEST(DatabaseHealth, APrimaryNoticesMissingReplicas) {
  auto primary = healthy_database();
  primary.expected_replicas = 1;
  auto findings = health::database_findings(primary);  // its only replica went away
  ASSERT_EQ(checks(findings), Names{"replication"});
  EXPECT_NE(findings[0].message.find("0 of 1 expected replicas stream"), std::string::npos);

  primary.expected_replicas = 2;
  primary.replicas.push_back({"replica-1", "10.0.0.2", "streaming", "async", 1.0, 0});
  findings = health::database_findings(primary);
  ASSERT_EQ(checks(findings), Names{"replication"});
  EXPECT_EQ(findings[0].status, health::Status::kDegraded);
  EXPECT_NE(findings[0].message.find("1 of 2 expected replicas stream"), std::string::npos);

  primary.replicas.push_back({"replica-2", "10.0.0.3", "catchup", "async", std::nullopt, 1 << 20});
  findings = health::database_findings(primary);
  ASSERT_EQ(checks(findings), Names{"replication"});
  EXPECT_NE(findings[0].message.find("replica-2 is in state catchup"), std::string::npos);
  const json::Value report = health::database_health(primary, health::Detail::kFull);
  EXPECT_EQ(field(*report.find("replication"), "streaming_replicas"), "1");
  EXPECT_EQ(field(*report.find("replication"), "expected_replicas"), "2");

  primary.replicas[1].state = "streaming";
  EXPECT_TRUE(health::database_findings(primary).empty());
}

TEST(DatabaseHealth, CoarseDetailShowsOnlyTheStatusAndTheRole) {
  auto primary = healthy_database();
  primary.expected_replicas = 2;
  primary.replicas.push_back({"replica-1", "10.0.0.2", "catchup", "async", 90.0, 4096});
  const json::Value report = health::database_health(primary, health::Detail::kCoarse);
  EXPECT_EQ(keys(report), (Names{"status", "in_recovery", "replication", "findings"}));
  EXPECT_EQ(field(report, "status"), "\"degraded\"");
  EXPECT_EQ(field(report, "replication"), "{\"role\":\"primary\"}");
  EXPECT_EQ(field(report, "findings"),
            "[{\"check\":\"replication\",\"status\":\"degraded\"},"
            "{\"check\":\"replication_lag\",\"status\":\"degraded\"}]");
  const std::string text = json::dump(report);
  for (const char* secret : {"server_version", "15.20", "client_addr", "10.0.0.2", "replica-1",
                             "message", "expense_ops", "connections"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }

  const json::Value standby = health::database_health(streaming_standby(), health::Detail::kCoarse);
  EXPECT_EQ(json::dump(standby),
            "{\"status\":\"ok\",\"in_recovery\":true,\"replication\":{\"role\":\"standby\"},"
            "\"findings\":[]}");
}

TEST(ServiceHealth, AStreamingStandbyReportsItsReceiver) {
  const json::Value report = health::service_health(streaming_standby_service());
  EXPECT_EQ(field(report, "status"), "\"ok\"");
  EXPECT_EQ(field(report, "replication"),
            "{\"role\":\"standby\",\"wal_receiver\":\"streaming\",\"streaming\":true,"
            "\"seconds_since_primary_message\":3}");
  EXPECT_EQ(field(health::service_health(healthy_service()), "replication"), "<absent>");
}

TEST(ServiceHealth, ASilentPrimaryCutsTheStandbyOffAtTheThreshold) {
  auto facts = streaming_standby_service();
  facts.seconds_since_primary_message = 59.0;
  EXPECT_EQ(field(health::service_health(facts), "status"), "\"ok\"");
  facts.seconds_since_primary_message = 60.0;
  const json::Value report = health::service_health(facts);
  EXPECT_EQ(field(report, "status"), "\"degraded\"");
  EXPECT_NE(field(report, "findings").find("\"check\":\"replication\""), std::string::npos);
}

TEST(ServiceHealth, ACutOffStandbyBlamesReplicationBeforeTheWorker) {
  auto facts = streaming_standby_service();
  facts.wal_receiver_status.reset();
  facts.seconds_since_primary_message.reset();
  facts.latest_heartbeat->last_seen = kNow - seconds(95);
  const json::Value report = health::service_health(facts);
  EXPECT_EQ(field(report, "status"), "\"degraded\"");
  EXPECT_EQ(field(report, "replication"),
            "{\"role\":\"standby\",\"wal_receiver\":null,\"streaming\":false,"
            "\"seconds_since_primary_message\":null}");
  const std::string findings = field(report, "findings");
  const auto replication = findings.find("\"check\":\"replication\"");
  const auto worker = findings.find("\"check\":\"worker\"");
  ASSERT_NE(replication, std::string::npos);
  ASSERT_NE(worker, std::string::npos);
  EXPECT_LT(replication, worker);
  EXPECT_NE(findings.find("no WAL receiver"), std::string::npos);
  EXPECT_NE(findings.find("no worker heartbeat for 95 s"), std::string::npos);
  EXPECT_NE(findings.find("heartbeats are written on the primary"), std::string::npos);
  EXPECT_NE(findings.find("cut off from its primary"), std::string::npos);

  facts.latest_heartbeat.reset();
  EXPECT_NE(field(health::service_health(facts), "findings")
                .find("no worker heartbeat has reached this standby; heartbeats are written"),
            std::string::npos);
}

TEST(ServiceHealth, AStaleWorkerOnAConnectedStandbyIsTheWorkersOwnFault) {
  auto facts = streaming_standby_service();
  facts.latest_heartbeat->last_seen = kNow - seconds(95);
  const std::string findings = field(health::service_health(facts), "findings");
  EXPECT_EQ(findings.find("\"check\":\"replication\""), std::string::npos);
  EXPECT_NE(findings.find("no worker heartbeat for 95 s"), std::string::npos);
  EXPECT_EQ(findings.find("cut off"), std::string::npos);
}
