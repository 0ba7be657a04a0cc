// The request log's change capture: an index access method that stores nothing.
//
// ops.rollup_requests() rebuilds the minutes listed in ops.request_minutes_to_roll, so every row
// that reaches ops.request_log must mark its minute in the same transaction, late rows and COPY
// included. (Rows changed or deleted mark theirs with a row trigger, mark_changed_minutes: an
// update that leaves `at` alone is HOT and never reaches an index.) A statement trigger with a
// transition table did that, and made COPY into the partitioned log take rows one by one
// (PostgreSQL 15 gives up multi-inserts for a partitioned table with transition tables): 0.43x the
// rows a second of a plain table. An index is told of every row on every path (INSERT, COPY with
// its multi-inserts, partition routing, logical replication, triggers disabled or not), so an index
// whose aminsert only notes the row's minute costs a few nanoseconds a row. It writes a mark the
// first time the transaction meets a minute (core/minute_marks.hpp) and holds no data: it can
// answer no query and never does.
//
// It serves ops.request_log's partitions only: building it on anything else is refused, and so
// is an insert through it into anything else.
#include "core/error.hpp"
#include "core/minute_marks.hpp"
#include "pg/boundary.hpp"
#include "pg/spi.hpp"
#include "pg/trigger.hpp"

extern "C" {
#include "access/amapi.h"
#include "access/tableam.h"
#include "catalog/partition.h"
#include "catalog/pg_opclass.h"
#include "commands/vacuum.h"
#include "nodes/pathnodes.h"
#include "optimizer/cost.h"
}

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

namespace {

constexpr pg::QualifiedName kRequestLog{"ops", "request_log"};
constexpr pg::QualifiedName kMinutesToRoll{"ops", "request_minutes_to_roll"};

core::TransactionMinuteMarks transaction_marks;
bool transaction_callback_registered = false;
bool subtransaction_callback_registered = false;

// C callbacks from xact.c. They only touch the C++ set, whose operations do not throw here:
// erasing and re-tagging entries allocates nothing.
void forget_marks_at_transaction_end(XactEvent event, void*) {
  switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
      transaction_marks.forget_all();
      break;
    default:
      break;
  }
}

void follow_subtransactions(SubXactEvent event, SubTransactionId subtransaction,
                            SubTransactionId parent, void*) {
  if (event == SUBXACT_EVENT_ABORT_SUB) {
    transaction_marks.subtransaction_aborted(subtransaction);
  } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
    transaction_marks.subtransaction_committed(subtransaction, parent);
  }
}

[[noreturn]] void refuse_relation(Relation heap) {
  throw core::RuleViolation(
      core::sqlstate::kWrongObjectType,
      std::string("the expense_ops_minute_marks access method serves only the partitions of "
                  "ops.request_log, not ") +
          RelationGetRelationName(heap),
      "It is the request log's change capture; index other tables with btree or brin.");
}

// Proves that `index` is one key column over `at` (timestamptz) of a partition of
// ops.request_log, with no predicate, so that aminsert sees every row and may read values[0]
// as a timestamptz.
void check_call_site(Relation heap, Relation index) {
  const Oid request_log = pg::cached_relation_oid(kRequestLog);
  const Oid heap_id = RelationGetRelid(heap);
  const bool partition_of_log =
      OidIsValid(request_log) && heap->rd_rel->relispartition &&
      pg::guarded([heap_id] { return get_partition_parent(heap_id, true); }) == request_log;
  if (!partition_of_log) {
    refuse_relation(heap);
  }
  const int at = pg::typed_column(heap, "at", TIMESTAMPTZOID);
  const bool partial = !pg::guarded(
      [index] { return heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, nullptr); });
  if (index->rd_index->indnkeyatts != 1 || index->rd_index->indnatts != 1 ||
      index->rd_index->indkey.values[0] != at || partial) {
    throw core::RuleViolation(core::sqlstate::kWrongObjectType,
                              "an expense_ops_minute_marks index has one column, at, and covers "
                              "every row",
                              "CREATE INDEX ... USING expense_ops_minute_marks (at)");
  }
}

