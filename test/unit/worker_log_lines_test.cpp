#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "worker/log_lines.hpp"
#include "worker/log_tail.hpp"

using namespace expense_ops::worker;

namespace {

nlohmann::json entry(const std::string& line, LogFormat format) {
  ParsedLine parsed = parse_log_line(line, format);
  EXPECT_TRUE(std::holds_alternative<nlohmann::json>(parsed))
      << line << " -> "
      << (std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "");
  return std::holds_alternative<nlohmann::json>(parsed) ? std::get<nlohmann::json>(parsed)
                                                        : nlohmann::json();
}

std::string refusal(const std::string& line, LogFormat format) {
  ParsedLine parsed = parse_log_line(line, format);
  return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "<parsed>";
}

struct TempLog {
  std::string path;
  TempLog() {
    char name[] = "/tmp/expense_ops_tail_XXXXXX";
    const int fd = mkstemp(name);
    close(fd);
    path = name;
  }
  ~TempLog() {
    std::remove(path.c_str());
    std::remove((path + ".1").c_str());
  }
  void append(const std::string& text) const { std::ofstream(path, std::ios::app) << text; }
};

std::vector<std::string> drain(LogTail& tail) {
  std::vector<std::string> lines;
  while (auto chunk = tail.next(64)) {
    lines.insert(lines.end(), chunk->lines.begin(), chunk->lines.end());
    tail.committed(*chunk);
  }
  return lines;
}

}  // namespace

TEST(LogLines, NginxJsonLines) {
  const auto e = entry(
      R"({"time":"2026-12-01T10:00:00+00:00","method":"GET","uri":"/expenses","status":200,"request_time":0.012})",
      LogFormat::kNginxJson);
  EXPECT_EQ(e["at"], "2026-12-01T10:00:00+00:00");
  EXPECT_EQ(e["method"], "GET");
  EXPECT_EQ(e["route"], "/expenses");
  EXPECT_EQ(e["status"], "200");
  EXPECT_DOUBLE_EQ(e["duration_ms"].get<double>(), 12.0);
  // What is missing stays missing, for ops.ingest_requests to name.
  EXPECT_FALSE(
      entry(R"({"time":"x","uri":"/a?b=1"})", LogFormat::kNginxJson).contains("duration_ms"));
  EXPECT_EQ(entry(R"({"uri":"/a?b=1"})", LogFormat::kNginxJson)["route"], "/a");
  EXPECT_EQ(refusal("not json", LogFormat::kNginxJson), "not a JSON object");
  EXPECT_EQ(refusal("[1,2]", LogFormat::kNginxJson), "not a JSON object");
}

TEST(LogLines, CombinedWithAndWithoutTheRequestTime) {
  const std::string line =
      R"(127.0.0.1 - - [01/Dec/2026:10:00:00 +0100] "POST /rpc/login?x=1 HTTP/1.1" 403 52 "-" "curl/7.88.1" 0.035)";
  const auto e = entry(line, LogFormat::kCombined);
  EXPECT_EQ(e["at"], "2026-12-01T10:00:00+01:00");
  EXPECT_EQ(e["method"], "POST");
  EXPECT_EQ(e["route"], "/rpc/login");
  EXPECT_EQ(e["status"], "403");
  EXPECT_DOUBLE_EQ(e["duration_ms"].get<double>(), 35.0);
  const auto plain = entry(
      R"(10.0.0.1 - ana [31/Dec/2026:23:59:59 -0330] "GET / HTTP/1.1" 200 5 "http://x/" "Mozilla")",
      LogFormat::kCombined);
  EXPECT_EQ(plain["at"], "2026-12-31T23:59:59-03:30");
  EXPECT_FALSE(plain.contains("duration_ms")) << "nginx's default combined has no request time";
  EXPECT_EQ(refusal("garbage", LogFormat::kCombined), "no [time]");
  EXPECT_EQ(refusal(R"(x - - [01/Foo/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "-")",
                    LogFormat::kCombined),
            "a [time] that is not nginx's $time_local");
  EXPECT_EQ(
      refusal(R"(x - - [01/Dec/2026:10:00:00 +0000] "GET" 200 5 "-" "-")", LogFormat::kCombined),
      "a request without a method and a target");
  EXPECT_EQ(refusal(R"(x - - [01/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" - 5 "-" "-")",
                    LogFormat::kCombined),
            "no status after the request");
}

