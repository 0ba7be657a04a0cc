// A restored cluster that lives for one restore test: a directory of its own (mode 0700) under
// the scratch directory, a server started there on a free loopback port as the worker's own OS
// user, and everything removed at the end, whatever happened.
//
// The server can never touch the live system: archive_mode is off, there is no primary_conninfo,
// no logical replication worker runs (a restored subscription would take the live one's
// changes), and no logging collector writes into the live log directory, all on its command
// line, which no file in the restored data directory can override. Its socket is in the test's
// own directory, its pg_hba.conf lets only that socket in, and it refuses every TCP connection.
// What postgresql.auto.conf preloads, it preloads: a restore must load what production loads.
#pragma once

#include <atomic>
#include <string>

#include "worker/config.hpp"

namespace expense_ops::worker::backup {

class ScratchCluster {
 public:
  // Removes whatever a previous test of the same name left, and makes the directory.
  ScratchCluster(const BackupConfig& config, const std::atomic<bool>* stop,
                 const std::string& name);
  // Stops the server if it runs, and removes the directory.
  ~ScratchCluster();
  ScratchCluster(const ScratchCluster&) = delete;
  ScratchCluster& operator=(const ScratchCluster&) = delete;

  // Where the backend restores to: an empty directory.
  std::string data_directory() const { return directory_ + "/data"; }

  // Starts the restored server and waits until it accepts connections, at most `timeout`.
  // Throws BackupFailure with the end of the server's log when it does not start.
  void start(Seconds timeout);

  // libpq's connection string for `database` on the restored server, as its superuser.
  std::string connection_string(const std::string& database) const;
  const std::string& socket_directory() const { return directory_; }
  int port() const { return port_; }
  const std::string& user() const { return user_; }

  // The last lines of the restored server's log.
  std::string log_tail() const;

  void stop() noexcept;

  // Removes every scratch directory of restore tests under `scratch_directory`: what a worker
  // killed during a test left, its server killed with it or stopped here.
  static void remove_leftovers(const BackupConfig& config);

 private:
  BackupConfig config_;
  const std::atomic<bool>* stop_;
  std::string directory_;
  std::string user_;
  int port_ = 0;
  bool started_ = false;
};

// A TCP port on 127.0.0.1 that nothing listens on now.
int free_loopback_port();

}  // namespace expense_ops::worker::backup
