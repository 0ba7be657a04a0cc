// Errors raised by domain logic. The core cannot see PostgreSQL's ERRCODE_* macros, so a
// rule carries its SQLSTATE as the five-character code; the glue in extension/pg maps it.
#pragma once

#include <stdexcept>
#include <string>

namespace expense_ops::core {

// Five-character SQLSTATE codes the core raises. Named as in PostgreSQL's errcodes.txt.
namespace sqlstate {
inline constexpr char kCheckViolation[] = "23514";
inline constexpr char kInvalidParameterValue[] = "22023";
inline constexpr char kInternalError[] = "XX000";
inline constexpr char kDatetimeFieldOverflow[] = "22008";

// expense_ops' own codes, one per rule. Class 22 (data exception) for input that cannot be
// accepted as given; PostgREST answers them with HTTP 400. docs/errors.md lists them all.
inline constexpr char kUnknownCurrency[] = "22X01";
inline constexpr char kInvalidAmount[] = "22X02";
inline constexpr char kAmountPrecision[] = "22X03";
inline constexpr char kAmountNotPositive[] = "22X04";
inline constexpr char kAmountTooLarge[] = "22X05";
inline constexpr char kExpenseDateInFuture[] = "22X20";
inline constexpr char kExpenseTooOld[] = "22X21";
inline constexpr char kCategoryInactive[] = "22X22";
inline constexpr char kCategoryUnknown[] = "22X23";
inline constexpr char kPasswordTooShort[] = "22X10";
inline constexpr char kPasswordTooLong[] = "22X11";
inline constexpr char kNullValueNotAllowed[] = "22004";

// SLA business calendars and clocks: a calendar definition that cannot describe a working week,
// and clock parameters that cannot be measured against.
inline constexpr char kUnknownTimeZone[] = "22X40";
inline constexpr char kCalendarIntervalInverted[] = "22X41";
inline constexpr char kCalendarIntervalsOverlap[] = "22X42";
inline constexpr char kCalendarWeekday[] = "22X43";
inline constexpr char kCalendarEmpty[] = "22X44";
inline constexpr char kSlaTargetNegative[] = "22X45";
inline constexpr char kSlaAtRiskFraction[] = "22X46";
inline constexpr char kSlaTargetMonths[] = "22X47";

// Tickets (core/ticket_lifecycle.hpp).
inline constexpr char kUnknownTicketKind[] = "22X50";
inline constexpr char kUnknownPriority[] = "22X51";
inline constexpr char kUnknownTicketState[] = "22X52";
inline constexpr char kTicketTransition[] = "22X53";
inline constexpr char kTicketCloseRequirements[] = "22X54";
inline constexpr char kPrioritisationInput[] = "22X55";
}  // namespace sqlstate

// A broken business rule: the message names the field and the rule, the hint says how to fix it.
class RuleViolation : public std::runtime_error {
 public:
  RuleViolation(std::string sqlstate, const std::string& message, std::string hint = {},
                std::string detail = {})
      : std::runtime_error(message),
        sqlstate_(std::move(sqlstate)),
        hint_(std::move(hint)),
        detail_(std::move(detail)) {}

  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& hint() const noexcept { return hint_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string sqlstate_;
  std::string hint_;
  std::string detail_;
};

}  // namespace expense_ops::core
