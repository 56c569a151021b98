// Run: one closed-loop load run. `concurrency` sessions each run operations back to back: a warmup
// window (not counted), then the measured window. An operation counts when it begins inside the
// measured window (open loop: is intended to), wherever it completes (the drain, below), so each
// is counted once, never from the warmup: committed + rejected + failed = begun in the window.
//
// Two kinds of workload, one timeline:
// - a Workload (blocking sessions, e.g. SQLite): one thread per session;
// - an AsyncWorkload (sessions on an event loop, e.g. PostgreSQL, HTTP): `threads` threads, each an
//   io_context driving its share of the sessions.
// A monitor thread keeps the clock, cuts the per-second series and enforces the per-operation
// timeout. Database-agnostic.
//
// The parts, each in its own file: the timeline (window bounds, stop), the session loop (begin,
// retry, backoff, finish: window accounting and record) that both drivers run on, the arrivals
// (the open loop's schedule), the monitor (watchdog, per-second series, phases, merge). Run owns
// them and the threads, and orders the lifecycle: open, go, window, bounded stop, result.
//
// The drain and the bounded stop: when the window closes at its end, sessions begin nothing more
// and finish the operation in hand, which is counted (it began in the window) with its full
// latency, however long the server held it: the watchdog still times attempts out. The drain
// lasts until every session has returned, or at most RunConfig::drain_seconds (by default the
// operation timeout + kStopGrace, or kNoTimeoutDrain without a timeout). When the window closes
// early by stop() (Ctrl-C), the drain is kStopGrace (a stop() during a drain cuts it to that too).
// Then every attempt still in flight is interrupted (Interruptible::interrupt, from a thread of
// its own, so an interrupt that blocks holds nothing up) and fails as `unfinished`, and
// kInterruptGrace later the sessions that still have not returned are abandoned: their operations
// are counted as failed, `unfinished` (or before / after the window, where they began there),
// the event loops are stopped, and run() returns. An abandoned thread keeps running until its call
// returns, but can no longer write what was merged (WorkerMetrics::seal). So run() returns within
// about one second of stop() whatever the server does, in every phase: opening sessions (those
// still opening are given up on after kOpenAbortGrace), the window and the drain.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/drivers.hpp"
#include "engine/monitor.hpp"
#include "engine/run_types.hpp"
#include "engine/session_loop.hpp"
#include "engine/timeline.hpp"

namespace loadbench {

class AsyncWorkload;
struct AsyncThreads;

class Run final : private DriverHost {
public:
    Run(RunConfig config, std::shared_ptr<Workload> workload);
    Run(RunConfig config, std::shared_ptr<AsyncWorkload> workload);
    ~Run();
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    // How long the stop waits (see the top of this file).
    // After Ctrl-C the whole command has 2 s: this stop, verification (0.4 s at most), the report.
    static constexpr std::int64_t kStopGraceNs = 200'000'000;       // then interrupt what is in flight
    static constexpr std::int64_t kInterruptGraceNs = 200'000'000;  // then abandon what did not return
    static constexpr std::int64_t kLoopStopGraceNs = 100'000'000;   // event loops told to stop, to exit
    static constexpr std::int64_t kOpenAbortGraceNs = 500'000'000;  // sessions still opening, to return
    static constexpr std::int64_t kNoTimeoutDrainNs = 10'000'000'000;  // the drain without an operation timeout

    // Starts every worker (or event-loop thread) on a thread of its own and waits for the end; the
    // calling thread only waits, so it returns within the stop's bound even when a session never
    // does. `on_tick` is called from the monitor thread about four times a second.
    RunResult run(std::function<void(const Progress&)> on_tick = {});

    // Or: start all workers on threads of their own, then poll, stop and wait.
    void start();

