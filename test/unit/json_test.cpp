#include "core/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace json = expense_ops::core::json;

TEST(Json, DumpsScalars) {
  EXPECT_EQ(json::dump(nullptr), "null");
  EXPECT_EQ(json::dump(true), "true");
  EXPECT_EQ(json::dump(false), "false");
  EXPECT_EQ(json::dump(-42), "-42");
  EXPECT_EQ(json::dump(std::int64_t{9007199254740993}), "9007199254740993");
  EXPECT_EQ(json::dump(0.5), "0.5");
  EXPECT_EQ(json::dump("text"), "\"text\"");
}

TEST(Json, EscapesStrings) {
  EXPECT_EQ(json::dump("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json::dump("line\nnext\ttab\r"), R"("line\nnext\ttab\r")");
  EXPECT_EQ(json::dump(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
  // UTF-8 passes through untouched.
  EXPECT_EQ(json::dump("Zürich €"), "\"Zürich €\"");
}

TEST(Json, NonFiniteNumbersBecomeNull) {
  EXPECT_EQ(json::dump(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json::dump(std::nan("")), "null");
}

TEST(Json, NumbersRoundTrip) {
  const double value = 0.1 + 0.2;
  EXPECT_EQ(std::stod(json::format_number(value)), value);
}

TEST(Json, KeepsMemberOrderAndNests) {
  const json::Value document = json::Object{
      {"z", 1}, {"a", json::Array{1, "two", nullptr}}, {"m", json::Object{{"k", false}}}};
  EXPECT_EQ(json::dump(document), R"({"z":1,"a":[1,"two",null],"m":{"k":false}})");
  EXPECT_EQ(json::dump(json::Array{}), "[]");
  EXPECT_EQ(json::dump(json::Object{}), "{}");
}

TEST(Json, OptionalsAreValuesOrNull) {
  EXPECT_EQ(json::dump(std::optional<double>{}), "null");
  EXPECT_EQ(json::dump(std::optional<double>{2.5}), "2.5");
}

TEST(Json, FindsMembers) {
  const json::Value document = json::Object{{"status", "ok"}};
  ASSERT_NE(document.find("status"), nullptr);
  EXPECT_EQ(json::dump(*document.find("status")), "\"ok\"");
  EXPECT_EQ(document.find("missing"), nullptr);
  EXPECT_EQ(json::Value(3).find("status"), nullptr);
}
