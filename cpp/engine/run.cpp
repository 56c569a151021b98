#include "engine/run.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>

#include "engine/async_threads.hpp"
#include "engine/async_workload.hpp"

#ifdef __linux__
#include <sched.h>
#include <sys/prctl.h>
#endif

namespace loadbench {

namespace {

constexpr std::int64_t kSecondNs = 1'000'000'000;
// The monitor wakes as seldom as it can: every wake-up of another thread costs the workers a few
// percent on a small machine (measured: a thread waking every 10 ms took 2.6 % off a one-worker
// SQLite run). It wakes at each second boundary and every kMaxSleepNs, or more often when a short
// per-operation timeout needs a finer watchdog.
constexpr std::int64_t kMaxSleepNs = 250'000'000;
constexpr std::int64_t kMinSleepNs = 5'000'000;

void sleep_ns(std::int64_t ns) { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); }

double process_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::size_t default_threads(std::size_t groups) {
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    return std::min(cores, groups);
}

// Resident memory of one more thread beyond what the engine allocates for it: the stack pages a
// session touches (SQLite's deepest calls, libpq's), the kernel's stack and task structures, and
// glibc's per-thread state (TLS, tcache). Measured: 2,000 blocking SQLite sessions grew RSS by
// about 60 KiB each beyond the metrics and the connections (tests/faults/test_resource_limits.py
// checks the whole estimate against the measured growth).
constexpr std::size_t kThreadResidentBytes = 64 * 1024;

}  // namespace

void OutcomeCounters::merge(const OutcomeCounters& o) {
    committed += o.committed;
    rejected += o.rejected;
    failed += o.failed;
    attempts += o.attempts;
    retries += o.retries;
    for (std::size_t k = 0; k < kErrorKinds; ++k) {
        errors[k] += o.errors[k];
        retried_errors[k] += o.retried_errors[k];
    }
    collision_ops += o.collision_ops;
    collision_count += o.collision_count;
    before_window += o.before_window;
    after_window += o.after_window;
    drained += o.drained;
    drained_max_ns = std::max(drained_max_ns, o.drained_max_ns);
    reconnects += o.reconnects;
    scheduled += o.scheduled;
    dropped += o.dropped;
    unstarted += o.unstarted;
}

Run::Run(RunConfig config, std::shared_ptr<Workload> workload)
    : config_(config), workload_(std::move(workload)) {
    if (!workload_) throw std::invalid_argument("run: no workload");
    thread_count_ = config_.concurrency;
    track_keys_ = workload_->key_space() > 0;
    type_names_ = workload_->operation_types();
    prepare();
}

Run::Run(RunConfig config, std::shared_ptr<AsyncWorkload> workload)
    : config_(config), async_workload_(std::move(workload)) {
    if (!async_workload_) throw std::invalid_argument("run: no workload");
    const std::size_t group = async_workload_->sessions_per_group();
    if (group < 1 || config_.concurrency % group != 0)
        throw std::invalid_argument("run: concurrency must be a multiple of the sessions per connection");
    const std::size_t groups = std::max<std::size_t>(config_.concurrency / group, 1);
    thread_count_ = std::min(config_.threads ? config_.threads : default_threads(groups), groups);
    track_keys_ = async_workload_->key_space() > 0;
    type_names_ = async_workload_->operation_types();
    prepare();
}

