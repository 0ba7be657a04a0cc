// Running a program (worker/subprocess.hpp), with real ones: /bin/sh, cat, sleep, env, ls; and
// the command channel (worker/notifier.cpp), which runs its commands that way.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "worker/notifier.hpp"
#include "worker/subprocess.hpp"

using namespace expense_ops::worker;
using namespace std::chrono_literals;
using Kind = DeliveryOutcome::Kind;

namespace {

SubprocessSpec spec_of(std::vector<std::string> argv) {
  SubprocessSpec spec;
  spec.argv = std::move(argv);
  spec.environment = minimal_tool_environment();
  spec.timeout = 20s;
  return spec;
}

SubprocessSpec shell(const std::string& script) {
  return spec_of({"/bin/sh", "-c", script});
}

// Killed, at least: the leftover's parent was killed too, so it is reaped by whoever adopted it,
// which in a container may be no one (it stays a zombie).
bool is_gone(pid_t pid) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) {
      return true;
    }
    const auto after_name = line.rfind(')');
    if (after_name != std::string::npos && line.compare(after_name, 3, ") Z") == 0) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

pid_t leftover_pid(const SubprocessResult& result) {
  return static_cast<pid_t>(std::atoi(result.output.c_str()));
}

// A delivery over the command channel "pager" that runs `command`.
DeliveryOutcome deliver_to(std::vector<std::string> command, Seconds timeout = Seconds(10),
                           const std::atomic<bool>* stop = nullptr) {
  init_notifier();
  DeliverySettings settings;
  settings.commands["pager"] = std::move(command);
  settings.timeout = timeout;
  Notification notification;
  notification.id = 42;
  notification.channel = "oncall";
  notification.kind = "command";
  notification.target = "pager";
  notification.idempotency_key = "key-1";
  notification.payload = R"({"alert":"HighCpu"})";
  notification.attempts = 2;
  Notifier notifier(stop);
  return notifier.deliver(notification, settings);
}

}  // namespace

TEST(Subprocess, ExitCodes) {
  const SubprocessResult zero = run_subprocess(shell("exit 0"));
  EXPECT_TRUE(zero.started);
  EXPECT_EQ(zero.error, "");
  EXPECT_TRUE(zero.exited);
  EXPECT_FALSE(zero.timed_out);
  EXPECT_FALSE(zero.stopped);
  EXPECT_EQ(zero.exit_code(), 0);
  EXPECT_TRUE(zero.succeeded());

  const SubprocessResult three = run_subprocess(shell("exit 3"));
  EXPECT_TRUE(three.exited);
  EXPECT_EQ(three.exit_code(), 3);
  EXPECT_FALSE(three.succeeded());
  EXPECT_TRUE(WIFEXITED(three.wait_status));
}

TEST(Subprocess, ASignalIsNoExitCode) {
  const SubprocessResult killed = run_subprocess(shell("kill -KILL $$"));
  EXPECT_TRUE(killed.exited);
  EXPECT_TRUE(WIFSIGNALED(killed.wait_status));
  EXPECT_EQ(killed.exit_code(), std::nullopt);
  EXPECT_FALSE(killed.succeeded());
}

TEST(Subprocess, StdoutAndStderrAreKeptInTheirOrder) {
  const SubprocessResult result = run_subprocess(shell("echo out; echo err >&2; echo out"));
  EXPECT_EQ(result.output, "out\nerr\nout\n");
}

TEST(Subprocess, TheLastWordsAreKept) {
  // More than the pipe holds, so that the exit is likely seen with output still in the pipe:
  // that is read after.
  std::string words;
  for (int line = 0; line < 50'000; ++line) {
    words += "y\n";
  }
  words += "last words\n";
  for (int run = 0; run < 10; ++run) {
    SubprocessSpec spec = shell("yes | head -c 100000; echo last words >&2; exit 3");
    spec.kept_output_bytes = 1'000'000;
    const SubprocessResult result = run_subprocess(spec);
    EXPECT_TRUE(result.output == words) << "run " << run << ": " << result.output.size();
    EXPECT_EQ(result.exit_code(), 3);
  }
}

TEST(Subprocess, OutputBeyondTheKeptBytesIsReadAndDropped) {
  // 5 MB through a 64 KiB pipe: a program whose output were not read would block, and time out.
  SubprocessSpec spec = shell("yes | head -c 5000000; echo done >&2");
  spec.kept_output_bytes = 8192;
  const SubprocessResult result = run_subprocess(spec);
  EXPECT_TRUE(result.succeeded());
  EXPECT_FALSE(result.timed_out);
  ASSERT_EQ(result.output.size(), 8192U);
  EXPECT_EQ(result.output.substr(0, 6), "y\ny\ny\n");
  EXPECT_LT(result.elapsed, 15s);
}