TEST(LogLines, JsonlogPassesThrough) {
  const auto e = entry(
      R"({"timestamp":"2026-12-01 10:00:00.123 UTC","error_severity":"ERROR","state_code":"23505","message":"dup"})",
      LogFormat::kJsonlog);
  EXPECT_EQ(e["state_code"], "23505");
  EXPECT_EQ(refusal("{", LogFormat::kJsonlog), "not a JSON object");
  EXPECT_EQ(log_format_named("jsonlog"), LogFormat::kJsonlog);
  EXPECT_EQ(log_format_named("apache"), std::nullopt);
}

TEST(LogTail, CompleteLinesOnlyAndThePositionMovesOnCommit) {
  TempLog log;
  LogTail tail(log.path);
  log.append("one\ntwo\nthr");
  auto chunk = tail.next(1024);
  ASSERT_TRUE(chunk);
  EXPECT_EQ(chunk->lines, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(chunk->from, 0u);
  EXPECT_EQ(chunk->to, 8u);
  // Not committed: the same chunk again (a failed transaction).
  EXPECT_EQ(tail.next(1024)->to, 8u);
  tail.committed(*chunk);
  EXPECT_EQ(tail.next(1024), std::nullopt) << "a line still being written waits";
  log.append("ee\n");
  EXPECT_EQ(drain(tail), std::vector<std::string>{"three"});
}

TEST(LogTail, RenameRotationReadsTheOldFileToItsEndThenTheNewOne) {
  TempLog log;
  LogTail tail(log.path);
  log.append("a\n");
  EXPECT_EQ(drain(tail), std::vector<std::string>{"a"});
  log.append("b\n");  // written before the rotation, not yet read
  ASSERT_EQ(std::rename(log.path.c_str(), (log.path + ".1").c_str()), 0);
  log.append("c\n");  // the new file
  const auto first = tail.next(1024);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->lines, std::vector<std::string>{"b"});
  const std::string old_file = first->file_id;
  tail.committed(*first);
  const auto second = tail.next(1024);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->lines, std::vector<std::string>{"c"});
  EXPECT_NE(second->file_id, old_file);
  EXPECT_EQ(second->from, 0u);
}

TEST(LogTail, CopytruncateStartsANewGenerationOfTheSameFile) {
  TempLog log;
  LogTail tail(log.path);
  log.append("first line\n");
  const auto first = tail.next(1024);
  ASSERT_TRUE(first);
  tail.committed(*first);
  ASSERT_EQ(truncate(log.path.c_str(), 0), 0);
  log.append("x\n");
  const auto again = tail.next(1024);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->lines, std::vector<std::string>{"x"});
  EXPECT_EQ(again->from, 0u);
  EXPECT_NE(again->file_id, first->file_id);
  EXPECT_EQ(again->file_id.substr(0, again->file_id.rfind(':')),
            first->file_id.substr(0, first->file_id.rfind(':')))
      << "the same device and inode";
}

TEST(LogTail, ACopytruncateTheFileHasOutgrownIsSeenByItsHead) {
  TempLog log;
  LogTail tail(log.path);
  log.append("first\n");
  const auto first = tail.next(1024);
  ASSERT_TRUE(first);
  tail.committed(*first);
  ASSERT_EQ(truncate(log.path.c_str(), 0), 0);
  log.append("second, longer than the first\n");  // past the position before anyone looked
  const auto again = tail.next(1024);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->from, 0u);
  EXPECT_EQ(again->lines, std::vector<std::string>{"second, longer than the first"});
}

TEST(LogTail, ARestoreGoesOnWhereTheDatabaseSaysEvenAfterARotation) {
  TempLog log;
  log.append("a\nb\n");
  LogTail first(log.path);
  const auto chunk = first.next(2);  // "a\n" only
  ASSERT_TRUE(chunk);
  EXPECT_EQ(chunk->lines, std::vector<std::string>{"a"});
  // The worker stops; the file is rotated; a new one starts.
  ASSERT_EQ(std::rename(log.path.c_str(), (log.path + ".1").c_str()), 0);
  log.append("c\n");
  LogTail restarted(log.path);
  restarted.restore(chunk->file_id, chunk->to);
  EXPECT_EQ(drain(restarted), (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(restarted.take_notes().empty());
  // A restore naming a file that is gone starts the current one from 0, and says so.
  LogTail lost(log.path);
  lost.restore("1:2:0", 100);
  EXPECT_EQ(drain(lost), std::vector<std::string>{"c"});
  EXPECT_EQ(lost.take_notes().size(), 1u);
}
