// The heartbeat: ops.record_worker_heartbeat(), which api.health() watches. It degrades health
// after three missed beats, judged by the interval the worker says it keeps.
#include <pqxx/pqxx>

#include "worker/job.hpp"
#include "worker/log.hpp"

namespace expense_ops::worker {

namespace {

class HeartbeatJob : public Job {
 public:
  HeartbeatJob(const WorkerIdentity& identity, Seconds interval)
      : identity_(identity), interval_(std::to_string(interval.count()) + " seconds") {}

  void run(pqxx::connection& connection) override {
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

const JobRegistration kHeartbeat{{
    "heartbeat",
    "ops.record_worker_heartbeat",
    10,
    "seconds between heartbeats; api.health() degrades after 3 missed ones",
    [](const JobContext& context) {
      return std::make_unique<HeartbeatJob>(context.identity,
                                            context.config.interval_of("heartbeat"));
    },
}};

}  // namespace

}  // namespace expense_ops::worker
