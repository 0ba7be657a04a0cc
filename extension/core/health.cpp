#include "core/health.hpp"

#include <algorithm>
#include <cstdio>

namespace expense_ops::core::health {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::kOk:
      return "ok";
    case Status::kDegraded:
      return "degraded";
    case Status::kDown:
      return "down";
  }
  return "down";
}

Status worst(Status a, Status b) {
  return std::max(a, b);
}

double xid_wraparound_percent(std::int64_t oldest_xid_age) {
  return 100.0 * static_cast<double>(oldest_xid_age) / kXidWraparoundHorizon;
}

namespace {

std::string format(const char* pattern, double a, double b) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, pattern, a, b);
  return buffer;
}

// The status one measurement earns against a pair of rising thresholds.
Status against(double value, double degraded_at, double down_at) {
  if (value >= down_at) {
    return Status::kDown;
  }
  return value >= degraded_at ? Status::kDegraded : Status::kOk;
}

std::optional<Finding> xid_finding(std::int64_t oldest_xid_age, double degraded_at,
                                   double down_at) {
  const double percent = xid_wraparound_percent(oldest_xid_age);
  const Status status = against(percent, degraded_at, down_at);
  if (status == Status::kOk) {
    return std::nullopt;
  }
  return Finding{"xid_wraparound", status,
                 format("oldest transaction id is %.1f %% of the way to wraparound "
                        "(degraded at %.0f %%); VACUUM (FREEZE) the oldest tables",
                        percent, degraded_at)};
}

json::Value findings_json(const std::vector<Finding>& findings) {
  json::Array out;
  out.reserve(findings.size());
  for (const auto& finding : findings) {
    out.emplace_back(json::Object{{"check", finding.check},
                                  {"status", to_string(finding.status)},
                                  {"message", finding.message}});
  }
  return out;
}

Status overall(const std::vector<Finding>& findings) {
  Status status = Status::kOk;
  for (const auto& finding : findings) {
    status = worst(status, finding.status);
  }
  return status;
}

}  // namespace

std::string_view worker_state(const ServiceFacts& facts, const ServiceThresholds& thresholds) {
  if (!facts.latest_heartbeat) {
    return "missing";
  }
  const auto& beat = *facts.latest_heartbeat;
  const double age = seconds_between(beat.last_seen, facts.now);
  return age <= thresholds.missed_heartbeats * beat.interval_seconds ? "ok" : "stale";
}

json::Value service_health(const ServiceFacts& facts, const ServiceThresholds& thresholds) {
  std::vector<Finding> findings;

  const std::string_view worker = worker_state(facts, thresholds);
  json::Object worker_json{{"status", worker}};
  if (facts.latest_heartbeat) {
    const auto& beat = *facts.latest_heartbeat;
    // A heartbeat committed after this transaction took its snapshot time is not in the future.
    const double age = std::max(0.0, seconds_between(beat.last_seen, facts.now));
    worker_json.emplace_back("worker_id", beat.worker_id);
    worker_json.emplace_back("host", beat.host);
    worker_json.emplace_back("last_heartbeat", format_iso8601(beat.last_seen));
    worker_json.emplace_back("age_seconds", age);
    worker_json.emplace_back("heartbeat_interval_seconds", beat.interval_seconds);
  } else {
    worker_json.emplace_back("last_heartbeat", nullptr);
    worker_json.emplace_back("age_seconds", nullptr);
  }
  if (worker == "missing") {
    findings.push_back({"worker", Status::kDegraded,
                        "no worker heartbeat has been recorded; start expense-ops-worker"});
  } else if (worker == "stale") {
    findings.push_back({"worker", Status::kDegraded,
                        format("no worker heartbeat for %.0f s, more than %.0f heartbeat intervals",
                               seconds_between(facts.latest_heartbeat->last_seen, facts.now),
                               thresholds.missed_heartbeats)});
  }

  if (facts.installed_version != facts.library_version) {
    findings.push_back({"version", Status::kDegraded,
                        "the loaded library is " + facts.library_version +
                            " but the installed "
                            "extension is " +
                            facts.installed_version + "; run ALTER EXTENSION expense_ops UPDATE"});
  }
  if (auto xid = xid_finding(facts.oldest_xid_age, thresholds.xid_degraded_percent,
                             thresholds.xid_down_percent)) {
    findings.push_back(std::move(*xid));
  }

  return json::Object{
      {"status", to_string(overall(findings))},
      {"version", facts.installed_version},
      {"library_version", facts.library_version},
      {"time", format_iso8601(facts.now)},
      {"database", facts.database},
      {"in_recovery", facts.in_recovery},
      {"worker", std::move(worker_json)},
      {"findings", findings_json(findings)},
  };
}

double connections_percent(const DatabaseFacts& facts) {
  const std::int64_t available = facts.max_connections - facts.reserved_connections;
  if (available <= 0) {
    return 100.0;
  }
  return 100.0 * static_cast<double>(facts.connections_used) / static_cast<double>(available);
}

