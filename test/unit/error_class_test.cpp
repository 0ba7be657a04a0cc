#include "core/error_class.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace core = expense_ops::core;
using core::classify_error;
using core::ErrorCategory;

namespace {

constexpr ErrorCategory kAuthentication = ErrorCategory::kAuthentication;
constexpr ErrorCategory kValidation = ErrorCategory::kValidation;
constexpr ErrorCategory kDatabase = ErrorCategory::kDatabase;
constexpr ErrorCategory kExternal = ErrorCategory::kExternal;
constexpr ErrorCategory kUnknown = ErrorCategory::kUnknown;

ErrorCategory by_code(std::string_view sqlstate) {
  return classify_error(sqlstate, std::nullopt);
}

ErrorCategory by_status(int status) {
  return classify_error(std::nullopt, status);
}

// The SQLSTATE table of the header, spelled out class by class, independently of the .cpp's.
ErrorCategory expected_for_class(const std::string& code_class) {
  static const std::set<std::string> database = {"08", "0A", "25", "38", "39", "3D", "3F", "40",
                                                 "42", "53", "54", "55", "57", "58", "P0", "XX"};
  if (code_class == "28") {
    return kAuthentication;
  }
  if (code_class == "22" || code_class == "23") {
    return kValidation;
  }
  if (database.count(code_class) != 0) {
    return kDatabase;
  }
  if (code_class == "HV") {
    return kExternal;
  }
  return kUnknown;
}

}  // namespace

TEST(ErrorClass, NamesEachCategory) {
  EXPECT_EQ(core::to_string(kAuthentication), "authentication");
  EXPECT_EQ(core::to_string(kValidation), "validation");
  EXPECT_EQ(core::to_string(kDatabase), "database");
  EXPECT_EQ(core::to_string(kExternal), "external");
  EXPECT_EQ(core::to_string(kUnknown), "unknown");
  // A value outside the enumeration (a cast from a stored integer) still gets a name.
  EXPECT_EQ(core::to_string(static_cast<ErrorCategory>(42)), "unknown");
}

TEST(ErrorClass, AuthenticationBySqlstate) {
  EXPECT_EQ(by_code("28000"), kAuthentication);  // invalid_authorization_specification
  EXPECT_EQ(by_code("28P01"), kAuthentication);  // invalid_password
  EXPECT_EQ(by_code("42501"), kAuthentication);  // insufficient_privilege, inside class 42
  EXPECT_EQ(by_code("PT401"), kAuthentication);
  EXPECT_EQ(by_code("PT403"), kAuthentication);
}

TEST(ErrorClass, ValidationBySqlstate) {
  for (const char* code :
       {"22000", "22001", "22P02", "22X55", "22023", "23000", "23502", "23505", "23P01", "PT400",
        "PT404", "PT409", "PT422", "PT405", "PT408", "PT429", "PT499"}) {
    EXPECT_EQ(by_code(code), kValidation) << code;
  }
}

TEST(ErrorClass, DatabaseBySqlstate) {
  for (const char* code :
       {"08000", "08006", "0A000", "25006", "25P02", "38000", "38003", "39000", "39P01", "3D000",
        "3F000", "40001", "40P01", "42000", "42601", "42P01", "42502", "42500", "53200", "53300",
        "54000", "55000", "55P03", "57014", "57P01", "58030", "P0001", "P0002", "XX000", "XX001"}) {
    EXPECT_EQ(by_code(code), kDatabase) << code;
  }
}

TEST(ErrorClass, ExternalBySqlstate) {
  for (const char* code : {"HV000", "HV00N", "HV091", "PT502", "PT503", "PT504"}) {
    EXPECT_EQ(by_code(code), kExternal) << code;
  }
}

TEST(ErrorClass, UnknownBySqlstate) {
  // Well-formed codes no row names: success, warnings, other classes, PostgREST statuses that
  // are neither the caller's mistake nor a gateway's.
  for (const char* code : {"00000", "01000", "02000", "0B000", "21000", "24000", "26000", "2B000",
                           "34000", "3B000", "44000", "72000", "F0000", "HW000", "PT500", "PT501",
                           "PT505", "PT599", "PT200", "PT302", "PT000", "PTXYZ"}) {
    EXPECT_EQ(by_code(code), kUnknown) << code;
  }
}

// Every two-character class, with a subclass that no exact row names: the class alone decides.
TEST(ErrorClass, EveryClassFollowsTheTable) {
  const std::string alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (const char first : alphabet) {
    for (const char second : alphabet) {
      const std::string code_class{first, second};
      if (code_class == "PT") {
        continue;  // by subclass, above
      }
      for (const char* subclass : {"000", "P01", "ZZZ"}) {
        const std::string code = code_class + subclass;
        EXPECT_EQ(by_code(code), expected_for_class(code_class)) << code;
      }
    }
  }
}

