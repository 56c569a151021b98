// Run: one closed-loop load run. `concurrency` sessions each run operations back to back: a warmup
// window (not counted), then the measured window. An operation counts when it completes inside the
// measured window, so no committed operation is counted twice or counted from the warmup.
//
// Two kinds of workload, one timeline:
// - a Workload (blocking sessions, e.g. SQLite): one thread per session;
// - an AsyncWorkload (sessions on an event loop, e.g. PostgreSQL, HTTP): `threads` threads, each an
//   io_context driving its share of the sessions.
// A monitor thread keeps the clock, cuts the per-second series and enforces the per-operation
// timeout. Database-agnostic.
//
// Bounded stop: when the window closes (at its end, or early by stop()), sessions get
// kStopGrace to finish the operation in hand; then every attempt still in flight is interrupted
// (Interruptible::interrupt, from a thread of its own, so an interrupt that blocks holds nothing
// up), and kInterruptGrace later the sessions that still have not returned are abandoned: their
// operations are counted after the window (never committed), the event loops are stopped, and
// run() returns. An abandoned thread keeps running until its call returns, but can no longer
// write what was merged (WorkerMetrics::seal). So run() returns within about one second of stop()
// whatever the server does, in every phase: opening sessions (those still opening are given up
// on after kOpenAbortGrace) and the window.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/in_flight_keys.hpp"
#include "engine/worker_metrics.hpp"
#include "engine/workload.hpp"
#include "metrics/latency_histogram.hpp"

namespace loadbench {

class AsyncWorkload;
struct AsyncThreads;

struct RunConfig {
    std::size_t concurrency = 10;  // sessions (logical clients), each with one operation in flight
    double warmup_s = 1.0;         // >= 0
    double measure_s = 10.0;       // > 0
    std::uint64_t seed = 1;        // session i draws from Rng::for_stream(seed, stream_offset + i)
    // The first random stream this run's sessions use. Runs that follow one another on the same data
    // (the write test's levels, a sweep's points) give each run streams no earlier run used, so no
    // session replays another's choices (and re-inserts its rows).
    std::uint64_t stream_offset = 0;
    int max_tries = 10;            // attempts per operation for retryable errors (1 = never retry)
    double op_timeout_s = 30.0;    // per attempt; 0 disables
    // > 0: the window closes once this many operations completed in it (split evenly over the
    // sessions, so a fixed seed gives a fixed sequence per session); measure_s still bounds it.
    std::uint64_t operations = 0;
    std::size_t threads = 0;             // async workloads: event-loop threads (0: one per core, at most one per session group)
    std::size_t open_parallelism = 64;   // async workloads: sessions being opened at once, at most
    // Open loop: > 0 is the total rate (operations/s over all sessions; each session gets
    // rate / concurrency). Every operation then has an intended start on that schedule, and its
    // latency is measured from there, so a stall shows in the latency instead of vanishing.
    double rate = 0;
    bool poisson = true;      // exponential gaps between intended starts; false: a regular beat
    double max_lag_s = 0;     // > 0: skip (and count) operations that could not start within this
};

// One interval of the per-second series (the last one may be shorter).
struct SecondPoint {
    double t_s = 0;         // end of the interval, seconds since the measured window opened
    double duration_s = 0;  // its length
    std::uint64_t committed = 0, rejected = 0, failed = 0;
    std::uint64_t p50_ns = 0, p95_ns = 0, p99_ns = 0, max_ns = 0;  // of committed + rejected
};

enum class RunPhase { opening, warmup, measuring, stopping, done };

struct Progress {
    RunPhase phase = RunPhase::opening;
    double elapsed_s = 0;  // in the current phase
    std::uint64_t committed = 0;  // counted so far (whole seconds of the measured window)
    double last_second_tps = 0;
    std::uint64_t last_second_p99_ns = 0;
    std::uint64_t reconnects = 0;  // connections re-established since the run started (process-wide count)
};

struct RunResult {
    std::string error;  // non-empty when the run could not start (a session failed to open)
    bool interrupted = false;
    double warmup_s = 0;
    double measured_s = 0;  // actual length of the measured window
    // The measured window on the wall clock (UTC, ns since the Unix epoch): where it lies among
    // other connectors' windows. 0 when the window never opened.
    std::int64_t window_start_unix_ns = 0;
    std::int64_t window_end_unix_ns = 0;
    std::size_t sessions = 0;
    std::size_t threads = 0;
    double cpu_s = 0;  // CPU time of this process (every thread) during the measured window
    OutcomeCounters counters;
    LatencyHistogram latency{3};
    std::vector<SecondPoint> series;
    // Per operation type, when the workload has several (names from operation_types()).
    std::vector<std::string> type_names;
    std::vector<TypeMetrics> by_type;
    // Open loop only (empty otherwise): time from actual start to end, and from intended to actual start.
    LatencyHistogram service{3};
    LatencyHistogram lag{3};
    std::array<std::string, kErrorKinds> error_examples;
    bool collisions_exact = true;
    // Operations in flight when the run gave up waiting for them (counted in after_window too).
    std::uint64_t abandoned = 0;
};

// What a run needs of the machine, from the real sizes of the engine's structures (see
// Run::resource_estimate); the connector's own share per session is added by the caller.
struct ResourceEstimate {
    std::size_t sessions = 0;
    std::size_t threads = 0;                   // the run's own: workers or event loops, monitor, interrupter
    std::size_t engine_bytes = 0;              // engine structures, all sessions and threads
    std::size_t engine_bytes_per_session = 0;  // of which each session accounts for (its thread's too, blocking)
    std::size_t thread_bytes = 0;              // resident cost of one thread: touched stack, kernel stack, TLS
};

// The engine's bookkeeping for one session's operation in hand (private to the drivers).
struct SessionState {
    std::size_t index = 0;
    Rng rng{0};
    std::uint64_t seq = 0;
    std::uint64_t quota = 0;  // 0: none
    std::uint64_t counted = 0;
    OperationKeys keys;
    std::uint64_t holders = 0;
    std::uint8_t type = 0;
    std::int64_t start_ns = 0;     // the first attempt began
    std::int64_t intended_ns = 0;  // the schedule said to begin (== start_ns in a closed loop)
    std::int64_t next_intended_ns = 0;
    Rng arrivals{0};               // open loop: the gaps, apart from the choice of operations
    int tries = 0;
    bool retried = false;
    std::array<std::uint32_t, kErrorKinds> retried_kinds{};
};

class Run {
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

