// Which minutes of the request log this transaction has already marked for the rollup.
//
// Every row that goes into ops.request_log must leave its minute in ops.request_minutes_to_roll,
// in the same transaction, or the rollup never rebuilds that minute. Writing a mark costs a
// statement; the rows of one minute arrive together by the thousand. So the glue asks this set
// first and writes a mark only for a minute the transaction has not marked yet.
//
// A mark written inside a subtransaction that then rolls back is gone, so the set forgets it
// too; one written inside a subtransaction that commits now belongs to the parent.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

namespace expense_ops::core {

// The minute (UTC) holding an instant, as whole minutes since PostgreSQL's epoch
// (2000-01-01 00:00 UTC), which starts on a minute; nullopt for the infinities.
std::optional<std::int64_t> minute_of(std::int64_t microseconds_since_2000) noexcept;

class TransactionMinuteMarks {
 public:
  using Subtransaction = std::uint32_t;

  // Whether the transaction still has to mark this minute.
  bool needs_mark(std::int64_t minute) const;

  // The mark for `minute` was written in `subtransaction`.
  void marked(std::int64_t minute, Subtransaction subtransaction);

  // A subtransaction rolled back: the marks it wrote are gone.
  void subtransaction_aborted(Subtransaction subtransaction);
  // A subtransaction committed into its parent: its marks are now the parent's.
  void subtransaction_committed(Subtransaction subtransaction, Subtransaction parent);

  // The top-level transaction ended, either way, or the marks it wrote were cleared (a rollup
  // in the same transaction): no minute is known to be marked any more.
  void forget_all() noexcept;

  std::size_t size() const noexcept { return marks_.size(); }

 private:
  // minute -> the outermost subtransaction that wrote its mark. A minute marked again in a
  // deeper subtransaction keeps the outer one: that mark outlives the deeper rollback.
  std::unordered_map<std::int64_t, Subtransaction> marks_;
  // The last minute asked about and found marked: rows come in runs of one minute.
  mutable std::optional<std::int64_t> last_marked_;
};

}  // namespace expense_ops::core
