#include "worker/config.hpp"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "worker/backup/backup_policy.hpp"
#include "worker/job.hpp"
#include "worker/redact.hpp"

namespace expense_ops::worker {

namespace po = boost::program_options;

namespace {

constexpr const char* kEnvironmentPrefix = "EXPENSE_OPS_";

bool is_secret_name(const std::string& name) {
  return !name.empty() && name.size() <= 63 && std::islower(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::islower(static_cast<unsigned char>(c)) ||
                  std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '-';
         });
}

// NAME:EMAIL:PASSWORD. The errors name the option and, at most, the name: never the rest.
std::pair<std::string, Credential> parse_credential(const std::string& entry) {
  const auto first = entry.find(':');
  const auto second = first == std::string::npos ? first : entry.find(':', first + 1);
  const std::string name = entry.substr(0, first);
  if (second == std::string::npos || !is_secret_name(name)) {
    throw ConfigError(
        "--credential must be NAME:EMAIL:PASSWORD with NAME in lowercase letters, digits, _ "
        "and -");
  }
  Credential credential{entry.substr(first + 1, second - first - 1), entry.substr(second + 1)};
  if (credential.email.empty() || credential.password.empty()) {
    throw ConfigError("--credential " + name + ": the email and the password must not be empty");
  }
  return {name, credential};
}

// NAME: DSN. The DSN may hold a password, so it is never quoted.
std::pair<std::string, std::string> parse_check_connection(const std::string& entry) {
  const auto colon = entry.find(':');
  const std::string name = entry.substr(0, colon);
  std::string dsn = colon == std::string::npos ? "" : entry.substr(colon + 1);
  dsn.erase(0, dsn.find_first_not_of(" \t"));
  if (colon == std::string::npos || !is_secret_name(name) || dsn.empty()) {
    throw ConfigError(
        "--check-connection must be NAME: DSN with NAME in lowercase letters, digits, _ and -");
  }
  try {
    summarize_dsn(dsn);
  } catch (const InvalidDsn& error) {
    throw ConfigError("--check-connection " + name +
                      ": libpq cannot parse the connection string: " + error.what());
  }
  return {name, dsn};
}

// NAME:FORMAT:PATH.
ShippedLog parse_shipped_log(const std::string& entry) {
  const auto first = entry.find(':');
  const auto second = first == std::string::npos ? first : entry.find(':', first + 1);
  if (second == std::string::npos) {
    throw ConfigError(
        "--ship-log must be NAME:FORMAT:PATH, such as nginx:json:/var/log/nginx/api.json");
  }
  ShippedLog log{entry.substr(0, first), entry.substr(first + 1, second - first - 1),
                 entry.substr(second + 1)};
  if (!is_secret_name(log.name)) {
    throw ConfigError("--ship-log: the name must be lowercase letters, digits, _ and -");
  }
  if (log.format != "json" && log.format != "combined" && log.format != "jsonlog") {
    throw ConfigError("--ship-log " + log.name + ": the format must be json, combined or jsonlog");
  }
  if (log.path.empty() || log.path.front() != '/') {
    throw ConfigError("--ship-log " + log.name + ": the path must be absolute");
  }
  return log;
}

// NAME:VALUE, a secret a channel's target names as secret:NAME.
std::pair<std::string, std::string> parse_secret(const std::string& entry) {
  const auto colon = entry.find(':');
  const std::string name = entry.substr(0, colon);
  if (colon == std::string::npos || !is_secret_name(name)) {
    throw ConfigError(
        "--secret must be NAME:VALUE with NAME in lowercase letters, digits, _ and -");
  }
  std::string value = entry.substr(colon + 1);
  value.erase(0, value.find_first_not_of(" \t"));
  if (value.empty()) {
    throw ConfigError("--secret " + name + ": the value must not be empty");
  }
  return {name, value};
}

// NAME: /absolute/path ARG ..., split as a shell would split words, but run without one.
std::pair<std::string, std::vector<std::string>> parse_command(const std::string& entry) {
  const auto colon = entry.find(':');
  const std::string name = entry.substr(0, colon);
  if (colon == std::string::npos || !is_secret_name(name)) {
    throw ConfigError(
        "--command must be NAME: /path/to/program ARG... with NAME in lowercase letters, digits, _ "
        "and -");
  }
  std::vector<std::string> words;
  try {
    words = po::split_unix(entry.substr(colon + 1));
  } catch (const std::exception&) {
    throw ConfigError("--command " + name + ": the command line does not split into words");
  }
  words.erase(std::remove(words.begin(), words.end(), std::string()), words.end());
  if (words.empty() || words.front().front() != '/') {
    throw ConfigError(
        "--command " + name +
        ": give the program's absolute path; no shell runs it, and no PATH is searched");
  }
  return {name, words};
}

// host:port, [v6]:port: what civetweb's listening_ports takes, checked here so that a typo is a
// configuration error (exit 2) rather than a failure to listen.
bool is_listen_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return false;
  }
  const std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }) ||
      std::stoi(port) > 65535) {
    return false;
  }
  if (host.front() == '[') {
    return host.back() == ']' && host.size() > 2;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-';
  });
}

