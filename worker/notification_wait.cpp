#include "worker/notification_wait.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "worker/schedule.hpp"

namespace expense_ops::worker {

namespace {

// How often the wait looks at the stop and at `ready`: a SIGTERM is heard this late at most.
constexpr std::chrono::milliseconds kSlice{100};

}  // namespace

bool wait_for_notification(pqxx::connection& connection, StopSource& stop, Seconds timeout,
                           const std::function<bool()>& ready, int wake_fd) {
  const SteadyTime deadline =
      SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(timeout);
  while (!stop.stop_requested()) {
    if (ready()) {
      return true;
    }
    const SteadyTime now = SteadyClock::now();
    if (now >= deadline) {
      return false;
    }
    const auto slice =
        std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now), kSlice);
    pollfd fds[2] = {{connection.sock(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(slice.count()) + 1) < 0 &&
        errno != EINTR) {
      return true;  // let the run find out what is wrong
    }
    if (wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      char drained[64];
      while (read(wake_fd, drained, sizeof drained) > 0) {
      }
    }
    if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      try {
        connection.get_notifs();
      } catch (const std::exception&) {
        return true;  // the run reports the lost connection, and the runner reconnects
      }
      if (!connection.is_open()) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace expense_ops::worker
