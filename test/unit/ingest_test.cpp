#include "core/ingest.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace requests = expense_ops::core::ingest;
using expense_ops::core::Instant;

namespace {

Instant at(std::string_view text) {
  return requests::parse_iso8601(text).value();
}

const requests::AcceptedWindow kWindow{at("2026-11-17T00:00:00Z"), at("2026-12-01T13:00:00Z")};

requests::RequestText good_row() {
  requests::RequestText row;
  row.at = "2026-12-01T10:00:00.25+01:00";
  row.method = "POST";
  row.route = "/rpc/login";
  row.status = "200";
  row.duration_ms = "12.5";
  return row;
}

std::string problem(const requests::RequestText& row) {
  return requests::request_problem(row, kWindow).value_or("<none>");
}

}  // namespace

TEST(Ingest, ParsesIso8601WithOffsetsAndZ) {
  EXPECT_EQ(at("2026-12-01T10:00:00.25+01:00"), at("2026-12-01T09:00:00.250000Z"));
  EXPECT_EQ(at("2026-12-01T10:00:00+0100"), at("2026-12-01T09:00:00Z"));
  EXPECT_EQ(at("2026-12-01 09:00:00Z"), at("2026-12-01T09:00:00Z"));
  EXPECT_EQ(at("2026-12-01T05:30:00-03:30"), at("2026-12-01T09:00:00Z"));
  EXPECT_EQ(at("2024-02-29T00:00:00Z"), at("2024-02-28T00:00:00Z") + std::chrono::hours(24));
  EXPECT_EQ(at("1970-01-01T00:00:00.000001Z").time_since_epoch().count(), 1);
  // An offset with seconds, as PostgreSQL writes a zone's local mean time.
  EXPECT_EQ(at("1800-01-01T00:19:32+00:19:32"), at("1800-01-01T00:00:00Z"));
  EXPECT_EQ(at("1800-01-01T00:00:00-00:01:15"), at("1800-01-01T00:01:15Z"));
  EXPECT_EQ(expense_ops::core::format_iso8601(at("2026-12-01T09:00:00.000001Z")),
            "2026-12-01T09:00:00.000001Z");
  for (const char* bad :
       {"", "2026-12-01", "2026-12-01T10:00:00", "2026-02-30T10:00:00Z", "2026-12-01T25:00:00Z",
        "2026-12-01T10:00:00Z trailing", "yesterday", "2026-12-01T10:00:00+25:00x",
        "2026-12-01T10:00:00+16:00", "2026-12-01T10:00:00.Z", "2026-12-01T10:00:00.1234567Z",
        "2026-12-01T10:00:60Z", "2026-13-01T10:00:00Z", "+026-12-01T10:00:00Z",
        "2026-12-01T10:00:00+01:00:", "2026-12-01T10:00:00+01:00:6", "2026-12-01T10:00:00+01:00:60",
        "2026-12-01T10:00:00+0100:00", "2026-12-01T10:00:00+01:00-00"}) {
    EXPECT_FALSE(requests::parse_iso8601(bad).has_value()) << bad;
  }
}

TEST(Ingest, AcceptsAWellFormedRow) {
  EXPECT_EQ(problem(good_row()), "<none>");
  requests::RequestText full = good_row();
  full.sqlstate = "28P01";
  full.org_id = "00000000-0000-0000-0000-0000000000A1";
  full.user_id = "5f0c3a52-9a4e-4f1e-8b65-2f1d3c4b5a69";
  full.duration_ms = "0";
  EXPECT_EQ(problem(full), "<none>");
}

