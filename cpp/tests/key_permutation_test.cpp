// The scatter permutation is a bijection of [0, n) for every n, moves the hottest ranks away from
// the lowest ids, and is fixed (the same for every run).
#include <gtest/gtest.h>

#include <vector>

#include "sampling/key_permutation.hpp"

namespace loadbench {
namespace {

void expect_bijection(std::uint64_t n) {
    KeyPermutation p(n);
    std::vector<bool> seen(n, false);
    for (std::uint64_t x = 0; x < n; ++x) {
        const std::uint64_t y = p(x);
        ASSERT_LT(y, n) << "n=" << n;
        ASSERT_FALSE(seen[y]) << "n=" << n << " collision at " << x;
        seen[y] = true;
    }
}

TEST(KeyPermutation, IsABijectionForEverySize) {
    for (std::uint64_t n = 1; n <= 300; ++n) expect_bijection(n);
    for (std::uint64_t n : {1023u, 1024u, 1025u, 65535u, 100000u, 1u << 20}) expect_bijection(n);
}

TEST(KeyPermutation, ScattersTheHottestRanks) {
    KeyPermutation p(100'000);
    int low = 0;
    for (std::uint64_t rank = 0; rank < 100; ++rank) low += p(rank) < 1000;
    EXPECT_LT(low, 10);  // a uniform scatter would put about 1 in [0, 1000)
    EXPECT_EQ(p(0), KeyPermutation(100'000)(0));  // fixed
}

TEST(KeyPermutation, HandlesATrillionKeys) {
    const std::uint64_t n = 1'000'000'000'000ULL;
    KeyPermutation p(n);
    std::vector<std::uint64_t> out;
    for (std::uint64_t x = 0; x < 100'000; ++x) {
        out.push_back(p(x * 9'999'991 % n));
        ASSERT_LT(out.back(), n);
    }
    std::sort(out.begin(), out.end());
    EXPECT_EQ(std::adjacent_find(out.begin(), out.end()), out.end());
}

}  // namespace
}  // namespace loadbench
