#include "worker/connection_policy.hpp"

#include <regex>

namespace expense_ops::worker {

namespace {

constexpr const char* kReadWriteHint =
    "target_session_attrs=read-write, which makes libpq skip standbys and connect to the "
    "primary";

}  // namespace

bool is_connection_option_error(std::string_view libpq_error) {
  // libpq 15's checks of option values, made before it opens any socket (connectOptions2) or
  // per host (the port). Each message starts a line: with several hosts libpq reports one
  // failure per line, and one bad port is as fatal as a bad sslmode.
  static const std::regex kOptionErrors(
      "(^|\n)("
      "could not match [0-9]+ (host names|port numbers) to [0-9]+ (hostaddr values|hosts)"
      "|invalid [a-z_]+ value: \""
      "|invalid integer value \".*\" for connection option \""
      "|invalid port number: \""
      "|invalid SSL protocol version range"
      "|invalid value \".*\" for (minimum|maximum) SSL protocol version"
      "|(sslmode|gssencmode) value \".*\" invalid when"
      ")");
  return std::regex_search(libpq_error.begin(), libpq_error.end(), kOptionErrors);
}

std::optional<Refusal> refusal_for(const ServerState& server, const DsnSummary& dsn) {
  if (server.in_recovery) {
    std::string hint =
        "this server is a hot standby (pg_is_in_recovery() is true) and every job writes; ";
    if (!dsn.target_session_attrs.empty()) {
      hint += "the DSN has target_session_attrs=" + dsn.target_session_attrs + ": set ";
      hint += kReadWriteHint;
    } else if (dsn.host_count > 1) {
      hint += "the DSN lists " + std::to_string(dsn.host_count) + " hosts: add ";
      hint += kReadWriteHint;
    } else {
      hint += "point the DSN at the primary, or list every server with ";
      hint += kReadWriteHint;
    }
    hint += ". Retrying, in case of a failover.";
    return Refusal{"standby_refused", std::move(hint)};
  }
  if (server.transaction_read_only) {
    return Refusal{"read_only_refused",
                   "the server is a primary, but default_transaction_read_only is on for the "
                   "worker's role, its database or the server, and every job writes. Retrying."};
  }
  return std::nullopt;
}

}  // namespace expense_ops::worker
