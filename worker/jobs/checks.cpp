// The checks of ops.checks (issue 11, sections 1 and 2). A dispatcher thread keeps each enabled
// check on its interval (worker/check_schedule.hpp) and hands due runs to a pool of threads
// (check-threads); each run has its own timeout (worker/check_probes.hpp). The results wait in
// memory until a run of this job writes them through ops.record_check_results(). So checks keep
// running, and their results are kept, while the database is away: the API's checks matter most
// when something is down.
//
// This job's runs, on the job's connection: reload the checks (every check-reload-interval, the
// base URL with them), record the runs missed while no worker ran as unknown (worker_down), once
// after start, and write the results. The dispatcher records as unknown the runs a wall-clock
// jump skipped.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "worker/check_probes.hpp"
#include "worker/job.hpp"
#include "worker/log.hpp"
#include "worker/metrics.hpp"
#include "worker/notification_wait.hpp"

namespace expense_ops::worker {

namespace {

constexpr const char* kWorkerDown = "worker_down";
// The unknown slots recorded for one check after a restart or a jump: a day of 30 s checks.
// Older gaps stay gaps, which uptime counts as unknown all the same.
constexpr std::size_t kMaxMissedSlots = 2880;
// Results kept while the database is away, beyond which the oldest go (and are counted).
constexpr std::size_t kMaxPendingResults = 100'000;
constexpr Seconds kJumpTolerance{5};
constexpr Seconds kDispatchTick{0.2};

class ChecksJob : public Job {
 public:
  explicit ChecksJob(const JobContext& context)
      : worker_id_(context.identity.worker_id),
        check_threads_(context.config.check_threads),
        reload_every_(std::chrono::duration_cast<SteadyClock::duration>(
            context.config.check_reload_interval)) {
    probes_.credentials = context.config.credentials;
    probes_.connections = context.config.check_connections;
    probes_.worker_dsn = context.config.dsn;
    probes_.stop = &stop_;
    init_probes();
  }

  ~ChecksJob() override {
    stop_ = true;
    wake_.notify_all();
    for (std::thread& thread : threads_) {
      if (thread.joinable()) {
        thread.join();
      }
    }
  }

  void connection_closing() noexcept override { listening_.reset(); }

  // SIGHUP: new credentials and check connections apply from the next run of each check.
  void reload(const WorkerConfig& config) noexcept override {
    try {
      const std::lock_guard<std::mutex> lock(mutex_);
      probes_.credentials = config.credentials;
      probes_.connections = config.check_connections;
    } catch (const std::exception& error) {
      log::error("checks_reload_failed", {{"error", std::string(error.what())}});
    }
  }

  // Of several workers, one runs the checks. One that loses the lead (its connection dropped
  // and another worker took over) stops, and drops what it gathered since: the new leader
  // covers that time, and a result twice over would count a slot twice.
  void leadership_changed(bool leading) noexcept override {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (leading_ && !leading) {
      if (!pending_.empty()) {
        log::warn("check_results_discarded", {{"results", static_cast<long>(pending_.size())},
                                              {"reason", "another worker runs the checks now"}});
      }
      pending_.clear();
      // Queued runs were started for the scheduler: each is finished here, or it would count as
      // running for ever and never be due again, should this worker lead again.
      const SteadyTime now = SteadyClock::now();
      for (const Task& task : queue_) {
        scheduler_.finished(task.check.id, now);
      }
      queue_.clear();
      last_started_.clear();
      took_over_ = true;
    } else if (!leading_ && leading && took_over_) {
      backfilled_ = false;  // the time since the last result was somebody else's, or nobody's
      took_over_ = false;
    }
    leading_ = leading;
    wake_.notify_all();
  }

  ChecksJob(const ChecksJob&) = delete;
  ChecksJob& operator=(const ChecksJob&) = delete;

  void run(pqxx::connection& connection) override {
    if (!listening_) {
      // ops.checks and ops.monitoring_settings NOTIFY expense_ops_checks when they change
      // (extension 0.7.0); the reload interval stays as the fallback.
      listening_ = std::make_unique<NotificationFlag>(connection, "expense_ops_checks", changed_);
    }
    connection.get_notifs();
    const SteadyTime now = SteadyClock::now();
    if (!loaded_ || changed_.exchange(false) || now - last_reload_ >= reload_every_) {
      reload(connection);
      last_reload_ = now;
    }
    if (!backfilled_) {
      record_missed_runs(connection);
      backfilled_ = true;
    }
    if (threads_.empty()) {
      start_threads();
    }
    write_results(connection);
  }

 private:
  struct Task {
    CheckDefinition check;
  };

