#include "metrics/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace loadbench {

LatencyHistogram::LatencyHistogram(int significant_figures, std::uint64_t highest_trackable)
    : significant_figures_(significant_figures), highest_trackable_(highest_trackable) {
    if (significant_figures < 1 || significant_figures > 5)
        throw std::invalid_argument("histogram: significant figures must be 1..5");
    if (highest_trackable < 2) throw std::invalid_argument("histogram: highest trackable value must be >= 2");

    // Enough linear sub-buckets that two neighbours differ by at most 10^-figures of their value.
    const double single_unit_resolution_limit = 2.0 * std::pow(10.0, significant_figures);
    const int sub_bucket_count_magnitude = static_cast<int>(std::ceil(std::log2(single_unit_resolution_limit)));
    sub_bucket_half_count_magnitude_ = std::max(sub_bucket_count_magnitude, 1) - 1;
    const std::uint64_t sub_bucket_count = std::uint64_t{1} << (sub_bucket_half_count_magnitude_ + 1);
    sub_bucket_half_count_ = sub_bucket_count / 2;
    sub_bucket_mask_ = sub_bucket_count - 1;

    // Each further bucket doubles the range covered at half the resolution.
    std::uint64_t smallest_untrackable = sub_bucket_count;
    int bucket_count = 1;
    while (smallest_untrackable <= highest_trackable) {
        if (smallest_untrackable > (UINT64_MAX >> 2)) {
            ++bucket_count;
            break;
        }
        smallest_untrackable <<= 1;
        ++bucket_count;
    }
    counts_.assign(static_cast<std::size_t>(bucket_count + 1) * sub_bucket_half_count_, 0);
}

std::uint64_t LatencyHistogram::value_at_index(std::size_t index) const {
    int bucket = static_cast<int>(index >> sub_bucket_half_count_magnitude_) - 1;
    std::uint64_t sub_bucket = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
    if (bucket < 0) {
        sub_bucket -= sub_bucket_half_count_;
        bucket = 0;
    }
    return sub_bucket << bucket;
}

std::uint64_t LatencyHistogram::lowest_equivalent(std::uint64_t value) const {
    const int bucket = bucket_index(value);
    return (value >> bucket) << bucket;
}

std::uint64_t LatencyHistogram::highest_equivalent(std::uint64_t value) const {
    const int bucket = bucket_index(value);
    return lowest_equivalent(value) + (std::uint64_t{1} << bucket) - 1;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    if (other.significant_figures_ != significant_figures_ || other.highest_trackable_ != highest_trackable_)
        throw std::invalid_argument("histogram: cannot merge histograms of different layouts");
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_count_ += other.total_count_;
    clamped_ += other.clamped_;
    sum_ += other.sum_;
    sum_of_squares_ += other.sum_of_squares_;
    if (other.total_count_) {
        min_ = std::min(min_, other.min_);
        max_ = std::max(max_, other.max_);
    }
}

void LatencyHistogram::reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_count_ = clamped_ = sum_ = 0;
    sum_of_squares_ = 0;
    min_ = UINT64_MAX;
    max_ = 0;
}

double LatencyHistogram::mean() const {
    return total_count_ ? static_cast<double>(sum_) / static_cast<double>(total_count_) : 0.0;
}

double LatencyHistogram::stddev() const {
    if (total_count_ == 0) return 0.0;
    const long double n = total_count_;
    const long double mean = static_cast<long double>(sum_) / n;
    const long double variance = static_cast<long double>(sum_of_squares_) / n - mean * mean;
    return variance > 0 ? static_cast<double>(std::sqrt(variance)) : 0.0;
}

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
    if (total_count_ == 0) return 0;
    // p lowered by one ulp first, as HdrHistogram's Java getValueAtPercentile does: 99.9 is stored as
    // 99.900000000000006, and 99.9 / 100 * 1000 comes to 999.0000000000001, whose ceiling (1000)
    // would be one rank past the nearest rank (999).
    const double p = std::clamp(std::nextafter(percentile, -HUGE_VAL), 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, total_count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(highest_equivalent(value_at_index(i)), min(), max_);
    }
    return max_;
}

}  // namespace loadbench
