// The expense_rules trigger: reads a row of expense.expenses, looks up its organisation and
// category through a per-backend cache, lets extension/core judge it, and completes the row the
// way core says: the amount in both its forms, the owner's organisation and its base currency,
// the free text as stored. api.expenses inserts straight into the table (an automatically
// updatable view), so this is also where an API creation is checked.
//
// The cache is what keeps a million-row INSERT ... SELECT from costing a query per row. It is
// dropped whenever expense.orgs or expense.categories change anywhere: their statement trigger
// (expense.invalidate_policy_cache) queues a relcache invalidation, which PostgreSQL delivers
// to every backend when the change commits, and to this one at once.
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/currency.hpp"
#include "core/error.hpp"
#include "core/expense_rules.hpp"
#include "pg/boundary.hpp"
#include "pg/caller.hpp"
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
  std::string base_currency;
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
  return pg::uuid_key(*DatumGetUUIDP(uuid));
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
        kept_plan(plan, "SELECT time_zone, base_currency FROM expense.orgs WHERE org_id = $1", 1,
                  types),
        parameters);
    if (rows.size() != 1) {
      throw core::RuleViolation(core::sqlstate::kForeignKeyViolation,
                                "org_id does not name an organisation",
                                "Create the organisation first.");
    }
    OrgPolicy policy;
    policy.time_zone = rows[0].string(1).value_or("UTC");
    policy.base_currency = rows[0].string(2).value_or("");
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

// The columns the trigger reads and writes, with the types they are read as. A column of another
// type is refused before any Datum is touched: a text read as a uuid would crash the backend.
struct ColumnSpec {
  const char* name;
  Oid type;
};
enum ExpenseColumn {
  kOrgId,
  kUserId,
  kCategoryId,
  kExpenseDate,
  kAmountMinor,
  kAmount,
  kCurrency,
  kStatus,
  kMerchant,
  kDescription,
  kReceiptRef,
  kBaseCurrency,
  kColumnCount
};
constexpr ColumnSpec kExpenseColumns[kColumnCount] = {
    {"org_id", UUIDOID},       {"user_id", UUIDOID},      {"category_id", UUIDOID},
    {"expense_date", DATEOID}, {"amount_minor", INT8OID}, {"amount", NUMERICOID},
    {"currency", TEXTOID},     {"status", TEXTOID},       {"merchant", TEXTOID},
    {"description", TEXTOID},  {"receipt_ref", TEXTOID},  {"base_currency", TEXTOID}};

// amount and base_currency came with 0.5.0. Between installing a newer library and ALTER
// EXTENSION UPDATE, the older table has neither: the trigger then applies the rules and
// completes nothing, as the older library did.
bool came_with_0_5_0(int column) {
  return column == kAmount || column == kBaseCurrency;
}

// Located once per table definition, and re-checked on every row by type, which costs a
// comparison a column: an ALTER TABLE keeps the attribute numbers but may change a type.
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
    located = columns.attnum[i] == 0 ||
              TupleDescAttr(descriptor, columns.attnum[i] - 1)->atttypid == kExpenseColumns[i].type;
  }
  if (!located) {
    Columns fresh;
    fresh.relid = RelationGetRelid(relation);
    fresh.natts = descriptor->natts;
    for (int i = 0; i < kColumnCount; ++i) {
      const auto locate = came_with_0_5_0(i) ? optional_typed_column : typed_column;
      fresh.attnum[i] = locate(relation, kExpenseColumns[i].name, kExpenseColumns[i].type);
    }
    columns = fresh;
  }
  return columns;
}

// One version of the row: each column's Datum, or nullopt for NULL.
struct ExpenseRow {
  std::optional<Datum> value[kColumnCount];

  std::optional<std::string> string_value(ExpenseColumn column) const {
    if (!value[column]) {
      return std::nullopt;
    }
    const Datum datum = *value[column];
    return std::string(
        guarded([&] { return static_cast<const char*>(TextDatumGetCString(datum)); }));
  }
  std::optional<std::string> uuid_bytes(ExpenseColumn column) const {
    return value[column] ? std::optional<std::string>(uuid_key(*value[column])) : std::nullopt;
  }
};

// One pass over the tuple: heap_getattr per column would walk the variable-width columns
// before each one again, and a million-row insert reads every row.
ExpenseRow read_row(HeapTuple tuple, Relation relation) {
  const Columns& at = columns_of(relation);
  const TupleDesc descriptor = RelationGetDescr(relation);
  static std::vector<Datum> values;
  static std::vector<char> nulls;  // bool, which std::vector<bool> cannot hand out
  values.resize(descriptor->natts);
  nulls.resize(descriptor->natts);
  guarded([&] {
    heap_deform_tuple(tuple, descriptor, values.data(), reinterpret_cast<bool*>(nulls.data()));
  });
  ExpenseRow row;
  for (int i = 0; i < kColumnCount; ++i) {
    const int attnum = at.attnum[i];
    if (attnum != 0 && !nulls[attnum - 1]) {  // 0: a column the table predates, read as NULL
      row.value[i] = values[attnum - 1];
    }
  }
  return row;
}

