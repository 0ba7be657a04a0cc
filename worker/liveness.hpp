// Whether the worker is live, for /healthz (issue 11, section 7): its database connection and
// every job's schedule. Each job's runner reports here; the status server asks for a verdict.
// The time is an argument, so the rules are tested without waiting.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/json.hpp"
#include "worker/config.hpp"
#include "worker/schedule.hpp"

namespace expense_ops::worker {

// A job is late once it has not completed a run (or a leader's standby check) for three of its
// intervals, and never sooner than this: a run may take a while without anything being wrong.
inline constexpr Seconds kLivenessGrace{30};

class Liveness {
 public:
  // Before the job threads start: each job, its interval, and the start as its last progress.
  // `longest_run`, when longer than kLivenessGrace, is how long a run may take (a backup). The
  // job that `reports_database` (the heartbeat, else the first of the job set) stands for the
  // database connection.
  void expect(const std::string& job, Seconds interval, SteadyTime started,
              Seconds longest_run = kLivenessGrace, bool reports_database = false);

  void connected(const std::string& job, bool connected);
  void progressed(const std::string& job, SteadyTime at);
  void leading(const std::string& job, bool leading);

  struct Verdict {
    bool live = false;
    core::json::Object detail;  // the /healthz document
  };
  // Live when the reporting job's connection is up and no job is late.
  Verdict verdict(SteadyTime now) const;

 private:
  struct JobState {
    Seconds interval{0};
    Seconds grace = kLivenessGrace;
    bool reports_database = false;
    SteadyTime last_progress{};
    bool connected = false;
    std::optional<bool> leading;  // for the jobs of one leader
  };
  mutable std::mutex mutex_;
  std::map<std::string, JobState> jobs_;
};

}  // namespace expense_ops::worker
