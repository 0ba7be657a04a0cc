#include "worker/sql_function_job.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <pqxx/pqxx>

#include "worker/log.hpp"
#include "worker/notification_wait.hpp"
#include "worker/schedule.hpp"
#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

namespace {

constexpr const char* kUndefinedFunction = "42883";
// Runs that a NOTIFY asks for come at most this often: a check that stays down asks at each of
// its runs.
constexpr Seconds kNotifiedSpacing{1};
constexpr std::size_t kMostPayloads = 16;
constexpr const char* kWholeRun = "*";  // not a metric's name: [a-z_]+ only

// A column of the result as a log field: a whole number as a number, anything else as text.
core::json::Value field_value(const pqxx::field& field, bool& did_something) {
  if (field.is_null()) {
    return nullptr;
  }
  const char* text = field.c_str();
  char* end = nullptr;
  const long long number = std::strtoll(text, &end, 10);
  if (end != text && *end == '\0') {
    did_something = did_something || number > 0;
    return static_cast<long>(number);
  }
  return std::string(text);
}

}  // namespace

JobSpec sql_function_job(std::string name, double default_interval_seconds, std::string help,
                         SqlFunctionCall call) {
  std::string function = call.function;
  // Each of these is the database's schedule, not the host's: one worker runs it.
  const std::string job = name;
  return JobSpec{std::move(name),
                 std::move(function),
                 default_interval_seconds,
                 std::move(help),
                 [call = std::move(call), job](const JobContext& context) {
                   return std::make_unique<SqlFunctionJob>(call, context.config.interval_of(job));
                 },
                 /*one_leader=*/true};
}

class SqlFunctionJob::Listener : public pqxx::notification_receiver {
 public:
  Listener(pqxx::connection& connection, const std::string& channel,
           std::set<std::string>& payloads)
      : pqxx::notification_receiver(connection, channel), payloads_(payloads) {}
  // Any role that may connect can NOTIFY: only a metric's name is taken, a few at a time.
  void operator()(const std::string& payload, int) override {
    const bool is_name = !payload.empty() && payload.size() <= 63 &&
                         std::all_of(payload.begin(), payload.end(),
                                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
    // Anything else, or more names than a targeted run takes, asks for a whole run: no flood of
    // made-up names can crowd out one that matters (a ticket that must page).
    payloads_.insert(is_name && payloads_.size() < kMostPayloads ? payload : kWholeRun);
  }

 private:
  std::set<std::string>& payloads_;
};

SqlFunctionJob::SqlFunctionJob(SqlFunctionCall call, Seconds interval)
    : call_(std::move(call)), interval_(interval) {}

SqlFunctionJob::~SqlFunctionJob() = default;

void SqlFunctionJob::connection_closing() noexcept {
  listener_.reset();
}

bool SqlFunctionJob::wait_for_work(pqxx::connection& connection, StopSource& stop,
                                   Seconds timeout) {
  if (call_.listen.empty()) {
    return Job::wait_for_work(connection, stop, timeout);
  }
  return wait_for_notification(connection, stop, timeout, [this] {
    return !payloads_.empty() && SteadyClock::now() - last_run_ >= kNotifiedSpacing;
  });
}

void SqlFunctionJob::run(pqxx::connection& connection) {
  if (!call_.listen.empty() && !listener_) {
    listener_ = std::make_unique<Listener>(connection, call_.listen, payloads_);
  }
  const SteadyTime now = SteadyClock::now();
  last_run_ = now;
  // A run a NOTIFY asked for does only what it named, unless a whole run is due anyway: NOTIFYs
  // that keep coming (a check that stays down) reset the runner's schedule, and must not
  // postpone the whole run for ever.
  if (!payloads_.empty() && payloads_.count(kWholeRun) == 0 && !call_.notified_query.empty() &&
      now - last_full_run_ < interval_) {
    const std::vector<std::string> payloads(payloads_.begin(), payloads_.end());
    payloads_.clear();
    call(connection, call_.notified_query, payloads);
    return;
  }
  payloads_.clear();
  last_full_run_ = now;
  call(connection, call_.query, {});
}

void SqlFunctionJob::call(pqxx::connection& connection, const std::string& query,
                          const std::vector<std::string>& payloads) {
  if (!function_present_) {
    if (!function_exists(connection)) {
      log::debug(call_.event + "_skipped", {{"reason", call_.function + "() missing"}});
      return;
    }
    function_present_ = true;
    log::info(call_.event + "_available");
  }

  const SteadyTime started = SteadyClock::now();
  core::json::Object fields;
  bool did_something = false;
  try {
    pqxx::work transaction(connection);
    std::string array = "{";
    for (const std::string& payload : payloads) {
      array += (array.size() > 1 ? "," : "") + payload;  // [a-z_]+ (Listener)
    }
    array += "}";
    const pqxx::row row =
        payloads.empty() ? transaction.exec1(query) : transaction.exec_params1(query, array);
    transaction.commit();
    for (const pqxx::field& field : row) {
      fields.emplace_back(field.name(), field_value(field, did_something));
    }
  } catch (const pqxx::sql_error& error) {
    // 42883 may also come from inside the function (something it calls is missing); only the
    // function's own absence is the old-extension case, anything else is a failure.
    if (sqlstate_of(error) != kUndefinedFunction || function_exists(connection)) {
      throw;
    }
    function_present_ = false;
    if (!warned_missing_) {
      warned_missing_ = true;
      auto warning = job_failure_fields(call_.function, sqlstate_of(error), error.what());
      warning.emplace_back("hint", "the expense_ops extension predates " + call_.since +
                                       "; ALTER EXTENSION expense_ops UPDATE adds " +
                                       call_.function + "(); the other jobs continue meanwhile");
      log::warn(call_.event + "_unavailable", warning);
    }
    return;
  }
  fields.emplace_back(
      "milliseconds",
      std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count());
  // Most runs find nothing to do; only those that did something are worth an info line.
  if (did_something) {
    log::info(call_.event, fields);
  } else {
    log::debug(call_.event, fields);
  }
}

bool SqlFunctionJob::function_exists(pqxx::connection& connection) const {
  pqxx::nontransaction query(connection);
  return !query.exec_params("SELECT to_regprocedure($1)", call_.signature)[0][0].is_null();
}

}  // namespace expense_ops::worker
