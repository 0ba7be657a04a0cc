#include "worker/backup/backend.hpp"

#include <libpq-fe.h>
#include <sys/wait.h>

#include <cstdlib>
#include <memory>
#include <sstream>

#include "worker/backup/basebackup.hpp"
#include "worker/backup/pgbackrest.hpp"
#include "worker/subprocess.hpp"
#include "worker/text.hpp"

namespace expense_ops::worker::backup {

std::vector<std::string> tool_environment(const std::string& dsn) {
  std::vector<std::string> environment = minimal_tool_environment();
  if (const char* home = std::getenv("HOME")) {
    environment.push_back(std::string("HOME=") + home);
  }
  if (dsn.empty()) {
    return environment;
  }
  char* error = nullptr;
  const std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(dsn.c_str(), &error), &PQconninfoFree);
  if (options == nullptr) {
    PQfreemem(error);
    return environment;  // the configuration checked it: only an out-of-memory lands here
  }
  for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    if (option->val != nullptr && option->envvar != nullptr) {
      environment.push_back(std::string(option->envvar) + "=" + option->val);
    }
  }
  return environment;
}

std::string last_lines(const std::string& text, std::size_t count) {
  std::vector<std::string> lines;
  std::istringstream reader(text);
  for (std::string line; std::getline(reader, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      lines.push_back(line);
    }
  }
  std::string joined;
  for (std::size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
    joined += (joined.empty() ? "" : " | ") + lines[i];
  }
  return joined;
}

std::string tool_message(const std::string& tool, const std::string& output, int exit_code) {
  const std::string said = last_lines(output, 4);
  std::string message = tool + " exited with " + std::to_string(exit_code);
  if (!said.empty()) {
    message += ": " + said;
  }
  return one_line_excerpt(message, 1500);
}

std::string output_of_success(const std::string& tool, const SubprocessResult& result,
                              Seconds timeout, const std::string& limit) {
  if (!result.started) {
    throw BackupFailure(tool + " cannot be started: " + result.error);
  }
  if (result.timed_out) {
    throw BackupFailure(tool + " was killed after " + limit + " of " +
                        std::to_string(static_cast<long>(timeout.count())) + " s");
  }
  if (result.stopped) {
    throw BackupFailure(tool + " was stopped: the worker is stopping");
  }
  if (!result.error.empty()) {
    throw BackupFailure(tool + ": " + result.error);  // started, and then lost track of
  }
  if (!result.exit_code()) {
    throw BackupFailure(
        tool + " was killed by signal " +
        std::to_string(WIFSIGNALED(result.wait_status) ? WTERMSIG(result.wait_status) : 0) +
        (result.output.empty() ? "" : ": " + tool_message(tool, result.output, -1)));
  }
  if (*result.exit_code() != 0) {
    throw BackupFailure(tool_message(tool, result.output, *result.exit_code()));
  }
  return result.output;
}

std::unique_ptr<Backend> make_backend(const WorkerConfig& config, const std::atomic<bool>* stop) {
  if (config.backup.backend == "pgbackrest") {
    return std::make_unique<PgBackRestBackend>(config.backup, stop);
  }
  return std::make_unique<BaseBackupBackend>(config.backup, stop);
}

}  // namespace expense_ops::worker::backup