TEST(Subprocess, NoOutputIsKeptWhenNoneIsWanted) {
  SubprocessSpec spec = shell("echo something");
  spec.kept_output_bytes = 0;
  const SubprocessResult result = run_subprocess(spec);
  EXPECT_TRUE(result.succeeded());
  EXPECT_EQ(result.output, "");
}

TEST(Subprocess, InputReachesStdin) {
  SubprocessSpec spec = spec_of({"/bin/cat"});
  spec.input = "hello\nworld\n";
  const SubprocessResult result = run_subprocess(spec);
  EXPECT_TRUE(result.succeeded());
  EXPECT_EQ(result.output, "hello\nworld\n");

  // Without input, stdin is closed at once: cat sees its end instead of waiting for the timeout.
  SubprocessSpec nothing = spec_of({"/bin/cat"});
  nothing.timeout = 5s;
  const SubprocessResult empty = run_subprocess(nothing);
  EXPECT_TRUE(empty.succeeded());
  EXPECT_EQ(empty.output, "");
}

TEST(Subprocess, LargeInputAndOutputFlowTogether) {
  // Far more than both pipes hold: written and read at once, or neither side gets anywhere.
  SubprocessSpec spec = spec_of({"/bin/cat"});
  for (int line = 0; spec.input.size() < 2'000'000; ++line) {
    spec.input += "line " + std::to_string(line) + "\n";
  }
  spec.kept_output_bytes = spec.input.size();
  const SubprocessResult result = run_subprocess(spec);
  EXPECT_TRUE(result.succeeded());
  EXPECT_TRUE(result.output == spec.input) << result.output.size() << " of " << spec.input.size();
}

TEST(Subprocess, AProgramThatClosesItsStdinUnreadIsNoTrouble) {
  // Writing to it fails with EPIPE, and raises a SIGPIPE that this test process does not ignore.
  SubprocessSpec spec = shell("exec 0<&-; sleep 0.3; echo fine");
  spec.input.assign(1'000'000, 'x');
  const SubprocessResult result = run_subprocess(spec);
  EXPECT_TRUE(result.succeeded());
  EXPECT_EQ(result.output, "fine\n");
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
}

TEST(Subprocess, TheTimeoutKillsTheProgram) {
  SubprocessSpec spec = spec_of({"/bin/sleep", "30"});
  spec.timeout = 300ms;
  const SubprocessResult result = run_subprocess(spec);
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.timed_out);
  EXPECT_FALSE(result.exited);
  EXPECT_FALSE(result.stopped);
  EXPECT_FALSE(result.succeeded());
  EXPECT_EQ(result.exit_code(), std::nullopt);
  EXPECT_TRUE(WIFSIGNALED(result.wait_status) && WTERMSIG(result.wait_status) == SIGKILL);
  EXPECT_GE(result.elapsed, 300ms);
  EXPECT_LT(result.elapsed, 5s);
}

TEST(Subprocess, TheTimeoutKillsWhatTheProgramStarted) {
  SubprocessSpec spec = shell("sleep 30 & echo $!; wait");
  spec.timeout = 500ms;
  const SubprocessResult result = run_subprocess(spec);
  EXPECT_TRUE(result.timed_out);
  EXPECT_LT(result.elapsed, 5s);
  const pid_t leftover = leftover_pid(result);
  ASSERT_GT(leftover, 0) << result.output;
  EXPECT_TRUE(is_gone(leftover));
}

TEST(Subprocess, TheExitIsSeenWhileALeftoverHoldsTheOutput) {
  // The background sleep holds the pipe open for 30 s; the shell exits at once.
  const SubprocessResult result = run_subprocess(shell("sleep 30 & echo $!"));
  EXPECT_TRUE(result.exited);
  EXPECT_TRUE(result.succeeded());
  EXPECT_LT(result.elapsed, 5s);
  // And what it left is killed with the group.
  const pid_t leftover = leftover_pid(result);
  ASSERT_GT(leftover, 0) << result.output;
  EXPECT_TRUE(is_gone(leftover));
}

