#include "core/currency.hpp"

#include <algorithm>
#include <iterator>
#include <limits>

#include <boost/multiprecision/cpp_int.hpp>

#include "core/error.hpp"

namespace expense_ops::core {

namespace {

// ISO 4217 List One (current currencies and funds) as of amendment 180, published by the
// standard's maintenance agency, SIX, as list-one.xml dated 2026-01-01 (kCurrencyTableEdition).
// Amendments since the previous review: 176 added XCG (in use from 2025-03-31, replacing ANG),
// 177 ZWG, 179 XAD; 178 withdrew CUC and 180 BGN (Bulgaria adopted the euro on 2026-01-01).
//
// Every List One code with a numeric minor unit is here, funds included (BOV, CHE, CHW, CLF, COU,
// MXV, USN, UYI, UYW, XAD). Left out: the codes whose minor unit List One gives as "N.A." (gold,
// silver, platinum, palladium, XDR, XSU, XUA, the bond market units XBA-XBD, XTS for testing and
// XXX for no currency): an amount in them cannot be stored as integer minor units.
//
// Two withdrawn codes stay accepted, on purpose: ANG (replaced by XCG on 2025-03-31) and BGN
// (replaced by EUR on 2026-01-01). Expenses incurred before the switch are claimed, and were
// stored, in them; refusing the code would refuse those claims and make stored rows unreadable.
// Neither is ever reused for another currency, so accepting them cannot mean the wrong money.
// Codes withdrawn before the table first listed them (HRK, CUC, SLL, ZWL) stay out.
//
// test/unit/currency_table_test.cpp compares this table with Debian's iso-codes data and lists
// every difference with its reason. Sorted by code for binary search.
constexpr Currency kCurrencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2},
    {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0},
    {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2},
    {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4},
    {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2},
    {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2},
    {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0},
    {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2},
    {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2},
    {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2},
    {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2},
    {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2},
    {"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2},
    {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2},
    {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0},
    {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2}, {"SLE", 2},
    {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2},
    {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2},
    {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2},
    {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAD", 2}, {"XAF", 0}, {"XCD", 2},
    {"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
};

constexpr bool sorted_by_code() {
  for (std::size_t i = 1; i < std::size(kCurrencies); ++i) {
    if (!(kCurrencies[i - 1].code < kCurrencies[i].code)) {
      return false;
    }
  }
  return true;
}
static_assert(sorted_by_code(), "kCurrencies must stay sorted by code");

std::int64_t power_of_ten(int exponent) {
  std::int64_t result = 1;
  for (int i = 0; i < exponent; ++i) {
    result *= 10;
  }
  return result;
}

[[noreturn]] void reject(const char* sqlstate, const std::string& message,
                         const std::string& hint) {
  throw RuleViolation(sqlstate, message, hint);
}

}  // namespace

std::optional<Currency> find_currency(std::string_view code) {
  const auto it =
      std::lower_bound(std::begin(kCurrencies), std::end(kCurrencies), code,
                       [](const Currency& c, std::string_view key) { return c.code < key; });
  if (it == std::end(kCurrencies) || it->code != code) {
    return std::nullopt;
  }
  return *it;
}

Currency known_currency(std::string_view code) {
  const auto currency = find_currency(code);
  if (!currency) {
    reject(sqlstate::kUnknownCurrency,
           "currency \"" + std::string(code) + "\" is not an ISO 4217 currency code",
           "Use an active three-letter ISO 4217 code in upper case, such as EUR, USD or JPY.");
  }
  return *currency;
}

std::int64_t parse_amount(std::string_view text, std::string_view currency_code) {
  const Currency currency = known_currency(currency_code);
  const std::string shown(text);
  std::size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    negative = text[pos] == '-';
    ++pos;
  }
  std::int64_t whole = 0;
  std::size_t whole_digits = 0;
  bool too_large = false;
  for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++whole_digits) {
    whole = whole * 10 + (text[pos] - '0');
    if (whole > kMaxMajorUnits) {
      too_large = true;
      whole = kMaxMajorUnits + 1;  // keep consuming digits without overflowing
    }
  }
  std::int64_t fraction = 0;
  int fraction_digits = 0;
  std::size_t all_fraction_digits = 0;
  bool excess_precision = false;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9';
         ++pos, ++all_fraction_digits) {
      if (fraction_digits < currency.exponent) {
        fraction = fraction * 10 + (text[pos] - '0');
        ++fraction_digits;
      } else if (text[pos] != '0') {
        excess_precision = true;
      }
    }
  }
  if (pos != text.size() || whole_digits + all_fraction_digits == 0) {
    reject(sqlstate::kInvalidAmount, "amount \"" + shown + "\" is not a decimal number",
           "Write the amount with digits and at most one decimal point, such as 12.50.");
  }
  if (excess_precision) {
    reject(sqlstate::kAmountPrecision,
           "amount " + shown + " has more decimals than " + std::string(currency.code) +
               " allows (" + std::to_string(currency.exponent) + ")",
           "Round the amount to " + std::to_string(currency.exponent) + " decimal places.");
  }
  if (too_large || whole >= kMaxMajorUnits) {
    reject(sqlstate::kAmountTooLarge,
           "amount " + shown + " " + std::string(currency.code) +
               " is beyond the largest expense accepted",
           "An expense must be below 1000000000000 units of its currency; check the amount.");
  }
  const std::int64_t minor = whole * power_of_ten(currency.exponent) +
                             fraction * power_of_ten(currency.exponent - fraction_digits);
  if (negative || minor <= 0) {
    reject(sqlstate::kAmountNotPositive, "amount must be greater than zero, got " + shown,
           "Enter an amount greater than zero.");
  }
  return minor;
}

