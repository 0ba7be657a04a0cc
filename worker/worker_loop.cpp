#include "worker/worker_loop.hpp"

#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "worker/job.hpp"
#include "worker/job_runner.hpp"
#include "worker/stop_source.hpp"

namespace expense_ops::worker {

namespace {

// How often the main thread looks for a job thread's fatal error while it waits for a signal.
constexpr Seconds kFailurePoll{0.25};

// The job whose runner reports the database's availability, and which goes first.
constexpr const char* kHeartbeatJob = "heartbeat";

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

}  // namespace

void run_worker_loop(const WorkerConfig& config, const WorkerIdentity& identity,
                     ShutdownSignal& shutdown) {
  const JobContext context{config, identity};
  struct Running {
    JobSpec spec;
    std::unique_ptr<Job> job;
  };
  std::vector<Running> jobs;
  for (JobSpec& spec : registered_jobs()) {
    std::unique_ptr<Job> job = spec.make(context);
    jobs.push_back(Running{std::move(spec), std::move(job)});
  }

  StopSource stop;
  JobThreads threads(stop);
  for (Running& running : jobs) {
    const JobRunnerOptions options{config.interval_of(running.spec.name),
                                   running.spec.name == kHeartbeatJob};
    threads.start([&running, options, &config, &stop] {
      run_job_until_stopped(running.spec, *running.job, options, config, stop);
    });
  }
  // The signals are blocked in every thread (ShutdownSignal came first), so they reach this
  // wait and no other. A job thread that fails for good (a DSN libpq refuses) stops the rest.
  while (!stop.stop_requested() && !shutdown.wait_for(kFailurePoll)) {
  }
  threads.stop_and_join();
  if (const std::exception_ptr failure = threads.failure()) {
    std::rethrow_exception(failure);
  }
}

}  // namespace expense_ops::worker
