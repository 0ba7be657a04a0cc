// Ships the log files of ship-log (issue 11, section 4): an access log to ops.request_log and
// PostgreSQL's jsonlog to ops.error_events, through ops.ship_log(), which moves the file's
// offset in the transaction that loads its lines: a crash never loses or doubles a line.
#include <pqxx/pqxx>

#include "worker/job.hpp"
#include "worker/log.hpp"
#include "worker/metrics.hpp"
#include "worker/log_lines.hpp"
#include "worker/log_tail.hpp"
#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

namespace {

constexpr std::size_t kChunkBytes = 1 << 20;
constexpr int kChunksPerRun = 20;  // then the next run: a busy log never starves the others
constexpr const char* kLogOffset = "22X74";

struct Source {
  ShippedLog config;
  LogFormat format;
  std::unique_ptr<LogTail> tail;
  bool restored = false;
};

class ShipLogsJob : public Job {
 public:
  explicit ShipLogsJob(const JobContext& context) {
    for (const ShippedLog& log : context.config.shipped_logs) {
      sources_.push_back(
          Source{log, *log_format_named(log.format), std::make_unique<LogTail>(log.path), false});
    }
  }

  void run(pqxx::connection& connection) override {
    for (Source& source : sources_) {
      if (!source.restored) {
        restore(connection, source);
      }
      for (int i = 0; i < kChunksPerRun; ++i) {
        auto chunk = source.tail->next(kChunkBytes);
        for (const std::string& note : source.tail->take_notes()) {
          log::warn("log_lines_lost", {{"source", source.config.name}, {"note", note}});
        }
        if (!chunk) {
          break;
        }
        if (!ship(connection, source, *chunk)) {
          break;
        }
        source.tail->committed(*chunk);
      }
    }
  }

 private:
  static const char* kind_of(LogFormat format) {
    return format == LogFormat::kJsonlog ? "jsonlog" : "access";
  }

  static void restore(pqxx::connection& connection, Source& source) {
    pqxx::read_transaction transaction(connection);
    const pqxx::result row = transaction.exec_params(
        "SELECT file_id, offset_bytes FROM ops.log_offsets WHERE source = $1", source.config.name);
    if (!row.empty()) {
      source.tail->restore(row[0][0].as<std::string>(), row[0][1].as<std::uint64_t>());
    }
    source.restored = true;
  }

  // False when the database refused the offset: the position is read again from it.
  bool ship(pqxx::connection& connection, Source& source, const LogChunk& chunk) {
    nlohmann::json entries = nlohmann::json::array();
    std::size_t unparsable = 0;
    for (const std::string& line : chunk.lines) {
      ParsedLine parsed = parse_log_line(line, source.format);
      if (auto* entry = std::get_if<nlohmann::json>(&parsed)) {
        entries.push_back(std::move(*entry));
      } else {
        ++unparsable;
        if (unparsable <= 3) {
          log::warn("log_line_unparsable",
                    {{"source", source.config.name}, {"reason", std::get<std::string>(parsed)}});
        }
      }
    }
    try {
      pqxx::work transaction(connection);
      const pqxx::result refused = transaction.exec_params(
          "SELECT index, reason FROM ops.ship_log($1, $2, $3, $4, $5, $6::jsonb)",
          source.config.name, kind_of(source.format), chunk.file_id,
          static_cast<long long>(chunk.from), static_cast<long long>(chunk.to), entries.dump());
      transaction.commit();
      for (std::size_t i = 0; i < refused.size() && i < 3; ++i) {
        log::warn("log_line_refused", {{"source", source.config.name},
                                       {"reason", refused[static_cast<int>(i)][1].c_str()}});
      }
      metrics::log_lines(source.config.name,
                         static_cast<double>(chunk.lines.size() - refused.size() - unparsable),
                         static_cast<double>(refused.size() + unparsable));
      log::debug("log_shipped", {{"source", source.config.name},
                                 {"lines", static_cast<long>(chunk.lines.size())},
                                 {"refused", static_cast<long>(refused.size() + unparsable)},
                                 {"offset", static_cast<long long>(chunk.to)}});
      return true;
    } catch (const pqxx::sql_error& error) {
      if (sqlstate_of(error) != kLogOffset) {
        throw;
      }
      // Another shipper, or a crash between commit and here: go on from what was recorded.
      log::warn("log_offset_moved", {{"source", source.config.name},
                                     {"file_id", chunk.file_id},
                                     {"from", static_cast<long long>(chunk.from)}});
      source.restored = false;
      return false;
    }
  }

  std::vector<Source> sources_;
};

const JobRegistration kRegistration{{
    "ship-logs",
    "ops.ship_log",
    1,
    "seconds between readings of the shipped log files (ship-log)",
    [](const JobContext& context) { return std::make_unique<ShipLogsJob>(context); },
}};

}  // namespace

}  // namespace expense_ops::worker
