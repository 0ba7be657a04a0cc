#include "worker/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string_view>
#include <thread>
#include <utility>

namespace expense_ops::worker {

namespace {

using Clock = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;

// The longest wait on the pipes: a stop, or an exit while something else holds the output open,
// is seen this late at most, and a long quiet run wakes ten times a second, no more.
constexpr Milliseconds kLongestPoll{100};
// Once the output is closed only the exit is left to see: soon after, usually, so it is looked
// for early, then less and less often up to kLongestPoll.
constexpr Milliseconds kFirstExitCheck{5};
// What is left in the pipe when the run ends is read too (the last words of a program that
// exited, or was killed), up to this much: a process that left the group, as the postmaster
// pg_ctl starts does, may hold the pipe and go on writing.
constexpr std::size_t kMostReadAfterTheEnd = 1 << 20;
// Longer than anything the worker runs, and what the steady clock's nanoseconds can hold.
constexpr std::chrono::hours kLongestTimeout{24 * 365};

enum class End { kExited, kTimedOut, kStopped };

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read_end;
  Fd write_end;
};

// Close-on-exec: a program another thread starts meanwhile must not hold these ends, or this
// program's stdin would not close when written, nor its output end when it exits.
int make_pipe(Pipe& pipe) {
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) != 0) {
    return errno;
  }
  pipe.read_end = Fd(ends[0]);
  pipe.write_end = Fd(ends[1]);
  return 0;
}

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Writing to a program that closed its stdin raises SIGPIPE, which ends a process that does not
// ignore it (the worker does, a test or another tool may not). The signal goes to the thread
// that wrote: blocked there, it stays pending until taken back, and no one else sees it.
class SigpipeHeld {
 public:
  SigpipeHeld() {
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigpipe_, &previous_mask_);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    // One pending already would merge with ours; taking it back would lose someone's signal.
    already_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeHeld() { pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr); }
  SigpipeHeld(const SigpipeHeld&) = delete;
  SigpipeHeld& operator=(const SigpipeHeld&) = delete;

  // After a write failed with EPIPE.
  void take_back() {
    if (already_pending_) {
      return;
    }
    const timespec now{};
    while (sigtimedwait(&sigpipe_, nullptr, &now) < 0 && errno == EINTR) {
    }
  }

 private:
  sigset_t sigpipe_{};
  sigset_t previous_mask_{};
  bool already_pending_ = false;
};

class SpawnFileActions {
 public:
  SpawnFileActions() { posix_spawn_file_actions_init(&actions_); }
  ~SpawnFileActions() { posix_spawn_file_actions_destroy(&actions_); }
  SpawnFileActions(const SpawnFileActions&) = delete;
  SpawnFileActions& operator=(const SpawnFileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
};

class SpawnAttributes {
 public:
  SpawnAttributes() { posix_spawnattr_init(&attributes_); }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  posix_spawnattr_t* get() { return &attributes_; }

