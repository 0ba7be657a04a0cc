// SIGTERM and SIGINT, and SIGHUP (reload), received synchronously. The signals are blocked and
// collected with sigtimedwait, so the worker's sleeps end the moment one arrives and no handler
// runs in the middle of libpq.
#pragma once

#include "worker/config.hpp"

namespace expense_ops::worker {

class ShutdownSignal {
 public:
  // Blocks SIGTERM, SIGINT and SIGHUP for this thread; call it before starting any other thread.
  ShutdownSignal();

  // Sleeps for up to `timeout`. Returns true as soon as a shutdown was requested; returns false
  // early when a SIGHUP arrived, which take_reload() then reports.
  bool wait_for(Seconds timeout);

  // True once for each SIGHUP (several before a look count once).
  bool take_reload() {
    const bool requested = reload_;
    reload_ = false;
    return requested;
  }

  // True once SIGTERM or SIGINT arrived; checks for a pending one without sleeping.
  bool requested();

  // The signal that requested shutdown, or 0.
  int signal_number() const { return signal_; }

 private:
  int signal_ = 0;
  bool reload_ = false;
};

}  // namespace expense_ops::worker
