// The creations in the audit trail of expenses, written in C++.
//
// Creating an expense is the write path the API lives on, and its event says no more than who
// created which expense in which status. Through a PL/pgSQL statement trigger that event cost
// more than the expense itself: a function call with a GUC switch, and an INSERT ... SELECT
// planned for the transition table on every statement. This trigger reads the same transition
// table and inserts the events through the executor's single-row path, as logical replication
// applies rows, once per statement: one row costs one row, and a million-row INSERT ... SELECT
// keeps a set-based audit. Edits and deletions, which are rarer and compute a diff of every
// column, stay in PL/pgSQL (extension/sql/audit.sql).
//
// The events are written without privilege checks, as the SECURITY DEFINER function did: nobody
// needs INSERT on the audit trail, and only this trigger, on expense.expenses, writes to it.
#include <algorithm>
#include <optional>

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/caller.hpp"
#include "pg/trigger.hpp"

namespace expense_ops::pg {

namespace {

// The columns of expense.expenses the event reads.
struct ExpenseColumns {
  int expense_id, org_id, user_id, status;
};

// The columns of expense.expense_events, and its identity sequence.
struct EventColumns {
  int event_id, org_id, expense_id, owner_id, actor_id, at, action, from_status, to_status,
      changed_fields;
  Oid event_id_sequence;
};

// Located once per definition of the two tables: a relcache invalidation of either (any ALTER
// TABLE, DROP EXTENSION) forgets them. Looking up the identity sequence reads pg_depend, which
// would otherwise cost a single-row insert more than its event.
struct Located {
  Oid expenses_relid = InvalidOid;
  Oid events_relid = InvalidOid;
  ExpenseColumns from{};
  EventColumns to{};
};
Located located;
bool invalidation_callback_registered = false;

// Runs inside PostgreSQL's invalidation processing: it may only forget things.
void forget_located(Datum, Oid relid) noexcept {
  if (relid == InvalidOid || relid == located.expenses_relid || relid == located.events_relid) {
    located = Located{};
  }
}

ExpenseColumns expense_columns(Relation expenses) {
  return {typed_column(expenses, "expense_id", UUIDOID), typed_column(expenses, "org_id", UUIDOID),
          typed_column(expenses, "user_id", UUIDOID), typed_column(expenses, "status", TEXTOID)};
}

EventColumns event_columns(Relation events) {
  EventColumns at{};
  at.event_id = typed_column(events, "event_id", INT8OID);
  at.org_id = typed_column(events, "org_id", UUIDOID);
  at.expense_id = typed_column(events, "expense_id", UUIDOID);
  at.owner_id = typed_column(events, "owner_id", UUIDOID);
  at.actor_id = typed_column(events, "actor_id", UUIDOID);
  at.at = typed_column(events, "at", TIMESTAMPTZOID);
  at.action = typed_column(events, "action", TEXTOID);
  at.from_status = typed_column(events, "from_status", TEXTOID);
  at.to_status = typed_column(events, "to_status", TEXTOID);
  at.changed_fields = typed_column(events, "changed_fields", JSONBOID);
  const Oid relid = RelationGetRelid(events);
  const AttrNumber attnum = static_cast<AttrNumber>(at.event_id);
  at.event_id_sequence = guarded([&] { return getIdentitySequence(relid, attnum, true); });
  if (!OidIsValid(at.event_id_sequence)) {
    throw core::RuleViolation(core::sqlstate::kTriggerProtocolViolated,
                              "expense.expense_events.event_id is not an identity column",
                              "The expense_ops extension's tables were altered; reinstall it.");
  }
  return at;
}

struct Appender {
  Relation events;
  Tuplestorestate* created;
  TupleTableSlot* created_slot;
  ExpenseColumns from;
  EventColumns to;
  bool has_actor;
  pg_uuid_t actor;
};

// Numbers and stamps one event as it is written, so that event_id and at follow the order of
// writing even when the events were sorted first.
void insert_event(const Appender& job, ResultRelInfo* result, EState* estate,
                  TupleTableSlot* event) {
  event->tts_values[job.to.event_id - 1] =
      Int64GetDatum(nextval_internal(job.to.event_id_sequence, false));
  event->tts_isnull[job.to.event_id - 1] = false;
  event->tts_values[job.to.at - 1] =
      TimestampTzGetDatum(GetCurrentTimestamp());  // clock_timestamp()
  event->tts_isnull[job.to.at - 1] = false;
  ExecSimpleRelationInsert(result, estate, event);
  ResetPerTupleExprContext(estate);
}

// Inserts one event per row of the transition table. Runs under guarded(): plain data only.
void append_creations(const Appender& job) {
  EState* estate = CreateExecutorState();
  RangeTblEntry* entry = makeNode(RangeTblEntry);
  entry->rtekind = RTE_RELATION;
  entry->relid = RelationGetRelid(job.events);
  entry->relkind = RELKIND_RELATION;
  entry->rellockmode = RowExclusiveLock;
  ExecInitRangeTable(estate, list_make1(entry));
  ResultRelInfo* result = makeNode(ResultRelInfo);
  InitResultRelInfo(result, job.events, 1, nullptr, 0);
  // Registered, so that AFTER triggers someone adds to the events find it rather than open the
  // table again (and leave it open).
  estate->es_opened_result_relations = lappend(estate->es_opened_result_relations, result);
  estate->es_output_cid = GetCurrentCommandId(true);
  ExecOpenIndices(result, false);
  AfterTriggerBeginQuery();  // triggers a DBA adds on the events fire with this statement

  const TupleDesc descriptor = RelationGetDescr(job.events);
  TupleTableSlot* event = ExecInitExtraTupleSlot(estate, descriptor, &TTSOpsVirtual);
  const Datum no_changes = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
  const Datum create = CStringGetTextDatum("create");

  // A statement that creates many expenses writes their events in the order of expense_id, so
  // that the index entries of neighbouring events land on neighbouring pages (on the rightmost
  // page, while the trail is young) instead of one random page each. One row needs no sort.
  const int64 creations = tuplestore_tuple_count(job.created);
  Tuplesortstate* by_expense = nullptr;
  if (creations > 1) {
    AttrNumber sort_column = static_cast<AttrNumber>(job.to.expense_id);
    Oid less_than = lookup_type_cache(UUIDOID, TYPECACHE_LT_OPR)->lt_opr;
    Oid collation = InvalidOid;
    bool nulls_first = false;
    by_expense = tuplesort_begin_heap(descriptor, 1, &sort_column, &less_than, &collation,
                                      &nulls_first, work_mem, nullptr, TUPLESORT_NONE);
  }

  const int reader = tuplestore_alloc_read_pointer(job.created, EXEC_FLAG_REWIND);
  tuplestore_select_read_pointer(job.created, reader);
  tuplestore_rescan(job.created);
  while (tuplestore_gettupleslot(job.created, true, false, job.created_slot)) {
    slot_getallattrs(job.created_slot);
    const auto column = [&](int attnum, bool& is_null) {
      is_null = job.created_slot->tts_isnull[attnum - 1];
      return job.created_slot->tts_values[attnum - 1];
    };
    ExecClearTuple(event);
    Datum* values = event->tts_values;
    bool* nulls = event->tts_isnull;
    for (int i = 0; i < descriptor->natts; ++i) {
      nulls[i] = true;
    }
    values[job.to.org_id - 1] = column(job.from.org_id, nulls[job.to.org_id - 1]);
    values[job.to.expense_id - 1] = column(job.from.expense_id, nulls[job.to.expense_id - 1]);
    values[job.to.owner_id - 1] = column(job.from.user_id, nulls[job.to.owner_id - 1]);
    values[job.to.to_status - 1] = column(job.from.status, nulls[job.to.to_status - 1]);
    values[job.to.actor_id - 1] = UUIDPGetDatum(&job.actor);
    nulls[job.to.actor_id - 1] = !job.has_actor;
    values[job.to.action - 1] = create;
    nulls[job.to.action - 1] = false;
    values[job.to.changed_fields - 1] = no_changes;
    nulls[job.to.changed_fields - 1] = false;
    ExecStoreVirtualTuple(event);
    if (by_expense == nullptr) {
      insert_event(job, result, estate, event);
    } else {
      tuplesort_puttupleslot(by_expense, event);
    }
  }
  if (by_expense != nullptr) {
    tuplesort_performsort(by_expense);
    TupleTableSlot* sorted = ExecInitExtraTupleSlot(estate, descriptor, &TTSOpsMinimalTuple);
    while (tuplesort_gettupleslot(by_expense, true, false, sorted, nullptr)) {
      slot_getallattrs(sorted);
      // The sorted tuple stays valid until the next one is fetched, which is after its insert.
      ExecClearTuple(event);
      std::copy_n(sorted->tts_values, descriptor->natts, event->tts_values);
      std::copy_n(sorted->tts_isnull, descriptor->natts, event->tts_isnull);
      ExecStoreVirtualTuple(event);
      insert_event(job, result, estate, event);
    }
    tuplesort_end(by_expense);
  }

  AfterTriggerEndQuery(estate);
  ExecCloseResultRelations(estate);  // our indexes, and whatever the AFTER triggers opened
  ExecResetTupleTable(estate->es_tupleTable, false);
  FreeExecutorState(estate);
}

}  // namespace

}  // namespace expense_ops::pg

