#include "worker/notifier.hpp"

#include <curl/curl.h>

#include <cstring>
#include <cstdlib>
#include <fstream>

#include "worker/curl_callbacks.hpp"
#include "worker/email.hpp"
#include "worker/log.hpp"
#include "worker/subprocess.hpp"

namespace expense_ops::worker {

namespace {

using CurlHeaders = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

// What an error may quote of a receiver's answer.
constexpr std::size_t kKeptAnswerBytes = 4096;
constexpr std::string_view kSecretPrefix = "secret:";
constexpr const char* kCommandPath = "PATH=/usr/local/bin:/usr/bin:/bin";

std::size_t keep_retry_after(char* data, std::size_t size, std::size_t count, void* target) {
  const std::size_t bytes = size * count;
  const std::string_view line(data, bytes);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string lowered(line.substr(0, kName.size()));
    for (char& c : lowered) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lowered == kName) {
      *static_cast<std::string*>(target) = std::string(line.substr(kName.size()));
    }
  }
  return bytes;
}

struct Upload {
  std::string_view data;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t count, void* source) {
  auto& upload = *static_cast<Upload*>(source);
  const std::size_t bytes = std::min(size * count, upload.data.size());
  std::memcpy(buffer, upload.data.data(), bytes);
  upload.data.remove_prefix(bytes);
  return bytes;
}

// `text` with the secret URL, and its path and query (what error pages echo), replaced by the
// secret's name.
std::string without_secret(std::string text, const std::string& url, const std::string& name) {
  std::vector<std::string> secrets = {url};
  const auto scheme = url.find("://");
  const auto path = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  if (path != std::string::npos && url.size() - path > 1) {
    secrets.push_back(url.substr(path));
    const auto query = url.find('?', path);
    if (query != std::string::npos && url.size() - query > 1) {
      secrets.push_back(url.substr(query + 1));
    }
  }
  for (const std::string& secret : secrets) {
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), name);
      at += name.size();
    }
  }
  return text;
}

}  // namespace

struct Notifier::Curl {
  CURL* handle = curl_easy_init();
  ~Curl() { curl_easy_cleanup(handle); }
};

void init_notifier() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

DeliverySettings delivery_settings(const WorkerConfig& config) {
  DeliverySettings settings;
  settings.secrets = config.secrets;
  if (const char* directory = std::getenv("CREDENTIALS_DIRECTORY")) {
    settings.credentials_directory = directory;
  }
  settings.commands = config.commands;
  settings.smtp = config.smtp;
  // systemd's LoadCredential=smtp-password:/etc/expense-ops/smtp-password, read once.
  if (settings.smtp.password.empty() && !settings.credentials_directory.empty()) {
    std::ifstream file(settings.credentials_directory + "/smtp-password");
    std::getline(file, settings.smtp.password);
  }
  settings.timeout = config.delivery_timeout;
  return settings;
}

Notifier::Notifier(const std::atomic<bool>* stop) : stop_(stop), curl_(std::make_unique<Curl>()) {
  if (curl_->handle == nullptr) {
    throw std::runtime_error("libcurl could not make a handle");
  }
}

Notifier::~Notifier() = default;

DeliveryOutcome Notifier::deliver(const Notification& notification,
                                  const DeliverySettings& settings) {
  settings_ = &settings;
  if (notification.kind == "log") {
    return write_log_line(notification);
  }
  if (notification.kind == "command") {
    return run_command(notification);
  }
  if (notification.kind == "email") {
    return send_email(notification);
  }
  if (notification.kind == "webhook" || notification.kind == "alertmanager") {
    const std::optional<std::string> url = resolve_url(notification.target);
    if (!url) {
      // Another worker, or this one after a reload, may hold it: retried, not dropped.
      return DeliveryOutcome::retry("the worker's configuration has no " + notification.target +
                                    " (secret = NAME:URL, or a systemd credential)");
    }
    DeliveryOutcome outcome = post(
        notification, notification.kind == "alertmanager" ? alertmanager_alerts_url(*url) : *url);
    if (*url != notification.target) {
      // A receiver's error page may echo the path it was asked for, token and all: the error
      // written to the outbox and the log names the secret, never its value.
      outcome.error = without_secret(outcome.error, *url, notification.target);
    }
    return outcome;
  }
  return DeliveryOutcome::give_up("this worker cannot deliver a " + notification.kind +
                                  " channel's notification");
}

std::optional<std::string> Notifier::resolve_url(const std::string& target) const {
  if (target.compare(0, kSecretPrefix.size(), kSecretPrefix) != 0) {
    return target;
  }
  const std::string name = target.substr(kSecretPrefix.size());
  if (const auto found = settings_->secrets.find(name); found != settings_->secrets.end()) {
    return found->second;
  }
  if (!settings_->credentials_directory.empty() && name.find('/') == std::string::npos) {
    std::ifstream file(settings_->credentials_directory + "/" + name);
    std::string value;
    if (file && std::getline(file, value) && !value.empty()) {
      return value;
    }
  }
  return std::nullopt;
}