// Switches to another role for one statement, as a SECURITY DEFINER function does, and back
// when it goes out of scope (also when C++ unwinds; an abort would restore it anyway).
class RunningAs {
 public:
  explicit RunningAs(Oid role) {
    GetUserIdAndSecContext(&saved_role_, &saved_context_);
    SetUserIdAndSecContext(
        role, saved_context_ | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
  }
  ~RunningAs() { SetUserIdAndSecContext(saved_role_, saved_context_); }
  RunningAs(const RunningAs&) = delete;
  RunningAs& operator=(const RunningAs&) = delete;

 private:
  Oid saved_role_ = InvalidOid;
  int saved_context_ = 0;
};

Oid owner_of(Oid relation) {
  return pg::guarded([relation] {
    const HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relation));
    if (!HeapTupleIsValid(tuple)) {
      elog(ERROR, "cache lookup failed for relation %u", relation);
    }
    const Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return owner;
  });
}

// Marks the minute for the rollup, as the owner of the marks (the log's writers need no right
// to them, as with the SECURITY DEFINER functions that load the log). A plain insert: the mark
// commits with the rows, and a rollup that does not see the one does not see the others either
// and leaves the mark for its next run (ops.rollup_requests).
void write_mark(std::int64_t minute) {
  static SPIPlanPtr plan = nullptr;
  const Oid marks = pg::cached_relation_oid(kMinutesToRoll);
  if (!OidIsValid(marks)) {
    throw core::RuleViolation(core::sqlstate::kObjectNotInPrerequisiteState,
                              "ops.request_minutes_to_roll is missing",
                              "ALTER EXTENSION expense_ops UPDATE, or reinstall it.");
  }
  const Oid owner = owner_of(marks);
  pg::SpiConnection spi;
  Oid argument_types[1] = {TIMESTAMPTZOID};
  const SPIPlanPtr mark = pg::kept_plan(
      plan, "INSERT INTO ops.request_minutes_to_roll (minute) VALUES ($1)", 1, argument_types);
  Datum parameters[1] = {TimestampTzGetDatum(minute * USECS_PER_MINUTE)};
  {
    const RunningAs marks_owner(owner);
    pg::execute_writing(mark, parameters, SPI_OK_INSERT);
  }
  spi.finish();
}

// What the relcache keeps for an index once check_call_site() has passed. A relcache rebuild
// frees it, and the next insert checks again.
struct CheckedIndex {
  bool checked;
};

IndexBuildResult* build(Relation heap, Relation index, IndexInfo* index_info) {
  IndexBuildResult* result = nullptr;
  pg::at_boundary("expense_ops_minute_marks build", [&] {
    check_call_site(heap, index);
    // Nothing to store, but the scan's count is the table's true size: index_build() records
    // what a build reports as the table's reltuples, and a made-up 0 would mislead the planner.
    const double heap_tuples = pg::guarded([&] {
      return table_index_build_scan(
          heap, index, index_info, true, false,
          [](Relation, ItemPointer, Datum*, bool*, bool, void*) {}, nullptr, nullptr);
    });
    result = pg::guarded(
        [] { return static_cast<IndexBuildResult*>(palloc0(sizeof(IndexBuildResult))); });
    result->heap_tuples = heap_tuples;
    result->index_tuples = 0;
  });
  return result;
}

void build_empty(Relation) {}

bool insert(Relation index, Datum* values, bool* isnull, ItemPointer, Relation heap,
            IndexUniqueCheck, bool, IndexInfo*) {
  pg::at_boundary("expense_ops_minute_marks insert", [&] {
    if (index->rd_amcache == nullptr) {
      check_call_site(heap, index);
      if (!transaction_callback_registered) {
        pg::guarded([] { RegisterXactCallback(forget_marks_at_transaction_end, nullptr); });
        transaction_callback_registered = true;
      }
      if (!subtransaction_callback_registered) {
        pg::guarded([] { RegisterSubXactCallback(follow_subtransactions, nullptr); });
        subtransaction_callback_registered = true;
      }
      index->rd_amcache = pg::guarded(
          [index] { return MemoryContextAllocZero(index->rd_indexcxt, sizeof(CheckedIndex)); });
      static_cast<CheckedIndex*>(index->rd_amcache)->checked = true;
    }
    if (isnull[0]) {
      return;  // at is NOT NULL; the table's constraint says so, not this
    }
    const std::optional<std::int64_t> minute = core::minute_of(DatumGetTimestampTz(values[0]));
    if (!minute || !transaction_marks.needs_mark(*minute)) {
      return;
    }
    write_mark(*minute);
    transaction_marks.marked(*minute, GetCurrentSubTransactionId());
  });
  return false;
}

