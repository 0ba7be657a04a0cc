// The worker's Prometheus metrics (issue 11, section 7), served at /metrics by
// worker/status_server.hpp. One registry for the process; the jobs record into it through these
// functions, which prometheus-cpp makes safe from any thread. Label values are names the
// operator chose (checks, channels, jobs, log sources), never a target, a URL or a secret.
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace expense_ops::worker::metrics {

std::shared_ptr<prometheus::Registry> registry();

// A check's run: its outcome (up, down, unknown) and how long it took.
void check_ran(const std::string& check_id, const std::string& kind, const std::string& outcome,
               double seconds);

// A delivery attempt's outcome: delivered, failed (to be retried), dead, or given_back.
void notification(const std::string& channel, const std::string& kind, const std::string& outcome);

// The outbox as the delivery job last read it: notifications not yet delivered, and the age
// of the oldest of them.
void outbox(double undelivered, double oldest_seconds);

// Whether this worker leads a job (1) or stands by (0).
void leadership(const std::string& job, bool leading);

// Lines of a shipped log: loaded, and refused (unparsable, or refused by the database).
void log_lines(const std::string& source, double shipped, double rejected);

// A job's connection was established again after the first.
void reconnected(const std::string& job);

// A job's run ended, well or not.
void job_ran(const std::string& job, bool succeeded);

}  // namespace expense_ops::worker::metrics
