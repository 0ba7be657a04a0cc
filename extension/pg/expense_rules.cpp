// The expense_rules trigger: reads a row of expense.expenses, looks up its organisation and
// category through a per-backend cache, and lets extension/core judge it.
//
// The cache is what keeps a million-row INSERT ... SELECT from costing a query per row. It is
// dropped whenever expense.orgs or expense.categories change anywhere: their statement trigger
// (expense.invalidate_policy_cache) queues a relcache invalidation, which PostgreSQL delivers
// to every backend when the change commits, and to this one at once.
#include <optional>
#include <string>
#include <unordered_map>

#include "core/error.hpp"
#include "core/expense_rules.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"
#include "pg/trigger.hpp"

namespace expense_ops::pg {

namespace {

namespace expenses = core::expenses;

// Days between the Unix epoch and PostgreSQL's date epoch, 2000-01-01.
constexpr expenses::Day kPostgresEpochDays = POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE;

struct OrgPolicy {
  std::string time_zone;
  TimestampTz today_computed_for = 0;  // the transaction start the date below belongs to
  expenses::Day today = 0;
};

struct PolicyCache {
  Oid orgs_relid = InvalidOid;
  Oid categories_relid = InvalidOid;
  std::unordered_map<std::string, OrgPolicy> orgs;
  std::unordered_map<std::string, std::optional<expenses::CategoryPolicy>> categories;
  bool callback_registered = false;

  // Forgets the relids too: an invalidation of these tables may mean they were dropped (DROP
  // EXTENSION), and new ones with other relids must be looked up and watched.
  void clear() noexcept {
    orgs.clear();
    categories.clear();
    orgs_relid = InvalidOid;
    categories_relid = InvalidOid;
  }
};

PolicyCache policy_cache;

// Runs inside PostgreSQL's invalidation processing: it may only forget things.
void on_relcache_invalidation(Datum, Oid relid) noexcept {
  if (relid == InvalidOid || relid == policy_cache.orgs_relid ||
      relid == policy_cache.categories_relid) {
    policy_cache.clear();
  }
}

void ensure_cache_ready() {
  if (!policy_cache.callback_registered) {
    guarded([] { CacheRegisterRelcacheCallback(on_relcache_invalidation, 0); });
    policy_cache.callback_registered = true;
  }
  if (policy_cache.orgs_relid == InvalidOid) {
    policy_cache.orgs_relid =
        guarded([] { return get_relname_relid("orgs", get_namespace_oid("expense", false)); });
    policy_cache.categories_relid = guarded(
        [] { return get_relname_relid("categories", get_namespace_oid("expense", false)); });
  }
}

std::string uuid_key(Datum uuid) {
  const auto* value = reinterpret_cast<const pg_uuid_t*>(DatumGetPointer(uuid));
  return std::string(reinterpret_cast<const char*>(value->data), UUID_LEN);
}

OrgPolicy& org_policy(Datum org_id) {
  const std::string key = uuid_key(org_id);
  auto found = policy_cache.orgs.find(key);
  if (found == policy_cache.orgs.end()) {
    static SPIPlanPtr plan = nullptr;
    Oid types[] = {UUIDOID};
    Datum parameters[] = {org_id};
    SpiConnection spi;
    const SpiRows rows = execute_read_only(
        kept_plan(plan, "SELECT time_zone FROM expense.orgs WHERE org_id = $1", 1, types),
        parameters);
    if (rows.size() != 1) {
      throw core::RuleViolation(core::sqlstate::kForeignKeyViolation,
                                "org_id does not name an organisation",
                                "Create the organisation first.");
    }
    OrgPolicy policy;
    policy.time_zone = rows[0].string(1).value_or("UTC");
    spi.finish();
    found = policy_cache.orgs.emplace(key, std::move(policy)).first;
  }
  return found->second;
}

// The organisation's date now; computed once per transaction and organisation.
expenses::Day org_today(Datum org_id) {
  OrgPolicy& org = org_policy(org_id);  // no SPI runs while this reference is used
  const TimestampTz now = GetCurrentTransactionStartTimestamp();
  if (org.today_computed_for != now) {
    const char* zone = org.time_zone.c_str();
    const DateADT date = guarded([&] {
      const Datum local = DirectFunctionCall2(timestamptz_zone, CStringGetTextDatum(zone),
                                              TimestampTzGetDatum(now));
      return DatumGetDateADT(DirectFunctionCall1(timestamp_date, local));
    });
    org.today = date + kPostgresEpochDays;
    org.today_computed_for = now;
  }
  return org.today;
}

// Returned by value: a later lookup may run SPI, which may process invalidations and clear
// the cache under any reference held into it.
std::optional<expenses::CategoryPolicy> category_policy(Datum org_id, Datum category_id) {
  const std::string key = uuid_key(org_id) + uuid_key(category_id);
  auto found = policy_cache.categories.find(key);
  if (found == policy_cache.categories.end()) {
    static SPIPlanPtr plan = nullptr;
    Oid types[] = {UUIDOID, UUIDOID};
    Datum parameters[] = {org_id, category_id};
    SpiConnection spi;
    const SpiRows rows = execute_read_only(
        kept_plan(plan,
                  "SELECT name, active, max_age_days::int8 FROM expense.categories"
                  " WHERE org_id = $1 AND category_id = $2",
                  2, types),
        parameters);
    std::optional<expenses::CategoryPolicy> policy;
    if (rows.size() == 1) {
      policy = expenses::CategoryPolicy{rows[0].string(1).value_or(""),
                                        rows[0].boolean(2).value_or(false),
                                        static_cast<std::int32_t>(rows[0].integer(3).value_or(90))};
    }
    spi.finish();
    found = policy_cache.categories.emplace(key, std::move(policy)).first;
  }
  return found->second;
}

// The columns the rules read, with the types they are read as. A column of another type is
// refused before any Datum is touched: a text read as a uuid would crash the backend.
struct ColumnSpec {
  const char* name;
  Oid type;
};
constexpr ColumnSpec kExpenseColumns[] = {{"org_id", UUIDOID},
                                          {"category_id", UUIDOID},
                                          {"expense_date", DATEOID},
                                          {"amount_minor", INT8OID},
                                          {"currency", TEXTOID}};
enum ExpenseColumn { kOrgId, kCategoryId, kExpenseDate, kAmountMinor, kCurrency, kColumnCount };

// Located once per table definition, and re-checked on every row by type, which costs five
// comparisons: an ALTER TABLE keeps the attribute numbers but may change a type.
struct Columns {
  Oid relid = InvalidOid;
  int natts = 0;
  int attnum[kColumnCount] = {};
};

const Columns& columns_of(Relation relation) {
  static Columns columns;
  const TupleDesc descriptor = RelationGetDescr(relation);
  bool located = columns.relid == RelationGetRelid(relation) && columns.natts == descriptor->natts;
  for (int i = 0; located && i < kColumnCount; ++i) {
    located = TupleDescAttr(descriptor, columns.attnum[i] - 1)->atttypid == kExpenseColumns[i].type;
  }
  if (!located) {
    Columns fresh;
    fresh.relid = RelationGetRelid(relation);
    fresh.natts = descriptor->natts;
    for (int i = 0; i < kColumnCount; ++i) {
      fresh.attnum[i] = typed_column(relation, kExpenseColumns[i].name, kExpenseColumns[i].type);
    }
    columns = fresh;
  }
  return columns;
}

struct ExpenseRow {
  Datum org_id;
  Datum category_id;
  expenses::Day expense_date;
  std::int64_t amount_minor;
  std::string currency;
};

ExpenseRow read_row(HeapTuple tuple, Relation relation) {
  const Columns& at = columns_of(relation);
  const TupleDesc descriptor = RelationGetDescr(relation);
  // NOT NULL constraints run after BEFORE triggers; a NULL here is refused by them, so the
  // rules simply wait for a complete row.
  auto value = [&](int attnum, bool& is_null) {
    return guarded([&] { return heap_getattr(tuple, attnum, descriptor, &is_null); });
  };
  bool nulls[5] = {};
  ExpenseRow row{};
  row.org_id = value(at.attnum[kOrgId], nulls[0]);
  row.category_id = value(at.attnum[kCategoryId], nulls[1]);
  const Datum date = value(at.attnum[kExpenseDate], nulls[2]);
  const Datum amount = value(at.attnum[kAmountMinor], nulls[3]);
  const Datum currency = value(at.attnum[kCurrency], nulls[4]);
  for (const bool is_null : nulls) {
    if (is_null) {
      throw core::RuleViolation(
          core::sqlstate::kNotNullViolation,
          "org_id, category_id, expense_date, amount and currency are required",
          "Fill in every required field of the expense.");
    }
  }
  row.expense_date = DatumGetDateADT(date) + kPostgresEpochDays;
  row.amount_minor = DatumGetInt64(amount);
  row.currency = guarded([&] { return static_cast<const char*>(TextDatumGetCString(currency)); });
  return row;
}

bool same_uuid(Datum a, Datum b) {
  return uuid_key(a) == uuid_key(b);
}

}  // namespace

}  // namespace expense_ops::pg