DeliveryOutcome Notifier::post(const Notification& notification, const std::string& url) {
  CURL* handle = curl_->handle;
  // Reset keeps the connection cache: the next POST to the same receiver reuses the connection.
  curl_easy_reset(handle);
  std::string answer;
  std::string retry_after;
  char error[CURL_ERROR_SIZE] = {};
  const long timeout = static_cast<long>(settings_->timeout.count() * 1000);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "expense-ops-worker");
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, notification.payload.c_str());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(notification.payload.size()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, keep_up_to<kKeptAnswerBytes>);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, keep_retry_after);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &retry_after);
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, abort_when_set);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(stop_));
  CurlHeaders headers(nullptr, curl_slist_free_all);
  const std::string key = "Idempotency-Key: " + notification.idempotency_key;
  for (const char* header : {"Content-Type: application/json", "Expect:", key.c_str()}) {
    headers.reset(curl_slist_append(headers.release(), header));
  }
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    // libcurl's messages name the host at most, never the path or the query of a secret URL.
    return outcome_of_transfer_error(code, error);
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  return outcome_of_http(status, retry_after, answer, WallClock::now());
}

DeliveryOutcome Notifier::send_email(const Notification& notification) {
  const SmtpSettings& smtp = settings_->smtp;
  if (smtp.url.empty() || smtp.from.empty()) {
    return DeliveryOutcome::retry("the worker's configuration has no smtp-url and smtp-from");
  }
  EmailEnvelope envelope;
  envelope.from = smtp.from;
  envelope.message_id = "<" + notification.idempotency_key + "@expense-ops>";
  std::string message;
  try {
    envelope.recipients = email_recipients(notification.target);
    message = render_email(notification.payload, envelope, WallClock::now());
  } catch (const std::exception& error) {
    return DeliveryOutcome::give_up(std::string("the message cannot be made: ") + error.what());
  }
  CURL* handle = curl_->handle;
  curl_easy_reset(handle);
  char error[CURL_ERROR_SIZE] = {};
  const long timeout = static_cast<long>(settings_->timeout.count() * 1000);
  Upload upload{message};
  CurlHeaders recipients(nullptr, curl_slist_free_all);
  for (const std::string& recipient : envelope.recipients) {
    recipients.reset(curl_slist_append(recipients.release(), ("<" + recipient + ">").c_str()));
  }
  const std::string from = "<" + smtp.from + ">";
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(handle, CURLOPT_URL, smtp.url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // A password never crosses the network in clear: with one, STARTTLS is required.
  curl_easy_setopt(handle, CURLOPT_USE_SSL,
                   smtp.password.empty() ? static_cast<long>(CURLUSESSL_TRY)
                                         : static_cast<long>(CURLUSESSL_ALL));
  if (!smtp.user.empty()) {
    curl_easy_setopt(handle, CURLOPT_USERNAME, smtp.user.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, smtp.password.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(handle, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(handle, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(handle, CURLOPT_READDATA, &upload);
  curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, abort_when_set);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(stop_));
  const CURLcode code = curl_easy_perform(handle);
  long reply = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &reply);
  return outcome_of_smtp(code, reply, error);
}

DeliveryOutcome Notifier::write_log_line(const Notification& notification) {
  log::write_with_document(log::Level::kInfo, "notification",
                           {{"channel", notification.channel},
                            {"notification_id", static_cast<long long>(notification.id)},
                            {"idempotency_key", notification.idempotency_key},
                            {"attempt", notification.attempts}},
                           "payload", notification.payload);
  return DeliveryOutcome::delivered();
}

DeliveryOutcome Notifier::run_command(const Notification& notification) {
  const auto found = settings_->commands.find(notification.target);
  if (found == settings_->commands.end()) {
    return DeliveryOutcome::retry("the worker's configuration has no command " +
                                  notification.target);
  }
  SubprocessSpec command;
  command.argv = found->second;
  command.environment = {kCommandPath,
                         "LANG=C.UTF-8",
                         "EXPENSE_OPS_CHANNEL=" + notification.channel,
                         "EXPENSE_OPS_NOTIFICATION_ID=" + std::to_string(notification.id),
                         "EXPENSE_OPS_IDEMPOTENCY_KEY=" + notification.idempotency_key,
                         "EXPENSE_OPS_ATTEMPT=" + std::to_string(notification.attempts)};
  command.input = notification.payload;
  command.timeout = settings_->timeout;
  command.stop = stop_;
  command.kept_output_bytes = kKeptAnswerBytes;
  const SubprocessResult run = run_subprocess(command);
  if (!run.started) {
    return DeliveryOutcome::retry("the command " + notification.target +
                                  " cannot be started: " + run.error);
  }
  if (!run.error.empty()) {
    return DeliveryOutcome::retry("the worker lost track of the command");
  }
  // A stop gives the notification back, as a timeout does.
  return outcome_of_command(run.wait_status, run.timed_out || run.stopped, run.output);
}

}  // namespace expense_ops::worker
