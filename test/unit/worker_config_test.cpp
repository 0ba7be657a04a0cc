#include "worker/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "worker/backoff.hpp"

using expense_ops::worker::Backoff;
using expense_ops::worker::ConfigError;
using expense_ops::worker::parse_command_line;
using expense_ops::worker::ParsedCommandLine;
using expense_ops::worker::Seconds;

namespace {

struct FakeEnvironment {
  std::map<std::string, std::string> variables;
  expense_ops::worker::EnvironmentLookup lookup() const {
    return [this](const std::string& name) -> std::optional<std::string> {
      const auto it = variables.find(name);
      return it == variables.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  }
};

ParsedCommandLine parse(std::vector<std::string> flags, const FakeEnvironment& environment = {}) {
  flags.insert(flags.begin(), "expense-ops-worker");
  return parse_command_line(flags, environment.lookup(), "this-host");
}

std::string config_error(std::vector<std::string> flags, const FakeEnvironment& environment = {}) {
  try {
    parse(std::move(flags), environment);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "<no error>";
}

std::string write_file(const std::string& text) {
  char path[] = "/tmp/expense_ops_worker_config_XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(WorkerConfig, DefaultsNeedOnlyADsn) {
  const auto parsed = parse({"--dsn", "host=/tmp dbname=x"});
  EXPECT_EQ(parsed.action, ParsedCommandLine::Action::kRun);
  EXPECT_EQ(parsed.config.dsn, "host=/tmp dbname=x");
  EXPECT_EQ(parsed.config.worker_id, "this-host");
  EXPECT_DOUBLE_EQ(parsed.config.heartbeat_interval.count(), 10.0);
  EXPECT_DOUBLE_EQ(parsed.config.sla_refresh_interval.count(), 15.0);
  EXPECT_DOUBLE_EQ(parsed.config.reconnect_initial_delay.count(), 1.0);
  EXPECT_DOUBLE_EQ(parsed.config.reconnect_max_delay.count(), 30.0);
  EXPECT_EQ(parsed.config.log_level, "info");
}

TEST(WorkerConfig, DsnFromTheEnvironment) {
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "dbname=from_env"}, {"EXPENSE_OPS_HEARTBEAT_INTERVAL", "2.5"}}};
  const auto parsed = parse({}, environment);
  EXPECT_EQ(parsed.config.dsn, "dbname=from_env");
  EXPECT_DOUBLE_EQ(parsed.config.heartbeat_interval.count(), 2.5);
}

TEST(WorkerConfig, FlagsBeatEnvironmentWhichBeatsTheFile) {
  const std::string path = write_file(
      "dsn = dbname=from_file\nworker-id = file-worker\n"
      "heartbeat-interval = 7\nlog-level = debug\n");
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "dbname=from_env"}, {"EXPENSE_OPS_WORKER_ID", "env-worker"}}};
  const auto parsed = parse({"--config", path, "--worker-id", "flag-worker"}, environment);
  EXPECT_EQ(parsed.config.worker_id, "flag-worker");
  EXPECT_EQ(parsed.config.dsn, "dbname=from_env");
  EXPECT_DOUBLE_EQ(parsed.config.heartbeat_interval.count(), 7.0);
  EXPECT_EQ(parsed.config.log_level, "debug");
  std::remove(path.c_str());
}

TEST(WorkerConfig, ConfigFileFromTheEnvironment) {
  const std::string path = write_file("dsn = dbname=from_file\n");
  FakeEnvironment environment{{{"EXPENSE_OPS_CONFIG", path}}};
  EXPECT_EQ(parse({}, environment).config.dsn, "dbname=from_file");
  std::remove(path.c_str());
}

TEST(WorkerConfig, MissingDsnNamesTheOption) {
  EXPECT_NE(config_error({}).find("--dsn"), std::string::npos);
}

TEST(WorkerConfig, BadValuesNameTheOption) {
  EXPECT_NE(config_error({"--dsn", "x", "--heartbeat-interval", "soon"}).find("heartbeat-interval"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "x", "--heartbeat-interval", "0"})
                .find("--heartbeat-interval must be between"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "x", "--log-level", "loud"}).find("--log-level"),
            std::string::npos);
  EXPECT_NE(
      config_error({"--dsn", "x", "--reconnect-initial-delay", "5", "--reconnect-max-delay", "1"})
          .find("--reconnect-max-delay"),
      std::string::npos);
  EXPECT_NE(config_error({"--dsn", "x", "--worker-id", ""}).find("--worker-id"), std::string::npos);
}

TEST(WorkerConfig, BadEnvironmentValueNamesTheOption) {
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "x"}, {"EXPENSE_OPS_RECONNECT_MAX_DELAY", "-3"}}};
  EXPECT_NE(config_error({}, environment).find("--reconnect-max-delay"), std::string::npos);
}

