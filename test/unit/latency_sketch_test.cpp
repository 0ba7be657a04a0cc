#include "core/latency_sketch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "caught.hpp"

namespace core = expense_ops::core;
namespace sketch = expense_ops::core::sketch;
using expense_ops::test::caught;
using sketch::LatencySketch;

namespace {

constexpr double kQuantiles[] = {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0};

LatencySketch sketch_of(const std::vector<double>& values) {
  LatencySketch result;
  for (const double value : values) {
    result.add(value);
  }
  return result;
}

// The value the sketch promises to approximate: rank floor(q * (n - 1)) of the sorted values.
double exact_quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  return values[rank];
}

// Every quantile of the sketch is within 1 % of the exact one.
void expect_within_one_percent(const std::vector<double>& values, const char* data) {
  const LatencySketch sketched = sketch_of(values);
  for (const double q : kQuantiles) {
    const double exact = exact_quantile(values, q);
    const double estimate = sketched.quantile(q).value();
    if (exact == 0) {
      EXPECT_EQ(estimate, 0) << data << " q=" << q;
    } else {
      EXPECT_LE(std::abs(estimate - exact) / exact, sketch::kRelativeAccuracy)
          << data << " q=" << q << " exact=" << exact << " estimate=" << estimate;
    }
  }
}

std::vector<double> draw(std::size_t n, const std::function<double(std::mt19937_64&)>& next) {
  std::mt19937_64 random(20261201);
  std::vector<double> values(n);
  for (double& value : values) {
    value = next(random);
  }
  return values;
}

}  // namespace

TEST(LatencySketch, EveryBinIsWithinOnePercentOfItsValuesOverTheWholeRange) {
  // The bound of each bin, against its representative: the guarantee itself, bin by bin.
  for (int bin = sketch::lowest_bin(); bin <= sketch::highest_bin(); ++bin) {
    const double representative = sketch::representative_of(bin);
    EXPECT_EQ(sketch::bin_of(representative), bin);
  }
  // And walking the range in small relative steps, each value lands in a bin that answers
  // within 1 % of it.
  for (double value = sketch::kLowestPrecise; value <= sketch::kHighestPrecise; value *= 1.0007) {
    const double answer = sketch::representative_of(sketch::bin_of(value));
    ASSERT_LE(std::abs(answer - value) / value, sketch::kRelativeAccuracy) << value;
  }
  EXPECT_LT(sketch::highest_bin() - sketch::lowest_bin() + 1, 1900);
}

TEST(LatencySketch, UniformData) {
  expect_within_one_percent(draw(100000,
                                 [](std::mt19937_64& random) {
                                   return std::uniform_real_distribution<double>(1, 1000)(random);
                                 }),
                            "uniform");
}

TEST(LatencySketch, LogNormalData) {
  expect_within_one_percent(draw(100000,
                                 [](std::mt19937_64& random) {
                                   return std::lognormal_distribution<double>(3, 1.5)(random);
                                 }),
                            "log-normal");
}

TEST(LatencySketch, ParetoData) {
  expect_within_one_percent(
      draw(100000,
           [](std::mt19937_64& random) {
             const double u = std::uniform_real_distribution<double>(0, 1)(random);
             return 5.0 / std::pow(1 - u, 1 / 1.2);  // scale 5 ms, shape 1.2: a heavy tail
           }),
      "pareto");
}

TEST(LatencySketch, BimodalData) {
  expect_within_one_percent(draw(100000,
                                 [](std::mt19937_64& random) {
                                   const bool slow = std::bernoulli_distribution(0.1)(random);
                                   return std::normal_distribution<double>(slow ? 900 : 5,
                                                                           slow ? 50 : 1)(random);
                                 }),
                            "bimodal 5 ms and 900 ms");
}

TEST(LatencySketch, AllEqualValuesAreAnsweredExactly) {
  const LatencySketch sketched = sketch_of(std::vector<double>(1000, 42.5));
  for (const double q : kQuantiles) {
    EXPECT_EQ(sketched.quantile(q), 42.5);
  }
  EXPECT_EQ(sketched.count(), 1000u);
  EXPECT_DOUBLE_EQ(sketched.mean().value(), 42.5);
}

TEST(LatencySketch, TinyValues) {
  expect_within_one_percent(std::vector<double>(100, 1e-3), "all 1e-3");
  expect_within_one_percent(draw(10000,
                                 [](std::mt19937_64& random) {
                                   return std::uniform_real_distribution<double>(1e-3,
                                                                                 2e-3)(random);
                                 }),
                            "1e-3 .. 2e-3");
}