    // A gate between opening and the clock, for runs that must start together (one run per
    // generator machine of a distributed run). Called before start(), hold() makes the run wait,
    // once every session has opened, until release(); wait_held() says when it is waiting there.
    // release(t) starts the clock (warmup, then the window) at wall-clock instant `t` (ns since
    // the Unix epoch; now if that has passed). stop() before release() calls the run off (the
    // result is then an error, "interrupted while opening sessions").
    void hold();
    // Waits up to `seconds` until every session has opened and the run waits at the gate; true
    // when it does, false on timeout or when the run ended without getting there (an open failed).
    bool wait_held(double seconds);
    void release(std::int64_t start_unix_ns);
    Progress progress() const { return monitor_->progress(); }
    // Closes the measured window now; the result is marked interrupted. Safe from any thread and
    // from a signal handler (atomics and clock_gettime only).
    void stop() { timeline_.stop(); }
    // Waits up to `seconds` for the run to finish; true when it has.
    bool wait_for(double seconds);
    // The result, once finished (wait_for returned true). Moves it out.
    RunResult take_result();
    // After the end: true when a thread the run started is still inside a call that never returned
    // (or an event loop was stopped with work pending). Destroying the Run then waits for those
    // threads; a process about to exit may leave it alive instead.
    bool abandoned() const { return abandoned_.load(); }

    // What this run needs: its threads and the resident bytes of its own structures for every
    // session and thread. Call before start().
    ResourceEstimate resource_estimate() const;

    const RunConfig& config() const { return config_; }
    std::size_t thread_count() const { return thread_count_; }

private:
    void prepare();
    bool open_loop() const { return config_.rate > 0; }
    void launch();
    void thread_main(std::size_t thread);
    // DriverHost
    WorkerMetrics& make_metrics(std::size_t thread) override;
    bool loops_stopped() const override { return loops_stopped_.load(); }
    void park(std::shared_ptr<void> sessions) override {
        std::lock_guard lock(parked_mutex_);
        parked_.push_back(std::move(sessions));
    }
    void monitor_main();
    void wait_for_release();
    // Monitor: runs the watchdog and the ticks until every thread is done or `deadline`; true when
    // done. `draining`: a stop() meanwhile brings the deadline to kStopGrace after it.
    bool wait_threads(std::int64_t deadline, bool draining = false);
    // Monitor: the drain and the bounded stop after the window; returns the operations abandoned
    // in flight.
    SessionLoop::Abandoned stop_sessions();
    std::int64_t drain_limit_ns() const;
    void abort_opening();
    void join_finished_threads();
    void finish(RunResult&& result);

    RunConfig config_;
    std::shared_ptr<Workload> workload_;
    std::shared_ptr<AsyncWorkload> async_workload_;
    std::size_t thread_count_ = 0;
    std::vector<std::string> type_names_;
    bool track_keys_ = false;
    Timeline timeline_;
    std::unique_ptr<SessionLoop> loop_;  // made once the workload's keys are known
    std::unique_ptr<Monitor> monitor_;
    std::vector<std::unique_ptr<WorkerMetrics>> metrics_;  // one per thread
    std::unique_ptr<std::atomic<bool>[]> thread_finished_;  // per thread: thread_main returned
    std::vector<bool> thread_joined_;                        // monitor-only
    std::atomic<bool> interrupter_done_{false};
    std::atomic<bool> abandoned_{false};
    std::atomic<bool> loops_stopped_{false};  // the monitor stopped the event loops (work left in them)
    std::int64_t monitor_sleep_ns_ = 0;
    std::int64_t stop_seen_ns_ = 0;  // monitor-only: when it first saw stop() while waiting for sessions
    std::atomic<int> running_{0};  // threads still running
    std::atomic<bool> monitor_ready_{false};
    std::atomic<bool> threads_launched_{false};
    bool hold_ = false;                                         // set before start()
    std::atomic<std::int64_t> release_at_unix_ns_{INT64_MIN};  // INT64_MIN: not released

    std::mutex done_mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    bool held_ = false;  // waiting at the gate (under done_mutex_)
    bool started_ = false;
    RunResult result_;

    // Last, so destroyed first (members go in reverse order): the threads (joined by then), then
    // what the event loops' sessions left parked, then the loops, before anything above that a
    // thread, a session or a handler still in a loop refers to (the workload, metrics, slots).
    std::unique_ptr<AsyncThreads> async_threads_;  // one io_context per thread
    std::mutex parked_mutex_;
    std::vector<std::shared_ptr<void>> parked_;
    std::vector<std::thread> threads_;
    std::thread monitor_thread_;
    std::thread interrupter_;
};

}  // namespace loadbench