    // Starts every worker (or event-loop thread) on a thread of its own and waits for the end; the
    // calling thread only waits, so it returns within the stop's bound even when a session never
    // does. `on_tick` is called from the monitor thread about four times a second.
    RunResult run(std::function<void(const Progress&)> on_tick = {});

    // Or: start all workers on threads of their own, then poll, stop and wait.
    void start();
    Progress progress() const;
    // Closes the measured window now; the result is marked interrupted. Safe from any thread and
    // from a signal handler (atomics and clock_gettime only).
    void stop();
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

    // --- for the drivers ---------------------------------------------------------------------
    enum class After { next, stop };
    SessionState new_session_state(std::size_t index) const;
    // With an operation count too small to give this session a share: true (and it is done).
    bool has_no_share(const SessionState& s);
    bool open_loop() const { return config_.rate > 0; }
    void start_schedule(SessionState& s);
    std::int64_t next_gap_ns(SessionState& s) const;
    void wait_until(std::int64_t t) const;
    // Open loop: picks the intended start of the session's next operation (in s.intended_ns),
    // skipping and counting those already later than max_lag. False when it falls after the
    // window: the session is done.
    bool schedule_next(SessionState& s, WorkerMetrics& m);
    bool before_window_end(std::int64_t t) const { return t < measure_end_ns_.load(std::memory_order_relaxed); }
    // False when the run has closed the session (it then starts nothing more).
    bool begin_operation(SessionState& s, const OperationKeys& keys);
    // After a failed attempt: true when the same operation should be tried again (after backoff).
    bool should_retry(SessionState& s, const Attempt& attempt);
    void restart_deadline(SessionState& s);
    // Accounts for the finished operation; `stop` when this session should start no more.
    After finish_operation(SessionState& s, WorkerMetrics& m, Attempt attempt,
                           const std::function<std::string()>& last_error);
    std::int64_t backoff_ns(SessionState& s) const;
    bool stopping() const { return stop_.load(std::memory_order_relaxed); }
    void set_interruptible(std::size_t session, Interruptible* target);
    void session_opened() { opened_.fetch_add(1); }
    void session_open_failed(const std::string& error);
    void sessions_open_failed(std::size_t count, const std::string& error);
    // An event-loop thread's sessions, left with work pending in a loop the run stopped: kept
    // until the destructor, which drops them before the loops themselves.
    void park(std::shared_ptr<void> sessions) {
        std::lock_guard lock(parked_mutex_);
        parked_.push_back(std::move(sessions));
    }
    bool loops_stopped() const { return loops_stopped_.load(); }
    void wait_for_go() { go_.wait(false); }
    const RunConfig& config() const { return config_; }
    std::size_t thread_count() const { return thread_count_; }
    // The session's last counts (reconnects, unstarted intended starts) as it closes; nothing once
    // the run has sealed the metrics.
    void close_session(SessionState& s, WorkerMetrics& m, std::uint64_t reconnects);

private:
    // A session's operation: between begin_operation and finish_operation it is in flight; the
    // monitor may then claim it as abandoned (at most once, with a compare-and-swap), after which
    // the session's thread counts nothing more.
    enum SlotState : std::uint8_t { kIdle = 0, kInFlight = 1, kAbandoned = 2, kClosed = 3 };

