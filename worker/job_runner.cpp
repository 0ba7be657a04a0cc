#include "worker/job_runner.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "worker/backoff.hpp"
#include "worker/connection_policy.hpp"
#include "worker/log.hpp"
#include "worker/metrics.hpp"
#include "worker/schedule.hpp"
#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

namespace {

// A standby the DSN keeps leading to is reported at warn now and then, not on every retry.
constexpr Seconds kRefusalReminderInterval{15 * 60};

enum class SessionAfterJob { kUsable, kMustReconnect };

// Runs one job and sorts out its failure. An SQL error belongs to the job: it is logged and the
// session carries on, so one failing job never stops the others. A lost connection, a server
// that turned read-only, or an error that leaves the session's state unknown (such as
// pqxx::in_doubt_error) means starting over; the reconnection checks the server again.
SessionAfterJob run_job(pqxx::connection& connection, const JobSpec& spec, Job& job,
                        bool& succeeded) {
  succeeded = false;
  const std::string failed = failure_event(spec.name);
  const auto job_failure = [&spec](std::string_view sqlstate, std::string_view message) {
    core::json::Object fields = job_failure_fields(spec.function, sqlstate, message);
    fields.emplace_back("job", spec.name);
    return fields;
  };
  try {
    job.run(connection);
    succeeded = true;
    return SessionAfterJob::kUsable;
  } catch (const pqxx::sql_error& error) {
    const std::string sqlstate = sqlstate_of(error);
    const auto fields = job_failure(sqlstate, error.what());
    switch (classify_failure(sqlstate, connection.is_open())) {
      case SessionFailure::kConnectionLost:
        log::warn("connection_lost", fields);
        return SessionAfterJob::kMustReconnect;
      case SessionFailure::kReadOnly:
        log::warn("session_read_only", fields);
        return SessionAfterJob::kMustReconnect;
      case SessionFailure::kStatementOnly:
        log::error(failed, fields);
        return SessionAfterJob::kUsable;
    }
    return SessionAfterJob::kMustReconnect;
  } catch (const pqxx::transaction_rollback& error) {
    // A deadlock or serialization failure: the server rolled the transaction back and the
    // session is fine (libpqxx 6.4 does not count these as sql_errors).
    log::error(failed, job_failure(sqlstate_of(error), error.what()));
    return SessionAfterJob::kUsable;
  } catch (const pqxx::broken_connection& error) {
    log::warn("connection_lost", job_failure("", error.what()));
    return SessionAfterJob::kMustReconnect;
  } catch (const std::exception& error) {
    // The job's own failure (a tool's output it could not read): its transactions were rolled
    // back as the error unwound them, so an open session is as good as before, and the run waits
    // for its interval. Reconnecting would make it due at once, and a lasting failure would spin.
    log::error(failed, job_failure("", error.what()));
    return connection.is_open() ? SessionAfterJob::kUsable : SessionAfterJob::kMustReconnect;
  }
}

Seconds until(SteadyTime instant) {
  return std::chrono::duration_cast<Seconds>(
      std::max(instant - SteadyClock::now(), SteadyClock::duration::zero()));
}

std::string or_empty(const char* text) {
  return text != nullptr ? text : "";
}

// The lock that makes a worker the leader of a job: session-level, so it lasts as long as the
// job's connection, and a leader that dies (its connection drops) lets it go at once. The two-key
// form keeps it apart from the one-key locks the extension's functions take.
bool try_to_lead(pqxx::connection& connection, const std::string& job) {
  pqxx::nontransaction query(connection);
  return query
      .exec_params1("SELECT pg_try_advisory_lock(hashtext('expense_ops.leader'), hashtext($1))",
                    job)[0]
      .as<bool>();
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

void run_job_until_stopped(const JobSpec& spec, Job& job, const JobRunnerOptions& options,
                           const WorkerConfig& config, StopSource& stop) {
  Backoff backoff(config.reconnect_initial_delay, config.reconnect_max_delay);
  RepeatedWarning refusals(kRefusalReminderInterval);
  std::unique_ptr<pqxx::connection> connection;
  long attempt = 0;
  // What only repeats the heartbeat runner's news about the database is said at debug.
  const auto connection_news = [&options](log::Level level) {
    return options.reports_connection ? level : log::Level::kDebug;
  };

  Schedule schedule;
  const Schedule::JobId scheduled = schedule.add(options.interval, SteadyClock::now());
  // A one_leader job's standing: leading holds while the connection that took the lock lives.
  bool leading = false;
  bool told_leadership = false;
  bool connected_before = false;
  const auto tell_progress = [&](SteadyTime at) {
    if (options.liveness != nullptr) {
      options.liveness->progressed(spec.name, at);
    }
  };
  const auto tell_connected = [&](bool connected) {
    if (options.liveness != nullptr) {
      options.liveness->connected(spec.name, connected);
    }
  };

  while (!stop.stop_requested()) {
    if (!connection) {
      ++attempt;
      Seconds retry_in{0};
      try {
        ConnectOutcome outcome = connect_to_primary(config);
        connection = std::move(outcome.connection);
        if (outcome.refusal) {
          retry_in = backoff.next();
          const log::Level level = refusals.occurred(SteadyClock::now());
          log::write(connection_news(level), outcome.refusal->event,
                     {{"job", spec.name},
                      {"attempt", attempt},
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
        log::write(connection_news(log::Level::kWarn), "connect_failed",
                   {{"job", spec.name},
                    {"attempt", attempt},
                    {"retry_in_seconds", retry_in.count()},
                    {"error", connection_error_for_log(error.what())}});
      }
      if (!connection) {
        stop.wait_for(retry_in);
        continue;
      }
      log::write(connection_news(log::Level::kInfo), "connected",
                 {{"job", spec.name},
                  {"attempt", attempt},
                  {"database", or_empty(connection->dbname())},
                  {"user", or_empty(connection->username())},
                  {"host", or_empty(connection->hostname())},
                  {"port", or_empty(connection->port())}});
      attempt = 0;
      backoff.reset();
      refusals.clear();
      if (leading) {
        told_leadership = false;  // the lock went with the old session: whether it is still
        leading = false;          // ours, the next try says, and the job hears either way
      }
      tell_connected(true);
      if (connected_before) {
        metrics::reconnected(spec.name);
      }
      connected_before = true;
      // Nothing ran while the connection was down: run at once (a beat restores health, and
      // the other jobs catch up).
      schedule.make_all_due(SteadyClock::now());
    }

    if (!schedule.due(SteadyClock::now()).empty() && spec.one_leader && !leading) {
      // A follower asks at each of its intervals, so it takes over within one interval of the
      // leader's connection dropping.
      bool now_leading = false;
      try {
        now_leading = try_to_lead(*connection, spec.name);
      } catch (const std::exception& error) {
        log::warn("connection_lost",
                  {{"job", spec.name}, {"error", connection_error_for_log(error.what())}});
        job.connection_closing();
        connection.reset();
        continue;
      }
      if (now_leading || !told_leadership) {
        log::info(now_leading ? "leading" : "standing_by", {{"job", spec.name}});
        job.leadership_changed(now_leading);
        metrics::leadership(spec.name, now_leading);
        if (options.liveness != nullptr) {
          options.liveness->leading(spec.name, now_leading);
        }
        leading = now_leading;
        told_leadership = true;
      }
      if (!leading) {
        tell_progress(SteadyClock::now());  // standing by is this job's work, done on time
        schedule.completed(scheduled, SteadyClock::now());
        stop.wait_for(until(schedule.next_wake()));
        continue;
      }
    }
    if (!schedule.due(SteadyClock::now()).empty()) {
      const SteadyTime started = SteadyClock::now();
      bool succeeded = false;
      const SessionAfterJob session = run_job(*connection, spec, job, succeeded);
      const SteadyTime finished = SteadyClock::now();
      metrics::job_ran(spec.name, succeeded);
      if (session == SessionAfterJob::kUsable) {
        tell_progress(finished);
      }
      const std::size_t skipped = schedule.completed(scheduled, finished);
      if (skipped > 0) {
        log::warn("job_overran",
                  {{"job", spec.name},
                   {"seconds", std::chrono::duration<double>(finished - started).count()},
                   {"interval_seconds", options.interval.count()},
                   {"runs_skipped", static_cast<long>(skipped)}});
      }
      if (session == SessionAfterJob::kMustReconnect) {
        job.connection_closing();
        connection.reset();
        tell_connected(false);
        continue;
      }
    }
    if (job.wait_for_work(*connection, stop, until(schedule.next_wake()))) {
      schedule.make_all_due(SteadyClock::now());
    }
  }
  job.stopping(connection.get());
  if (connection) {
    job.connection_closing();
  }
}

}  // namespace expense_ops::worker
