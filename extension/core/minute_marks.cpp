#include "core/minute_marks.hpp"

#include <iterator>
#include <limits>

namespace expense_ops::core {

namespace {
constexpr std::int64_t kMicrosecondsPerMinute = 60'000'000;
}  // namespace

std::optional<std::int64_t> minute_of(std::int64_t microseconds_since_2000) noexcept {
  // PostgreSQL's -infinity and infinity are the extreme int64 values.
  if (microseconds_since_2000 == std::numeric_limits<std::int64_t>::min() ||
      microseconds_since_2000 == std::numeric_limits<std::int64_t>::max()) {
    return std::nullopt;
  }
  std::int64_t minute = microseconds_since_2000 / kMicrosecondsPerMinute;
  if (microseconds_since_2000 % kMicrosecondsPerMinute < 0) {
    --minute;  // floor, for instants before 2000
  }
  return minute;
}

bool TransactionMinuteMarks::needs_mark(std::int64_t minute) const {
  if (last_marked_ == minute) {
    return false;
  }
  if (marks_.count(minute) == 0) {
    return true;
  }
  last_marked_ = minute;
  return false;
}

void TransactionMinuteMarks::marked(std::int64_t minute, Subtransaction subtransaction) {
  marks_.emplace(minute, subtransaction);  // keeps an outer subtransaction's entry
  last_marked_ = minute;
}

void TransactionMinuteMarks::subtransaction_aborted(Subtransaction subtransaction) {
  for (auto mark = marks_.begin(); mark != marks_.end();) {
    mark = mark->second == subtransaction ? marks_.erase(mark) : std::next(mark);
  }
  last_marked_.reset();
}

void TransactionMinuteMarks::subtransaction_committed(Subtransaction subtransaction,
                                                      Subtransaction parent) {
  for (auto& mark : marks_) {
    if (mark.second == subtransaction) {
      mark.second = parent;
    }
  }
}

void TransactionMinuteMarks::forget_all() noexcept {
  marks_.clear();
  last_marked_.reset();
}

}  // namespace expense_ops::core
