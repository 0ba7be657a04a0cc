#include "worker/check_probes.hpp"

#include "worker/curl_callbacks.hpp"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

namespace expense_ops::worker {

namespace {

constexpr std::size_t kMaxBody = 1 << 20;  // what an http check reads of a body
constexpr const char* kLoginRoute = "/rpc/login";

using CurlHandle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using CurlHeaders = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;
using PgConnection = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

long timeout_ms(const CheckDefinition& check) {
  return std::max(1L, std::lround(check.timeout.count() * 1000));
}

struct HttpAnswer {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  core::json::Object timings;
  std::string error;
};

// One transfer. `connect_only` for tcp checks.
HttpAnswer transfer(const std::string& url, const std::string& method,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    const std::optional<std::string>& body, long timeout, bool connect_only,
                    const std::atomic<bool>* stop) {
  HttpAnswer answer;
  CurlHandle curl(curl_easy_init(), curl_easy_cleanup);
  CurlHeaders header_list(nullptr, curl_slist_free_all);
  if (!curl) {
    answer.code = CURLE_FAILED_INIT;
    answer.error = "libcurl could not start a transfer";
    return answer;
  }
  char error[CURL_ERROR_SIZE] = "";
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, abort_when_set);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(stop));
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "expense-ops-worker");
  if (connect_only) {
    curl_easy_setopt(handle, CURLOPT_CONNECT_ONLY, 1L);
  } else {
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, keep_up_to<kMaxBody>);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &answer.body);
    if (method == "HEAD") {
      curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    } else if (method != "GET") {
      curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    if (body) {
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body->c_str());
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
    }
    for (const auto& [name, value] : headers) {
      std::string line = name;
      line += ": ";
      line += value;
      // The list's head after an append; NULL (out of memory) leaves the list as it was.
      curl_slist* grown = curl_slist_append(header_list.get(), line.c_str());
      curl_slist* previous = header_list.release();
      header_list.reset(grown != nullptr ? grown : previous);
    }
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list.get());
  }
  answer.code = curl_easy_perform(handle);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &answer.status);
  const std::pair<const char*, CURLINFO> phases[] = {
      {"dns_ms", CURLINFO_NAMELOOKUP_TIME_T}, {"connect_ms", CURLINFO_CONNECT_TIME_T},
      {"tls_ms", CURLINFO_APPCONNECT_TIME_T}, {"first_byte_ms", CURLINFO_STARTTRANSFER_TIME_T},
      {"total_ms", CURLINFO_TOTAL_TIME_T},
  };
  for (const auto& [name, info] : phases) {
    curl_off_t micros = 0;
    if (curl_easy_getinfo(handle, info, &micros) == CURLE_OK && micros > 0) {
      answer.timings.emplace_back(name, static_cast<double>(micros) / 1000.0);
    }
  }
  if (answer.code != CURLE_OK) {
    answer.error = error[0] != '\0' ? error : curl_easy_strerror(answer.code);
  }
  return answer;
}

// Why a transfer failed, for check_results.detail.
std::string failure_detail(const HttpAnswer& answer, const CheckDefinition& check) {
  return short_detail(answer.code == CURLE_OPERATION_TIMEDOUT
                          ? "timed out after " + std::to_string(timeout_ms(check)) + " ms"
                          : answer.error);
}

