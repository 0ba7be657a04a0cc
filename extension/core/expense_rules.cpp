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
  const Currency known = known_currency(currency);
  if (amount_minor <= 0) {
    throw RuleViolation(
        sqlstate::kAmountNotPositive,
        "amount must be greater than zero, got " + format_amount(amount_minor, known.exponent),
        "Enter an amount greater than zero.");
  }
  std::int64_t limit = kMaxMajorUnits;
  for (int i = 0; i < known.exponent; ++i) {
    limit *= 10;
  }
  if (amount_minor >= limit) {
    throw RuleViolation(
        sqlstate::kAmountTooLarge,
        "amount " + format_amount(amount_minor, known.exponent) + " " + std::string(currency) +
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

void check_text_length(std::string_view field, std::int64_t characters, std::int64_t limit) {
  if (characters > limit) {
    const std::string name(field);
    throw RuleViolation(
        sqlstate::kStringDataRightTruncation,
        name + ": at most " + std::to_string(limit) + " characters, got " +
            std::to_string(characters),
        "Shorten " + name + " to " + std::to_string(limit) + " characters or fewer.");
  }
}

std::optional<std::string> stored_receipt_ref(std::optional<std::string_view> given) {
  if (!given) {
    return std::nullopt;
  }
  const auto first = given->find_first_not_of(' ');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  const auto last = given->find_last_not_of(' ');
  return std::string(given->substr(first, last - first + 1));
}

std::int64_t amount_in_minor_units(const WrittenAmount& now,
                                   const std::optional<WrittenAmount>& before) {
  const auto missing = [] {
    return RuleViolation(sqlstate::kNullValueNotAllowed, "amount must not be null",
                         "Give the amount, such as 12.50.");
  };
  const bool decimal_is_new =
      !before || now.decimal != before->decimal || now.currency != before->currency;
  const bool minor_units_are_new = !before || now.minor_units != before->minor_units;
  if (!now.decimal && before && decimal_is_new) {
    throw missing();  // an update that takes the amount away
  }
  if (!now.decimal || !decimal_is_new) {
    if (!now.minor_units) {
      throw missing();
    }
    return *now.minor_units;  // a new row written in minor units alone, or a decimal unchanged
  }
  const std::int64_t parsed = parse_amount(*now.decimal, now.currency);
  if (before && !minor_units_are_new) {
    return parsed;
  }
  if (now.minor_units && *now.minor_units != parsed) {
    throw RuleViolation(sqlstate::kInvalidParameterValue,
                        "amount " + *now.decimal + " and amount_minor " +
                            std::to_string(*now.minor_units) + " disagree",
                        "Give the amount once: as amount, or as amount_minor.");
  }
  return parsed;
}

RulesToRun rules_to_run(const RuleInputs& now, const std::optional<RuleInputs>& before) {
  RulesToRun run;
  if (before) {
    // A status change passes without a second look: an approval on day 95 must not fail the
    // 90-day rule that the draft met when it was written.
    run.amount = now.amount_minor != before->amount_minor || now.currency != before->currency;
    run.date_and_category = now.expense_date != before->expense_date ||
                            now.category_id != before->category_id || now.org_id != before->org_id;
  }
  return run;
}

void check_tenant_creation(bool owner_is_caller, std::string_view status) {
  if (!owner_is_caller) {
    throw RuleViolation(sqlstate::kInsufficientPrivilege,
                        "user_id: an expense belongs to the user who creates it",
                        "Leave user_id out.");
  }
  if (status != "draft") {
    throw RuleViolation(sqlstate::kStatusOutsideWorkflow,
                        "status: an expense changes status through its workflow functions",
                        "Call api.submit_expense, api.approve_expense, api.reject_expense or "
                        "api.reimburse_expense.");
  }
}

}  // namespace expense_ops::core::expenses
