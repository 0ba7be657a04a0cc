// The backup job set's one job (`expense-ops-worker --jobs backup`, issue 12): the daily backup
// and those requested (ops.request_backup), each verified at once; restore tests and
// point-in-time drills on their schedule and on request; retention. One thing at a time, on one
// thread: a restore test never competes with a backup for the disk, and every step is written
// to ops.backups or ops.restore_tests as it happens, so a worker killed midway leaves a record
// that the next start closes (and the partial files it removes).
#include <date/tz.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "worker/backup/backend.hpp"
#include "worker/backup/backup_policy.hpp"
#include "worker/backup/restore_test.hpp"
#include "worker/backup/scratch_cluster.hpp"
#include "worker/job.hpp"
#include "worker/log.hpp"
#include "worker/notification_wait.hpp"
#include "worker/schedule.hpp"
#include "worker/text.hpp"

namespace expense_ops::worker {

namespace {

using backup::WallClock;
using backup::WallTime;

constexpr const char* kChannel = "expense_ops_backups";
// pgBackRest: a full backup at least this often, differential ones between.
constexpr auto kFullEvery = std::chrono::hours(24 * 7);
// A drill waits this long for its WAL to be archived before it gives up.
constexpr Seconds kArchiveWait{120};
constexpr Seconds kRetentionEvery{3600};

WallTime from_epoch(double seconds) {
  return WallTime(std::chrono::duration_cast<WallClock::duration>(Seconds(seconds)));
}

// A configuration file's text for the copy, or a note in its place that says why it is missing.
std::string configuration_file(const std::string& path) {
  return read_file(path).value_or("<unreadable by the backup worker>");
}

struct Request {
  std::int64_t id = 0;
  std::string kind;
  std::string reason;
};

class BackupsJob : public Job {
 public:
  explicit BackupsJob(const JobContext& context)
      : config_(context.config),
        worker_id_(context.config.worker_id),
        stop_(context.stop),
        backend_(backup::make_backend(context.config, context.stop)),
        daily_at_(backup::parse_time_of_day(context.config.backup.daily_at)) {}

  void run(pqxx::connection& connection) override {
    if (!listening_) {
      listening_ = std::make_unique<NotificationFlag>(connection, kChannel, requested_);
    }
    if (!recovered_) {
      close_interrupted(connection);
      recovered_ = true;
    }
    requested_ = false;
    more_ = false;
    // Requests come first, but never twice running while the schedule has work due: someone
    // asking for a backup all day long must not hold off the restore tests, nor the other way.
    if (served_request_last_) {
      served_request_last_ = false;
      if (run_schedule(connection)) {
        return;
      }
    }
    if (const std::optional<Request> request = take_request(connection)) {
      if (request->kind == "backup") {
        take_backup(connection, request->reason, request->id);
      } else {
        test_restore(connection, request->kind == "pitr_drill" ? "pitr_drill" : "restore",
                     request->reason, request->id);
      }
      served_request_last_ = true;
      more_ = true;  // another request, or the schedule, may be waiting
      return;
    }
    run_schedule(connection);
  }

  bool wait_for_work(pqxx::connection& connection, StopSource& stop, Seconds timeout) override {
    if (more_) {
      return true;
    }
    return wait_for_notification(connection, stop, timeout, [this] { return requested_.load(); });
  }

  void connection_closing() noexcept override {
    listening_.reset();
    recovered_ = false;  // a run cut off with its connection left its rows running
  }

 private:
  // What a previous run left: its rows still running, its partial files, its scratch servers.
  void close_interrupted(pqxx::connection& connection) {
    pqxx::work transaction(connection);
    const pqxx::result backups =
        transaction.exec_params("SELECT backup_id FROM ops.backups_interrupted($1)", worker_id_);
    const pqxx::result tests = transaction.exec_params(
        "SELECT restore_test_id FROM ops.restore_tests_interrupted($1)", worker_id_);
    transaction.commit();
    backend_->remove_partial_backups();
    backup::ScratchCluster::remove_leftovers(config_.backup);
    if (!backups.empty() || !tests.empty()) {
      log::warn("backups_interrupted",
                {{"backups", static_cast<std::int64_t>(backups.size())},
                 {"restore_tests", static_cast<std::int64_t>(tests.size())},
                 {"hint",
                  "the worker stopped or died during them; they are recorded as failed "
                  "and their partial files removed"}});
    }
  }

