// Who is calling: the user row named by the request's claims (DESIGN.md: roles come from the
// user row, never from claims beyond the user id), read once per transaction.
//
// Row-level security asks on every row written and read. Through SECURITY DEFINER PL/pgSQL
// each question was a function call with a GUC switch and an SPI query; PostgREST runs one
// transaction per request, so one read of the row per transaction answers all of them. An
// entry lives until the end of its transaction and is dropped earlier when
//   * the claims change (set_config of request.jwt.claims),
//   * iam.users is written in this backend (the statement trigger iam.forget_caller), or
//   * a subtransaction aborts (it may have undone such a write).
// Another session's change to a user row reaches a transaction that already read it at its
// next transaction, as a row read at the start of a REPEATABLE READ transaction would.
//
// The row is read by an index scan that checks no privileges, as the SECURITY DEFINER
// functions did: a caller may learn their own organisation and role, and nothing else.
#include "pg/caller.hpp"

#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/trigger.hpp"

namespace expense_ops::pg {

namespace {

// What the caller's and their colleagues' rows say. Plain data: it is filled under guarded().
struct UserRow {
  bool found;
  bool disabled;
  pg_uuid_t org_id;
  bool has_manager;
  pg_uuid_t manager_id;
  char* role;  // palloc'd in the caller's memory context
};

struct Account {
  pg_uuid_t user_id;
  pg_uuid_t org_id;
  std::string role;
};

struct Colleague {
  pg_uuid_t org_id;
  std::optional<pg_uuid_t> manager_id;
};

struct CallerCache {
  bool valid = false;
  LocalTransactionId transaction = InvalidLocalTransactionId;
  std::uint64_t users_generation = 0;
  std::string claims;
  std::optional<pg_uuid_t> subject;
  std::optional<Account> account;
  std::unordered_map<std::string, std::optional<Colleague>> colleagues;
};

CallerCache cache;
std::uint64_t users_generation = 0;  // bumped by every write to iam.users in this backend
bool subtransaction_callback_registered = false;

// Runs inside PostgreSQL's abort processing: it may only forget things.
void forget_on_subtransaction_abort(SubXactEvent event, SubTransactionId, SubTransactionId,
                                    void*) noexcept {
  if (event == SUBXACT_EVENT_ABORT_SUB) {
    cache.valid = false;
  }
}

// How iam.users is read: its columns (type-checked) and its primary key index on user_id,
// located once per table definition.
struct UsersTable {
  Oid relid = InvalidOid;
  int natts = 0;
  Oid key_index = InvalidOid;
  int user_id = 0, org_id = 0, role = 0, disabled_at = 0, manager_id = 0;
};
UsersTable users_table;

const UsersTable& users_table_of(Relation relation) {
  const TupleDesc descriptor = RelationGetDescr(relation);
  if (users_table.relid == RelationGetRelid(relation) && users_table.natts == descriptor->natts &&
      TupleDescAttr(descriptor, users_table.role - 1)->atttypid == TEXTOID) {
    return users_table;
  }
  UsersTable located;
  located.relid = RelationGetRelid(relation);
  located.natts = descriptor->natts;
  located.user_id = typed_column(relation, "user_id", UUIDOID);
  located.org_id = typed_column(relation, "org_id", UUIDOID);
  located.role = typed_column(relation, "role", TEXTOID);
  located.disabled_at = typed_column(relation, "disabled_at", TIMESTAMPTZOID);
  located.manager_id = typed_column(relation, "manager_id", UUIDOID);
  located.key_index = guarded([&] {
    const Oid index = RelationGetPrimaryKeyIndex(relation);
    if (!OidIsValid(index)) {
      return InvalidOid;
    }
    Relation index_relation = index_open(index, AccessShareLock);
    const bool on_user_id = index_relation->rd_index->indnkeyatts == 1 &&
                            index_relation->rd_index->indkey.values[0] == located.user_id;
    index_close(index_relation, AccessShareLock);
    return on_user_id ? index : InvalidOid;
  });
  if (!OidIsValid(located.key_index)) {
    throw core::RuleViolation(core::sqlstate::kTriggerProtocolViolated,
                              "iam.users has no primary key on user_id",
                              "The expense_ops extension's tables were altered; reinstall it.");
  }
  users_table = located;
  return users_table;
}

UserRow read_user(const pg_uuid_t& user_id) {
  const Oid relid = cached_relation_oid({"iam", "users"});
  if (!OidIsValid(relid)) {
    throw core::RuleViolation(core::sqlstate::kTriggerProtocolViolated, "iam.users does not exist",
                              "The expense_ops extension is not installed in this database.");
  }
  Relation relation = guarded([&] { return table_open(relid, AccessShareLock); });
  const UsersTable& at = users_table_of(relation);
  const UserRow row = guarded([&] {
    UserRow result{};
    ScanKeyData key;
    ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&user_id));
    Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
    SysScanDesc scan = systable_beginscan(relation, at.key_index, true, snapshot, 1, &key);
    const HeapTuple tuple = systable_getnext(scan);
    if (HeapTupleIsValid(tuple)) {
      const TupleDesc descriptor = RelationGetDescr(relation);
      bool is_null = false;
      const Datum org_id = heap_getattr(tuple, at.org_id, descriptor, &is_null);
      result.found = !is_null;  // NOT NULL in the table; a user of no organisation is nobody
      if (result.found) {
        result.org_id = *DatumGetUUIDP(org_id);
      }
      const Datum role = heap_getattr(tuple, at.role, descriptor, &is_null);
      result.role = is_null ? pstrdup("") : TextDatumGetCString(role);
      bool never_disabled = true;
      heap_getattr(tuple, at.disabled_at, descriptor, &never_disabled);
      result.disabled = !never_disabled;
      const Datum manager = heap_getattr(tuple, at.manager_id, descriptor, &is_null);
      result.has_manager = !is_null;
      if (!is_null) {
        result.manager_id = *DatumGetUUIDP(manager);
      }
    }
    systable_endscan(scan);
    table_close(relation, AccessShareLock);
    return result;
  });
  return row;
}

