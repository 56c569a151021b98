// The plain data of a run: its configuration, its result and progress, what it needs of the
// machine, and one session's bookkeeping. Shared by the run's parts (engine/run.hpp).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/in_flight_keys.hpp"
#include "engine/worker_metrics.hpp"
#include "engine/workload.hpp"
#include "metrics/latency_histogram.hpp"

namespace loadbench {

struct RunConfig {
    std::size_t concurrency = 10;  // sessions (logical clients), each with one operation in flight
    double warmup_seconds = 1.0;         // >= 0
    double seconds = 10.0;       // > 0
    std::uint64_t seed = 1;        // session i draws from Rng::for_stream(seed, stream_offset + i)
    // The first random stream this run's sessions use. Runs that follow one another on the same data
    // (the write test's levels, a sweep's points) give each run streams no earlier run used, so no
    // session replays another's choices (and re-inserts its rows).
    std::uint64_t stream_offset = 0;
    int max_tries = 10;            // attempts per operation for retryable errors (1 = never retry)
    double op_timeout_seconds = 30.0;    // per attempt; 0 disables
    // > 0: the window closes once this many operations completed in it (split evenly over the
    // sessions, so a fixed seed gives a fixed sequence per session); seconds still bounds it.
    std::uint64_t operations = 0;
    std::size_t threads = 0;             // async workloads: event-loop threads (0: one per core, at most one per session group)
    std::size_t open_parallelism = 64;   // async workloads: sessions being opened at once, at most
    // Open loop: > 0 is the total rate (operations/s over all sessions; each session gets
    // rate / concurrency). Every operation then has an intended start on that schedule, and its
    // latency is measured from there, so a stall shows in the latency instead of vanishing.
    double rate = 0;
    bool poisson = true;      // exponential gaps between intended starts; false: a regular beat
    double max_lag_seconds = 0;     // > 0: skip (and count) operations that could not start within this
    // After the window: how long to wait for operations begun in it to complete (engine/run.hpp).
    // < 0: the operation timeout + 0.2 s, or 10 s without a timeout.
    double drain_seconds = -1;
};

// One interval of the per-second series (the last one may be shorter). Identity: failed = the
// sum of errors over the kinds (the same kinds as OutcomeCounters::errors, per interval).
struct SecondPoint {
    double t_s = 0;         // end of the interval, seconds since the measured window opened
    double duration_s = 0;  // its length
    std::uint64_t committed = 0, rejected = 0, failed = 0;
    std::uint64_t p50_ns = 0, p95_ns = 0, p99_ns = 0, max_ns = 0;  // of committed + rejected
    std::array<std::uint64_t, kErrorKinds> errors{};               // failed operations by kind
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
    double warmup_seconds = 0;
    double measured_seconds = 0;  // actual length of the measured window
    // The measured window on the wall clock (UTC, ns since the Unix epoch): where it lies among
    // other connectors' windows. 0 when the window never opened.
    std::int64_t window_start_unix_ns = 0;
    std::int64_t window_end_unix_ns = 0;
    // When the clock started (the go: warmup, then the window) and when the first operation began,
    // on the wall clock (ns since the Unix epoch; 0 when the run never got there). A held run
    // (Run::hold) starts its clock at the instant release() named, so first_start - that instant
    // is how late this run's load began.
    std::int64_t go_unix_ns = 0;
    std::int64_t first_start_unix_ns = 0;
    std::size_t sessions = 0;
    std::size_t threads = 0;
    double cpu_seconds = 0;  // CPU time of this process (every thread) during the measured window
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
    // Operations in flight when the run gave up waiting for them: those begun in the window are
    // failures of kind `unfinished` (the others count in before_window / after_window).
    std::uint64_t abandoned = 0;
    // How long the drain after the window took (s): until every session returned, or the run gave up.
    double drain_seconds = 0;
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

// The engine's bookkeeping for one session's operation in hand (the session loop's and the drivers').
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

inline std::int64_t seconds_to_ns(double s) { return static_cast<std::int64_t>(std::llround(s * 1e9)); }

}  // namespace loadbench
