// A restore test (issue 12): the backup restored into a scratch directory, a server started on
// it, the checks run against it, and all of it removed. The measured RTO is the time from the
// start of the restore to the end of the passing checks.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "worker/backup/backend.hpp"
#include "worker/config.hpp"

namespace expense_ops::worker::backup {

// What the restore must hold (ops.restore_expectations()).
struct RestoreExpectations {
  std::string database;           // the live database's name
  std::string marker_token;       // present
  std::string extension_version;  // of the extension when the backup was taken
  std::map<std::string, std::int64_t> row_counts_low;
  std::map<std::string, std::int64_t> row_counts_high;
  // A point-in-time drill: the marker written after the target, which must be absent; row
  // counts are not compared.
  std::optional<std::string> absent_marker_token;
};

struct RestoreCheck {
  std::string check;  // consistency, amcheck, extension_version, health_db, marker, ...
  bool passed = false;
  std::string detail;
  double seconds = 0;
};

struct RestoreTestOutcome {
  bool passed = false;
  std::vector<RestoreCheck> checks;
  std::optional<double> restore_seconds;  // until the restored server took writes
  std::optional<double> rto_seconds;      // until the checks passed
  std::string error;                      // the first failure, in short
};

// Runs one restore test of `label` (to `target_time` for a drill) in the scratch directory
// named `name`. Never throws for a failed restore or check: they are the outcome.
RestoreTestOutcome run_restore_test(Backend& backend, const BackupConfig& config,
                                    const std::atomic<bool>* stop, const std::string& name,
                                    const std::string& label,
                                    const std::optional<std::string>& target_time,
                                    const RestoreExpectations& expected);

}  // namespace expense_ops::worker::backup