  std::optional<Request> take_request(pqxx::connection& connection) {
    // A drill asked of a backend that cannot restore to a point in time is taken too, and
    // recorded as a failed drill that says why: left waiting, it would block the kind for good.
    const std::string kinds = "{backup,restore_test,pitr_drill}";
    pqxx::work transaction(connection);
    const pqxx::row row = transaction.exec_params1(
        "SELECT request_id, kind, reason FROM ops.take_backup_request($1, $2::text[])", worker_id_,
        kinds);
    transaction.commit();
    if (row[0].is_null()) {
      return std::nullopt;
    }
    return Request{row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::string>()};
  }

  // Takes the backup, restore test or drill that is due, if one is (then true), else expires
  // what retention no longer keeps, at most every kRetentionEvery. Only this backend's location
  // counts: a new backup-directory or stanza starts with a backup of its own, at once.
  bool run_schedule(pqxx::connection& connection) {
    pqxx::work transaction(connection);
    const pqxx::row state = transaction.exec_params1(R"sql(
SELECT extract(epoch FROM now())::float8,
       (SELECT extract(epoch FROM b.started_at)::float8 FROM ops.backups b WHERE b.backend = $1 AND b.location = $2
         ORDER BY b.started_at DESC, b.backup_id DESC LIMIT 1),
       (SELECT b.status = 'failed' FROM ops.backups b WHERE b.backend = $1 AND b.location = $2
         ORDER BY b.started_at DESC, b.backup_id DESC LIMIT 1),
       (SELECT extract(epoch FROM max(b.started_at))::float8 FROM ops.backups b
         WHERE b.backend = $1 AND b.location = $2 AND b.status IN ('completed', 'verified', 'expired')),
       EXISTS (SELECT FROM ops.backups b WHERE b.backend = $1 AND b.location = $2 AND b.status IN ('completed', 'verified')),
       EXISTS (SELECT FROM ops.backups b WHERE b.backend = $1 AND b.location = $2 AND b.status = 'verified'),
       (SELECT extract(epoch FROM max(t.started_at))::float8 FROM ops.restore_tests t
          JOIN ops.backups b USING (backup_id) WHERE t.kind = 'restore' AND b.backend = $1 AND b.location = $2),
       (SELECT extract(epoch FROM max(t.started_at))::float8 FROM ops.restore_tests t
          JOIN ops.backups b USING (backup_id) WHERE t.kind = 'pitr_drill' AND b.backend = $1 AND b.location = $2)
)sql",
                                                     backend_->name(), backend_->location());
    transaction.commit();
    const WallTime now = from_epoch(state[0].as<double>());
    std::optional<backup::LastAttempt> last_attempt;
    if (!state[1].is_null()) {
      last_attempt = backup::LastAttempt{from_epoch(state[1].as<double>()), state[2].as<bool>()};
    }
    std::optional<WallTime> last_success;
    if (!state[3].is_null()) {
      last_success = from_epoch(state[3].as<double>());
    }
    const auto optional_time = [&state](int column) -> std::optional<WallTime> {
      if (state[column].is_null()) {
        return std::nullopt;
      }
      return from_epoch(state[column].as<double>());
    };
    const WallTime slot = backup::latest_daily_slot(now, daily_at_, *date::current_zone());
    const bool verified_exists = state[5].as<bool>();
    if (backup::backup_due(now, slot, last_attempt, last_success, state[4].as<bool>(),
                           config_.backup.retry_delay)) {
      take_backup(connection, "scheduled", std::nullopt);
      more_ = true;
      return true;
    }
    // A test skipped for want of a verified backup is not work done: run again at once, it
    // would only be skipped again.
    if (backup::restore_test_due(now, optional_time(6), config_.backup.restore_test_every,
                                 verified_exists) &&
        test_restore(connection, "restore", "scheduled", std::nullopt)) {
      more_ = true;
      return true;
    }
    if (backend_->supports_point_in_time() &&
        backup::restore_test_due(now, optional_time(7), config_.backup.pitr_drill_every,
                                 verified_exists) &&
        test_restore(connection, "pitr_drill", "scheduled", std::nullopt)) {
      more_ = true;
      return true;
    }
    if (!last_retention_ ||
        SteadyClock::now() - *last_retention_ >=
            std::chrono::duration_cast<SteadyClock::duration>(kRetentionEvery)) {
      expire_old_backups(connection);
    }
    return false;
  }

