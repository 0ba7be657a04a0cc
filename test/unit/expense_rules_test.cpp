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

TEST(ExpenseRules, TextLengthsAtTheirLimits) {
  EXPECT_EQ(sqlstate_of([] { expenses::check_text_length("merchant", 200, 200); }), "<accepted>");
  EXPECT_EQ(sqlstate_of([] { expenses::check_text_length("merchant", 201, 200); }), "22001");
  try {
    expenses::check_text_length("description", 2001, expenses::kDescriptionMaxCharacters);
    FAIL() << "2001 characters accepted";
  } catch (const RuleViolation& violation) {
    EXPECT_STREQ(violation.what(), "description: at most 2000 characters, got 2001");
    EXPECT_EQ(violation.hint(), "Shorten description to 2000 characters or fewer.");
  }
}

TEST(ExpenseRules, ReceiptReferencesAreTrimmedAndBlankIsNone) {
  EXPECT_EQ(expenses::stored_receipt_ref(std::nullopt), std::nullopt);
  EXPECT_EQ(expenses::stored_receipt_ref(""), std::nullopt);
  EXPECT_EQ(expenses::stored_receipt_ref("   "), std::nullopt);
  EXPECT_EQ(expenses::stored_receipt_ref("  doc-7 "), "doc-7");
  EXPECT_EQ(expenses::stored_receipt_ref("a b"), "a b");
  // Only spaces are trimmed, as btrim() does: a tab is text.
  EXPECT_EQ(expenses::stored_receipt_ref("\tx"), "\tx");
}

namespace {

expenses::WrittenAmount written(std::optional<std::string> decimal,
                                std::optional<std::int64_t> minor, std::string currency = "EUR") {
  return {std::move(decimal), minor, std::move(currency)};
}

}  // namespace

TEST(ExpenseRules, NewExpensesTakeTheirAmountFromEitherForm) {
  EXPECT_EQ(expenses::amount_in_minor_units(written("12.30", std::nullopt), std::nullopt), 1230);
  EXPECT_EQ(expenses::amount_in_minor_units(written("12.3", std::nullopt), std::nullopt), 1230);
  EXPECT_EQ(expenses::amount_in_minor_units(written("1500", std::nullopt, "JPY"), std::nullopt),
            1500);
  EXPECT_EQ(expenses::amount_in_minor_units(written(std::nullopt, 999), std::nullopt), 999);
  EXPECT_EQ(expenses::amount_in_minor_units(written("9.99", 999), std::nullopt), 999);
}

TEST(ExpenseRules, NewExpensesRefuseAMissingOrContradictoryAmount) {
  EXPECT_EQ(sqlstate_of([] {
              expenses::amount_in_minor_units(written(std::nullopt, std::nullopt), std::nullopt);
            }),
            "22004");
  EXPECT_EQ(
      sqlstate_of([] { expenses::amount_in_minor_units(written("9.99", 1000), std::nullopt); }),
      "22023");
  EXPECT_EQ(sqlstate_of([] {
              expenses::amount_in_minor_units(written("12.345", std::nullopt), std::nullopt);
            }),
            "22X03");
  EXPECT_EQ(sqlstate_of([] {
              expenses::amount_in_minor_units(written("12.30", std::nullopt, "XYZ"), std::nullopt);
            }),
            "22X01");
}

TEST(ExpenseRules, UpdatesParseOnlyANewDecimal) {
  const auto stored = written("12.30", 1230);
  // Nothing changed: the stored minor units stand.
  EXPECT_EQ(expenses::amount_in_minor_units(stored, stored), 1230);
  // A new decimal wins over the unchanged minor units.
  EXPECT_EQ(expenses::amount_in_minor_units(written("20.00", 1230), stored), 2000);
  // New minor units with the decimal unchanged: the minor units are the write.
  EXPECT_EQ(expenses::amount_in_minor_units(written("12.30", 500), stored), 500);
  // A new currency re-reads the decimal in it: 12.30 is no amount of JPY.
  EXPECT_EQ(
      sqlstate_of([&] { expenses::amount_in_minor_units(written("12.30", 1230, "JPY"), stored); }),
      "22X03");
  EXPECT_EQ(expenses::amount_in_minor_units(written("12.30", 1230, "USD"), stored), 1230);
  // Taking the amount away, or contradicting it.
  EXPECT_EQ(
      sqlstate_of([&] { expenses::amount_in_minor_units(written(std::nullopt, 1230), stored); }),
      "22004");
  EXPECT_EQ(
      sqlstate_of([&] { expenses::amount_in_minor_units(written("12.30", std::nullopt), stored); }),
      "22004");
  EXPECT_EQ(sqlstate_of([&] { expenses::amount_in_minor_units(written("20.00", 500), stored); }),
            "22023");
}

TEST(ExpenseRules, UpdatesRerunOnlyTheRulesWhoseInputsChanged) {
  const expenses::RuleInputs draft{"org", "travel", kToday - 95, 1230, "EUR"};
  const auto all = expenses::rules_to_run(draft, std::nullopt);
  EXPECT_TRUE(all.amount && all.date_and_category);
  const auto none = expenses::rules_to_run(draft, draft);  // a status change: 95 days is fine
  EXPECT_FALSE(none.amount || none.date_and_category);
  auto changed = draft;
  changed.currency = "USD";
  EXPECT_TRUE(expenses::rules_to_run(changed, draft).amount);
  EXPECT_FALSE(expenses::rules_to_run(changed, draft).date_and_category);
  changed = draft;
  changed.category_id = "meals";
  EXPECT_TRUE(expenses::rules_to_run(changed, draft).date_and_category);
  EXPECT_FALSE(expenses::rules_to_run(changed, draft).amount);
  changed = draft;
  changed.org_id = "other";
  EXPECT_TRUE(expenses::rules_to_run(changed, draft).date_and_category);
}

TEST(ExpenseRules, TenantsCreateTheirOwnDrafts) {
  EXPECT_EQ(sqlstate_of([] { expenses::check_tenant_creation(true, "draft"); }), "<accepted>");
  EXPECT_EQ(sqlstate_of([] { expenses::check_tenant_creation(false, "draft"); }), "42501");
  EXPECT_EQ(sqlstate_of([] { expenses::check_tenant_creation(true, "approved"); }), "22X30");
  EXPECT_EQ(sqlstate_of([] { expenses::check_tenant_creation(false, "approved"); }), "42501");
}