std::string interval_option(const std::string& job) {
  return job + "-interval";
}

po::options_description describe_options() {
  po::options_description options("expense-ops-worker options");
  // clang-format off
  options.add_options()
    ("help,h", "print this help and exit")
    ("version", "print the version and exit")
    ("config,c", po::value<std::string>(),
     "configuration file of option = value lines (env EXPENSE_OPS_CONFIG)")
    ("dsn", po::value<std::string>(),
     "libpq connection string of the worker's LOGIN role (env EXPENSE_OPS_DSN); any local user "
     "can read a command line, so give one with a password in the file or the environment")
    ("worker-id", po::value<std::string>(),
     "name of this worker in ops.worker_heartbeats (default: the host name)")
    ("reconnect-initial-delay", po::value<double>()->default_value(1.0),
     "seconds before the first reconnection attempt; doubles after each failure")
    ("reconnect-max-delay", po::value<double>()->default_value(30.0),
     "cap on the delay between reconnection attempts, in seconds")
    ("log-level", po::value<std::string>()->default_value("info"),
     "trace, debug, info, warn or error")
    ("credential", po::value<std::vector<std::string>>()->composing(),
     "NAME:EMAIL:PASSWORD, an account a check logs in with (ops.checks.credentials); may be "
     "repeated. Give it in the file: a flag shows in ps")
    ("check-connection", po::value<std::vector<std::string>>()->composing(),
     "NAME: DSN, the connection a db check named NAME uses (ops.checks.target); may be repeated")
    ("check-threads", po::value<int>()->default_value(4),
     "how many checks may run at once (1 to 64)")
    ("ship-log", po::value<std::vector<std::string>>()->composing(),
     "NAME:FORMAT:PATH, a log file to ship: FORMAT json (nginx, docs/worker.md), combined or "
     "jsonlog (PostgreSQL's); may be repeated")
    ("host-disk-path", po::value<std::string>()->default_value("/"),
     "a path on the filesystem whose use ops.host_samples records: PostgreSQL's data directory")
    ("check-reload-interval", po::value<double>()->default_value(10.0),
     "seconds between readings of ops.checks and the base URL; a change takes effect this late")
    ("secret", po::value<std::vector<std::string>>()->composing(),
     "NAME:VALUE, what a channel's target secret:NAME stands for (a webhook URL with its token); "
     "may be repeated. Give it in the file: a flag shows in ps")
    ("command", po::value<std::vector<std::string>>()->composing(),
     "NAME: /path/to/program ARG..., what a command channel named by its target runs, without a "
     "shell, with the payload on stdin; may be repeated")
    ("smtp-url", po::value<std::string>()->default_value(""),
     "the email channel's server: smtp://host:587 (STARTTLS when offered, required with a "
     "password) or smtps://host:465")
    ("smtp-from", po::value<std::string>()->default_value(""), "the email channel's sender address")
    ("smtp-user", po::value<std::string>()->default_value(""), "the login at the SMTP server, if any")
    ("smtp-password", po::value<std::string>(),
     "the password of smtp-user. Give it in the file or a systemd credential: a flag shows in ps")
    ("delivery-concurrency", po::value<int>()->default_value(16),
     "notifications in flight at once (1 to 256)")
    ("delivery-timeout", po::value<double>()->default_value(10.0),
     "seconds one delivery attempt may take, any channel, a command included")
    ("listen-address", po::value<std::string>()->default_value("127.0.0.1:9470"),
     "host:port of /metrics and /healthz (loopback by default; port 0 picks one; empty: none)")
    ("drain-timeout", po::value<double>()->default_value(10.0),
     "seconds a SIGTERM waits for the deliveries in flight before it gives them back")
    ("jobs", po::value<std::string>()->default_value("default"),
     "the job set: default (checks, alerts, delivery, ...), or backup (backups, verification, "
     "restore tests, retention), which runs as the cluster's OS owner on the database host, in a "
     "unit of its own, with listen-address 127.0.0.1:9471 by default")
    ("replication-dsn", po::value<std::string>(),
     "backup: the libpq connection string pg_basebackup uses, of a role with REPLICATION (env "
     "EXPENSE_OPS_REPLICATION_DSN); tools get it in their environment, never on their command line")
    ("backup-backend", po::value<std::string>()->default_value("basebackup"),
     "backup: basebackup (pg_basebackup and pg_verifybackup, no setup) or pgbackrest")
    ("backup-directory", po::value<std::string>()->default_value("/var/lib/postgresql/expense_ops/backups"),
     "backup: where the basebackup backend keeps its backups, one directory each")
    ("scratch-directory", po::value<std::string>()->default_value("/var/lib/postgresql/expense_ops/scratch"),
     "backup: where restore tests restore and start a server, then remove it")
    ("postgres-bin", po::value<std::string>()->default_value("/usr/lib/postgresql/15/bin"),
     "backup: the directory of pg_basebackup, pg_verifybackup, pg_ctl and pg_amcheck")
    ("pgbackrest-stanza", po::value<std::string>()->default_value("main"),
     "backup: the pgBackRest stanza of this cluster")
    ("pgbackrest-config", po::value<std::string>()->default_value(""),
     "backup: pgBackRest's configuration file (empty: its own default, /etc/pgbackrest.conf); the "
     "repository, local or remote (S3, SFTP), is set there")
    ("pgbackrest-bin", po::value<std::string>()->default_value("/usr/bin/pgbackrest"),
     "backup: the pgbackrest program")
    ("backup-time", po::value<std::string>()->default_value("02:00"),
     "backup: the local time of day (HH:MM) of the daily backup")
    ("backup-retention-days", po::value<double>()->default_value(30),
     "backup: backups older than this many days are expired, keeping the newest verified one")
    ("backup-retry-delay", po::value<double>()->default_value(3600),
     "backup: seconds after a failed backup before the schedule tries again")
    ("backup-timeout", po::value<double>()->default_value(21600),
     "backup: seconds a backup or a verification may take before it is killed and failed")
    ("restore-test-days", po::value<double>()->default_value(7),
     "backup: days between scheduled restore tests (the support plan's minimum is 30)")
    ("pitr-drill-days", po::value<double>()->default_value(30),
     "backup: days between point-in-time drills (pgbackrest backend)")
    ("restore-test-timeout", po::value<double>()->default_value(14400),
     "backup: seconds a restore test may take, restore and checks, before it is failed")
    ("restore-test-user", po::value<std::string>()->default_value(""),
     "backup: the database superuser of a restored cluster (default: the worker's OS user, who "
     "ran initdb on Debian)");
  // clang-format on
  // One interval for each job, whichever file registered it.
  for (const JobSpec& job : registered_jobs()) {
    options.add_options()(interval_option(job.name).c_str(),
                          po::value<double>()->default_value(job.default_interval_seconds),
                          job.help.c_str());
  }
  return options;
}

