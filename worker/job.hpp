// The worker's jobs: what it runs on a schedule. Each job is one file under worker/jobs/ that
// registers itself with a JobRegistration; the configuration offers `<name>-interval` for every
// registered job, and the worker runs each on a thread and a connection of its own
// (worker/job_runner.hpp), so a slow job never delays the heartbeat that api.health() watches.
// Adding a job is adding a file (and, if the default interval will not do, setting its key).
#pragma once

#include <functional>
#include <memory>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "worker/config.hpp"
#include "worker/heartbeat.hpp"

namespace expense_ops::worker {

// What a job may know when it is made.
struct JobContext {
  const WorkerConfig& config;
  const WorkerIdentity& identity;
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
};

struct JobSpec {
  std::string name;      // "rollup-requests": log lines say it, and the key <name>-interval sets it
  std::string function;  // what a run calls, named in its log lines ("ops.rollup_requests")
  double default_interval_seconds = 60;
  std::string help;  // the interval's line in --help
  std::function<std::unique_ptr<Job>(const JobContext&)> make;
};

// Every job registered, in the order the worker starts them: the heartbeat first, then by name.
std::vector<JobSpec> registered_jobs();

// Defined at namespace scope in a job's file: `const JobRegistration kRegistration{{...}};`.
class JobRegistration {
 public:
  explicit JobRegistration(JobSpec spec);
};

// The failure event of a job's log lines: "rollup-requests" fails as "rollup_requests_failed".
std::string failure_event(const std::string& job_name);

}  // namespace expense_ops::worker
