#include "worker/liveness.hpp"

#include <algorithm>

namespace expense_ops::worker {

namespace {

constexpr double kLateAfterIntervals = 3;

}  // namespace

void Liveness::expect(const std::string& job, Seconds interval, SteadyTime started,
                      Seconds longest_run, bool reports_database) {
  const std::lock_guard<std::mutex> lock(mutex_);
  JobState& state = jobs_[job];
  state.interval = interval;
  state.last_progress = started;
  state.grace = std::max(kLivenessGrace, longest_run);
  state.reports_database = reports_database;
}

void Liveness::connected(const std::string& job, bool connected) {
  const std::lock_guard<std::mutex> lock(mutex_);
  jobs_[job].connected = connected;
}

void Liveness::progressed(const std::string& job, SteadyTime at) {
  const std::lock_guard<std::mutex> lock(mutex_);
  jobs_[job].last_progress = at;
}

void Liveness::leading(const std::string& job, bool leading) {
  const std::lock_guard<std::mutex> lock(mutex_);
  jobs_[job].leading = leading;
}

Liveness::Verdict Liveness::verdict(SteadyTime now) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  Verdict verdict;
  bool database = false;
  bool all_on_time = true;
  core::json::Object jobs;
  for (const auto& [name, state] : jobs_) {
    const Seconds since = std::chrono::duration_cast<Seconds>(now - state.last_progress);
    const Seconds allowed = std::max(state.interval * kLateAfterIntervals, state.grace);
    const bool on_time = since <= allowed;
    all_on_time = all_on_time && on_time;
    if (state.reports_database) {
      database = state.connected;
    }
    core::json::Object job = {{"connected", state.connected},
                              {"on_time", on_time},
                              {"seconds_since_progress", since.count()}};
    if (state.leading) {
      job.emplace_back("leading", *state.leading);
    }
    jobs.emplace_back(name, std::move(job));
  }
  verdict.live = database && all_on_time;
  verdict.detail = {{"status", verdict.live ? "ok" : "unavailable"},
                    {"database", database},
                    {"jobs", std::move(jobs)}};
  return verdict;
}

}  // namespace expense_ops::worker
