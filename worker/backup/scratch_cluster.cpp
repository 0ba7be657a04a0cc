#include "worker/backup/scratch_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "worker/backup/backend.hpp"
#include "worker/subprocess.hpp"
#include "worker/text.hpp"

namespace expense_ops::worker::backup {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "restore-";
constexpr Seconds kStopTimeout{60};

std::string os_user_name() {
  if (const passwd* account = getpwuid(geteuid())) {
    return account->pw_name;
  }
  throw BackupFailure("the worker's OS user has no name");
}

// pg_ctl hands its -o string to a shell: every path in it is quoted, and may hold no quote.
std::string shell_quoted(const std::string& text) {
  if (text.find('\'') != std::string::npos) {
    throw BackupFailure("the scratch directory's path holds a quote: " + text);
  }
  return "'" + text + "'";
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    throw BackupFailure("cannot write " + path.string());
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

SubprocessResult pg_ctl(const BackupConfig& config, const std::atomic<bool>* stop,
                        std::vector<std::string> arguments, Seconds timeout) {
  SubprocessSpec spec;
  spec.argv.push_back((fs::path(config.postgres_bin) / "pg_ctl").string());
  spec.argv.insert(spec.argv.end(), arguments.begin(), arguments.end());
  spec.environment = minimal_tool_environment();
  spec.timeout = timeout + Seconds(5);
  spec.stop = stop;
  return run_subprocess(spec);
}

void stop_server(const BackupConfig& config, const fs::path& data) {
  std::error_code error;
  if (fs::exists(data / "postmaster.pid", error)) {
    pg_ctl(config, nullptr, {"stop", "-D", data.string(), "-m", "immediate", "-w", "-t", "60"},
           kStopTimeout);
  }
}

}  // namespace

int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw BackupFailure("no socket to find a free port with");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool found = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!found) {
    throw BackupFailure("no free loopback port");
  }
  return ntohs(address.sin_port);
}

ScratchCluster::ScratchCluster(const BackupConfig& config, const std::atomic<bool>* stop,
                               const std::string& name)
    : config_(config),
      stop_(stop),
      directory_((fs::path(config.scratch_directory) / (kPrefix + name)).string()),
      user_(config.restore_test_user.empty() ? os_user_name() : config.restore_test_user) {
  std::error_code error;
  stop_server(config_, data_directory());
  fs::remove_all(directory_, error);
  fs::create_directories(directory_, error);
  if (error) {
    throw BackupFailure("cannot create the scratch directory " + directory_ + ": " +
                        error.message());
  }
  fs::permissions(directory_, fs::perms::owner_all, error);
  // The socket's path must fit in sun_path (107 bytes) with ".s.PGSQL.<port>".
  if (directory_.size() > 80) {
    throw BackupFailure("the scratch directory's path is too long for a socket: " + directory_);
  }
}

ScratchCluster::~ScratchCluster() {
  stop();
  std::error_code error;
  fs::remove_all(directory_, error);
}

void ScratchCluster::start(Seconds timeout) {
  port_ = free_loopback_port();
  const fs::path directory(directory_);
  write_file(directory / "pg_hba.conf",
             "# A restore test's server: its own OS user, on its own socket, and nobody else.\n"
             "local all all trust\n");
  write_file(directory / "pg_ident.conf", "");
  write_file(
      directory / "restore.conf",
      "# Written by expense-ops-worker for a restore test (the settings that keep it away\n"
      "# from the live system are on the command line, where nothing can override them).\n"
      "# No hot standby: the server opens once recovery has ended and it was promoted, and a\n"
      "# primary's larger max_connections does not hold up a recovery here.\n"
      "hot_standby = off\n"
      "shared_preload_libraries = ''\n"
      "logging_collector = off\n"
      "log_destination = 'stderr'\n"
      "recovery_target_action = 'promote'\n"
      "cluster_name = 'expense_ops_restore_test'\n");
  std::ostringstream options;
  options << "-c config_file=" << shell_quoted((directory / "restore.conf").string())
          << " -c hba_file=" << shell_quoted((directory / "pg_hba.conf").string())
          << " -c ident_file=" << shell_quoted((directory / "pg_ident.conf").string())
          << " -c port=" << port_ << " -c listen_addresses=127.0.0.1"
          << " -c unix_socket_directories=" << shell_quoted(directory_)
          << " -c archive_mode=off -c archive_command='' -c primary_conninfo=''"
          << " -c primary_slot_name='' -c max_logical_replication_workers=0"
          << " -c logging_collector=off";
  const auto seconds = std::to_string(std::max(1L, static_cast<long>(timeout.count())));
  started_ = true;  // from here on, stop() tries: pg_ctl may have started it and then given up
  const SubprocessResult result =
      pg_ctl(config_, stop_,
             {"start", "-D", data_directory(), "-w", "-t", seconds, "-l",
              (directory / "server.log").string(), "-o", options.str()},
             timeout);
  if (!result.succeeded()) {
    throw BackupFailure("the restored server did not start" +
                        std::string(result.timed_out ? " in time" : "") + ": " + log_tail());
  }
}

std::string ScratchCluster::connection_string(const std::string& database) const {
  return "host='" + directory_ + "' port=" + std::to_string(port_) + " user='" + user_ +
         "' dbname='" + database + "' connect_timeout=10 application_name=expense_ops_restore_test";
}

std::string ScratchCluster::log_tail() const {
  const std::string tail =
      last_lines(read_file((fs::path(directory_) / "server.log").string()).value_or(""), 6);
  return tail.empty() ? "(the server wrote no log)" : one_line_excerpt(tail, 1500);
}

void ScratchCluster::stop() noexcept {
  if (!started_) {
    return;
  }
  started_ = false;
  try {
    stop_server(config_, data_directory());
  } catch (...) {
    // The directory goes anyway; a server left without it stops when it finds its files gone.
  }
}

void ScratchCluster::remove_leftovers(const BackupConfig& config) {
  std::error_code error;
  for (fs::directory_iterator entry(config.scratch_directory, error), end; !error && entry != end;
       entry.increment(error)) {
    if (entry->path().filename().string().rfind(kPrefix, 0) == 0) {
      try {
        stop_server(config, entry->path() / "data");
      } catch (...) {
      }
      std::error_code removal;
      fs::remove_all(entry->path(), removal);
    }
  }
}

}  // namespace expense_ops::worker::backup
