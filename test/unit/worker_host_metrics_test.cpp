#include "worker/host_metrics.hpp"

#include <gtest/gtest.h>

using namespace expense_ops::worker;

TEST(HostMetrics, CpuIsBusyTicksOverAllTicksBetweenTwoReadings) {
  // user nice system idle iowait irq softirq steal guest guest_nice
  const auto before = parse_proc_stat(
      "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 12345\n");
  const auto after = parse_proc_stat("cpu  160 0 70 900 70 0 0 0 0 0\n");
  ASSERT_TRUE(before && after);
  EXPECT_EQ(before->busy, 150u);
  EXPECT_EQ(before->total, 1000u);
  // 80 busy ticks of 200: 40 %.
  EXPECT_DOUBLE_EQ(*cpu_percent(*before, *after), 40.0);
  EXPECT_EQ(cpu_percent(*after, *after), std::nullopt) << "no tick passed";
  EXPECT_EQ(cpu_percent(*after, *before), std::nullopt) << "counters that went back";
  // An old kernel's four columns.
  EXPECT_EQ(parse_proc_stat("cpu 1 2 3 4\n")->total, 10u);
  EXPECT_EQ(parse_proc_stat("intr 1\n"), std::nullopt);
  EXPECT_EQ(parse_proc_stat("cpu x y\n"), std::nullopt);
  EXPECT_EQ(parse_proc_stat(""), std::nullopt);
}

TEST(HostMetrics, MemoryIsWhatIsNotAvailable) {
  EXPECT_DOUBLE_EQ(*memory_percent("MemTotal:       16000000 kB\nMemFree:         1000000 kB\n"
                                   "MemAvailable:    4000000 kB\n"),
                   75.0);
  EXPECT_EQ(memory_percent("MemTotal: 100 kB\n"), std::nullopt) << "no MemAvailable";
  EXPECT_EQ(memory_percent("MemTotal: 0 kB\nMemAvailable: 0 kB\n"), std::nullopt);
  EXPECT_EQ(memory_percent("MemTotal: 10 kB\nMemAvailable: 20 kB\n"), std::nullopt);
}

TEST(HostMetrics, LoadAndRss) {
  const auto load = parse_loadavg("0.52 0.58 0.59 1/267 12345\n");
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->load1, 0.52);
  EXPECT_DOUBLE_EQ(load->load15, 0.59);
  EXPECT_EQ(parse_loadavg("garbage"), std::nullopt);
  EXPECT_EQ(parse_loadavg("-1 0 0"), std::nullopt);
  EXPECT_EQ(rss_bytes("5000 1200 300 10 0 900 0\n", 4096), 1200 * 4096);
  EXPECT_EQ(rss_bytes("", 4096), std::nullopt);
  EXPECT_EQ(rss_bytes("1 2", 0), std::nullopt);
}

TEST(HostMetrics, ThisHostCanBeSampled) {
  std::optional<CpuTimes> previous;
  const HostSample first = sample_host("/", previous);
  EXPECT_EQ(first.cpu_percent, std::nullopt) << "no delta yet";
  ASSERT_TRUE(previous);
  const HostSample second = sample_host("/", previous);
  ASSERT_TRUE(second.memory_percent);
  EXPECT_GT(*second.memory_percent, 0);
  EXPECT_LE(*second.memory_percent, 100);
  ASSERT_TRUE(second.disk_percent);
  EXPECT_GE(*second.disk_percent, 0);
  EXPECT_LE(*second.disk_percent, 100);
  ASSERT_TRUE(second.worker_rss_bytes);
  EXPECT_GT(*second.worker_rss_bytes, 1 << 20);
  ASSERT_TRUE(second.load);
  EXPECT_EQ(sample_host("/no/such/path", previous).disk_percent, std::nullopt);
}
