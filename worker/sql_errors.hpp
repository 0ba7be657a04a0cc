// Turning libpqxx's exceptions into log fields.
#pragma once

#include <pqxx/except>
#include <string>

namespace expense_ops::worker {

// libpq error texts span lines; a log line must not.
std::string one_line(std::string text);

// The SQLSTATE of a failed statement, or "" when there is none (a client-side failure).
// libpqxx 6.4 throws a few classes without it: insufficient_privilege (42501), and the
// transaction rollbacks (40000, 40001, 40003, 40P01), which there are not even sql_errors.
// For those it is recovered from the class, so that every failure logs its SQLSTATE.
std::string sqlstate_of(const pqxx::failure& error);

}  // namespace expense_ops::worker