TEST(WorkerConfig, UnknownOptionsAreRefusedByName) {
  EXPECT_NE(config_error({"--dsn", "x", "--heartbeat", "3"}).find("heartbeat"), std::string::npos);
  const std::string path = write_file("dsn = x\nretries = 3\n");
  EXPECT_NE(config_error({"--config", path}).find("retries"), std::string::npos);
  std::remove(path.c_str());
}

TEST(WorkerConfig, UnreadableConfigFileIsAnError) {
  EXPECT_NE(config_error({"--config", "/nonexistent/worker.conf"}).find("--config"),
            std::string::npos);
}

TEST(WorkerConfig, HelpAndVersionNeedNoDsn) {
  const auto help = parse({"--help"});
  EXPECT_EQ(help.action, ParsedCommandLine::Action::kHelp);
  EXPECT_NE(help.help_text.find("--heartbeat-interval"), std::string::npos);
  EXPECT_NE(help.help_text.find("--sla-refresh-interval"), std::string::npos);
  EXPECT_NE(help.help_text.find("--sla-refresh-interval arg (=15)"), std::string::npos);
  EXPECT_EQ(parse({"--version"}).action, ParsedCommandLine::Action::kVersion);
}

TEST(WorkerConfig, SlaRefreshIntervalFromEachSource) {
  EXPECT_DOUBLE_EQ(
      parse({"--dsn", "x", "--sla-refresh-interval", "2.5"}).config.sla_refresh_interval.count(),
      2.5);
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "x"}, {"EXPENSE_OPS_SLA_REFRESH_INTERVAL", "30"}}};
  EXPECT_DOUBLE_EQ(parse({}, environment).config.sla_refresh_interval.count(), 30.0);
  EXPECT_DOUBLE_EQ(
      parse({"--sla-refresh-interval", "5"}, environment).config.sla_refresh_interval.count(), 5.0);
  const std::string path = write_file("dsn = x\nsla-refresh-interval = 60\n");
  EXPECT_DOUBLE_EQ(parse({"--config", path}).config.sla_refresh_interval.count(), 60.0);
  EXPECT_DOUBLE_EQ(parse({"--config", path}, environment).config.sla_refresh_interval.count(),
                   30.0);
  std::remove(path.c_str());
}

TEST(WorkerConfig, SlaRefreshIntervalIsIndependentOfTheHeartbeat) {
  const auto parsed = parse({"--dsn", "x", "--heartbeat-interval", "1"});
  EXPECT_DOUBLE_EQ(parsed.config.heartbeat_interval.count(), 1.0);
  EXPECT_DOUBLE_EQ(parsed.config.sla_refresh_interval.count(), 15.0);
}

TEST(WorkerConfig, SlaRefreshIntervalIsBounded) {
  EXPECT_DOUBLE_EQ(
      parse({"--dsn", "x", "--sla-refresh-interval", "0.1"}).config.sla_refresh_interval.count(),
      0.1);
  EXPECT_DOUBLE_EQ(
      parse({"--dsn", "x", "--sla-refresh-interval", "3600"}).config.sla_refresh_interval.count(),
      3600.0);
  for (const char* bad : {"0", "0.05", "-1", "3600.5", "nan", "inf"}) {
    EXPECT_NE(config_error({"--dsn", "x", "--sla-refresh-interval", bad})
                  .find("--sla-refresh-interval must be between 0.1 and 3600 seconds"),
              std::string::npos)
        << bad;
  }
  EXPECT_NE(
      config_error({"--dsn", "x", "--sla-refresh-interval", "often"}).find("sla-refresh-interval"),
      std::string::npos);
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "x"}, {"EXPENSE_OPS_SLA_REFRESH_INTERVAL", "0"}}};
  EXPECT_NE(config_error({}, environment).find("--sla-refresh-interval"), std::string::npos);
}

TEST(WorkerConfig, NoPrefixGuessingForTheSlaOption) {
  EXPECT_NE(config_error({"--dsn", "x", "--sla-refresh", "3"}).find("sla-refresh"),
            std::string::npos);
}

TEST(Backoff, DoublesUpToTheCapAndResets) {
  Backoff backoff(Seconds(1), Seconds(5));
  EXPECT_DOUBLE_EQ(backoff.next().count(), 1);
  EXPECT_DOUBLE_EQ(backoff.next().count(), 2);
  EXPECT_DOUBLE_EQ(backoff.next().count(), 4);
  EXPECT_DOUBLE_EQ(backoff.next().count(), 5);
  EXPECT_DOUBLE_EQ(backoff.next().count(), 5);
  backoff.reset();
  EXPECT_DOUBLE_EQ(backoff.next().count(), 1);
}

TEST(Backoff, ACapBelowTheInitialDelayIsTheInitialDelay) {
  Backoff backoff(Seconds(3), Seconds(1));
  EXPECT_DOUBLE_EQ(backoff.next().count(), 3);
  EXPECT_DOUBLE_EQ(backoff.next().count(), 3);
}
