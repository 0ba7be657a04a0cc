#include "worker/worker_loop.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "worker/backoff.hpp"
#include "worker/connection_policy.hpp"
#include "worker/log.hpp"
#include "worker/schedule.hpp"
#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

namespace {

constexpr const char* kUndefinedFunction = "42883";
constexpr const char* kHeartbeatFunction = "ops.record_worker_heartbeat";
constexpr const char* kSlaRefreshFunction = "ops.refresh_sla_transitions";

// A standby the DSN keeps leading to is reported at warn now and then, not on every retry.
constexpr Seconds kRefusalReminderInterval{15 * 60};

struct ScheduledJob {
  const char* function;  // what the job calls, named in its log lines
  const char* failure_event;
  std::function<void(pqxx::connection&)> run;
};

enum class SessionAfterJob { kUsable, kMustReconnect };

// Runs one job and sorts out its failure. An SQL error belongs to the job: it is logged and the
// session carries on, so one failing job never stops the others. A lost connection, a server
// that turned read-only, or an error that leaves the session's state unknown (such as
// pqxx::in_doubt_error) means starting over; the reconnection checks the server again.
SessionAfterJob run_job(pqxx::connection& connection, const ScheduledJob& job) {
  try {
    job.run(connection);
    return SessionAfterJob::kUsable;
  } catch (const pqxx::sql_error& error) {
    const std::string sqlstate = sqlstate_of(error);
    const auto fields = job_failure_fields(job.function, sqlstate, error.what());
    switch (classify_failure(sqlstate, connection.is_open())) {
      case SessionFailure::kConnectionLost:
        log::warn("connection_lost", fields);
        return SessionAfterJob::kMustReconnect;
      case SessionFailure::kReadOnly:
        log::warn("session_read_only", fields);
        return SessionAfterJob::kMustReconnect;
      case SessionFailure::kStatementOnly:
        log::error(job.failure_event, fields);
        return SessionAfterJob::kUsable;
    }
    return SessionAfterJob::kMustReconnect;
  } catch (const pqxx::transaction_rollback& error) {
    // A deadlock or serialization failure: the server rolled the transaction back and the
    // session is fine (libpqxx 6.4 does not count these as sql_errors).
    log::error(job.failure_event,
               job_failure_fields(job.function, sqlstate_of(error), error.what()));
    return SessionAfterJob::kUsable;
  } catch (const pqxx::broken_connection& error) {
    log::warn("connection_lost", job_failure_fields(job.function, "", error.what()));
    return SessionAfterJob::kMustReconnect;
  } catch (const std::exception& error) {
    log::error(job.failure_event, job_failure_fields(job.function, "", error.what()));
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
        auto fields = job_failure_fields(kSlaRefreshFunction, sqlstate_of(error), error.what());
        fields.emplace_back("hint",
                            "the expense_ops extension predates 0.3.0; ALTER EXTENSION expense_ops "
                            "UPDATE adds ops.refresh_sla_transitions(); heartbeats continue "
                            "meanwhile");
        log::warn("sla_refresh_unavailable", fields);
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

Seconds until(SteadyTime instant) {
  return std::chrono::duration_cast<Seconds>(
      std::max(instant - SteadyClock::now(), SteadyClock::duration::zero()));
}

std::string or_empty(const char* text) {
  return text != nullptr ? text : "";
}

ServerState query_server_state(pqxx::connection& connection) {
  pqxx::nontransaction query(connection);
  const pqxx::row row =
      query.exec1("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')::boolean");
  return ServerState{row[0].as<bool>(), row[1].as<bool>()};
}

struct ConnectOutcome {
  std::unique_ptr<pqxx::connection> connection;  // null when the server was refused
  std::optional<Refusal> refusal;
  std::string host;
  std::string port;
};

// One connection attempt, checked before anything runs on it. Throws what libpq or the check
// threw.
ConnectOutcome connect_to_primary(const WorkerConfig& config) {
  ConnectOutcome outcome;
  outcome.connection = std::make_unique<pqxx::connection>(config.dsn);
  outcome.host = or_empty(outcome.connection->hostname());
  outcome.port = or_empty(outcome.connection->port());
  outcome.refusal = refusal_for(query_server_state(*outcome.connection), config.dsn_summary);
  if (outcome.refusal) {
    outcome.connection.reset();  // hold no session on a server the worker will not use
  }
  return outcome;
}

}  // namespace

void run_worker_loop(const WorkerConfig& config, const WorkerIdentity& identity,
                     ShutdownSignal& shutdown) {
  Backoff backoff(config.reconnect_initial_delay, config.reconnect_max_delay);
  RepeatedWarning refusals(kRefusalReminderInterval);
  std::unique_ptr<pqxx::connection> connection;
  long attempt = 0;

  HeartbeatJob heartbeat(identity, config.heartbeat_interval);
  SlaRefreshJob sla_refresh;
  // Indexed by Schedule::JobId. The heartbeat comes first so that, when both are due, a slow
  // refresh never delays the beat that api.health() watches.
  const std::vector<ScheduledJob> jobs{
      {kHeartbeatFunction, "heartbeat_failed",
       [&heartbeat](pqxx::connection& c) { heartbeat.run(c); }},
      {kSlaRefreshFunction, "sla_refresh_failed",
       [&sla_refresh](pqxx::connection& c) { sla_refresh.run(c); }},
  };
  Schedule schedule;
  const SteadyTime start = SteadyClock::now();
  schedule.add(config.heartbeat_interval, start);
  schedule.add(config.sla_refresh_interval, start);

  while (!shutdown.requested()) {
    if (!connection) {
      ++attempt;
      Seconds retry_in{0};
      try {
        ConnectOutcome outcome = connect_to_primary(config);
        connection = std::move(outcome.connection);
        if (outcome.refusal) {
          retry_in = backoff.next();
          const log::Level level = refusals.occurred(SteadyClock::now());
          log::write(level, outcome.refusal->event,
                     {{"attempt", attempt},
                      {"refusals", refusals.occurrences()},
                      {"host", outcome.host},
                      {"port", outcome.port},
                      {"retry_in_seconds", retry_in.count()},
                      {"hint", outcome.refusal->hint}});
        }
      } catch (const std::exception& error) {
        if (is_connection_option_error(error.what())) {
          throw ConfigError("--dsn (from " + config.dsn_origin +
                            ") or a PG* environment variable: libpq refuses an option value: " +
                            describe_dsn_error(error.what()));
        }
        retry_in = backoff.next();
        log::warn("connect_failed", {{"attempt", attempt},
                                     {"retry_in_seconds", retry_in.count()},
                                     {"error", connection_error_for_log(error.what())}});
      }
      if (!connection) {
        shutdown.wait_for(retry_in);
        continue;
      }
      log::info("connected", {{"attempt", attempt},
                              {"database", or_empty(connection->dbname())},
                              {"user", or_empty(connection->username())},
                              {"host", or_empty(connection->hostname())},
                              {"port", or_empty(connection->port())}});
      attempt = 0;
      backoff.reset();
      refusals.clear();
      schedule.make_all_due(SteadyClock::now());
    }

    for (const Schedule::JobId job : schedule.due(SteadyClock::now())) {
      if (shutdown.requested()) {
        return;  // the caller logs the stop; a due job is not worth delaying it
      }
      const SessionAfterJob session = run_job(*connection, jobs[job]);
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
