// The basebackup backend, the default, which needs no setup: pg_basebackup takes a plain-format
// copy of the cluster with a backup manifest and the WAL it needs (streamed beside it), and
// pg_verifybackup checks it against the manifest, WAL included. PostgreSQL 15's
// pg_verifybackup reads plain format only, hence plain.
//
// Each backup is a directory <backup-directory>/<label>/ holding data/ (the copy) and
// configuration/ (the configuration files that live outside the data directory, secrets
// removed). It is written as <label>.partial and renamed when complete, so a backup cut short
// leaves only a .partial directory, which the next run removes.
#pragma once

#include "worker/backup/backend.hpp"

namespace expense_ops::worker::backup {

class BaseBackupBackend : public Backend {
 public:
  BaseBackupBackend(BackupConfig config, const std::atomic<bool>* stop);

  std::string name() const override { return "basebackup"; }
  std::string location() const override { return config_.directory; }
  bool supports_point_in_time() const override { return false; }
  std::optional<std::string> label_for(std::int64_t backup_id) const override;
  TakenBackup take(const std::string& kind, const std::optional<std::string>& label,
                   const ConfigurationCopy& configuration) override;
  void verify(const std::string& label) override;
  void expire(const std::string& label) override;
  void restore(const std::string& label, const std::string& target,
               const std::optional<std::string>& target_time, Seconds timeout) override;
  void remove_partial_backups() override;

 private:
  std::string backup_path(const std::string& label) const;
  // Runs one of PostgreSQL's tools to its end; throws BackupFailure unless it exits 0.
  std::string run_tool(const std::string& tool, std::vector<std::string> arguments) const;

  BackupConfig config_;
  const std::atomic<bool>* stop_;
};

}  // namespace expense_ops::worker::backup
