// ZipfSampler: ranks in [0, n) with P(k) proportional to (k + 1)^-alpha.
// alpha = 0 is uniform; any alpha >= 0 works, alpha = 1 and alpha < 1 included.
// Rejection-inversion (Hörmann and Derflinger, 1996): O(1) setup and memory for any n up to 2^53,
// about one exp and one log1p per draw, no table of n weights.
#pragma once

#include <cstdint>

#include "sampling/rng.hpp"

namespace loadbench {

class ZipfSampler {
public:
    // Throws std::invalid_argument for n == 0, n > 2^53 or alpha < 0 (or not finite).
    ZipfSampler(std::uint64_t n, double alpha);

    std::uint64_t operator()(Rng& rng) const {
        return uniform_ ? rng.below(n_) : sample_rejection_inversion(rng);
    }

    std::uint64_t size() const { return n_; }
    double alpha() const { return alpha_; }

private:
    std::uint64_t sample_rejection_inversion(Rng& rng) const;
    double h(double x) const;                  // the density x^-alpha
    double h_integral(double x) const;         // an antiderivative of h
    double h_integral_inverse(double y) const;

    std::uint64_t n_;
    double alpha_;
    bool uniform_;
    double h_integral_x1_ = 0;  // H(1.5) - h(1): left end of the sampling interval
    double h_integral_n_ = 0;   // H(n + 0.5): right end
    double inverse_one_minus_alpha_ = 0;
    double s_ = 0;              // squeeze: x within s of its rank is accepted without the exact test
    // The exact test's threshold H(k + 0.5) - h(k) for the hottest ranks, where high alphas send
    // most draws and the squeeze rejects most often: a fixed 512 bytes, whatever n is.
    static constexpr std::uint64_t kHeadRanks = 64;
    double head_threshold_[kHeadRanks] = {};
};

}  // namespace loadbench