CheckResult unknown(const CheckDefinition& check, WallTime started, const std::string& reason) {
  CheckResult result;
  result.check_id = check.id;
  result.started_at = started;
  result.outcome = "unknown";
  result.detail = short_detail(reason);
  return result;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string login_body(const Credential& credential) {
  return nlohmann::json{{"email", credential.email}, {"password", credential.password}}.dump();
}

CheckResult run_http(const CheckDefinition& check, const ProbeContext& context) {
  const WallTime started = WallClock::now();
  const auto steady_start = std::chrono::steady_clock::now();
  const std::string url = check_url(check.target, context.base_url);
  auto headers = check.headers;
  std::optional<std::string> body = check.body;
  if (check.credentials) {
    const auto credential = context.credentials.find(*check.credentials);
    if (credential == context.credentials.end()) {
      return unknown(check, started,
                     "credential " + *check.credentials + " is not in the worker's configuration");
    }
    const std::string path = url.substr(0, url.find('?'));
    if (ends_with(path, kLoginRoute) && !body) {
      body = login_body(credential->second);
      headers.emplace_back("Content-Type", "application/json");
    } else {
      // Log in first; the check's own request carries the token.
      const HttpAnswer login =
          transfer(context.base_url + kLoginRoute, "POST", {{"Content-Type", "application/json"}},
                   login_body(credential->second), timeout_ms(check), false, context.stop);
      const auto parsed = nlohmann::json::parse(login.body, nullptr, false);
      if (login.code != CURLE_OK || login.status != 200 || !parsed.is_object() ||
          !parsed.contains("token") || !parsed["token"].is_string()) {
        CheckResult result;
        result.check_id = check.id;
        result.started_at = started;
        result.duration_ms = milliseconds_since(steady_start);
        result.outcome = "down";
        result.detail = short_detail(
            "the monitoring account could not log in: " +
            (login.code != CURLE_OK ? login.error : "status " + std::to_string(login.status)));
        return result;
      }
      headers.emplace_back("Authorization", "Bearer " + parsed["token"].get<std::string>());
    }
  }
  const HttpAnswer answer =
      transfer(url, check.method, headers, body, timeout_ms(check), false, context.stop);
  CheckResult result;
  result.check_id = check.id;
  result.started_at = started;
  result.duration_ms = milliseconds_since(steady_start);
  result.timings = answer.timings;
  if (answer.code != CURLE_OK) {
    result.outcome = "down";
    result.detail = failure_detail(answer, check);
    return result;
  }
  result.status = static_cast<int>(answer.status);
  auto [outcome, detail] = judge_http(check, answer.status, answer.body);
  result.outcome = outcome;
  result.detail = short_detail(detail);
  return result;
}

CheckResult run_tcp(const CheckDefinition& check, const ProbeContext& context) {
  const WallTime started = WallClock::now();
  const auto steady_start = std::chrono::steady_clock::now();
  const HttpAnswer answer = transfer("http://" + check.target, "GET", {}, std::nullopt,
                                     timeout_ms(check), true, context.stop);
  CheckResult result;
  result.check_id = check.id;
  result.started_at = started;
  result.duration_ms = milliseconds_since(steady_start);
  result.timings = answer.timings;
  result.outcome = answer.code == CURLE_OK ? "up" : "down";
  if (answer.code != CURLE_OK) {
    result.detail = failure_detail(answer, check);
  }
  return result;
}

// Connects with `dsn` (a conninfo string or URI), bounded by the check's timeout, with the
// statement timeout set for the session.
PgConnection connect_bounded(const std::string& dsn, const CheckDefinition& check) {
  const std::string seconds =
      std::to_string(std::max(1L, std::lround(std::ceil(check.timeout.count()))));
  const std::string options = "-c statement_timeout=" + std::to_string(timeout_ms(check));
  const char* keywords[] = {"dbname", "connect_timeout", "options", "application_name", nullptr};
  const char* values[] = {dsn.c_str(), seconds.c_str(), options.c_str(), "expense-ops-worker check",
                          nullptr};
  return PgConnection(PQconnectdbParams(keywords, values, 1), PQfinish);
}

// libpq's message, first line only: it names hosts and users, never a password.
std::string pq_message(const char* message) {
  std::string text = message != nullptr ? message : "";
  return short_detail(text.substr(0, text.find('\n')));
}

// Runs `query` and waits for its one result, checking `stop` every 100 ms: a stop cancels the
// statement rather than waiting for the check's timeout. NULL when the query could not be sent.
PgResult execute_stoppable(PGconn* connection, const std::string& query,
                           const std::atomic<bool>* stop) {
  if (PQsendQuery(connection, query.c_str()) == 0) {
    return PgResult(nullptr, PQclear);
  }
  bool cancelled = false;
  while (PQisBusy(connection) != 0) {
    pollfd socket{PQsocket(connection), POLLIN, 0};
    poll(&socket, 1, 100);
    if (PQconsumeInput(connection) == 0) {
      break;
    }
    if (!cancelled && stop != nullptr && stop->load()) {
      cancelled = true;
      if (PGcancel* cancel = PQgetCancel(connection)) {
        char error[256];
        PQcancel(cancel, error, sizeof error);
        PQfreeCancel(cancel);
      }
    }
  }
  PgResult first(PQgetResult(connection), PQclear);
  while (PGresult* rest = PQgetResult(connection)) {
    PQclear(rest);
  }
  return first;
}

CheckResult run_query(const CheckDefinition& check, const std::string& dsn,
                      const std::string& query, bool must_be_true, const std::atomic<bool>* stop) {
  const WallTime started = WallClock::now();
  const auto steady_start = std::chrono::steady_clock::now();
  CheckResult result;
  result.check_id = check.id;
  result.started_at = started;
  PgConnection connection = connect_bounded(dsn, check);
  if (!connection || PQstatus(connection.get()) != CONNECTION_OK) {
    result.duration_ms = milliseconds_since(steady_start);
    result.outcome = "down";
    result.detail = connection ? pq_message(PQerrorMessage(connection.get())) : "out of memory";
    return result;
  }
  const double connected_ms = milliseconds_since(steady_start);
  PgResult answer = execute_stoppable(connection.get(), query, stop);
  result.duration_ms = milliseconds_since(steady_start);
  result.timings = {{"connect_ms", connected_ms}, {"total_ms", *result.duration_ms}};
  if (!answer || PQresultStatus(answer.get()) != PGRES_TUPLES_OK) {
    result.outcome = "down";
    result.detail = pq_message(
        answer != nullptr && PQresultErrorField(answer.get(), PG_DIAG_MESSAGE_PRIMARY) != nullptr
            // the primary message, without libpq's "ERROR:  " prefix
            ? PQresultErrorField(answer.get(), PG_DIAG_MESSAGE_PRIMARY)
            : PQerrorMessage(connection.get()));
    return result;
  }
  if (must_be_true) {
    const bool one_true = PQntuples(answer.get()) == 1 && PQnfields(answer.get()) == 1 &&
                          PQftype(answer.get(), 0) == 16 /* boolean */ &&
                          !PQgetisnull(answer.get(), 0, 0) &&
                          std::string(PQgetvalue(answer.get(), 0, 0)) == "t";
    if (!one_true) {
      result.outcome = "down";
      result.detail = "the probe did not return one row holding true";
      return result;
    }
  }
  result.outcome = "up";
  return result;
}

}  // namespace

void init_probes() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

CheckResult run_check(const CheckDefinition& check, const ProbeContext& context) {
  if (check.kind == "http") {
    return run_http(check, context);
  }
  if (check.kind == "tcp") {
    return run_tcp(check, context);
  }
  if (check.kind == "db") {
    const auto dsn = context.connections.find(check.target);
    if (dsn == context.connections.end()) {
      return unknown(check, WallClock::now(),
                     "connection " + check.target + " is not in the worker's configuration");
    }
    return run_query(check, dsn->second, "SELECT 1", false, context.stop);
  }
  if (check.kind == "sql") {
    return run_query(check, context.worker_dsn, check.target, true, context.stop);
  }
  return unknown(check, WallClock::now(), "unknown kind " + check.kind);
}

}  // namespace expense_ops::worker
