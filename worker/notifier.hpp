// Delivering one notification of the outbox over its channel (issue 11, section 5):
//   - webhook: POST the payload, Content-Type: application/json, Idempotency-Key: the row's key;
//   - alertmanager: POST the alert list to the target's /api/v2/alerts;
//   - email: SMTP through libcurl, a plain-text message (worker/email.hpp);
//   - log: the payload as one JSON line of the worker's log;
//   - command: exec of a command the configuration names, no shell, the payload on stdin, under
//     the delivery timeout, in a process group of its own that a timeout kills whole.
// A target secret:NAME is resolved from the configuration (secret = NAME:VALUE) or from a
// systemd credential of that name. Nothing secret reaches an outcome's error.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "worker/config.hpp"
#include "worker/delivery_policy.hpp"

namespace expense_ops::worker {

// A claimed row of ops.notifications.
struct Notification {
  long long id = 0;
  std::string channel;
  std::string kind;
  std::string target;
  std::string idempotency_key;
  std::string payload;  // JSON text
  int attempts = 0;
};

// What a delivery may use, copied from the configuration.
struct DeliverySettings {
  std::map<std::string, std::string> secrets;
  std::string credentials_directory;  // $CREDENTIALS_DIRECTORY: systemd's LoadCredential=
  std::map<std::string, std::vector<std::string>> commands;
  SmtpSettings smtp;
  Seconds timeout{10};
};

DeliverySettings delivery_settings(const WorkerConfig& config);

// Delivers notifications, one at a time: each thread of the pool has its own, so that its
// libcurl handle keeps connections to a receiver alive between deliveries.
class Notifier {
 public:
  explicit Notifier(const std::atomic<bool>* stop);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // With the settings in force (a SIGHUP may replace them between deliveries).
  DeliveryOutcome deliver(const Notification& notification, const DeliverySettings& settings);

 private:
  struct Curl;
  DeliveryOutcome post(const Notification& notification, const std::string& url);
  DeliveryOutcome send_email(const Notification& notification);
  DeliveryOutcome run_command(const Notification& notification);
  DeliveryOutcome write_log_line(const Notification& notification);
  // The URL of a webhook or alertmanager target; nullopt when it names an unknown secret.
  std::optional<std::string> resolve_url(const std::string& target) const;

  const DeliverySettings* settings_ = nullptr;  // during deliver()
  const std::atomic<bool>* stop_;
  std::unique_ptr<Curl> curl_;
};

// Call once, before any thread delivers (libcurl's global state).
void init_notifier();

}  // namespace expense_ops::worker
