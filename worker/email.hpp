// The email channel's message (issue 11, section 5): a plain-text mail rendered from the
// webhook payload the outbox holds, whose annotations the alert rules' templates already
// rendered (ops.render_template). Subject and body follow Alertmanager's default email
// template, in text: "[FIRING:2] HighCpu (host=db-1)", then each alert with its summary,
// description, labels and times.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "worker/check_schedule.hpp"

namespace expense_ops::worker {

struct EmailEnvelope {
  std::string from;                     // smtp-from
  std::vector<std::string> recipients;  // the channel's target
  std::string message_id;               // <idempotency-key@expense-ops>: a repeat is recognisable
};

// The addresses of an email channel's target, "a@example.com, b@example.com". The database
// checked its form (ops.validate_channel); an address with a control character, '<' or '>' is
// refused here all the same, since it goes into the SMTP envelope. Throws std::invalid_argument.
std::vector<std::string> email_recipients(std::string_view target);

// The subject: "[FIRING:n] <group labels' values>" or "[RESOLVED] ...". Throws what nlohmann
// throws for a payload that is not the webhook payload.
std::string email_subject(std::string_view webhook_payload);

// The whole message: headers (Date at `now`, From, To, Subject encoded for non-ASCII,
// Message-ID, MIME text/plain UTF-8) and the body, with CRLF line ends.
std::string render_email(std::string_view webhook_payload, const EmailEnvelope& envelope,
                         WallTime now);

}  // namespace expense_ops::worker
