// Timeline: a run's clock and window. The monitor opens it once every session has opened (the
// warmup, then the measured window from warmup end to its planned end); stop() closes the window
// early, from any thread or a signal handler. Everyone else only reads it: sessions ask whether an
// instant lies before the window's end and whether the run is stopping.
#pragma once

#include <atomic>
#include <cstdint>

namespace loadbench {

// The steady clock, in ns (every duration of a run); see unix_now_ns for placing windows in time.
std::int64_t now_ns();
// The wall clock (UTC, ns since the Unix epoch).
std::int64_t unix_now_ns();

class Timeline {
public:
    // Monitor: the warmup starts at `t0`, the measured window at t0 + warmup_ns and ends
    // measure_ns later, unless stop() already closed it earlier. Then lets the sessions go.
    void open(std::int64_t t0, std::int64_t warmup_ns, std::int64_t measure_ns);
    std::int64_t origin_ns() const { return origin_ns_; }  // t0; read after go
    std::int64_t warmup_end_ns() const { return warmup_end_ns_.load(std::memory_order_relaxed); }
    std::int64_t end_ns() const { return measure_end_ns_.load(); }
    bool before_window_end(std::int64_t t) const { return t < measure_end_ns_.load(std::memory_order_relaxed); }
    // Monitor: the window closes at `t` instead of `expected` (the end it read); false when the
    // end has moved meanwhile (a stop()).
    bool close_at(std::int64_t expected, std::int64_t t) { return measure_end_ns_.compare_exchange_strong(expected, t); }

    // Sessions start nothing more (the window closed, or opening was called off).
    bool stopping() const { return stop_.load(std::memory_order_relaxed); }
    void set_stopping() { stop_ = true; }
    // Sessions wait for the monitor's go (every session open, the clock started).
    void go() {
        go_ = true;
        go_.notify_all();
    }
    bool gone() const { return go_.load(); }
    void wait_for_go() const { go_.wait(false); }

    // Closes the measured window now; the result is marked interrupted. Safe from any thread and
    // from a signal handler (atomics, clock_gettime and a futex wake only).
    void stop();
    bool interrupted() const { return interrupted_.load(); }
    // Monitor: sleeps up to `ns`, cut short by stop() and wake().
    void sleep(std::int64_t ns) { sleep(ns, wakes()); }
    // The same, cut short too by any wake() since wakes() returned `seen` (for a waiter that
    // checks a condition between reading wakes() and sleeping).
    void sleep(std::int64_t ns, std::uint32_t seen);
    std::uint32_t wakes() const { return wake_word_.load(std::memory_order_acquire); }
    // Cuts the monitor's sleep short (async-signal-safe: an atomic and a futex wake).
    void wake();

private:
    std::atomic<bool> go_{false};
    std::atomic<bool> stop_{false};
    std::atomic<bool> interrupted_{false};
    std::atomic<std::uint32_t> wake_word_{0};  // stop() bumps it to wake the monitor (a futex)
    std::atomic<std::int64_t> warmup_end_ns_{0};
    std::atomic<std::int64_t> measure_end_ns_{INT64_MAX};
    std::int64_t origin_ns_ = 0;  // written before go, read after it
};

}  // namespace loadbench
