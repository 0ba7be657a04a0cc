#include "worker/heartbeat.hpp"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <pqxx/pqxx>

#include "core/time.hpp"
#include "core/version.hpp"
#include "worker/backoff.hpp"
#include "worker/log.hpp"

namespace expense_ops::worker {

namespace {

using Clock = std::chrono::steady_clock;

// libpq error texts span lines; a log line must not.
std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    }
  }
  return text;
}

// SQLSTATE classes 08 (connection exception) and 57 (operator intervention, such as a server
// shutdown) mean the session is gone even when libpq still reports the socket open.
bool connection_lost(const pqxx::connection& connection, const std::string& sqlstate) {
  return !connection.is_open() || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57", 0) == 0;
}

}  // namespace

std::string host_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

WorkerIdentity current_identity(const WorkerConfig& config) {
  const auto now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  return WorkerIdentity{config.worker_id, host_name(), static_cast<int>(getpid()),
                        core::kLibraryVersion, core::format_iso8601(now)};
}

void run_heartbeat_loop(const WorkerConfig& config, const WorkerIdentity& identity,
                        ShutdownSignal& shutdown) {
  Backoff backoff(config.reconnect_initial_delay, config.reconnect_max_delay);
  std::unique_ptr<pqxx::connection> connection;
  long attempt = 0;
  const std::string interval = std::to_string(config.heartbeat_interval.count()) + " seconds";

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
      } catch (const std::exception& error) {
        const Seconds delay = backoff.next();
        log::warn("connect_failed", {{"attempt", attempt},
                                     {"retry_in_seconds", delay.count()},
                                     {"error", one_line(error.what())}});
        shutdown.wait_for(delay);
        continue;
      }
    }

    const auto next_beat =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(config.heartbeat_interval);
    try {
      pqxx::work transaction(*connection);
      const pqxx::result result = transaction.exec_params(
          "SELECT ops.record_worker_heartbeat($1, $2, $3, $4, $5::timestamptz, $6::interval)",
          identity.worker_id, identity.host, identity.pid, identity.version, identity.started_at,
          interval);
      transaction.commit();
      log::debug("heartbeat", {{"last_seen", result[0][0].c_str()}});
    } catch (const pqxx::sql_error& error) {
      if (connection_lost(*connection, error.sqlstate())) {
        log::warn("connection_lost",
                  {{"sqlstate", error.sqlstate()}, {"error", one_line(error.what())}});
        connection.reset();
        continue;
      }
      log::error("heartbeat_failed",
                 {{"sqlstate", error.sqlstate()}, {"error", one_line(error.what())}});
    } catch (const pqxx::broken_connection& error) {
      log::warn("connection_lost", {{"error", one_line(error.what())}});
      connection.reset();
      continue;
    } catch (const std::exception& error) {
      // pqxx::in_doubt_error and friends: the state of the session is unknown, so start over.
      log::error("heartbeat_failed", {{"error", one_line(error.what())}});
      connection.reset();
      continue;
    }
    // A steady clock: wall-clock jumps neither bunch heartbeats up nor stall them.
    shutdown.wait_for(std::chrono::duration_cast<Seconds>(
        std::max(next_beat - Clock::now(), Clock::duration::zero())));
  }
}

}  // namespace expense_ops::worker
