#include "worker/schedule.hpp"

#include <algorithm>
#include <stdexcept>

namespace expense_ops::worker {

Schedule::JobId Schedule::add(Seconds interval, SteadyTime first_due) {
  const auto steady_interval = std::chrono::duration_cast<SteadyClock::duration>(interval);
  // A zero interval would make a job due forever and starve the others; the configuration
  // already refuses anything below 0.1 s, so this only guards against a programming error.
  if (steady_interval <= SteadyClock::duration::zero()) {
    throw std::invalid_argument("Schedule::add: the interval must be positive");
  }
  jobs_.push_back(Job{steady_interval, first_due});
  return jobs_.size() - 1;
}

std::vector<Schedule::JobId> Schedule::due(SteadyTime now) const {
  std::vector<JobId> due_jobs;
  for (JobId job = 0; job < jobs_.size(); ++job) {
    if (jobs_[job].next_due <= now) {
      due_jobs.push_back(job);
    }
  }
  return due_jobs;
}

std::size_t Schedule::completed(JobId job, SteadyTime finished) {
  Job& entry = jobs_.at(job);
  const SteadyTime on_cadence = entry.next_due + entry.interval;
  if (on_cadence > finished) {
    entry.next_due = on_cadence;
    return 0;
  }
  // The due instants next_due + k * interval, k >= 1, that are not after `finished`.
  const auto skipped = (finished - entry.next_due) / entry.interval;
  entry.next_due = finished + entry.interval;
  return static_cast<std::size_t>(skipped);
}

void Schedule::make_all_due(SteadyTime now) {
  for (Job& entry : jobs_) {
    entry.next_due = now;
  }
}

SteadyTime Schedule::next_wake() const {
  const auto earliest = std::min_element(
      jobs_.begin(), jobs_.end(),
      [](const Job& left, const Job& right) { return left.next_due < right.next_due; });
  if (earliest == jobs_.end()) {
    throw std::logic_error("Schedule::next_wake: no jobs");
  }
  return earliest->next_due;
}

}  // namespace expense_ops::worker
