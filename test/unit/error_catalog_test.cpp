// The error catalog (core/error.hpp) is the one place a SQLSTATE is written: every code is
// there once, with the status PostgREST gives it; docs/errors.md shows exactly it; and no
// source of the extension writes a code of its own.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.hpp"

namespace {

namespace core = expense_ops::core;
namespace fs = std::filesystem;

const fs::path kSourceDir = EXPENSE_OPS_SOURCE_DIR;

std::string read(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// PostgREST's mapping of SQLSTATEs to HTTP statuses (its documentation, "Errors").
int postgrest_status(const std::string& code) {
  if (code.rfind("PT", 0) == 0) {
    return std::stoi(code.substr(2));
  }
  if (code == "42501")
    return 403;
  if (code == "23503" || code == "23505")
    return 409;
  if (code == "25006")
    return 405;
  const std::string family = code.substr(0, 2);
  if (family == "28")
    return 403;
  if (family == "53")
    return 503;
  if (family == "39" || family == "55" || family == "XX")
    return 500;
  return 400;
}

TEST(ErrorCatalog, EachCodeAndNameOnceWithPostgrestsStatus) {
  std::set<std::string> codes, names;
  for (const auto& error : core::kErrorCatalog) {
    const std::string code(error.sqlstate);
    EXPECT_TRUE(std::regex_match(code, std::regex("[0-9A-Z]{5}"))) << code;
    EXPECT_TRUE(codes.insert(code).second) << code << " is in the catalog twice";
    EXPECT_TRUE(names.insert(std::string(error.name)).second)
        << error.name << " is in the catalog twice";
    EXPECT_TRUE(std::regex_match(std::string(error.name), std::regex("[a-z][a-z0-9_]*")))
        << error.name;
    EXPECT_EQ(error.http_status, postgrest_status(code)) << code;
    EXPECT_FALSE(error.meaning.empty()) << code;
  }
}

TEST(ErrorCatalog, LooksUpByNameAndCode) {
  EXPECT_EQ(core::find_error_by_name("not_found")->sqlstate, "PT404");
  EXPECT_EQ(core::find_error_by_sqlstate("22X53")->name, "ticket_transition");
  EXPECT_FALSE(core::find_error_by_name("no_such_error"));
  EXPECT_FALSE(core::find_error_by_sqlstate("00000"));
}

TEST(ErrorCatalog, DocsShowExactlyTheCatalog) {
  const std::string docs = read(kSourceDir / "docs" / "errors.md");
  const std::string table = core::error_table_markdown();
  EXPECT_NE(docs.find(table), std::string::npos)
      << "docs/errors.md does not hold the catalog's table; put this in it:\n"
      << table;
}

// No source of the extension writes a SQLSTATE itself: C++ names the catalog's constants, SQL
// calls expense.sqlstate(name), and every name it uses is in the catalog.
TEST(ErrorCatalog, SourcesNameCodesOnlyThroughTheCatalog) {
  const std::regex cpp_literal(R"re("(([0-9]{2})|PT|XX)[0-9A-Z]{3}")re");
  const std::regex sql_literal(R"re(ERRCODE\s*=\s*')re");
  const std::regex sql_name(R"re(expense\.sqlstate\('([a-z0-9_]+)'\))re");
  int sql_names = 0;
  for (const char* directory : {"extension/core", "extension/pg", "extension/sql"}) {
    for (const auto& entry : fs::directory_iterator(kSourceDir / directory)) {
      const fs::path& path = entry.path();
      const std::string text = read(path);
      if (path.extension() == ".sql") {
        EXPECT_FALSE(std::regex_search(text, sql_literal)) << path << " writes an ERRCODE literal";
        for (auto it = std::sregex_iterator(text.begin(), text.end(), sql_name);
             it != std::sregex_iterator(); ++it) {
          ++sql_names;
          EXPECT_TRUE(core::find_error_by_name((*it)[1].str()))
              << path << ": " << (*it)[1] << " is not in the catalog";
        }
      } else if (path.filename() != "error.hpp" &&
                 (path.extension() == ".cpp" || path.extension() == ".hpp")) {
        std::smatch match;
        EXPECT_FALSE(std::regex_search(text, match, cpp_literal))
            << path << " writes " << match.str();
      }
    }
  }
  EXPECT_GT(sql_names, 50) << "the SQL sources were expected to name their errors";
}

}  // namespace
