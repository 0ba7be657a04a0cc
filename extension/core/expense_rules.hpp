// The rules an expense must meet whenever it is written. Rules that need other rows or an
// exchange rate (limits, duplicates, receipts) run at submission instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace expense_ops::core::expenses {

// Days since 1970-01-01.
using Day = std::int32_t;

std::string format_day(Day day);  // 2026-11-26

struct CategoryPolicy {
  std::string name;
  bool active = true;
  std::int32_t max_age_days = 90;
};

// Currency known, amount above zero and below the largest accepted expense.
void check_amount(std::int64_t amount_minor, std::string_view currency);

// Not after `today` (the organisation's date), and no older than the category allows.
void check_date(Day expense_date, Day today, std::int32_t max_age_days);

// The category exists in the expense's organisation and is active.
void check_category(const std::optional<CategoryPolicy>& category);

// What a submission is judged on, in base-currency minor units.
struct SubmissionFacts {
  std::int64_t base_amount = 0;
  int base_exponent = 2;
  bool has_receipt = false;
  std::int64_t receipt_threshold = 0;
  std::optional<std::int64_t> per_item_limit;
  std::int64_t same_day_total = 0;  // the owner's other submitted expenses, same category and day
  std::optional<std::int64_t> per_day_limit;
};

// Receipt above the threshold (22X33), per-item limit (22X34), per-day limit (22X35).
void check_submission(const SubmissionFacts& facts);

}  // namespace expense_ops::core::expenses
