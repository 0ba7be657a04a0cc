// ops.latency_sketch at the SQL boundary (extension/core/latency_sketch.*): the type's text and
// binary forms, the aggregates that build and merge sketches, and the functions that read them.
//
// A stored sketch is core's compact binary form behind a varlena header, so send is a copy and
// every reader decodes it, which checks it: a corrupt value is an error, never a wrong answer.
//
// The aggregates keep a core::sketch::LatencySketch as their transition state. It is a C++
// object with a vector inside, so it is constructed in the aggregate's memory context and
// destroyed by a reset callback on that context: whenever PostgreSQL frees the state (end of
// the group, end of the query, an error), the vector's memory goes with it.
#include <new>

#include "core/error.hpp"
#include "core/latency_sketch.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;
using core::sketch::LatencySketch;

namespace {

struct TransitionState {
  LatencySketch sketch;
  MemoryContextCallback destroy;
};

void destroy_state(void* state) noexcept {
  static_cast<TransitionState*>(state)->~TransitionState();
}

MemoryContext aggregate_context(FunctionCallInfo fcinfo, const char* function) {
  MemoryContext context = nullptr;
  if (AggCheckCallContext(fcinfo, &context) == 0) {
    throw core::RuleViolation(core::sqlstate::kInternalError,
                              std::string(function) +
                                  " is a support function of the latency "
                                  "sketch aggregates; call ops.latency_sketch() instead");
  }
  return context;
}

LatencySketch* new_state(MemoryContext context) {
  void* memory =
      pg::guarded([&] { return MemoryContextAllocZero(context, sizeof(TransitionState)); });
  auto* state = new (memory) TransitionState{};
  state->destroy.func = destroy_state;
  state->destroy.arg = state;
  pg::guarded([&] { MemoryContextRegisterResetCallback(context, &state->destroy); });
  return &state->sketch;
}

// The state argument, created on the first row of a group.
LatencySketch* state_argument(FunctionCallInfo fcinfo, const char* function) {
  const MemoryContext context = aggregate_context(fcinfo, function);
  if (PG_ARGISNULL(0)) {
    return new_state(context);
  }
  return reinterpret_cast<LatencySketch*>(PG_GETARG_POINTER(0));
}

// A NULL input leaves the state as it is, and no state at all until a value arrives: only
// NULLs aggregate to NULL, as sum() does.
Datum skip_null(FunctionCallInfo fcinfo) {
  if (PG_ARGISNULL(0)) {
    PG_RETURN_NULL();
  }
  PG_RETURN_POINTER(PG_GETARG_POINTER(0));
}

std::string_view stored_bytes(Datum value) {
  const auto* stored = pg::guarded(
      [&] { return static_cast<const struct varlena*>(PG_DETOAST_DATUM_PACKED(value)); });
  return {VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored)};
}

LatencySketch sketch_argument(FunctionCallInfo fcinfo, int index) {
  return LatencySketch::from_binary(stored_bytes(PG_GETARG_DATUM(index)));
}

Datum sketch_datum(const LatencySketch& sketch) {
  const std::string bytes = sketch.to_binary();
  return pg::bytea_datum(bytes);  // same varlena layout: a header and the bytes
}

Datum optional_float8(FunctionCallInfo fcinfo, const std::optional<double>& value) {
  if (!value) {
    PG_RETURN_NULL();
  }
  return Float8GetDatum(*value);
}

}  // namespace

// ---- the type ---------------------------------------------------------------------------------

EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_in) {
  const char* text = PG_GETARG_CSTRING(0);
  return sketch_datum(LatencySketch::from_text(text));
}

EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_out) {
  const std::string text = sketch_argument(fcinfo, 0).to_text();
  return pg::guarded([&] { return CStringGetDatum(pstrdup(text.c_str())); });
}

EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_recv) {
  auto* message = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
  const std::string_view bytes(message->data + message->cursor,
                               static_cast<std::size_t>(message->len - message->cursor));
  const LatencySketch sketch = LatencySketch::from_binary(bytes);
  message->cursor = message->len;
  return sketch_datum(sketch);
}

EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_send) {
  const std::string_view bytes = stored_bytes(PG_GETARG_DATUM(0));
  return pg::bytea_datum(std::string(bytes));
}

// ---- the aggregates ---------------------------------------------------------------------------

// ops.latency_sketch(double precision): one value more.
EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_add) {
  if (PG_ARGISNULL(1)) {
    return skip_null(fcinfo);
  }
  LatencySketch* sketch = state_argument(fcinfo, "ops.latency_sketch_add()");
  sketch->add(PG_GETARG_FLOAT8(1));
  PG_RETURN_POINTER(sketch);
}

// ops.latency_sketch_merge(ops.latency_sketch): one stored sketch more.
EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_merge_add) {
  if (PG_ARGISNULL(1)) {
    return skip_null(fcinfo);
  }
  const LatencySketch stored = sketch_argument(fcinfo, 1);
  LatencySketch* sketch = state_argument(fcinfo, "ops.latency_sketch_merge_add()");
  sketch->merge(stored);
  PG_RETURN_POINTER(sketch);
}

// Parallel aggregation: two partial states into the first.
EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_combine) {
  const MemoryContext context = aggregate_context(fcinfo, "ops.latency_sketch_combine()");
  if (PG_ARGISNULL(1)) {
    if (PG_ARGISNULL(0)) {
      PG_RETURN_NULL();
    }
    PG_RETURN_POINTER(PG_GETARG_POINTER(0));
  }
  const auto* other = reinterpret_cast<const LatencySketch*>(PG_GETARG_POINTER(1));
  LatencySketch* sketch =
      PG_ARGISNULL(0) ? new_state(context) : reinterpret_cast<LatencySketch*>(PG_GETARG_POINTER(0));
  sketch->merge(*other);
  PG_RETURN_POINTER(sketch);
}

EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_serialize) {
  aggregate_context(fcinfo, "ops.latency_sketch_serialize()");
  const auto* sketch = reinterpret_cast<const LatencySketch*>(PG_GETARG_POINTER(0));
  return pg::bytea_datum(sketch->to_binary());
}

EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_deserialize) {
  const MemoryContext context = aggregate_context(fcinfo, "ops.latency_sketch_deserialize()");
  LatencySketch decoded = LatencySketch::from_binary(stored_bytes(PG_GETARG_DATUM(0)));
  LatencySketch* sketch = new_state(context);
  *sketch = std::move(decoded);
  PG_RETURN_POINTER(sketch);
}

EXPENSE_OPS_FUNCTION(expense_ops_latency_sketch_final) {
  aggregate_context(fcinfo, "ops.latency_sketch_final()");
  if (PG_ARGISNULL(0)) {
    PG_RETURN_NULL();
  }
  return sketch_datum(*reinterpret_cast<const LatencySketch*>(PG_GETARG_POINTER(0)));
}

// ---- reading a sketch -------------------------------------------------------------------------

EXPENSE_OPS_FUNCTION(expense_ops_sketch_quantile) {
  const double q = pg::float8_argument(fcinfo, 1, "q");
  return optional_float8(fcinfo, sketch_argument(fcinfo, 0).quantile(q));
}

// ops.sketch_quantiles(sketch, qs double precision[]): one answer per quantile, in order.
EXPENSE_OPS_FUNCTION(expense_ops_sketch_quantiles) {
  const LatencySketch sketch = sketch_argument(fcinfo, 0);
  pg::require_argument(fcinfo, 1, "qs");
  const Datum array_argument = PG_GETARG_DATUM(1);
  struct Elements {
    Datum* values;
    bool* nulls;
    int count;
    int dimensions;
  };
  const Elements qs = pg::guarded([&] {
    ArrayType* array = DatumGetArrayTypeP(array_argument);
    Elements elements{};
    elements.dimensions = ARR_NDIM(array);
    deconstruct_array(array, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
                      &elements.values, &elements.nulls, &elements.count);
    return elements;
  });
  if (qs.dimensions > 1) {
    throw core::RuleViolation(core::sqlstate::kInvalidParameterValue,
                              "qs must be a one-dimensional array of quantiles",
                              "Ask for quantiles such as {0.5,0.95,0.99}.");
  }
  std::vector<double> answers(static_cast<std::size_t>(qs.count));
  bool empty = false;
  for (int i = 0; i < qs.count; ++i) {
    if (qs.nulls[i]) {
      throw core::RuleViolation(core::sqlstate::kNullValueNotAllowed,
                                "qs[" + std::to_string(i + 1) + "] is NULL",
                                "Ask for quantiles between 0 and 1, such as {0.5,0.95,0.99}.");
    }
    const std::optional<double> answer = sketch.quantile(DatumGetFloat8(qs.values[i]));
    empty = !answer;
    answers[static_cast<std::size_t>(i)] = answer.value_or(0);
  }
  if (empty) {
    PG_RETURN_NULL();  // an empty sketch has no quantiles
  }
  const double* data = answers.data();
  const int count = qs.count;
  return pg::guarded([&] {
    Datum* elements = static_cast<Datum*>(palloc(sizeof(Datum) * (count > 0 ? count : 1)));
    for (int i = 0; i < count; ++i) {
      elements[i] = Float8GetDatum(data[i]);
    }
    return PointerGetDatum(construct_array(elements, count, FLOAT8OID, sizeof(float8),
                                           FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
  });
}

EXPENSE_OPS_FUNCTION(expense_ops_sketch_count) {
  const std::uint64_t count = sketch_argument(fcinfo, 0).count();
  if (count > static_cast<std::uint64_t>(PG_INT64_MAX)) {
    throw core::RuleViolation(core::sqlstate::kNumericValueOutOfRange,
                              "the sketch counts more values than bigint holds");
  }
  PG_RETURN_INT64(static_cast<int64>(count));
}

// ops.sketch_count_below(sketch, threshold_ms): the durations below the threshold, within 1 %.
EXPENSE_OPS_FUNCTION(expense_ops_sketch_count_below) {
  const double threshold_ms = pg::float8_argument(fcinfo, 1, "threshold_ms");
  const std::uint64_t below = sketch_argument(fcinfo, 0).count_below(threshold_ms);
  if (below > static_cast<std::uint64_t>(PG_INT64_MAX)) {
    throw core::RuleViolation(core::sqlstate::kNumericValueOutOfRange,
                              "the sketch counts more values than bigint holds");
  }
  PG_RETURN_INT64(static_cast<int64>(below));
}

EXPENSE_OPS_FUNCTION(expense_ops_sketch_sum) {
  PG_RETURN_FLOAT8(sketch_argument(fcinfo, 0).sum());
}

EXPENSE_OPS_FUNCTION(expense_ops_sketch_mean) {
  return optional_float8(fcinfo, sketch_argument(fcinfo, 0).mean());
}

EXPENSE_OPS_FUNCTION(expense_ops_sketch_min) {
  return optional_float8(fcinfo, sketch_argument(fcinfo, 0).min());
}

EXPENSE_OPS_FUNCTION(expense_ops_sketch_max) {
  return optional_float8(fcinfo, sketch_argument(fcinfo, 0).max());
}