// heartbeat-interval -> EXPENSE_OPS_HEARTBEAT_INTERVAL
std::string environment_variable_for(const std::string& option) {
  std::string variable = kEnvironmentPrefix;
  for (const char c : option) {
    variable.push_back(c == '-' ? '_'
                                : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return variable;
}

Seconds bounded_seconds(const po::variables_map& values, const char* option, double minimum,
                        double maximum) {
  const double seconds = values[option].as<double>();
  if (!(seconds >= minimum && seconds <= maximum)) {
    std::ostringstream message;
    message << "--" << option << " must be between " << minimum << " and " << maximum
            << " seconds, got " << seconds;
    throw ConfigError(message.str());
  }
  return Seconds(seconds);
}

std::string absolute_path_option(const po::variables_map& values, const char* option) {
  std::string path = values[option].as<std::string>();
  if (path.empty() || path.front() != '/') {
    throw ConfigError(std::string("--") + option + " must be an absolute path");
  }
  while (path.size() > 1 && path.back() == '/') {
    path.pop_back();
  }
  return path;
}

// The options of the backup job set (worker/jobs/backups.cpp).
void read_backup_options(const po::variables_map& values, WorkerConfig& config) {
  config.job_set = values["jobs"].as<std::string>();
  if (config.job_set != "default" && config.job_set != "backup") {
    throw ConfigError("--jobs must be default or backup");
  }
  if (config.job_set == "backup" && values["listen-address"].defaulted()) {
    config.listen_address = "127.0.0.1:9471";  // beside a default worker on the same host
  }
  BackupConfig& backup = config.backup;
  if (values.count("replication-dsn") > 0) {
    backup.replication_dsn = values["replication-dsn"].as<std::string>();
    try {
      backup.replication_dsn_has_password = summarize_dsn(backup.replication_dsn).has_password;
    } catch (const InvalidDsn& error) {
      throw ConfigError("--replication-dsn: libpq cannot parse the connection string: " +
                        std::string(error.what()));
    }
  }
  backup.backend = values["backup-backend"].as<std::string>();
  if (backup.backend != "basebackup" && backup.backend != "pgbackrest") {
    throw ConfigError("--backup-backend must be basebackup or pgbackrest");
  }
  backup.directory = absolute_path_option(values, "backup-directory");
  backup.scratch_directory = absolute_path_option(values, "scratch-directory");
  backup.postgres_bin = absolute_path_option(values, "postgres-bin");
  backup.pgbackrest_bin = absolute_path_option(values, "pgbackrest-bin");
  backup.pgbackrest_stanza = values["pgbackrest-stanza"].as<std::string>();
  if (backup.pgbackrest_stanza.empty() ||
      backup.pgbackrest_stanza.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
          std::string::npos) {
    throw ConfigError("--pgbackrest-stanza must be letters, digits, '_', '-' or '.'");
  }
  backup.pgbackrest_config = values["pgbackrest-config"].as<std::string>();
  if (!backup.pgbackrest_config.empty()) {
    backup.pgbackrest_config = absolute_path_option(values, "pgbackrest-config");
  }
  backup.daily_at = values["backup-time"].as<std::string>();
  backup::parse_time_of_day(backup.daily_at);  // throws ConfigError
  const auto days = [&values](const char* option) {
    const double count = values[option].as<double>();
    if (!(count > 0 && count <= 3660)) {
      throw ConfigError(std::string("--") + option + " must be more than 0 and at most 3660 days");
    }
    return Seconds(count * 86400);
  };
  backup.retention = days("backup-retention-days");
  backup.restore_test_every = days("restore-test-days");
  backup.pitr_drill_every = days("pitr-drill-days");
  backup.retry_delay = bounded_seconds(values, "backup-retry-delay", 1, 86400);
  backup.timeout = bounded_seconds(values, "backup-timeout", 1, 7 * 86400);
  backup.restore_test_timeout = bounded_seconds(values, "restore-test-timeout", 1, 7 * 86400);
  backup.restore_test_user = values["restore-test-user"].as<std::string>();
  if (config.job_set == "backup" && backup.backend == "basebackup" &&
      backup.replication_dsn.empty()) {
    throw ConfigError(
        "--replication-dsn: the basebackup backend needs a connection of a role with "
        "REPLICATION; set --replication-dsn, EXPENSE_OPS_REPLICATION_DSN or replication-dsn in "
        "the configuration file");
  }
}

std::string cannot_read(const std::string& path) {
  return "--config: cannot read configuration file \"" + path + "\"";
}

// The name an unknown option was given under, if it is one: Boost quotes whatever it could not
// place, and that may be `--dsnn=host=db password=...` on the command line, or a DSN line in
// the file that lacks "dsn =" but has an '=' further on. Only what looks like an option name is
// echoed, and never what follows an '='.
std::string describe_unknown_option(const po::unknown_option& error) {
  const std::string written = error.get_option_name();
  const std::string name = written.substr(0, written.find('='));
  if (name.empty()) {
    return "an option without a name";
  }
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
  return plain ? "unrecognised option '" + name + "'"
               : "unrecognised option (not shown: it is no option name and may hold a secret)";
}

std::string describe(const po::error& error) {
  if (const auto* unknown = dynamic_cast<const po::unknown_option*>(&error)) {
    return describe_unknown_option(*unknown);
  }
  return redact_secrets(error.what());
}

// The number of the line of `text` that `stream` has just read: Boost reads a configuration file
// one line at a time and throws on the line it cannot take.
std::size_t line_at(const std::string& text, std::istringstream& stream) {
  const std::streamoff position = stream.tellg();
  const std::size_t end = position < 0 ? text.size() : static_cast<std::size_t>(position);
  const auto newlines =
      std::count(text.begin(), text.begin() + static_cast<std::string::difference_type>(end), '\n');
  return static_cast<std::size_t>(newlines) + (position < 0 ? 1 : 0);
}

// Errors name the file and the line, and quote no line: the line Boost rejects for want of an
// '=' is as likely as any to be a DSN with a password in it.
po::parsed_options parse_config_file(const std::string& path,
                                     const po::options_description& options) {
  std::ifstream file(path);
  if (!file) {
    throw ConfigError(cannot_read(path));
  }
  std::string text;
  for (std::string line; std::getline(file, line);) {
    text += line;
    text += '\n';
  }
  if (file.bad()) {  // a directory opens, but does not read
    throw ConfigError(cannot_read(path));
  }
  std::istringstream stream(text);
  const auto at_line = [&] {
    return "--config: \"" + path + "\" line " + std::to_string(line_at(text, stream)) + ": ";
  };
  po::parsed_options parsed(&options);
  try {
    parsed = po::parse_config_file(stream, options);
  } catch (const po::invalid_config_file_syntax&) {
    throw ConfigError(at_line() +
                      "expected \"option = value\" (the line is not shown: it may hold a secret)");
  } catch (const po::error& error) {
    throw ConfigError(at_line() + describe(error));
  }
  // The file's own name, and what makes the worker print and exit, belong on the command line;
  // in the file they would be ignored or turn a service into a one-shot.
  for (const auto& option : parsed.options) {
    if (option.string_key == "config" || option.string_key == "help" ||
        option.string_key == "version") {
      throw ConfigError("--config: \"" + path + "\": " + option.string_key +
                        " cannot be set in a configuration file");
    }
  }
  return parsed;
}

}  // namespace

EnvironmentLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
  };
}