 private:
  posix_spawnattr_t attributes_{};
};

// Starts the program on the pipes' ends: 0, or why it could not be started (an errno).
int spawn(const SubprocessSpec& spec, int stdin_fd, int output_fd, pid_t& pid) {
  SpawnFileActions actions;
  posix_spawn_file_actions_adddup2(actions.get(), stdin_fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(actions.get(), output_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(actions.get(), output_fd, STDERR_FILENO);
  // Nothing else of the worker's: libcurl's sockets of other deliveries and checks are not
  // close-on-exec, and a child the program leaves behind would hold them open.
  posix_spawn_file_actions_addclosefrom_np(actions.get(), STDERR_FILENO + 1);
  if (!spec.working_directory.empty()) {
    posix_spawn_file_actions_addchdir_np(actions.get(), spec.working_directory.c_str());
  }
  SpawnAttributes attributes;
  // Its own process group, which the end of the run kills whole; the worker's blocked and
  // ignored signals (SIGTERM waits for the main thread, SIGPIPE is ignored) are not the program's.
  sigset_t none;
  sigset_t defaults;
  sigemptyset(&none);
  sigfillset(&defaults);
  sigdelset(&defaults, SIGKILL);
  sigdelset(&defaults, SIGSTOP);
  posix_spawnattr_setpgroup(attributes.get(), 0);
  posix_spawnattr_setsigmask(attributes.get(), &none);
  posix_spawnattr_setsigdefault(attributes.get(), &defaults);
  posix_spawnattr_setflags(attributes.get(),
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // posix_spawn's arrays are not const, but it writes to none of them.
  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& word : spec.argv) {
    argv.push_back(const_cast<char*>(word.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(spec.environment.size() + 1);
  for (const std::string& variable : spec.environment) {
    envp.push_back(const_cast<char*>(variable.c_str()));
  }
  envp.push_back(nullptr);
  return posix_spawn(&pid, argv[0], actions.get(), attributes.get(), argv.data(), envp.data());
}

// Whether the child has exited, without reaping it (its process group stays reserved).
bool has_exited(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// A timeout the steady clock cannot hold (a longer one, an infinite one) is taken as the longest;
// one that is not a positive number, as none at all.
Clock::duration allowed_run_time(std::chrono::duration<double> timeout) {
  if (!(timeout > std::chrono::duration<double>::zero())) {
    return Clock::duration::zero();
  }
  return std::chrono::duration_cast<Clock::duration>(
      std::min<std::chrono::duration<double>>(timeout, kLongestTimeout));
}

// Whether the run must end now, whatever the program is doing.
std::optional<End> out_of_time_or_stopped(const SubprocessSpec& spec, Clock::time_point deadline) {
  if (spec.stop != nullptr && spec.stop->load()) {
    return End::kStopped;
  }
  if (Clock::now() >= deadline) {
    return End::kTimedOut;
  }
  return std::nullopt;
}

// Until the deadline, at most `longest`. Rounded up: a wait rounded down to 0 ms would turn the
// last millisecond into a busy loop.
Milliseconds time_left(Clock::time_point deadline, Milliseconds longest) {
  return std::clamp(std::chrono::ceil<Milliseconds>(deadline - Clock::now()), Milliseconds(0),
                    longest);
}

// One read of the program's output; what fits under `limit` is kept, the rest dropped. Returns
// what read() did.
ssize_t read_keeping(int fd, std::size_t limit, std::string& kept) {
  char buffer[16384];
  const ssize_t got = read(fd, buffer, sizeof buffer);
  if (got > 0 && kept.size() < limit) {
    kept.append(buffer, std::min(static_cast<std::size_t>(got), limit - kept.size()));
  }
  return got;
}

}  // namespace

std::optional<int> SubprocessResult::exit_code() const {
  if (!exited || !WIFEXITED(wait_status)) {
    return std::nullopt;
  }
  return WEXITSTATUS(wait_status);
}

std::vector<std::string> minimal_tool_environment() {
  return {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
}

SubprocessResult run_subprocess(const SubprocessSpec& spec) {
  SubprocessResult result;
  if (spec.argv.empty() || spec.argv.front().empty() || spec.argv.front().front() != '/') {
    result.error = "the program is not given by its absolute path";
    return result;
  }
  Pipe input;
  Pipe output;
  int no_pipe = make_pipe(input);
  if (no_pipe == 0) {
    no_pipe = make_pipe(output);
  }
  if (no_pipe != 0) {
    result.error = std::string("no pipe: ") + std::strerror(no_pipe);
    return result;
  }
  const Clock::time_point started_at = Clock::now();
  pid_t pid = 0;
  const int spawned = spawn(spec, input.read_end.get(), output.write_end.get(), pid);
  // The program's ends: with ours closed, its exit (and its children's) closes the output.
  input.read_end.reset();
  output.write_end.reset();
  if (spawned != 0) {
    result.error = std::strerror(spawned);
    return result;
  }
  result.started = true;
  const Clock::time_point deadline = started_at + allowed_run_time(spec.timeout);
  Fd stdin_pipe = std::move(input.write_end);
  Fd output_pipe = std::move(output.read_end);
  set_nonblocking(stdin_pipe.get());
  set_nonblocking(output_pipe.get());
  std::string_view unwritten = spec.input;
  if (unwritten.empty()) {
    stdin_pipe.reset();
  }
  SigpipeHeld sigpipe_held;
  std::optional<End> end;
  while (stdin_pipe.is_open() || output_pipe.is_open()) {
    end = out_of_time_or_stopped(spec, deadline);
    // A program that exited is done, even if something it left behind holds its output open.
    if (!end && has_exited(pid)) {
      end = End::kExited;
    }
    if (end) {
      break;
    }
    pollfd fds[2] = {{stdin_pipe.get(), POLLOUT, 0}, {output_pipe.get(), POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(time_left(deadline, kLongestPoll).count())) < 0) {
      if (errno == EINTR) {
        continue;
      }
      // The pipes cannot be watched: what is left is to wait for the end, below.
      stdin_pipe.reset();
      output_pipe.reset();
      break;
    }
    if (stdin_pipe.is_open() && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t written = write(stdin_pipe.get(), unwritten.data(), unwritten.size());
      const int write_error = written < 0 ? errno : 0;
      if (written > 0) {
        unwritten.remove_prefix(static_cast<std::size_t>(written));
      }
      if (write_error == EPIPE) {
        sigpipe_held.take_back();
      }
      // Done, or the program closed its stdin without reading it all: that is its business.
      if (unwritten.empty() ||
          (write_error != 0 && write_error != EAGAIN && write_error != EINTR)) {
        stdin_pipe.reset();
      }
    }
    if (output_pipe.is_open() && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      const ssize_t got = read_keeping(output_pipe.get(), spec.kept_output_bytes, result.output);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        output_pipe.reset();
      }
    }
  }
  stdin_pipe.reset();
  for (Milliseconds next_check = kFirstExitCheck; !end;
       next_check = std::min(next_check * 2, kLongestPoll)) {
    if (has_exited(pid)) {
      end = End::kExited;
    } else {
      end = out_of_time_or_stopped(spec, deadline);
      if (!end) {
        std::this_thread::sleep_for(time_left(deadline, next_check));
      }
    }
  }
  // The whole group goes: what a timed-out or stopped program was doing, and what a finished one
  // left. The program is not reaped before, so its group's id cannot yet belong to anyone else.
  kill(-pid, SIGKILL);
  for (std::size_t read_after_the_end = 0;
       output_pipe.is_open() && read_after_the_end < kMostReadAfterTheEnd;) {
    const ssize_t got = read_keeping(output_pipe.get(), spec.kept_output_bytes, result.output);
    if (got > 0) {
      read_after_the_end += static_cast<std::size_t>(got);
    } else if (got == 0 || errno != EINTR) {
      break;  // all of it, or all there is now
    }
  }
  output_pipe.reset();
  int status = 0;
  pid_t reaped = -1;
  do {
    reaped = waitpid(pid, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  result.elapsed = Clock::now() - started_at;
  if (reaped != pid) {
    result.error = std::string("lost track of the process: ") + std::strerror(errno);
    return result;
  }
  result.wait_status = status;
  result.exited = *end == End::kExited;
  result.timed_out = *end == End::kTimedOut;
  result.stopped = *end == End::kStopped;
  return result;
}

}  // namespace expense_ops::worker
