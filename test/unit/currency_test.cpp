#include "core/currency.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

using expense_ops::core::find_currency;
using expense_ops::core::format_amount;
using expense_ops::core::kCurrencyTableEdition;
using expense_ops::core::parse_amount;
using expense_ops::core::RuleViolation;

namespace {

std::string rejection(std::string_view amount, std::string_view currency) {
  try {
    parse_amount(amount, currency);
  } catch (const RuleViolation& violation) {
    return violation.sqlstate() + " " + violation.what();
  }
  return "<accepted>";
}

}  // namespace

TEST(Currency, KnowsExponents) {
  EXPECT_EQ(find_currency("JPY")->exponent, 0);
  EXPECT_EQ(find_currency("USD")->exponent, 2);
  EXPECT_EQ(find_currency("EUR")->exponent, 2);
  EXPECT_EQ(find_currency("KWD")->exponent, 3);
  EXPECT_EQ(find_currency("CLF")->exponent, 4);
  EXPECT_EQ(find_currency("AED")->exponent, 2);  // first in the table
  EXPECT_EQ(find_currency("ZWG")->exponent, 2);  // last in the table
}

TEST(Currency, KnowsTheCaribbeanGuilderAndTheArabAccountingDinar) {
  ASSERT_TRUE(find_currency("XCG"));
  EXPECT_EQ(find_currency("XCG")->exponent, 2);
  EXPECT_EQ(parse_amount("12.50", "XCG"), 1250);
  ASSERT_TRUE(find_currency("XAD"));
  EXPECT_EQ(find_currency("XAD")->exponent, 2);
}

TEST(Currency, WithdrawnCodesOfRecentClaimsStayAccepted) {
  // Replaced by XCG on 2025-03-31 and by EUR on 2026-01-01: claims from before still come in.
  ASSERT_TRUE(find_currency("ANG"));
  EXPECT_EQ(find_currency("ANG")->exponent, 2);
  ASSERT_TRUE(find_currency("BGN"));
  EXPECT_EQ(find_currency("BGN")->exponent, 2);
}

TEST(Currency, RefusesCodesWithdrawnBeforeTheTableListedThem) {
  for (const char* code : {"HRK", "CUC", "SLL", "ZWL"}) {
    EXPECT_FALSE(find_currency(code)) << code;
  }
}

TEST(Currency, RefusesCodesWithoutAMinorUnit) {
  for (const char* code : {"XAU", "XAG", "XPT", "XPD", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC",
                           "XBD", "XTS", "XXX"}) {
    EXPECT_FALSE(find_currency(code)) << code;
  }
}

TEST(Currency, NamesTheEditionItFollows) {
  EXPECT_NE(kCurrencyTableEdition.find("ISO 4217 amendment 180"), std::string_view::npos);
}

TEST(Currency, RejectsUnknownAndMiscasedCodes) {
  EXPECT_FALSE(find_currency("XYZ"));
  EXPECT_FALSE(find_currency("usd"));
  EXPECT_FALSE(find_currency("US"));
  EXPECT_FALSE(find_currency(""));
  EXPECT_FALSE(find_currency("XAU"));  // gold has no minor unit
}

TEST(Money, ParsesIntoMinorUnits) {
  EXPECT_EQ(parse_amount("12.34", "USD"), 1234);
  EXPECT_EQ(parse_amount("12.3", "USD"), 1230);
  EXPECT_EQ(parse_amount("12", "USD"), 1200);
  EXPECT_EQ(parse_amount("0.01", "USD"), 1);
  EXPECT_EQ(parse_amount(".5", "EUR"), 50);
  EXPECT_EQ(parse_amount("1500", "JPY"), 1500);
  EXPECT_EQ(parse_amount("1.234", "KWD"), 1234);
  EXPECT_EQ(parse_amount("+7.5", "EUR"), 750);
}

TEST(Money, TrailingZerosBeyondTheExponentAreExact) {
  EXPECT_EQ(parse_amount("12.300", "USD"), 1230);
  EXPECT_EQ(parse_amount("1500.00", "JPY"), 1500);
}

TEST(Money, RejectsMoreDecimalsThanTheCurrencyHas) {
  EXPECT_EQ(rejection("12.345", "USD").substr(0, 5), "22X03");
  EXPECT_EQ(rejection("1500.5", "JPY").substr(0, 5), "22X03");
  EXPECT_EQ(rejection("1.2345", "KWD").substr(0, 5), "22X03");
  EXPECT_NE(rejection("12.345", "USD").find("USD allows (2)"), std::string::npos);
}

TEST(Money, RejectsAmountsAtOrBelowZero) {
  EXPECT_EQ(rejection("0", "USD").substr(0, 5), "22X04");
  EXPECT_EQ(rejection("0.00", "USD").substr(0, 5), "22X04");
  EXPECT_EQ(rejection("-5.00", "USD").substr(0, 5), "22X04");
}

