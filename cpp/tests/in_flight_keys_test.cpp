// Collision counting is exact: same key in flight counts, a different key that happens to share
// a hash slot does not, released keys no longer count, and one worker never collides.
#include <gtest/gtest.h>

#include "engine/in_flight_keys.hpp"

namespace loadbench {
namespace {

OperationKeys keys(std::uint64_t a, std::uint64_t b) { return {{a, b}, 2}; }

TEST(InFlightKeys, CountsOtherOperationsHoldingTheSameKeys) {
    InFlightKeys t(4);
    EXPECT_EQ(t.acquire(0, keys(1, 2)), 0u);
    EXPECT_EQ(t.acquire(1, keys(2, 3)), 1u);  // key 2 is held by worker 0
    EXPECT_EQ(t.acquire(2, keys(2, 1)), 3u);  // key 2 by workers 0 and 1, key 1 by worker 0
    t.release(0, keys(1, 2));
    EXPECT_EQ(t.acquire(3, keys(1, 9)), 1u);  // key 1 still held by worker 2 only
    EXPECT_TRUE(t.exact());
}

TEST(InFlightKeys, ADifferentKeyInTheSameHashSlotIsNotACollision) {
    InFlightKeys t(2);
    // Find a key that lands in the same slot as key 5 (the table has 16384 slots for 2 workers).
    auto slot_of = [](std::uint64_t k) { return (k * 0x9E3779B97F4A7C15ULL >> 32) & 16383; };
    std::uint64_t twin = 6;
    while (slot_of(twin) != slot_of(5)) ++twin;
    EXPECT_EQ(t.acquire(0, keys(5, 100000)), 0u);
    EXPECT_EQ(t.acquire(1, keys(twin, 100001)), 0u);
}

TEST(InFlightKeys, OneWorkerNeverCollides) {
    InFlightKeys t(1);
    EXPECT_EQ(t.acquire(0, keys(1, 2)), 0u);
    EXPECT_EQ(t.acquire(0, keys(1, 2)), 0u);
}

}  // namespace
}  // namespace loadbench