[[noreturn]] void refuse_incomplete_row() {
  throw core::RuleViolation(core::sqlstate::kNotNullViolation,
                            "user_id, category_id, expense_date, amount and currency are required",
                            "Fill in every required field of the expense.");
}

// The amount as the row gives it, for core::expenses::amount_in_minor_units.
expenses::WrittenAmount written_amount(const ExpenseRow& row) {
  expenses::WrittenAmount amount;
  if (row.value[kAmount]) {
    amount.decimal = numeric_text(*row.value[kAmount]);
  }
  if (row.value[kAmountMinor]) {
    amount.minor_units = DatumGetInt64(*row.value[kAmountMinor]);
  }
  amount.currency = row.string_value(kCurrency).value_or("");
  return amount;
}

expenses::RuleInputs rule_inputs(const ExpenseRow& row, std::int64_t amount_minor) {
  expenses::RuleInputs inputs;
  inputs.org_id = *row.uuid_bytes(kOrgId);
  inputs.category_id = *row.uuid_bytes(kCategoryId);
  inputs.expense_date = DatumGetDateADT(*row.value[kExpenseDate]) + kPostgresEpochDays;
  inputs.amount_minor = amount_minor;
  inputs.currency = *row.string_value(kCurrency);
  return inputs;
}

// A text column's length in characters of the server encoding, counted only when its bytes
// could exceed `limit`: no character is shorter than a byte.
std::int64_t characters_if_over(Datum value, std::int64_t limit) {
  return guarded([&] {
    const text* detoasted = reinterpret_cast<const text*>(
        pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(value))));
    const int bytes = VARSIZE_ANY_EXHDR(detoasted);
    return bytes <= limit
               ? static_cast<std::int64_t>(bytes)
               : static_cast<std::int64_t>(pg_mbstrlen_with_len(VARDATA_ANY(detoasted), bytes));
  });
}

// The changes the trigger makes to the row it returns.
class RowChanges {
 public:
  void set(ExpenseColumn column, std::optional<Datum> value) {
    if (count_ == kColumnCount) {
      return;
    }
    columns_[count_] = column;
    values_[count_] = value.value_or(0);
    nulls_[count_] = !value;
    ++count_;
  }
  HeapTuple apply(HeapTuple tuple, Relation relation) const {
    if (count_ == 0) {
      return tuple;
    }
    const Columns& at = columns_of(relation);
    int attnums[kColumnCount];
    Datum values[kColumnCount];
    bool nulls[kColumnCount];
    int count = 0;
    for (int i = 0; i < count_; ++i) {
      if (at.attnum[columns_[i]] != 0) {  // a column the table predates stays as it is
        attnums[count] = at.attnum[columns_[i]];
        values[count] = values_[i];
        nulls[count] = nulls_[i];
        ++count;
      }
    }
    if (count == 0) {
      return tuple;
    }
    const TupleDesc descriptor = RelationGetDescr(relation);
    return guarded([&] {
      return heap_modify_tuple_by_cols(tuple, descriptor, count, attnums, values, nulls);
    });
  }

 private:
  int count_ = 0;
  ExpenseColumn columns_[kColumnCount] = {};
  Datum values_[kColumnCount] = {};
  bool nulls_[kColumnCount] = {};
};

// Whether row-level security governs this write: the writer is a tenant's role, not the
// extension's own SECURITY DEFINER functions, a superuser or the table's owner.
// Asked once per transaction and role: check_enable_rls reads three catalog entries.
bool tenant_write(Relation relation) {
  struct Answer {
    LocalTransactionId transaction = InvalidLocalTransactionId;
    Oid user = InvalidOid;
    Oid relid = InvalidOid;
    bool row_security = false;
    bool forced = false;
    bool governed = false;
  };
  static Answer answer;
  const Oid relid = RelationGetRelid(relation);
  const Oid user = GetUserId();
  const bool row_security = relation->rd_rel->relrowsecurity;
  const bool forced = relation->rd_rel->relforcerowsecurity;
  if (answer.transaction != MyProc->lxid || answer.user != user || answer.relid != relid ||
      answer.row_security != row_security || answer.forced != forced) {
    answer = Answer{MyProc->lxid,
                    user,
                    relid,
                    row_security,
                    forced,
                    guarded([&] { return check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED; })};
  }
  return answer.governed;
}

}  // namespace

}  // namespace expense_ops::pg