TEST(Money, RejectsAbsurdMagnitudesAtTheBoundary) {
  EXPECT_EQ(parse_amount("999999999999.99", "USD"), 99999999999999);
  EXPECT_EQ(rejection("1000000000000", "USD").substr(0, 5), "22X05");
  EXPECT_EQ(rejection("99999999999999999999999999999", "USD").substr(0, 5), "22X05");
  EXPECT_EQ(parse_amount("999999999999.999", "KWD"), 999999999999999);
}

TEST(Money, RejectsMalformedNumbers) {
  for (const char* bad :
       {"", ".", "-", "1,5", "1.2.3", "1e3", " 12", "12 ", "twelve", "0x10", "1;DROP"}) {
    EXPECT_EQ(rejection(bad, "USD").substr(0, 5), "22X02") << '"' << bad << '"';
  }
}

TEST(Money, UnknownCurrencyComesFirst) {
  EXPECT_EQ(rejection("12.00", "XYZ").substr(0, 5), "22X01");
  EXPECT_EQ(rejection("12.00", "'; DROP TABLE x; --").substr(0, 5), "22X01");
}

TEST(Money, FormatsWithExactlyTheExponent) {
  EXPECT_EQ(format_amount(1230, 2), "12.30");
  EXPECT_EQ(format_amount(5, 2), "0.05");
  EXPECT_EQ(format_amount(0, 2), "0.00");
  EXPECT_EQ(format_amount(1500, 0), "1500");
  EXPECT_EQ(format_amount(1234, 3), "1.234");
  EXPECT_EQ(format_amount(-1234, 2), "-12.34");
  EXPECT_EQ(format_amount(INT64_MIN, 2), "-92233720368547758.08");
}

TEST(Currency, OneDecisionForAnUnknownCode) {
  using expense_ops::core::known_currency;
  EXPECT_EQ(known_currency("KWD").exponent, 3);
  for (const char* code : {"XYZ", "eur", "", "EURO"}) {
    try {
      known_currency(code);
      ADD_FAILURE() << code << " accepted";
    } catch (const RuleViolation& violation) {
      EXPECT_EQ(violation.sqlstate(), "22X01") << code;
      EXPECT_EQ(std::string(violation.what()),
                std::string("currency \"") + code + "\" is not an ISO 4217 currency code");
    }
  }
  // The same decision wherever a code is read: parsing, and the base-currency conversion.
  EXPECT_EQ(rejection("1", "XYZ").substr(0, 5), "22X01");
}

namespace {

std::string conversion(std::int64_t minor, std::string_view currency, std::string_view rate,
                       std::string_view base) {
  try {
    return std::to_string(expense_ops::core::convert_amount(minor, currency, rate, base));
  } catch (const RuleViolation& violation) {
    return violation.sqlstate();
  }
}

}  // namespace

TEST(Money, ConvertsIntoTheBaseCurrencyExactly) {
  EXPECT_EQ(conversion(1230, "EUR", "1", "EUR"), "1230");
  EXPECT_EQ(conversion(1000, "USD", "0.9", "EUR"), "900");
  EXPECT_EQ(conversion(1030, "USD", "0.9", "EUR"), "927");
  // Exponents differ: 1000 JPY (no minor unit) at 0.0061 EUR is 6.10 EUR.
  EXPECT_EQ(conversion(1000, "JPY", "0.0061", "EUR"), "610");
  // 1.234 KWD (three decimals) at 3.25 EUR: 4.0105, rounded half away from zero to 4.01.
  EXPECT_EQ(conversion(1234, "KWD", "3.25", "EUR"), "401");
  EXPECT_EQ(conversion(1, "EUR", "0.5", "EUR"), "1");  // 0.5 cents rounds up
  EXPECT_EQ(conversion(1, "EUR", "0.4999", "EUR"), "0");
  EXPECT_EQ(conversion(3, "EUR", "0.5", "JPY"), "0");  // 0.015 yen
  EXPECT_EQ(conversion(100, "EUR", "150", "JPY"), "150");
  // A rate with more digits than a double holds is still exact.
  EXPECT_EQ(conversion(99999999999999, "EUR", "1.00000000000000000001", "EUR"), "99999999999999");
  EXPECT_EQ(conversion(10, "EUR", "0.05000000000000000000000000000000000001", "EUR"), "1");
}

TEST(Money, ConversionRefusesBadRatesCurrenciesAndOverflow) {
  EXPECT_EQ(conversion(100, "XYZ", "1", "EUR"), "22X01");
  EXPECT_EQ(conversion(100, "EUR", "1", "XYZ"), "22X01");
  for (const char* rate : {"", "0", "0.000", "-1", "1e3", "abc", "1.2.3", "NaN"}) {
    EXPECT_EQ(conversion(100, "EUR", rate, "USD"), "22023") << rate;
  }
  EXPECT_EQ(conversion(99999999999999, "EUR", "1000000000", "KWD"), "22X05");
}
