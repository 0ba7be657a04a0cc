#include "worker/dsn.hpp"

#include <gtest/gtest.h>

#include <string>

using expense_ops::worker::describe_dsn_error;
using expense_ops::worker::DsnSummary;
using expense_ops::worker::InvalidDsn;
using expense_ops::worker::is_connection_keyword;
using expense_ops::worker::summarize_dsn;

namespace {

std::string parse_error(const std::string& dsn) {
  try {
    summarize_dsn(dsn);
  } catch (const InvalidDsn& error) {
    return error.what();
  }
  return "<no error>";
}

}  // namespace

TEST(WorkerDsn, KeywordAndUriForms) {
  const DsnSummary plain = summarize_dsn("host=db dbname=expense_ops user=worker");
  EXPECT_EQ(plain.host_count, 1U);
  EXPECT_EQ(plain.target_session_attrs, "");
  EXPECT_FALSE(plain.has_password);

  const DsnSummary uri = summarize_dsn("postgresql://worker:hunter2@db1,db2:5433/expense_ops");
  EXPECT_EQ(uri.host_count, 2U);
  EXPECT_TRUE(uri.has_password);

  const DsnSummary multi =
      summarize_dsn("host=db1,db2,db3 target_session_attrs=read-write sslpassword=x");
  EXPECT_EQ(multi.host_count, 3U);
  EXPECT_EQ(multi.target_session_attrs, "read-write");
  EXPECT_TRUE(multi.has_password);

  EXPECT_EQ(summarize_dsn("hostaddr=10.0.0.1,10.0.0.2").host_count, 2U);
  EXPECT_EQ(summarize_dsn("").host_count, 1U);  // libpq's defaults: PGHOST or the socket
}

TEST(WorkerDsn, MalformedDsnsAreRefusedWithoutTheirSecrets) {
  // The review's finding: libpq's message quotes the whole URI, password included.
  const std::string uri = parse_error("postgresql://u:SECRET@[::1/db");
  EXPECT_NE(uri.find("IPv6 host address"), std::string::npos) << uri;
  EXPECT_EQ(uri.find("SECRET"), std::string::npos) << uri;

  for (const std::string& dsn : {
           std::string("host=db password=se cret"),          // missing "=" after "cret"
           std::string("host=db password=SE cret=1"),        // invalid connection option "cret"
           std::string("postgresql://u:SE%zzCRET@db/x"),     // invalid percent-encoded token
           std::string("postgresql://db/x?password=SE%00"),  // forbidden value %00
           std::string("postgresql://db/x?password=SE=CRET"),
           std::string("host=db password='SECRET"),  // unterminated quoted string
           std::string("SECRET"),
       }) {
    const std::string message = parse_error(dsn);
    EXPECT_NE(message, "<no error>") << dsn;
    EXPECT_EQ(message.find("cret"), std::string::npos) << dsn << " -> " << message;
    EXPECT_EQ(message.find("CRET"), std::string::npos) << dsn << " -> " << message;
  }
}

TEST(WorkerDsn, OptionNamesStayInMessages) {
  EXPECT_TRUE(is_connection_keyword("port"));
  EXPECT_TRUE(is_connection_keyword("target_session_attrs"));
  EXPECT_FALSE(is_connection_keyword("passwrd"));
  EXPECT_EQ(describe_dsn_error("invalid integer value \"pa\" for connection option \"port\"\n"),
            R"(invalid integer value "..." for connection option "port")");
}
