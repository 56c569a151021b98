// Arrivals: the open loop's schedule. With a rate, every operation has an intended start: each
// session runs its own arrival process at rate / concurrency (exponential gaps, or a regular beat
// offset by i / rate), and its latency counts from the intended start, so a stall shows in the
// latency instead of vanishing. Starts later than max_lag are skipped and counted (dropped);
// those that fall in the window but never began are counted when the session closes (unstarted).
// In a closed loop (no rate) there is no schedule and every method is a no-op.
#pragma once

#include <cstdint>

#include "engine/run_types.hpp"
#include "engine/timeline.hpp"
#include "engine/worker_metrics.hpp"

namespace loadbench {

// One intended start per nanosecond, the resolution of the engine's clock: the highest rate.
inline constexpr double kMaxRate = 1e9;

class Arrivals {
public:
    explicit Arrivals(const RunConfig& config);

    bool open_loop() const { return rate_ > 0; }
    // The gap to the session's next intended start (draws from s.arrivals).
    std::int64_t next_gap_ns(SessionState& s) const;
    // The session's first intended start, from the timeline's origin.
    void start_schedule(SessionState& s, const Timeline& timeline) const;
    // Picks the intended start of the session's next operation (in s.intended_ns), skipping and
    // counting those already later than max_lag. False when it falls after the window (the session
    // is done) or the run sealed the metrics.
    bool schedule_next(SessionState& s, WorkerMetrics& m, const Timeline& timeline) const;
    // The session's intended starts that fell in the window but never began.
    void count_unstarted(SessionState& s, WorkerMetrics& m, const Timeline& timeline) const;
    // Blocking sessions: waits for `t` (sleeps, then spins the last stretch), or until the window
    // closes before it.
    static void wait_until(std::int64_t t, const Timeline& timeline);

private:
    struct Skipped {
        std::int64_t in_window = 0;  // of the skipped starts, those at or after the warmup's end
    };
    // Moves the session's schedule past every intended start before `until`; how many of them
    // fell in the window. Walks the schedule for the first kWalkLimit starts, then counts the rest
    // without drawing each one (arithmetic for a regular beat; one Poisson draw per span for
    // exponential gaps, exact in distribution): a rate far above what the sessions can start must
    // never make the counting itself the bottleneck, nor keep a stopped run from ending.
    Skipped skip_until(SessionState& s, std::int64_t until, std::int64_t warmup_end) const;

    double rate_;
    bool poisson_;
    double session_interval_ns_ = 0;  // mean gap between one session's intended starts
    std::int64_t max_lag_ns_;
};

}  // namespace loadbench
