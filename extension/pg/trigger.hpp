// Trigger functions trust nothing about their call site (README, "The boundary rules").
//
// A trigger function is an ordinary catalog object: any session that may execute it can attach
// it to a table of its own, with whatever columns it likes. A C trigger that reads a uuid where
// the table holds an integer dereferences garbage and takes the backend down. So each C
// trigger first proves that it fires the way it was declared, on its own relation, and reads
// only columns whose types it has checked.
#pragma once

#include <initializer_list>

#include "pg/postgres_headers.hpp"

namespace expense_ops::pg {

struct QualifiedName {
  const char* schema;
  const char* name;
};

enum class TriggerTiming { kBefore, kAfter };
enum class TriggerLevel { kRow, kStatement };

// The OID of the relation as it is named now, InvalidOid if there is none. Cached per backend:
// row triggers and row-level security ask on every row. A relcache invalidation of the relation
// (DROP EXTENSION drops it) forgets it, so a re-created table is looked up afresh.
Oid cached_relation_oid(const QualifiedName& relation);

// The TriggerData of this call, once it is known to come from a `timing` `level` trigger on one
// of `own_relations`. Throws RuleViolation 39P01 (trigger_protocol_violated) naming `function`
// and what was wrong otherwise: called outside a trigger, at the wrong time or level, or on any
// other relation (compared by OID with the relations as they are named now).
TriggerData& own_trigger_call(FunctionCallInfo fcinfo, const char* function, TriggerTiming timing,
                              TriggerLevel level,
                              std::initializer_list<QualifiedName> own_relations);

// The attribute number of `column` in `relation`, after checking that it exists, is not
// dropped and has exactly the type `type`. Throws RuleViolation 39P01 otherwise.
int typed_column(Relation relation, const char* column, Oid type);

// The same for a column the relation may not have (yet): 0 when it has none.
int optional_typed_column(Relation relation, const char* column, Oid type);

}  // namespace expense_ops::pg
