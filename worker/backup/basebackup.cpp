#include "worker/backup/basebackup.hpp"

#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "worker/subprocess.hpp"

namespace expense_ops::worker::backup {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPartialSuffix = ".partial";

// A label names a directory inside the backup directory, and nothing else.
void check_label(const std::string& label) {
  if (label.empty() || label == "." || label == ".." ||
      label.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") !=
          std::string::npos) {
    throw BackupFailure("not a basebackup label: \"" + label + "\"");
  }
}

std::int64_t bytes_under(const fs::path& directory) {
  std::int64_t total = 0;
  std::error_code error;
  for (fs::recursive_directory_iterator entry(directory, error), end; !error && entry != end;
       entry.increment(error)) {
    if (entry->is_regular_file(error)) {
      total += static_cast<std::int64_t>(entry->file_size(error));
    }
  }
  return total;
}

// The manifest's WAL range: where the backup starts and where it is consistent.
void read_wal_range(const fs::path& manifest_path, TakenBackup& taken) {
  std::ifstream file(manifest_path);
  if (!file) {
    throw BackupFailure("pg_basebackup wrote no backup_manifest");
  }
  try {
    const nlohmann::json manifest = nlohmann::json::parse(file);
    const nlohmann::json& ranges = manifest.at("WAL-Ranges");
    if (!ranges.is_array() || ranges.empty()) {
      throw BackupFailure("the backup_manifest names no WAL range");
    }
    taken.wal_start_lsn = ranges.front().at("Start-LSN").get<std::string>();
    taken.wal_stop_lsn = ranges.back().at("End-LSN").get<std::string>();
  } catch (const nlohmann::json::exception& error) {
    throw BackupFailure(std::string("the backup_manifest does not read: ") + error.what());
  }
}

void write_configuration(const fs::path& directory, const ConfigurationCopy& configuration) {
  for (const auto& [path, text] : configuration) {
    // /etc/postgresql/15/main/pg_hba.conf -> configuration/etc/postgresql/15/main/pg_hba.conf
    const fs::path copy = directory / fs::path(path).relative_path();
    fs::create_directories(copy.parent_path());
    std::ofstream file(copy, std::ios::binary | std::ios::trunc);
    file << text;
    file.close();
    if (!file) {
      throw BackupFailure("cannot write the configuration copy " + copy.string());
    }
    fs::permissions(copy, fs::perms::owner_read | fs::perms::owner_write);
  }
}

}  // namespace

BaseBackupBackend::BaseBackupBackend(BackupConfig config, const std::atomic<bool>* stop)
    : config_(std::move(config)), stop_(stop) {}

std::optional<std::string> BaseBackupBackend::label_for(std::int64_t backup_id) const {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  return std::to_string(backup_id) + "-" + stamp;
}

std::string BaseBackupBackend::backup_path(const std::string& label) const {
  check_label(label);
  return (fs::path(config_.directory) / label).string();
}

std::string BaseBackupBackend::run_tool(const std::string& tool,
                                        std::vector<std::string> arguments) const {
  SubprocessSpec spec;
  spec.argv.push_back((fs::path(config_.postgres_bin) / tool).string());
  spec.argv.insert(spec.argv.end(), arguments.begin(), arguments.end());
  spec.environment = tool_environment(config_.replication_dsn);
  spec.timeout = config_.timeout;
  spec.stop = stop_;
  spec.kept_output_bytes = 16384;
  return output_of_success(tool, run_subprocess(spec), config_.timeout);
}

TakenBackup BaseBackupBackend::take(const std::string& kind,
                                    const std::optional<std::string>& label,
                                    const ConfigurationCopy& configuration) {
  if (kind != "full") {
    throw BackupFailure("the basebackup backend takes full backups only, not " + kind);
  }
  if (!label) {
    throw BackupFailure("a basebackup needs its label before it starts");
  }
  const fs::path final_path = backup_path(*label);
  const fs::path partial = final_path.string() + kPartialSuffix;
  std::error_code error;
  fs::create_directories(config_.directory, error);
  if (error) {
    throw BackupFailure("cannot create the backup directory " + config_.directory + ": " +
                        error.message());
  }
  fs::remove_all(partial, error);
  if (!fs::create_directory(partial, error) || error) {
    throw BackupFailure("cannot create " + partial.string() + ": " +
                        (error ? error.message() : "it exists"));
  }
  fs::permissions(partial, fs::perms::owner_all, error);
  try {
    run_tool("pg_basebackup",
             {"--pgdata=" + (partial / "data").string(), "--format=plain", "--wal-method=stream",
              "--checkpoint=fast", "--manifest-checksums=CRC32C", "--label=expense_ops " + *label,
              "--no-password"});
    TakenBackup taken;
    taken.label = *label;
    read_wal_range(partial / "data" / "backup_manifest", taken);
    write_configuration(partial / "configuration", configuration);
    taken.bytes = bytes_under(partial / "data");
    fs::rename(partial, final_path);
    return taken;
  } catch (const fs::filesystem_error& failure) {
    fs::remove_all(partial, error);
    throw BackupFailure(failure.what());
  } catch (...) {
    // Nothing half-written stays: the next backup starts clean, and no restore picks this up.
    fs::remove_all(partial, error);
    throw;
  }
}

void BaseBackupBackend::verify(const std::string& label) {
  const fs::path data = fs::path(backup_path(label)) / "data";
  std::error_code error;
  if (!fs::is_directory(data, error)) {
    throw BackupFailure("the backup " + label + " is not in " + config_.directory);
  }
  run_tool("pg_verifybackup", {"--quiet", data.string()});
}

void BaseBackupBackend::expire(const std::string& label) {
  std::error_code error;
  fs::remove_all(backup_path(label), error);
  if (error) {
    throw BackupFailure("cannot remove the backup " + label + ": " + error.message());
  }
}

// A copy within this process, which no timeout can cut short: the restore test checks its
// deadline once the copy is done.
void BaseBackupBackend::restore(const std::string& label, const std::string& target,
                                const std::optional<std::string>& target_time,
                                Seconds /*timeout*/) {
  if (target_time) {
    throw BackupFailure(
        "the basebackup backend restores a backup to its end only; a point in time needs the "
        "pgbackrest backend and its WAL archive");
  }
  const fs::path data = fs::path(backup_path(label)) / "data";
  std::error_code error;
  if (!fs::is_directory(data, error)) {
    throw BackupFailure("the backup " + label + " is not in " + config_.directory);
  }
  fs::copy(data, target, fs::copy_options::recursive | fs::copy_options::copy_symlinks, error);
  if (error) {
    throw BackupFailure("cannot copy the backup " + label + " to " + target + ": " +
                        error.message());
  }
  // PostgreSQL refuses a data directory anyone but its owner may read.
  fs::permissions(target, fs::perms::owner_all, error);
}

void BaseBackupBackend::remove_partial_backups() {
  std::error_code error;
  for (fs::directory_iterator entry(config_.directory, error), end; !error && entry != end;
       entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    if (name.size() > std::string(kPartialSuffix).size() &&
        name.compare(name.size() - std::string(kPartialSuffix).size(), std::string::npos,
                     kPartialSuffix) == 0) {
      std::error_code removal;
      fs::remove_all(entry->path(), removal);
    }
  }
}

}  // namespace expense_ops::worker::backup