ParsedCommandLine parse_command_line(const std::vector<std::string>& args,
                                     const EnvironmentLookup& environment,
                                     const std::string& default_worker_id) {
  const po::options_description options = describe_options();
  po::variables_map values;
  ParsedCommandLine parsed;
  try {
    // The first store of an option wins: flags, then environment, then file.
    const std::vector<std::string> flags(args.begin() + (args.empty() ? 0 : 1), args.end());
    // No guessing from prefixes: --heartbeat must not quietly mean --heartbeat-interval.
    const int style =
        po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(flags).options(options).style(style).run(), values);
    std::string dsn_origin = values.count("dsn") > 0 ? kDsnFromCommandLine : "";
    parsed.config.credential_on_command_line = values.count("credential") > 0;
    parsed.config.secret_on_command_line =
        values.count("secret") > 0 || values.count("smtp-password") > 0;

    po::parsed_options from_environment(&options);
    for (const auto& option : options.options()) {
      const std::string& name = option->long_name();
      if (name == "help" || name == "version") {
        continue;
      }
      if (const auto value = environment(environment_variable_for(name))) {
        from_environment.options.emplace_back(name, std::vector<std::string>{*value});
      }
    }
    po::store(from_environment, values);
    if (dsn_origin.empty() && values.count("dsn") > 0) {
      dsn_origin = environment_variable_for("dsn");
    }

    if (values.count("config") > 0) {
      const std::string path = values["config"].as<std::string>();
      parsed.config.config_path = path;
      po::store(parse_config_file(path, options), values);
      if (dsn_origin.empty()) {
        dsn_origin = "the configuration file \"" + path + "\"";
      }
    }
    po::notify(values);
    parsed.config.dsn_origin = dsn_origin;
  } catch (const ConfigError&) {
    throw;
  } catch (const po::error& error) {
    throw ConfigError(describe(error));
  }

  if (values.count("help") > 0) {
    std::ostringstream help;
    help << "usage: expense-ops-worker [options]\n\n" << options;
    parsed.action = ParsedCommandLine::Action::kHelp;
    parsed.help_text = help.str();
    return parsed;
  }
  if (values.count("version") > 0) {
    parsed.action = ParsedCommandLine::Action::kVersion;
    return parsed;
  }

  WorkerConfig& config = parsed.config;
  // A blank DSN would connect wherever libpq's defaults (PGHOST, the local socket) lead.
  if (values.count("dsn") == 0 ||
      values["dsn"].as<std::string>().find_first_not_of(" \t\r\n") == std::string::npos) {
    throw ConfigError(
        "--dsn: no database to connect to; set --dsn, EXPENSE_OPS_DSN or dsn in the "
        "configuration file");
  }
  config.dsn = values["dsn"].as<std::string>();
  config.worker_id =
      values.count("worker-id") > 0 ? values["worker-id"].as<std::string>() : default_worker_id;
  if (config.worker_id.empty()) {
    throw ConfigError("--worker-id must not be empty");
  }
  for (const JobSpec& job : registered_jobs()) {
    const std::string option = interval_option(job.name);
    config.job_intervals[job.name] = bounded_seconds(values, option.c_str(), 0.1, 86400);
  }
  // The database is told the heartbeat's interval, and judges staleness by it: at most an hour.
  bounded_seconds(values, "heartbeat-interval", 0.1, 3600);
  config.reconnect_initial_delay = bounded_seconds(values, "reconnect-initial-delay", 0.01, 3600);
  config.reconnect_max_delay = bounded_seconds(values, "reconnect-max-delay", 0.01, 86400);
  if (config.reconnect_max_delay < config.reconnect_initial_delay) {
    throw ConfigError("--reconnect-max-delay must not be less than --reconnect-initial-delay");
  }
  config.log_level = values["log-level"].as<std::string>();
  config.check_threads = values["check-threads"].as<int>();
  config.host_disk_path = values["host-disk-path"].as<std::string>();
  if (config.host_disk_path.empty() || config.host_disk_path.front() != '/') {
    throw ConfigError("--host-disk-path must be an absolute path");
  }
  config.check_reload_interval = bounded_seconds(values, "check-reload-interval", 0.1, 3600);
  if (config.check_threads < 1 || config.check_threads > 64) {
    throw ConfigError("--check-threads must be between 1 and 64");
  }
  if (values.count("credential") > 0) {
    for (const std::string& entry : values["credential"].as<std::vector<std::string>>()) {
      const auto [name, credential] = parse_credential(entry);
      config.credentials[name] = credential;
    }
  }
  if (values.count("ship-log") > 0) {
    for (const std::string& entry : values["ship-log"].as<std::vector<std::string>>()) {
      config.shipped_logs.push_back(parse_shipped_log(entry));
    }
  }
  if (values.count("secret") > 0) {
    for (const std::string& entry : values["secret"].as<std::vector<std::string>>()) {
      config.secrets.insert(parse_secret(entry));
    }
  }
  if (values.count("command") > 0) {
    for (const std::string& entry : values["command"].as<std::vector<std::string>>()) {
      config.commands.insert(parse_command(entry));
    }
  }
  config.smtp.url = values["smtp-url"].as<std::string>();
  config.smtp.from = values["smtp-from"].as<std::string>();
  config.smtp.user = values["smtp-user"].as<std::string>();
  if (values.count("smtp-password") > 0) {
    config.smtp.password = values["smtp-password"].as<std::string>();
  }
  if (!config.smtp.url.empty() && config.smtp.url.rfind("smtp://", 0) != 0 &&
      config.smtp.url.rfind("smtps://", 0) != 0) {
    throw ConfigError("--smtp-url must start with smtp:// or smtps://");
  }
  if (!config.smtp.url.empty() &&
      (config.smtp.from.empty() || config.smtp.from.find('@') == std::string::npos ||
       config.smtp.from.find_first_of("<>\r\n ") != std::string::npos)) {
    throw ConfigError("--smtp-from must be the sender's address, such as alerts@example.com");
  }
  if (!config.smtp.password.empty() && config.smtp.user.empty()) {
    throw ConfigError("--smtp-password needs --smtp-user");
  }
  config.delivery_concurrency = values["delivery-concurrency"].as<int>();
  if (config.delivery_concurrency < 1 || config.delivery_concurrency > 256) {
    throw ConfigError("--delivery-concurrency must be between 1 and 256");
  }
  config.delivery_timeout = bounded_seconds(values, "delivery-timeout", 0.1, 300);
  config.listen_address = values["listen-address"].as<std::string>();
  if (!config.listen_address.empty() && !is_listen_address(config.listen_address)) {
    throw ConfigError(
        "--listen-address must be host:port, such as 127.0.0.1:9470 or [::1]:9470, or empty");
  }
  config.drain_timeout = bounded_seconds(values, "drain-timeout", 0, 300);
  read_backup_options(values, config);
  if (values.count("check-connection") > 0) {
    for (const std::string& entry : values["check-connection"].as<std::vector<std::string>>()) {
      const auto [name, dsn] = parse_check_connection(entry);
      config.check_connections[name] = dsn;
    }
  }
  static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (std::find(std::begin(kLevels), std::end(kLevels), config.log_level) == std::end(kLevels)) {
    throw ConfigError("--log-level must be one of trace, debug, info, warn, error; got \"" +
                      config.log_level + "\"");
  }
  // Last, so that a bad interval is reported as such even next to a throwaway DSN.
  try {
    config.dsn_summary = summarize_dsn(config.dsn);
  } catch (const InvalidDsn& error) {
    throw ConfigError("--dsn (from " + config.dsn_origin +
                      "): libpq cannot parse the connection string: " + error.what());
  }
  return parsed;
}

}  // namespace expense_ops::worker
