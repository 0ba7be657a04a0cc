#include "core/expense_rules.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace expenses = expense_ops::core::expenses;
using expense_ops::core::RuleViolation;

namespace {

constexpr expenses::Day kToday = 20783;  // 2026-11-26

template <typename Check>
std::string sqlstate_of(Check check) {
  try {
    check();
  } catch (const RuleViolation& violation) {
    return violation.sqlstate();
  }
  return "<accepted>";
}

}  // namespace

TEST(ExpenseRules, FormatsDays) {
  EXPECT_EQ(expenses::format_day(0), "1970-01-01");
  EXPECT_EQ(expenses::format_day(kToday), "2026-11-26");
  EXPECT_EQ(expenses::format_day(11016), "2000-02-29");
  EXPECT_EQ(expenses::format_day(-1), "1969-12-31");
}

TEST(ExpenseRules, DatesAtTheirBoundaries) {
  EXPECT_EQ(sqlstate_of([] { expenses::check_date(kToday, kToday, 90); }), "<accepted>");
  EXPECT_EQ(sqlstate_of([] { expenses::check_date(kToday + 1, kToday, 90); }), "22X20");
  EXPECT_EQ(sqlstate_of([] { expenses::check_date(kToday - 90, kToday, 90); }), "<accepted>");
  EXPECT_EQ(sqlstate_of([] { expenses::check_date(kToday - 91, kToday, 90); }), "22X21");
  EXPECT_EQ(sqlstate_of([] { expenses::check_date(kToday - 1, kToday, 1); }), "<accepted>");
}

TEST(ExpenseRules, MessagesNameTheFieldAndTheRule) {
  try {
    expenses::check_date(kToday + 1, kToday, 90);
    FAIL();
  } catch (const RuleViolation& violation) {
    EXPECT_STREQ(violation.what(),
                 "expense_date 2026-11-27 is in the future (today is 2026-11-26 in the "
                 "organisation's time zone)");
    EXPECT_FALSE(violation.hint().empty());
  }
}

TEST(ExpenseRules, AmountsAtTheirBoundaries) {
  EXPECT_EQ(sqlstate_of([] { expenses::check_amount(1, "USD"); }), "<accepted>");
  EXPECT_EQ(sqlstate_of([] { expenses::check_amount(0, "USD"); }), "22X04");
  EXPECT_EQ(sqlstate_of([] { expenses::check_amount(-100, "USD"); }), "22X04");
  EXPECT_EQ(sqlstate_of([] { expenses::check_amount(99'999'999'999'999, "USD"); }), "<accepted>");
  EXPECT_EQ(sqlstate_of([] { expenses::check_amount(100'000'000'000'000, "USD"); }), "22X05");
  EXPECT_EQ(sqlstate_of([] { expenses::check_amount(999'999'999'999, "JPY"); }), "<accepted>");
  EXPECT_EQ(sqlstate_of([] { expenses::check_amount(1'000'000'000'000, "JPY"); }), "22X05");
  EXPECT_EQ(sqlstate_of([] { expenses::check_amount(100, "EURO"); }), "22X01");
}

TEST(ExpenseRules, Categories) {
  EXPECT_EQ(sqlstate_of([] { expenses::check_category(std::nullopt); }), "22X23");
  EXPECT_EQ(sqlstate_of([] {
              expenses::check_category(expenses::CategoryPolicy{"Travel", false, 90});
            }),
            "22X22");
  EXPECT_EQ(sqlstate_of([] {
              expenses::check_category(expenses::CategoryPolicy{"Travel", true, 90});
            }),
            "<accepted>");
}

TEST(ExpenseRules, SubmissionLimitsAtTheirBoundaries) {
  expenses::SubmissionFacts facts;
  facts.receipt_threshold = 2500;
  facts.base_amount = 2500;
  EXPECT_EQ(sqlstate_of([&] { expenses::check_submission(facts); }), "<accepted>");
  facts.base_amount = 2501;
  EXPECT_EQ(sqlstate_of([&] { expenses::check_submission(facts); }), "22X33");
  facts.has_receipt = true;
  facts.per_item_limit = 10000;
  facts.base_amount = 10000;
  EXPECT_EQ(sqlstate_of([&] { expenses::check_submission(facts); }), "<accepted>");
  facts.base_amount = 10001;
  EXPECT_EQ(sqlstate_of([&] { expenses::check_submission(facts); }), "22X34");
  facts.base_amount = 4000;
  facts.per_day_limit = 10000;
  facts.same_day_total = 6000;
  EXPECT_EQ(sqlstate_of([&] { expenses::check_submission(facts); }), "<accepted>");
  facts.same_day_total = 6001;
  EXPECT_EQ(sqlstate_of([&] { expenses::check_submission(facts); }), "22X35");
}
