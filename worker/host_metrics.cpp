#include "worker/host_metrics.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <sstream>
#include <vector>

#include "worker/text.hpp"

namespace expense_ops::worker {

std::optional<CpuTimes> parse_proc_stat(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string label;
    fields >> label;
    if (label != "cpu") {
      continue;
    }
    // user nice system idle iowait irq softirq steal (guest and guest_nice are inside user/nice)
    std::vector<std::uint64_t> ticks;
    std::uint64_t value = 0;
    while (ticks.size() < 8 && fields >> value) {
      ticks.push_back(value);
    }
    if (ticks.size() < 4) {
      return std::nullopt;
    }
    CpuTimes times;
    for (std::size_t i = 0; i < ticks.size(); ++i) {
      times.total += ticks[i];
      const bool idle = i == 3 || i == 4;  // idle and iowait
      if (!idle) {
        times.busy += ticks[i];
      }
    }
    return times;
  }
  return std::nullopt;
}

std::optional<double> cpu_percent(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total || after.busy < before.busy) {
    return std::nullopt;
  }
  const double total = static_cast<double>(after.total - before.total);
  const double busy = static_cast<double>(after.busy - before.busy);
  return std::min(100.0, 100.0 * busy / total);
}

std::optional<double> memory_percent(const std::string& meminfo) {
  std::istringstream lines(meminfo);
  std::string line;
  std::optional<double> total;
  std::optional<double> available;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string label;
    double kilobytes = 0;
    if (!(fields >> label >> kilobytes)) {
      continue;
    }
    if (label == "MemTotal:") {
      total = kilobytes;
    } else if (label == "MemAvailable:") {
      available = kilobytes;
    }
  }
  if (!total || !available || *total <= 0 || *available < 0 || *available > *total) {
    return std::nullopt;
  }
  return 100.0 * (1.0 - *available / *total);
}

std::optional<LoadAverages> parse_loadavg(const std::string& text) {
  std::istringstream fields(text);
  LoadAverages load;
  if (!(fields >> load.load1 >> load.load5 >> load.load15) || load.load1 < 0 || load.load5 < 0 ||
      load.load15 < 0) {
    return std::nullopt;
  }
  return load;
}

std::optional<std::int64_t> rss_bytes(const std::string& statm, long page_size) {
  std::istringstream fields(statm);
  std::int64_t size = 0;
  std::int64_t resident = 0;
  if (!(fields >> size >> resident) || resident < 0 || page_size <= 0) {
    return std::nullopt;
  }
  return resident * page_size;
}

HostSample sample_host(const std::string& disk_path, std::optional<CpuTimes>& previous_cpu) {
  HostSample sample;
  if (const auto stat = read_file("/proc/stat")) {
    const auto now = parse_proc_stat(*stat);
    if (now && previous_cpu) {
      sample.cpu_percent = cpu_percent(*previous_cpu, *now);
    }
    if (now) {
      previous_cpu = now;
    }
  }
  if (const auto meminfo = read_file("/proc/meminfo")) {
    sample.memory_percent = memory_percent(*meminfo);
  }
  if (const auto loadavg = read_file("/proc/loadavg")) {
    sample.load = parse_loadavg(*loadavg);
  }
  struct statvfs disk {};
  if (statvfs(disk_path.c_str(), &disk) == 0 && disk.f_blocks > 0) {
    // As df counts it: used against what is usable by unprivileged users (used + available).
    const double used = static_cast<double>(disk.f_blocks - disk.f_bfree);
    const double usable = used + static_cast<double>(disk.f_bavail);
    if (usable > 0) {
      sample.disk_percent = std::min(100.0, 100.0 * used / usable);
    }
  }
  if (const auto statm = read_file("/proc/self/statm")) {
    sample.worker_rss_bytes = rss_bytes(*statm, sysconf(_SC_PAGESIZE));
  }
  return sample;
}

}  // namespace expense_ops::worker
