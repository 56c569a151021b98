#include "engine/arrivals.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

namespace loadbench {

Arrivals::Arrivals(const RunConfig& config)
    : rate_(config.rate), poisson_(config.poisson), max_lag_ns_(seconds_to_ns(config.max_lag_s)) {
    if (open_loop()) session_interval_ns_ = 1e9 * static_cast<double>(config.concurrency) / config.rate;
}

// The sum of independent Poisson processes is Poisson at the total rate, and regular beats offset
// by i / rate interleave evenly.
std::int64_t Arrivals::next_gap_ns(SessionState& s) const {
    if (!poisson_) return static_cast<std::int64_t>(std::llround(session_interval_ns_));
    const double u = 1.0 - s.arrivals.uniform01();  // (0, 1]
    return static_cast<std::int64_t>(std::llround(-std::log(u) * session_interval_ns_));
}

void Arrivals::start_schedule(SessionState& s, const Timeline& timeline) const {
    if (!open_loop()) return;
    const std::int64_t offset =
        poisson_ ? next_gap_ns(s) : static_cast<std::int64_t>(1e9 * static_cast<double>(s.index) / rate_);
    s.next_intended_ns = timeline.origin_ns() + offset;
}

bool Arrivals::schedule_next(SessionState& s, WorkerMetrics& m, const Timeline& timeline) const {
    if (!m.enter()) return false;  // sealed: the run is over
    struct Leave {
        WorkerMetrics& m;
        ~Leave() { m.leave(); }
    } leave{m};
    const std::int64_t warmup_end = timeline.warmup_end_ns();
    for (;;) {
        const std::int64_t t = s.next_intended_ns;
        if (!timeline.before_window_end(t)) return false;
        s.next_intended_ns += next_gap_ns(s);
        const bool in_window = t >= warmup_end;
        if (in_window) ++m.counters.scheduled;
        if (max_lag_ns_ > 0 && now_ns() - t > max_lag_ns_) {
            if (in_window) ++m.counters.dropped;
            continue;
        }
        s.intended_ns = t;
        return true;
    }
}

void Arrivals::count_unstarted(SessionState& s, WorkerMetrics& m, const Timeline& timeline) const {
    if (!open_loop() || s.next_intended_ns == 0) return;  // 0: the schedule never started
    const std::int64_t warmup_end = timeline.warmup_end_ns();
    for (std::int64_t t = s.next_intended_ns; timeline.before_window_end(t); t += next_gap_ns(s)) {
        if (t < warmup_end) continue;
        ++m.counters.scheduled;
        ++m.counters.unstarted;
    }
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
