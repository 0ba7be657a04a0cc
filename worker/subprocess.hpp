// Running a program to its end under a time limit, for the command channel (worker/notifier.cpp)
// and the tools a backup runs (pg_basebackup, pg_verifybackup, pgbackrest, pg_ctl):
//   - posix_spawn of an absolute path: no shell, no PATH search, nothing of the worker's
//     environment, file descriptors (libcurl's sockets are not close-on-exec), signal mask or
//     ignored signals;
//   - in a process group of its own, killed whole when the run ends: what a timed-out or stopped
//     program was doing, and whatever a finished one left behind;
//   - its exit counts even while something it left behind holds its output open;
//   - its output is read to the end however much it prints, so that it never blocks on a full
//     pipe; only the first bytes are kept, for a log line or an error.
// Writing to a program that closed its stdin raises no SIGPIPE, whether the caller ignores it or
// not.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace expense_ops::worker {

struct SubprocessSpec {
  std::vector<std::string> argv;         // argv[0]: the program's absolute path
  std::vector<std::string> environment;  // NAME=value: all of it, nothing is inherited
  std::string input;                     // the whole of stdin; closed once written
  // For the whole run, after which the process group is killed. Nothing runs without one: the
  // default, zero, kills the program as soon as it starts.
  std::chrono::duration<double> timeout{0};
  const std::atomic<bool>* stop = nullptr;  // once set, the process group is killed
  std::size_t kept_output_bytes = 8192;     // of stdout and stderr, merged as the program wrote
  std::string working_directory;            // empty: the worker's own
};

struct SubprocessResult {
  bool started = false;
  // Why it could not be started; or, once started, why its end is unknown: waitpid failed
  // (something else in the process reaped it, or SIGCHLD is ignored).
  std::string error;
  int wait_status = 0;     // waitpid's, once reaped
  bool exited = false;     // ended on its own (an exit or a signal), before any kill of ours
  bool timed_out = false;  // killed at the timeout
  bool stopped = false;    // killed because the stop flag was set
  std::string output;      // the first kept_output_bytes of stdout and stderr
  std::chrono::duration<double> elapsed{0};

  bool succeeded() const { return exit_code() == 0; }
  // The status it exited with; nullopt when it did not exit on its own, or died of a signal.
  std::optional<int> exit_code() const;
};

// Runs the program to its end, the timeout, or the stop, whichever comes first. Blocks the
// calling thread; safe to call from several threads at once.
SubprocessResult run_subprocess(const SubprocessSpec& spec);

// What PostgreSQL's tools need of an environment, for a spec's `environment`; callers append
// their own (PGHOST, PGPASSFILE, ...).
std::vector<std::string> minimal_tool_environment();

}  // namespace expense_ops::worker