std::optional<double> cache_hit_ratio(const DatabaseFacts& facts) {
  const std::int64_t total = facts.blocks_hit + facts.blocks_read;
  if (total <= 0) {
    return std::nullopt;
  }
  return static_cast<double>(facts.blocks_hit) / static_cast<double>(total);
}

std::vector<Finding> database_findings(const DatabaseFacts& facts,
                                       const DatabaseThresholds& thresholds) {
  std::vector<Finding> findings;

  const double connections = connections_percent(facts);
  if (const Status s = against(connections, thresholds.connections_degraded_percent,
                               thresholds.connections_down_percent);
      s != Status::kOk) {
    findings.push_back({"connections", s,
                        format("%.1f %% of connection slots in use (degraded at %.0f %%)",
                               connections, thresholds.connections_degraded_percent)});
  }

  if (facts.longest_transaction_seconds &&
      *facts.longest_transaction_seconds >= thresholds.long_transaction_degraded_seconds) {
    findings.push_back(
        {"long_transaction", Status::kDegraded,
         format("a transaction has been open for %.0f s (degraded at %.0f s)",
                *facts.longest_transaction_seconds, thresholds.long_transaction_degraded_seconds)});
  }

  if (auto xid = xid_finding(facts.oldest_xid_age, thresholds.xid_degraded_percent,
                             thresholds.xid_down_percent)) {
    findings.push_back(std::move(*xid));
  }

  auto lagging = [&](const std::optional<double>& lag) {
    return lag && *lag >= thresholds.replication_lag_degraded_seconds;
  };
  if (facts.in_recovery && lagging(facts.standby_replay_lag_seconds)) {
    findings.push_back(
        {"replication_lag", Status::kDegraded,
         format("this standby replays %.0f s behind its primary (degraded at %.0f s)",
                *facts.standby_replay_lag_seconds, thresholds.replication_lag_degraded_seconds)});
  }
  for (const auto& replica : facts.replicas) {
    if (lagging(replica.replay_lag_seconds)) {
      findings.push_back(
          {"replication_lag", Status::kDegraded,
           "replica " + replica.application_name +
               format(" replays %.0f s behind (degraded at %.0f s)", *replica.replay_lag_seconds,
                      thresholds.replication_lag_degraded_seconds)});
    }
  }

  const auto ratio = cache_hit_ratio(facts);
  if (ratio && facts.blocks_hit + facts.blocks_read >= thresholds.cache_min_blocks &&
      *ratio < thresholds.cache_hit_ratio_degraded) {
    findings.push_back({"cache_hit_ratio", Status::kDegraded,
                        format("cache hit ratio is %.3f (degraded below %.2f)", *ratio,
                               thresholds.cache_hit_ratio_degraded)});
  }
  return findings;
}

json::Value database_health(const DatabaseFacts& facts, const DatabaseThresholds& thresholds) {
  const std::vector<Finding> findings = database_findings(facts, thresholds);

  json::Object replication;
  if (facts.in_recovery) {
    replication.emplace_back("role", "standby");
    replication.emplace_back("replay_lag_seconds", facts.standby_replay_lag_seconds);
    replication.emplace_back("replay_lag_bytes", facts.standby_replay_lag_bytes);
  } else {
    replication.emplace_back("role", "primary");
    json::Array replicas;
    for (const auto& replica : facts.replicas) {
      replicas.emplace_back(json::Object{{"application_name", replica.application_name},
                                         {"client_addr", replica.client_addr},
                                         {"state", replica.state},
                                         {"sync_state", replica.sync_state},
                                         {"replay_lag_seconds", replica.replay_lag_seconds},
                                         {"replay_lag_bytes", replica.replay_lag_bytes}});
    }
    replication.emplace_back("replicas", std::move(replicas));
  }

  return json::Object{
      {"status", to_string(overall(findings))},
      {"server_version", facts.server_version},
      {"server_version_num", facts.server_version_num},
      {"in_recovery", facts.in_recovery},
      {"replication", std::move(replication)},
      {"connections", json::Object{{"used", facts.connections_used},
                                   {"max", facts.max_connections},
                                   {"reserved_for_superuser", facts.reserved_connections},
                                   {"percent", connections_percent(facts)}}},
      {"longest_transaction_seconds", facts.longest_transaction_seconds},
      {"xid_wraparound", json::Object{{"oldest_xid_age", facts.oldest_xid_age},
                                      {"percent", xid_wraparound_percent(facts.oldest_xid_age)}}},
      {"database", json::Object{{"name", facts.database},
                                {"size_bytes", facts.size_bytes},
                                {"cache_hit_ratio", cache_hit_ratio(facts)},
                                {"deadlocks", facts.deadlocks}}},
      {"findings", findings_json(findings)},
  };
}

}  // namespace expense_ops::core::health
