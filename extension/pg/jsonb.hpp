// core::json::Value <-> jsonb. Core logic builds documents; this is the one place they become
// PostgreSQL values, and the one place jsonb arguments become documents the core can read.
#pragma once

#include "core/json.hpp"
#include "pg/postgres_headers.hpp"

namespace expense_ops::pg {

// Builds a jsonb Datum in the current memory context.
Datum to_jsonb(const core::json::Value& value);

// A jsonb value as a document: objects keep jsonb's key order (by length, then bytewise),
// numbers become an int64 when integral and in range, a double otherwise (an infinity or zero
// beyond a double's range).
core::json::Value from_jsonb(Datum document);

// Argument `index` (0-based) as a document; throws RuleViolation 22004 when NULL.
core::json::Value jsonb_argument(FunctionCallInfo fcinfo, int index, const char* name);

}  // namespace expense_ops::pg
