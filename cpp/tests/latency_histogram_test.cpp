// The histogram's percentiles agree with exactly sorted samples within its stated precision,
// its exact statistics are exact, and merging equals recording everything in one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "metrics/latency_histogram.hpp"

namespace loadbench {
namespace {

std::vector<std::uint64_t> log_uniform_values(std::size_t count, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> exponent(0.0, std::log(1e10));  // 1 ns .. 10 s
    std::vector<std::uint64_t> values(count);
    for (auto& v : values) v = static_cast<std::uint64_t>(std::exp(exponent(gen)));
    return values;
}

std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

TEST(LatencyHistogram, PercentilesWithinThreeSignificantFigures) {
    auto values = log_uniform_values(200'000, 1);
    LatencyHistogram h(3);
    for (auto v : values) h.record(v);
    std::sort(values.begin(), values.end());
    for (double p : {0.0, 1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
        const double exact = static_cast<double>(exact_percentile(values, p));
        const double got = static_cast<double>(h.value_at_percentile(p));
        EXPECT_GE(got, exact) << "p" << p;                 // reported as the top of the bucket
        EXPECT_LE(got - exact, exact * 1e-3 + 1) << "p" << p;  // ... which is within 0.1 %
    }
}

// Nearest rank, exactly: with the values 1..N (each its own bucket below 2048), the p-th
// percentile is ceil(p/100 * N) in exact arithmetic. 99.9 % of 1000 is rank 999, not 1000 (the
// double 99.9 is a little above 99.9); 99 % of 383 is rank 380 (HdrHistogram_c's rounding: 379).
TEST(LatencyHistogram, NearestRankIsExact) {
    struct Case { std::uint64_t n; double p; std::uint64_t rank; };
    for (const auto& c : {Case{1000, 99.9, 999}, Case{2000, 99.9, 1998}, Case{383, 99.0, 380}, Case{5, 50.0, 3},
                          Case{5, 99.0, 5}, Case{1000, 50.0, 500}, Case{1000, 0.0, 1}, Case{1000, 100.0, 1000},
                          Case{10, 99.99, 10}, Case{1999, 99.95, 1999}}) {
        LatencyHistogram h(3);
        for (std::uint64_t v = 1; v <= c.n; ++v) h.record(v);
        EXPECT_EQ(h.value_at_percentile(c.p), c.rank) << "p" << c.p << " of " << c.n;
    }
}

TEST(LatencyHistogram, ExactStatistics) {
    auto values = log_uniform_values(50'000, 2);
    LatencyHistogram h;
    long double sum = 0, sum_sq = 0;
    for (auto v : values) {
        h.record(v);
        sum += v;
        sum_sq += static_cast<long double>(v) * v;
    }
    const long double mean = sum / values.size();
    EXPECT_EQ(h.count(), values.size());
    EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
    EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
    EXPECT_NEAR(h.mean(), static_cast<double>(mean), 1e-9 * static_cast<double>(mean));
    const double stddev = static_cast<double>(std::sqrt(sum_sq / values.size() - mean * mean));
    EXPECT_NEAR(h.stddev(), stddev, 1e-6 * stddev);
    EXPECT_EQ(h.value_at_percentile(100), h.max());
    EXPECT_EQ(h.value_at_percentile(0), h.min());
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
    auto values = log_uniform_values(100'000, 3);
    LatencyHistogram all;
    std::vector<LatencyHistogram> parts(4);
    for (std::size_t i = 0; i < values.size(); ++i) {
        all.record(values[i]);
        parts[i % 4].record(values[i]);
    }
    LatencyHistogram merged;
    for (const auto& p : parts) merged.merge(p);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> a, b;
    all.for_each_bucket([&](auto v, auto c) { a.emplace_back(v, c); });
    merged.for_each_bucket([&](auto v, auto c) { b.emplace_back(v, c); });
    EXPECT_EQ(a, b);
    EXPECT_EQ(all.count(), merged.count());
    EXPECT_EQ(all.min(), merged.min());
    EXPECT_EQ(all.max(), merged.max());
    EXPECT_DOUBLE_EQ(all.mean(), merged.mean());
    EXPECT_DOUBLE_EQ(all.stddev(), merged.stddev());
    for (double p : {50.0, 99.0, 99.99}) EXPECT_EQ(all.value_at_percentile(p), merged.value_at_percentile(p));
}

TEST(LatencyHistogram, MergeRejectsOtherLayouts) {
    LatencyHistogram three(3), two(2);
    EXPECT_THROW(three.merge(two), std::invalid_argument);
}

TEST(LatencyHistogram, LayoutMatchesHdrHistogram) {
    // 1 ns .. 1 h at 3 figures: 2048 sub-buckets, 32 buckets, (32 + 1) * 1024 slots.
    LatencyHistogram h(3);
    EXPECT_EQ(h.bucket_slots(), 33u * 1024u);
    EXPECT_EQ(h.lowest_equivalent(2047), 2047u);  // unit resolution up to 2047
    EXPECT_EQ(h.lowest_equivalent(2049), 2048u);  // then steps of 2
    EXPECT_EQ(h.highest_equivalent(2048), 2049u);
    EXPECT_EQ(h.lowest_equivalent(1'000'000), 999'936u);
}

TEST(LatencyHistogram, ClampsValuesAboveRange) {
    LatencyHistogram h(3, 1'000'000);
    h.record(5'000'000);
    EXPECT_EQ(h.count(), 1u);
    EXPECT_EQ(h.clamped(), 1u);
    EXPECT_EQ(h.max(), 1'000'000u);
}

TEST(LatencyHistogram, ResetForgetsEverything) {
    LatencyHistogram h;
    h.record(10);
    h.reset();
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.value_at_percentile(50), 0u);
    int buckets = 0;
    h.for_each_bucket([&](auto, auto) { ++buckets; });
    EXPECT_EQ(buckets, 0);
}

}  // namespace
}  // namespace loadbench
