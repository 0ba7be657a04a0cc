#include "core/latency_sketch.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/json.hpp"

namespace expense_ops::core::sketch {

namespace {

// The bins. A value x = m * 2^e (1 <= m < 2) is placed by e + (m - 1), a piecewise-linear
// stand-in for log2(x) that needs no logarithm, only the bits of the double. Its slope against
// the true log2 is at most 1/ln 2, so with 51 bins per octave a bin spans at most
// 2^(1 / (51 ln 2)) = 1.01980 from its lower to its upper bound. Its representative, the
// harmonic mean of the bounds, is then within (1.01980 - 1) / (1.01980 + 1) = 0.98 % of every
// value in the bin: inside the promised 1 %, with room for rounding.
constexpr double kBinsPerOctave = 51.0;

double linear_log2(double value) noexcept {
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  const double mantissa_fraction =
      static_cast<double>(bits & ((std::uint64_t{1} << 52) - 1)) * 0x1p-52;
  return exponent + mantissa_fraction;
}

// The inverse of linear_log2, for the bounds of a bin.
double from_linear_log2(double position) noexcept {
  const double exponent = std::floor(position);
  return std::ldexp(1.0 + (position - exponent), static_cast<int>(exponent));
}

// A double as PostgreSQL spells it, NaN and infinities included.
std::string spelled(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "Infinity" : "-Infinity";
  }
  return json::format_number(value);
}

[[noreturn]] void refuse(const char* sqlstate, const char* form, const std::string& what) {
  throw RuleViolation(sqlstate, std::string("invalid latency_sketch ") + form + ": " + what,
                      "Build sketches with ops.latency_sketch(duration_ms) or merge stored ones; "
                      "the text form is v1;n=...;zeros=...;sum=...;min=...;max=...;bins=...");
}

// Little-endian fixed-width and LEB128 varint encodings.
void put_double(std::string& out, double value) {
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  for (int byte = 0; byte < 8; ++byte) {
    out.push_back(static_cast<char>((bits >> (8 * byte)) & 0xff));
  }
}

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

std::uint64_t zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}

std::int64_t unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}

  double next_double() {
    if (bytes_.size() - position_ < 8) {
      refuse(sqlstate::kInvalidBinaryRepresentation, "binary value", "truncated");
    }
    std::uint64_t bits = 0;
    for (int byte = 0; byte < 8; ++byte) {
      bits |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[position_++]))
              << (8 * byte);
    }
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }

  std::uint64_t next_varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (position_ == bytes_.size()) {
        refuse(sqlstate::kInvalidBinaryRepresentation, "binary value", "truncated");
      }
      const auto byte = static_cast<unsigned char>(bytes_[position_++]);
      if (shift == 63 && byte > 1) {
        refuse(sqlstate::kInvalidBinaryRepresentation, "binary value", "a count overflows");
      }
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        return value;
      }
    }
    refuse(sqlstate::kInvalidBinaryRepresentation, "binary value", "a count overflows");
  }

  std::uint8_t next_byte() {
    if (position_ == bytes_.size()) {
      refuse(sqlstate::kInvalidBinaryRepresentation, "binary value", "truncated");
    }
    return static_cast<std::uint8_t>(bytes_[position_++]);
  }

  bool at_end() const noexcept { return position_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  std::size_t position_ = 0;
};

constexpr std::uint8_t kBinaryVersion = 1;

// Reads "<name>=" and the value after it up to the next ';' (or the end) from `text`.
class TextReader {
 public:
  explicit TextReader(std::string_view text) : text_(text) {}

  std::string_view field(std::string_view name) {
    if (text_.substr(0, name.size()) != name || text_.size() <= name.size() ||
        text_[name.size()] != '=') {
      refuse(sqlstate::kInvalidTextRepresentation, "literal",
             "expected " + std::string(name) + "= at \"" + std::string(text_.substr(0, 20)) + "\"");
    }
    text_.remove_prefix(name.size() + 1);
    const std::size_t end = std::min(text_.find(';'), text_.size());
    std::string_view value = text_.substr(0, end);
    text_.remove_prefix(end);
    if (!text_.empty()) {
      text_.remove_prefix(1);  // the ';'
      if (text_.empty()) {
        refuse(sqlstate::kInvalidTextRepresentation, "literal", "trailing ';'");
      }
    }
    return value;
  }

  bool at_end() const noexcept { return text_.empty(); }

 private:
  std::string_view text_;
};

template <typename Number>
Number parse_number(std::string_view text, std::string_view name) {
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    refuse(sqlstate::kInvalidTextRepresentation, "literal",
           std::string(name) + " is not a number: \"" + std::string(text.substr(0, 40)) + "\"");
  }
  return value;
}

