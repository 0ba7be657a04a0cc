#include "pg/boundary.hpp"

#include <cstdio>
#include <new>

#include "core/error.hpp"

namespace expense_ops::pg {

namespace {

std::string copy_or_empty(const char* text) {
  return text != nullptr ? std::string(text) : "";
}

// What the boundary raises, held in plain storage: it must outlive the catch block that
// filled it without owning anything a longjmp could leak. Left uninitialised on purpose: every
// call pays for the frame, only failing calls fill it (see clear()).
struct ErrorReport {
  int sqlerrcode;
  char message[2048];
  char detail[2048];
  char hint[1024];

  void clear(int code) {
    sqlerrcode = code;
    message[0] = detail[0] = hint[0] = '\0';
  }
};

template <std::size_t N>
void copy_text(char (&target)[N], const char* text) {
  snprintf(target, N, "%s", text);
}

int sqlstate_to_errcode(const std::string& code) {
  if (code.size() != 5) {
    return ERRCODE_INTERNAL_ERROR;
  }
  return MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4]);
}

}  // namespace

PostgresError::PostgresError(const ErrorData& error)
    : sqlerrcode_(error.sqlerrcode),
      message_(copy_or_empty(error.message)),
      detail_(copy_or_empty(error.detail)),
      hint_(copy_or_empty(error.hint)) {}

namespace detail {

ErrorData* call_catching_errors(void (*callback)(void*), void* context) {
  const MemoryContext caller_context = CurrentMemoryContext;
  ErrorData* volatile error = nullptr;
  PG_TRY();
  { callback(context); }
  PG_CATCH();
  {
    // CopyErrorData must not run in ErrorContext, which the error left current.
    MemoryContextSwitchTo(caller_context);
    error = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  return error;
}

void throw_postgres_error(ErrorData* error) {
  // Copy into C++ storage first; FreeErrorData cannot raise.
  PostgresError exception(*error);
  FreeErrorData(error);
  throw exception;
}

}  // namespace detail

namespace {

// Runs body(context), and fills `report` with whatever C++ error escapes it. The one catch of
// the boundary, shared by SQL functions and by the callbacks PostgreSQL calls directly.
bool run_catching(void (*body)(void*), void* context, const char* name, ErrorReport& report) {
  try {
    body(context);
    return true;
  } catch (const PostgresError& error) {
    report.clear(error.sqlerrcode());
    copy_text(report.message, error.message().c_str());
    copy_text(report.detail, error.detail().c_str());
    copy_text(report.hint, error.hint().c_str());
  } catch (const core::RuleViolation& violation) {
    report.clear(sqlstate_to_errcode(violation.sqlstate()));
    copy_text(report.message, violation.what());
    copy_text(report.detail, violation.detail().c_str());
    copy_text(report.hint, violation.hint().c_str());
  } catch (const std::bad_alloc&) {
    report.clear(ERRCODE_OUT_OF_MEMORY);
    snprintf(report.message, sizeof report.message, "out of memory in %s", name);
  } catch (const std::exception& exception) {
    report.clear(ERRCODE_INTERNAL_ERROR);
    snprintf(report.message, sizeof report.message, "internal error in %s: %s", name,
             exception.what());
  } catch (...) {
    report.clear(ERRCODE_INTERNAL_ERROR);
    snprintf(report.message, sizeof report.message, "internal error in %s: unknown C++ exception",
             name);
  }
  return false;
}

// The catch blocks are closed and `report` owns nothing, so ereport may longjmp from here.
[[noreturn]] void raise(const ErrorReport& report) {
  ereport(ERROR, (errcode(report.sqlerrcode), errmsg_internal("%s", report.message),
                  report.detail[0] != '\0' ? errdetail_internal("%s", report.detail) : 0,
                  report.hint[0] != '\0' ? errhint("%s", report.hint) : 0));
  pg_unreachable();
}

}  // namespace

Datum invoke_at_boundary(PGFunction body, FunctionCallInfo fcinfo, const char* function_name) {
  struct Call {
    PGFunction body;
    FunctionCallInfo fcinfo;
    Datum result;
  } call{body, fcinfo, 0};
  ErrorReport report;
  if (!run_catching(
          [](void* context) {
            auto& c = *static_cast<Call*>(context);
            c.result = c.body(c.fcinfo);
          },
          &call, function_name, report)) {
    raise(report);
  }
  return call.result;
}

void run_at_boundary(void (*body)(void*), void* context, const char* name) {
  ErrorReport report;
  if (!run_catching(body, context, name, report)) {
    raise(report);
  }
}

}  // namespace expense_ops::pg
