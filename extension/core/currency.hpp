// ISO 4217 currencies and money amounts as integer minor units: never a float.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace expense_ops::core {

struct Currency {
  std::string_view code;  // three upper-case letters
  int exponent;           // digits after the decimal point: JPY 0, USD 2, KWD 3
};

// The ISO 4217 list this project's currency table follows (see currency.cpp for what it accepts
// beyond it and why), for showing next to the accepted codes.
inline constexpr std::string_view kCurrencyTableEdition =
    "ISO 4217 amendment 180 (SIX List One published 2026-01-01)";

// The current ISO 4217 currencies and funds that have a minor unit (precious metals, units of
// account and the test and no-currency codes, which have none, excluded), plus the withdrawn ANG
// and BGN, still accepted for claims made while they were legal tender.
std::optional<Currency> find_currency(std::string_view code);

// The currency, or RuleViolation 22X01 naming the code: the one place that decides what an
// unknown currency is, wherever one is read.
Currency known_currency(std::string_view code);

// No single expense may reach a trillion units of any currency.
inline constexpr std::int64_t kMaxMajorUnits = 1'000'000'000'000;

// Parses a positive decimal amount ("12.5", "0.125") in `currency` into minor units.
// Throws RuleViolation for an unknown currency, a malformed number, more significant decimals
// than the currency has (trailing zeros are fine), an amount <= 0, or one beyond kMaxMajorUnits.
std::int64_t parse_amount(std::string_view text, std::string_view currency_code);

// Minor units as a decimal with exactly the currency's exponent: 1230, 2 -> "12.30".
std::string format_amount(std::int64_t minor_units, int exponent);

// An amount converted at `rate` (base units per unit of `currency`, a positive decimal such as
// "0.91"), in minor units of `base_currency`, rounded half away from zero, exactly: 1000 JPY at
// 0.0061 EUR is 610 cents. Throws 22X01 for an unknown currency, 22023 for a rate that is not a
// positive decimal, 22X05 for a result beyond the largest expense.
std::int64_t convert_amount(std::int64_t minor_units, std::string_view currency,
                            std::string_view rate, std::string_view base_currency);

}  // namespace expense_ops::core