void Run::prepare() {
    if (config_.concurrency < 1) throw std::invalid_argument("run: concurrency must be >= 1");
    if (!(config_.seconds > 0)) throw std::invalid_argument("run: the measured window must be > 0 s");
    if (!(config_.warmup_seconds >= 0)) throw std::invalid_argument("run: warmup must be >= 0 s");
    if (config_.max_tries < 1) throw std::invalid_argument("run: max tries must be >= 1");
    if (!(config_.op_timeout_seconds >= 0)) throw std::invalid_argument("run: operation timeout must be >= 0 s");
    if (config_.open_parallelism < 1) throw std::invalid_argument("run: open parallelism must be >= 1");
    if (!(config_.rate >= 0) || !std::isfinite(config_.rate)) throw std::invalid_argument("run: rate must be >= 0");
    if (config_.rate > kMaxRate) throw std::invalid_argument("run: rate must be at most 1e9 operations/s");
    if (!(config_.max_lag_seconds >= 0)) throw std::invalid_argument("run: max lag must be >= 0 s");
    if (std::isnan(config_.drain_seconds) || config_.drain_seconds > 1e6)
        throw std::invalid_argument("run: drain must be a number of seconds, at most 1e6");
    if (type_names_.size() > 255) throw std::invalid_argument("run: at most 255 operation types");
    // Each thread allocates its own metrics as it starts (about 330 KB each, mostly histograms): a
    // run of many blocking sessions then spends that time and memory while opening, where stop()
    // can still call it off, not in this constructor.
    metrics_.resize(thread_count_);
    thread_finished_ = std::make_unique<std::atomic<bool>[]>(thread_count_);
    thread_joined_.assign(thread_count_, false);
    loop_ = std::make_unique<SessionLoop>(config_, timeline_, track_keys_);
    monitor_ = std::make_unique<Monitor>(*loop_);
    const std::int64_t timeout_ns = loop_->timeout_ns();
    monitor_sleep_ns_ = timeout_ns > 0 ? std::clamp(timeout_ns / 10, kMinSleepNs, kMaxSleepNs) : kMaxSleepNs;
}

// Threads the run gave up on (abandoned()) are joined here: the destructor waits for them.
Run::~Run() {
    if (started_) {
        stop();
        if (monitor_thread_.joinable()) monitor_thread_.join();
        for (auto& t : threads_)
            if (t.joinable()) t.join();
        if (interrupter_.joinable()) interrupter_.join();
        // Sessions the event loops were stopped under go before the loops themselves (asio's order).
        std::lock_guard lock(parked_mutex_);
        parked_.clear();
    }
}

void Run::start() { launch(); }

void Run::hold() {
    if (started_) throw std::logic_error("run: hold() after start()");
    hold_ = true;
}

bool Run::wait_held(double seconds) {
    std::unique_lock lock(done_mutex_);
    done_cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return held_ || done_; });
    return held_ && !done_;
}

void Run::release(std::int64_t start_unix_ns) {
    if (start_unix_ns == INT64_MIN) ++start_unix_ns;  // the sentinel means "not released"
    release_at_unix_ns_.store(start_unix_ns);
    timeline_.wake();
}

RunResult Run::run(std::function<void(const Progress&)> on_tick) {
    monitor_->set_on_tick(std::move(on_tick));
    launch();
    {
        std::unique_lock lock(done_mutex_);
        done_cv_.wait(lock, [this] { return done_; });
    }
    return take_result();
}

void Run::launch() {
    if (started_) throw std::logic_error("run: already started");
    started_ = true;
    monitor_->started(now_ns());
    running_ = static_cast<int>(thread_count_);
    // Event loops exist before the monitor takes its private copy of the file table, so that its
    // wake-ups (a post to interrupt a session) reach their eventfds.
    if (async_workload_) async_threads_ = std::make_unique<AsyncThreads>(thread_count_);
    monitor_thread_ = std::thread([this] { monitor_main(); });
    monitor_ready_.wait(false);
    threads_.reserve(thread_count_);
    // Thousands of blocking sessions take a while to start: stop() ends the loop.
    std::size_t started = 0;
    for (; started < thread_count_ && !timeline_.stopping(); ++started) {
        try {
            threads_.emplace_back([this, t = started] { thread_main(t); });
        } catch (const std::system_error& e) {
            const int err = e.code().value();
            loop_->session_open_failed("cannot start thread " + std::to_string(started + 1) + " of " +
                                std::to_string(thread_count_) + ": " + std::strerror(err) +
                                (err == EAGAIN ? " (EAGAIN: a limit on threads or memory mappings was reached)" : ""));
            timeline_.set_stopping();
            break;
        }
    }
    for (std::size_t t = started; t < thread_count_; ++t) {
        thread_finished_[t].store(true);
        running_.fetch_sub(1);
    }
    threads_launched_.store(true);
    threads_launched_.notify_all();
}

