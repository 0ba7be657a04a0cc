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
  EXPECT_DOUBLE_EQ(parsed.config.interval_of("heartbeat").count(), 10.0);
  EXPECT_DOUBLE_EQ(parsed.config.interval_of("sla-refresh").count(), 15.0);
  EXPECT_DOUBLE_EQ(parsed.config.reconnect_initial_delay.count(), 1.0);
  EXPECT_DOUBLE_EQ(parsed.config.reconnect_max_delay.count(), 30.0);
  EXPECT_EQ(parsed.config.log_level, "info");
}

TEST(WorkerConfig, DsnFromTheEnvironment) {
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "dbname=from_env"}, {"EXPENSE_OPS_HEARTBEAT_INTERVAL", "2.5"}}};
  const auto parsed = parse({}, environment);
  EXPECT_EQ(parsed.config.dsn, "dbname=from_env");
  EXPECT_DOUBLE_EQ(parsed.config.interval_of("heartbeat").count(), 2.5);
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
  EXPECT_DOUBLE_EQ(parsed.config.interval_of("heartbeat").count(), 7.0);
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
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--heartbeat-interval", "soon"})
                .find("heartbeat-interval"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--heartbeat-interval", "0"})
                .find("--heartbeat-interval must be between"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--log-level", "loud"}).find("--log-level"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--reconnect-initial-delay", "5",
                          "--reconnect-max-delay", "1"})
                .find("--reconnect-max-delay"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--worker-id", ""}).find("--worker-id"),
            std::string::npos);
}

TEST(WorkerConfig, BadEnvironmentValueNamesTheOption) {
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "dbname=x"}, {"EXPENSE_OPS_RECONNECT_MAX_DELAY", "-3"}}};
  EXPECT_NE(config_error({}, environment).find("--reconnect-max-delay"), std::string::npos);
}

TEST(WorkerConfig, UnknownOptionsAreRefusedByName) {
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--heartbeat", "3"}).find("heartbeat"),
            std::string::npos);
  const std::string path = write_file("dsn = dbname=x\nretries = 3\n");
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
  EXPECT_DOUBLE_EQ(parse({"--dsn", "dbname=x", "--sla-refresh-interval", "2.5"})
                       .config.interval_of("sla-refresh")
                       .count(),
                   2.5);
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "dbname=x"}, {"EXPENSE_OPS_SLA_REFRESH_INTERVAL", "30"}}};
  EXPECT_DOUBLE_EQ(parse({}, environment).config.interval_of("sla-refresh").count(), 30.0);
  EXPECT_DOUBLE_EQ(
      parse({"--sla-refresh-interval", "5"}, environment).config.interval_of("sla-refresh").count(),
      5.0);
  const std::string path = write_file("dsn = dbname=x\nsla-refresh-interval = 60\n");
  EXPECT_DOUBLE_EQ(parse({"--config", path}).config.interval_of("sla-refresh").count(), 60.0);
  EXPECT_DOUBLE_EQ(parse({"--config", path}, environment).config.interval_of("sla-refresh").count(),
                   30.0);
  std::remove(path.c_str());
}

TEST(WorkerConfig, SlaRefreshIntervalIsIndependentOfTheHeartbeat) {
  const auto parsed = parse({"--dsn", "dbname=x", "--heartbeat-interval", "1"});
  EXPECT_DOUBLE_EQ(parsed.config.interval_of("heartbeat").count(), 1.0);
  EXPECT_DOUBLE_EQ(parsed.config.interval_of("sla-refresh").count(), 15.0);
}

TEST(WorkerConfig, JobIntervalsAreBounded) {
  // Every job's interval (worker/jobs/) lies between 0.1 s and a day.
  EXPECT_DOUBLE_EQ(parse({"--dsn", "dbname=x", "--sla-refresh-interval", "0.1"})
                       .config.interval_of("sla-refresh")
                       .count(),
                   0.1);
  EXPECT_DOUBLE_EQ(parse({"--dsn", "dbname=x", "--sla-refresh-interval", "86400"})
                       .config.interval_of("sla-refresh")
                       .count(),
                   86400.0);
  for (const char* bad : {"0", "0.05", "-1", "86400.5", "nan", "inf"}) {
    EXPECT_NE(config_error({"--dsn", "dbname=x", "--sla-refresh-interval", bad})
                  .find("--sla-refresh-interval must be between 0.1 and 86400 seconds"),
              std::string::npos)
        << bad;
  }
  // The heartbeat's is also what api.health() judges staleness by: at most an hour.
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--heartbeat-interval", "3601"})
                .find("--heartbeat-interval must be between 0.1 and 3600 seconds"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--sla-refresh-interval", "often"})
                .find("sla-refresh-interval"),
            std::string::npos);
  FakeEnvironment environment{
      {{"EXPENSE_OPS_DSN", "dbname=x"}, {"EXPENSE_OPS_SLA_REFRESH_INTERVAL", "0"}}};
  EXPECT_NE(config_error({}, environment).find("--sla-refresh-interval"), std::string::npos);
}

