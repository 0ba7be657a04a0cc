#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "worker/config.hpp"
#include "worker/job.hpp"
#include "worker/stop_source.hpp"

using expense_ops::worker::ConfigError;
using expense_ops::worker::failure_event;
using expense_ops::worker::parse_command_line;
using expense_ops::worker::registered_jobs;
using expense_ops::worker::Seconds;
using expense_ops::worker::StopSource;

namespace {

expense_ops::worker::WorkerConfig parse(std::vector<std::string> flags,
                                        std::map<std::string, std::string> environment = {}) {
  flags.insert(flags.begin(), {"expense-ops-worker", "--dsn", "host=/tmp dbname=x"});
  return parse_command_line(
             flags,
             [environment](const std::string& name) -> std::optional<std::string> {
               const auto it = environment.find(name);
               return it == environment.end() ? std::nullopt
                                              : std::optional<std::string>(it->second);
             },
             "this-host")
      .config;
}

}  // namespace

// Each file under worker/jobs/ registers one job; the heartbeat starts first.
TEST(WorkerJobs, EveryJobFileIsRegisteredOnce) {
  std::vector<std::string> names;
  for (const auto& job : registered_jobs()) {
    names.push_back(job.name);
    EXPECT_FALSE(job.function.empty()) << job.name;
    EXPECT_FALSE(job.help.empty()) << job.name;
    EXPECT_GE(job.default_interval_seconds, 0.1) << job.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "heartbeat", "backups", "checks", "deliver-notifications", "evaluate-alerts",
                       "host-samples", "maintain-partitions", "rollup-requests",
                       "sample-statements", "ship-logs", "sla-refresh"}));
}

// The database's schedules have one leader among several workers; what is each worker's own
// (its beat, its host, its files) and what is shared through leases (the outbox) do not.
TEST(WorkerJobs, TheDatabasesSchedulesHaveOneLeader) {
  std::vector<std::string> led;
  for (const auto& job : registered_jobs()) {
    if (job.one_leader) {
      led.push_back(job.name);
    }
  }
  EXPECT_EQ(led,
            (std::vector<std::string>{"backups", "checks", "evaluate-alerts", "maintain-partitions",
                                      "rollup-requests", "sample-statements", "sla-refresh"}));
}

// The backup job set runs the backups alone: the default set runs everything else.
TEST(WorkerJobs, TheBackupJobSetHoldsTheBackupsAndNothingElse) {
  std::vector<std::string> backup_set;
  for (const auto& job : expense_ops::worker::jobs_of_set("backup")) {
    backup_set.push_back(job.name);
    ASSERT_TRUE(job.longest_run) << "a backup may take hours without being late";
  }
  EXPECT_EQ(backup_set, (std::vector<std::string>{"backups"}));
  for (const auto& job : expense_ops::worker::jobs_of_set("default")) {
    EXPECT_NE(job.name, "backups");
  }
  EXPECT_TRUE(expense_ops::worker::jobs_of_set("nightly").empty());
}

TEST(WorkerJobs, EachJobHasAnIntervalKey) {
  const auto defaults = parse({});
  for (const auto& job : registered_jobs()) {
    EXPECT_DOUBLE_EQ(defaults.interval_of(job.name).count(), job.default_interval_seconds)
        << job.name;
  }
  EXPECT_DOUBLE_EQ(defaults.interval_of("rollup-requests").count(), 30.0);
  EXPECT_DOUBLE_EQ(defaults.interval_of("maintain-partitions").count(), 3600.0);
  EXPECT_DOUBLE_EQ(
      parse({"--rollup-requests-interval", "5"}).interval_of("rollup-requests").count(), 5.0);
  EXPECT_DOUBLE_EQ(parse({}, {{"EXPENSE_OPS_EVALUATE_ALERTS_INTERVAL", "2.5"}})
                       .interval_of("evaluate-alerts")
                       .count(),
                   2.5);
  // The heartbeat's is also what the database is told.
  EXPECT_DOUBLE_EQ(parse({"--heartbeat-interval", "3"}).interval_of("heartbeat").count(), 3.0);
  EXPECT_THROW(defaults.interval_of("no-such-job"), std::out_of_range);
}

TEST(WorkerJobs, ABadIntervalNamesItsKey) {
  try {
    parse({"--evaluate-alerts-interval", "0"});
    FAIL() << "accepted an interval of 0";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("--evaluate-alerts-interval"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(parse({"--sample-statements-interval", "never"}), ConfigError);
}

TEST(WorkerJobs, FailureEventsFollowTheJobName) {
  EXPECT_EQ(failure_event("heartbeat"), "heartbeat_failed");
  EXPECT_EQ(failure_event("rollup-requests"), "rollup_requests_failed");
}

TEST(WorkerJobs, AStopWakesEveryWaitingThreadAtOnce) {
  StopSource stop;
  EXPECT_FALSE(stop.wait_for(Seconds(0.01)));  // times out, not stopped
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> waiters;
  std::vector<int> woken(3, 0);
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&stop, &woken, i] { woken[i] = stop.wait_for(Seconds(30)) ? 1 : 0; });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop.request_stop();
  for (auto& waiter : waiters) {
    waiter.join();
  }
  EXPECT_EQ(woken, (std::vector<int>{1, 1, 1}));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_TRUE(stop.stop_requested());
  EXPECT_TRUE(stop.wait_for(Seconds(30)));  // already stopped: no wait
}