// expense.record_expense_creations(): AFTER INSERT ON expense.expenses, FOR EACH STATEMENT, with
// REFERENCING NEW TABLE. One 'create' event per new expense, by the calling user.
EXPENSE_OPS_FUNCTION(expense_ops_record_expense_creations) {
  using namespace expense_ops;
  TriggerData* trigger =
      &pg::own_trigger_call(fcinfo, "expense.record_expense_creations()", pg::TriggerTiming::kAfter,
                            pg::TriggerLevel::kStatement, {{"expense", "expenses"}});
  if (!TRIGGER_FIRED_BY_INSERT(trigger->tg_event) || trigger->tg_newtable == nullptr) {
    throw core::RuleViolation(core::sqlstate::kTriggerProtocolViolated,
                              "expense.record_expense_creations() must fire AFTER INSERT with "
                              "REFERENCING NEW TABLE");
  }
  const Oid events_relid = pg::cached_relation_oid({"expense", "expense_events"});
  if (!OidIsValid(events_relid)) {
    throw core::RuleViolation(core::sqlstate::kTriggerProtocolViolated,
                              "expense.expense_events does not exist");
  }
  if (!pg::invalidation_callback_registered) {
    pg::guarded([] { CacheRegisterRelcacheCallback(pg::forget_located, 0); });
    pg::invalidation_callback_registered = true;
  }
  pg::Appender job{};
  job.created = trigger->tg_newtable;
  const std::optional<pg_uuid_t> actor = pg::caller_user_id();
  job.has_actor = actor.has_value();
  if (actor) {
    job.actor = *actor;
  }
  job.events = pg::guarded([&] { return table_open(events_relid, RowExclusiveLock); });
  const Oid expenses_relid = RelationGetRelid(trigger->tg_relation);
  if (pg::located.expenses_relid != expenses_relid || pg::located.events_relid != events_relid) {
    pg::Located fresh;
    fresh.from = pg::expense_columns(trigger->tg_relation);
    fresh.to = pg::event_columns(job.events);
    fresh.expenses_relid = expenses_relid;
    fresh.events_relid = events_relid;
    pg::located = fresh;
  }
  job.from = pg::located.from;
  job.to = pg::located.to;
  const TupleDesc expenses = RelationGetDescr(trigger->tg_relation);
  job.created_slot =
      pg::guarded([&] { return MakeSingleTupleTableSlot(expenses, &TTSOpsMinimalTuple); });
  pg::guarded([&] {
    pg::append_creations(job);
    ExecDropSingleTupleTableSlot(job.created_slot);
    table_close(job.events, NoLock);
  });
  return PointerGetDatum(nullptr);
}
