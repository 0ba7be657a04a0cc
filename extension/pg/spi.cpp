#include "pg/spi.hpp"

#include <stdexcept>

#include "pg/boundary.hpp"

namespace expense_ops::pg {

SpiConnection::SpiConnection() {
  const int status = guarded([] { return SPI_connect(); });
  if (status != SPI_OK_CONNECT) {
    throw std::runtime_error(std::string("SPI_connect failed: ") + SPI_result_code_string(status));
  }
  open_ = true;
}

SpiConnection::~SpiConnection() {
  if (!open_) {
    return;
  }
  try {
    finish();
  } catch (...) {
    // Unwinding already carries the error that matters; the abort that follows cleans up SPI.
  }
}

void SpiConnection::finish() {
  if (!open_) {
    return;
  }
  open_ = false;
  guarded([] { SPI_finish(); });
}

std::optional<Datum> SpiRow::datum(int column, Oid expected_type) const {
  const Oid actual_type = guarded([&] { return SPI_gettypeid(descriptor_, column); });
  if (actual_type != expected_type) {
    throw std::logic_error("SPI column " + std::to_string(column) + " has type oid " +
                           std::to_string(actual_type) + ", expected " +
                           std::to_string(expected_type));
  }
  bool is_null = false;
  const Datum value = guarded([&] { return SPI_getbinval(tuple_, descriptor_, column, &is_null); });
  if (is_null) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> SpiRow::string(int column) const {
  const auto value = datum(column, TEXTOID);
  if (!value) {
    return std::nullopt;
  }
  const Datum datum_value = *value;
  const char* copy =
      guarded([&] { return static_cast<const char*>(TextDatumGetCString(datum_value)); });
  return std::string(copy);
}

std::optional<std::int64_t> SpiRow::integer(int column) const {
  const auto value = datum(column, INT8OID);
  return value ? std::optional<std::int64_t>(DatumGetInt64(*value)) : std::nullopt;
}

std::optional<double> SpiRow::floating(int column) const {
  const auto value = datum(column, FLOAT8OID);
  return value ? std::optional<double>(DatumGetFloat8(*value)) : std::nullopt;
}

std::optional<bool> SpiRow::boolean(int column) const {
  const auto value = datum(column, BOOLOID);
  return value ? std::optional<bool>(DatumGetBool(*value)) : std::nullopt;
}

SPIPlanPtr kept_plan(SPIPlanPtr& cache, const char* sql, int nargs, Oid* argtypes) {
  if (cache == nullptr) {
    cache = guarded([&] {
      SPIPlanPtr plan = SPI_prepare(sql, nargs, argtypes);
      if (plan == nullptr) {
        elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
      }
      SPI_keepplan(plan);
      return plan;
    });
  }
  return cache;
}

SpiRows execute_read_only(SPIPlanPtr plan, Datum* parameters) {
  const int status = guarded([&] { return SPI_execute_plan(plan, parameters, nullptr, true, 0); });
  if (status != SPI_OK_SELECT) {
    throw std::runtime_error(std::string("SPI_execute_plan failed: ") +
                             SPI_result_code_string(status));
  }
  return SpiRows(SPI_tuptable, SPI_processed);
}

std::uint64_t execute_writing(SPIPlanPtr plan, Datum* parameters, int expected) {
  const int status = guarded([&] { return SPI_execute_plan(plan, parameters, nullptr, false, 0); });
  if (status != expected) {
    throw std::runtime_error(std::string("SPI_execute_plan failed: ") +
                             SPI_result_code_string(status));
  }
  return SPI_processed;
}

}  // namespace expense_ops::pg
