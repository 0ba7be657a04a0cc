#include "worker/config.hpp"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace expense_ops::worker {

namespace po = boost::program_options;

namespace {

constexpr const char* kEnvironmentPrefix = "EXPENSE_OPS_";

po::options_description describe_options() {
  po::options_description options("expense-ops-worker options");
  // clang-format off
  options.add_options()
    ("help,h", "print this help and exit")
    ("version", "print the version and exit")
    ("config,c", po::value<std::string>(),
     "configuration file of option = value lines (env EXPENSE_OPS_CONFIG)")
    ("dsn", po::value<std::string>(),
     "libpq connection string of the worker's LOGIN role (env EXPENSE_OPS_DSN)")
    ("worker-id", po::value<std::string>(),
     "name of this worker in ops.worker_heartbeats (default: the host name)")
    ("heartbeat-interval", po::value<double>()->default_value(10.0),
     "seconds between heartbeats; api.health() degrades after 3 missed ones")
    ("sla-refresh-interval", po::value<double>()->default_value(15.0),
     "seconds between SLA refreshes, calls of ops.refresh_sla_transitions(); at_risk and "
     "breached transitions are recorded at most this late")
    ("reconnect-initial-delay", po::value<double>()->default_value(1.0),
     "seconds before the first reconnection attempt; doubles after each failure")
    ("reconnect-max-delay", po::value<double>()->default_value(30.0),
     "cap on the delay between reconnection attempts, in seconds")
    ("log-level", po::value<std::string>()->default_value("info"),
     "trace, debug, info, warn or error");
  // clang-format on
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

    if (values.count("config") > 0) {
      const std::string path = values["config"].as<std::string>();
      std::ifstream file(path);
      if (!file) {
        throw ConfigError("--config: cannot read configuration file \"" + path + "\"");
      }
      po::store(po::parse_config_file(file, options), values);
    }
    po::notify(values);
  } catch (const ConfigError&) {
    throw;
  } catch (const po::error& error) {
    throw ConfigError(error.what());
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
  if (values.count("dsn") == 0 || values["dsn"].as<std::string>().empty()) {
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
  config.heartbeat_interval = bounded_seconds(values, "heartbeat-interval", 0.1, 3600);
  config.sla_refresh_interval = bounded_seconds(values, "sla-refresh-interval", 0.1, 3600);
  config.reconnect_initial_delay = bounded_seconds(values, "reconnect-initial-delay", 0.01, 3600);
  config.reconnect_max_delay = bounded_seconds(values, "reconnect-max-delay", 0.01, 86400);
  if (config.reconnect_max_delay < config.reconnect_initial_delay) {
    throw ConfigError("--reconnect-max-delay must not be less than --reconnect-initial-delay");
  }
  config.log_level = values["log-level"].as<std::string>();
  static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (std::find(std::begin(kLevels), std::end(kLevels), config.log_level) == std::end(kLevels)) {
    throw ConfigError("--log-level must be one of trace, debug, info, warn, error; got \"" +
                      config.log_level + "\"");
  }
  return parsed;
}

}  // namespace expense_ops::worker
