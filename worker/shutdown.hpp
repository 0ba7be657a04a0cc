// SIGTERM and SIGINT, received synchronously. The signals are blocked and collected with
// sigtimedwait, so the worker's sleeps end the moment one arrives and no handler runs in the
// middle of libpq.
#pragma once

#include "worker/config.hpp"

namespace expense_ops::worker {

class ShutdownSignal {
 public:
  // Blocks SIGTERM and SIGINT for this thread; call it before starting any other thread.
  ShutdownSignal();

  // Sleeps for up to `timeout`. Returns true as soon as a shutdown was requested.
  bool wait_for(Seconds timeout);

  // True once SIGTERM or SIGINT arrived; checks for a pending one without sleeping.
  bool requested();

  // The signal that requested shutdown, or 0.
  int signal_number() const { return signal_; }

 private:
  int signal_ = 0;
};

}  // namespace expense_ops::worker
