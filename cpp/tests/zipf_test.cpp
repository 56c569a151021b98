// The Zipf sampler follows Zipf's law: chi-square goodness of fit against exact probabilities,
// for small key spaces (every rank its own bin) and for 10^9 keys (first ranks, then doubling
// ranges whose mass comes from an Euler-Maclaurin sum).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "sampling/zipf.hpp"

namespace loadbench {
namespace {

// sum_{k=a}^{b} k^-alpha, exact to ~1e-12 relative: direct below 2^16 terms, else the first
// terms directly and the rest by Euler-Maclaurin (integral, end-point and first derivative terms).
double zipf_mass(double a, double b, double alpha) {
    auto f = [alpha](double x) { return std::pow(x, -alpha); };
    if (b - a < 65536) {
        double s = 0;
        for (double k = a; k <= b; k += 1) s += f(k);
        return s;
    }
    const double m = a + 1000;
    double s = zipf_mass(a, m - 1, alpha);
    const double integral = alpha == 1.0 ? std::log(b / m)
                                         : (std::pow(b, 1 - alpha) - std::pow(m, 1 - alpha)) / (1 - alpha);
    auto df = [alpha](double x) { return -alpha * std::pow(x, -alpha - 1); };
    return s + integral + (f(m) + f(b)) / 2 + (df(b) - df(m)) / 12;
}

// Upper critical value of chi-square with `df` degrees of freedom at p = 1e-4 (Wilson-Hilferty).
double chi_square_critical(int df) {
    const double z = 3.719;
    const double k = 2.0 / (9.0 * df);
    return df * std::pow(1 - k + z * std::sqrt(k), 3);
}

struct Bin {
    std::uint64_t lo, hi;  // ranks, 1-based, inclusive
};

// Runs `draws` samples and returns the chi-square statistic and its degrees of freedom.
std::pair<double, int> chi_square(std::uint64_t n, double alpha, const std::vector<Bin>& bins, int draws) {
    ZipfSampler sampler(n, alpha);
    Rng rng(42);
    std::vector<double> observed(bins.size(), 0);
    for (int i = 0; i < draws; ++i) {
        const std::uint64_t rank = sampler(rng) + 1;
        EXPECT_GE(rank, 1u);
        EXPECT_LE(rank, n);
        std::size_t lo = 0, hi = bins.size() - 1;  // binary search for the bin
        while (lo < hi) {
            std::size_t mid = (lo + hi) / 2;
            if (rank > bins[mid].hi) lo = mid + 1; else hi = mid;
        }
        observed[lo] += 1;
    }
    const double total = zipf_mass(1, static_cast<double>(n), alpha);
    double stat = 0;
    int used = 0;
    double pooled_obs = 0, pooled_exp = 0;  // bins expected below 5 are pooled
    for (std::size_t b = 0; b < bins.size(); ++b) {
        const double expected =
            draws * zipf_mass(static_cast<double>(bins[b].lo), static_cast<double>(bins[b].hi), alpha) / total;
        pooled_obs += observed[b];
        pooled_exp += expected;
        if (pooled_exp >= 5 || b + 1 == bins.size()) {
            stat += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
            ++used;
            pooled_obs = pooled_exp = 0;
        }
    }
    return {stat, used - 1};
}

std::vector<Bin> every_rank(std::uint64_t n) {
    std::vector<Bin> bins;
    for (std::uint64_t k = 1; k <= n; ++k) bins.push_back({k, k});
    return bins;
}

std::vector<Bin> first_ranks_then_doubling(std::uint64_t n, std::uint64_t first) {
    std::vector<Bin> bins;
    for (std::uint64_t k = 1; k <= first; ++k) bins.push_back({k, k});
    for (std::uint64_t lo = first + 1; lo <= n; lo *= 2) bins.push_back({lo, std::min(n, lo * 2 - 1)});
    return bins;
}

std::vector<Bin> equal_ranges(std::uint64_t n, std::uint64_t count) {
    std::vector<Bin> bins;
    for (std::uint64_t i = 0; i < count; ++i) bins.push_back({i * n / count + 1, (i + 1) * n / count});
    return bins;
}

class ZipfLaw : public ::testing::TestWithParam<double> {};

TEST_P(ZipfLaw, SmallKeySpaceMatchesEveryRankProbability) {
    const double alpha = GetParam();
    for (std::uint64_t n : {2u, 10u, 1000u}) {
        auto [stat, df] = chi_square(n, alpha, every_rank(n), 400'000);
        if (df < 1) continue;  // alpha = 3 on 2 keys: one pooled bin
        EXPECT_LT(stat, chi_square_critical(df)) << "n=" << n << " alpha=" << alpha;
    }
}

TEST_P(ZipfLaw, BillionKeysMatchRankAndRangeProbabilities) {
    const double alpha = GetParam();
    const std::uint64_t n = 1'000'000'000;
    const auto bins = alpha == 0 ? equal_ranges(n, 200) : first_ranks_then_doubling(n, 100);
    auto [stat, df] = chi_square(n, alpha, bins, 400'000);
    ASSERT_GE(df, 1);
    EXPECT_LT(stat, chi_square_critical(df)) << "alpha=" << alpha;
}

INSTANTIATE_TEST_SUITE_P(Alphas, ZipfLaw, ::testing::Values(0.0, 0.5, 0.99, 1.0, 1.01, 1.5, 3.0));

TEST(Zipf, DetectsAWrongExponent) {
    // The test above can fail: samples drawn at alpha 1.1 do not fit alpha 1.0's law.
    const std::uint64_t n = 1000;
    ZipfSampler wrong(n, 1.1);
    Rng rng(7);
    std::vector<double> observed(n, 0);
    const int draws = 400'000;
    for (int i = 0; i < draws; ++i) observed[wrong(rng)] += 1;
    const double total = zipf_mass(1, n, 1.0);
    double stat = 0;
    for (std::uint64_t k = 1; k <= n; ++k) {
        const double e = draws * std::pow(static_cast<double>(k), -1.0) / total;
        stat += (observed[k - 1] - e) * (observed[k - 1] - e) / e;
    }
    EXPECT_GT(stat, chi_square_critical(static_cast<int>(n) - 1));
}

TEST(Zipf, SameSeedSameSequence) {
    ZipfSampler sampler(1'000'000, 0.8);
    Rng a(123), b(123), c(124);
    bool differs = false;
    for (int i = 0; i < 1000; ++i) {
        const auto x = sampler(a);
        EXPECT_EQ(x, sampler(b));
        differs |= x != sampler(c);
    }
    EXPECT_TRUE(differs);
}

TEST(Zipf, RejectsBadParameters) {
    EXPECT_THROW(ZipfSampler(0, 1.0), std::invalid_argument);
    EXPECT_THROW(ZipfSampler(10, -0.1), std::invalid_argument);
    EXPECT_THROW(ZipfSampler(10, NAN), std::invalid_argument);
    EXPECT_THROW(ZipfSampler((std::uint64_t{1} << 53) + 1, 1.0), std::invalid_argument);
}

TEST(Zipf, HugeKeySpaceStaysInRange) {
    const std::uint64_t n = 1'000'000'000'000ULL;  // 10^12
    for (double alpha : {0.0, 0.5, 1.0, 2.0}) {
        ZipfSampler sampler(n, alpha);
        Rng rng(9);
        for (int i = 0; i < 100'000; ++i) ASSERT_LT(sampler(rng), n);
    }
}

}  // namespace
}  // namespace loadbench