  // The configuration that travels with the backup, secrets removed: the server's files outside
  // its data directory, and the worker's own file.
  std::string configuration_copy(pqxx::connection& connection, backup::ConfigurationCopy& copy) {
    pqxx::work transaction(connection);
    for (const auto& row : transaction.exec("SELECT * FROM ops.backup_configuration_files()")) {
      const std::string path = row[0].as<std::string>();
      copy[path] = backup::without_secrets(configuration_file(path));
    }
    transaction.commit();
    if (!config_.config_path.empty()) {
      copy[config_.config_path] = backup::without_secrets(configuration_file(config_.config_path));
    }
    nlohmann::json document = nlohmann::json::object();
    for (const auto& [path, text] : copy) {
      document[path] = text;
    }
    return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  std::string backup_kind(pqxx::connection& connection) {
    if (backend_->name() != "pgbackrest") {
      return "full";
    }
    pqxx::work transaction(connection);
    const bool recent_full =
        transaction
            .exec_params1(
                "SELECT EXISTS (SELECT FROM ops.backups b WHERE b.backend = $1 "
                "AND b.location = $2 AND b.kind = 'full' AND b.status IN ('completed', 'verified') "
                "AND b.started_at > now() - make_interval(secs => $3))",
                backend_->name(), backend_->location(),
                std::chrono::duration<double>(kFullEvery).count())[0]
            .as<bool>();
    transaction.commit();
    return recent_full ? "diff" : "full";
  }

  void take_backup(pqxx::connection& connection, const std::string& reason,
                   std::optional<std::int64_t> request_id) {
    backup::ConfigurationCopy configuration;
    const std::string configuration_json = configuration_copy(connection, configuration);
    const std::string kind = backup_kind(connection);
    std::int64_t backup_id = 0;
    {
      pqxx::work transaction(connection);
      const auto marker_id =
          transaction
              .exec_params1(
                  "SELECT marker_id FROM ops.write_backup_marker($1, 'backup', $2::jsonb)",
                  worker_id_, configuration_json)[0]
              .as<std::int64_t>();
      backup_id = transaction
                      .exec_params1("SELECT ops.backup_started($1, $2, $3, $4, $5, $6, $7)",
                                    worker_id_, backend_->name(), kind, reason, request_id,
                                    marker_id, backend_->location())[0]
                      .as<std::int64_t>();
      transaction.commit();
    }
    log::info("backup_started", {{"backup_id", backup_id},
                                 {"backend", backend_->name()},
                                 {"kind", kind},
                                 {"reason", reason}});
    const auto started = SteadyClock::now();
    backup::TakenBackup taken;
    try {
      taken = backend_->take(kind, backend_->label_for(backup_id), configuration);
    } catch (const std::exception& failure) {
      // A tool's failure, or anything else: the row must not stay running.
      record_failure(connection, backup_id, "backup", failure.what());
      return;
    }
    const double took = std::chrono::duration<double>(SteadyClock::now() - started).count();
    {
      pqxx::work transaction(connection);
      transaction.exec_params(
          "SELECT ops.backup_finished($1, $2, $3, $4::pg_lsn, $5::pg_lsn, $6::timestamptz, $7)",
          backup_id, taken.label, taken.bytes, taken.wal_start_lsn, taken.wal_stop_lsn,
          taken.stopped_at, took);
      transaction.commit();
    }
    log::info("backup_completed", {{"backup_id", backup_id},
                                   {"label", taken.label},
                                   {"bytes", taken.bytes},
                                   {"seconds", took}});
    const auto verifying = SteadyClock::now();
    try {
      backend_->verify(taken.label);
    } catch (const std::exception& failure) {
      record_failure(connection, backup_id, "verification", failure.what());
      return;
    }
    const double verify_took =
        std::chrono::duration<double>(SteadyClock::now() - verifying).count();
    pqxx::work transaction(connection);
    transaction.exec_params("SELECT ops.backup_verified($1, $2)", backup_id, verify_took);
    transaction.commit();
    log::info("backup_verified", {{"backup_id", backup_id}, {"seconds", verify_took}});
    last_retention_.reset();  // a new verified backup may let an old one go
  }

  void record_failure(pqxx::connection& connection, std::int64_t backup_id, const char* step,
                      const std::string& error) {
    pqxx::work transaction(connection);
    transaction.exec_params("SELECT ops.backup_failed($1, $2, $3)", backup_id, step, error);
    transaction.commit();
    log::error(step == std::string("backup") ? "backup_failed" : "backup_verification_failed",
               {{"backup_id", backup_id}, {"error", error}});
  }

  // A drill's markers either side of its target, with the WAL between them archived.
  struct DrillTarget {
    std::string before_token;
    std::string after_token;
    std::string target;  // pgBackRest's format: YYYY-MM-DD HH:MM:SS.US+00
  };

  std::optional<DrillTarget> prepare_drill(pqxx::connection& connection, std::string& error) {
    DrillTarget drill;
    const auto marker = [&](const char* purpose) {
      pqxx::work transaction(connection);
      std::string token = transaction
                              .exec_params1("SELECT token FROM ops.write_backup_marker($1, $2)",
                                            worker_id_, purpose)[0]
                              .as<std::string>();
      transaction.commit();
      return token;
    };
    drill.before_token = marker("drill_before");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    {
      pqxx::nontransaction query(connection);
      drill.target = query
                         .exec1(
                             "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD HH24:MI:SS.US') || '+00'")[0]
                         .as<std::string>();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    drill.after_token = marker("drill_after");
    pqxx::nontransaction query(connection);
    const std::string walfile = query.exec1("SELECT ops.backup_switch_wal()")[0].as<std::string>();
    const auto deadline =
        SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(kArchiveWait);
    while (!query.exec_params1("SELECT ops.wal_archived($1)", walfile)[0].as<bool>()) {
      if (SteadyClock::now() >= deadline || (stop_ != nullptr && stop_->load())) {
        error = "WAL file " + walfile + " was not archived within " +
                std::to_string(static_cast<int>(kArchiveWait.count())) +
                " s: WAL archiving does not work, and no point in time can be restored";
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return drill;
  }

  // A restore test or drill of the newest verified backup, recorded; false when there is none.
  bool test_restore(pqxx::connection& connection, const std::string& kind,
                    const std::string& reason, std::optional<std::int64_t> request_id) {
    std::optional<std::int64_t> backup_id;
    std::string label;
    {
      pqxx::work transaction(connection);
      const pqxx::result newest = transaction.exec_params(
          "SELECT backup_id, label FROM ops.backups WHERE backend = $1 AND location = $2 "
          "AND status = 'verified' ORDER BY restorable_at DESC LIMIT 1",
          backend_->name(), backend_->location());
      transaction.commit();
      if (!newest.empty()) {
        backup_id = newest[0][0].as<std::int64_t>();
        label = newest[0][1].as<std::string>();
      }
    }
    if (!backup_id) {
      log::warn("restore_test_skipped", {{"kind", kind},
                                         {"reason", reason},
                                         {"hint", "there is no verified backup to restore yet"}});
      return false;
    }
    backup::RestoreExpectations expected;
    std::optional<DrillTarget> drill;
    std::string drill_error;
    if (kind == "pitr_drill" && !backend_->supports_point_in_time()) {
      drill_error = "the " + backend_->name() +
                    " backend restores a backup to its end only; a point-in-time drill needs the "
                    "pgbackrest backend and its WAL archive";
    } else if (kind == "pitr_drill") {
      drill = prepare_drill(connection, drill_error);
    }
    std::int64_t test_id = 0;
    {
      pqxx::work transaction(connection);
      const pqxx::row row = transaction.exec_params1(
          "SELECT e.token, e.extension_version, e.row_counts_low::text, e.row_counts_high::text, "
          "current_database() FROM ops.restore_expectations($1) e",
          *backup_id);
      expected.marker_token = row[0].as<std::string>();
      expected.extension_version = row[1].as<std::string>();
      // Parsed into names first: items() refers to its document, which must outlive the loop.
      const nlohmann::json low = nlohmann::json::parse(row[2].as<std::string>("{}"));
      const nlohmann::json high = nlohmann::json::parse(row[3].as<std::string>("{}"));
      for (const auto& [table, count] : low.items()) {
        expected.row_counts_low[table] = count.get<std::int64_t>();
      }
      for (const auto& [table, count] : high.items()) {
        expected.row_counts_high[table] = count.get<std::int64_t>();
      }
      expected.database = row[4].as<std::string>();
      std::optional<std::string> target;
      if (drill) {
        target = drill->target;
      }
      // A drill that could not be prepared has no target of its own: now stands for it.
      test_id = transaction
                    .exec_params1(
                        "SELECT ops.restore_test_started($1, $2, $3, $4, $5, "
                        "CASE WHEN $2 = 'pitr_drill' THEN coalesce($6::timestamptz, now()) END)",
                        worker_id_, kind, *backup_id, reason, request_id, target)[0]
                    .as<std::int64_t>();
      transaction.commit();
    }
    log::info("restore_test_started",
              {{"restore_test_id", test_id}, {"kind", kind}, {"backup_id", *backup_id}});
    backup::RestoreTestOutcome outcome;
    // The backup is checked again first: a byte that rotted since it was verified fails it
    // (and alerts) before a restore is spent on it.
    const auto verifying = std::chrono::steady_clock::now();
    std::string rotten;
    try {
      backend_->verify(label);
    } catch (const std::exception& failure) {
      rotten = failure.what();
      record_failure(connection, *backup_id, "verification", rotten);
    }
    const double verify_took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - verifying).count();
    if (!rotten.empty()) {
      outcome.error = "verify: " + rotten;
      outcome.checks.push_back({"verify", false, rotten, verify_took});
    } else if (kind == "pitr_drill" && !drill) {
      outcome.error = "prepare: " + drill_error;
      outcome.checks.push_back({"prepare", false, drill_error, 0});
    } else {
      std::optional<std::string> target_time;
      if (drill) {
        expected.marker_token = drill->before_token;
        expected.absent_marker_token = drill->after_token;
        target_time = drill->target;
      }
      outcome = backup::run_restore_test(*backend_, config_.backup, stop_, std::to_string(test_id),
                                         label, target_time, expected);
      outcome.checks.insert(outcome.checks.begin(),
                            {"verify", true, "the backup still matches its manifest", verify_took});
    }
    nlohmann::json checks = nlohmann::json::array();
    for (const backup::RestoreCheck& check : outcome.checks) {
      checks.push_back({{"check", check.check},
                        {"passed", check.passed},
                        {"detail", check.detail},
                        {"seconds", check.seconds}});
    }
    pqxx::work transaction(connection);
    transaction.exec_params("SELECT ops.restore_test_finished($1, $2, $3::jsonb, $4, $5, $6)",
                            test_id, outcome.passed,
                            checks.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                            outcome.restore_seconds, outcome.rto_seconds,
                            outcome.passed ? std::optional<std::string>() : outcome.error);
    transaction.commit();
    if (outcome.passed) {
      log::info("restore_test_passed", {{"restore_test_id", test_id},
                                        {"kind", kind},
                                        {"rto_seconds", outcome.rto_seconds},
                                        {"restore_seconds", outcome.restore_seconds}});
    } else {
      log::error("restore_test_failed",
                 {{"restore_test_id", test_id}, {"kind", kind}, {"error", outcome.error}});
    }
    return true;
  }

  void expire_old_backups(pqxx::connection& connection) {
    last_retention_ = SteadyClock::now();
    std::vector<backup::RetainedBackup> backups;
    std::map<std::int64_t, std::string> labels;
    WallTime now;
    {
      pqxx::work transaction(connection);
      now =
          from_epoch(transaction.exec1("SELECT extract(epoch FROM now())::float8")[0].as<double>());
      // Only what this backend keeps, where it keeps it: a backup taken into another directory
      // or repository is that configuration's to expire. A differential backup depends on the
      // newest full one taken before it.
      for (const auto& row : transaction.exec_params(R"sql(
SELECT b.backup_id, b.kind, b.status = 'verified', extract(epoch FROM b.restorable_at)::float8, b.label,
       (SELECT f.backup_id FROM ops.backups f
         WHERE b.kind = 'diff' AND f.backend = b.backend AND f.location = b.location AND f.kind = 'full'
           AND f.started_at < b.started_at
           AND f.status IN ('completed', 'verified')
         ORDER BY f.started_at DESC LIMIT 1)
  FROM ops.backups b
 WHERE b.backend = $1 AND b.location = $2 AND b.status IN ('completed', 'verified')
   AND b.label IS NOT NULL
 ORDER BY b.restorable_at, b.backup_id
)sql",
                                                     backend_->name(), backend_->location())) {
        backup::RetainedBackup retained;
        retained.id = row[0].as<std::int64_t>();
        retained.kind = row[1].as<std::string>();
        retained.verified = row[2].as<bool>();
        retained.restorable_at = from_epoch(row[3].as<double>());
        if (!row[5].is_null()) {
          retained.depends_on = row[5].as<std::int64_t>();
        }
        labels[retained.id] = row[4].as<std::string>();
        backups.push_back(retained);
      }
      transaction.commit();
    }
    std::vector<std::int64_t> expire =
        backup::backups_to_expire(backups, now, config_.backup.retention);
    // Backups that failed their verification are whole copies nobody will restore: all but the
    // newest (kept to look into) go at once, or a verification that keeps failing would fill the
    // disk with a copy an hour.
    {
      pqxx::work transaction(connection);
      const pqxx::result failed = transaction.exec_params(
          "SELECT backup_id, label FROM ops.backups WHERE backend = $1 AND location = $2 "
          "AND status = 'failed' AND failed_step = 'verification' AND label IS NOT NULL "
          "ORDER BY started_at DESC, backup_id DESC OFFSET 1",
          backend_->name(), backend_->location());
      transaction.commit();
      for (const auto& row : failed) {
        expire.push_back(row[0].as<std::int64_t>());
        labels[row[0].as<std::int64_t>()] = row[1].as<std::string>();
      }
    }
    for (const std::int64_t id : expire) {
      try {
        backend_->expire(labels[id]);
      } catch (const backup::BackupFailure& failure) {
        log::error("backup_expire_failed", {{"backup_id", id}, {"error", failure.what()}});
        continue;
      }
      pqxx::work transaction(connection);
      transaction.exec_params("SELECT ops.backup_expired($1)", id);
      transaction.commit();
      log::info("backup_expired", {{"backup_id", id}, {"label", labels[id]}});
    }
  }

  const WorkerConfig& config_;
  std::string worker_id_;
  const std::atomic<bool>* stop_;
  std::unique_ptr<backup::Backend> backend_;
  backup::TimeOfDay daily_at_;
  std::unique_ptr<NotificationFlag> listening_;
  std::atomic<bool> requested_{false};
  bool recovered_ = false;
  bool more_ = false;
  bool served_request_last_ = false;
  std::optional<SteadyTime> last_retention_;
};

const JobRegistration kRegistration{{
    "backups",
    "ops.backups",
    30,
    "seconds between the backup job's looks at its schedule; a request (ops.request_backup) "
    "wakes it at once",
    [](const JobContext& context) { return std::make_unique<BackupsJob>(context); },
    /*one_leader=*/true,
    /*job_set=*/"backup",
    [](const WorkerConfig& config) {
      return config.backup.timeout * 2 + config.backup.restore_test_timeout;
    },
}};

}  // namespace

}  // namespace expense_ops::worker