TEST(LatencySketch, ZerosAreCountedExactly) {
  const LatencySketch sketched = sketch_of({0, 0, 0, 10, 20});
  EXPECT_EQ(sketched.quantile(0), 0);
  EXPECT_EQ(sketched.quantile(0.5), 0);  // rank 2 of 0, 0, 0, 10, 20
  EXPECT_NEAR(sketched.quantile(0.75).value(), 10, 0.1);
  EXPECT_EQ(sketched.min(), 0);
  EXPECT_EQ(sketched.max(), 20);
}

TEST(LatencySketch, ValuesOutsideTheRangeAreKeptAndClampedToTheExtremes) {
  const LatencySketch sketched = sketch_of({1e-6, 2e8});
  EXPECT_EQ(sketched.count(), 2u);
  EXPECT_EQ(sketched.quantile(0), 1e-6);  // clamped to the exact minimum
  EXPECT_EQ(sketched.quantile(1), 2e8);   // and maximum
  EXPECT_DOUBLE_EQ(sketched.sum(), 1e-6 + 2e8);
}

TEST(LatencySketch, EmptySketchHasNoQuantilesMeanOrExtremes) {
  const LatencySketch empty;
  EXPECT_EQ(empty.count(), 0u);
  EXPECT_EQ(empty.quantile(0.5), std::nullopt);
  EXPECT_EQ(empty.mean(), std::nullopt);
  EXPECT_EQ(empty.min(), std::nullopt);
  EXPECT_EQ(empty.max(), std::nullopt);
  EXPECT_EQ(empty.to_text(), "v1;n=0");
}

TEST(LatencySketch, RefusesDurationsThatAreNotFiniteAndNonNegative) {
  LatencySketch sketched = sketch_of({5});
  for (const double bad : {-1.0, -0.001, std::nan(""), std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity()}) {
    const core::RuleViolation refusal = caught([&] { sketched.add(bad); });
    EXPECT_EQ(refusal.sqlstate(), core::sqlstate::kInvalidDuration) << bad;
    EXPECT_FALSE(refusal.hint().empty());
  }
  EXPECT_EQ(sketched, sketch_of({5}));  // untouched
}

