// expense-ops-worker: the sidecar that runs expense_ops' scheduled work next to PostgreSQL.
#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "core/version.hpp"
#include "worker/config.hpp"
#include "worker/heartbeat.hpp"
#include "worker/job.hpp"
#include "worker/worker_loop.hpp"
#include "worker/log.hpp"
#include "worker/redact.hpp"
#include "worker/shutdown.hpp"
#include "worker/sql_errors.hpp"

namespace {

// The systemd unit restarts on 1 and not on 2 (RestartPreventExitStatus=2): a crash may be
// transient, a bad configuration stays bad.
constexpr int kExitFatal = 1;
constexpr int kExitConfigError = 2;

}  // namespace

int main(int argc, char** argv) {
  using namespace expense_ops::worker;
  // Block the shutdown signals before anything else, so none is lost or kills us mid-write.
  ShutdownSignal shutdown;
  // A receiver or a command that hangs up mid-write is an outcome of that delivery, not the end
  // of the worker (libcurl and the command channel see EPIPE instead).
  std::signal(SIGPIPE, SIG_IGN);
  // A parent that ignored SIGCHLD would pass that on through exec, and the command channel's
  // children would then be reaped by the kernel before their exit status could be read.
  std::signal(SIGCHLD, SIG_DFL);

  ParsedCommandLine parsed;
  try {
    parsed = parse_command_line(std::vector<std::string>(argv, argv + argc), process_environment(),
                                host_name());
  } catch (const ConfigError& error) {
    std::cerr << "expense-ops-worker: configuration error: " << error.what() << "\n"
              << "Try 'expense-ops-worker --help'.\n";
    return kExitConfigError;
  }
  switch (parsed.action) {
    case ParsedCommandLine::Action::kHelp:
      std::cout << parsed.help_text;
      return 0;
    case ParsedCommandLine::Action::kVersion:
      std::cout << "expense-ops-worker " << expense_ops::core::kLibraryVersion << "\n";
      return 0;
    case ParsedCommandLine::Action::kRun:
      break;
  }

  const WorkerConfig& config = parsed.config;
  log::init(config.log_level);
  // Bound each connection attempt, so that an unreachable host neither hangs the retry loop
  // nor delays a shutdown. An explicit PGCONNECT_TIMEOUT or connect_timeout still wins.
  setenv("PGCONNECT_TIMEOUT", "5", 0);
  setenv("PGAPPNAME", "expense-ops-worker", 0);

  const WorkerIdentity identity = current_identity(config);
  expense_ops::core::json::Object intervals;
  for (const JobSpec& job : jobs_of_set(config.job_set)) {
    intervals.emplace_back(job.name, config.interval_of(job.name).count());
  }
  log::info("started", {{"worker_id", identity.worker_id},
                        {"host", identity.host},
                        {"pid", identity.pid},
                        {"version", identity.version},
                        {"dsn_from", config.dsn_origin},
                        {"jobs", config.job_set},
                        {"interval_seconds", intervals}});
  if (config.dsn_origin == kDsnFromCommandLine && config.dsn_summary.has_password) {
    log::warn("dsn_password_on_command_line",
              {{"hint",
                "any local user can read a command line (ps, /proc/<pid>/cmdline); pass the DSN "
                "in the configuration file or EXPENSE_OPS_DSN, or keep the password in a "
                "passfile"}});
  }
  if (config.credential_on_command_line) {
    log::warn("credential_on_command_line",
              {{"hint",
                "any local user can read a command line; give credential in the configuration "
                "file or EXPENSE_OPS_CREDENTIAL"}});
  }
  struct stat file {};
  if (!config.config_path.empty() && config.holds_secret() &&
      stat(config.config_path.c_str(), &file) == 0 && (file.st_mode & S_IROTH) != 0) {
    log::warn("configuration_file_readable",
              {{"path", config.config_path},
               {"hint",
                "it holds a secret and every local user can read it: chmod 0600 (or 0640 with "
                "the worker's group)"}});
  }
  if (config.secret_on_command_line) {
    log::warn("secret_on_command_line",
              {{"hint",
                "any local user can read a command line; give secret and smtp-password in the "
                "configuration file (mode 0600) or as systemd credentials"}});
  }
  try {
    const std::vector<std::string> args(argv, argv + argc);
    const auto reread = [&args] {
      return parse_command_line(args, process_environment(), host_name()).config;
    };
    run_worker_loop(config, identity, shutdown, reread);
  } catch (const ConfigError& error) {
    log::error("configuration_error", {{"error", redact_secrets(error.what())}});
    return kExitConfigError;
  } catch (const std::exception& error) {
    log::error("fatal", {{"error", redact_secrets(one_line(error.what()))}});
    return kExitFatal;
  }
  log::info("stopped", {{"signal", shutdown.signal_number()}});
  return 0;
}
