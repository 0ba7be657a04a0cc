// The delivery rules (worker/delivery_policy.hpp), the email channel's message
// (worker/email.hpp) and the delivery options, without a network.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "worker/config.hpp"
#include "worker_flags.hpp"
#include "worker/delivery_policy.hpp"
#include "worker/email.hpp"

using namespace expense_ops::worker;
using Kind = DeliveryOutcome::Kind;

namespace {

// 2026-12-01T12:00:00Z
const WallTime kNoon = WallClock::from_time_t(1796126400);

using flags_for_tests::config_error;

WorkerConfig parse(std::vector<std::string> flags) {
  return flags_for_tests::parse_flags(std::move(flags));
}

int exited(int status) {
  return status << 8;  // what waitpid reports for exit(status)
}

const char* kPayload = R"({
  "receiver": "oncall", "status": "firing", "version": "4",
  "groupKey": "{}/{channel=\"oncall\"}:{alertname=\"HighCpu\"}",
  "groupLabels": {"alertname": "HighCpu"},
  "commonLabels": {"alertname": "HighCpu", "severity": "high"},
  "externalURL": "https://ops.example.com", "truncatedAlerts": 2,
  "alerts": [
    {"status": "firing", "labels": {"alertname": "HighCpu", "host": "db-1", "severity": "high"},
     "annotations": {"summary": "CPU at 97%", "description": "line one\nBcc: evil@example.com"},
     "startsAt": "2026-12-01T11:50:00Z", "endsAt": "0001-01-01T00:00:00Z",
     "generatorURL": "https://ops.example.com/alerts?fingerprint=eq.ab12", "fingerprint": "ab12"},
    {"status": "resolved", "labels": {"alertname": "HighCpu", "host": "db-2", "severity": "high"},
     "annotations": {"summary": "CPU at 91%"},
     "startsAt": "2026-12-01T11:00:00Z", "endsAt": "2026-12-01T11:40:00Z",
     "generatorURL": "", "fingerprint": "cd34"}]})";

}  // namespace

TEST(DeliveryPolicy, TwoHundredsAreDelivered) {
  for (const long status : {200L, 201L, 202L, 204L, 299L}) {
    EXPECT_EQ(outcome_of_http(status, "", "", kNoon).kind, Kind::kDelivered) << status;
  }
}

TEST(DeliveryPolicy, ServerErrorsAreRetried) {
  for (const long status : {500L, 502L, 503L, 504L, 599L}) {
    const DeliveryOutcome outcome = outcome_of_http(status, "", "upstream down", kNoon);
    EXPECT_EQ(outcome.kind, Kind::kRetry) << status;
    EXPECT_EQ(outcome.error, "HTTP " + std::to_string(status) + ": upstream down");
    EXPECT_FALSE(outcome.retry_after);
  }
}

TEST(DeliveryPolicy, OtherClientErrorsAndRedirectsFailForGood) {
  for (const long status : {400L, 401L, 403L, 404L, 408L, 409L, 413L, 422L, 301L, 302L, 307L}) {
    EXPECT_EQ(outcome_of_http(status, "", "", kNoon).kind, Kind::kGiveUp) << status;
  }
  EXPECT_EQ(outcome_of_http(400, "", "invalid label\r\nname", kNoon).error,
            "HTTP 400: invalid label  name");
  EXPECT_NE(outcome_of_http(302, "", "", kNoon).error.find("redirect"), std::string::npos);
}

TEST(DeliveryPolicy, TooManyRequestsHonoursRetryAfter) {
  const DeliveryOutcome seconds = outcome_of_http(429, " 45\r\n", "", kNoon);
  EXPECT_EQ(seconds.kind, Kind::kRetry);
  ASSERT_TRUE(seconds.retry_after);
  EXPECT_DOUBLE_EQ(seconds.retry_after->count(), 45);
  EXPECT_EQ(seconds.error, "HTTP 429 (Retry-After 45 s)");

  const DeliveryOutcome date = outcome_of_http(429, "Tue, 01 Dec 2026 12:02:00 GMT", "", kNoon);
  ASSERT_TRUE(date.retry_after);
  EXPECT_DOUBLE_EQ(date.retry_after->count(), 120);

  const DeliveryOutcome without = outcome_of_http(429, "", "slow down", kNoon);
  EXPECT_EQ(without.kind, Kind::kRetry);
  EXPECT_FALSE(without.retry_after);
}

