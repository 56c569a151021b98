// SessionLoop: the engine's contract with a session, the same for both drivers (one thread per
// blocking session, or sessions on event loops). Per operation: begin (keys in flight, deadline),
// attempt, retry after backoff while the error is retryable, finish (window accounting: before,
// in or after the measured window; record). It also keeps each session's slot, which the monitor
// reads for the watchdog and claims, at the end, for operations still in flight (abandoned). A
// session's operation between begin and finish is in flight; once the monitor claimed it, the
// session's thread counts nothing more, so each operation is counted once.
//
// Window accounting is by start (pgbench's): an operation belongs to the measured window when it
// began in it (open loop: was intended to begin in it), wherever it completes. One begun in the
// window that completes after it, in the drain, is counted with its outcome and full latency (and
// in `drained`); one still unfinished when the drain ends is a failure of kind `unfinished`. So
// every operation begun in the window is exactly one of committed, rejected or failed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/arrivals.hpp"
#include "engine/in_flight_keys.hpp"
#include "engine/run_types.hpp"
#include "engine/timeline.hpp"
#include "engine/worker_metrics.hpp"

namespace loadbench {

class SessionLoop {
public:
    // `track_keys`: the workload's operations name keys (collisions are counted).
    SessionLoop(const RunConfig& config, Timeline& timeline, bool track_keys);
    SessionLoop(const SessionLoop&) = delete;
    SessionLoop& operator=(const SessionLoop&) = delete;

    // --- for the drivers ------------------------------------------------------------------
    enum class After { next, stop };
    SessionState new_session_state(std::size_t index) const;
    // With an operation count too small to give this session a share: true (and it is done).
    bool has_no_share(const SessionState& s);
    const Arrivals& arrivals() const { return arrivals_; }
    bool open_loop() const { return arrivals_.open_loop(); }
    void start_schedule(SessionState& s) const { arrivals_.start_schedule(s, timeline_); }
    bool schedule_next(SessionState& s, WorkerMetrics& m) const { return arrivals_.schedule_next(s, m, timeline_); }
    void wait_until(std::int64_t t) const { Arrivals::wait_until(t, timeline_); }
    bool before_window_end(std::int64_t t) const { return timeline_.before_window_end(t); }
    bool stopping() const { return timeline_.stopping(); }
    void wait_for_go() const { timeline_.wait_for_go(); }
    // False when the run has closed the session (it then starts nothing more).
    bool begin_operation(SessionState& s, const OperationKeys& keys);
    // After a failed attempt: true when the same operation should be tried again (after backoff).
    bool should_retry(SessionState& s, const Attempt& attempt);
    void restart_deadline(SessionState& s);
    std::int64_t backoff_ns(SessionState& s) const;
    // Accounts for the finished operation; `stop` when this session should start no more.
    After finish_operation(SessionState& s, WorkerMetrics& m, Attempt attempt,
                           const std::function<std::string()>& last_error);
    // The session's last counts (reconnects, unstarted intended starts) as it closes; nothing once
    // the run has sealed the metrics.
    void close_session(SessionState& s, WorkerMetrics& m, std::uint64_t reconnects);
    // What the watchdog and the stop interrupt for this session (nullptr: nothing).
    void set_interruptible(std::size_t session, Interruptible* target);
    void session_opened() { opened_.fetch_add(1); }
    // The earliest start of an operation in the run (steady ns), INT64_MAX when none began.
    std::int64_t first_start_ns() const { return first_start_ns_.load(); }
    void session_open_failed(const std::string& error) { sessions_open_failed(1, error); }
    void sessions_open_failed(std::size_t count, const std::string& error);

    // --- for the monitor ------------------------------------------------------------------
    int opened() const { return opened_.load(); }
    int open_failed() const { return open_failed_.load(); }
    std::string open_error() const;
    // Sessions that completed their share of an operation count, and the last completion.
    int quotas_done() const { return quotas_done_.load(); }
    std::int64_t last_completion_ns() const { return last_completion_ns_.load(); }
    bool collisions_exact() const { return in_flight_.exact(); }
    // Interrupts every session whose attempt is past its deadline; the earliest deadline still
    // ahead (INT64_MAX: none). Monitor thread only.
    std::int64_t watchdog(std::int64_t now);
    bool has_timeout() const { return timeout_ns_ > 0; }
    std::int64_t timeout_ns() const { return timeout_ns_; }
    // Interrupts every operation in flight (the stop, on a thread of its own: it may block); each
    // one that then fails is counted as `unfinished` (unless its own timeout had fired) and none
    // is retried.
    void interrupt_in_flight();
    // Operations the run gave up on (still in flight when every session was closed), by where
    // they began: in the window (failed, `unfinished`; per operation type in `by_type`), before
    // it or after it.
    struct Abandoned {
        std::uint64_t in_window = 0, before_window = 0, after_window = 0;
        std::vector<std::uint64_t> by_type;  // in the window, per operation type (index < 256)
        std::uint64_t total() const { return in_window + before_window + after_window; }
    };
    // Closes every session: an idle one starts nothing more, one in flight is claimed as abandoned
    // (its session will count nothing).
    Abandoned close_all();

    // Resident bytes per session and in all (the resource estimate).
    static std::size_t bytes_per_session();
    std::size_t keys_bytes() const { return in_flight_.memory_bytes(); }

private:
    enum SlotState : std::uint8_t { kIdle = 0, kInFlight = 1, kAbandoned = 2, kClosed = 3 };

    struct alignas(64) SessionSlot {
        std::atomic<std::uint8_t> state{kIdle};
        std::atomic<std::uint64_t> op_seq{0};
        std::atomic<std::int64_t> deadline_ns{0};  // 0 = no attempt in progress
        std::atomic<std::uint64_t> timed_out_seq{0};
        std::atomic<std::uint64_t> unfinished_seq{0};  // interrupted by the stop: counted as unfinished
        std::atomic<std::int64_t> intended_ns{0};      // of the operation in flight: where it belongs
        std::atomic<std::uint8_t> type{0};
        std::mutex target_mutex;  // guards `target` against interrupt-vs-close
        Interruptible* target = nullptr;
    };

    const RunConfig& config_;
    Timeline& timeline_;
    Arrivals arrivals_;
    InFlightKeys in_flight_;
    bool track_keys_;
    std::int64_t timeout_ns_;
    std::vector<std::unique_ptr<SessionSlot>> slots_;  // one per session
    std::vector<std::int64_t> interrupted_deadline_;   // monitor-only: last deadline acted on, per session

    std::atomic<int> opened_{0};
    std::atomic<int> open_failed_{0};
    std::atomic<int> quotas_done_{0};
    std::atomic<std::int64_t> last_completion_ns_{0};
    // The earliest start of an operation (steady ns; INT64_MAX: none yet): how late after the go
    // this run's load actually began (a distributed run's start skew).
    std::atomic<std::int64_t> first_start_ns_{INT64_MAX};
    mutable std::mutex open_error_mutex_;
    std::string open_error_;
};

}  // namespace loadbench
