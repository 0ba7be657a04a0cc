// What the worker measures on its host (issue 11, section 3): CPU from /proc/stat deltas, memory
// from /proc/meminfo (MemAvailable), the load averages, the disk use of the data directory's
// filesystem (statvfs) and the worker's own RSS. The parsing takes the files' text, so tests need
// no /proc of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace expense_ops::worker {

// The aggregate "cpu" line of /proc/stat, in clock ticks.
struct CpuTimes {
  std::uint64_t busy = 0;
  std::uint64_t total = 0;
};

std::optional<CpuTimes> parse_proc_stat(const std::string& text);

// The share of the time between two readings that the CPUs were busy, 0-100; nullopt when no
// tick passed (or the counters went back, as after a CPU went offline).
std::optional<double> cpu_percent(const CpuTimes& before, const CpuTimes& after);

// 100 * (1 - MemAvailable / MemTotal), from /proc/meminfo.
std::optional<double> memory_percent(const std::string& meminfo);

struct LoadAverages {
  double load1 = 0;
  double load5 = 0;
  double load15 = 0;
};

std::optional<LoadAverages> parse_loadavg(const std::string& text);

// The resident set of a process from /proc/<pid>/statm (in pages) and the page size.
std::optional<std::int64_t> rss_bytes(const std::string& statm, long page_size);

// What one sample reads from this host: every field nullopt that could not be read.
struct HostSample {
  std::optional<double> cpu_percent;
  std::optional<double> memory_percent;
  std::optional<LoadAverages> load;
  std::optional<double> disk_percent;
  std::optional<std::int64_t> worker_rss_bytes;
};

// Reads the host. `previous_cpu` holds the last /proc/stat reading and is updated: the first
// sample has no CPU figure.
HostSample sample_host(const std::string& disk_path, std::optional<CpuTimes>& previous_cpu);

}  // namespace expense_ops::worker