TEST(DeliveryPolicy, RetryAfterIsReadCarefully) {
  EXPECT_DOUBLE_EQ(parse_retry_after("0", kNoon)->count(), 0);
  EXPECT_DOUBLE_EQ(parse_retry_after("120", kNoon)->count(), 120);
  // A date in the past is "now"; a wait beyond a day, or too long to be a number, is a day.
  EXPECT_DOUBLE_EQ(parse_retry_after("Mon, 30 Nov 2026 12:00:00 GMT", kNoon)->count(), 0);
  EXPECT_DOUBLE_EQ(parse_retry_after("999999", kNoon)->count(), kMaxRetryAfter.count());
  EXPECT_DOUBLE_EQ(parse_retry_after("99999999999999999999999999", kNoon)->count(),
                   kMaxRetryAfter.count());
  EXPECT_DOUBLE_EQ(parse_retry_after("Fri, 01 Jan 2027 00:00:00 GMT", kNoon)->count(),
                   kMaxRetryAfter.count());
  EXPECT_FALSE(parse_retry_after("", kNoon));
  EXPECT_FALSE(parse_retry_after("-5", kNoon));
  EXPECT_FALSE(parse_retry_after("1.5", kNoon));
  EXPECT_FALSE(parse_retry_after("soon", kNoon));
}

TEST(DeliveryPolicy, TransferErrors) {
  EXPECT_EQ(outcome_of_transfer_error(CURLE_OPERATION_TIMEDOUT, "Operation timed out").kind,
            Kind::kRetry);
  EXPECT_EQ(outcome_of_transfer_error(CURLE_COULDNT_CONNECT, "").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_transfer_error(CURLE_COULDNT_RESOLVE_HOST, "").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_transfer_error(CURLE_GOT_NOTHING, "").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_transfer_error(CURLE_PEER_FAILED_VERIFICATION, "").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_transfer_error(CURLE_URL_MALFORMAT, "").kind, Kind::kGiveUp);
  EXPECT_EQ(outcome_of_transfer_error(CURLE_UNSUPPORTED_PROTOCOL, "").kind, Kind::kGiveUp);
  // Without a message, libcurl's own words.
  EXPECT_EQ(outcome_of_transfer_error(CURLE_COULDNT_CONNECT, "").error,
            curl_easy_strerror(CURLE_COULDNT_CONNECT));
}

TEST(DeliveryPolicy, SmtpCodesRunTheOtherWay) {
  EXPECT_EQ(outcome_of_smtp(CURLE_OK, 250, "").kind, Kind::kDelivered);
  EXPECT_EQ(outcome_of_smtp(CURLE_SEND_ERROR, 451, "try later").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_smtp(CURLE_LOGIN_DENIED, 421, "").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_smtp(CURLE_SEND_ERROR, 550, "no such user").kind, Kind::kGiveUp);
  // The worker's own login or TLS is the operator's to fix: retried, not dead.
  EXPECT_EQ(outcome_of_smtp(CURLE_LOGIN_DENIED, 535, "").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_smtp(CURLE_USE_SSL_FAILED, 530, "must issue STARTTLS").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_smtp(CURLE_SEND_ERROR, 553, "mailbox name not allowed").kind, Kind::kGiveUp);
  EXPECT_EQ(outcome_of_smtp(CURLE_SEND_ERROR, 550, "no such user").error, "SMTP 550: no such user");
  EXPECT_EQ(outcome_of_smtp(CURLE_COULDNT_CONNECT, 0, "").kind, Kind::kRetry);
}

TEST(DeliveryPolicy, Commands) {
  EXPECT_EQ(outcome_of_command(exited(0), false, "").kind, Kind::kDelivered);
  EXPECT_EQ(outcome_of_command(exited(1), false, "pager busy").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_command(exited(1), false, "pager busy").error,
            "the command exited with 1: pager busy");
  EXPECT_EQ(outcome_of_command(exited(65), false, "").kind, Kind::kGiveUp);  // EX_DATAERR
  EXPECT_EQ(outcome_of_command(exited(78), false, "").kind, Kind::kGiveUp);  // EX_CONFIG
  EXPECT_EQ(outcome_of_command(exited(79), false, "").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_command(SIGKILL, false, "").kind, Kind::kRetry);
  EXPECT_EQ(outcome_of_command(0, true, "").kind, Kind::kRetry);  // timed out
}