EXPENSE_OPS_FUNCTION(expense_ops_enforce_expense_rules) {
  using namespace expense_ops;
  namespace expenses = core::expenses;
  TriggerData* trigger =
      &pg::own_trigger_call(fcinfo, "expense.enforce_expense_rules()", pg::TriggerTiming::kBefore,
                            pg::TriggerLevel::kRow, {{"expense", "expenses"}});
  const bool is_update = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event);
  HeapTuple tuple = is_update ? trigger->tg_newtuple : trigger->tg_trigtuple;
  Relation relation = trigger->tg_relation;
  pg::ensure_cache_ready();
  const pg::ExpenseRow row = pg::read_row(tuple, relation);
  std::optional<pg::ExpenseRow> old;
  if (is_update) {
    old = pg::read_row(trigger->tg_trigtuple, relation);
  }
  pg::RowChanges changes;

  // The free text, as core stores it. Length is counted in characters of the server encoding.
  const auto check_length = [&](pg::ExpenseColumn column, std::int64_t limit) {
    if (row.value[column]) {
      expenses::check_text_length(pg::kExpenseColumns[column].name,
                                  pg::characters_if_over(*row.value[column], limit), limit);
    }
  };
  check_length(pg::kMerchant, expenses::kMerchantMaxCharacters);
  check_length(pg::kDescription, expenses::kDescriptionMaxCharacters);
  check_length(pg::kReceiptRef, expenses::kReceiptRefMaxCharacters);
  if (!row.value[pg::kDescription]) {
    changes.set(pg::kDescription, pg::text_datum(""));
  }
  if (row.value[pg::kReceiptRef]) {
    const auto receipt_ref = row.string_value(pg::kReceiptRef);
    const auto stored_receipt_ref = expenses::stored_receipt_ref(receipt_ref);
    if (stored_receipt_ref != receipt_ref) {
      changes.set(pg::kReceiptRef, stored_receipt_ref
                                       ? std::optional<Datum>(pg::text_datum(*stored_receipt_ref))
                                       : std::nullopt);
    }
  }

  // The owner and their organisation. An API creation names neither: user_id defaults to the
  // caller, and the organisation is the owner's.
  if (!row.value[pg::kUserId] || !row.value[pg::kCategoryId] || !row.value[pg::kExpenseDate] ||
      !row.value[pg::kCurrency]) {
    pg::refuse_incomplete_row();
  }
  const pg_uuid_t owner = *DatumGetUUIDP(*row.value[pg::kUserId]);
  if (!is_update && pg::tenant_write(relation)) {
    const auto caller = pg::caller_user_id();
    const bool owner_is_caller = caller && std::memcmp(caller->data, owner.data, UUID_LEN) == 0;
    expenses::check_tenant_creation(owner_is_caller,
                                    row.string_value(pg::kStatus).value_or("draft"));
  }
  pg::ExpenseRow completed = row;
  if (!row.value[pg::kOrgId]) {
    const auto organisation = pg::organisation_of_user(owner);
    if (!organisation) {
      throw core::RuleViolation(core::sqlstate::kForeignKeyViolation,
                                "user_id does not name a user", "Create the user first.");
    }
    const Datum org_id = pg::uuid_datum(*organisation);
    completed.value[pg::kOrgId] = org_id;
    changes.set(pg::kOrgId, org_id);
  }

  // The amount, in the form given, then the rules whose inputs changed.
  const expenses::WrittenAmount written = pg::written_amount(row);
  const std::int64_t amount_minor = expenses::amount_in_minor_units(
      written, old ? std::optional(pg::written_amount(*old)) : std::nullopt);
  const expenses::RuleInputs inputs = pg::rule_inputs(completed, amount_minor);
  const auto to_run = expenses::rules_to_run(
      inputs,
      old ? std::optional(pg::rule_inputs(*old, DatumGetInt64(*old->value[pg::kAmountMinor])))
          : std::nullopt);
  if (to_run.amount) {
    expenses::check_amount(amount_minor, inputs.currency);
  }
  const Datum org_id = *completed.value[pg::kOrgId];
  if (to_run.date_and_category) {
    const Datum category_id = *row.value[pg::kCategoryId];
    const auto category = pg::category_policy(org_id, category_id);
    expenses::check_category(category);
    expenses::check_date(inputs.expense_date, pg::org_today(org_id), category->max_age_days);
  }

  // Both forms of the amount, the decimal with exactly the currency's decimals.
  const int exponent = core::known_currency(inputs.currency).exponent;
  if (!row.value[pg::kAmountMinor] || DatumGetInt64(*row.value[pg::kAmountMinor]) != amount_minor) {
    changes.set(pg::kAmountMinor, Int64GetDatum(amount_minor));
  }
  if (!written.decimal || *written.decimal != core::format_amount(amount_minor, exponent)) {
    changes.set(pg::kAmount, pg::guarded([&] {
                  return NumericGetDatum(int64_div_fast_to_numeric(amount_minor, exponent));
                }));
  }
  const std::string& base_currency = pg::org_policy(org_id).base_currency;  // no SPI below
  if (row.string_value(pg::kBaseCurrency) != base_currency) {
    changes.set(pg::kBaseCurrency, pg::text_datum(base_currency));
  }
  return PointerGetDatum(changes.apply(tuple, relation));
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
