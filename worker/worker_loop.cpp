#include "worker/worker_loop.hpp"

#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "worker/job.hpp"
#include "worker/job_runner.hpp"
#include "worker/liveness.hpp"
#include "worker/log.hpp"
#include "worker/redact.hpp"
#include "worker/status_server.hpp"
#include "worker/stop_source.hpp"

namespace expense_ops::worker {

namespace {

// How often the main thread looks for a job thread's fatal error while it waits for a signal.
constexpr Seconds kFailurePoll{0.25};

// The job threads, stopped and joined however the loop is left: a joinable std::thread that is
// destroyed ends the process.
class JobThreads {
 public:
  explicit JobThreads(StopSource& stop) : stop_(stop) {}
  ~JobThreads() { stop_and_join(); }
  JobThreads(const JobThreads&) = delete;
  JobThreads& operator=(const JobThreads&) = delete;

  template <typename Body>
  void start(Body body) {
    threads_.emplace_back([this, body] {
      try {
        body();
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (!failure_) {
          failure_ = std::current_exception();
        }
        stop_.request_stop();
      }
    });
  }

  // Stops every thread and waits for it; a run in progress finishes first.
  void stop_and_join() {
    stop_.request_stop();
    for (std::thread& thread : threads_) {
      if (thread.joinable()) {
        thread.join();
      }
    }
  }

  // The first error that ended a job thread early.
  std::exception_ptr failure() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }

 private:
  StopSource& stop_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::exception_ptr failure_;
};

// The options a running worker cannot take up without a restart, when SIGHUP finds them changed.
std::vector<std::string> changed_needing_restart(const WorkerConfig& running,
                                                 const WorkerConfig& fresh) {
  std::vector<std::string> changed;
  const auto note = [&changed](bool differs, const char* option) {
    if (differs) {
      changed.emplace_back(option);
    }
  };
  note(running.dsn != fresh.dsn, "dsn");
  note(running.worker_id != fresh.worker_id, "worker-id");
  note(running.listen_address != fresh.listen_address, "listen-address");
  note(running.check_threads != fresh.check_threads, "check-threads");
  note(running.delivery_concurrency != fresh.delivery_concurrency, "delivery-concurrency");
  note(running.host_disk_path != fresh.host_disk_path, "host-disk-path");
  note(running.reconnect_initial_delay != fresh.reconnect_initial_delay ||
           running.reconnect_max_delay != fresh.reconnect_max_delay,
       "reconnect-*-delay");
  const auto entries = [](const std::vector<ShippedLog>& logs) {
    std::vector<std::string> written;
    written.reserve(logs.size());
    for (const ShippedLog& log : logs) {
      written.push_back(log.name + ":" + log.format + ":" + log.path);
    }
    return written;
  };
  note(entries(running.shipped_logs) != entries(fresh.shipped_logs), "ship-log");
  for (const auto& [job, interval] : running.job_intervals) {
    if (fresh.job_intervals.at(job) != interval) {
      changed.push_back(job + "-interval");
    }
  }
  return changed;
}

}  // namespace

void run_worker_loop(const WorkerConfig& config, const WorkerIdentity& identity,
                     ShutdownSignal& shutdown, const std::function<WorkerConfig()>& reread) {
  StopSource stop;
  const JobContext context{config, identity, stop.flag()};
  struct Running {
    JobSpec spec;
    std::unique_ptr<Job> job;
  };
  std::vector<Running> jobs;
  for (JobSpec& spec : jobs_of_set(config.job_set)) {
    std::unique_ptr<Job> job = spec.make(context);
    jobs.push_back(Running{std::move(spec), std::move(job)});
  }

  if (jobs.empty()) {
    throw ConfigError("--jobs " + config.job_set + ": no job of that set is registered");
  }
  // The heartbeat reports the database's availability; a job set without one has its first job
  // do it.
  const std::string reporter = jobs.front().spec.name;
  Liveness liveness;
  for (const Running& running : jobs) {
    const Seconds longest_run =
        running.spec.longest_run ? running.spec.longest_run(config) : kLivenessGrace;
    liveness.expect(running.spec.name, config.interval_of(running.spec.name), SteadyClock::now(),
                    longest_run, running.spec.name == reporter);
  }
  // Declared before the threads, so it outlives them: they report to `liveness`, which it reads.
  std::unique_ptr<StatusServer> status;
  if (!config.listen_address.empty()) {
    status = std::make_unique<StatusServer>(config.listen_address, liveness);
    log::info("listening", {{"address", config.listen_address},
                            {"port", status->port()},
                            {"paths", core::json::Array{"/metrics", "/healthz"}}});
  }

  JobThreads threads(stop);
  for (Running& running : jobs) {
    const JobRunnerOptions options{config.interval_of(running.spec.name),
                                   running.spec.name == reporter, &liveness};
    threads.start([&running, options, &config, &stop] {
      run_job_until_stopped(running.spec, *running.job, options, config, stop);
    });
  }
  // The signals are blocked in every thread (ShutdownSignal came first), so they reach this
  // wait and no other. A job thread that fails for good (a DSN libpq refuses) stops the rest.
  WorkerConfig in_force = config;
  while (!stop.stop_requested() && !shutdown.wait_for(kFailurePoll)) {
    if (!shutdown.take_reload()) {
      continue;
    }
    try {
      const WorkerConfig fresh = reread();
      log::set_level(fresh.log_level);
      for (Running& running : jobs) {
        running.job->reload(fresh);
      }
      core::json::Array restart;
      for (const std::string& option : changed_needing_restart(in_force, fresh)) {
        restart.emplace_back(option);
      }
      log::info("reloaded",
                {{"log_level", fresh.log_level}, {"changed_needing_restart", std::move(restart)}});
      in_force = fresh;
    } catch (const std::exception& error) {
      log::error("reload_failed", {{"error", redact_secrets(error.what())},
                                   {"hint",
                                    "the configuration in force stays; fix the file and "
                                    "send SIGHUP again"}});
    }
  }
  threads.stop_and_join();
  if (const std::exception_ptr failure = threads.failure()) {
    std::rethrow_exception(failure);
  }
}

}  // namespace expense_ops::worker
