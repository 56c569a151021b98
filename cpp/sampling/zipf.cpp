#include "sampling/zipf.hpp"

#include <cmath>
#include <stdexcept>

namespace loadbench {
namespace {

// log1p(x) / x, continuous at 0 (its series there), so H and its inverse stay exact near alpha = 1.
double log1p_over_x(double x) {
    if (std::fabs(x) > 1e-8) return std::log1p(x) / x;
    return 1.0 - x * (0.5 - x * (1.0 / 3.0 - x * (0.25 - 0.2 * x)));
}

// expm1(x) / x, continuous at 0.
double expm1_over_x(double x) {
    if (std::fabs(x) > 1e-8) return std::expm1(x) / x;
    return 1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x));
}

constexpr std::uint64_t kMaxExactDouble = std::uint64_t{1} << 53;

}  // namespace

ZipfSampler::ZipfSampler(std::uint64_t n, double alpha) : n_(n), alpha_(alpha), uniform_(alpha == 0.0) {
    if (n == 0) throw std::invalid_argument("zipf: the key space must hold at least one key");
    if (n > kMaxExactDouble) throw std::invalid_argument("zipf: at most 2^53 keys");
    if (!(alpha >= 0.0) || !std::isfinite(alpha)) throw std::invalid_argument("zipf: alpha must be a finite number >= 0");
    if (uniform_) return;
    inverse_one_minus_alpha_ = alpha == 1.0 ? 0.0 : 1.0 / (1.0 - alpha);
    // Ranks are 1-based in the method; operator() shifts them to [0, n).
    h_integral_x1_ = h_integral(1.5) - 1.0;
    h_integral_n_ = h_integral(static_cast<double>(n) + 0.5);
    s_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
    for (std::uint64_t k = 1; k <= kHeadRanks && k <= n; ++k) {
        const double rank = static_cast<double>(k);
        head_threshold_[k - 1] = h_integral(rank + 0.5) - h(rank);
    }
}

double ZipfSampler::h(double x) const { return std::exp(-alpha_ * std::log(x)); }

// H(x) = (x^(1-alpha) - 1) / (1 - alpha), which tends to log(x) as alpha -> 1.
double ZipfSampler::h_integral(double x) const {
    const double log_x = std::log(x);
    return expm1_over_x((1.0 - alpha_) * log_x) * log_x;
}

// H^-1(y) = (1 + (1 - alpha) y)^(1 / (1 - alpha)), which tends to exp(y) as alpha -> 1.
double ZipfSampler::h_integral_inverse(double y) const {
    double t = y * (1.0 - alpha_);
    if (t < -1.0) t = -1.0;  // rounding at the interval's end can step just past the domain
    if (std::fabs(t) > 1e-4) return std::exp(std::log(1.0 + t) * inverse_one_minus_alpha_);
    return std::exp(log1p_over_x(t) * y);
}

// Draw u uniformly under the hat function's integral, invert it to x, round to the rank k;
// accept k when x is inside the squeeze or when u falls under the exact mass of rank k.
// The expected number of rounds is below 1.1 for every alpha.
std::uint64_t ZipfSampler::sample_rejection_inversion(Rng& rng) const {
    const double n = static_cast<double>(n_);
    for (;;) {
        const double u = h_integral_n_ + rng.uniform01() * (h_integral_x1_ - h_integral_n_);
        const double x = h_integral_inverse(u);
        // x >= 0, so truncation is floor (and, without SSE4.1, much cheaper than std::floor).
        double k = static_cast<double>(static_cast<std::int64_t>(x + 0.5));
        if (k < 1.0) k = 1.0;
        else if (k > n) k = n;
        if (k - x <= s_) return static_cast<std::uint64_t>(k) - 1;
        const auto rank = static_cast<std::uint64_t>(k);
        const double threshold = rank <= kHeadRanks ? head_threshold_[rank - 1] : h_integral(k + 0.5) - h(k);
        if (u >= threshold) return rank - 1;
    }
}

}  // namespace loadbench
