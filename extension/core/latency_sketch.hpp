// The latency sketch: quantiles of request durations within 1 % relative error, in the manner
// of DDSketch (Masson, Rim and Lee, VLDB 2019).
//
// A value falls in a bin whose upper bound is at most 1.0198 times its lower bound, and the bin
// answers for every value in it with one representative that is within 1 % of each. So every
// quantile is within 1 % of the exact one, however the values are spread, and two sketches merge
// by adding their bins with no loss at all: the bins of every sketch are the same.
//
// Values are milliseconds. The bins cover 1 us to 1 day (1e-3 to 8.64e7 ms), about 1 850 of
// them, which bounds the size; values outside that range are counted in the nearest end bin,
// and a quantile is always clamped to the exact minimum and maximum seen. Zero is counted on
// its own and answered exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace expense_ops::core::sketch {

// The guarantee, and the range it holds over (milliseconds).
inline constexpr double kRelativeAccuracy = 0.01;
inline constexpr double kLowestPrecise = 1e-3;
inline constexpr double kHighestPrecise = 86'400'000.0;

// The bin of a positive value, clamped into the precise range.
int bin_of(double value_ms) noexcept;
// The one value that bin answers with: within kRelativeAccuracy of every value in it.
double representative_of(int bin) noexcept;
// The lowest and highest bin any sketch may hold.
int lowest_bin() noexcept;
int highest_bin() noexcept;

class LatencySketch {
 public:
  // Counts one duration. NaN, infinities and negative values are refused (RuleViolation with
  // sqlstate::kInvalidDuration) and leave the sketch as it was.
  void add(double value_ms);
  // Adds every count of `other`: exactly what one sketch of both inputs would hold.
  void merge(const LatencySketch& other);

  std::uint64_t count() const noexcept { return count_; }
  double sum() const noexcept { return sum_; }
  // nullopt for an empty sketch, as SQL's avg/min/max answer NULL for no rows.
  std::optional<double> mean() const noexcept;
  std::optional<double> min() const noexcept;
  std::optional<double> max() const noexcept;

  // The value at rank floor(q * (count - 1)) of the sorted inputs, within 1 %. q outside [0, 1]
  // (or NaN) is refused (sqlstate::kQuantileOutOfRange); nullopt for an empty sketch.
  std::optional<double> quantile(double q) const;

  // How many sketched durations lie below threshold_ms, within 1 %: every value below
  // 0.99 * threshold_ms is counted and none at or above 1.01 * threshold_ms. Exact at the
  // extremes: 0 when threshold_ms is at or below the minimum, count() when it is above the
  // maximum (or infinite). NaN and negative thresholds are refused (sqlstate::kInvalidDuration).
  // An SLO's good events ("faster than 200 ms") are this count.
  std::uint64_t count_below(double threshold_ms) const;

  // The compact binary form (send/recv, and how a stored value is kept): a version byte, the
  // sum, minimum and maximum as little-endian IEEE doubles, then varints for the zeros, the
  // first bin (zigzag), the number of bins and each bin's count. Canonical: equal sketches
  // encode to equal bytes.
  std::string to_binary() const;
  // Refuses anything to_binary cannot have written (sqlstate::kInvalidBinaryRepresentation):
  // an unknown version, truncation, trailing bytes, bins outside the range, counts that
  // overflow, or a minimum, maximum or sum that contradicts the bins.
  static LatencySketch from_binary(std::string_view bytes);

  // The text form, exact and readable:
  //   v1;n=<count>;zeros=<count>;sum=<ms>;min=<ms>;max=<ms>;bins=<first bin>:<count>,<count>,...
  // (an empty sketch is "v1;n=0"). from_text refuses anything else, and any text whose fields
  // contradict each other, with sqlstate::kInvalidTextRepresentation.
  std::string to_text() const;
  static LatencySketch from_text(std::string_view text);

  bool operator==(const LatencySketch& other) const noexcept;
  bool operator!=(const LatencySketch& other) const noexcept { return !(*this == other); }

 private:
  // After decoding: totals the count, and checks that the fields describe a sketch add() could
  // have built. `form` names what was decoded, for the message.
  void check_consistent(const char* sqlstate, const char* form);

  std::uint64_t count_ = 0;
  std::uint64_t zeros_ = 0;
  double sum_ = 0;
  double min_ = 0;  // meaningful only when count_ > 0
  double max_ = 0;
  int first_bin_ = 0;  // the bin of bins_[0]
  std::vector<std::uint64_t> bins_;
};

}  // namespace expense_ops::core::sketch
