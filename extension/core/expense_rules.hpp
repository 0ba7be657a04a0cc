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

// The free-text fields and their limits, in characters.
inline constexpr std::int64_t kMerchantMaxCharacters = 200;
inline constexpr std::int64_t kDescriptionMaxCharacters = 2000;
inline constexpr std::int64_t kReceiptRefMaxCharacters = 500;

// Throws 22001 (text_too_long) naming `field` when it has more than `limit` characters.
void check_text_length(std::string_view field, std::int64_t characters, std::int64_t limit);

// A receipt reference as it is stored: without leading and trailing spaces, and none at all when
// nothing else is left, so that "receipt required" sees a blank reference as missing.
std::optional<std::string> stored_receipt_ref(std::optional<std::string_view> given);

// An expense's amount as a write gives it: the API's decimal (numeric text, such as "12.30"),
// minor units, or both, in `currency`.
struct WrittenAmount {
  std::optional<std::string> decimal;
  std::optional<std::int64_t> minor_units;
  std::string currency;
};

// The amount to store, in minor units. A decimal that is new (on an update: changed, or given
// with another currency) is parsed in the currency (22X01-22X05); otherwise the minor units
// stand. Throws 22004 when the amount is missing, and 22023 when both are new and disagree.
std::int64_t amount_in_minor_units(const WrittenAmount& now,
                                   const std::optional<WrittenAmount>& before);

// What the write-time rules read of an expense; ids as their 16 bytes.
struct RuleInputs {
  std::string org_id;
  std::string category_id;
  Day expense_date = 0;
  std::int64_t amount_minor = 0;
  std::string currency;
};

// Which rules a write re-runs: all of them for a new expense; for an update, only those whose
// inputs changed.
struct RulesToRun {
  bool amount = true;
  bool date_and_category = true;
};
RulesToRun rules_to_run(const RuleInputs& now, const std::optional<RuleInputs>& before);

// A tenant's own INSERT (one that row-level security governs): the expense is the caller's,
// and a draft. 42501 for someone else's user_id, 22X30 for any other status.
void check_tenant_creation(bool owner_is_caller, std::string_view status);

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
