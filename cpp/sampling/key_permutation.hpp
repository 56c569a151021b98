// KeyPermutation: a fixed bijection of [0, n) that scatters ranks, so the hottest Zipf ranks are
// not the lowest ids, which share pages and index leaves and so distort contention (the idea of
// pgbench's permute()). A bijective mix of the smallest power of two >= n, cycle-walked until the
// value falls below n: under two rounds on average, O(1) memory, any n up to 2^63.
#pragma once

#include <cstdint>

namespace loadbench {

class KeyPermutation {
public:
    explicit KeyPermutation(std::uint64_t n) : n_(n) {
        while (bits_ < 63 && (std::uint64_t{1} << bits_) < n) ++bits_;
        mask_ = (std::uint64_t{1} << bits_) - 1;
        shift_ = bits_ / 2 + 1;
    }

    std::uint64_t operator()(std::uint64_t x) const {
        if (n_ < 2) return x;
        do x = mix(x);
        while (x >= n_);
        return x;
    }

private:
    // Each step is a bijection of [0, 2^bits): xor and add a constant, multiply by an odd number,
    // xor with a right shift of itself.
    std::uint64_t mix(std::uint64_t x) const {
        x = ((x ^ 0x3C6EF372FE94F82BULL) * 0x9E3779B97F4A7C15ULL) & mask_;
        x ^= x >> shift_;
        x = (x * 0xBF58476D1CE4E5B9ULL + 0x94D049BB133111EBULL) & mask_;
        x ^= x >> shift_;
        return x;
    }

    std::uint64_t n_;
    int bits_ = 1;
    int shift_ = 1;
    std::uint64_t mask_ = 1;
};

}  // namespace loadbench