  void reload(pqxx::connection& connection) {
    std::vector<CheckDefinition> checks;
    std::string base_url;
    {
      pqxx::read_transaction transaction(connection);
      base_url =
          transaction.exec1("SELECT base_url FROM ops.monitoring_settings")[0].as<std::string>();
      const pqxx::result rows = transaction.exec(
          "SELECT check_id, kind, target, coalesce(method, ''), "
          "       (SELECT coalesce(json_agg(json_build_array(h.key, h.value) ORDER BY h.key), "
          "'[]')::text"
          "          FROM jsonb_each_text(c.headers) h), "
          "       body, expected_status, expected_body, credentials, "
          "       extract(epoch FROM every)::float8, extract(epoch FROM timeout)::float8 "
          "  FROM ops.checks c WHERE c.enabled ORDER BY check_id");
      for (const pqxx::row& row : rows) {
        CheckDefinition check;
        check.id = row[0].as<std::string>();
        check.kind = row[1].as<std::string>();
        check.target = row[2].as<std::string>();
        check.method = row[3].as<std::string>();
        check.headers = header_pairs(row[4].as<std::string>());
        if (!row[5].is_null())
          check.body = row[5].as<std::string>();
        if (!row[6].is_null())
          check.expected_status = row[6].as<int>();
        if (!row[7].is_null())
          check.expected_body = row[7].as<std::string>();
        if (!row[8].is_null())
          check.credentials = row[8].as<std::string>();
        check.every = Seconds(row[9].as<double>());
        check.timeout = Seconds(row[10].as<double>());
        checks.push_back(std::move(check));
      }
    }
    std::vector<ScheduledCheck> schedule;
    std::map<std::string, CheckDefinition> definitions;
    for (CheckDefinition& check : checks) {
      schedule.push_back({check.id, check.every});
      definitions.emplace(check.id, std::move(check));
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    const bool first = !loaded_;
    // A check whose interval is unchanged keeps its rhythm, whatever else changed: the next run
    // takes the new definition.
    definitions_ = std::move(definitions);
    probes_.base_url = base_url;
    scheduler_.reload(schedule, SteadyClock::now());
    loaded_ = true;
    if (first) {
      log::info("checks_loaded", {{"checks", static_cast<long>(definitions_.size())}});
    }
    wake_.notify_all();
  }

  // ops.checks.headers as [["name", "value"], ...]: its CHECK keeps the values strings.
  static std::vector<std::pair<std::string, std::string>> header_pairs(const std::string& json) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& pair : nlohmann::json::parse(json)) {
      pairs.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
    }
    return pairs;
  }

  // After a start: each check's slots since its last recorded run, within a day, are unknown.
  void record_missed_runs(pqxx::connection& connection) {
    std::map<std::string, WallTime> last;
    {
      pqxx::read_transaction transaction(connection);
      const pqxx::result rows = transaction.exec(
          "SELECT check_id, extract(epoch FROM max(started_at))::float8 FROM ops.check_results "
          " WHERE started_at > now() - interval '1 day' GROUP BY check_id");
      for (const pqxx::row& row : rows) {
        last[row[0].as<std::string>()] =
            WallTime(std::chrono::duration_cast<WallClock::duration>(Seconds(row[1].as<double>())));
      }
    }
    const WallTime now = WallClock::now();
    const std::lock_guard<std::mutex> lock(mutex_);
    std::size_t missed = 0;
    for (const auto& [id, check] : definitions_) {
      const auto seen = last.find(id);
      if (seen == last.end()) {
        continue;
      }
      last_started_[id] = seen->second;
      missed += add_missed(check, seen->second, now);
    }
    if (missed > 0) {
      log::warn("checks_missed_while_down", {{"runs", static_cast<long>(missed)}});
    }
  }

  // Requires mutex_.
  std::size_t add_missed(const CheckDefinition& check, WallTime last_started, WallTime now) {
    const auto slots = missed_slots(last_started, check.every, now, kMaxMissedSlots);
    for (const WallTime slot : slots) {
      CheckResult result;
      result.check_id = check.id;
      result.started_at = slot;
      result.outcome = "unknown";
      result.detail = kWorkerDown;
      keep(std::move(result));
    }
    return slots.size();
  }

  // Requires mutex_.
  void keep(CheckResult result) {
    if (!leading_) {
      return;  // a run that ended after the lead went elsewhere
    }
    if (pending_.size() >= kMaxPendingResults) {
      pending_.pop_front();
      ++dropped_;
    }
    pending_.push_back(std::move(result));
  }

  void start_threads() {
    threads_.emplace_back([this] { dispatch(); });
    for (int i = 0; i < check_threads_; ++i) {
      threads_.emplace_back([this] { execute(); });
    }
  }

