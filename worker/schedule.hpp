// When each of the worker's periodic jobs runs next. The loop owns one Schedule and feeds it
// the steady clock's readings; nothing here reads a clock or sleeps, so tests can drive it
// through any sequence of instants, including a clock that leaps forward.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

#include "worker/config.hpp"

namespace expense_ops::worker {

// Monotonic: setting the system clock (NTP steps, DST, an operator's `date -s`) neither bunches
// runs up nor stalls them. It does leap forward after the process was stopped or the host was
// suspended, which Schedule::completed handles.
using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

class Schedule {
 public:
  using JobId = std::size_t;

  // Adds a job that runs every `interval`, first at `first_due`. Ids are 0, 1, ... in order.
  JobId add(Seconds interval, SteadyTime first_due);

  // The jobs whose due instant has come by `now`, in the order they were added, so that when
  // several are due together the first added (the heartbeat) goes first.
  std::vector<JobId> due(SteadyTime now) const;

  // Records that `job` ran (successfully or not) and ended at `finished`. The next run keeps
  // the job's cadence, one interval after the instant it was due, so the time a run takes does
  // not make the schedule drift. If that instant is not still ahead (the clock leapt, or the
  // run or another job ran long) the missed runs are dropped rather than replayed back to back,
  // and the next run comes one full interval after `finished`. Returns how many runs were
  // dropped that way: the due instants that passed while this run was going (or the clock leapt).
  std::size_t completed(JobId job, SteadyTime finished);

  // Makes every job due at `now`. After a (re)connection nothing has run for a while: beat at
  // once so that health recovers, and catch up on the SLA transitions.
  void make_all_due(SteadyTime now);

  // The earliest instant any job is due: how long the loop may sleep. Requires a job.
  SteadyTime next_wake() const;

  SteadyTime next_due(JobId job) const { return jobs_.at(job).next_due; }

 private:
  struct Job {
    SteadyClock::duration interval;
    SteadyTime next_due;
  };
  std::vector<Job> jobs_;
};

}  // namespace expense_ops::worker
