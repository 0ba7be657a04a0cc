#include "worker/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "core/version.hpp"

namespace expense_ops::worker::metrics {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Built on first use, after static initialisation, and never destroyed: job threads may record
// while the process exits.
struct Families {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& checks =
      BuildCounter()
          .Name("expense_ops_worker_checks_total")
          .Help("Runs of each check of ops.checks, by outcome (up, down, unknown)")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& check_seconds =
      BuildHistogram()
          .Name("expense_ops_worker_check_duration_seconds")
          .Help("How long each check's runs took")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& notifications =
      BuildCounter()
          .Name("expense_ops_worker_notifications_total")
          .Help(
              "Delivery attempts of the outbox, by channel and outcome (delivered, failed, "
              "dead, given_back)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& outbox_depth =
      BuildGauge()
          .Name("expense_ops_worker_outbox_undelivered")
          .Help("Notifications of ops.notifications pending, being sent or waiting to retry")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& outbox_oldest =
      BuildGauge()
          .Name("expense_ops_worker_outbox_oldest_seconds")
          .Help("Age of the oldest undelivered notification (0 when none)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& leader =
      BuildGauge()
          .Name("expense_ops_worker_leader")
          .Help("1 when this worker leads the job's schedule, 0 when it stands by")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& log_lines =
      BuildCounter()
          .Name("expense_ops_worker_log_lines_total")
          .Help("Lines of the shipped logs, by source and result (shipped, rejected)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& reconnects =
      BuildCounter()
          .Name("expense_ops_worker_database_reconnects_total")
          .Help("Connections a job made again after its first")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& job_runs =
      BuildCounter()
          .Name("expense_ops_worker_job_runs_total")
          .Help("Runs of each job, by result (ok, failed)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& build =
      BuildGauge()
          .Name("expense_ops_worker_build_info")
          .Help("The worker's version, as a label; always 1")
          .Register(*registry);

  Families() { build.Add({{"version", core::kLibraryVersion}}).Set(1); }
};

Families& families() {
  static auto* const instance = new Families();
  return *instance;
}

// Seconds: from a millisecond ping to a check that times out at its 60 s limit.
const prometheus::Histogram::BucketBoundaries kCheckBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

}  // namespace

std::shared_ptr<prometheus::Registry> registry() {
  return families().registry;
}

void check_ran(const std::string& check_id, const std::string& kind, const std::string& outcome,
               double seconds) {
  Families& all = families();
  all.checks.Add({{"check", check_id}, {"kind", kind}, {"outcome", outcome}}).Increment();
  all.check_seconds.Add({{"check", check_id}, {"kind", kind}}, kCheckBuckets).Observe(seconds);
}

void notification(const std::string& channel, const std::string& kind, const std::string& outcome) {
  families()
      .notifications.Add({{"channel", channel}, {"kind", kind}, {"outcome", outcome}})
      .Increment();
}

void outbox(double undelivered, double oldest_seconds) {
  Families& all = families();
  all.outbox_depth.Add({}).Set(undelivered);
  all.outbox_oldest.Add({}).Set(oldest_seconds);
}

void leadership(const std::string& job, bool leading) {
  families().leader.Add({{"job", job}}).Set(leading ? 1 : 0);
}

void log_lines(const std::string& source, double shipped, double rejected) {
  Families& all = families();
  all.log_lines.Add({{"source", source}, {"result", "shipped"}}).Increment(shipped);
  all.log_lines.Add({{"source", source}, {"result", "rejected"}}).Increment(rejected);
}

void reconnected(const std::string& job) {
  families().reconnects.Add({{"job", job}}).Increment();
}

void job_ran(const std::string& job, bool succeeded) {
  families().job_runs.Add({{"job", job}, {"result", succeeded ? "ok" : "failed"}}).Increment();
}

}  // namespace expense_ops::worker::metrics