IndexBulkDeleteResult* bulk_delete(IndexVacuumInfo*, IndexBulkDeleteResult* stats,
                                   IndexBulkDeleteCallback, void*) {
  IndexBulkDeleteResult* result = stats;
  if (result == nullptr) {
    pg::at_boundary("expense_ops_minute_marks bulk delete", [&] {
      result = pg::guarded([] {
        return static_cast<IndexBulkDeleteResult*>(palloc0(sizeof(IndexBulkDeleteResult)));
      });
    });
  }
  return result;
}

IndexBulkDeleteResult* vacuum_cleanup(IndexVacuumInfo*, IndexBulkDeleteResult* stats) {
  return stats;
}

// Never consulted: with neither amgettuple nor amgetbitmap the planner makes no path of it.
void cost_estimate(PlannerInfo*, IndexPath*, double, Cost* startup, Cost* total,
                   Selectivity* selectivity, double* correlation, double* pages) {
  *startup = *total = disable_cost;
  *selectivity = 1.0;
  *correlation = 0.0;
  *pages = 0.0;
}

bytea* options(Datum reloptions, bool validate) {
  if (validate && reloptions != static_cast<Datum>(0)) {
    pg::at_boundary("expense_ops_minute_marks options", [] {
      throw core::RuleViolation(core::sqlstate::kInvalidParameterValue,
                                "an expense_ops_minute_marks index takes no options");
    });
  }
  return nullptr;
}

bool validate_operator_class(Oid operator_class) {
  bool valid = false;
  pg::at_boundary("expense_ops_minute_marks validate", [&] {
    valid = pg::guarded([operator_class] {
      const HeapTuple tuple = SearchSysCache1(CLAOID, ObjectIdGetDatum(operator_class));
      if (!HeapTupleIsValid(tuple)) {
        elog(ERROR, "cache lookup failed for operator class %u", operator_class);
      }
      const bool timestamptz =
          reinterpret_cast<Form_pg_opclass>(GETSTRUCT(tuple))->opcintype == TIMESTAMPTZOID;
      ReleaseSysCache(tuple);
      return timestamptz;
    });
  });
  return valid;
}

}  // namespace

// ops.minute_marks_handler(internal) RETURNS index_am_handler
EXPENSE_OPS_FUNCTION(expense_ops_minute_marks_handler) {
  static_cast<void>(fcinfo);
  IndexAmRoutine* routine = pg::guarded([] { return makeNode(IndexAmRoutine); });
  routine->amstrategies = 0;
  routine->amsupport = 0;
  routine->amoptsprocnum = 0;
  routine->amcanorder = false;
  routine->amcanorderbyop = false;
  routine->amcanbackward = false;
  routine->amcanunique = false;
  routine->amcanmulticol = false;
  routine->amoptionalkey = true;
  routine->amsearcharray = false;
  routine->amsearchnulls = false;
  routine->amstorage = false;
  routine->amclusterable = false;
  routine->ampredlocks = false;
  routine->amcanparallel = false;
  routine->amcaninclude = false;
  routine->amusemaintenanceworkmem = false;
  routine->amparallelvacuumoptions = VACUUM_OPTION_NO_PARALLEL;
  routine->amkeytype = InvalidOid;

  routine->ambuild = build;
  routine->ambuildempty = build_empty;
  routine->aminsert = insert;
  routine->ambulkdelete = bulk_delete;
  routine->amvacuumcleanup = vacuum_cleanup;
  routine->amcostestimate = cost_estimate;
  routine->amoptions = options;
  routine->amvalidate = validate_operator_class;
  // No scans: ambeginscan, amgettuple, amgetbitmap and the rest stay NULL.
  PG_RETURN_POINTER(routine);
}

// ops.forget_minute_marks(): AFTER DELETE, UPDATE or TRUNCATE on ops.request_minutes_to_roll,
// each statement. This transaction's marks may be gone (a rollup in the same transaction clears
// them), so the set no longer proves any minute marked: rows that follow mark theirs again.
EXPENSE_OPS_FUNCTION(expense_ops_forget_minute_marks) {
  pg::own_trigger_call(fcinfo, "ops.forget_minute_marks()", pg::TriggerTiming::kAfter,
                       pg::TriggerLevel::kStatement, {kMinutesToRoll});
  transaction_marks.forget_all();
  return PointerGetDatum(nullptr);
}
