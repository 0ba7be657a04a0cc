#include "worker/email.hpp"

#include <boost/archive/iterators/base64_from_binary.hpp>
#include <boost/archive/iterators/transform_width.hpp>
#include <boost/tokenizer.hpp>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "worker/delivery_policy.hpp"

namespace expense_ops::worker {

namespace {

using Json = nlohmann::json;

// Bytes of UTF-8 per encoded word: 45 make 60 of base64, and with =?UTF-8?B?...?= the word stays
// within RFC 2047's 75 characters.
constexpr std::size_t kEncodedWordBytes = 45;
constexpr std::size_t kSubjectLimit = 200;

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (static_cast<unsigned char>(c) & 0x80) == 0; });
}

std::string base64(std::string_view bytes) {
  using namespace boost::archive::iterators;
  using Encoder = base64_from_binary<transform_width<std::string_view::const_iterator, 6, 8>>;
  std::string out(Encoder(bytes.begin()), Encoder(bytes.end()));
  out.append((3 - bytes.size() % 3) % 3, '=');
  return out;
}

// RFC 2047 encoded words for a header value that is not ASCII, split between characters.
std::string header_text(std::string_view text) {
  if (is_ascii(text)) {
    return std::string(text);
  }
  std::string out;
  while (!text.empty()) {
    std::size_t take = std::min(kEncodedWordBytes, text.size());
    while (take < text.size() && (static_cast<unsigned char>(text[take]) & 0xC0) == 0x80) {
      --take;  // do not split a character
    }
    if (!out.empty()) {
      out += "\r\n ";
    }
    out += "=?UTF-8?B?" + base64(text.substr(0, take)) + "?=";
    text.remove_prefix(take);
  }
  return out;
}

