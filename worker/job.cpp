#include "worker/job.hpp"

#include <algorithm>
#include <stdexcept>

namespace expense_ops::worker {

namespace {

constexpr const char* kHeartbeat = "heartbeat";

// Built on first use: registrations run during static initialisation, in no set order.
std::vector<JobSpec>& registry() {
  static std::vector<JobSpec> jobs;
  return jobs;
}

}  // namespace

JobRegistration::JobRegistration(JobSpec spec) {
  auto& jobs = registry();
  const bool taken = std::any_of(jobs.begin(), jobs.end(),
                                 [&spec](const JobSpec& job) { return job.name == spec.name; });
  if (taken || spec.name.empty() || !spec.make) {
    // During static initialisation: the process stops before main, naming the job.
    throw std::logic_error("job \"" + spec.name + "\" is registered twice, or incompletely");
  }
  jobs.push_back(std::move(spec));
}

std::vector<JobSpec> registered_jobs() {
  std::vector<JobSpec> jobs = registry();
  std::sort(jobs.begin(), jobs.end(), [](const JobSpec& left, const JobSpec& right) {
    const bool left_beats = left.name == kHeartbeat;
    const bool right_beats = right.name == kHeartbeat;
    return left_beats != right_beats ? left_beats : left.name < right.name;
  });
  return jobs;
}

std::vector<JobSpec> jobs_of_set(const std::string& job_set) {
  std::vector<JobSpec> jobs = registered_jobs();
  jobs.erase(std::remove_if(jobs.begin(), jobs.end(),
                            [&job_set](const JobSpec& job) { return job.job_set != job_set; }),
             jobs.end());
  return jobs;
}

bool Job::wait_for_work(pqxx::connection& /*connection*/, StopSource& stop, Seconds timeout) {
  stop.wait_for(timeout);
  return false;
}

std::string failure_event(const std::string& job_name) {
  std::string event = job_name;
  std::replace(event.begin(), event.end(), '-', '_');
  return event + "_failed";
}

}  // namespace expense_ops::worker
