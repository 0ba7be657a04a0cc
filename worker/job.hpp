// The worker's jobs: what it runs on a schedule. Each job is one file under worker/jobs/ that
// registers itself with a JobRegistration; the configuration offers `<name>-interval` for every
// registered job, and the worker runs each on a thread and a connection of its own
// (worker/job_runner.hpp), so a slow job never delays the heartbeat that api.health() watches.
// Adding a job is adding a file (and, if the default interval will not do, setting its key).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "worker/config.hpp"
#include "worker/heartbeat.hpp"
#include "worker/stop_source.hpp"

namespace expense_ops::worker {

// What a job may know when it is made.
struct JobContext {
  const WorkerConfig& config;
  const WorkerIdentity& identity;
  // Set when the worker stops: what a long run (a backup) polls to cut itself short.
  const std::atomic<bool>* stop = nullptr;
};

class Job {
 public:
  virtual ~Job() = default;

  // One run on the job's connection. It throws what libpqxx throws; the runner logs it and
  // decides whether the session survives (worker/job_runner.cpp).
  virtual void run(pqxx::connection& connection) = 0;

  // The job's connection is about to close (lost, or the worker stops): anything bound to it,
  // such as a LISTEN, goes first. The next run may come on a new connection.
  virtual void connection_closing() noexcept {}

  // Waits up to `timeout` for the next run. True when work arrived (a NOTIFY, a finished
  // delivery) and the job should run at once rather than at its interval. The default sleeps
  // until the stop.
  virtual bool wait_for_work(pqxx::connection& connection, StopSource& stop, Seconds timeout);

  // The worker stops: finish what is in hand, reporting on `connection` if there is one
  // (nullptr when the database is away). Called once, from the job's thread, before
  // connection_closing().
  virtual void stopping(pqxx::connection* connection) noexcept { (void)connection; }

  // A job that runs on one worker at a time (JobSpec::one_leader) learns whether it is that
  // worker: after each (re)connection, and when it takes over from a leader that went away.
  virtual void leadership_changed(bool leading) noexcept { (void)leading; }

  // SIGHUP: the configuration file was read again. Called from the main thread while the job
  // runs: a job takes what it can use at once (secrets, credentials, commands) under its own
  // lock. What needs a restart the worker logs.
  virtual void reload(const WorkerConfig& config) noexcept { (void)config; }
};

struct JobSpec {
  std::string name;      // "rollup-requests": log lines say it, and the key <name>-interval sets it
  std::string function;  // what a run calls, named in its log lines ("ops.rollup_requests")
  double default_interval_seconds = 60;
  std::string help;  // the interval's line in --help
  std::function<std::unique_ptr<Job>(const JobContext&)> make;
  // Whether, of several workers on one database, only one runs it: the holder of a session-level
  // advisory lock named after the job (worker/job_runner.cpp). The heartbeat, the host samples
  // and the log shipping are each worker's own; deliveries are shared through leases.
  bool one_leader = false;
  // The job set that runs it (WorkerConfig::job_set, --jobs): "default", or "backup" for the
  // jobs that need the database host and its OS owner.
  std::string job_set = "default";
  // How long one run may take before /healthz calls the job late, when that is longer than its
  // liveness grace (a backup); none: the grace.
  std::function<Seconds(const WorkerConfig&)> longest_run = nullptr;
};

// Every job registered, in the order the worker starts them: the heartbeat first, then by name.
std::vector<JobSpec> registered_jobs();

// The registered jobs of one job set, in the same order.
std::vector<JobSpec> jobs_of_set(const std::string& job_set);

// Defined at namespace scope in a job's file: `const JobRegistration kRegistration{{...}};`.
class JobRegistration {
 public:
  explicit JobRegistration(JobSpec spec);
};

// The failure event of a job's log lines: "rollup-requests" fails as "rollup_requests_failed".
std::string failure_event(const std::string& job_name);

}  // namespace expense_ops::worker