std::string string_or_empty(const Json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

// The labels as text, sorted by name (nlohmann's objects are), less those named in `leave_out`.
std::map<std::string, std::string> sorted_labels(const Json& labels,
                                                 const Json* leave_out = nullptr) {
  std::map<std::string, std::string> sorted;
  for (const auto& [name, value] : labels.items()) {
    if (leave_out == nullptr || !leave_out->contains(name)) {
      sorted[name] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  return sorted;
}

// "alertname=HighCpu, host=db-1": as a Go map's SortedPairs.
std::string label_pairs(const Json& labels) {
  std::string out;
  for (const auto& [name, value] : sorted_labels(labels)) {
    out += out.empty() ? "" : ", ";
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

// "HighCpu db-1": the values alone, as Alertmanager's subject joins them.
std::string sorted_values(const Json& labels, const Json* leave_out = nullptr) {
  std::string out;
  for (const auto& [name, value] : sorted_labels(labels, leave_out)) {
    out += out.empty() ? "" : " ";
    out += value;
  }
  return out;
}

// A line of the body: the value's control characters go, so a label cannot forge a line.
void append_field(std::string& body, const char* name, const std::string& value) {
  if (!value.empty()) {
    body += "  ";
    body += name;
    body += ": ";
    body += one_line_excerpt(value, 2000);
    body += "\r\n";
  }
}

void append_alerts(std::string& body, const Json& alerts, const char* status, const char* title) {
  bool any = false;
  for (const Json& alert : alerts) {
    if (string_or_empty(alert, "status") != status) {
      continue;
    }
    if (!any) {
      body += std::string("\r\n") + title + "\r\n" +
              std::string(std::string_view(title).size(), '-') + "\r\n";
      any = true;
    }
    const Json labels = alert.value("labels", Json::object());
    const Json annotations = alert.value("annotations", Json::object());
    body += one_line_excerpt(string_or_empty(labels, "alertname"), 200) + "\r\n";
    append_field(body, "Summary", string_or_empty(annotations, "summary"));
    append_field(body, "Description", string_or_empty(annotations, "description"));
    append_field(body, "Labels", label_pairs(labels));
    append_field(body, "Since", string_or_empty(alert, "startsAt"));
    if (std::string_view(status) == "resolved") {
      append_field(body, "Ended", string_or_empty(alert, "endsAt"));
    }
    append_field(body, "Source", string_or_empty(alert, "generatorURL"));
  }
}

std::string rfc5322_date(WallTime now) {
  const std::time_t seconds = WallClock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &utc);
  return text;
}

}  // namespace

std::vector<std::string> email_recipients(std::string_view target) {
  std::vector<std::string> recipients;
  const std::string text(target);
  const boost::char_separator<char> comma(",");
  for (std::string address : boost::tokenizer<boost::char_separator<char>>(text, comma)) {
    address.erase(0, address.find_first_not_of(" \t"));
    address.erase(address.find_last_not_of(" \t") + 1);
    const bool plain = std::none_of(address.begin(), address.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x21 || c == '<' || c == '>' || c == 0x7f;
    });
    if (address.empty() || !plain || address.find('@') == std::string::npos) {
      throw std::invalid_argument("the channel's target holds an address the worker refuses");
    }
    recipients.push_back(address);
  }
  if (recipients.empty()) {
    throw std::invalid_argument("the channel's target holds no address");
  }
  return recipients;
}

std::string email_subject(std::string_view webhook_payload) {
  const Json payload = Json::parse(webhook_payload);
  const Json alerts = payload.value("alerts", Json::array());
  long firing = 0;
  for (const Json& alert : alerts) {
    firing += string_or_empty(alert, "status") == "firing" ? 1 : 0;
  }
  const Json group = payload.value("groupLabels", Json::object());
  const Json common = payload.value("commonLabels", Json::object());
  std::string subject =
      firing > 0 ? "[FIRING:" + std::to_string(firing) + "] " : std::string("[RESOLVED] ");
  subject += sorted_values(group);
  const std::string rest = sorted_values(common, &group);
  if (!rest.empty()) {
    subject += " (" + rest + ")";
  }
  return one_line_excerpt(subject, kSubjectLimit);
}

std::string render_email(std::string_view webhook_payload, const EmailEnvelope& envelope,
                         WallTime now) {
  const Json payload = Json::parse(webhook_payload);
  const Json alerts = payload.value("alerts", Json::array());
  long firing = 0;
  long resolved = 0;
  for (const Json& alert : alerts) {
    (string_or_empty(alert, "status") == "firing" ? firing : resolved) += 1;
  }
  std::string to;
  for (const std::string& recipient : envelope.recipients) {
    to += (to.empty() ? "" : ", ") + recipient;
  }
  std::string message;
  message += "Date: " + rfc5322_date(now) + "\r\n";
  message += "From: " + envelope.from + "\r\n";
  message += "To: " + to + "\r\n";
  message += "Subject: " + header_text(email_subject(webhook_payload)) + "\r\n";
  message += "Message-ID: " + envelope.message_id + "\r\n";
  message += "MIME-Version: 1.0\r\n";
  message += "Content-Type: text/plain; charset=utf-8\r\n";
  message += "Content-Transfer-Encoding: 8bit\r\n";
  message += "Auto-Submitted: auto-generated\r\n";
  message += "\r\n";
  message += std::to_string(firing) + " firing, " + std::to_string(resolved) + " resolved, for " +
             one_line_excerpt(label_pairs(payload.value("groupLabels", Json::object())), 500) +
             " on channel " + one_line_excerpt(string_or_empty(payload, "receiver"), 200) + ".\r\n";
  append_alerts(message, alerts, "firing", "Firing");
  append_alerts(message, alerts, "resolved", "Resolved");
  const long truncated = payload.value("truncatedAlerts", 0L);
  if (truncated > 0) {
    message += "\r\n" + std::to_string(truncated) +
               " more alerts were left out of this message (the channel's max_alerts).\r\n";
  }
  const std::string external = string_or_empty(payload, "externalURL");
  if (!external.empty()) {
    message += "\r\nAlerts: " + one_line_excerpt(external, 500) + "/alerts\r\n";
  }
  message += "\r\n-- \r\nexpense_ops alerting (" +
             one_line_excerpt(string_or_empty(payload, "groupKey"), 500) + ")\r\n";
  return message;
}

}  // namespace expense_ops::worker
