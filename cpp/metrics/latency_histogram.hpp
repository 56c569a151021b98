// LatencyHistogram: log-linear buckets with the layout of HdrHistogram (lowest discernible value 1,
// a chosen number of significant figures), so percentiles are within 10^-figures relative error,
// memory is fixed by the range (about 270 KB at 3 figures for 1 ns .. 1 h), recording is a few
// shifts and one increment, and two histograms merge by adding their counts.
// Count, min, max, mean and standard deviation are exact (kept beside the buckets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loadbench {

class LatencyHistogram {
public:
    static constexpr std::uint64_t kOneHourNs = 3'600'000'000'000ULL;

    // Values are in nanoseconds by convention; 1 <= significant_figures <= 5.
    explicit LatencyHistogram(int significant_figures = 3, std::uint64_t highest_trackable = kOneHourNs);

    // Values above the highest trackable value are recorded as that value (and counted in clamped()).
    void record(std::uint64_t value) { record_n(value, 1); }
    void record_n(std::uint64_t value, std::uint64_t n) {
        if (value > highest_trackable_) {
            value = highest_trackable_;
            clamped_ += n;
        }
        counts_[counts_index_for(value)] += n;
        total_count_ += n;
        sum_ += value * n;
        sum_of_squares_ += static_cast<unsigned __int128>(value) * value * n;
        if (value < min_) min_ = value;
        if (value > max_) max_ = value;
    }

    // Adds every recorded value of `other`; throws std::invalid_argument if the layouts differ.
    void merge(const LatencyHistogram& other);
    void reset();

    std::uint64_t count() const { return total_count_; }
    std::uint64_t min() const { return total_count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    std::uint64_t clamped() const { return clamped_; }
    double mean() const;
    double stddev() const;  // population standard deviation

    // The smallest recorded value v such that at least `percentile`% of the values are <= v
    // (nearest rank: rank ceil(p/100 * N), at least 1), reported as the top of its bucket and
    // clamped to [min, max]. HdrHistogram_c rounds the rank to nearest instead (README).
    std::uint64_t value_at_percentile(double percentile) const;

    // Bucket arithmetic, for readers of the stored buckets.
    std::uint64_t lowest_equivalent(std::uint64_t value) const;
    std::uint64_t highest_equivalent(std::uint64_t value) const;

    int significant_figures() const { return significant_figures_; }
    std::uint64_t highest_trackable() const { return highest_trackable_; }
    std::size_t bucket_slots() const { return counts_.size(); }

    // Calls fn(lowest_value_of_bucket, count) for each non-empty bucket in increasing value order.
    template <class Fn>
    void for_each_bucket(Fn&& fn) const {
        for (std::size_t i = 0; i < counts_.size(); ++i)
            if (counts_[i] != 0) fn(value_at_index(i), counts_[i]);
    }

private:
    int bucket_index(std::uint64_t value) const {
        const int pow2_ceiling = 64 - __builtin_clzll(value | sub_bucket_mask_);
        return pow2_ceiling - (sub_bucket_half_count_magnitude_ + 1);
    }
    std::size_t counts_index_for(std::uint64_t value) const {
        const int bucket = bucket_index(value);
        const std::uint64_t sub_bucket = value >> bucket;
        return (static_cast<std::size_t>(bucket + 1) << sub_bucket_half_count_magnitude_) +
               static_cast<std::size_t>(sub_bucket - sub_bucket_half_count_);
    }
    std::uint64_t value_at_index(std::size_t index) const;

    int significant_figures_;
    std::uint64_t highest_trackable_;
    int sub_bucket_half_count_magnitude_;
    std::uint64_t sub_bucket_half_count_;
    std::uint64_t sub_bucket_mask_;
    std::vector<std::uint64_t> counts_;

    std::uint64_t total_count_ = 0;
    std::uint64_t clamped_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;
    unsigned __int128 sum_of_squares_ = 0;
};

}  // namespace loadbench
