// Monitor: what the run's monitor thread keeps while sessions run. The watchdog (through the
// session loop's slots), the per-second series (each worker's interval swapped out and merged at
// each boundary), the phases and the progress callers poll, and at the end the merge of every
// worker's metrics into the result. The thread itself, and the order of the run's phases, belong
// to Run (engine/run.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/run_types.hpp"
#include "engine/session_loop.hpp"
#include "engine/worker_metrics.hpp"

namespace loadbench {

class Monitor {
public:
    explicit Monitor(SessionLoop& loop) : loop_(loop) {}

    // Before the run starts: `on_tick` is called from the monitor thread about four times a second.
    void set_on_tick(std::function<void(const Progress&)> on_tick) { on_tick_ = std::move(on_tick); }
    // The run started at `now` (phase: opening).
    void started(std::int64_t now);
    // A phase begins at `since` (its elapsed time counts from there); `stopping` and `done` keep
    // the previous phase's start.
    void enter_phase(RunPhase phase, std::int64_t since);
    void enter_phase(RunPhase phase);

    // One wake-up: the watchdog, then a tick when one is due. Returns the earliest deadline ahead.
    std::int64_t watch(std::int64_t now);
    // Closes the interval (last_boundary, now] of the series: merges every worker's interval.
    void close_second(std::int64_t now, std::int64_t& last_boundary, std::int64_t window_open,
                      const std::vector<std::unique_ptr<WorkerMetrics>>& metrics);
    std::vector<SecondPoint> take_series() { return std::move(series_); }

    // Thread-safe.
    Progress progress() const;

    // Every worker's metrics into `result` (counters, histograms, per type, error examples).
    static void merge(const std::vector<std::unique_ptr<WorkerMetrics>>& metrics, RunResult& result);

private:
    void tick(std::int64_t now);

    SessionLoop& loop_;
    std::function<void(const Progress&)> on_tick_;
    std::int64_t last_tick_ns_ = 0;
    std::uint64_t reconnects_at_start_ = 0;  // g_reconnect_events when the run started
    std::vector<SecondPoint> series_;        // monitor-only until taken
    IntervalCounts merged_interval_;         // monitor-only scratch

    mutable std::mutex progress_mutex_;
    Progress progress_;
    std::int64_t phase_started_ns_ = 0;
};

}  // namespace loadbench