// The user id in the claims: their "sub", read as (claims::jsonb ->> 'sub')::uuid would read
// it, with the same errors for claims that are not JSON or a sub that is not a uuid.
std::optional<pg_uuid_t> subject_of(const char* claims) {
  if (claims == nullptr || claims[0] == '\0') {
    return std::nullopt;
  }
  struct Subject {
    bool present;
    pg_uuid_t value;
  };
  const Subject subject = guarded([&] {
    Subject result{};
    Jsonb* document = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
    if (!JB_ROOT_IS_OBJECT(document)) {
      return result;
    }
    JsonbValue value;
    if (getKeyJsonValueFromContainer(&document->root, "sub", 3, &value) == nullptr ||
        value.type == jbvNull) {
      return result;
    }
    char* text;
    switch (value.type) {
      case jbvString:
        text = pnstrdup(value.val.string.val, value.val.string.len);
        break;
      case jbvNumeric:
        text =
            DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(value.val.numeric)));
        break;
      case jbvBool:
        text = pstrdup(value.val.boolean ? "true" : "false");
        break;
      default:
        text = JsonbToCString(nullptr, value.val.binary.data, value.val.binary.len);
        break;
    }
    result.value = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(text)));
    result.present = true;
    return result;
  });
  return subject.present ? std::optional<pg_uuid_t>(subject.value) : std::nullopt;
}

const CallerCache& caller() {
  if (!subtransaction_callback_registered) {
    guarded([] { RegisterSubXactCallback(forget_on_subtransaction_abort, nullptr); });
    subtransaction_callback_registered = true;
  }
  const char* claims = guarded([] { return GetConfigOption("request.jwt.claims", true, false); });
  if (cache.valid && cache.transaction == MyProc->lxid &&
      cache.users_generation == users_generation &&
      cache.claims == (claims != nullptr ? claims : "")) {
    return cache;
  }
  cache.valid = false;
  CallerCache fresh;
  fresh.transaction = MyProc->lxid;
  fresh.users_generation = users_generation;
  fresh.claims = claims != nullptr ? claims : "";
  fresh.subject = subject_of(claims);
  if (fresh.subject) {
    const UserRow row = read_user(*fresh.subject);
    if (row.found && !row.disabled) {
      fresh.account = Account{*fresh.subject, row.org_id, row.role};
    }
  }
  fresh.valid = true;
  cache = std::move(fresh);
  return cache;
}

bool same(const pg_uuid_t& a, const pg_uuid_t& b) {
  return std::memcmp(a.data, b.data, UUID_LEN) == 0;
}

// A colleague's organisation and manager, read once per transaction like the caller's row.
std::optional<Colleague> colleague(const pg_uuid_t& user_id) {
  const std::string key = uuid_key(user_id);
  const auto found = cache.colleagues.find(key);
  if (found != cache.colleagues.end()) {
    return found->second;
  }
  const UserRow row = read_user(user_id);
  std::optional<Colleague> result;
  if (row.found) {
    result = Colleague{row.org_id,
                       row.has_manager ? std::optional<pg_uuid_t>(row.manager_id) : std::nullopt};
  }
  cache.colleagues.emplace(key, result);
  return result;
}

}  // namespace

