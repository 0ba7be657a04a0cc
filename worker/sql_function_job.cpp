#include "worker/sql_function_job.hpp"

#include <chrono>
#include <cstdlib>
#include <pqxx/pqxx>

#include "worker/log.hpp"
#include "worker/schedule.hpp"
#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

namespace {

constexpr const char* kUndefinedFunction = "42883";

// A column of the result as a log field: a whole number as a number, anything else as text.
core::json::Value field_value(const pqxx::field& field, bool& did_something) {
  if (field.is_null()) {
    return nullptr;
  }
  const char* text = field.c_str();
  char* end = nullptr;
  const long long number = std::strtoll(text, &end, 10);
  if (end != text && *end == '\0') {
    did_something = did_something || number > 0;
    return static_cast<long>(number);
  }
  return std::string(text);
}

}  // namespace

JobSpec sql_function_job(std::string name, double default_interval_seconds, std::string help,
                         SqlFunctionCall call) {
  std::string function = call.function;
  // Each of these is the database's schedule, not the host's: one worker runs it.
  return JobSpec{std::move(name),
                 std::move(function),
                 default_interval_seconds,
                 std::move(help),
                 [call = std::move(call)](const JobContext&) {
                   return std::make_unique<SqlFunctionJob>(call);
                 },
                 /*one_leader=*/true};
}

void SqlFunctionJob::run(pqxx::connection& connection) {
  if (!function_present_) {
    if (!function_exists(connection)) {
      log::debug(call_.event + "_skipped", {{"reason", call_.function + "() missing"}});
      return;
    }
    function_present_ = true;
    log::info(call_.event + "_available");
  }

  const SteadyTime started = SteadyClock::now();
  core::json::Object fields;
  bool did_something = false;
  try {
    pqxx::work transaction(connection);
    const pqxx::row row = transaction.exec1(call_.query);
    transaction.commit();
    for (const pqxx::field& field : row) {
      fields.emplace_back(field.name(), field_value(field, did_something));
    }
  } catch (const pqxx::sql_error& error) {
    // 42883 may also come from inside the function (something it calls is missing); only the
    // function's own absence is the old-extension case, anything else is a failure.
    if (sqlstate_of(error) != kUndefinedFunction || function_exists(connection)) {
      throw;
    }
    function_present_ = false;
    if (!warned_missing_) {
      warned_missing_ = true;
      auto warning = job_failure_fields(call_.function, sqlstate_of(error), error.what());
      warning.emplace_back("hint", "the expense_ops extension predates " + call_.since +
                                       "; ALTER EXTENSION expense_ops UPDATE adds " +
                                       call_.function + "(); the other jobs continue meanwhile");
      log::warn(call_.event + "_unavailable", warning);
    }
    return;
  }
  fields.emplace_back(
      "milliseconds",
      std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count());
  // Most runs find nothing to do; only those that did something are worth an info line.
  if (did_something) {
    log::info(call_.event, fields);
  } else {
    log::debug(call_.event, fields);
  }
}

bool SqlFunctionJob::function_exists(pqxx::connection& connection) const {
  pqxx::nontransaction query(connection);
  return !query.exec_params("SELECT to_regprocedure($1)", call_.signature)[0][0].is_null();
}

}  // namespace expense_ops::worker