std::size_t most_bins() noexcept {
  return static_cast<std::size_t>(highest_bin() - lowest_bin()) + 1;
}

}  // namespace

int bin_of(double value_ms) noexcept {
  const double clamped = std::clamp(value_ms, kLowestPrecise, kHighestPrecise);
  return static_cast<int>(std::ceil(linear_log2(clamped) * kBinsPerOctave));
}

double representative_of(int bin) noexcept {
  const double lower = from_linear_log2((bin - 1) / kBinsPerOctave);
  const double upper = from_linear_log2(bin / kBinsPerOctave);
  return 2 * lower * upper / (lower + upper);
}

int lowest_bin() noexcept {
  return bin_of(kLowestPrecise);
}
int highest_bin() noexcept {
  return bin_of(kHighestPrecise);
}

void LatencySketch::add(double value_ms) {
  if (!(value_ms >= 0) || std::isinf(value_ms)) {
    throw RuleViolation(sqlstate::kInvalidDuration,
                        "a latency must be a finite number of milliseconds at or above zero, not " +
                            spelled(value_ms),
                        "Leave out requests without a measured duration.");
  }
  if (value_ms == 0) {
    ++zeros_;
  } else {
    const int bin = bin_of(value_ms);
    if (bins_.empty()) {
      bins_.assign(1, 0);
      first_bin_ = bin;
    } else if (bin < first_bin_) {
      bins_.insert(bins_.begin(), static_cast<std::size_t>(first_bin_ - bin), 0);
      first_bin_ = bin;
    } else if (static_cast<std::size_t>(bin - first_bin_) >= bins_.size()) {
      bins_.resize(static_cast<std::size_t>(bin - first_bin_) + 1, 0);
    }
    ++bins_[static_cast<std::size_t>(bin - first_bin_)];
  }
  min_ = count_ == 0 ? value_ms : std::min(min_, value_ms);
  max_ = count_ == 0 ? value_ms : std::max(max_, value_ms);
  sum_ += value_ms;
  ++count_;
}

void LatencySketch::merge(const LatencySketch& other) {
  if (other.count_ == 0) {
    return;
  }
  std::uint64_t merged_count;
  if (__builtin_add_overflow(count_, other.count_, &merged_count)) {
    throw RuleViolation(sqlstate::kNumericValueOutOfRange,
                        "merging these latency sketches would count more than 2^64 values");
  }
  // Everything that can fail (the allocation) happens before the first field changes.
  std::vector<std::uint64_t> bins = bins_;
  int first_bin = first_bin_;
  if (!other.bins_.empty()) {
    if (bins.empty()) {
      bins = other.bins_;
      first_bin = other.first_bin_;
    } else {
      const int low = std::min(first_bin, other.first_bin_);
      const int high = std::max(first_bin + static_cast<int>(bins.size()),
                                other.first_bin_ + static_cast<int>(other.bins_.size()));
      std::vector<std::uint64_t> wider(static_cast<std::size_t>(high - low), 0);
      std::copy(bins.begin(), bins.end(), wider.begin() + (first_bin - low));
      for (std::size_t i = 0; i < other.bins_.size(); ++i) {
        wider[static_cast<std::size_t>(other.first_bin_ - low) + i] += other.bins_[i];
      }
      bins = std::move(wider);
      first_bin = low;
    }
  }
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = count_ == 0 ? other.max_ : std::max(max_, other.max_);
  bins_ = std::move(bins);
  first_bin_ = first_bin;
  zeros_ += other.zeros_;
  sum_ += other.sum_;
  count_ = merged_count;
}

std::optional<double> LatencySketch::mean() const noexcept {
  if (count_ == 0) {
    return std::nullopt;
  }
  return sum_ / static_cast<double>(count_);
}

std::optional<double> LatencySketch::min() const noexcept {
  return count_ == 0 ? std::nullopt : std::optional<double>(min_);
}

std::optional<double> LatencySketch::max() const noexcept {
  return count_ == 0 ? std::nullopt : std::optional<double>(max_);
}