TEST(Subprocess, AQuietRunDoesNotSpin) {
  const auto cpu_time = [] {
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    return std::chrono::seconds(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           std::chrono::microseconds(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  };
  // Waiting on its pipes, its stdin unread; then, its output closed, for its exit alone.
  for (const bool with_input : {true, false}) {
    SubprocessSpec spec = shell(with_input ? "sleep 1" : "exec >&- 2>&-; sleep 1");
    if (with_input) {
      spec.input.assign(1'000'000, 'x');
    }
    const auto before = cpu_time();
    const SubprocessResult result = run_subprocess(spec);
    const auto used = cpu_time() - before;
    EXPECT_TRUE(result.succeeded()) << with_input;
    EXPECT_LT(used, 100ms) << with_input;
  }
}

TEST(Subprocess, TheStopFlagEndsTheRun) {
  std::atomic<bool> stop{false};
  SubprocessSpec spec = spec_of({"/bin/sleep", "30"});
  spec.stop = &stop;
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(200ms);
    stop = true;
  });
  const SubprocessResult result = run_subprocess(spec);
  stopper.join();
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.stopped);
  EXPECT_FALSE(result.timed_out);
  EXPECT_FALSE(result.exited);
  EXPECT_FALSE(result.succeeded());
  EXPECT_GE(result.elapsed, 200ms);
  EXPECT_LT(result.elapsed, 5s);
}

TEST(Subprocess, AProgramThatCannotStart) {
  const SubprocessResult missing = run_subprocess(spec_of({"/nonexistent/program"}));
  EXPECT_FALSE(missing.started);
  EXPECT_EQ(missing.error, std::strerror(ENOENT));

  // No PATH search, and nothing relative to a working directory.
  const SubprocessResult relative = run_subprocess(spec_of({"sh", "-c", "exit 0"}));
  EXPECT_FALSE(relative.started);
  EXPECT_EQ(relative.error, "the program is not given by its absolute path");

  const SubprocessResult nothing = run_subprocess(spec_of({}));
  EXPECT_FALSE(nothing.started);

  SubprocessSpec nowhere = spec_of({"/bin/pwd"});
  nowhere.working_directory = "/nonexistent/directory";
  const SubprocessResult in_nowhere = run_subprocess(nowhere);
  EXPECT_FALSE(in_nowhere.started);
  EXPECT_EQ(in_nowhere.error, std::strerror(ENOENT));
}

TEST(Subprocess, TheEnvironmentIsExactlyTheGivenOne) {
  ASSERT_EQ(setenv("EXPENSE_OPS_SUBPROCESS_TEST", "inherited", 1), 0);
  SubprocessSpec spec = spec_of({"/usr/bin/env"});
  spec.environment.emplace_back("PGHOST=/run/postgresql");
  spec.environment.emplace_back("WITH_SPACES=two words");
  const SubprocessResult result = run_subprocess(spec);
  unsetenv("EXPENSE_OPS_SUBPROCESS_TEST");
  EXPECT_TRUE(result.succeeded());
  EXPECT_EQ(result.output,
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C.UTF-8\nPGHOST=/run/postgresql\n"
            "WITH_SPACES=two words\n");

  SubprocessSpec none = spec_of({"/usr/bin/env"});
  none.environment.clear();
  EXPECT_EQ(run_subprocess(none).output, "");
}

TEST(Subprocess, TheWorkingDirectory) {
  char made[] = "/tmp/subprocess-test-XXXXXX";
  ASSERT_NE(mkdtemp(made), nullptr);
  char* resolved = realpath(made, nullptr);
  ASSERT_NE(resolved, nullptr);
  const std::string directory = resolved;
  std::free(resolved);
  SubprocessSpec spec = spec_of({"/bin/pwd"});
  spec.working_directory = made;
  const SubprocessResult there = run_subprocess(spec);
  rmdir(made);
  EXPECT_TRUE(there.succeeded());
  EXPECT_EQ(there.output, directory + "\n");

  // Empty: the worker's own.
  char* own = getcwd(nullptr, 0);
  ASSERT_NE(own, nullptr);
  const std::string own_directory = own;
  std::free(own);
  EXPECT_EQ(run_subprocess(spec_of({"/bin/pwd"})).output, own_directory + "\n");
}

TEST(Subprocess, NoFileDescriptorOfTheWorkerIsInherited) {
  // What libcurl's sockets are: open without close-on-exec.
  const int opened = open("/dev/null", O_RDONLY);
  ASSERT_GE(opened, 0);
  const int worker_fd = fcntl(opened, F_DUPFD, 100);
  close(opened);
  ASSERT_GE(worker_fd, 100);
  ASSERT_EQ(fcntl(worker_fd, F_GETFD) & FD_CLOEXEC, 0);
  const SubprocessResult result = run_subprocess(spec_of({"/bin/ls", "/proc/self/fd"}));
  close(worker_fd);
  ASSERT_TRUE(result.succeeded()) << result.output;
  std::set<int> inherited;
  std::istringstream listing(result.output);
  for (int fd = 0; listing >> fd;) {
    inherited.insert(fd);
  }
  EXPECT_EQ(inherited.count(worker_fd), 0U) << result.output;
  // stdin, stdout and stderr, and ls's own reading of the directory: the lowest free one.
  EXPECT_TRUE(inherited.count(0) == 1 && inherited.count(1) == 1 && inherited.count(2) == 1)
      << result.output;
  EXPECT_LE(*inherited.rbegin(), 3) << result.output;
}