void Run::thread_main(std::size_t thread) {
#ifdef __linux__
    // Open loop: wake when the schedule says, not up to 50 us later (the default timer slack).
    if (open_loop()) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
#endif
    if (async_workload_)
        run_event_loop_thread(*loop_, *this, *async_workload_, *async_threads_->contexts[thread], thread, thread_count_,
                              config_.concurrency, config_.open_parallelism);
    else
        run_blocking_session(*loop_, *this, *workload_, thread);
    thread_finished_[thread].store(true);
    running_.fetch_sub(1);
}

WorkerMetrics& Run::make_metrics(std::size_t thread) {
    metrics_[thread] = std::make_unique<WorkerMetrics>(open_loop(), type_names_.size());
    return *metrics_[thread];
}

ResourceEstimate Run::resource_estimate() const {
    ResourceEstimate e;
    e.sessions = config_.concurrency;
    e.threads = thread_count_ + 2;  // + the monitor and the interrupter
    e.thread_bytes = kThreadResidentBytes;
    const std::size_t metrics = WorkerMetrics(open_loop(), type_names_.size()).memory_bytes();
    const std::size_t per_thread = metrics + sizeof(std::thread) + sizeof(std::atomic<bool>) + e.thread_bytes;
    std::size_t per_session = SessionLoop::bytes_per_session();
    if (async_workload_) per_session += event_loop_session_bytes();
    else per_session += per_thread + sizeof(SessionState);  // one thread per session
    e.engine_bytes_per_session = per_session;
    e.engine_bytes = per_session * config_.concurrency + loop_->keys_bytes() +
                     (async_workload_ ? thread_count_ * per_thread : 0) + 2 * e.thread_bytes;
    return e;
}

// --- the monitor thread: the lifecycle ---------------------------------------------------------

