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

// The active ISO 4217 currencies (funds and precious metals without a minor unit excluded).
std::optional<Currency> find_currency(std::string_view code);

// No single expense may reach a trillion units of any currency.
inline constexpr std::int64_t kMaxMajorUnits = 1'000'000'000'000;

// Parses a positive decimal amount ("12.5", "0.125") in `currency` into minor units.
// Throws RuleViolation for an unknown currency, a malformed number, more significant decimals
// than the currency has (trailing zeros are fine), an amount <= 0, or one beyond kMaxMajorUnits.
std::int64_t parse_amount(std::string_view text, std::string_view currency_code);

// Minor units as a decimal with exactly the currency's exponent: 1230, 2 -> "12.30".
std::string format_amount(std::int64_t minor_units, int exponent);

}  // namespace expense_ops::core