std::optional<double> LatencySketch::quantile(double q) const {
  if (!(q >= 0 && q <= 1)) {
    throw RuleViolation(sqlstate::kQuantileOutOfRange,
                        "a quantile must be between 0 and 1, not " + spelled(q),
                        "Ask for 0.5 for the median, 0.95 for P95.");
  }
  if (count_ == 0) {
    return std::nullopt;
  }
  const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1));
  if (rank == 0) {
    return min_;  // the extremes are known exactly
  }
  if (rank == count_ - 1) {
    return max_;
  }
  if (rank < zeros_) {
    return 0.0;
  }
  std::uint64_t seen = zeros_;
  for (std::size_t i = 0; i < bins_.size(); ++i) {
    seen += bins_[i];
    if (seen > rank) {
      const double estimate = representative_of(first_bin_ + static_cast<int>(i));
      return std::clamp(estimate, min_, max_);
    }
  }
  return max_;  // unreachable for a consistent sketch
}

std::uint64_t LatencySketch::count_below(double threshold_ms) const {
  if (!(threshold_ms >= 0)) {
    throw RuleViolation(sqlstate::kInvalidDuration,
                        "a latency threshold must be a number of milliseconds at or above zero, "
                        "not " +
                            spelled(threshold_ms),
                        "Ask for 200 to count the durations below 200 ms.");
  }
  if (count_ == 0 || threshold_ms <= min_) {
    return 0;  // nothing lies below the exact minimum
  }
  if (threshold_ms > max_) {
    return count_;  // everything lies below anything above the exact maximum
  }
  // min_ < threshold_ms, so the threshold is positive and every zero lies below it. A bin counts
  // whole when its representative, within 1 % of each of its values, lies below the threshold.
  std::uint64_t below = zeros_;
  for (std::size_t i = 0; i < bins_.size(); ++i) {
    if (representative_of(first_bin_ + static_cast<int>(i)) >= threshold_ms) {
      break;  // representatives grow with the bin
    }
    below += bins_[i];
  }
  return below;
}

std::string LatencySketch::to_binary() const {
  std::string out;
  out.reserve(1 + 3 * 8 + 3 * 3 + bins_.size() * 2);
  out.push_back(static_cast<char>(kBinaryVersion));
  put_double(out, sum_);
  put_double(out, count_ == 0 ? 0.0 : min_);
  put_double(out, count_ == 0 ? 0.0 : max_);
  put_varint(out, zeros_);
  put_varint(out, zigzag(bins_.empty() ? 0 : first_bin_));
  put_varint(out, bins_.size());
  for (const std::uint64_t count : bins_) {
    put_varint(out, count);
  }
  return out;
}

LatencySketch LatencySketch::from_binary(std::string_view bytes) {
  const char* const form = "binary value";
  ByteReader reader(bytes);
  const std::uint8_t version = reader.next_byte();
  if (version != kBinaryVersion) {
    refuse(sqlstate::kInvalidBinaryRepresentation, form,
           "unknown format version " + std::to_string(version));
  }
  LatencySketch sketch;
  sketch.sum_ = reader.next_double();
  sketch.min_ = reader.next_double();
  sketch.max_ = reader.next_double();
  sketch.zeros_ = reader.next_varint();
  const std::int64_t first_bin = unzigzag(reader.next_varint());
  const std::uint64_t bin_count = reader.next_varint();
  if (bin_count > most_bins()) {
    refuse(sqlstate::kInvalidBinaryRepresentation, form, "more bins than a sketch can hold");
  }
  if (bin_count > 0 && (first_bin < lowest_bin() ||
                        first_bin + static_cast<std::int64_t>(bin_count) - 1 > highest_bin())) {
    refuse(sqlstate::kInvalidBinaryRepresentation, form, "bins outside 1 us .. 1 day");
  }
  sketch.first_bin_ = bin_count > 0 ? static_cast<int>(first_bin) : 0;
  sketch.bins_.resize(bin_count);
  for (std::uint64_t& count : sketch.bins_) {
    count = reader.next_varint();
  }
  if (!reader.at_end()) {
    refuse(sqlstate::kInvalidBinaryRepresentation, form, "trailing bytes");
  }
  sketch.check_consistent(sqlstate::kInvalidBinaryRepresentation, form);
  return sketch;
}

std::string LatencySketch::to_text() const {
  std::string out = "v1;n=" + std::to_string(count_);
  if (count_ == 0) {
    return out;
  }
  out += ";zeros=" + std::to_string(zeros_);
  out += ";sum=" + json::format_number(sum_);
  out += ";min=" + json::format_number(min_);
  out += ";max=" + json::format_number(max_);
  out += ";bins=" + std::to_string(bins_.empty() ? 0 : first_bin_) + ":";
  for (std::size_t i = 0; i < bins_.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += std::to_string(bins_[i]);
  }
  return out;
}