TEST(LatencySketch, RefusesQuantilesOutsideZeroToOne) {
  const LatencySketch sketched = sketch_of({5});
  for (const double bad : {-0.01, 1.01, std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(caught([&] { (void)sketched.quantile(bad); }).sqlstate(),
              core::sqlstate::kQuantileOutOfRange)
        << bad;
  }
  // Even an empty sketch checks the question before answering that it has no answer.
  EXPECT_EQ(caught([&] { (void)LatencySketch().quantile(2); }).sqlstate(),
            core::sqlstate::kQuantileOutOfRange);
}

TEST(LatencySketch, CountBelowIsWithinOnePercentOfTheThreshold) {
  // Every value below 0.99 t is counted, and none at or above 1.01 t: the exact counts at those
  // two thresholds bracket the answer, for thresholds across the data and between its bins.
  for (const auto& [data, values] :
       {std::pair{"log-normal", draw(50000,
                                     [](std::mt19937_64& random) {
                                       return std::lognormal_distribution<double>(4, 1.2)(random);
                                     })},
        std::pair{"bimodal with zeros", draw(20000, [](std::mt19937_64& random) {
                    const int mode = std::uniform_int_distribution<int>(0, 9)(random);
                    return mode == 0
                               ? 0.0
                               : std::normal_distribution<double>(mode < 8 ? 40 : 400, 5)(random);
                  })}}) {
    std::vector<double> clean;
    std::copy_if(values.begin(), values.end(), std::back_inserter(clean),
                 [](double value) { return value >= 0; });
    const LatencySketch sketched = sketch_of(clean);
    auto exactly_below = [&](double threshold) {
      return static_cast<std::uint64_t>(std::count_if(
          clean.begin(), clean.end(), [&](double value) { return value < threshold; }));
    };
    for (int step = 0; step < 700; ++step) {  // 0.5 ms to 4.2 s
      const double threshold = 0.5 * std::pow(1.013, step);
      const std::uint64_t counted = sketched.count_below(threshold);
      EXPECT_GE(counted, exactly_below(0.99 * threshold)) << data << " t=" << threshold;
      EXPECT_LE(counted, exactly_below(1.01 * threshold)) << data << " t=" << threshold;
    }
  }
}

TEST(LatencySketch, CountBelowIsExactAtTheExtremes) {
  const LatencySketch sketched = sketch_of({0, 0, 10, 20, 200, 250});
  EXPECT_EQ(sketched.count_below(0), 0u);  // nothing lies below zero, not even the zeros
  EXPECT_EQ(sketched.count_below(1e-9), 2u);
  EXPECT_EQ(sketched.count_below(15), 3u);
  EXPECT_EQ(sketched.count_below(150), 4u);
  EXPECT_EQ(sketched.count_below(225), 5u);
  EXPECT_EQ(sketched.count_below(250.0001), 6u);  // just above the exact maximum
  EXPECT_EQ(sketched.count_below(std::numeric_limits<double>::infinity()), 6u);
  const LatencySketch positive = sketch_of({5, 7});
  EXPECT_EQ(positive.count_below(5), 0u);  // at the exact minimum
  EXPECT_EQ(positive.count_below(6), 1u);
  EXPECT_EQ(LatencySketch().count_below(100), 0u);
  // Merging first or counting each and adding agree: the bins are the same in every sketch.
  LatencySketch merged = sketch_of({1, 150, 199});
  merged.merge(sketch_of({201, 3000, 0.5}));
  EXPECT_EQ(merged.count_below(200), sketch_of({1, 150, 199}).count_below(200) +
                                         sketch_of({201, 3000, 0.5}).count_below(200));
}

TEST(LatencySketch, CountBelowRefusesThresholdsThatAreNaNOrNegative) {
  for (const double bad : {-1.0, -0.001, std::nan(""), -std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(caught([&] { (void)sketch_of({5}).count_below(bad); }).sqlstate(),
              core::sqlstate::kInvalidDuration)
        << bad;
    EXPECT_EQ(caught([&] { (void)LatencySketch().count_below(bad); }).sqlstate(),
              core::sqlstate::kInvalidDuration)
        << bad;
  }
}

TEST(LatencySketch, MergeEqualsOneSketchOfAllValuesAndIsAssociative) {
  const std::vector<double> a = draw(3000, [](std::mt19937_64& random) {
    return std::lognormal_distribution<double>(2, 1)(random);
  });
  const std::vector<double> b = {0, 0.5, 1e-4, 3e5};
  const std::vector<double> c = draw(2000, [](std::mt19937_64& random) {
    return std::uniform_real_distribution<double>(100, 5000)(random);
  });
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  all.insert(all.end(), c.begin(), c.end());

  LatencySketch left = sketch_of(a);  // (a + b) + c
  left.merge(sketch_of(b));
  left.merge(sketch_of(c));
  LatencySketch right = sketch_of(b);  // a + (b + c), in another order
  right.merge(sketch_of(c));
  LatencySketch a_first = sketch_of(a);
  a_first.merge(right);
  const LatencySketch whole = sketch_of(all);

  EXPECT_EQ(left.to_binary(), a_first.to_binary());
  EXPECT_EQ(left.count(), whole.count());
  EXPECT_EQ(left.min(), whole.min());
  EXPECT_EQ(left.max(), whole.max());
  EXPECT_NEAR(left.sum(), whole.sum(), 1e-9 * whole.sum());
  for (const double q : kQuantiles) {
    EXPECT_EQ(left.quantile(q), whole.quantile(q)) << q;  // the same bins: no loss
  }
  // Merging nothing, or into nothing, changes nothing.
  LatencySketch empty;
  empty.merge(whole);
  EXPECT_EQ(empty, whole);
  LatencySketch unchanged = whole;
  unchanged.merge(LatencySketch());
  EXPECT_EQ(unchanged, whole);
}

TEST(LatencySketch, BinaryAndTextFormsRoundTrip) {
  const std::vector<LatencySketch> samples = {
      LatencySketch(), sketch_of({0}), sketch_of({0, 0, 7}), sketch_of({1e-6, 2e8}),
      sketch_of(draw(5000, [](std::mt19937_64& random) {
        return std::lognormal_distribution<double>(4, 2)(random);
      }))};
  for (const LatencySketch& original : samples) {
    const std::string bytes = original.to_binary();
    EXPECT_EQ(LatencySketch::from_binary(bytes), original);
    EXPECT_EQ(LatencySketch::from_binary(bytes).to_binary(), bytes);  // canonical
    const std::string text = original.to_text();
    EXPECT_EQ(LatencySketch::from_text(text), original) << text;
    EXPECT_EQ(LatencySketch::from_text(text).to_text(), text);
  }
  EXPECT_EQ(sketch_of({2, 2}).to_text(),
            "v1;n=2;zeros=0;sum=4;min=2;max=2;bins=" + std::to_string(sketch::bin_of(2)) + ":2");
}

TEST(LatencySketch, BinaryFormIsCompact) {
  const LatencySketch sketched = sketch_of(draw(100000, [](std::mt19937_64& random) {
    return std::lognormal_distribution<double>(3, 1)(random);
  }));
  // 25 bytes of header and a varint per bin over the span the values cover.
  EXPECT_LT(sketched.to_binary().size(), 1500u);
}

TEST(LatencySketch, RefusesEveryCorruptBinaryValue) {
  const std::string good = sketch_of({0, 3, 5, 900}).to_binary();
  const auto refused = [](const std::string& bytes) {
    return caught([&] { (void)LatencySketch::from_binary(bytes); }).sqlstate() ==
           std::string(core::sqlstate::kInvalidBinaryRepresentation);
  };
  EXPECT_TRUE(refused(""));
  std::string version = good;
  version[0] = 2;
  EXPECT_TRUE(refused(version));
  for (std::size_t length = 0; length < good.size(); ++length) {
    EXPECT_TRUE(refused(good.substr(0, length))) << "truncated to " << length;
  }
  EXPECT_TRUE(refused(good + '\0'));
  // Flipping any single byte either is refused or decodes to a sketch that encodes back to the
  // same bytes: never a crash, never a silently different reading of the same bytes.
  for (std::size_t at = 0; at < good.size(); ++at) {
    for (const int flip : {0x01, 0x80, 0xff}) {
      std::string corrupt = good;
      corrupt[at] = static_cast<char>(corrupt[at] ^ flip);
      try {
        EXPECT_EQ(LatencySketch::from_binary(corrupt).to_binary(), corrupt);
      } catch (const core::RuleViolation& refusal) {
        EXPECT_EQ(refusal.sqlstate(), core::sqlstate::kInvalidBinaryRepresentation);
      }
    }
  }
  // A varint running past 64 bits, and a bin count larger than any sketch.
  std::string overflow = good.substr(0, 25) + std::string(10, '\xff') + '\x01';
  EXPECT_TRUE(refused(overflow));
  std::string huge = good.substr(0, 25) + '\0' + '\0' + std::string("\xff\xff\x03", 3);
  EXPECT_TRUE(refused(huge));
}

TEST(LatencySketch, RefusesMalformedOrContradictoryText) {
  const std::string bin = std::to_string(sketch::bin_of(2));
  const std::vector<std::string> bad = {
      "",
      "v2;n=0",
      "v1;n=0;zeros=0",
      "v1;n=-1",
      "v1;n=abc",
      "v1;n=2;zeros=0;sum=4;min=2;max=2;bins=" + bin + ":1",  // n contradicts the bins
      "v1;n=2;zeros=0;sum=4;min=2;max=2;bins=" + bin + ":2;",
      "v1;n=2;zeros=0;sum=4;min=2;max=2;bins=" + bin + ":2,",
      "v1;n=2;zeros=0;sum=4;min=2;max=2;bins=" + bin + ":2,0",  // not trimmed
      "v1;n=2;zeros=0;sum=4;min=2;max=2;bins=" + bin + "",
      "v1;n=2;zeros=0;sum=4;min=3;max=2;bins=" + bin + ":2",  // min above max
      "v1;n=2;zeros=0;sum=nan;min=2;max=2;bins=" + bin + ":2",
      "v1;n=2;zeros=0;sum=4;min=2;max=inf;bins=" + bin + ":2",
      "v1;n=2;zeros=0;sum=400;min=2;max=2;bins=" + bin + ":2",  // sum beyond n * max
      "v1;n=2;zeros=0;sum=4;min=2;max=9;bins=" + bin + ":2",    // max outside the last bin
      "v1;n=2;zeros=1;sum=2;min=2;max=2;bins=" + bin + ":1",    // zeros but min > 0
      "v1;n=2;zeros=0;sum=4;min=2;max=2;bins=99999:2",
      "v1;n=2;zeros=0;sum=4;min=2;max=2;bins=" + bin + ":2;extra=1",
      "v1;zeros=0;n=2;sum=4;min=2;max=2;bins=" + bin + ":2",  // fields out of order
  };
  for (const std::string& text : bad) {
    EXPECT_EQ(caught([&] { (void)LatencySketch::from_text(text); }).sqlstate(),
              core::sqlstate::kInvalidTextRepresentation)
        << text;
  }
}

TEST(LatencySketch, MergeRefusesCountsBeyond64Bits) {
  const std::string bin = std::to_string(sketch::bin_of(2));
  const LatencySketch big = LatencySketch::from_text(
      "v1;n=18446744073709551615;zeros=0;sum=3.6893488147419103e19;min=2;max=2;bins=" + bin +
      ":18446744073709551615");
  LatencySketch merged = big;
  EXPECT_EQ(caught([&] { merged.merge(sketch_of({2})); }).sqlstate(),
            core::sqlstate::kNumericValueOutOfRange);
  EXPECT_EQ(merged, big);
}