TEST(WorkerConfig, NoPrefixGuessingForTheSlaOption) {
  EXPECT_NE(config_error({"--dsn", "dbname=x", "--sla-refresh", "3"}).find("sla-refresh"),
            std::string::npos);
}

TEST(WorkerConfig, AMalformedDsnIsAConfigErrorThatHidesThePassword) {
  // The review's finding: libpq quotes the whole malformed URI, password included.
  const std::string uri = config_error({"--dsn", "postgresql://u:SECRET@[::1/db"});
  EXPECT_NE(uri.find("--dsn (from the command line): libpq cannot parse"), std::string::npos)
      << uri;
  EXPECT_EQ(uri.find("SECRET"), std::string::npos) << uri;

  FakeEnvironment environment{{{"EXPENSE_OPS_DSN", "host=db password=SE CRET"}}};
  const std::string keyword = config_error({}, environment);
  EXPECT_NE(keyword.find("--dsn (from EXPENSE_OPS_DSN)"), std::string::npos) << keyword;
  EXPECT_EQ(keyword.find("CRET"), std::string::npos) << keyword;

  const std::string path = write_file("dsn = host=db password=SE CRET\n");
  const std::string file = config_error({"--config", path});
  EXPECT_NE(file.find("--dsn (from the configuration file \"" + path + "\")"), std::string::npos)
      << file;
  EXPECT_EQ(file.find("CRET"), std::string::npos) << file;
  std::remove(path.c_str());
}

TEST(WorkerConfig, TheDsnIsSummarized) {
  const auto parsed = parse({"--dsn", "host=db1,db2 target_session_attrs=read-write password=pw"});
  EXPECT_EQ(parsed.config.dsn_origin, "the command line");
  EXPECT_EQ(parsed.config.dsn_summary.host_count, 2U);
  EXPECT_EQ(parsed.config.dsn_summary.target_session_attrs, "read-write");
  EXPECT_TRUE(parsed.config.dsn_summary.has_password);
}

TEST(WorkerConfig, AConfigLineWithoutEqualsIsReportedByNumberNotQuoted) {
  // Boost's own message quotes the line, and a line without '=' is likely a DSN.
  const std::string path = write_file(
      "# worker\nheartbeat-interval = 5\n\npostgresql://u:SECRET@db/x\nlog-level = info\n");
  const std::string message = config_error({"--config", path});
  EXPECT_NE(message.find("\"" + path + "\" line 4"), std::string::npos) << message;
  EXPECT_EQ(message.find("SECRET"), std::string::npos) << message;
  EXPECT_EQ(message.find("postgresql"), std::string::npos) << message;
  std::remove(path.c_str());

  // The last line, without a newline.
  const std::string last = write_file("dsn = dbname=x\nhost=db password=SECRET");
  const std::string last_message = config_error({"--config", last});
  // "host=db password=SECRET" has an '=': it is an unknown option "host", not a bad line.
  EXPECT_NE(last_message.find("line 2: unrecognised option 'host'"), std::string::npos)
      << last_message;
  EXPECT_EQ(last_message.find("SECRET"), std::string::npos) << last_message;
  std::remove(last.c_str());

  const std::string bare = write_file("dsn = dbname=x\nSECRET");
  const std::string bare_message = config_error({"--config", bare});
  EXPECT_NE(bare_message.find("line 2"), std::string::npos) << bare_message;
  EXPECT_EQ(bare_message.find("SECRET"), std::string::npos) << bare_message;
  std::remove(bare.c_str());
}

TEST(WorkerConfig, UnknownOptionsAreNamedOnlyWhenTheyLookLikeNames) {
  // "dsn" without its '=' but with one further on: Boost takes the DSN up to it as a name.
  const std::string path = write_file("dsn postgresql://u:SECRET@db/x?sslmode=require\n");
  const std::string file = config_error({"--config", path});
  EXPECT_NE(file.find("line 1: unrecognised option"), std::string::npos) << file;
  EXPECT_EQ(file.find("SECRET"), std::string::npos) << file;
  std::remove(path.c_str());

  const std::string flag = config_error({"--dsnn=host=db password=SECRET"});
  EXPECT_NE(flag.find("unrecognised option '--dsnn'"), std::string::npos) << flag;
  EXPECT_EQ(flag.find("SECRET"), std::string::npos) << flag;
}

