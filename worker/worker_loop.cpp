#include "worker/worker_loop.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "worker/backoff.hpp"
#include "worker/log.hpp"
#include "worker/schedule.hpp"
#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

namespace {

constexpr const char* kUndefinedFunction = "42883";

// SQLSTATE classes 08 (connection exception) and 57 (operator intervention, such as a server
// shutdown) mean the session is gone even when libpq still reports the socket open.
bool connection_lost(const pqxx::connection& connection, const std::string& sqlstate) {
  return !connection.is_open() || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57", 0) == 0;
}

enum class SessionAfterJob { kUsable, kMustReconnect };

// Runs one job and sorts out its failure. An SQL error belongs to the job: it is logged and the
// session carries on, so one failing job never stops the others. A lost connection, or an error
// that leaves the session's state unknown (such as pqxx::in_doubt_error), means starting over.
SessionAfterJob run_job(pqxx::connection& connection, const char* failure_event,
                        const std::function<void(pqxx::connection&)>& job) {
  try {
    job(connection);
    return SessionAfterJob::kUsable;
  } catch (const pqxx::sql_error& error) {
    const std::string sqlstate = sqlstate_of(error);
    if (connection_lost(connection, sqlstate)) {
      log::warn("connection_lost", {{"sqlstate", sqlstate}, {"error", one_line(error.what())}});
      return SessionAfterJob::kMustReconnect;
    }
    log::error(failure_event, {{"sqlstate", sqlstate}, {"error", one_line(error.what())}});
    return SessionAfterJob::kUsable;
  } catch (const pqxx::transaction_rollback& error) {
    // A deadlock or serialization failure: the server rolled the transaction back and the
    // session is fine (libpqxx 6.4 does not count these as sql_errors).
    log::error(failure_event,
               {{"sqlstate", sqlstate_of(error)}, {"error", one_line(error.what())}});
    return SessionAfterJob::kUsable;
  } catch (const pqxx::broken_connection& error) {
    log::warn("connection_lost", {{"error", one_line(error.what())}});
    return SessionAfterJob::kMustReconnect;
  } catch (const std::exception& error) {
    log::error(failure_event, {{"error", one_line(error.what())}});
    return SessionAfterJob::kMustReconnect;
  }
}

class HeartbeatJob {
 public:
  HeartbeatJob(const WorkerIdentity& identity, Seconds interval)
      : identity_(identity),
        // The database judges staleness by the interval the worker says it keeps.
        interval_(std::to_string(interval.count()) + " seconds") {}

  void run(pqxx::connection& connection) {
    pqxx::work transaction(connection);
    const pqxx::result result = transaction.exec_params(
        "SELECT ops.record_worker_heartbeat($1, $2, $3, $4, $5::timestamptz, $6::interval)",
        identity_.worker_id, identity_.host, identity_.pid, identity_.version, identity_.started_at,
        interval_);
    transaction.commit();
    log::debug("heartbeat", {{"last_seen", result[0][0].c_str()}});
  }