void Run::monitor_main() {
#ifdef __linux__
    // Give this thread a file table of its own. While two threads share one, every system call on
    // a file descriptor pays for reference counting in the kernel (fdget/fput), which made a
    // one-worker SQLite run 3-5 % slower than a single-threaded loop. The monitor uses no file
    // descriptor of the sessions, and it copies the table before any session opens one (the event
    // loops' own descriptors, which it does use to wake them, are created before it starts).
    unshare(CLONE_FILES);
#endif
    monitor_ready_.store(true);
    monitor_ready_.notify_all();
    threads_launched_.wait(false);  // threads_ is complete from here on
    RunResult result;
    const int n = static_cast<int>(config_.concurrency);

    // Phase 1: every session opens before the clock starts, so connection time is never measured.
    while (loop_->opened() + loop_->open_failed() < n) {
        if (timeline_.stopping()) break;
        sleep_ns(1'000'000);
    }
    if (hold_ && loop_->open_failed() == 0 && !timeline_.stopping()) wait_for_release();
    if (loop_->open_failed() > 0 || timeline_.stopping()) {
        abort_opening();
        const std::string error = loop_->open_error();
        result.error = error.empty() ? "interrupted while opening sessions" : error;
        result.interrupted = timeline_.interrupted();
        finish(std::move(result));
        return;
    }

    const std::int64_t t0 = now_ns();
    const std::int64_t t0_unix = unix_now_ns();
    timeline_.open(t0, seconds_to_ns(config_.warmup_seconds), seconds_to_ns(config_.seconds));
    const std::int64_t window_open_ns = timeline_.warmup_end_ns();
    monitor_->enter_phase(config_.warmup_seconds > 0 ? RunPhase::warmup : RunPhase::measuring, t0);
    timeline_.go();

    // Phase 2: warmup, then the measured window cut into seconds; watchdog every tick.
    std::int64_t last_boundary = window_open_ns;
    std::int64_t next_boundary = window_open_ns + kSecondNs;
    bool measuring = false;
    double cpu_at_open = 0;
    for (;;) {
        const std::int64_t now = now_ns();
        const std::int64_t end = timeline_.end_ns();
        const std::int64_t next_deadline = monitor_->watch(now);
        if (now >= end) break;
        if (config_.operations > 0 && loop_->quotas_done() == n) {
            // Every session completed its share: the window closed with the last completion.
            timeline_.close_at(end, std::max(loop_->last_completion_ns() + 1, window_open_ns));
            break;
        }
        if (!measuring && now >= window_open_ns) {
            measuring = true;
            cpu_at_open = process_cpu_seconds();
            monitor_->enter_phase(RunPhase::measuring, window_open_ns);
        }
        if (measuring && now >= next_boundary) {
            monitor_->close_second(now, last_boundary, window_open_ns, metrics_);
            next_boundary += kSecondNs;
            if (next_boundary <= now) next_boundary = now + kSecondNs;  // the monitor was descheduled
            continue;
        }
        const std::int64_t wake =
            std::min({now + monitor_sleep_ns_, end, measuring ? next_boundary : window_open_ns, next_deadline});
        timeline_.sleep(std::max<std::int64_t>(wake - now, 0));
    }
    const double cpu_at_close = process_cpu_seconds();

    // Phase 3: the drain. Sessions finish the operation in hand (counted: it began in the
    // window), within the drain's bound.
    monitor_->enter_phase(RunPhase::stopping);
    const std::int64_t drain_from = now_ns();
    const SessionLoop::Abandoned abandoned = stop_sessions();
    result.drain_seconds = static_cast<double>(now_ns() - drain_from) / 1e9;

    // The last interval also holds what completed in the drain, and what was abandoned in it.
    const std::int64_t end = timeline_.end_ns();
    if (end > last_boundary) monitor_->close_second(end, last_boundary, window_open_ns, metrics_);

    result.interrupted = timeline_.interrupted();
    result.warmup_seconds = static_cast<double>(std::min(end, window_open_ns) - t0) / 1e9;
    result.measured_seconds = static_cast<double>(std::max<std::int64_t>(end - window_open_ns, 0)) / 1e9;
    if (end > window_open_ns) {
        result.window_start_unix_ns = t0_unix + (window_open_ns - t0);
        result.window_end_unix_ns = t0_unix + (end - t0);
    }
    result.go_unix_ns = t0_unix;
    if (const std::int64_t first = loop_->first_start_ns(); first != INT64_MAX)
        result.first_start_unix_ns = t0_unix + (first - t0);
    result.cpu_seconds = measuring ? cpu_at_close - cpu_at_open : 0;
    result.sessions = config_.concurrency;
    result.threads = thread_count_;
    result.collisions_exact = loop_->collisions_exact();
    result.type_names = type_names_;
    Monitor::merge(metrics_, result);
    // Abandoned in flight: begun in the window, a failure of kind `unfinished` (in the last
    // second's failures too, so the series still sums to the counts); otherwise outside it.
    result.abandoned = abandoned.total();
    OutcomeCounters& c = result.counters;
    c.before_window += abandoned.before_window;
    c.after_window += abandoned.after_window;
    c.failed += abandoned.in_window;
    c.errors[static_cast<std::size_t>(ErrorKind::unfinished)] += abandoned.in_window;
    if (abandoned.in_window > 0) {
        auto& example = result.error_examples[static_cast<std::size_t>(ErrorKind::unfinished)];
        if (example.empty()) example = "still in flight when the run stopped waiting (abandoned)";
    }
    for (std::size_t t = 0; t < abandoned.by_type.size() && t < result.by_type.size(); ++t)
        result.by_type[t].failed += abandoned.by_type[t];
    result.series = monitor_->take_series();
    if (!result.series.empty()) {  // each point's failures by kind add up to its failed
        result.series.back().failed += abandoned.in_window;
        result.series.back().errors[static_cast<std::size_t>(ErrorKind::unfinished)] += abandoned.in_window;
    }
    finish(std::move(result));
}

// Monitor, held run: every session is open; waits for release(), then for its instant, cut short
// by stop(). The wall-clock instant is turned into a steady-clock one once, so a clock step while
// waiting does not move it.
void Run::wait_for_release() {
    {
        std::lock_guard lock(done_mutex_);
        held_ = true;
    }
    done_cv_.notify_all();
    std::int64_t at = INT64_MIN;
    for (;;) {
        const std::uint32_t seen = timeline_.wakes();  // before the check: a release() after it wakes the sleep
        if (timeline_.stopping() || (at = release_at_unix_ns_.load()) != INT64_MIN) break;
        timeline_.sleep(kMaxSleepNs, seen);
    }
    if (timeline_.stopping()) return;
    const std::int64_t target = now_ns() + (at - unix_now_ns());
    for (std::int64_t now = now_ns(); now < target && !timeline_.stopping(); now = now_ns()) timeline_.sleep(target - now);
}

