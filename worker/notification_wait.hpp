// Waiting between a job's runs for something to do: a NOTIFY on the job's connection (which
// libpqxx hands to the connection's notification receivers), a byte on a pipe of the job's own,
// or a condition of the job. Used by the jobs that run at once on a NOTIFY (the outbox's
// delivery, the alert evaluation) instead of only at their interval.
#pragma once

#include <atomic>
#include <functional>
#include <pqxx/connection>
#include <pqxx/notification>
#include <string>

#include "worker/config.hpp"
#include "worker/stop_source.hpp"

namespace expense_ops::worker {

// LISTEN `channel` on `connection` for as long as it lives: each NOTIFY sets `flag`, which the
// job reads and clears.
class NotificationFlag : public pqxx::notification_receiver {
 public:
  NotificationFlag(pqxx::connection& connection, const std::string& channel,
                   std::atomic<bool>& flag)
      : pqxx::notification_receiver(connection, channel), flag_(flag) {}
  void operator()(const std::string&, int) override { flag_ = true; }

 private:
  std::atomic<bool>& flag_;
};

// Waits up to `timeout`. True as soon as `ready()` holds, which it asks after each NOTIFY or byte
// on `wake_fd` (-1: none) and at least every 100 ms; false when the time is up or the stop was
// requested. A connection that broke meanwhile also returns true: the next run finds out.
bool wait_for_notification(pqxx::connection& connection, StopSource& stop, Seconds timeout,
                           const std::function<bool()>& ready, int wake_fd = -1);

}  // namespace expense_ops::worker