std::optional<pg_uuid_t> caller_user_id() {
  return caller().subject;
}

std::optional<pg_uuid_t> organisation_of_user(const pg_uuid_t& user_id) {
  const auto& account = caller().account;
  if (account && same(account->user_id, user_id)) {
    return account->org_id;
  }
  const auto them = colleague(user_id);
  return them ? std::optional<pg_uuid_t>(them->org_id) : std::nullopt;
}

}  // namespace expense_ops::pg

// iam.current_user_id() RETURNS uuid: the sub claim, or NULL.
EXPENSE_OPS_FUNCTION(expense_ops_current_user_id) {
  using namespace expense_ops;
  const auto& subject = pg::caller().subject;
  if (!subject) {
    PG_RETURN_NULL();
  }
  return pg::uuid_datum(*subject);
}

// iam.current_account(OUT user_id uuid, OUT org_id uuid, OUT role text): one row, all NULL for
// an anonymous or disabled caller.
EXPENSE_OPS_FUNCTION(expense_ops_current_account) {
  using namespace expense_ops;
  const auto& account = pg::caller().account;
  Datum values[3] = {};
  bool nulls[3] = {true, true, true};
  if (account) {
    values[0] = pg::uuid_datum(account->user_id);
    values[1] = pg::uuid_datum(account->org_id);
    values[2] = pg::text_datum(account->role);
    nulls[0] = nulls[1] = nulls[2] = false;
  }
  return pg::composite_datum(fcinfo, "iam.current_account", values, nulls);
}

// iam.caller_has_role(org_id uuid, VARIADIC roles text[]) RETURNS boolean
EXPENSE_OPS_FUNCTION(expense_ops_caller_has_role) {
  using namespace expense_ops;
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) {
    PG_RETURN_BOOL(false);
  }
  const auto& account = pg::caller().account;
  if (!account || !pg::same(account->org_id, *PG_GETARG_UUID_P(0))) {
    PG_RETURN_BOOL(false);
  }
  const std::string& role = account->role;
  const Datum roles = PG_GETARG_DATUM(1);
  const bool has_role = pg::guarded([&] {
    ArrayType* array = DatumGetArrayTypeP(roles);
    Datum* elements;
    bool* element_nulls;
    int count;
    deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elements, &element_nulls, &count);
    for (int i = 0; i < count; ++i) {
      if (!element_nulls[i]) {
        const text* candidate = DatumGetTextPP(elements[i]);
        if (static_cast<std::size_t>(VARSIZE_ANY_EXHDR(candidate)) == role.size() &&
            std::memcmp(VARDATA_ANY(candidate), role.data(), role.size()) == 0) {
          return true;
        }
      }
    }
    return false;
  });
  PG_RETURN_BOOL(has_role);
}

// iam.can_see_expenses_of(owner uuid) RETURNS boolean: their own, their reports', or the whole
// organisation's for finance and admin; never another organisation's.
EXPENSE_OPS_FUNCTION(expense_ops_can_see_expenses_of) {
  using namespace expense_ops;
  if (PG_ARGISNULL(0)) {
    PG_RETURN_BOOL(false);
  }
  const pg_uuid_t owner = *PG_GETARG_UUID_P(0);
  const auto& account = pg::caller().account;
  if (!account) {
    PG_RETURN_BOOL(false);
  }
  if (pg::same(owner, account->user_id)) {
    PG_RETURN_BOOL(true);
  }
  const bool sees_organisation = account->role == "finance" || account->role == "admin";
  const pg_uuid_t me = account->user_id;
  const pg_uuid_t my_org = account->org_id;
  const auto them = pg::colleague(owner);  // may refill the cache: `account` is not used below
  PG_RETURN_BOOL(them && pg::same(them->org_id, my_org) &&
                 (sees_organisation || (them->manager_id && pg::same(*them->manager_id, me))));
}

// iam.forget_caller(): AFTER each statement on iam.users. The cached caller may have changed.
EXPENSE_OPS_FUNCTION(expense_ops_forget_caller) {
  using namespace expense_ops;
  pg::own_trigger_call(fcinfo, "iam.forget_caller()", pg::TriggerTiming::kAfter,
                       pg::TriggerLevel::kStatement, {{"iam", "users"}});
  ++pg::users_generation;
  return PointerGetDatum(nullptr);
}
