#include "worker/backup/backend.hpp"

#include <libpq-fe.h>

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

std::string tool_message(const std::string& tool, const std::string& output, int exit_code) {
  // The last few lines: where PostgreSQL's tools and pgBackRest say what went wrong.
  std::vector<std::string> lines;
  std::istringstream text(output);
  for (std::string line; std::getline(text, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      lines.push_back(line);
    }
  }
  std::string said;
  const std::size_t first = lines.size() > 4 ? lines.size() - 4 : 0;
  for (std::size_t i = first; i < lines.size(); ++i) {
    said += (said.empty() ? "" : " | ") + lines[i];
  }
  std::string message = tool + " exited with " + std::to_string(exit_code);
  if (!said.empty()) {
    message += ": " + said;
  }
  return one_line_excerpt(message, 1500);
}

std::unique_ptr<Backend> make_backend(const WorkerConfig& config, const std::atomic<bool>* stop) {
  if (config.backup.backend == "pgbackrest") {
    return std::make_unique<PgBackRestBackend>(config.backup, stop);
  }
  return std::make_unique<BaseBackupBackend>(config.backup, stop);
}

}  // namespace expense_ops::worker::backup
