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
  char buffer[256];
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

// Why a standby hears nothing from its primary; nullopt while it streams and hears from it.
std::optional<Finding> primary_link_finding(const std::optional<std::string>& receiver_status,
                                            const std::optional<double>& silence_seconds,
                                            double silence_degraded_at) {
  if (!receiver_status) {
    return Finding{"replication", Status::kDegraded,
                   "this standby has no WAL receiver, so it is not streaming from its primary; "
                   "check primary_conninfo, that the primary is up and accepts replication "
                   "connections from here, and this server's log"};
  }
  if (*receiver_status != kStreaming) {
    return Finding{"replication", Status::kDegraded,
                   "this standby's WAL receiver is " + *receiver_status +
                       ", not streaming from its primary; check that the primary is up and "
                       "reachable, and this server's log"};
  }
  if (silence_seconds && *silence_seconds >= silence_degraded_at) {
    return Finding{
        "replication", Status::kDegraded,
        format("no message from the primary for %.0f s (degraded at %.0f s; primaries send "
               "keepalives every wal_sender_timeout / 2); check the network and the primary",
               *silence_seconds, silence_degraded_at)};
  }
  return std::nullopt;
}

json::Value findings_json(const std::vector<Finding>& findings, Detail detail) {
  json::Array out;
  out.reserve(findings.size());
  for (const auto& finding : findings) {
    json::Object entry{{"check", finding.check}, {"status", to_string(finding.status)}};
    if (detail == Detail::kFull) {
      entry.emplace_back("message", finding.message);
    }
    out.emplace_back(std::move(entry));
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

  // Listed first: on a standby that is cut off, every later finding may follow from it.
  std::optional<Finding> cut_off;
  if (facts.in_recovery) {
    cut_off = primary_link_finding(facts.wal_receiver_status, facts.seconds_since_primary_message,
                                   thresholds.primary_silence_degraded_seconds);
  }
  if (cut_off) {
    findings.push_back(*cut_off);
  }

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
  // The worker writes heartbeats on the primary; a standby only sees those replicated to it.
  const char* const cut_off_cause =
      "; heartbeats are written on the primary and replicate here, and this standby is cut "
      "off from its primary (see the replication finding)";
  if (worker == "missing") {
    findings.push_back(
        {"worker", Status::kDegraded,
         cut_off ? std::string("no worker heartbeat has reached this standby") + cut_off_cause
                 : "no worker heartbeat has been recorded; start expense-ops-worker"});
  } else if (worker == "stale") {
    findings.push_back({"worker", Status::kDegraded,
                        format("no worker heartbeat for %.0f s, more than %.0f heartbeat intervals",
                               seconds_between(facts.latest_heartbeat->last_seen, facts.now),
                               thresholds.missed_heartbeats) +
                            (cut_off ? cut_off_cause : "")});
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

  json::Object report{
      {"status", to_string(overall(findings))},
      {"version", facts.installed_version},
      {"library_version", facts.library_version},
      {"time", format_iso8601(facts.now)},
      {"database", facts.database},
      {"in_recovery", facts.in_recovery},
  };
  if (facts.in_recovery) {
    report.emplace_back(
        "replication",
        json::Object{{"role", "standby"},
                     {"wal_receiver", facts.wal_receiver_status},
                     {"streaming", facts.wal_receiver_status == kStreaming},
                     {"seconds_since_primary_message", facts.seconds_since_primary_message}});
  }
  report.emplace_back("worker", std::move(worker_json));
  report.emplace_back("findings", findings_json(findings, Detail::kFull));
  return report;
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

std::optional<double> standby_replay_lag_seconds(const DatabaseFacts& facts) {
  if (!facts.in_recovery) {
    return std::nullopt;
  }
  if (!facts.wal_pending) {
    return 0.0;
  }
  std::optional<double> lag;
  for (const auto& age :
       {facts.seconds_since_last_replayed_commit, facts.seconds_since_replay_caught_up}) {
    if (age) {
      lag = lag ? std::min(*lag, *age) : *age;
    }
  }
  // Commit times come from the primary's clock, which may run ahead of this one.
  if (lag) {
    lag = std::max(0.0, *lag);
  }
  return lag;
}

int streaming_replicas(const DatabaseFacts& facts) {
  return static_cast<int>(
      std::count_if(facts.replicas.begin(), facts.replicas.end(),
                    [](const ReplicaFacts& replica) { return replica.state == kStreaming; }));
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
  if (facts.in_recovery) {
    if (auto cut_off =
            primary_link_finding(facts.wal_receiver_status, facts.seconds_since_primary_message,
                                 thresholds.primary_silence_degraded_seconds)) {
      findings.push_back(std::move(*cut_off));
    }
    if (const auto lag = standby_replay_lag_seconds(facts); lagging(lag)) {
      findings.push_back(
          {"replication_lag", Status::kDegraded,
           format("this standby replays %.0f s behind its primary (degraded at %.0f s)", *lag,
                  thresholds.replication_lag_degraded_seconds)});
    }
  } else if (const int streaming = streaming_replicas(facts); streaming < facts.expected_replicas) {
    std::string message = std::to_string(streaming) + " of " +
                          std::to_string(facts.expected_replicas) + " expected replicas stream";
    for (const auto& replica : facts.replicas) {
      if (replica.state != kStreaming) {
        message += "; " + replica.application_name + " is in state " + replica.state;
      }
    }
    message += "; check that each standby runs, reaches this primary and streams from it";
    findings.push_back({"replication", Status::kDegraded, std::move(message)});
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

json::Value database_health(const DatabaseFacts& facts, Detail detail,
                            const DatabaseThresholds& thresholds) {
  const std::vector<Finding> findings = database_findings(facts, thresholds);
  const char* const role = facts.in_recovery ? "standby" : "primary";

  if (detail == Detail::kCoarse) {
    return json::Object{
        {"status", to_string(overall(findings))},
        {"in_recovery", facts.in_recovery},
        {"replication", json::Object{{"role", role}}},
        {"findings", findings_json(findings, Detail::kCoarse)},
    };
  }

  json::Object replication{{"role", role}};
  if (facts.in_recovery) {
    replication.emplace_back("wal_receiver", facts.wal_receiver_status);
    replication.emplace_back("seconds_since_primary_message", facts.seconds_since_primary_message);
    replication.emplace_back("replay_lag_seconds", standby_replay_lag_seconds(facts));
    replication.emplace_back("replay_lag_bytes", facts.standby_replay_lag_bytes);
  } else {
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
    replication.emplace_back("streaming_replicas", streaming_replicas(facts));
    replication.emplace_back("expected_replicas", facts.expected_replicas);
  }

  json::Object report{
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
      {"findings", findings_json(findings, Detail::kFull)},
  };
  if (facts.backups) {
    const BackupFacts& backups = *facts.backups;
    report.emplace_back("backups",
                        json::Object{{"rpo_seconds", backups.rpo_seconds},
                                     {"restorable_at", backups.restorable_at},
                                     {"restorable_from", backups.restorable_from},
                                     {"last_backup_status", backups.last_backup_status},
                                     {"wal_archiving", backups.wal_archiving},
                                     {"last_restore_test_at", backups.last_restore_test_at},
                                     {"last_restore_test_status", backups.last_restore_test_status},
                                     {"rto_seconds", backups.last_rto_seconds}});
  }
  return report;
}

}  // namespace expense_ops::core::health
