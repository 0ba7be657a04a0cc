// Writes a row of ops.host_samples for this host (worker/host_metrics.hpp): the figures the
// seeded CPU, memory and disk alert rules read. The disk is the filesystem of host-disk-path,
// which should be PostgreSQL's data directory on the database host.
#include <pqxx/pqxx>

#include "worker/host_metrics.hpp"
#include "worker/job.hpp"
#include "worker/log.hpp"

namespace expense_ops::worker {

namespace {

class HostSamplesJob : public Job {
 public:
  explicit HostSamplesJob(const JobContext& context)
      : host_(context.identity.host), disk_path_(context.config.host_disk_path) {
    sample_host(disk_path_, previous_cpu_);  // the first CPU reading, for the first delta
  }

  void run(pqxx::connection& connection) override {
    const HostSample sample = sample_host(disk_path_, previous_cpu_);
    pqxx::work transaction(connection);
    transaction.exec_params(
        "INSERT INTO ops.host_samples (host, at, cpu_percent, memory_percent, load1, load5, "
        "load15, disk_percent, worker_rss_bytes) VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8)",
        host_, sample.cpu_percent, sample.memory_percent,
        sample.load ? std::optional<double>(sample.load->load1) : std::nullopt,
        sample.load ? std::optional<double>(sample.load->load5) : std::nullopt,
        sample.load ? std::optional<double>(sample.load->load15) : std::nullopt,
        sample.disk_percent, sample.worker_rss_bytes);
    transaction.commit();
    log::debug("host_sample", {{"cpu_percent", sample.cpu_percent},
                               {"memory_percent", sample.memory_percent},
                               {"disk_percent", sample.disk_percent}});
  }

 private:
  std::string host_;
  std::string disk_path_;
  std::optional<CpuTimes> previous_cpu_;
};

const JobRegistration kRegistration{{
    "host-samples",
    "ops.host_samples",
    15,
    "seconds between samples of this host's CPU, memory, load, disk and the worker's RSS",
    [](const JobContext& context) { return std::make_unique<HostSamplesJob>(context); },
}};

}  // namespace

}  // namespace expense_ops::worker
