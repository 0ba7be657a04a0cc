#include "worker/backup/restore_test.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <pqxx/pqxx>
#include <thread>

#include "worker/backup/backup_policy.hpp"
#include "worker/backup/scratch_cluster.hpp"
#include "worker/subprocess.hpp"
#include "worker/text.hpp"

namespace expense_ops::worker::backup {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The checks of one test, each timed, in the order they ran.
class CheckList {
 public:
  explicit CheckList(RestoreTestOutcome& outcome) : outcome_(outcome) {}

  bool add(const std::string& check, bool passed, const std::string& detail,
           Clock::time_point started) {
    outcome_.checks.push_back(
        RestoreCheck{check, passed, one_line_excerpt(detail, 1000), seconds_since(started)});
    if (!passed && outcome_.error.empty()) {
      outcome_.error = check + ": " + one_line_excerpt(detail, 500);
    }
    return passed;
  }

 private:
  RestoreTestOutcome& outcome_;
};

// Recovery may go on after the server accepts (read-only) connections: a restore with a
// recovery target replays, then promotes. It is consistent and done when it takes writes.
bool wait_until_promoted(pqxx::connection& connection, Clock::time_point deadline,
                         const std::atomic<bool>* stop) {
  while (true) {
    pqxx::nontransaction query(connection);
    if (!query.exec1("SELECT pg_is_in_recovery()")[0].as<bool>()) {
      return true;
    }
    if (Clock::now() >= deadline || (stop != nullptr && stop->load())) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// pg_ctl's wait ends when a server in recovery reaches consistency (without hot standby, it then
// still refuses connections until recovery ends and it is promoted): connecting is the test.
std::unique_ptr<pqxx::connection> connect_when_open(const ScratchCluster& cluster,
                                                    const std::string& database,
                                                    Clock::time_point deadline,
                                                    const std::atomic<bool>* stop) {
  while (true) {
    try {
      return std::make_unique<pqxx::connection>(cluster.connection_string(database));
    } catch (const pqxx::broken_connection&) {
      if (Clock::now() >= deadline || (stop != nullptr && stop->load())) {
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

RestoreCheck amcheck(const BackupConfig& config, const std::atomic<bool>* stop,
                     const ScratchCluster& cluster, const std::string& database, Seconds timeout) {
  const auto started = Clock::now();
  SubprocessSpec spec;
  spec.argv = {(std::filesystem::path(config.postgres_bin) / "pg_amcheck").string(),
               "--install-missing",
               "--host=" + cluster.socket_directory(),
               "--port=" + std::to_string(cluster.port()),
               "--username=" + cluster.user(),
               "--no-password",
               database};
  spec.environment = minimal_tool_environment();
  spec.timeout = timeout;
  spec.stop = stop;
  const SubprocessResult result = run_subprocess(spec);
  RestoreCheck check{"amcheck", result.succeeded(), "", seconds_since(started)};
  if (check.passed) {
    check.detail = "pg_amcheck found no corruption in the tables and B-tree indexes of " + database;
  } else if (result.timed_out) {
    check.detail = "pg_amcheck did not finish within the restore-test-timeout";
  } else {
    // Exit 2 is corruption found, 1 any other failure; the output says which objects.
    check.detail = tool_message("pg_amcheck", result.output, result.exit_code().value_or(-1));
  }
  return check;
}

std::string quoted(const std::string& text) {
  return "\"" + text + "\"";
}

}  // namespace

RestoreTestOutcome run_restore_test(Backend& backend, const BackupConfig& config,
                                    const std::atomic<bool>* stop, const std::string& name,
                                    const std::string& label,
                                    const std::optional<std::string>& target_time,
                                    const RestoreExpectations& expected) {
  RestoreTestOutcome outcome;
  CheckList checks(outcome);
  const auto started = Clock::now();
  const auto deadline =
      started + std::chrono::duration_cast<Clock::duration>(config.restore_test_timeout);
  const auto remaining = [&deadline] {
    return std::max(Seconds(1), std::chrono::duration_cast<Seconds>(deadline - Clock::now()));
  };
  try {
    ScratchCluster cluster(config, stop, name);
    auto step = Clock::now();
    try {
      backend.restore(label, cluster.data_directory(), target_time, remaining());
      if (Clock::now() >= deadline) {
        checks.add("restore", false,
                   "restoring " + label + " took longer than the restore-test-timeout", step);
        return outcome;
      }
      checks.add("restore", true,
                 "restored " + label + (target_time ? " to " + *target_time : " to its end"), step);
    } catch (const BackupFailure& failure) {
      checks.add("restore", false, failure.what(), step);
      return outcome;
    }
    step = Clock::now();
    try {
      cluster.start(remaining());
    } catch (const BackupFailure& failure) {
      checks.add("start", false, failure.what(), step);
      return outcome;
    }
    step = Clock::now();
    std::unique_ptr<pqxx::connection> opened =
        connect_when_open(cluster, expected.database, deadline, stop);
    if (!opened) {
      checks.add(
          "consistency", false,
          "the server never opened for connections: recovery did not end; " + cluster.log_tail(),
          step);
      return outcome;
    }
    pqxx::connection& database = *opened;
    if (!checks.add("consistency", wait_until_promoted(database, deadline, stop),
                    "recovery ended and the server takes writes; " + cluster.log_tail(), step)) {
      return outcome;
    }
    outcome.restore_seconds = seconds_since(started);

    RestoreCheck integrity = amcheck(config, stop, cluster, expected.database, remaining());
    outcome.checks.push_back(integrity);
    if (!integrity.passed && outcome.error.empty()) {
      outcome.error = "amcheck: " + one_line_excerpt(integrity.detail, 500);
    }

    pqxx::nontransaction query(database);
    step = Clock::now();
    const pqxx::row version = query.exec1(
        "SELECT coalesce((SELECT extversion FROM pg_extension "
        "WHERE extname = 'expense_ops'), 'not installed')");
    const std::string restored_version = version[0].as<std::string>();
    checks.add("extension_version", restored_version == expected.extension_version,
               "expense_ops " + restored_version + " restored, " + expected.extension_version +
                   " when the backup was taken",
               step);

    step = Clock::now();
    const std::string status =
        query.exec1("SELECT api.health_db()->>'status'")[0].as<std::string>("");
    // A restore alone is not the deployment (its replicas, its connection count): degraded is
    // what it may be; down is not.
    checks.add("health_db", status == "ok" || status == "degraded",
               "api.health_db() says " + quoted(status), step);

    step = Clock::now();
    const auto markers = [&query](const std::string& token) {
      return query
          .exec_params1("SELECT count(*) FROM ops.backup_markers WHERE token = $1", token)[0]
          .as<long>();
    };
    checks.add("marker", markers(expected.marker_token) == 1,
               markers(expected.marker_token) == 1
                   ? "the marker written before the backup is there"
                   : "the marker written before the backup is missing: this restore is not of "
                     "that backup, or lost data",
               step);
    if (expected.absent_marker_token) {
      step = Clock::now();
      const bool absent = markers(*expected.absent_marker_token) == 0;
      checks.add("marker_after_target", absent,
                 absent ? "the marker written after the target time is absent"
                        : "the marker written after the target time is there: recovery went "
                          "past its target",
                 step);
    } else {
      step = Clock::now();
      std::map<std::string, std::int64_t> restored;
      for (const auto& row :
           query.exec("SELECT key, value::bigint FROM jsonb_each_text(ops.key_table_counts())")) {
        restored[row[0].as<std::string>()] = row[1].as<std::int64_t>();
      }
      bool all_within = true;
      std::string detail;
      for (const RowCountVerdict& verdict :
           row_count_verdicts(restored, expected.row_counts_low, expected.row_counts_high)) {
        all_within = all_within && verdict.passed();
        detail += (detail.empty() ? "" : ", ") + verdict.table + " " +
                  (verdict.restored ? std::to_string(*verdict.restored) : "missing") + " in [" +
                  std::to_string(verdict.low) + ", " + std::to_string(verdict.high) + "]";
      }
      checks.add("row_counts", all_within, detail, step);
    }
    bool all_passed = !outcome.checks.empty();
    for (const RestoreCheck& check : outcome.checks) {
      all_passed = all_passed && check.passed;
    }
    outcome.passed = all_passed;
    if (all_passed) {
      outcome.rto_seconds = seconds_since(started);
    }
  } catch (const BackupFailure& failure) {
    checks.add("worker", false, failure.what(), started);
  } catch (const std::exception& failure) {
    // The restored server went away mid-check, or the scratch directory could not be made.
    checks.add("worker", false, failure.what(), started);
  }
  outcome.passed = outcome.passed && outcome.error.empty();
  return outcome;
}

}  // namespace expense_ops::worker::backup