bool Run::wait_threads(std::int64_t deadline, bool draining) {
    for (;;) {
        const std::int64_t now = now_ns();
        monitor_->watch(now);
        if (running_.load() == 0) return true;
        if (now >= deadline) return false;
        // A stop() during a long drain cuts it to the stop's own grace.
        if (draining && timeline_.interrupted()) {
            if (stop_seen_ns_ == 0) stop_seen_ns_ = now;
            deadline = std::min(deadline, stop_seen_ns_ + kStopGraceNs);
        }
        sleep_ns(1'000'000);
    }
}

std::int64_t Run::drain_limit_ns() const {
    if (timeline_.interrupted()) return kStopGraceNs;
    if (config_.drain_seconds >= 0) return seconds_to_ns(config_.drain_seconds);
    // Every attempt in flight has timed out by then (the watchdog keeps running), with the
    // stop's grace for the interrupted attempts to return.
    const std::int64_t timeout_ns = loop_->timeout_ns();
    return timeout_ns > 0 ? timeout_ns + kStopGraceNs : kNoTimeoutDrainNs;
}

SessionLoop::Abandoned Run::stop_sessions() {
    timeline_.set_stopping();
    if (!wait_threads(now_ns() + drain_limit_ns(), true)) {
        // On a thread of its own: an interrupt may block (a cancel request to a server that does
        // not answer), and the stop must not.
        interrupter_ = std::thread([this] {
            loop_->interrupt_in_flight();
            interrupter_done_.store(true);
        });
        if (!wait_threads(now_ns() + kInterruptGraceNs) && async_threads_) {
            loops_stopped_.store(true);
            for (auto& io : async_threads_->contexts) io->stop();
            wait_threads(now_ns() + kLoopStopGraceNs);
        }
    }
    // No session counts anything from here on: every thread's metrics are sealed (a write in
    // progress ends first), then each session is closed, and an operation still in flight is
    // claimed as abandoned. A session that returns later finds both and counts nothing, so each
    // operation is counted once, by its thread or here.
    for (auto& m : metrics_)
        if (m) m->seal();
    SessionLoop::Abandoned abandoned = loop_->close_all();
    join_finished_threads();
    return abandoned;
}

// Opening was called off (stop(), or a session that could not open): the sessions that opened
// close; those still opening get kOpenAbortGrace, then the run gives up on them. An event loop
// still waiting for opens after a moment is stopped (its thread then closes what opened).
void Run::abort_opening() {
    timeline_.set_stopping();
    timeline_.go();
    const std::int64_t begun = now_ns();
    if (!wait_threads(begun + kOpenAbortGraceNs / 5) && async_threads_) {
        loops_stopped_.store(true);
        for (auto& io : async_threads_->contexts) io->stop();
    }
    wait_threads(begun + kOpenAbortGraceNs);
    join_finished_threads();
}

void Run::join_finished_threads() {
    bool all = true;
    for (std::size_t t = 0; t < threads_.size(); ++t) {
        if (thread_joined_[t]) continue;
        if (!thread_finished_[t].load()) {
            all = false;
            continue;
        }
        threads_[t].join();
        thread_joined_[t] = true;
    }
    if (interrupter_.joinable()) {
        if (interrupter_done_.load()) interrupter_.join();
        else all = false;
    }
    if (!all || loops_stopped_.load()) abandoned_.store(true);
}

void Run::finish(RunResult&& result) {
    monitor_->enter_phase(RunPhase::done);
    std::lock_guard lock(done_mutex_);
    result_ = std::move(result);
    done_ = true;
    done_cv_.notify_all();
}

bool Run::wait_for(double seconds) {
    std::unique_lock lock(done_mutex_);
    return done_cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return done_; });
}

RunResult Run::take_result() {
    std::unique_lock lock(done_mutex_);
    if (!done_) throw std::logic_error("run: not finished");
    if (monitor_thread_.joinable()) {
        lock.unlock();
        monitor_thread_.join();
    }
    return std::move(result_);
}

}  // namespace loadbench