EXPENSE_OPS_FUNCTION(expense_ops_enforce_expense_rules) {
  using namespace expense_ops;
  TriggerData* trigger =
      &pg::own_trigger_call(fcinfo, "expense.enforce_expense_rules()", pg::TriggerTiming::kBefore,
                            pg::TriggerLevel::kRow, {{"expense", "expenses"}});
  const bool is_update = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event);
  HeapTuple tuple = is_update ? trigger->tg_newtuple : trigger->tg_trigtuple;
  pg::ensure_cache_ready();
  const pg::ExpenseRow row = pg::read_row(tuple, trigger->tg_relation);

  bool amount_changed = true;
  bool date_or_category_changed = true;
  if (is_update) {
    // Status changes pass without a second look: an approval on day 95 must not fail the
    // 90-day rule that the draft met when it was written.
    const pg::ExpenseRow old = pg::read_row(trigger->tg_trigtuple, trigger->tg_relation);
    amount_changed = old.amount_minor != row.amount_minor || old.currency != row.currency;
    date_or_category_changed = old.expense_date != row.expense_date ||
                               !pg::same_uuid(old.category_id, row.category_id) ||
                               !pg::same_uuid(old.org_id, row.org_id);
  }
  if (amount_changed) {
    core::expenses::check_amount(row.amount_minor, row.currency);
  }
  if (date_or_category_changed) {
    const auto category = pg::category_policy(row.org_id, row.category_id);
    core::expenses::check_category(category);
    core::expenses::check_date(row.expense_date, pg::org_today(row.org_id), category->max_age_days);
  }
  return PointerGetDatum(tuple);
}

EXPENSE_OPS_FUNCTION(expense_ops_invalidate_policy_cache) {
  using namespace expense_ops;
  const TriggerData* trigger = &pg::own_trigger_call(
      fcinfo, "expense.invalidate_policy_cache()", pg::TriggerTiming::kAfter,
      pg::TriggerLevel::kStatement, {{"expense", "orgs"}, {"expense", "categories"}});
  const Oid relid = RelationGetRelid(trigger->tg_relation);
  pg::guarded([&] { CacheInvalidateRelcacheByRelid(relid); });
  return PointerGetDatum(nullptr);
}
