#include "worker/connection_policy.hpp"

#include <gtest/gtest.h>

#include <string>

using expense_ops::worker::DsnSummary;
using expense_ops::worker::is_connection_option_error;
using expense_ops::worker::refusal_for;
using expense_ops::worker::RepeatedWarning;
using expense_ops::worker::Seconds;
using expense_ops::worker::ServerState;
using expense_ops::worker::SteadyTime;
using Level = expense_ops::worker::log::Level;

// One host down, the next one's port mistyped: libpq reports both, one message after the other.
constexpr const char* kOneHostDownTheNextMistyped =
    "connection to server at \"db1\" (10.0.0.1), port 5432 failed: Connection refused\n"
    "\tIs the server running on that host and accepting TCP/IP connections?\n"
    "invalid integer value \"54x2\" for connection option \"port\"\n";

TEST(WorkerConnectionPolicy, OptionValueErrorsAreConfigurationErrors) {
  // As libpq 15 words them.
  for (const char* message : {
           "invalid sslmode value: \"bogus\"\n",
           "invalid target_session_attrs value: \"primary-ish\"\n",
           "could not match 3 port numbers to 2 hosts\n",
           "could not match 2 host names to 3 hostaddr values\n",
           "invalid integer value \"abc\" for connection option \"port\"\n",
           "invalid port number: \"99999\"\n",
           "invalid SSL protocol version range\n",
           "invalid value \"TLSv9\" for minimum SSL protocol version\n",
           "sslmode value \"require\" invalid when SSL support is not compiled in\n",
           kOneHostDownTheNextMistyped,
       }) {
    EXPECT_TRUE(is_connection_option_error(message)) << message;
  }
}

TEST(WorkerConnectionPolicy, OutagesAndRefusalsAreRetried) {
  for (const char* message : {
           "connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: No such "
           "file or directory\n\tIs the server running locally and accepting connections on that "
           "socket?\n",
           "could not translate host name \"db\" to address: Temporary failure in name "
           "resolution\n",
           "connection to server at \"db\" (10.0.0.1), port 5432 failed: FATAL:  password "
           "authentication failed for user \"worker\"\n",
           "connection to server at \"db\" (10.0.0.1), port 5432 failed: FATAL:  database "
           "\"expense_ops\" does not exist\n",
           "connection to server at \"db\" (10.0.0.1), port 5432 failed: session is read-only\n",
           "connection to server at \"db\" (10.0.0.1), port 5432 failed: FATAL:  invalid value "
           "for parameter \"TimeZone\": \"x\"\n",
           "",
       }) {
    EXPECT_FALSE(is_connection_option_error(message)) << message;
  }
}

TEST(WorkerConnectionPolicy, APrimaryIsUsed) {
  EXPECT_FALSE(refusal_for(ServerState{false, false}, DsnSummary{}));
}

TEST(WorkerConnectionPolicy, AStandbyIsRefusedWithAHint) {
  const auto single = refusal_for(ServerState{true, true}, DsnSummary{});
  ASSERT_TRUE(single);
  EXPECT_STREQ(single->event, "standby_refused");
  EXPECT_NE(single->hint.find("point the DSN at the primary"), std::string::npos);
  EXPECT_NE(single->hint.find("target_session_attrs=read-write"), std::string::npos);

  const auto multi = refusal_for(ServerState{true, true}, DsnSummary{2, "", false});
  ASSERT_TRUE(multi);
  EXPECT_NE(multi->hint.find("the DSN lists 2 hosts: add target_session_attrs=read-write"),
            std::string::npos)
      << multi->hint;

  const auto any = refusal_for(ServerState{true, true}, DsnSummary{2, "any", false});
  ASSERT_TRUE(any);
  EXPECT_NE(any->hint.find("target_session_attrs=any: set target_session_attrs=read-write"),
            std::string::npos)
      << any->hint;
}

TEST(WorkerConnectionPolicy, AReadOnlyPrimaryIsRefused) {
  const auto refusal = refusal_for(ServerState{false, true}, DsnSummary{});
  ASSERT_TRUE(refusal);
  EXPECT_STREQ(refusal->event, "read_only_refused");
  EXPECT_NE(refusal->hint.find("default_transaction_read_only"), std::string::npos);
}

TEST(WorkerConnectionPolicy, ARepeatedWarningIsLoudOnceThenNowAndThen) {
  RepeatedWarning warning(Seconds(600));
  const SteadyTime start{};
  const auto at = [&](double seconds) {
    return start + std::chrono::duration_cast<SteadyTime::duration>(Seconds(seconds));
  };
  EXPECT_EQ(warning.occurred(at(1000)), Level::kWarn);
  EXPECT_EQ(warning.occurrences(), 1);
  // Retries with a 30 s backoff: 19 quiet ones, then a reminder after ten minutes.
  for (int retry = 1; retry < 20; ++retry) {
    EXPECT_EQ(warning.occurred(at(1000 + 30 * retry)), Level::kDebug) << retry;
  }
  EXPECT_EQ(warning.occurred(at(1600)), Level::kWarn);
  EXPECT_EQ(warning.occurred(at(1630)), Level::kDebug);
  EXPECT_EQ(warning.occurrences(), 22);

  // Once the condition clears, its return is news.
  warning.clear();
  EXPECT_EQ(warning.occurrences(), 0);
  EXPECT_EQ(warning.occurred(at(1660)), Level::kWarn);
  EXPECT_EQ(warning.occurred(at(1690)), Level::kDebug);
}

TEST(WorkerConnectionPolicy, TheFirstWarningDoesNotDependOnTheClock) {
  // The steady clock's epoch is arbitrary: a first occurrence near it is still news.
  RepeatedWarning warning(Seconds(600));
  EXPECT_EQ(warning.occurred(SteadyTime{}), Level::kWarn);
  EXPECT_EQ(warning.occurred(SteadyTime{} + std::chrono::seconds(1)), Level::kDebug);
}
