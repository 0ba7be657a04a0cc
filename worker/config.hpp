// The worker's configuration: defaults, then a config file, then the environment, then flags,
// each overriding the one before.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "worker/dsn.hpp"

namespace expense_ops::worker {

using Seconds = std::chrono::duration<double>;

// WorkerConfig::dsn_origin of a DSN given with --dsn.
inline constexpr const char* kDsnFromCommandLine = "the command line";

// The monitoring account a check logs in with (ops.checks.credentials names it):
// `credential = NAME:EMAIL:PASSWORD` in the configuration; the password may hold ':'.
struct Credential {
  std::string email;
  std::string password;
};

// A log file the worker ships: `ship-log = NAME:FORMAT:PATH`, FORMAT json (nginx, the
// log_format of docs/worker.md), combined, or jsonlog (PostgreSQL's).
struct ShippedLog {
  std::string name;
  std::string format;
  std::string path;
};

// The email channel's server: `smtp-url = smtp://mail.example.com:587` (STARTTLS when offered,
// required with a password) or smtps://, with `smtp-from`, and `smtp-user` / `smtp-password`
// when it asks for a login.
struct SmtpSettings {
  std::string url;
  std::string from;
  std::string user;
  std::string password;
};

// The backup job set (`--jobs backup`, worker/jobs/backups.cpp, worker/backup/).
struct BackupConfig {
  std::string replication_dsn;  // pg_basebackup's; a secret like the DSN
  bool replication_dsn_has_password = false;
  std::string backend = "basebackup";
  std::string directory = "/var/lib/postgresql/expense_ops/backups";
  std::string scratch_directory = "/var/lib/postgresql/expense_ops/scratch";
  std::string postgres_bin = "/usr/lib/postgresql/15/bin";
  std::string pgbackrest_bin = "/usr/bin/pgbackrest";
  std::string pgbackrest_stanza = "main";
  std::string pgbackrest_config;  // empty: pgBackRest's default
  std::string daily_at = "02:00";
  Seconds retention{30.0 * 86400};
  Seconds restore_test_every{7.0 * 86400};
  Seconds pitr_drill_every{30.0 * 86400};
  Seconds retry_delay{3600};
  Seconds timeout{6.0 * 3600};
  Seconds restore_test_timeout{4.0 * 3600};
  std::string restore_test_user;  // empty: the worker's OS user
};

struct WorkerConfig {
  std::string dsn;
  std::string dsn_origin;   // kDsnFromCommandLine, "EXPENSE_OPS_DSN" or the configuration file
  std::string config_path;  // --config, if any
  DsnSummary dsn_summary;   // parsed by libpq: a malformed DSN is a ConfigError
  std::string worker_id;    // defaults to the host name
  // Every registered job's interval (worker/job.hpp), by job name, from its <name>-interval key.
  std::map<std::string, Seconds> job_intervals;
  Seconds reconnect_initial_delay{1.0};
  Seconds reconnect_max_delay{30.0};
  std::string log_level = "info";
  // The checks (worker/jobs/checks.cpp): secrets and DSNs by name, never from the database.
  std::map<std::string, Credential> credentials;
  bool credential_on_command_line = false;               // which ps shows: warned about
  std::map<std::string, std::string> check_connections;  // `check-connection = NAME: DSN`
  int check_threads = 4;
  Seconds check_reload_interval{10.0};  // how often ops.checks is read again
  std::vector<ShippedLog> shipped_logs;
  std::string host_disk_path = "/";  // whose filesystem ops.host_samples.disk_percent measures
  // Delivery (worker/jobs/deliver_notifications.cpp, worker/notifier.hpp).
  std::map<std::string, std::string> secrets;  // `secret = NAME:VALUE`, for targets secret:NAME
  bool secret_on_command_line = false;
  std::map<std::string, std::vector<std::string>> commands;  // `command = NAME: /path arg ...`
  SmtpSettings smtp;
  int delivery_concurrency = 16;   // notifications in flight at once
  Seconds delivery_timeout{10.0};  // one attempt, any channel
  Seconds drain_timeout{10.0};     // how long a SIGTERM waits for deliveries in flight
  std::string listen_address = "127.0.0.1:9470";  // /metrics and /healthz; empty: none
  std::string job_set = "default";                // which registered jobs run (JobSpec::job_set)
  BackupConfig backup;

  // Whether anything secret was configured: a DSN password, a credential, a secret, the SMTP
  // password.
  bool holds_secret() const {
    return dsn_summary.has_password || !credentials.empty() || !secrets.empty() ||
           !smtp.password.empty() || backup.replication_dsn_has_password;
  }

  // The interval of a registered job; throws std::out_of_range for any other name.
  Seconds interval_of(const std::string& job) const { return job_intervals.at(job); }
};

// A configuration the worker cannot run with. The message names the offending option, and never
// quotes a value that could hold a secret.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the command line asked for.
struct ParsedCommandLine {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  WorkerConfig config;
  std::string help_text;
};

// Reads an environment variable; nullopt when unset. Injected so tests need no real environment.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

EnvironmentLookup process_environment();

// Parses argv (argv[0] is the program name), the EXPENSE_OPS_* environment and the file named by
// --config / EXPENSE_OPS_CONFIG, and the DSN with libpq. Throws ConfigError.
ParsedCommandLine parse_command_line(const std::vector<std::string>& args,
                                     const EnvironmentLookup& environment,
                                     const std::string& default_worker_id);

}  // namespace expense_ops::worker
