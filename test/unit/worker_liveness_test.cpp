// /healthz's verdict (worker/liveness.hpp), driven through instants, and the listen-address option.
#include <gtest/gtest.h>

#include "worker/liveness.hpp"
#include "worker_flags.hpp"

using namespace expense_ops::worker;

namespace {

const SteadyTime kStart{};

SteadyTime at(double seconds) {
  return kStart + std::chrono::duration_cast<SteadyClock::duration>(Seconds(seconds));
}

// The field of a job in the /healthz document, written as JSON; "" when there is none. (A copy:
// the document is built here, and a pointer into it would outlive it.)
std::string job_field(const Liveness::Verdict& verdict, const char* job, const char* field) {
  const expense_ops::core::json::Value document(verdict.detail);
  const auto* jobs = document.find("jobs");
  const auto* entry = jobs != nullptr ? jobs->find(job) : nullptr;
  const auto* value = entry != nullptr ? entry->find(field) : nullptr;
  return value != nullptr ? expense_ops::core::json::dump(*value) : "";
}

}  // namespace

TEST(Liveness, LiveOnceTheHeartbeatIsConnectedAndNoJobIsLate) {
  Liveness liveness;
  liveness.expect("heartbeat", Seconds(10), kStart, kLivenessGrace, /*reports_database=*/true);
  liveness.expect("rollup-requests", Seconds(30), kStart);
  EXPECT_FALSE(liveness.verdict(at(1)).live);  // not connected yet
  liveness.connected("heartbeat", true);
  liveness.connected("rollup-requests", true);
  EXPECT_TRUE(liveness.verdict(at(1)).live);
  liveness.progressed("heartbeat", at(25));
  // The rollup's last progress is the start: late after three of its intervals, 90 s.
  EXPECT_TRUE(liveness.verdict(at(50)).live);
  const Liveness::Verdict late = liveness.verdict(at(91));
  EXPECT_FALSE(late.live);
  EXPECT_EQ(job_field(late, "rollup-requests", "on_time"), "false");
  liveness.progressed("rollup-requests", at(90));
  liveness.progressed("heartbeat", at(90));
  EXPECT_TRUE(liveness.verdict(at(91)).live);
}

// The backup job set has no heartbeat: its first job stands for the database, and a backup may
// run for as long as its timeout allows without the job being late.
TEST(Liveness, ALongRunningJobIsOnTimeForItsLongestRunAndCanStandForTheDatabase) {
  Liveness liveness;
  liveness.expect("backups", Seconds(30), kStart, Seconds(3600), /*reports_database=*/true);
  EXPECT_FALSE(liveness.verdict(at(1)).live);
  liveness.connected("backups", true);
  EXPECT_TRUE(liveness.verdict(at(1)).live);
  EXPECT_TRUE(liveness.verdict(at(3599)).live);
  EXPECT_FALSE(liveness.verdict(at(3601)).live);
  // A job that does not report the database is no stand-in for it.
  Liveness other;
  other.expect("backups", Seconds(30), kStart);
  other.connected("backups", true);
  EXPECT_FALSE(other.verdict(at(1)).live);
}

TEST(Liveness, AFastJobHasAGraceOfThirtySeconds) {
  Liveness liveness;
  liveness.expect("heartbeat", Seconds(0.5), kStart, kLivenessGrace, /*reports_database=*/true);
  liveness.connected("heartbeat", true);
  EXPECT_TRUE(liveness.verdict(at(29)).live);  // 3 intervals would be 1.5 s
  EXPECT_FALSE(liveness.verdict(at(31)).live);
}

TEST(Liveness, ALostConnectionIsUnavailableAtOnce) {
  Liveness liveness;
  liveness.expect("heartbeat", Seconds(10), kStart, kLivenessGrace, /*reports_database=*/true);
  liveness.connected("heartbeat", true);
  liveness.progressed("heartbeat", at(1));
  EXPECT_TRUE(liveness.verdict(at(2)).live);
  liveness.connected("heartbeat", false);
  const Liveness::Verdict verdict = liveness.verdict(at(2));
  EXPECT_FALSE(verdict.live);
  EXPECT_EQ(expense_ops::core::json::dump(expense_ops::core::json::Value(verdict.detail))
                .find("\"status\":\"unavailable\",\"database\":false"),
            1u);
}

TEST(Liveness, StandingByIsOnTimeAndSaysSo) {
  Liveness liveness;
  liveness.expect("heartbeat", Seconds(10), kStart, kLivenessGrace, /*reports_database=*/true);
  liveness.expect("checks", Seconds(0.5), kStart);
  liveness.connected("heartbeat", true);
  liveness.connected("checks", true);
  liveness.leading("checks", false);
  liveness.progressed("checks", at(100));
  liveness.progressed("heartbeat", at(100));
  const Liveness::Verdict verdict = liveness.verdict(at(101));
  EXPECT_TRUE(verdict.live);
  EXPECT_EQ(job_field(verdict, "checks", "leading"), "false");
  EXPECT_EQ(job_field(verdict, "heartbeat", "leading"), "");  // not a job of one leader
}

TEST(ListenAddress, Forms) {
  using flags_for_tests::config_error;
  using flags_for_tests::parse_flags;
  EXPECT_EQ(parse_flags({}).listen_address, "127.0.0.1:9470");
  EXPECT_EQ(parse_flags({"--listen-address", "0.0.0.0:9100"}).listen_address, "0.0.0.0:9100");
  EXPECT_EQ(parse_flags({"--listen-address", "[::1]:9470"}).listen_address, "[::1]:9470");
  EXPECT_EQ(parse_flags({"--listen-address", "localhost:0"}).listen_address, "localhost:0");
  EXPECT_EQ(parse_flags({"--listen-address", ""}).listen_address, "");
  for (const char* bad : {"9470", ":9470", "127.0.0.1:", "127.0.0.1:65536", "host:port", "a b:1",
                          "[::1:9470", "127.0.0.1:123456"}) {
    EXPECT_NE(config_error({"--listen-address", bad}).find("--listen-address"), std::string::npos)
        << bad;
  }
}