LatencySketch LatencySketch::from_text(std::string_view text) {
  const char* const form = "literal";
  const char* const code = sqlstate::kInvalidTextRepresentation;
  if (text.substr(0, 3) != "v1;") {
    refuse(code, form, "it must start with v1;");
  }
  TextReader reader(text.substr(3));
  LatencySketch sketch;
  const auto count = parse_number<std::uint64_t>(reader.field("n"), "n");
  if (count == 0) {
    if (!reader.at_end()) {
      refuse(code, form, "an empty sketch (n=0) has no other fields");
    }
    return sketch;
  }
  sketch.zeros_ = parse_number<std::uint64_t>(reader.field("zeros"), "zeros");
  sketch.sum_ = parse_number<double>(reader.field("sum"), "sum");
  sketch.min_ = parse_number<double>(reader.field("min"), "min");
  sketch.max_ = parse_number<double>(reader.field("max"), "max");
  std::string_view bins = reader.field("bins");
  if (!reader.at_end()) {
    refuse(code, form, "unexpected text after bins");
  }
  const std::size_t colon = bins.find(':');
  if (colon == std::string_view::npos) {
    refuse(code, form, "bins must be <first bin>:<count>,<count>,...");
  }
  const auto first_bin = parse_number<int>(bins.substr(0, colon), "the first bin");
  bins.remove_prefix(colon + 1);
  while (!bins.empty()) {
    const std::size_t comma = std::min(bins.find(','), bins.size());
    if (sketch.bins_.size() == most_bins()) {
      refuse(code, form, "more bins than a sketch can hold");
    }
    sketch.bins_.push_back(parse_number<std::uint64_t>(bins.substr(0, comma), "a bin count"));
    bins.remove_prefix(comma);
    if (!bins.empty()) {
      bins.remove_prefix(1);
      if (bins.empty()) {
        refuse(code, form, "trailing ',' in bins");
      }
    }
  }
  if (!sketch.bins_.empty() &&
      (first_bin < lowest_bin() ||
       static_cast<std::int64_t>(first_bin) + static_cast<std::int64_t>(sketch.bins_.size()) - 1 >
           highest_bin())) {
    refuse(code, form, "bins outside 1 us .. 1 day");
  }
  sketch.first_bin_ = sketch.bins_.empty() ? 0 : first_bin;
  sketch.check_consistent(code, form);
  if (sketch.count_ != count) {
    refuse(code, form,
           "n=" + std::to_string(count) + " but zeros and bins count " +
               std::to_string(sketch.count_));
  }
  return sketch;
}

void LatencySketch::check_consistent(const char* sqlstate, const char* form) {
  std::uint64_t total = zeros_;
  for (const std::uint64_t count : bins_) {
    if (__builtin_add_overflow(total, count, &total)) {
      refuse(sqlstate, form, "the counts overflow");
    }
  }
  count_ = total;
  if (!bins_.empty() && (bins_.front() == 0 || bins_.back() == 0)) {
    refuse(sqlstate, form, "the first and last bin must count something");
  }
  if (count_ == 0) {
    if (sum_ != 0 || min_ != 0 || max_ != 0) {
      refuse(sqlstate, form, "an empty sketch has no sum, minimum or maximum");
    }
    return;
  }
  if (!std::isfinite(sum_) || !std::isfinite(min_) || !std::isfinite(max_) || min_ < 0 ||
      min_ > max_) {
    refuse(sqlstate, form, "the minimum, maximum and sum must be finite, with 0 <= min <= max");
  }
  if ((zeros_ > 0) != (min_ == 0) || bins_.empty() != (max_ == 0)) {
    refuse(sqlstate, form, "the minimum or maximum contradicts the count of zeros and the bins");
  }
  if (!bins_.empty() && (bin_of(max_) != first_bin_ + static_cast<int>(bins_.size()) - 1 ||
                         (zeros_ == 0 && bin_of(min_) != first_bin_))) {
    refuse(sqlstate, form, "the minimum or maximum lies outside the first or last bin");
  }
  // The sum is a sum of floating-point values, so it is held to its bounds with some slack.
  const auto n = static_cast<double>(count_);
  if (sum_ < min_ * n * (1 - 1e-9) || sum_ > max_ * n * (1 + 1e-9)) {
    refuse(sqlstate, form, "the sum lies outside count times the minimum and maximum");
  }
}

bool LatencySketch::operator==(const LatencySketch& other) const noexcept {
  return count_ == other.count_ && zeros_ == other.zeros_ && sum_ == other.sum_ &&
         (count_ == 0 || (min_ == other.min_ && max_ == other.max_)) && bins_ == other.bins_ &&
         (bins_.empty() || first_bin_ == other.first_bin_);
}

}  // namespace expense_ops::core::sketch
