// core::json::Value -> jsonb. Core logic builds documents; this is the one place they become
// PostgreSQL values.
#pragma once

#include "core/json.hpp"
#include "pg/postgres_headers.hpp"

namespace expense_ops::pg {

// Builds a jsonb Datum in the current memory context.
Datum to_jsonb(const core::json::Value& value);

}  // namespace expense_ops::pg
