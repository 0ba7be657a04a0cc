#include "core/expense_rules.hpp"

#include "core/currency.hpp"
#include "core/error.hpp"

namespace expense_ops::core::expenses {

namespace {

// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, proleptic Gregorian).
void civil_from_days(Day days, int& year, unsigned& month, unsigned& day) {
  const int z = days + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
}

}  // namespace

std::string format_day(Day day) {
  int year = 0;
  unsigned month = 0;
  unsigned dom = 0;
  civil_from_days(day, year, month, dom);
  const auto two = [](unsigned v) {
    return std::string{static_cast<char>('0' + v / 10), static_cast<char>('0' + v % 10)};
  };
  std::string out = std::to_string(year);
  out.insert(0, out.size() < 4 ? 4 - out.size() : 0, '0');
  return out + "-" + two(month) + "-" + two(dom);
}

void check_amount(std::int64_t amount_minor, std::string_view currency) {
  const auto known = find_currency(currency);
  if (!known) {
    throw RuleViolation(
        sqlstate::kUnknownCurrency,
        "currency \"" + std::string(currency) + "\" is not an ISO 4217 currency code",
        "Use an active three-letter ISO 4217 code in upper case, such as EUR, USD or JPY.");
  }
  if (amount_minor <= 0) {
    throw RuleViolation(
        sqlstate::kAmountNotPositive,
        "amount must be greater than zero, got " + format_amount(amount_minor, known->exponent),
        "Enter an amount greater than zero.");
  }
  std::int64_t limit = kMaxMajorUnits;
  for (int i = 0; i < known->exponent; ++i) {
    limit *= 10;
  }
  if (amount_minor >= limit) {
    throw RuleViolation(
        sqlstate::kAmountTooLarge,
        "amount " + format_amount(amount_minor, known->exponent) + " " + std::string(currency) +
            " is beyond the largest expense accepted",
        "An expense must be below 1000000000000 units of its currency; check the amount.");
  }
}

void check_date(Day expense_date, Day today, std::int32_t max_age_days) {
  if (expense_date > today) {
    throw RuleViolation(sqlstate::kExpenseDateInFuture,
                        "expense_date " + format_day(expense_date) +
                            " is in the future (today is " + format_day(today) +
                            " in the organisation's time zone)",
                        "Enter the date the money was spent.");
  }
  if (today - expense_date > max_age_days) {
    throw RuleViolation(sqlstate::kExpenseTooOld,
                        "expense_date " + format_day(expense_date) + " is more than " +
                            std::to_string(max_age_days) + " days old, the category's limit",
                        "Expenses must be claimed within " + std::to_string(max_age_days) +
                            " days; ask finance about older ones.");
  }
}

void check_category(const std::optional<CategoryPolicy>& category) {
  if (!category) {
    throw RuleViolation(sqlstate::kCategoryUnknown,
                        "category_id does not name a category of the expense's organisation",
                        "Choose one of your organisation's categories.");
  }
  if (!category->active) {
    throw RuleViolation(sqlstate::kCategoryInactive,
                        "category \"" + category->name + "\" is no longer active",
                        "Choose an active category.");
  }
}

void check_submission(const SubmissionFacts& facts) {
  const auto money = [&](std::int64_t minor) { return format_amount(minor, facts.base_exponent); };
  if (!facts.has_receipt && facts.base_amount > facts.receipt_threshold) {
    throw RuleViolation(sqlstate::kReceiptMissing,
                        "receipt_ref: a receipt is required above " +
                            money(facts.receipt_threshold) +
                            " in this category, and the expense is " + money(facts.base_amount),
                        "Attach the receipt (set receipt_ref), then submit again.");
  }
  if (facts.per_item_limit && facts.base_amount > *facts.per_item_limit) {
    throw RuleViolation(
        sqlstate::kAbovePerItemLimit,
        "amount: " + money(facts.base_amount) + " is above the category's per-item limit of " +
            money(*facts.per_item_limit),
        "Split the claim if it covers several items, or ask finance about the limit.");
  }
  if (facts.per_day_limit && facts.same_day_total + facts.base_amount > *facts.per_day_limit) {
    throw RuleViolation(
        sqlstate::kAbovePerDayLimit,
        "amount: with the day's other claims in this category (" + money(facts.same_day_total) +
            ") the total would pass the per-day limit of " + money(*facts.per_day_limit),
        "Check for a claim made twice, or ask finance about the limit.");
  }
}

}  // namespace expense_ops::core::expenses
