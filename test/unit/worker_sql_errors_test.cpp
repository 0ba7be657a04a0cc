#include "worker/sql_errors.hpp"

#include <gtest/gtest.h>

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