TEST(ErrorClass, ByHttpStatus) {
  EXPECT_EQ(by_status(401), kAuthentication);
  EXPECT_EQ(by_status(403), kAuthentication);
  for (const int status : {400, 402, 404, 405, 406, 409, 410, 413, 415, 418, 422, 451, 499}) {
    EXPECT_EQ(by_status(status), kValidation) << status;
  }
  EXPECT_EQ(by_status(503), kDatabase);
  for (const int status : {408, 429, 502, 504}) {
    EXPECT_EQ(by_status(status), kExternal) << status;
  }
  for (const int status : {500, 501, 505, 507, 511, 599, 200, 204, 302, 100, 399, 600, 0, -401,
                           4010, INT_MIN, INT_MAX}) {
    EXPECT_EQ(by_status(status), kUnknown) << status;
  }
}

// Every status from -1 to 1000 against the header's table written as plain conditions.
TEST(ErrorClass, EveryHttpStatusFollowsTheTable) {
  for (int status = -1; status <= 1000; ++status) {
    ErrorCategory expected = kUnknown;
    if (status == 401 || status == 403) {
      expected = kAuthentication;
    } else if (status == 408 || status == 429 || status == 502 || status == 504) {
      expected = kExternal;
    } else if (status == 503) {
      expected = kDatabase;
    } else if (status >= 400 && status <= 499) {
      expected = kValidation;
    }
    EXPECT_EQ(by_status(status), expected) << status;
  }
}

TEST(ErrorClass, NothingAtAllIsUnknown) {
  EXPECT_EQ(classify_error(std::nullopt, std::nullopt), kUnknown);
}

TEST(ErrorClass, MalformedSqlstateLeavesTheDecisionToTheStatus) {
  const std::string_view with_nul(
      "28\0"
      "01",
      5);
  for (const std::string_view code :
       {std::string_view(""), std::string_view("2800"), std::string_view("280000"),
        std::string_view("28p01"), std::string_view("pt401"), std::string_view("28 01"),
        std::string_view(" 2850"), std::string_view("42501 "), std::string_view("PT40"),
        std::string_view("PGRST301"), std::string_view("22-01"),
        std::string_view("2\xC3\x9C"
                         "01"),
        with_nul}) {
    EXPECT_EQ(classify_error(code, std::nullopt), kUnknown) << code;
    EXPECT_EQ(classify_error(code, 401), kAuthentication) << code;
    EXPECT_EQ(classify_error(code, 422), kValidation) << code;
    EXPECT_EQ(classify_error(code, 503), kDatabase) << code;
    EXPECT_EQ(classify_error(code, 502), kExternal) << code;
    EXPECT_EQ(classify_error(code, 500), kUnknown) << code;
  }
}

TEST(ErrorClass, SqlstateWinsOverHttpStatus) {
  EXPECT_EQ(classify_error("23505", 401), kValidation);
  EXPECT_EQ(classify_error("28P01", 500), kAuthentication);
  EXPECT_EQ(classify_error("42501", 400), kAuthentication);
  EXPECT_EQ(classify_error("HV000", 403), kExternal);
  EXPECT_EQ(classify_error("XX000", 429), kDatabase);
  // PostgREST's PT503 is a gateway's trouble although a bare 503 is the database's.
  EXPECT_EQ(classify_error("PT503", 503), kExternal);
  EXPECT_EQ(classify_error(std::nullopt, 503), kDatabase);
  // A well-formed code that no row names still decides: the status is not consulted.
  EXPECT_EQ(classify_error("00000", 401), kUnknown);
  EXPECT_EQ(classify_error("PT500", 502), kUnknown);
}

// Every code the extension raises lands in a category an operator can act on.
TEST(ErrorClass, EveryCatalogCodeHasAKnownCategory) {
  for (const auto& error : core::kErrorCatalog) {
    EXPECT_NE(classify_error(error.sqlstate, error.http_status), kUnknown) << error.sqlstate;
  }
  EXPECT_EQ(by_code(core::sqlstate::kInsufficientPrivilege), kAuthentication);
  EXPECT_EQ(by_code(core::sqlstate::kUnauthorized), kAuthentication);
  EXPECT_EQ(by_code(core::sqlstate::kNotFound), kValidation);
  EXPECT_EQ(by_code(core::sqlstate::kWrongStatus), kValidation);
  EXPECT_EQ(by_code(core::sqlstate::kTicketTransition), kValidation);
  EXPECT_EQ(by_code(core::sqlstate::kReadOnlySqlTransaction), kDatabase);
  EXPECT_EQ(by_code(core::sqlstate::kTriggerProtocolViolated), kDatabase);
  EXPECT_EQ(by_code(core::sqlstate::kOutOfMemory), kDatabase);
  EXPECT_EQ(by_code(core::sqlstate::kInternalError), kDatabase);
}
