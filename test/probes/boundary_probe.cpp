// Functions that exercise the error boundary on purpose, for sql/boundary.sql.
//
// They live in a test-only library, expense_ops_probes.so, which `make test` installs and
// `make install` does not: one of them runs whatever SQL it is given. No extension script
// declares them; the regression test creates the C functions by hand, as a superuser.
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"

extern "C" {
PG_MODULE_MAGIC;
}

namespace {

// What the probes observed in this backend, so the test can ask whether C++ unwound properly.
struct ProbeCounters {
  long destructors_run = 0;
  long postgres_errors_caught = 0;
  int last_sqlerrcode = 0;
};
ProbeCounters counters;

// Counts its own destruction: proof that an error left this frame by unwinding, not longjmp.
struct UnwindWitness {
  ~UnwindWitness() { ++counters.destructors_run; }
};

}  // namespace

// expense_ops_probe_raise(kind text) RETURNS text: throws the C++ exception named by `kind`.
EXPENSE_OPS_FUNCTION(expense_ops_probe_raise) {
  const std::string kind = expense_ops::pg::text_argument(fcinfo, 0, "probe argument");
  UnwindWitness witness;
  if (kind == "rule_violation") {
    throw expense_ops::core::RuleViolation(expense_ops::core::sqlstate::kCheckViolation,
                                           "amount must be greater than zero",
                                           "Enter a positive amount.", "amount was -5.00");
  }
  if (kind == "bad_alloc") {
    throw std::bad_alloc();
  }
  if (kind == "huge_allocation") {
    // A real allocation failure: no machine has an exabyte to give.
    auto buffer = std::make_unique<char[]>(std::size_t{1} << 60);
    buffer[0] = 1;
    return expense_ops::pg::text_datum("allocated");
  }
  if (kind == "runtime_error") {
    throw std::runtime_error("the probe failed on purpose");
  }
  if (kind == "non_standard") {
    throw 42;
  }
  if (kind == "none") {
    return expense_ops::pg::text_datum("no exception");
  }
  throw expense_ops::core::RuleViolation(
      expense_ops::core::sqlstate::kInvalidParameterValue, "unknown probe kind \"" + kind + "\"",
      "Use rule_violation, bad_alloc, huge_allocation, runtime_error, non_standard or none.");
}

// expense_ops_probe_guarded_sql(sql text) RETURNS text: runs `sql` under the guard, with C++
// objects alive on the stack. A PostgreSQL error must arrive here as a PostgresError, unwind
// the witnesses, and leave through the boundary with its own SQLSTATE.
EXPENSE_OPS_FUNCTION(expense_ops_probe_guarded_sql) {
  const std::string sql = expense_ops::pg::text_argument(fcinfo, 0, "probe argument");
  UnwindWitness outer;
  try {
    UnwindWitness inner;
    expense_ops::pg::SpiConnection spi;
    const int status = expense_ops::pg::guarded([&] { return SPI_execute(sql.c_str(), false, 0); });
    spi.finish();
    return expense_ops::pg::text_datum("ok: " + std::string(SPI_result_code_string(status)));
  } catch (const expense_ops::pg::PostgresError& error) {
    ++counters.postgres_errors_caught;
    counters.last_sqlerrcode = error.sqlerrcode();
    throw;
  }
}

// expense_ops_probe_counters() RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_probe_counters) {
  (void)fcinfo;
  const char* state =
      counters.last_sqlerrcode == 0 ? "none" : unpack_sql_state(counters.last_sqlerrcode);
  return expense_ops::pg::text_datum(
      "destructors_run=" + std::to_string(counters.destructors_run) + " postgres_errors_caught=" +
      std::to_string(counters.postgres_errors_caught) + " last_sqlstate=" + state);
}
