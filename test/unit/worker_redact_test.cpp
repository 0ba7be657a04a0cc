#include "worker/redact.hpp"

#include <gtest/gtest.h>

#include <string>

using expense_ops::worker::redact_secrets;
using expense_ops::worker::withhold_quoted_text;

namespace {

// The secret must be gone, and the redaction must show where it was.
void expect_hidden(const std::string& text, const std::string& secret) {
  const std::string redacted = redact_secrets(text);
  EXPECT_EQ(redacted.find(secret), std::string::npos) << text << "\n -> " << redacted;
  EXPECT_NE(redacted.find("***"), std::string::npos) << text << "\n -> " << redacted;
}

}  // namespace

TEST(WorkerRedact, KeywordPasswords) {
  EXPECT_EQ(redact_secrets("host=db password=hunter2 dbname=x"), "host=db password=*** dbname=x");
  EXPECT_EQ(redact_secrets("password=hunter2"), "password=***");
  // Blanks around '=' as libpq allows them; libpq even skips blanks before the value.
  EXPECT_EQ(redact_secrets("host=db password =  hunter2 user=w"), "host=db password =  *** user=w");
  EXPECT_EQ(redact_secrets("sslpassword=keypass host=db"), "sslpassword=*** host=db");
  EXPECT_EQ(redact_secrets("PGPASSWORD=hunter2"), "PGPASSWORD=***");
  EXPECT_EQ(redact_secrets("Password=hunter2"), "Password=***");
}

TEST(WorkerRedact, QuotedKeywordValues) {
  EXPECT_EQ(redact_secrets("password='two words' host=db"), "password=*** host=db");
  EXPECT_EQ(redact_secrets(R"(password='it\'s a secret' host=db)"), "password=*** host=db");
  EXPECT_EQ(redact_secrets(R"(password='ends in a backslash\\' host=db)"), "password=*** host=db");
  expect_hidden(R"(host=db password='no end to it)", "no end");
  expect_hidden(R"(password=unquoted\ with\ escaped\ blanks host=db)", "escaped");
  EXPECT_EQ(redact_secrets(R"(password=a\ b host=db)"), "password=*** host=db");
  // libpq quotes the whole string back inside double quotes.
  expect_hidden(R"(invalid: "host=db password=hunter2")", "hunter2");
}

TEST(WorkerRedact, UriPasswords) {
  EXPECT_EQ(redact_secrets("postgresql://worker:hunter2@db:5432/expense_ops"),
            "postgresql://worker:***@db:5432/expense_ops");
  EXPECT_EQ(redact_secrets("postgres://worker:hunter2@db/x"), "postgres://worker:***@db/x");
  // The review's finding: libpq's error for a malformed URI quotes all of it.
  EXPECT_EQ(redact_secrets(R"(end of string reached when looking for matching "]" in IPv6 host )"
                           R"(address in URI: "postgresql://u:SECRET@[::1/db")"),
            R"(end of string reached when looking for matching "]" in IPv6 host address in URI: )"
            R"("postgresql://u:***@[::1/db")");
}

TEST(WorkerRedact, HostileUris) {
  // An '@' in the password, escaped or not.
  EXPECT_EQ(redact_secrets("postgresql://u:p@ss@db/x"), "postgresql://u:***@db/x");
  EXPECT_EQ(redact_secrets("postgresql://u:p%40ss@db/x"), "postgresql://u:***@db/x");
  // A '/', ':' or '?' in the password.
  expect_hidden("postgresql://u:pa/ss@db/x", "ss");
  expect_hidden("postgresql://u:pa:ss@db/x", "ss");
  expect_hidden("postgresql://u:pa?ss@db/x", "ss");
  // Several hosts, IPv6, a password in the query as well.
  EXPECT_EQ(redact_secrets("postgresql://u:pw@db1:5432,db2:5433/x?target_session_attrs=read-write"),
            "postgresql://u:***@db1:5432,db2:5433/x?target_session_attrs=read-write");
  EXPECT_EQ(redact_secrets("postgresql://u:pw@[::1]:5432/x"), "postgresql://u:***@[::1]:5432/x");
  expect_hidden("postgresql://db/x?user=u&password=hunter2", "hunter2");
  expect_hidden("postgresql://u:pw1@db/x?password=pw2", "pw1");
  expect_hidden("postgresql://u:pw1@db/x?password=pw2", "pw2");
  // Two URIs in one message.
  EXPECT_EQ(redact_secrets("postgresql://a:one@h1/x and postgresql://b:two@h2/y"),
            "postgresql://a:***@h1/x and postgresql://b:***@h2/y");
  // A scheme separator inside the password does not start a second URI.
  EXPECT_EQ(redact_secrets("postgresql://u:a://b@db/x"), "postgresql://u:***@db/x");
}

TEST(WorkerRedact, LeavesTheRestAlone) {
  for (const std::string& text : {
           std::string("connection to server at \"db\" (10.0.0.1), port 5432 failed: Connection "
                       "refused"),
           std::string("FATAL:  password authentication failed for user \"worker\""),
           std::string("postgresql://worker@db/x"),
           std::string("postgresql://db:5432/x"),
           std::string("passwords=none, password_encryption"),
           std::string(""),
       }) {
    EXPECT_EQ(redact_secrets(text), text);
  }
  EXPECT_EQ(redact_secrets("password="), "password=");
}

TEST(WorkerRedact, QuotedFragmentsOfAParseErrorAreWithheld) {
  // `password=se cret`: libpq complains about the second half of the password.
  EXPECT_EQ(withhold_quoted_text(R"(missing "=" after "cret" in connection info string)"),
            R"(missing "=" after "..." in connection info string)");
  EXPECT_EQ(withhold_quoted_text(R"(invalid percent-encoded token: "p%zz")"),
            R"(invalid percent-encoded token: "...")");
  EXPECT_EQ(withhold_quoted_text(R"(unterminated "quote)"), R"(unterminated "...)");
  EXPECT_EQ(withhold_quoted_text(R"(invalid integer value "pa" for connection option "port")",
                                 [](std::string_view fragment) { return fragment == "port"; }),
            R"(invalid integer value "..." for connection option "port")");
  EXPECT_EQ(withhold_quoted_text("unterminated quoted string in connection info string"),
            "unterminated quoted string in connection info string");
}
