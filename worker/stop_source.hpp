// The worker's stop, shared by its threads: the main thread waits for SIGTERM or SIGINT
// (worker/shutdown.hpp) and requests the stop; each job thread sleeps on it between runs and
// wakes the moment it is requested.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "worker/config.hpp"

namespace expense_ops::worker {

class StopSource {
 public:
  void request_stop() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    woken_.notify_all();
  }

  bool stop_requested() const { return stopped_; }

  // The flag itself, for code that polls it mid-run (a child process to cut short).
  const std::atomic<bool>* flag() const { return &stopped_; }

  // Sleeps for up to `timeout`; true as soon as the stop was requested.
  bool wait_for(Seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return woken_.wait_for(lock, timeout, [this] { return stopped_.load(); });
  }

 private:
  std::mutex mutex_;
  std::condition_variable woken_;
  std::atomic<bool> stopped_{false};
};

}  // namespace expense_ops::worker