std::string format_amount(std::int64_t minor_units, int exponent) {
  const bool negative = minor_units < 0;
  // Work in unsigned so that INT64_MIN has a magnitude.
  std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(minor_units)
                                     : static_cast<std::uint64_t>(minor_units);
  std::string digits = std::to_string(magnitude);
  if (exponent > 0) {
    if (digits.size() <= static_cast<std::size_t>(exponent)) {
      digits.insert(0, static_cast<std::size_t>(exponent) + 1 - digits.size(), '0');
    }
    digits.insert(digits.size() - static_cast<std::size_t>(exponent), 1, '.');
  }
  return negative ? "-" + digits : digits;
}

namespace {

// 10^exponent, by multiplication: boost::multiprecision::pow's expression templates are beyond
// what clang's static analyser follows.
boost::multiprecision::cpp_int power_of_ten_exactly(int exponent) {
  boost::multiprecision::cpp_int power = 1;
  for (int i = 0; i < exponent; ++i) {
    power *= 10;
  }
  return power;
}

}  // namespace

std::int64_t convert_amount(std::int64_t minor_units, std::string_view currency,
                            std::string_view rate, std::string_view base_currency) {
  using boost::multiprecision::cpp_int;
  const int from_exponent = known_currency(currency).exponent;
  const int to_exponent = known_currency(base_currency).exponent;
  // The rate as digits / 10^scale. It comes from a numeric column: plain digits and one point.
  cpp_int digits = 0;
  int scale = 0;
  bool seen_point = false;
  bool seen_digit = false;
  for (const char c : rate) {
    if (c == '.' && !seen_point) {
      seen_point = true;
    } else if (c >= '0' && c <= '9') {
      digits = digits * 10 + (c - '0');
      scale += seen_point ? 1 : 0;
      seen_digit = true;
    } else {
      seen_digit = false;
      break;
    }
  }
  if (!seen_digit || digits == 0) {
    reject(sqlstate::kInvalidParameterValue,
           "exchange rate \"" + std::string(rate) + "\" is not a positive decimal",
           "Record the rate as base-currency units per unit of the currency, such as 0.91.");
  }
  // minor * rate * 10^(to - from): scale everything to one integer fraction, then round.
  cpp_int numerator = cpp_int(minor_units) * digits;
  cpp_int denominator = power_of_ten_exactly(scale);
  const int shift = to_exponent - from_exponent;
  if (shift >= 0) {
    numerator *= power_of_ten_exactly(shift);
  } else {
    denominator *= power_of_ten_exactly(-shift);
  }
  const bool negative = numerator < 0;
  cpp_int magnitude = negative ? cpp_int(-numerator) : numerator;
  cpp_int rounded = (magnitude * 2 + denominator) / (denominator * 2);  // half away from zero
  if (negative) {
    rounded = -rounded;
  }
  if (rounded > std::numeric_limits<std::int64_t>::max() ||
      rounded < std::numeric_limits<std::int64_t>::min()) {
    reject(sqlstate::kAmountTooLarge,
           "amount " + format_amount(minor_units, from_exponent) + " " + std::string(currency) +
               " at " + std::string(rate) + " is beyond any amount of " +
               std::string(base_currency),
           "Check the exchange rate.");
  }
  return static_cast<std::int64_t>(rounded);
}

}  // namespace expense_ops::core
