// The error boundary between PostgreSQL and C++ (README, "The boundary rules").
//
// PostgreSQL reports errors with longjmp, C++ with exceptions, and neither may cross the other:
// a longjmp over live C++ objects skips their destructors, and an exception unwinding through
// PostgreSQL's C frames corrupts the backend. So:
//
//  * every SQL-callable function is defined with EXPENSE_OPS_FUNCTION, which runs the C++ body
//    in try, copies any error out into plain data, leaves the catch block, and only then calls
//    ereport(ERROR) with the error's SQLSTATE;
//  * every call from C++ into PostgreSQL that may raise goes through guarded(), which catches
//    the longjmp with PG_TRY, restores the memory context, copies the error data and throws it
//    as a PostgresError.
//
// A PostgresError must reach the boundary (or be rethrown towards it): the transaction is only
// consistent again after PostgreSQL aborts it.
#pragma once

#include <exception>
#include <string>
#include <type_traits>

#include "pg/postgres_headers.hpp"

namespace expense_ops::pg {

// A PostgreSQL ERROR, caught by guarded() and travelling through C++ as an exception.
class PostgresError : public std::exception {
 public:
  explicit PostgresError(const ErrorData& error);

  int sqlerrcode() const noexcept { return sqlerrcode_; }
  const std::string& message() const noexcept { return message_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::string& hint() const noexcept { return hint_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  int sqlerrcode_;
  std::string message_;
  std::string detail_;
  std::string hint_;
};

namespace detail {
// Calls callback(context) under PG_TRY. Returns nullptr, or a copy of the ERROR it raised, made
// in the caller's memory context with the error state flushed. The one PG_TRY of the project.
ErrorData* call_catching_errors(void (*callback)(void*), void* context);

// Turns a caught PostgreSQL error into a PostgresError and throws it. Frees `error`.
[[noreturn]] void throw_postgres_error(ErrorData* error);
}  // namespace detail

// Runs `call`, which calls into PostgreSQL, and turns an ERROR it raises into a PostgresError.
//
// The callable must own nothing with a destructor: if PostgreSQL longjmps out of it, its frame
// is abandoned. Keep it to PostgreSQL calls on plain data, and return plain data.
template <typename Call>
auto guarded(Call&& call) -> std::invoke_result_t<Call&> {
  using Result = std::invoke_result_t<Call&>;
  if constexpr (std::is_void_v<Result>) {
    guarded([&call] {
      call();
      return true;
    });
  } else {
    static_assert(std::is_trivially_copyable_v<Result> && std::is_trivially_destructible_v<Result>,
                  "guarded() returns plain data only: PostgreSQL may longjmp past it");
    // Everything the call produces lives here, outside the frame that PG_TRY's setjmp saves,
    // so nothing is left in registers a longjmp could clobber.
    struct Frame {
      Call* call;
      Result result;
      // A C++ exception must not leave the PG_TRY block: that would skip PG_END_TRY and leave
      // PG_exception_stack pointing into a dead frame. It is caught and rethrown out here.
      std::exception_ptr cpp_exception;
    } frame{&call, Result{}, nullptr};
    ErrorData* error = detail::call_catching_errors(
        [](void* context) {
          auto& f = *static_cast<Frame*>(context);
          try {
            f.result = (*f.call)();
          } catch (...) {
            f.cpp_exception = std::current_exception();
          }
        },
        &frame);
    if (error != nullptr) {
      detail::throw_postgres_error(error);
    }
    if (frame.cpp_exception) {
      std::rethrow_exception(frame.cpp_exception);
    }
    return frame.result;
  }
}

// Runs a C++ function body and reports whatever it throws as a PostgreSQL ERROR.
// Used only by EXPENSE_OPS_FUNCTION.
Datum invoke_at_boundary(PGFunction body, FunctionCallInfo fcinfo, const char* function_name);

// The same boundary for a callback PostgreSQL calls directly, not through fmgr (an index access
// method's aminsert, say): body(context) runs in try, and what it throws becomes an ERROR.
void run_at_boundary(void (*body)(void*), void* context, const char* name);

// at_boundary("name", [&] { ... }): the body may throw and calls PostgreSQL only through
// guarded(). It captures by reference, so the frame a longjmp leaves holds nothing to destroy.
template <typename Body>
void at_boundary(const char* name, Body&& body) {
  static_assert(std::is_trivially_destructible_v<std::remove_reference_t<Body>>,
                "capture by reference: the body outlives nothing PostgreSQL may longjmp past");
  run_at_boundary([](void* context) { (*static_cast<std::remove_reference_t<Body>*>(context))(); },
                  &body, name);
}

}  // namespace expense_ops::pg

// Defines the SQL-callable C function `name`. The body that follows is ordinary C++ with
// `fcinfo` in scope; it may throw, and it calls PostgreSQL only through guarded().
#define EXPENSE_OPS_FUNCTION(name)                                            \
  extern "C" {                                                                \
  PG_FUNCTION_INFO_V1(name);                                                  \
  }                                                                           \
  static Datum name##_body(FunctionCallInfo fcinfo);                          \
  Datum name(PG_FUNCTION_ARGS) {                                              \
    return ::expense_ops::pg::invoke_at_boundary(name##_body, fcinfo, #name); \
  }                                                                           \
  static Datum name##_body(FunctionCallInfo fcinfo)
