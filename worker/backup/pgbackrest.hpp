// The pgbackrest backend, for production: full and differential backups into a pgBackRest
// repository (local, or remote on S3 or SFTP, as its configuration file says), WAL archived by
// its archive-push, `verify` for the repository, `info --output=json` for the backups, and
// point-in-time restores. The worker runs the pgbackrest program; the stanza and its
// configuration are the operator's (docs/worker.md shows them).
#pragma once

#include "worker/backup/backend.hpp"

namespace expense_ops::worker::backup {

class PgBackRestBackend : public Backend {
 public:
  PgBackRestBackend(BackupConfig config, const std::atomic<bool>* stop);

  std::string name() const override { return "pgbackrest"; }
  std::string location() const override;
  bool supports_point_in_time() const override { return true; }
  std::optional<std::string> label_for(std::int64_t) const override { return std::nullopt; }
  TakenBackup take(const std::string& kind, const std::optional<std::string>& label,
                   const ConfigurationCopy& configuration) override;
  void verify(const std::string& label) override;
  void expire(const std::string& label) override;
  void restore(const std::string& label, const std::string& target,
               const std::optional<std::string>& target_time, Seconds timeout) override;
  void remove_partial_backups() override {}  // pgBackRest resumes or removes them itself

 private:
  // Runs `pgbackrest <command> <arguments>` for the stanza; its output, or BackupFailure.
  std::string run(const std::string& command, const std::vector<std::string>& arguments) const;
  // ... within `timeout`, which the setting `limit` names in the error.
  std::string run(const std::string& command, const std::vector<std::string>& arguments,
                  Seconds timeout, const std::string& limit) const;
  // The stanza's backups, oldest first, as `info --output=json` lists them.
  std::vector<std::string> labels() const;

  BackupConfig config_;
  const std::atomic<bool>* stop_;
};

// What `pgbackrest verify --output=text --verbose` says of one backup and the backups it
// references: empty when they and the WAL archive are valid, else why not. (pgBackRest 2.45
// exits 0 even when it finds corruption, so its words are all there is.)
std::string verify_problems(const std::string& verify_output, const std::string& label,
                            const std::vector<std::string>& references);

}  // namespace expense_ops::worker::backup
