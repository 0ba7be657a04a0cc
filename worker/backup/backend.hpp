// The backup backends behind one interface (issue 12): basebackup (pg_basebackup with a manifest
// and its WAL, checked by pg_verifybackup) and pgbackrest. Each runs the real tool as a child
// process (worker/subprocess.hpp): no shell, a clean environment that carries the connection
// settings (never the command line, which ps shows), a timeout, and the worker's stop.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "worker/config.hpp"
#include "worker/subprocess.hpp"

namespace expense_ops::worker::backup {

// A step that failed: the tool's own words, for ops.backups.error and the log.
class BackupFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a finished backup is, as the backend reports it.
struct TakenBackup {
  std::string label;
  std::int64_t bytes = 0;
  std::string wal_start_lsn;  // "0/2000028"
  std::string wal_stop_lsn;
  std::optional<std::string> stopped_at;  // ISO 8601, when the backend knows when it stopped
};

// The configuration files that travel with a backup: their text by path, secrets removed.
using ConfigurationCopy = std::map<std::string, std::string>;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;      // ops.backups.backend
  virtual std::string location() const = 0;  // ops.backups.location: directory or repository
  virtual bool supports_point_in_time() const = 0;
  // The label the next backup will have, when the backend lets the worker choose it (basebackup
  // does, from the backup's id and time); nullopt when the tool chooses (pgbackrest).
  virtual std::optional<std::string> label_for(std::int64_t backup_id) const = 0;

  // Takes a backup: kind is full or diff. A failure leaves nothing half-written behind, as far as
  // the tool allows. Throws BackupFailure.
  virtual TakenBackup take(const std::string& kind, const std::optional<std::string>& label,
                           const ConfigurationCopy& configuration) = 0;
  // Checks a backup against its manifest or checksums. Throws BackupFailure.
  virtual void verify(const std::string& label) = 0;
  // Removes a backup. Throws BackupFailure.
  virtual void expire(const std::string& label) = 0;
  // Restores a backup into `target` (an empty directory the worker made), to its end or, with
  // `target_time`, to that moment (supports_point_in_time()), within `timeout`: what is left of
  // the restore test's. Throws BackupFailure.
  virtual void restore(const std::string& label, const std::string& target,
                       const std::optional<std::string>& target_time, Seconds timeout) = 0;
  // Removes what interrupted backups left (a worker killed midway), before the next one.
  virtual void remove_partial_backups() = 0;
};

// The configured backend; `stop` cuts a running tool short when the worker stops.
std::unique_ptr<Backend> make_backend(const WorkerConfig& config, const std::atomic<bool>* stop);

// The environment a PostgreSQL tool runs with: a fixed PATH and locale, HOME for a ~/.pgpass,
// and the connection string `dsn` as libpq's PG* variables (PGHOST, PGPASSWORD, ...), which
// only the worker's own user can read, unlike a command line.
std::vector<std::string> tool_environment(const std::string& dsn);

// The last `count` lines of `text` that are not blank, joined by " | ": where PostgreSQL's tools
// and a server's log say what went wrong.
std::string last_lines(const std::string& text, std::size_t count);

// What a tool said, in one bounded line for a record: its last lines.
std::string tool_message(const std::string& tool, const std::string& output, int exit_code);

// The output of a tool that ran to its end and exited 0; otherwise BackupFailure saying why (not
// started, killed at `timeout`, which the setting `limit` names, stopped with the worker, killed
// by a signal, or its exit code and its last lines).
std::string output_of_success(const std::string& tool, const SubprocessResult& result,
                              Seconds timeout, const std::string& limit = "the backup-timeout");

}  // namespace expense_ops::worker::backup
