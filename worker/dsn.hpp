// The worker's connection string, read the way libpq reads it (PQconninfoParse), once at start:
// a string libpq cannot parse is a configuration error, not a reason to retry forever.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace expense_ops::worker {

// What the worker needs to know about its connection string beyond passing it to libpq.
struct DsnSummary {
  std::size_t host_count = 1;        // host=db1,db2 or postgresql://db1,db2/... lists several
  std::string target_session_attrs;  // as written; "" when the string leaves it to libpq
  bool has_password = false;         // a secret option (password, sslpassword) is set
};

// libpq cannot parse the connection string. The message is libpq's, with every quoted fragment
// of the string withheld, so it is safe to print.
class InvalidDsn : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses `dsn` with libpq (keyword=value or postgresql:// URI). Throws InvalidDsn.
DsnSummary summarize_dsn(const std::string& dsn);

// True for the names of libpq's connection options (host, port, sslmode...), which its messages
// quote and which are safe to show.
bool is_connection_keyword(std::string_view word);

// A libpq message about the connection string or its options, fit to print: the quoted
// fragments withheld unless they are option names, secrets redacted, on one line.
std::string describe_dsn_error(std::string_view libpq_message);

}  // namespace expense_ops::worker