 private:
  const WorkerIdentity& identity_;
  std::string interval_;
};

// Records the tickets' at_risk and breached transitions that have come due. The function takes
// its tickets FOR UPDATE SKIP LOCKED, so several workers may call it at once without waiting on
// each other or recording a transition twice.
//
// ops.refresh_sla_transitions() came with extension 0.3.0. A worker installed before
// ALTER EXTENSION expense_ops UPDATE finds it missing: it warns once and keeps heartbeating.
// Until the function appears it then asks the catalog instead of calling, because
// to_regprocedure() answers NULL where a call would put an ERROR in the server log every
// interval; once the function is there, refreshing resumes without a restart.
class SlaRefreshJob {
 public:
  void run(pqxx::connection& connection) {
    if (!function_present_) {
      if (!function_exists(connection)) {
        log::debug("sla_refresh_skipped", {{"reason", "ops.refresh_sla_transitions() missing"}});
        return;
      }
      function_present_ = true;
      log::info("sla_refresh_available");
    }

    const SteadyTime started = SteadyClock::now();
    int tickets = 0;
    try {
      pqxx::work transaction(connection);
      tickets = transaction.exec("SELECT ops.refresh_sla_transitions()")[0][0].as<int>();
      transaction.commit();
    } catch (const pqxx::sql_error& error) {
      // 42883 may also come from inside the function (something it calls is missing); only
      // the function's own absence is the old-extension case, anything else is a failure.
      if (sqlstate_of(error) != kUndefinedFunction || function_exists(connection)) {
        throw;
      }
      function_present_ = false;
      if (!warned_missing_) {
        warned_missing_ = true;
        log::warn("sla_refresh_unavailable",
                  {{"sqlstate", sqlstate_of(error)},
                   {"error", one_line(error.what())},
                   {"hint",
                    "the expense_ops extension predates 0.3.0; ALTER EXTENSION expense_ops UPDATE "
                    "adds ops.refresh_sla_transitions(); heartbeats continue meanwhile"}});
      }
      return;
    }
    const double milliseconds =
        std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count();
    // Most refreshes find nothing due; only those that did something are worth an info line.
    const core::json::Object fields{{"tickets", tickets}, {"milliseconds", milliseconds}};
    if (tickets > 0) {
      log::info("sla_refresh", fields);
    } else {
      log::debug("sla_refresh", fields);
    }
  }

 private:
  static bool function_exists(pqxx::connection& connection) {
    pqxx::nontransaction query(connection);
    return !query.exec("SELECT to_regprocedure('ops.refresh_sla_transitions()')")[0][0].is_null();
  }

  bool function_present_ = true;  // assumed until a call finds it missing
  bool warned_missing_ = false;   // once per process, not once per reconnection
};

struct ScheduledJob {
  const char* failure_event;
  std::function<void(pqxx::connection&)> run;
};

Seconds until(SteadyTime instant) {
  return std::chrono::duration_cast<Seconds>(
      std::max(instant - SteadyClock::now(), SteadyClock::duration::zero()));
}

}  // namespace

void run_worker_loop(const WorkerConfig& config, const WorkerIdentity& identity,
                     ShutdownSignal& shutdown) {
  Backoff backoff(config.reconnect_initial_delay, config.reconnect_max_delay);
  std::unique_ptr<pqxx::connection> connection;
  long attempt = 0;

  HeartbeatJob heartbeat(identity, config.heartbeat_interval);
  SlaRefreshJob sla_refresh;
  // Indexed by Schedule::JobId. The heartbeat comes first so that, when both are due, a slow
  // refresh never delays the beat that api.health() watches.
  const std::vector<ScheduledJob> jobs{
      {"heartbeat_failed", [&heartbeat](pqxx::connection& c) { heartbeat.run(c); }},
      {"sla_refresh_failed", [&sla_refresh](pqxx::connection& c) { sla_refresh.run(c); }},
  };
  Schedule schedule;
  const SteadyTime start = SteadyClock::now();
  schedule.add(config.heartbeat_interval, start);
  schedule.add(config.sla_refresh_interval, start);

  while (!shutdown.requested()) {
    if (!connection) {
      ++attempt;
      try {
        connection = std::make_unique<pqxx::connection>(config.dsn);
        log::info("connected", {{"attempt", attempt},
                                {"database", connection->dbname()},
                                {"user", connection->username()}});
        attempt = 0;
        backoff.reset();
        schedule.make_all_due(SteadyClock::now());
      } catch (const std::exception& error) {
        const Seconds delay = backoff.next();
        log::warn("connect_failed", {{"attempt", attempt},
                                     {"retry_in_seconds", delay.count()},
                                     {"error", one_line(error.what())}});
        shutdown.wait_for(delay);
        continue;
      }
    }

    for (const Schedule::JobId job : schedule.due(SteadyClock::now())) {
      if (shutdown.requested()) {
        return;  // the caller logs the stop; a due job is not worth delaying it
      }
      const SessionAfterJob session = run_job(*connection, jobs[job].failure_event, jobs[job].run);
      schedule.completed(job, SteadyClock::now());
      if (session == SessionAfterJob::kMustReconnect) {
        connection.reset();
        break;
      }
    }
    if (connection) {
      shutdown.wait_for(until(schedule.next_wake()));
    }
  }
}

}  // namespace expense_ops::worker
