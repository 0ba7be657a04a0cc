// SPI from C++: every call is guarded, and results are copied into C++ values before the
// connection closes and its memory goes away.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pg/postgres_headers.hpp"

namespace expense_ops::pg {

// One SPI connection for the lifetime of the object.
//
// If C++ unwinds past it, the destructor closes it; if PostgreSQL aborts the transaction
// first, the abort has already closed it and finish() is not needed.
class SpiConnection {
 public:
  SpiConnection();
  ~SpiConnection();
  SpiConnection(const SpiConnection&) = delete;
  SpiConnection& operator=(const SpiConnection&) = delete;

  // Closes the connection, releasing everything SPI allocated. Row readers die with it.
  void finish();

 private:
  bool open_ = false;
};

class SpiRow {
 public:
  SpiRow(HeapTuple tuple, TupleDesc descriptor) : tuple_(tuple), descriptor_(descriptor) {}

  // Columns count from 1, as in SPI. Each reader checks the column's type, so a query that
  // drifts from its reader fails loudly instead of misreading a Datum.
  std::optional<std::string> string(int column) const;    // text
  std::optional<std::int64_t> integer(int column) const;  // bigint
  std::optional<double> floating(int column) const;       // double precision
  std::optional<bool> boolean(int column) const;          // boolean

 private:
  std::optional<Datum> datum(int column, Oid expected_type) const;

  HeapTuple tuple_;
  TupleDesc descriptor_;
};

class SpiRows {
 public:
  explicit SpiRows(SPITupleTable* table, std::uint64_t count) : table_(table), count_(count) {}
  std::uint64_t size() const { return count_; }
  SpiRow operator[](std::uint64_t index) const {
    return SpiRow(table_->vals[index], table_->tupdesc);
  }

 private:
  SPITupleTable* table_;
  std::uint64_t count_;
};

// Prepares `sql` the first time and keeps the plan for the life of the backend. `cache` is the
// caller's static slot; plan invalidation (DDL, search_path) is PostgreSQL's plan cache's job.
SPIPlanPtr kept_plan(SPIPlanPtr& cache, const char* sql, int nargs = 0, Oid* argtypes = nullptr);

// Runs a read-only plan with its parameters (none NULL) and returns its rows; they live until
// the connection ends.
SpiRows execute_read_only(SPIPlanPtr plan, Datum* parameters = nullptr);

// Runs a plan that writes, with its parameters (none NULL); `expected` is the SPI status it must
// end with (SPI_OK_INSERT, say). Returns the rows it processed.
std::uint64_t execute_writing(SPIPlanPtr plan, Datum* parameters, int expected);

}  // namespace expense_ops::pg
