#include "worker/backup/pgbackrest.hpp"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "worker/subprocess.hpp"

namespace expense_ops::worker::backup {

namespace {

std::string iso_utc(std::int64_t epoch_seconds) {
  const std::time_t when = static_cast<std::time_t>(epoch_seconds);
  std::tm utc{};
  gmtime_r(&when, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// The stanza's entry of `info --output=json`, which exits 0 even when it reports an error.
nlohmann::json stanza_info(const std::string& output) {
  try {
    const nlohmann::json stanzas = nlohmann::json::parse(output);
    if (!stanzas.is_array() || stanzas.empty()) {
      throw BackupFailure("pgbackrest info lists no stanza");
    }
    const nlohmann::json& stanza = stanzas.front();
    const int code = stanza.at("status").at("code").get<int>();
    if (code != 0 && code != 2) {  // 2: no backup yet, which is no error here
      throw BackupFailure("pgbackrest info: " +
                          stanza.at("status").value("message", std::string("an error")));
    }
    return stanza;
  } catch (const nlohmann::json::exception& error) {
    throw BackupFailure(std::string("pgbackrest info does not read: ") + error.what());
  }
}

}  // namespace

PgBackRestBackend::PgBackRestBackend(BackupConfig config, const std::atomic<bool>* stop)
    : config_(std::move(config)), stop_(stop) {}

std::string PgBackRestBackend::location() const {
  return "pgbackrest stanza " + config_.pgbackrest_stanza +
         (config_.pgbackrest_config.empty() ? "" : " (" + config_.pgbackrest_config + ")");
}

std::string PgBackRestBackend::run(const std::string& command,
                                   const std::vector<std::string>& arguments) const {
  return run(command, arguments, config_.timeout, "the backup-timeout");
}

std::string PgBackRestBackend::run(const std::string& command,
                                   const std::vector<std::string>& arguments, Seconds timeout,
                                   const std::string& limit) const {
  SubprocessSpec spec;
  spec.argv.push_back(config_.pgbackrest_bin);
  if (!config_.pgbackrest_config.empty()) {
    spec.argv.push_back("--config=" + config_.pgbackrest_config);
  }
  spec.argv.push_back("--stanza=" + config_.pgbackrest_stanza);
  spec.argv.insert(spec.argv.end(), arguments.begin(), arguments.end());
  spec.argv.push_back(command);
  spec.environment = tool_environment("");
  spec.timeout = timeout;
  spec.stop = stop_;
  spec.kept_output_bytes = 1 << 20;  // info's JSON and verify's report are read whole
  // Its own process group, killed whole: a backup's `backup:local` children would otherwise
  // outlive a killed pgbackrest and hold its lock.
  return output_of_success("pgbackrest " + command, run_subprocess(spec), timeout, limit);
}

std::vector<std::string> PgBackRestBackend::labels() const {
  const nlohmann::json stanza = stanza_info(run("info", {"--output=json"}));
  std::vector<std::string> found;
  for (const nlohmann::json& backup : stanza.value("backup", nlohmann::json::array())) {
    found.push_back(backup.at("label").get<std::string>());
  }
  return found;
}

TakenBackup PgBackRestBackend::take(const std::string& kind,
                                    const std::optional<std::string>& /*label*/,
                                    const ConfigurationCopy& /*configuration*/) {
  // The configuration travels in the backup marker, inside the database this backs up.
  if (kind != "full" && kind != "diff") {
    throw BackupFailure("pgbackrest backups are full or diff, not " + kind);
  }
  const std::vector<std::string> before = labels();
  run("backup", {"--type=" + kind, "--start-fast"});
  const nlohmann::json stanza = stanza_info(run("info", {"--output=json"}));
  const std::set<std::string> earlier(before.begin(), before.end());
  for (const nlohmann::json& backup : stanza.value("backup", nlohmann::json::array())) {
    const std::string label = backup.at("label").get<std::string>();
    if (earlier.count(label) != 0) {
      continue;
    }
    try {
      TakenBackup taken;
      taken.label = label;
      taken.bytes = backup.at("info").at("delta").get<std::int64_t>();
      taken.wal_start_lsn = backup.at("lsn").at("start").get<std::string>();
      taken.wal_stop_lsn = backup.at("lsn").at("stop").get<std::string>();
      taken.stopped_at = iso_utc(backup.at("timestamp").at("stop").get<std::int64_t>());
      return taken;
    } catch (const nlohmann::json::exception& error) {
      throw BackupFailure("pgbackrest info describes backup " + label + " oddly: " + error.what());
    }
  }
  throw BackupFailure("pgbackrest backup exited 0, but info lists no new backup");
}

std::string verify_problems(const std::string& verify_output, const std::string& label,
                            const std::vector<std::string>& references) {
  static const std::regex kBackupLine(R"(backup: ([^,\s]+), status: ([a-z]+))");
  static const std::regex kWalLine(R"(total WAL checked: (\d+), total valid WAL: (\d+))");
  std::set<std::string> wanted(references.begin(), references.end());
  wanted.insert(label);
  std::set<std::string> seen;
  std::string problems;
  std::istringstream lines(verify_output);
  for (std::string line; std::getline(lines, line);) {
    std::smatch parts;
    if (std::regex_search(line, parts, kBackupLine)) {
      const std::string backup = parts[1].str();
      if (wanted.count(backup) != 0) {
        seen.insert(backup);
        if (parts[2].str() != "valid") {
          problems +=
              (problems.empty() ? "" : "; ") + ("backup " + backup + " is " + parts[2].str());
        }
      }
    } else if (std::regex_search(line, parts, kWalLine) && parts[1].str() != parts[2].str()) {
      problems += (problems.empty() ? "" : "; ") + std::string("WAL archive: ") + parts[2].str() +
                  " of " + parts[1].str() + " files valid";
    }
  }
  for (const std::string& backup : wanted) {
    if (seen.count(backup) == 0) {
      problems += (problems.empty() ? "" : "; ") + ("backup " + backup + " was not verified");
    }
  }
  return problems;
}

void PgBackRestBackend::verify(const std::string& label) {
  const nlohmann::json stanza = stanza_info(run("info", {"--output=json"}));
  std::vector<std::string> references;
  for (const nlohmann::json& backup : stanza.value("backup", nlohmann::json::array())) {
    if (backup.at("label").get<std::string>() == label && backup.contains("reference") &&
        backup.at("reference").is_array()) {
      for (const nlohmann::json& reference : backup.at("reference")) {
        references.push_back(reference.get<std::string>());
      }
    }
  }
  const std::string report =
      run("verify", {"--output=text", "--verbose", "--log-level-console=off"});
  const std::string problems = verify_problems(report, label, references);
  if (!problems.empty()) {
    throw BackupFailure("pgbackrest verify: " + problems);
  }
}

void PgBackRestBackend::expire(const std::string& label) {
  run("expire", {"--set=" + label});
}

void PgBackRestBackend::restore(const std::string& label, const std::string& target,
                                const std::optional<std::string>& target_time, Seconds timeout) {
  std::vector<std::string> arguments = {"--pg1-path=" + target, "--archive-mode=off",
                                        "--target-action=promote"};
  // Always the backup the worker verified and records. A drill's target comes after that
  // backup ended (the worker writes its markers once it has chosen it): a backup that ended after
  // its target would silently restore to its own end instead.
  arguments.emplace_back("--set=" + label);
  if (target_time) {
    arguments.emplace_back("--type=time");
    arguments.emplace_back("--target=" + *target_time);
  } else {
    arguments.emplace_back("--type=immediate");
  }
  run("restore", arguments, timeout, "what was left of the restore-test-timeout");
}

}  // namespace expense_ops::worker::backup
