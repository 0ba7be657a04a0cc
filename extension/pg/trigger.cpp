#include "pg/trigger.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "pg/boundary.hpp"

namespace expense_ops::pg {

namespace {

[[noreturn]] void refuse(const std::string& message, const std::string& hint = {}) {
  throw core::RuleViolation(core::sqlstate::kTriggerProtocolViolated, message, hint);
}

// The OIDs of the relations looked up so far. A row trigger asks on every row, and two syscache
// lookups a row are measurable in a million-row insert. A relcache invalidation of a cached
// relation (DROP EXTENSION drops it) forgets it, so a re-created table is looked up afresh.
struct CachedRelation {
  std::string schema;
  std::string name;
  Oid relid;
};
std::vector<CachedRelation> relation_cache;
bool relation_callback_registered = false;

// Runs inside PostgreSQL's invalidation processing: it may only forget things.
void forget_relation(Datum, Oid relid) noexcept {
  if (relid == InvalidOid) {
    relation_cache.clear();
    return;
  }
  relation_cache.erase(
      std::remove_if(relation_cache.begin(), relation_cache.end(),
                     [relid](const CachedRelation& cached) { return cached.relid == relid; }),
      relation_cache.end());
}

}  // namespace

Oid cached_relation_oid(const QualifiedName& relation) {
  for (const auto& cached : relation_cache) {
    if (cached.name == relation.name && cached.schema == relation.schema) {
      return cached.relid;
    }
  }
  if (!relation_callback_registered) {
    guarded([] { CacheRegisterRelcacheCallback(forget_relation, 0); });
    relation_callback_registered = true;
  }
  const Oid relid = guarded([&] {
    const Oid schema = get_namespace_oid(relation.schema, true);
    return OidIsValid(schema) ? get_relname_relid(relation.name, schema) : InvalidOid;
  });
  // The lookups may have processed invalidations; the cache is only appended to afterwards.
  if (OidIsValid(relid)) {
    relation_cache.push_back({relation.schema, relation.name, relid});
  }
  return relid;
}

namespace {

std::string own_relations_text(std::initializer_list<QualifiedName> relations) {
  std::string text;
  for (const auto& relation : relations) {
    if (!text.empty()) {
      text += ", ";
    }
    text += std::string(relation.schema) + "." + relation.name;
  }
  return text;
}

}  // namespace

TriggerData& own_trigger_call(FunctionCallInfo fcinfo, const char* function, TriggerTiming timing,
                              TriggerLevel level,
                              std::initializer_list<QualifiedName> own_relations) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    refuse(std::string(function) + " is a trigger function and cannot be called directly");
  }
  auto& trigger = *reinterpret_cast<TriggerData*>(fcinfo->context);
  const bool timing_matches = timing == TriggerTiming::kBefore
                                  ? TRIGGER_FIRED_BEFORE(trigger.tg_event)
                                  : TRIGGER_FIRED_AFTER(trigger.tg_event);
  const bool level_matches = level == TriggerLevel::kRow
                                 ? TRIGGER_FIRED_FOR_ROW(trigger.tg_event)
                                 : TRIGGER_FIRED_FOR_STATEMENT(trigger.tg_event);
  if (!timing_matches || !level_matches) {
    refuse(std::string(function) + " must fire " +
           (timing == TriggerTiming::kBefore ? "BEFORE" : "AFTER") + " ... FOR EACH " +
           (level == TriggerLevel::kRow ? "ROW" : "STATEMENT"));
  }
  const Oid fired_on = RelationGetRelid(trigger.tg_relation);
  for (const auto& relation : own_relations) {
    if (fired_on == cached_relation_oid(relation)) {
      return trigger;
    }
  }
  const char* name = RelationGetRelationName(trigger.tg_relation);
  refuse(std::string(function) + " fires only on " + own_relations_text(own_relations) +
             ", not on " + name,
         "It belongs to the expense_ops extension's own tables; drop this trigger.");
}

int optional_typed_column(Relation relation, const char* column, Oid type) {
  const TupleDesc descriptor = RelationGetDescr(relation);
  for (int i = 0; i < descriptor->natts; ++i) {
    const Form_pg_attribute attribute = TupleDescAttr(descriptor, i);
    if (attribute->attisdropped || strcmp(NameStr(attribute->attname), column) != 0) {
      continue;
    }
    if (attribute->atttypid != type) {
      const char* expected =
          guarded([type] { return static_cast<const char*>(format_type_be(type)); });
      refuse(std::string("column ") + RelationGetRelationName(relation) + "." + column +
             " is not of type " + expected);
    }
    return attribute->attnum;
  }
  return 0;
}

int typed_column(Relation relation, const char* column, Oid type) {
  const int attnum = optional_typed_column(relation, column, type);
  if (attnum == 0) {
    refuse(std::string("relation ") + RelationGetRelationName(relation) + " has no column " +
           column);
  }
  return attnum;
}

}  // namespace expense_ops::pg
