#include "worker/shutdown.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>

namespace expense_ops::worker {

namespace {

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

ShutdownSignal::ShutdownSignal() {
  const sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

bool ShutdownSignal::wait_for(Seconds timeout) {
  using Clock = std::chrono::steady_clock;
  const sigset_t set = shutdown_signals();
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  while (signal_ == 0) {
    const auto remaining =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
    const long long nanos = remaining.count() > 0 ? remaining.count() : 0;
    timespec wait{static_cast<time_t>(nanos / 1000000000), static_cast<long>(nanos % 1000000000)};
    const int received = sigtimedwait(&set, nullptr, &wait);
    if (received == SIGHUP) {
      reload_ = true;
      break;
    }
    if (received > 0) {
      signal_ = received;
    } else if (errno == EAGAIN || nanos == 0) {
      break;  // the time is up
    }
    // EINTR: another signal interrupted the wait; wait out the rest.
  }
  return signal_ != 0;
}

bool ShutdownSignal::requested() {
  return wait_for(Seconds(0));
}

}  // namespace expense_ops::worker