TEST(Subprocess, SignalsAreLeftAsTheProgramExpects) {
  // What the worker does: signals blocked (SIGTERM waits for the main thread) and ignored.
  sigset_t blocked;
  sigset_t previous_mask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &blocked, &previous_mask), 0);
  const auto previous_handler = std::signal(SIGUSR2, SIG_IGN);
  const SubprocessResult result =
      run_subprocess(spec_of({"/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"}));
  std::signal(SIGUSR2, previous_handler);
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  ASSERT_TRUE(result.succeeded()) << result.output;
  std::istringstream lines(result.output);
  std::string name;
  std::string blocked_mask;
  std::string ignored_mask;
  lines >> name >> blocked_mask >> name >> ignored_mask;
  EXPECT_EQ(std::stoull(blocked_mask, nullptr, 16), 0U) << result.output;
  // glibc's posix_spawn leaves its own two, 32 and 33, ignored; 1 to 31 are the program's.
  EXPECT_EQ(std::stoull(ignored_mask, nullptr, 16) & 0x7fffffffU, 0U) << result.output;
}

TEST(Subprocess, TheProgramLeadsAProcessGroupOfItsOwn) {
  const SubprocessResult result = run_subprocess(spec_of({"/bin/cat", "/proc/self/stat"}));
  ASSERT_TRUE(result.succeeded());
  // pid (comm) state ppid pgrp ...
  std::istringstream fields(result.output.substr(result.output.rfind(')') + 2));
  std::string state;
  pid_t parent = 0;
  pid_t group = 0;
  fields >> state >> parent >> group;
  EXPECT_EQ(group, std::atoi(result.output.c_str()));
  EXPECT_EQ(parent, getpid());
}

TEST(Subprocess, MinimalToolEnvironment) {
  EXPECT_EQ(minimal_tool_environment(),
            (std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}));
}

TEST(CommandChannel, TheCommandGetsThePayloadAndTheNotificationsEnvironment) {
  const DeliveryOutcome outcome = deliver_to(
      {"/bin/sh", "-c",
       R"sh(test "$(cat)" = '{"alert":"HighCpu"}' && test "$EXPENSE_OPS_CHANNEL" = oncall &&
          test "$EXPENSE_OPS_NOTIFICATION_ID" = 42 && test "$EXPENSE_OPS_ATTEMPT" = 2 &&
          test "$EXPENSE_OPS_IDEMPOTENCY_KEY" = key-1 && test "$LANG" = C.UTF-8 &&
          test "$PATH" = /usr/local/bin:/usr/bin:/bin && test "$(env | wc -l)" -le 8)sh"});
  EXPECT_EQ(outcome.kind, Kind::kDelivered) << outcome.error;
}

TEST(CommandChannel, ExitStatuses) {
  const DeliveryOutcome busy =
      deliver_to({"/bin/sh", "-c", "cat >/dev/null; echo pager busy; exit 1"});
  EXPECT_EQ(busy.kind, Kind::kRetry);
  EXPECT_EQ(busy.error, "the command exited with 1: pager busy");
  EXPECT_EQ(deliver_to({"/bin/sh", "-c", "exit 65"}).kind, Kind::kGiveUp);  // EX_DATAERR
  const DeliveryOutcome killed = deliver_to({"/bin/sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(killed.kind, Kind::kRetry);
  EXPECT_EQ(killed.error, "the command was killed by signal 9");
}

TEST(CommandChannel, TimeoutAndStopGiveTheNotificationBack) {
  const DeliveryOutcome late = deliver_to({"/bin/sleep", "30"}, Seconds(0.3));
  EXPECT_EQ(late.kind, Kind::kRetry);
  EXPECT_EQ(late.error, "the command ran out of time and was killed");
  const std::atomic<bool> stop{true};
  const DeliveryOutcome stopped = deliver_to({"/bin/sleep", "30"}, Seconds(10), &stop);
  EXPECT_EQ(stopped.kind, Kind::kRetry);
  EXPECT_EQ(stopped.error, "the command ran out of time and was killed");
}

TEST(CommandChannel, ACommandThatCannotStartIsRetried) {
  const DeliveryOutcome missing = deliver_to({"/nonexistent/pager"});
  EXPECT_EQ(missing.kind, Kind::kRetry);
  EXPECT_EQ(missing.error,
            std::string("the command pager cannot be started: ") + std::strerror(ENOENT));
}