    struct alignas(64) SessionSlot {
        std::atomic<std::uint8_t> state{kIdle};
        std::atomic<std::uint64_t> op_seq{0};
        std::atomic<std::int64_t> deadline_ns{0};  // 0 = no attempt in progress
        std::atomic<std::uint64_t> timed_out_seq{0};
        std::mutex target_mutex;  // guards `target` against interrupt-vs-close
        Interruptible* target = nullptr;
    };

    void prepare();
    // Open loop: the session's intended starts that fell in the window but never began.
    void count_unstarted(SessionState& s, WorkerMetrics& m);
    void launch();
    void thread_main(std::size_t thread);
    WorkerMetrics& make_metrics(std::size_t thread);
    void sync_worker_main(std::size_t index);
    void run_sync_operations(WorkerSession& session, SessionState& s, WorkerMetrics& m);
    void async_thread_main(std::size_t thread);  // async_driver.cpp
    static std::size_t async_session_bytes();    // async_driver.cpp: one session's driver
    void monitor_main();
    // Monitor: runs the watchdog and the ticks until every thread is done or `deadline`; true when done.
    bool wait_threads(std::int64_t deadline);
    // Monitor: the bounded stop after the window (or after opening was called off); returns the
    // operations abandoned in flight.
    std::uint64_t stop_sessions();
    void abort_opening();
    void interrupt_in_flight();  // on interrupter_
    void join_finished_threads();
    std::int64_t watchdog(std::int64_t now);  // the next deadline ahead
    void monitor_sleep(std::int64_t ns);
    void tick(std::int64_t now);
    void close_second(std::int64_t now, std::int64_t& last_boundary);
    void finish(RunResult&& result);

    RunConfig config_;
    std::shared_ptr<Workload> workload_;
    std::shared_ptr<AsyncWorkload> async_workload_;
    std::size_t thread_count_ = 0;
    std::vector<std::string> type_names_;
    InFlightKeys in_flight_;
    bool track_keys_ = false;
    std::vector<std::unique_ptr<WorkerMetrics>> metrics_;  // one per thread
    std::vector<std::unique_ptr<SessionSlot>> slots_;      // one per session
    std::unique_ptr<std::atomic<bool>[]> thread_finished_;  // per thread: thread_main returned
    std::vector<bool> thread_joined_;                        // monitor-only
    std::atomic<bool> interrupter_done_{false};
    std::atomic<bool> abandoned_{false};
    std::atomic<bool> loops_stopped_{false};  // the monitor stopped the event loops (work left in them)
    std::vector<std::int64_t> interrupted_deadline_;  // monitor-only: last deadline acted on, per session
    std::int64_t monitor_sleep_ns_ = 0;
    std::int64_t timeout_ns_ = 0;
    double session_interval_ns_ = 0;   // open loop: mean gap between one session's intended starts
    std::int64_t max_lag_ns_ = 0;
    std::int64_t schedule_origin_ns_ = 0;  // written before go, read after it
    std::function<void(const Progress&)> on_tick_;
    std::int64_t last_tick_ns_ = 0;

    std::atomic<int> opened_{0};
    std::atomic<int> open_failed_{0};
    std::atomic<int> running_{0};  // threads still running
    std::atomic<int> quotas_done_{0};
    std::atomic<std::int64_t> last_completion_ns_{0};
    std::atomic<bool> monitor_ready_{false};
    std::atomic<bool> threads_launched_{false};
    std::atomic<bool> go_{false};
    std::atomic<bool> stop_{false};
    std::atomic<bool> interrupted_{false};
    std::atomic<std::uint32_t> wake_word_{0};  // stop() bumps it to wake the monitor (a futex)
    std::atomic<std::int64_t> warmup_end_ns_{0};
    std::atomic<std::int64_t> measure_end_ns_{INT64_MAX};
    std::int64_t window_open_ns_ = 0;  // monitor: when the measured window opened (== warmup end)
    std::uint64_t reconnects_at_start_ = 0;  // g_reconnect_events when the run started

    std::mutex open_error_mutex_;
    std::string open_error_;

    mutable std::mutex progress_mutex_;
    Progress progress_;
    std::int64_t phase_started_ns_ = 0;
    std::vector<SecondPoint> series_;  // monitor-only until finish
    IntervalCounts merged_interval_;   // monitor-only scratch

    std::mutex done_mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    bool started_ = false;
    RunResult result_;

    // Last, so destroyed first (members go in reverse order): the threads (joined by then), then
    // what the event loops' sessions left parked, then the loops, before anything above that a
    // thread, a session or a handler still in a loop refers to (the workload, metrics, slots).
    std::unique_ptr<AsyncThreads> async_threads_;  // one io_context per thread
    std::mutex parked_mutex_;
    std::vector<std::shared_ptr<void>> parked_;
    std::vector<std::thread> threads_;
    std::thread monitor_;
    std::thread interrupter_;
};

std::int64_t now_ns();

}  // namespace loadbench