  // The dispatcher: due checks to the queue, finished ones back to the scheduler.
  void dispatch() {
    WallTime wall_before = WallClock::now();
    SteadyTime steady_before = SteadyClock::now();
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      const SteadyTime now = SteadyClock::now();
      const WallTime wall_now = WallClock::now();
      if (wall_clock_jumped(wall_before, steady_before, wall_now, now, kJumpTolerance) &&
          wall_now > wall_before) {
        std::size_t missed = 0;
        for (const auto& [id, started] : last_started_) {
          const auto check = definitions_.find(id);
          if (check != definitions_.end()) {
            missed += add_missed(check->second, started, wall_now);
          }
        }
        log::warn("wall_clock_jumped",
                  {{"seconds", std::chrono::duration<double>(wall_now - wall_before).count() -
                                   std::chrono::duration<double>(now - steady_before).count()},
                   {"runs_recorded_unknown", static_cast<long>(missed)}});
      }
      wall_before = wall_now;
      steady_before = now;
      for (CheckResult& result : finished_) {
        const std::size_t skipped = scheduler_.finished(result.check_id, now);
        if (skipped > 0) {
          log::warn("check_overran",
                    {{"check_id", result.check_id}, {"runs_skipped", static_cast<long>(skipped)}});
        }
        keep(std::move(result));
      }
      finished_.clear();
      if (!leading_) {
        wake_.wait_for(lock, kDispatchTick);
        continue;
      }
      for (const std::string& id : scheduler_.due(now)) {
        scheduler_.started(id);
        last_started_[id] = wall_now;
        queue_.push_back(Task{definitions_.at(id)});
      }
      if (!queue_.empty()) {
        wake_.notify_all();
      }
      const auto next = scheduler_.next_wake();
      const SteadyTime until = std::min(
          next ? *next : now + std::chrono::duration_cast<SteadyClock::duration>(kDispatchTick),
          now + std::chrono::duration_cast<SteadyClock::duration>(kDispatchTick));
      wake_.wait_until(lock, until, [this] { return stop_.load() || !finished_.empty(); });
    }
  }

  // A pool thread: one check at a time, outside the lock.
  void execute() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      wake_.wait(lock, [this] { return stop_.load() || !queue_.empty(); });
      if (stop_) {
        return;
      }
      Task task = std::move(queue_.front());
      queue_.pop_front();
      const ProbeContext probes = probes_;
      lock.unlock();
      CheckResult result = run_check(task.check, probes);
      metrics::check_ran(task.check.id, task.check.kind, result.outcome,
                         result.duration_ms.value_or(0) / 1000);
      lock.lock();
      finished_.push_back(std::move(result));
      wake_.notify_all();
    }
  }

  void write_results(pqxx::connection& connection) {
    std::vector<CheckResult> batch;
    std::size_t dropped = 0;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      batch.assign(std::make_move_iterator(pending_.begin()),
                   std::make_move_iterator(pending_.end()));
      pending_.clear();
      dropped = dropped_;
      dropped_ = 0;
    }
    if (dropped > 0) {
      log::warn("check_results_dropped", {{"results", static_cast<long>(dropped)},
                                          {"hint", "the database was away too long"}});
    }
    if (batch.empty()) {
      return;
    }
    try {
      pqxx::work transaction(connection);
      const pqxx::result refused = transaction.exec_params(
          "SELECT index, check_id, reason FROM ops.record_check_results($1::jsonb)",
          results_json(batch, worker_id_));
      transaction.commit();
      for (const pqxx::row& row : refused) {
        log::error("check_result_refused",
                   {{"check_id", row[1].c_str()}, {"reason", row[2].c_str()}});
      }
      log::debug("check_results", {{"results", static_cast<long>(batch.size())}});
    } catch (...) {
      // Not written: keep them, before whatever arrived meanwhile, for the next run.
      const std::lock_guard<std::mutex> lock(mutex_);
      for (auto result = batch.rbegin(); result != batch.rend(); ++result) {
        pending_.push_front(std::move(*result));
      }
      throw;
    }
  }

  std::string worker_id_;
  int check_threads_;
  SteadyClock::duration reload_every_;
  ProbeContext probes_;
  std::atomic<bool> stop_{false};

  std::mutex mutex_;  // everything below, shared by the job's run, the dispatcher and the pool
  std::condition_variable wake_;
  CheckScheduler scheduler_;
  std::map<std::string, CheckDefinition> definitions_;
  std::map<std::string, WallTime> last_started_;
  std::deque<Task> queue_;
  std::vector<CheckResult> finished_;
  std::deque<CheckResult> pending_;
  std::size_t dropped_ = 0;

  std::atomic<bool> changed_{false};
  std::unique_ptr<NotificationFlag> listening_;  // bound to the current connection
  bool loaded_ = false;
  bool backfilled_ = false;  // the job's thread only (run, leadership_changed)
  bool leading_ = false;     // under mutex_
  bool took_over_ = false;   // under mutex_: the lead was lost once, and the gap needs backfill
  SteadyTime last_reload_{};
  std::vector<std::thread> threads_;
};

const JobRegistration kRegistration{{
    "checks",
    "ops.record_check_results",
    0.5,
    "seconds between the checks job's runs: results written, and the checks reloaded every 10 s",
    [](const JobContext& context) { return std::make_unique<ChecksJob>(context); },
    /*one_leader=*/true,
}};

}  // namespace

}  // namespace expense_ops::worker
