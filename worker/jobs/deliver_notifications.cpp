// Delivery of the outbox (issue 11, section 5). The job's connection LISTENs on
// expense_ops_notifications; each run reports the outcomes that came back, then claims as many
// due notifications as there are free places (delivery-concurrency) with
// ops.claim_notifications(), so that what is claimed is in flight at once and a lease never
// runs out in a queue. A pool of as many threads delivers them (worker/notifier.hpp). Between
// runs the job waits on its connection's socket and on the pool: a NOTIFY or a finished delivery
// runs it at once, and the interval is only the fallback that picks up retries as they fall due.
//
// Several workers share the outbox: claims skip what another holds (FOR UPDATE SKIP LOCKED), and
// a worker that dies leaves leases that run out, after which another delivers with the same
// Idempotency-Key. A SIGTERM drains: deliveries in flight get drain-timeout to finish, and what
// was claimed and not delivered is given back (ops.release_notifications).
#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "worker/job.hpp"
#include "worker/log.hpp"
#include "worker/metrics.hpp"
#include "worker/notification_wait.hpp"
#include "worker/notifier.hpp"
#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

namespace {

// A lease covers three attempts' timeouts and a margin: long enough for the outcome to come
// back through a slow database, short enough that a crashed worker's claims are soon delivered
// by another (32 s with the default timeout of 10 s).
constexpr Seconds kLeaseMargin{2};
constexpr double kLeaseAttempts = 3;
constexpr const char* kLeaseLost = "22X73";
constexpr const char* kNotFound = "PT404";
constexpr const char* kReportsLostHint =
    "their leases run out and they are delivered again, with the same Idempotency-Key";

struct Report {
  Notification notification;
  DeliveryOutcome outcome;
  double milliseconds = 0;
  bool give_back = false;  // cut short by the stop: released, not counted as an attempt
};

class DeliverNotificationsJob : public Job {
 public:
  explicit DeliverNotificationsJob(const JobContext& context)
      : worker_id_(context.identity.worker_id),
        settings_(std::make_shared<const DeliverySettings>(delivery_settings(context.config))),
        concurrency_(context.config.delivery_concurrency),
        drain_timeout_(context.config.drain_timeout) {
    init_notifier();
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw std::runtime_error("deliver-notifications: no pipe to wake on");
    }
  }

  ~DeliverNotificationsJob() override {
    stop_threads();
    close(wake_[0]);
    close(wake_[1]);
  }

  DeliverNotificationsJob(const DeliverNotificationsJob&) = delete;
  DeliverNotificationsJob& operator=(const DeliverNotificationsJob&) = delete;

  void connection_closing() noexcept override { listening_.reset(); }

  void reload(const WorkerConfig& config) noexcept override {
    try {
      auto fresh = std::make_shared<const DeliverySettings>(delivery_settings(config));
      const std::lock_guard<std::mutex> lock(mutex_);
      settings_ = std::move(fresh);
    } catch (const std::exception& error) {
      log::error("delivery_reload_failed", {{"error", one_line_excerpt(error.what())}});
    }
  }

  void run(pqxx::connection& connection) override {
    if (!listening_) {
      listening_ =
          std::make_unique<NotificationFlag>(connection, "expense_ops_notifications", queued_);
    }
    if (threads_.empty()) {
      for (int i = 0; i < concurrency_; ++i) {
        threads_.emplace_back([this] { deliver_until_stopped(); });
      }
    }
    queued_ = false;
    connection.get_notifs();
    report(connection);
    claim(connection);
    measure_outbox(connection);
  }

  bool wait_for_work(pqxx::connection& connection, StopSource& stop, Seconds timeout) override {
    return wait_for_notification(
        connection, stop, timeout,
        [this] {
          const std::lock_guard<std::mutex> lock(mutex_);
          return !finished_.empty() || queued_;
        },
        wake_[0]);
  }