TEST(Ingest, NamesTheFieldOfEachProblem) {
  const auto with = [](auto change) {
    requests::RequestText row = good_row();
    change(row);
    return problem(row);
  };
  EXPECT_EQ(with([](auto& r) { r.at.reset(); }), "at: missing");
  EXPECT_EQ(with([](auto& r) { r.at = "now"; }),
            "at: \"now\" is not an ISO 8601 instant with an offset or Z");
  EXPECT_EQ(with([](auto& r) { r.at = "2026-11-01T00:00:00Z"; }).rfind("at: ", 0), 0u);
  EXPECT_NE(with([](auto& r) { r.at = "2026-11-01T00:00:00Z"; }).find("older than the log keeps"),
            std::string::npos);
  EXPECT_NE(with([](auto& r) { r.at = "2026-12-02T00:00:00Z"; }).find("future"), std::string::npos);
  EXPECT_EQ(with([](auto& r) { r.method = "get"; }),
            "method: \"get\" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  EXPECT_EQ(with([](auto& r) { r.method.reset(); }), "method: missing");
  EXPECT_EQ(with([](auto& r) { r.route = "expenses"; }),
            "route: \"expenses\" does not start with /");
  EXPECT_EQ(with([](auto& r) { r.route = ""; }), "route: \"\" does not start with /");
  EXPECT_EQ(with([](auto& r) { r.route = "/a\nb"; }), "route: contains a control character");
  const std::string long_route = "/" + std::string(200, 'x');
  EXPECT_EQ(with([&](auto& r) { r.route = long_route; }), "route: longer than 200 bytes");
  for (const char* status : {"700", "99", "20x", "", "200.0", "-200", " 200"}) {
    EXPECT_EQ(with([&](auto& r) { r.status = status; }),
              std::string("status: \"") + status + "\" is not an HTTP status (100-599)");
  }
  for (const char* duration : {"NaN", "nan", "inf", "Infinity", "-1", "-0.5", "", "1ms", "+3"}) {
    EXPECT_EQ(with([&](auto& r) { r.duration_ms = duration; }),
              std::string("duration_ms: \"") + duration +
                  "\" is not a finite number of milliseconds at or above 0")
        << duration;
  }
  EXPECT_EQ(with([](auto& r) { r.sqlstate = "2801"; }),
            "sqlstate: \"2801\" is not five characters of 0-9 and A-Z");
  EXPECT_EQ(with([](auto& r) { r.sqlstate = "28p01"; }),
            "sqlstate: \"28p01\" is not five characters of 0-9 and A-Z");
  EXPECT_EQ(with([](auto& r) { r.org_id = "not-a-uuid"; }), "org_id: \"not-a-uuid\" is not a UUID");
  EXPECT_EQ(with([](auto& r) { r.user_id = "00000000-0000-0000-0000-00000000000g"; }),
            "user_id: \"00000000-0000-0000-0000-00000000000g\" is not a UUID");
}

TEST(Ingest, ShowsBadValuesShortAndPrintable) {
  requests::RequestText row = good_row();
  const std::string noisy = std::string("\x01\x02") + std::string(100, 'a');
  row.method = noisy;
  const std::string reason = problem(row);
  EXPECT_NE(reason.find("\"??aaaa"), std::string::npos);
  EXPECT_NE(reason.find("...\""), std::string::npos);
  EXPECT_LT(reason.size(), 140u);
}

TEST(Ingest, CheckResults) {
  const auto problem_of = [](auto change) {
    requests::CheckResultText row;
    row.check_id = "health";
    row.started_at = "2026-12-01T10:00:00Z";
    row.duration_ms = "3.5";
    row.outcome = "up";
    row.status = "200";
    change(row);
    return requests::check_result_problem(row, kWindow).value_or("<none>");
  };
  EXPECT_EQ(problem_of([](auto&) {}), "<none>");
  EXPECT_EQ(problem_of([](auto& r) {
              r.status.reset();
              r.duration_ms.reset();
            }),
            "<none>");
  EXPECT_EQ(problem_of([](auto& r) { r.check_id = ""; }), "check_id: missing");
  EXPECT_EQ(problem_of([](auto& r) { r.started_at.reset(); }), "started_at: missing");
  EXPECT_EQ(problem_of([](auto& r) { r.outcome = "degraded"; }),
            "outcome: \"degraded\" is not one of up, down, unknown");
  EXPECT_EQ(problem_of([](auto& r) { r.outcome = "unknown"; }),
            "detail: an unknown outcome needs its reason (such as worker_down)");
  EXPECT_EQ(problem_of([](auto& r) {
              r.outcome = "unknown";
              r.detail = "worker_down";
            }),
            "<none>");
  EXPECT_EQ(problem_of([](auto& r) { r.duration_ms = "-3"; }),
            "duration_ms: \"-3\" is not a finite number of milliseconds at or above 0");
  EXPECT_EQ(problem_of([](auto& r) { r.status = "0"; }),
            "status: \"0\" is not an HTTP status (100-599)");
  EXPECT_NE(problem_of([](auto& r) { r.started_at = "2025-01-01T00:00:00Z"; }).find("older"),
            std::string::npos);
}

TEST(Ingest, JsonlogEntries) {
  const auto problem_of = [](auto change) {
    requests::LogEntryText entry;
    entry.timestamp = "2026-12-01 10:00:00.123 UTC";
    entry.severity = "ERROR";
    entry.sqlstate = "23505";
    entry.message = "duplicate key value violates unique constraint";
    change(entry);
    return requests::log_entry_problem(entry, kWindow).value_or("<none>");
  };
  EXPECT_EQ(problem_of([](auto&) {}), "<none>");
  EXPECT_EQ(at("2026-12-01 10:00:00.123 UTC"), at("2026-12-01T10:00:00.123Z"));
  EXPECT_EQ(problem_of([](auto& e) { e.sqlstate.reset(); }), "<none>");
  EXPECT_EQ(problem_of([](auto& e) { e.severity = "FATAL"; }), "<none>");
  EXPECT_EQ(problem_of([](auto& e) { e.severity = "LOG"; }),
            "error_severity: \"LOG\" is not ERROR, FATAL or PANIC");
  EXPECT_EQ(problem_of([](auto& e) { e.severity.reset(); }), "error_severity: missing");
  EXPECT_EQ(problem_of([](auto& e) { e.sqlstate = "bad"; }),
            "state_code: \"bad\" is not five characters of 0-9 and A-Z");
  EXPECT_EQ(problem_of([](auto& e) { e.message = ""; }), "message: missing");
  EXPECT_EQ(
      problem_of([](auto& e) { e.timestamp = "2026-12-01 10:00:00 CET"; }),
      "timestamp: \"2026-12-01 10:00:00 CET\" is not an ISO 8601 instant with an offset or Z");
}

// The log's CHECK (request_values_valid) and the loading functions (request_problem) must agree,
// or a row refused by one path is stored by the other.
TEST(Ingest, TheLogsCheckFollowsTheLoadingRules) {
  struct Case {
    const char* method;
    std::string route;
    std::int64_t status;
    double duration_ms;
    std::optional<std::string_view> sqlstate;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double infinity = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {"GET", "/expenses", 200, 12.5, std::nullopt},
      {"OPTIONS", "/", 599, 0, "22P02"},
      {"HEAD", "/" + std::string(199, 'x'), 100, 86'400'000, std::nullopt},
      {"get", "/expenses", 200, 1, std::nullopt},
      {"BREW", "/expenses", 200, 1, std::nullopt},
      {"", "/expenses", 200, 1, std::nullopt},
      {"GET", "expenses", 200, 1, std::nullopt},
      {"GET", "", 200, 1, std::nullopt},
      {"GET", "/a\nb", 200, 1, std::nullopt},
      {"GET", "/a\x7f", 200, 1, std::nullopt},
      {"GET", "/" + std::string(200, 'x'), 200, 1, std::nullopt},
      {"GET", "/x", 99, 1, std::nullopt},
      {"GET", "/x", 600, 1, std::nullopt},
      {"GET", "/x", -200, 1, std::nullopt},
      {"GET", "/x", 200, -0.5, std::nullopt},
      {"GET", "/x", 200, nan, std::nullopt},
      {"GET", "/x", 200, infinity, std::nullopt},
      {"GET", "/x", 500, 1, "28p01"},
      {"GET", "/x", 500, 1, "2801"},
      {"GET", "/x", 500, 1, ""},
  };
  int accepted = 0;
  for (const Case& c : cases) {
    const requests::RequestValues values{c.method, c.route, c.status, c.duration_ms, c.sqlstate};
    requests::RequestText text = good_row();
    text.method = c.method;
    text.route = c.route;
    const std::string status = std::to_string(c.status);
    text.status = status;
    // What a writer would send for the double; NaN and infinity as PostgreSQL prints them.
    const std::string duration = std::isnan(c.duration_ms)   ? "NaN"
                                 : std::isinf(c.duration_ms) ? "Infinity"
                                                             : std::to_string(c.duration_ms);
    text.duration_ms = duration;
    text.sqlstate = c.sqlstate;
    const bool valid = requests::request_values_valid(values);
    EXPECT_EQ(valid, problem(text) == "<none>") << c.method << " " << c.route << " " << c.status
                                                << " " << duration << " -> " << problem(text);
    accepted += valid ? 1 : 0;
  }
  EXPECT_EQ(accepted, 3);
}
