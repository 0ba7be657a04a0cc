#include "worker/sql_errors.hpp"

#include <gtest/gtest.h>

#include "worker/log.hpp"

using expense_ops::worker::one_line;
using expense_ops::worker::sqlstate_of;

TEST(WorkerSqlErrors, TheSqlstateTheServerSentIsKept) {
  EXPECT_EQ(sqlstate_of(pqxx::undefined_function("ERROR: no such function", "SELECT f()", "42883")),
            "42883");
  EXPECT_EQ(sqlstate_of(pqxx::sql_error("ERROR: raised", "SELECT g()", "22X46")), "22X46");
}

TEST(WorkerSqlErrors, ClassesLibpqxxThrowsWithoutOneGetTheirSqlstate) {
  // As libpqxx 6.4 throws them: no SQLSTATE argument.
  EXPECT_EQ(sqlstate_of(pqxx::insufficient_privilege("ERROR: permission denied", "SELECT f()")),
            "42501");
  EXPECT_EQ(sqlstate_of(pqxx::deadlock_detected("ERROR: deadlock detected")), "40P01");
  EXPECT_EQ(sqlstate_of(pqxx::serialization_failure("ERROR: could not serialize")), "40001");
  EXPECT_EQ(sqlstate_of(pqxx::statement_completion_unknown("ERROR: unknown")), "40003");
  EXPECT_EQ(sqlstate_of(pqxx::transaction_rollback("ERROR: rolled back")), "40000");
}

TEST(WorkerSqlErrors, ClientSideFailuresHaveNone) {
  EXPECT_EQ(sqlstate_of(pqxx::broken_connection("server closed the connection")), "");
  EXPECT_EQ(sqlstate_of(pqxx::sql_error("no state")), "");
}

TEST(WorkerSqlErrors, OneLine) {
  EXPECT_EQ(one_line("ERROR:  permission denied\nLINE 1: SELECT\tf()\n  \n"),
            "ERROR:  permission denied LINE 1: SELECT f()");
  EXPECT_EQ(one_line(""), "");
}

using expense_ops::worker::classify_failure;
using expense_ops::worker::connection_error_for_log;
using expense_ops::worker::job_failure_fields;
using expense_ops::worker::primary_message;
using expense_ops::worker::SessionFailure;
using expense_ops::worker::sql_error_for_log;
using expense_ops::worker::log::format_fields;

namespace {

// What libpq reports for a write refused on a standby inside ops.refresh_sla_transitions():
// the primary message, then the statement that failed and where, kilobytes of it in real life.
const std::string kReadOnlyInsideFunction =
    "ERROR:  cannot execute UPDATE in a read-only transaction\n"
    "CONTEXT:  SQL statement \"UPDATE ops.tickets t SET sla_state = d.state FROM (SELECT ...) d "
    "WHERE t.ticket_id = d.ticket_id\"\n"
    "PL/pgSQL function ops.refresh_sla_transitions() line 12 at SQL statement\n";

}  // namespace

TEST(WorkerSqlErrors, PrimaryMessageOnly) {
  EXPECT_EQ(primary_message(kReadOnlyInsideFunction),
            "cannot execute UPDATE in a read-only transaction");
  EXPECT_EQ(primary_message("ERROR:  function ops.refresh_sla_transitions() does not exist\n"
                            "LINE 1: SELECT ops.refresh_sla_transitions()\n"
                            "               ^\n"
                            "HINT:  No function matches the given name and argument types.\n"),
            "function ops.refresh_sla_transitions() does not exist");
  EXPECT_EQ(primary_message("FATAL:  terminating connection due to administrator command\n"),
            "terminating connection due to administrator command");
  EXPECT_EQ(primary_message("Lost connection to the database server."),
            "Lost connection to the database server.");
  EXPECT_EQ(primary_message(""), "");
}

TEST(WorkerSqlErrors, JobFailureLinesNameTheFunctionAndCarryNoSql) {
  EXPECT_EQ(
      format_fields("sla_refresh_failed", job_failure_fields("ops.refresh_sla_transitions", "25006",
                                                             kReadOnlyInsideFunction)),
      R"("event":"sla_refresh_failed","function":"ops.refresh_sla_transitions",)"
      R"("sqlstate":"25006","error":"cannot execute UPDATE in a read-only transaction")");
  EXPECT_EQ(format_fields("connection_lost",
                          job_failure_fields("ops.record_worker_heartbeat", "",
                                             "server closed the connection unexpectedly\n\tThis "
                                             "probably means the server terminated abnormally\n")),
            R"("event":"connection_lost","function":"ops.record_worker_heartbeat",)"
            R"("error":"server closed the connection unexpectedly")");
}

TEST(WorkerSqlErrors, LoggedErrorsAreRedacted) {
  EXPECT_EQ(sql_error_for_log("ERROR:  bad postgresql://u:hunter2@db/x\nCONTEXT: x"),
            "bad postgresql://u:***@db/x");
  EXPECT_EQ(connection_error_for_log("invalid URI: \"postgresql://u:hunter2@[db/x\"\n"
                                     "also password=hunter2\n"),
            "invalid URI: \"postgresql://u:***@[db/x\" also password=***");
}

TEST(WorkerSqlErrors, ReadOnlyAndLostSessionsAreReconnected) {
  EXPECT_EQ(classify_failure("25006", true), SessionFailure::kReadOnly);
  EXPECT_EQ(classify_failure("08006", true), SessionFailure::kConnectionLost);
  EXPECT_EQ(classify_failure("57P01", true), SessionFailure::kConnectionLost);
  EXPECT_EQ(classify_failure("25006", false), SessionFailure::kConnectionLost);
  EXPECT_EQ(classify_failure("", false), SessionFailure::kConnectionLost);
  EXPECT_EQ(classify_failure("42501", true), SessionFailure::kStatementOnly);
  EXPECT_EQ(classify_failure("", true), SessionFailure::kStatementOnly);
}