  void stopping(pqxx::connection* connection) noexcept override {
    std::vector<Notification> unstarted;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      unstarted.assign(queue_.begin(), queue_.end());
      queue_.clear();
      const auto drained = std::chrono::duration_cast<SteadyClock::duration>(drain_timeout_);
      if (!done_.wait_for(lock, drained, [this] { return in_flight_ == 0; })) {
        log::warn("delivery_drain_timed_out",
                  {{"in_flight", in_flight_}, {"drain_timeout_seconds", drain_timeout_.count()}});
      }
    }
    // What finished is written first: a SIGKILL while the rest is cut short and joined must
    // not cost deliveries that were made.
    if (connection != nullptr) {
      try {
        report(*connection);
      } catch (const std::exception&) {
        // written below, or lost with the connection (their leases run out)
      }
    }
    abort_transfers_ = true;  // whatever is still going is cut short and given back
    stop_threads();
    for (Notification& notification : unstarted) {
      Report given_back;
      given_back.notification = std::move(notification);
      given_back.give_back = true;
      finished_.push_back(std::move(given_back));
    }
    if (connection == nullptr) {
      if (!finished_.empty()) {
        log::warn("delivery_reports_lost", {{"notifications", static_cast<long>(finished_.size())},
                                            {"hint", kReportsLostHint}});
      }
      return;
    }
    try {
      report(*connection);
    } catch (const std::exception& error) {
      log::warn("delivery_reports_lost",
                {{"error", one_line_excerpt(error.what())}, {"hint", kReportsLostHint}});
    }
  }

 private:
  void stop_threads() noexcept {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    work_.notify_all();
    for (std::thread& thread : threads_) {
      if (thread.joinable()) {
        thread.join();
      }
    }
    threads_.clear();
  }

  // A pool thread: one delivery at a time, outside the lock.
  void deliver_until_stopped() {
    Notifier notifier(&abort_transfers_);
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      work_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) {
        return;
      }
      Report report;
      report.notification = std::move(queue_.front());
      queue_.pop_front();
      ++in_flight_;
      const std::shared_ptr<const DeliverySettings> settings = settings_;
      lock.unlock();
      const SteadyTime started = SteadyClock::now();
      try {
        report.outcome = notifier.deliver(report.notification, *settings);
      } catch (const std::exception& error) {
        report.outcome = DeliveryOutcome::retry(std::string("the worker failed: ") +
                                                one_line_excerpt(error.what()));
      }
      report.milliseconds =
          std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count();
      report.give_back =
          abort_transfers_ && report.outcome.kind != DeliveryOutcome::Kind::kDelivered;
      lock.lock();
      --in_flight_;
      finished_.push_back(std::move(report));
      done_.notify_all();
      const char byte = 1;
      (void)!write(wake_[1], &byte, 1);  // a full pipe is awake already
    }
  }

  // The outcomes that came back, each in a savepoint of one transaction: a report the database
  // refuses (the lease ran out and another worker took the notification over) costs only itself.
  void report(pqxx::connection& connection) {
    std::vector<Report> reports;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      reports.swap(finished_);
    }
    if (reports.empty()) {
      return;
    }
    try {
      pqxx::work transaction(connection);
      std::vector<long long> given_back;
      for (const Report& report : reports) {
        if (report.give_back) {
          given_back.push_back(report.notification.id);
          metrics::notification(report.notification.channel, report.notification.kind,
                                "given_back");
          continue;
        }
        write_outcome(transaction, report);
      }
      if (!given_back.empty()) {
        transaction.exec_params("SELECT ops.release_notifications($1, $2::bigint[])", worker_id_,
                                id_array(given_back));
        log::info("notifications_given_back",
                  {{"notifications", static_cast<long>(given_back.size())}});
      }
      transaction.commit();
    } catch (...) {
      // Not written: keep them for the next run, on a connection that works.
      const std::lock_guard<std::mutex> lock(mutex_);
      finished_.insert(finished_.begin(), std::make_move_iterator(reports.begin()),
                       std::make_move_iterator(reports.end()));
      throw;
    }
  }

  void write_outcome(pqxx::work& transaction, const Report& report) {
    const Notification& notification = report.notification;
    const DeliveryOutcome& outcome = report.outcome;
    try {
      pqxx::subtransaction savepoint(transaction, "report");
      if (outcome.kind == DeliveryOutcome::Kind::kDelivered) {
        savepoint.exec_params("SELECT 1 FROM ops.notification_delivered($1, $2)", notification.id,
                              worker_id_);
        metrics::notification(notification.channel, notification.kind, "delivered");
        log::debug("notification_delivered", {{"notification_id", notification.id},
                                              {"channel", notification.channel},
                                              {"attempt", notification.attempts},
                                              {"milliseconds", report.milliseconds}});
      } else {
        const bool retryable = outcome.kind == DeliveryOutcome::Kind::kRetry;
        const pqxx::row row = savepoint.exec_params1(
            "SELECT status FROM ops.notification_failed($1, $2, $3, $4, now(), random(), "
            "CASE WHEN $5::float8 < 0 THEN NULL ELSE make_interval(secs => $5::float8) END)",
            notification.id, outcome.error, retryable, worker_id_,
            outcome.retry_after ? outcome.retry_after->count() : -1.0);
        const std::string status = row[0].as<std::string>();
        metrics::notification(notification.channel, notification.kind, status);
        log::write(status == "dead" ? log::Level::kError : log::Level::kWarn,
                   status == "dead" ? "notification_dead" : "notification_failed",
                   {{"notification_id", notification.id},
                    {"channel", notification.channel},
                    {"kind", notification.kind},
                    {"attempt", notification.attempts},
                    {"retryable", retryable},
                    {"error", outcome.error}});
      }
      savepoint.commit();
    } catch (const pqxx::sql_error& error) {
      // The savepoint rolled back: the report costs only itself, never the batch, so one the
      // database refuses cannot stop every later report and claim. Its lease runs out and the
      // notification is delivered again, with the same Idempotency-Key.
      const std::string sqlstate = sqlstate_of(error);
      if (sqlstate == kLeaseLost || sqlstate == kNotFound) {
        log::warn("notification_taken_over",
                  {{"notification_id", notification.id},
                   {"channel", notification.channel},
                   {"hint",
                    "its lease ran out, or its channel was deleted, before the outcome was "
                    "written; another worker delivers it, with the same Idempotency-Key"}});
      } else {
        log::error("notification_report_failed", {{"notification_id", notification.id},
                                                  {"channel", notification.channel},
                                                  {"sqlstate", sqlstate},
                                                  {"error", sql_error_for_log(error.what())}});
      }
    }
  }

  void claim(pqxx::connection& connection) {
    int free_places = 0;
    Seconds lease{0};
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      free_places = concurrency_ - in_flight_ - static_cast<int>(queue_.size());
      // From the timeout in force: a SIGHUP that lengthens it lengthens the next leases.
      lease = settings_->timeout * kLeaseAttempts + kLeaseMargin;
    }
    if (free_places <= 0) {
      return;
    }
    pqxx::work transaction(connection);
    const pqxx::result claimed = transaction.exec_params(
        "SELECT notification_id, channel, kind, target, idempotency_key, payload::text, attempts "
        "  FROM ops.claim_notifications($1, $2, make_interval(secs => $3::float8))",
        worker_id_, free_places, lease.count());
    transaction.commit();
    if (claimed.empty()) {
      return;
    }
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (const pqxx::row& row : claimed) {
        Notification notification;
        notification.id = row[0].as<long long>();
        notification.channel = row[1].as<std::string>();
        notification.kind = row[2].as<std::string>();
        notification.target = row[3].as<std::string>();
        notification.idempotency_key = row[4].as<std::string>();
        notification.payload = row[5].as<std::string>();
        notification.attempts = row[6].as<int>();
        queue_.push_back(std::move(notification));
      }
    }
    work_.notify_all();
  }

  // The outbox's depth and its oldest undelivered notification, for /metrics: at most once a
  // second, on the partial index of what is undelivered.
  void measure_outbox(pqxx::connection& connection) {
    const SteadyTime now = SteadyClock::now();
    if (now - last_measured_ < std::chrono::seconds(1)) {
      return;
    }
    last_measured_ = now;
    pqxx::read_transaction transaction(connection);
    const pqxx::row row = transaction.exec1(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 "
        "  FROM ops.notifications WHERE status IN ('pending', 'sending', 'failed')");
    metrics::outbox(row[0].as<double>(), row[1].as<double>());
  }

  static std::string id_array(const std::vector<long long>& ids) {
    std::string text = "{";
    for (const long long id : ids) {
      text += (text.size() > 1 ? "," : "") + std::to_string(id);
    }
    return text + "}";
  }

  std::string worker_id_;
  std::shared_ptr<const DeliverySettings> settings_;  // under mutex_: SIGHUP replaces it
  int concurrency_;
  Seconds drain_timeout_;
  int wake_[2] = {-1, -1};  // a pool thread that finishes writes a byte: the wait wakes
  std::atomic<bool> abort_transfers_{false};
  std::atomic<bool> queued_{false};
  std::unique_ptr<NotificationFlag> listening_;
  SteadyTime last_measured_{};

  std::mutex mutex_;  // what follows, shared by the job's thread and the pool
  std::condition_variable work_;
  std::condition_variable done_;
  bool stop_ = false;
  std::deque<Notification> queue_;
  int in_flight_ = 0;
  std::vector<Report> finished_;
  std::vector<std::thread> threads_;
};

const JobRegistration kRegistration{{
    "deliver-notifications",
    "ops.claim_notifications",
    1.0,
    "seconds between looks at the outbox when no NOTIFY came: retries as they fall due",
    [](const JobContext& context) { return std::make_unique<DeliverNotificationsJob>(context); },
}};

}  // namespace

}  // namespace expense_ops::worker
