// Waiting between a job's runs for something to do: a NOTIFY on the job's connection (which
// libpqxx hands to the connection's notification receivers), a byte on a pipe of the job's own,
// or a condition of the job. Used by the jobs that run at once on a NOTIFY (the outbox's
// delivery, the alert evaluation) instead of only at their interval.
#pragma once

#include <functional>
#include <pqxx/connection>

#include "worker/config.hpp"
#include "worker/stop_source.hpp"

namespace expense_ops::worker {

// Waits up to `timeout`. True as soon as `ready()` holds, which it asks after each NOTIFY or byte
// on `wake_fd` (-1: none) and at least every 100 ms; false when the time is up or the stop was
// requested. A connection that broke meanwhile also returns true: the next run finds out.
bool wait_for_notification(pqxx::connection& connection, StopSource& stop, Seconds timeout,
                           const std::function<bool()>& ready, int wake_fd = -1);

}  // namespace expense_ops::worker