TEST(DeliveryPolicy, AlertmanagerUrl) {
  EXPECT_EQ(alertmanager_alerts_url("http://am:9093"), "http://am:9093/api/v2/alerts");
  EXPECT_EQ(alertmanager_alerts_url("http://am:9093/"), "http://am:9093/api/v2/alerts");
  EXPECT_EQ(alertmanager_alerts_url("http://am/prefix"), "http://am/prefix/api/v2/alerts");
  EXPECT_EQ(alertmanager_alerts_url("http://am:9093/api/v2/alerts"),
            "http://am:9093/api/v2/alerts");
}

TEST(DeliveryPolicy, ExcerptsStayOneValidLine) {
  EXPECT_EQ(one_line_excerpt("  a\tb\nc  "), "a b c");
  EXPECT_EQ(one_line_excerpt(std::string(300, 'x')), std::string(200, 'x') + "...");
  // "é" is two bytes: cut after its first, it goes whole.
  EXPECT_EQ(one_line_excerpt("abc\xC3\xA9", 4), "abc...");
  EXPECT_EQ(one_line_excerpt("ab\xC3\xA9", 4), "ab\xC3\xA9");
  EXPECT_EQ(one_line_excerpt("a\xE2\x82\xAC", 3), "a...");  // "€", three bytes
  // Not UTF-8 (Latin-1 "café", a lone continuation byte, an overlong '/', a surrogate): '?'.
  EXPECT_EQ(one_line_excerpt("caf\xE9 ok"), "caf? ok");
  EXPECT_EQ(one_line_excerpt("a\x80"
                             "b"),
            "a?b");
  EXPECT_EQ(one_line_excerpt("\xC0\xAF"), "??");
  EXPECT_EQ(one_line_excerpt("\xED\xA0\x80x"), "???x");
  EXPECT_EQ(one_line_excerpt("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");  // an emoji stays
}

TEST(Email, Recipients) {
  EXPECT_EQ(email_recipients("oncall@example.com"), std::vector<std::string>{"oncall@example.com"});
  EXPECT_EQ(email_recipients(" a@example.com ,b@example.com"),
            (std::vector<std::string>{"a@example.com", "b@example.com"}));
  EXPECT_THROW(email_recipients(""), std::invalid_argument);
  EXPECT_THROW(email_recipients(" , "), std::invalid_argument);
  EXPECT_THROW(email_recipients("nobody"), std::invalid_argument);
  EXPECT_THROW(email_recipients("a@example.com>\r\nRCPT TO:<b@example.com"), std::invalid_argument);
  EXPECT_THROW(email_recipients("a b@example.com"), std::invalid_argument);
}

TEST(Email, SubjectAsAlertmanagerWritesIt) {
  EXPECT_EQ(email_subject(kPayload), "[FIRING:1] HighCpu (high)");
  nlohmann::json resolved = nlohmann::json::parse(kPayload);
  resolved["alerts"].erase(0);
  EXPECT_EQ(email_subject(resolved.dump()), "[RESOLVED] HighCpu (high)");
  EXPECT_THROW(email_subject("not json"), nlohmann::json::exception);
}

TEST(Email, Message) {
  const EmailEnvelope envelope{
      "alerts@example.com", {"a@example.com", "b@example.com"}, "<k1@expense-ops>"};
  const std::string message = render_email(kPayload, envelope, kNoon);
  const auto header_end = message.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos);
  const std::string headers = message.substr(0, header_end + 2);
  const std::string body = message.substr(header_end + 4);
  EXPECT_NE(headers.find("Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n"), std::string::npos);
  EXPECT_NE(headers.find("From: alerts@example.com\r\n"), std::string::npos);
  EXPECT_NE(headers.find("To: a@example.com, b@example.com\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Subject: [FIRING:1] HighCpu (high)\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Message-ID: <k1@expense-ops>\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(body.find("1 firing, 1 resolved"), std::string::npos);
  EXPECT_NE(body.find("Summary: CPU at 97%\r\n"), std::string::npos);
  EXPECT_NE(body.find("Labels: alertname=HighCpu, host=db-1, severity=high\r\n"),
            std::string::npos);
  EXPECT_NE(body.find("Ended: 2026-12-01T11:40:00Z\r\n"), std::string::npos);
  EXPECT_NE(body.find("2 more alerts"), std::string::npos);
  // A description's line break cannot start a line of its own, let alone a header.
  EXPECT_NE(body.find("Description: line one Bcc: evil@example.com\r\n"), std::string::npos);
  EXPECT_EQ(message.find("\nBcc:"), std::string::npos);
  // Every line ends in CRLF.
  for (std::size_t at = message.find('\n'); at != std::string::npos;
       at = message.find('\n', at + 1)) {
    ASSERT_GT(at, 0u);
    EXPECT_EQ(message[at - 1], '\r') << at;
  }
  EXPECT_LT(body.find("Firing"), body.find("Resolved"));
}

TEST(Email, NonAsciiSubjectIsEncoded) {
  nlohmann::json payload = nlohmann::json::parse(kPayload);
  payload["groupLabels"]["alertname"] = std::string(40, 'x') + "Überlast";
  const std::string message = render_email(
      payload.dump(), EmailEnvelope{"a@example.com", {"b@example.com"}, "<k@x>"}, kNoon);
  const auto subject = message.find("Subject: =?UTF-8?B?");
  ASSERT_NE(subject, std::string::npos);
  const std::string line = message.substr(subject, message.find("\r\nMessage-ID") - subject);
  EXPECT_EQ(line.find('\xC3'), std::string::npos);               // no raw UTF-8 in the header
  EXPECT_NE(line.find("?=\r\n =?UTF-8?B?"), std::string::npos);  // folded into words of <= 75
}

TEST(DeliveryConfig, Options) {
  const WorkerConfig config =
      parse({"--secret", "oncall_url:https://hooks.example.com/T0/abc", "--command",
             "page: /usr/local/bin/page --to 'on call' -v", "--smtp-url", "smtp://mail:25",
             "--smtp-from", "alerts@example.com", "--delivery-concurrency", "32"});
  EXPECT_EQ(config.secrets.at("oncall_url"), "https://hooks.example.com/T0/abc");
  EXPECT_EQ(config.commands.at("page"),
            (std::vector<std::string>{"/usr/local/bin/page", "--to", "on call", "-v"}));
  EXPECT_EQ(config.smtp.url, "smtp://mail:25");
  EXPECT_EQ(config.delivery_concurrency, 32);
  EXPECT_TRUE(config.secret_on_command_line);
  EXPECT_FALSE(parse({}).secret_on_command_line);
}

TEST(DeliveryConfig, BadValuesNameTheOptionAndHideTheSecret) {
  EXPECT_NE(config_error({"--secret", "Bad Name:https://x/token123"}).find("--secret"),
            std::string::npos);
  EXPECT_EQ(config_error({"--secret", "Bad Name:https://x/token123"}).find("token123"),
            std::string::npos);
  EXPECT_NE(config_error({"--secret", "x:"}).find("must not be empty"), std::string::npos);
  EXPECT_NE(config_error({"--command", "page: page-oncall"}).find("absolute path"),
            std::string::npos);
  EXPECT_NE(config_error({"--command", "page:   "}).find("--command page"), std::string::npos);
  EXPECT_NE(config_error({"--command", "/bin/echo hi"}).find("--command must be"),
            std::string::npos);
  EXPECT_NE(config_error({"--smtp-url", "http://mail"}).find("--smtp-url"), std::string::npos);
  EXPECT_NE(config_error({"--smtp-url", "smtp://mail"}).find("--smtp-from"), std::string::npos);
  EXPECT_NE(config_error({"--smtp-password", "hunter2"}).find("--smtp-user"), std::string::npos);
  EXPECT_EQ(config_error({"--smtp-password", "hunter2"}).find("hunter2"), std::string::npos);
  EXPECT_NE(config_error({"--delivery-concurrency", "0"}).find("--delivery-concurrency"),
            std::string::npos);
  EXPECT_NE(config_error({"--delivery-timeout", "0"}).find("--delivery-timeout"),
            std::string::npos);
}