TEST(WorkerConfig, ABlankDsnIsNoDsn) {
  EXPECT_NE(config_error({"--dsn", "  "}).find("--dsn: no database"), std::string::npos);
  FakeEnvironment environment{{{"EXPENSE_OPS_DSN", "\t"}}};
  EXPECT_NE(config_error({}, environment).find("--dsn: no database"), std::string::npos);
}

TEST(WorkerConfig, CommandLineOnlyOptionsAreRefusedInTheFile) {
  for (const std::string line : {"config = /etc/other.conf", "help = 1", "version = 1"}) {
    const std::string path = write_file("dsn = dbname=x\n" + line + "\n");
    EXPECT_NE(config_error({"--config", path}).find("--config"), std::string::npos) << line;
    std::remove(path.c_str());
  }
}

TEST(WorkerConfig, ADirectoryIsNoConfigFile) {
  EXPECT_NE(config_error({"--config", "/tmp"}).find("cannot read configuration file"),
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

// The backup job set (issue 12): its options, their defaults, and what it refuses.
TEST(WorkerConfig, TheBackupJobSetHasItsOwnPortAndNeedsAReplicationConnection) {
  const auto defaults = parse({"--dsn", "host=/tmp dbname=x"}).config;
  EXPECT_EQ(defaults.job_set, "default");
  EXPECT_EQ(defaults.listen_address, "127.0.0.1:9470");
  EXPECT_EQ(defaults.backup.backend, "basebackup");
  EXPECT_DOUBLE_EQ(defaults.backup.retention.count(), 30.0 * 86400);
  EXPECT_DOUBLE_EQ(defaults.backup.restore_test_every.count(), 7.0 * 86400);

  const auto backup = parse({"--dsn", "host=/tmp dbname=x", "--jobs", "backup", "--replication-dsn",
                             "host=/tmp user=postgres password=s3cret", "--backup-directory",
                             "/srv/backups/", "--backup-time", "3:30"})
                          .config;
  EXPECT_EQ(backup.job_set, "backup");
  EXPECT_EQ(backup.listen_address, "127.0.0.1:9471") << "beside a default worker on one host";
  EXPECT_EQ(backup.backup.directory, "/srv/backups");
  EXPECT_EQ(backup.backup.daily_at, "3:30");
  EXPECT_TRUE(backup.holds_secret()) << "the replication DSN's password";
  EXPECT_EQ(parse({"--dsn", "host=/tmp dbname=x", "--jobs", "backup", "--replication-dsn",
                   "host=/tmp", "--listen-address", "127.0.0.1:9999"})
                .config.listen_address,
            "127.0.0.1:9999");
  FakeEnvironment environment;
  environment.variables["EXPENSE_OPS_REPLICATION_DSN"] = "host=/tmp user=postgres";
  EXPECT_EQ(parse({"--dsn", "host=/tmp dbname=x", "--jobs", "backup"}, environment)
                .config.backup.replication_dsn,
            "host=/tmp user=postgres");

  EXPECT_NE(config_error({"--dsn", "host=/tmp", "--jobs", "backup"}).find("--replication-dsn"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "host=/tmp", "--jobs", "nightly"}).find("--jobs"),
            std::string::npos);
  EXPECT_NE(
      config_error({"--dsn", "host=/tmp", "--backup-backend", "barman"}).find("--backup-backend"),
      std::string::npos);
  EXPECT_NE(
      config_error({"--dsn", "host=/tmp", "--backup-directory", "backups"}).find("absolute path"),
      std::string::npos);
  EXPECT_NE(config_error({"--dsn", "host=/tmp", "--backup-time", "25:00"}).find("backup-time"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "host=/tmp", "--backup-retention-days", "0"})
                .find("--backup-retention-days"),
            std::string::npos);
  EXPECT_NE(config_error({"--dsn", "host=/tmp", "--pgbackrest-stanza", "main;rm"})
                .find("--pgbackrest-stanza"),
            std::string::npos);
  const std::string malformed =
      config_error({"--dsn", "host=/tmp", "--replication-dsn", "host=/tmp password=s3cret nope"});
  EXPECT_NE(malformed.find("--replication-dsn"), std::string::npos);
  EXPECT_EQ(malformed.find("s3cret"), std::string::npos) << malformed;
  // pgbackrest needs no replication connection: its own configuration says how to connect.
  EXPECT_EQ(parse({"--dsn", "host=/tmp", "--jobs", "backup", "--backup-backend", "pgbackrest"})
                .config.backup.backend,
            "pgbackrest");
}
