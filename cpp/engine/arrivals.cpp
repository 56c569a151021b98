#include "engine/arrivals.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

namespace loadbench {

Arrivals::Arrivals(const RunConfig& config)
    : rate_(config.rate), poisson_(config.poisson), max_lag_ns_(seconds_to_ns(config.max_lag_seconds)) {
    if (open_loop()) session_interval_ns_ = 1e9 * static_cast<double>(config.concurrency) / config.rate;
}

// The sum of independent Poisson processes is Poisson at the total rate, and regular beats offset
// by i / rate interleave evenly.
std::int64_t Arrivals::next_gap_ns(SessionState& s) const {
    // A regular beat of at least 1 ns: a gap of 0 would never move the schedule on.
    if (!poisson_) return std::max<std::int64_t>(1, std::llround(session_interval_ns_));
    const double u = 1.0 - s.arrivals.uniform01();  // (0, 1]
    return static_cast<std::int64_t>(std::llround(-std::log(u) * session_interval_ns_));
}

void Arrivals::start_schedule(SessionState& s, const Timeline& timeline) const {
    if (!open_loop()) return;
    const std::int64_t offset =
        poisson_ ? next_gap_ns(s) : static_cast<std::int64_t>(1e9 * static_cast<double>(s.index) / rate_);
    s.next_intended_ns = timeline.origin_ns() + offset;
}

namespace {

constexpr int kWalkLimit = 4096;

// A Poisson draw with mean `mean` from the session's generator. Not std::poisson_distribution:
// libstdc++'s calls lgamma, which writes the global signgam, a data race between sessions. Small
// means by multiplying uniforms (Knuth); large ones by Hormann's transformed rejection with
// squeeze (PTRS, "The transformed rejection method for generating Poisson random variables",
// 1993), with the reentrant lgamma_r.
std::int64_t poisson(Rng& rng, double mean) {
    if (mean < 10) {
        const double limit = std::exp(-mean);
        std::int64_t k = 0;
        for (double product = rng.uniform01(); product > limit; product *= rng.uniform01()) ++k;
        return k;
    }
    const double root = std::sqrt(mean), log_mean = std::log(mean);
    const double b = 0.931 + 2.53 * root, a = -0.059 + 0.02483 * b;
    const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), v_r = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        const double u = rng.uniform01() - 0.5, v = rng.uniform01(), us = 0.5 - std::fabs(u);
        const auto k = static_cast<std::int64_t>(std::floor((2 * a / us + b) * u + mean + 0.43));
        if (us >= 0.07 && v <= v_r) return k;
        if (k < 0 || (us < 0.013 && v > us)) continue;
        int sign = 0;
        const double log_factorial = lgamma_r(static_cast<double>(k) + 1, &sign);
        if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
            -mean + static_cast<double>(k) * log_mean - log_factorial)
            return k;
    }
}

}  // namespace

Arrivals::Skipped Arrivals::skip_until(SessionState& s, std::int64_t until, std::int64_t warmup_end) const {
    Skipped skipped;
    for (int i = 0; i < kWalkLimit && s.next_intended_ns < until; ++i) {
        if (s.next_intended_ns >= warmup_end) ++skipped.in_window;
        s.next_intended_ns += next_gap_ns(s);
    }
    const std::int64_t t = s.next_intended_ns;
    if (t >= until) return skipped;
    const std::int64_t window_from = std::max(t, warmup_end);
    if (!poisson_) {
        const std::int64_t gap = next_gap_ns(s);
        const std::int64_t beats = (until - t + gap - 1) / gap;  // t + j*gap < until, j = 0, 1, ...
        const std::int64_t first_in_window = window_from <= t ? 0 : (window_from - t + gap - 1) / gap;
        skipped.in_window += std::max<std::int64_t>(0, beats - first_in_window);
        s.next_intended_ns = t + beats * gap;
        return skipped;
    }
    // A Poisson process: the counts in disjoint spans are independent Poisson draws, and the
    // next arrival after `until` is an exponential gap away (memoryless).
    if (window_from < until)
        skipped.in_window += poisson(s.arrivals, static_cast<double>(until - window_from) / session_interval_ns_);
    s.next_intended_ns = until + next_gap_ns(s);  // exponential: the same law as any other gap
    return skipped;
}

bool Arrivals::schedule_next(SessionState& s, WorkerMetrics& m, const Timeline& timeline) const {
    if (!m.enter()) return false;  // sealed: the run is over
    struct Leave {
        WorkerMetrics& m;
        ~Leave() { m.leave(); }
    } leave{m};
    const std::int64_t warmup_end = timeline.warmup_end_ns();
    if (max_lag_ns_ > 0) {
        // Every start later than max_lag by now is skipped at once and counted as dropped.
        const std::int64_t late_before = std::min(now_ns() - max_lag_ns_, timeline.end_ns());
        if (s.next_intended_ns < late_before) {
            const Skipped late = skip_until(s, late_before, warmup_end);
            m.counters.scheduled += late.in_window;
            m.counters.dropped += late.in_window;
        }
    }
    const std::int64_t t = s.next_intended_ns;
    if (!timeline.before_window_end(t)) return false;
    s.next_intended_ns += next_gap_ns(s);
    if (t >= warmup_end) ++m.counters.scheduled;
    s.intended_ns = t;
    return true;
}

void Arrivals::count_unstarted(SessionState& s, WorkerMetrics& m, const Timeline& timeline) const {
    if (!open_loop() || s.next_intended_ns == 0) return;  // 0: the schedule never started
    const std::int64_t end = timeline.end_ns();
    if (end == INT64_MAX) return;  // the window never closed: nothing fell in it unstarted
    const Skipped rest = skip_until(s, end, timeline.warmup_end_ns());
    m.counters.scheduled += rest.in_window;
    m.counters.unstarted += rest.in_window;
}

// Sleeps most of the way (in slices, so a closed window is noticed), then spins the last stretch:
// a sleep alone wakes tens of microseconds late, which at 100k operations/s is a whole gap.
void Arrivals::wait_until(std::int64_t t, const Timeline& timeline) {
    constexpr std::int64_t kSpinNs = 30'000;
    constexpr std::int64_t kSliceNs = 20'000'000;
    for (;;) {
        const std::int64_t left = t - now_ns();
        if (left <= 0 || !timeline.before_window_end(t)) return;
        if (left > kSpinNs) std::this_thread::sleep_for(std::chrono::nanoseconds(std::min(left - kSpinNs, kSliceNs)));
    }
}

}  // namespace loadbench
