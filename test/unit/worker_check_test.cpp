#include <gtest/gtest.h>

#include "worker/check.hpp"
#include "worker/config.hpp"
#include "worker_flags.hpp"

using namespace expense_ops::worker;

namespace {

CheckDefinition http_check() {
  CheckDefinition check;
  check.id = "health";
  check.kind = "http";
  check.target = "/rpc/health";
  check.method = "GET";
  check.expected_status = 200;
  check.expected_body = "\"status\"";
  return check;
}

using flags_for_tests::config_error;

WorkerConfig parse(std::vector<std::string> flags) {
  return flags_for_tests::parse_flags(std::move(flags));
}

}  // namespace

TEST(WorkerCheck, AnHttpAnswerIsUpOnlyWithTheStatusAndTheBody) {
  const CheckDefinition check = http_check();
  EXPECT_EQ(judge_http(check, 200, R"({"status":"ok"})"),
            (std::pair<std::string, std::string>{"up", ""}));
  EXPECT_EQ(judge_http(check, 503, R"({"status":"down"})").first, "down");
  EXPECT_EQ(judge_http(check, 503, "").second, "status 503, expected 200");
  EXPECT_EQ(judge_http(check, 200, "<html>").second, "the body does not contain \"status\"");
  CheckDefinition any_body = check;
  any_body.expected_body.reset();
  EXPECT_EQ(judge_http(any_body, 200, "").first, "up");
  // A redirect is not followed: it is its own status.
  EXPECT_EQ(judge_http(any_body, 302, "").second, "status 302, expected 200");
}

TEST(WorkerCheck, ARelativeTargetFollowsTheBaseUrl) {
  EXPECT_EQ(check_url("/rpc/health", "http://127.0.0.1:3000"), "http://127.0.0.1:3000/rpc/health");
  EXPECT_EQ(check_url("/expenses?limit=1", "https://api.example.com/v1"),
            "https://api.example.com/v1/expenses?limit=1");
  EXPECT_EQ(check_url("https://status.example.com/", "http://127.0.0.1:3000"),
            "https://status.example.com/");
}

TEST(WorkerCheck, DetailsAreShortAndOnOneLine) {
  EXPECT_EQ(short_detail("connection refused\n\tretry"), "connection refused  retry");
  const std::string long_text(1000, 'x');
  EXPECT_EQ(short_detail(long_text).size(), 303u);
  EXPECT_EQ(short_detail("trailing\n"), "trailing");
}

TEST(WorkerCheck, ResultsAreTheJsonRecordCheckResultsTakes) {
  CheckResult up;
  up.check_id = "health";
  up.started_at = WallClock::from_time_t(1'796'000'000) + std::chrono::microseconds(250);
  up.duration_ms = 12.5;
  up.outcome = "up";
  up.status = 200;
  up.timings = {{"total_ms", 12.5}};
  CheckResult missed;
  missed.check_id = "database";
  missed.started_at = WallClock::from_time_t(1'796'000'030);
  missed.outcome = "unknown";
  missed.detail = "worker_down";
  EXPECT_EQ(
      results_json({up, missed}, "w1"),
      R"([{"check_id":"health","started_at":"2026-11-30T00:53:20.000250Z","outcome":"up",)"
      R"("worker":"w1","duration_ms":12.5,"status":200,"timings":{"total_ms":12.5}},)"
      R"({"check_id":"database","started_at":"2026-11-30T00:53:50.000000Z","outcome":"unknown",)"
      R"("worker":"w1","detail":"worker_down"}])");
}

TEST(WorkerCheck, CredentialsAndConnectionsComeFromTheConfigurationNeverEchoed) {
  const auto config = parse({"--credential", "monitoring:monitor@example.com:pa:ss:word",
                             "--check-connection", "primary: host=db1 dbname=expense_ops",
                             "--check-connection", "replica:postgresql://u@db2/expense_ops"});
  ASSERT_EQ(config.credentials.count("monitoring"), 1u);
  EXPECT_EQ(config.credentials.at("monitoring").email, "monitor@example.com");
  EXPECT_EQ(config.credentials.at("monitoring").password, "pa:ss:word");
  EXPECT_EQ(config.check_connections.at("primary"), "host=db1 dbname=expense_ops");
  EXPECT_EQ(config.check_connections.at("replica"), "postgresql://u@db2/expense_ops");
  EXPECT_EQ(config.check_threads, 4);

  for (const char* bad :
       {"monitoring:S3CRET", "Monitoring:a@b:S3CRET", "monitoring::S3CRET", "monitoring:a@b:"}) {
    const std::string error = config_error({"--credential", bad});
    EXPECT_NE(error.find("--credential"), std::string::npos) << error;
    EXPECT_EQ(error.find("S3CRET"), std::string::npos) << error;
  }
  const std::string error =
      config_error({"--check-connection", "primary: host=db1 password=S3CRET sslmode=bogus x"});
  EXPECT_NE(error.find("--check-connection primary"), std::string::npos) << error;
  EXPECT_EQ(error.find("S3CRET"), std::string::npos) << error;
  EXPECT_NE(config_error({"--check-connection", "no dsn here"}).find("--check-connection"),
            std::string::npos);
  EXPECT_NE(config_error({"--check-threads", "0"}).find("--check-threads"), std::string::npos);
}
