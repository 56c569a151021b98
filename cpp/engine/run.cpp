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
#include "engine/connection_events.hpp"

#ifdef __linux__
#include <linux/futex.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace loadbench {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

namespace {

constexpr std::int64_t kSecondNs = 1'000'000'000;
// The monitor wakes as seldom as it can: every wake-up of another thread costs the workers a few
// percent on a small machine (measured: a thread waking every 10 ms took 2.6 % off a one-worker
// SQLite run). It wakes at each second boundary and every kMaxSleepNs, or more often when a short
// per-operation timeout needs a finer watchdog.
constexpr std::int64_t kMaxSleepNs = 250'000'000;
constexpr std::int64_t kMinSleepNs = 5'000'000;

// The wall clock, for placing windows in time; every duration comes from the steady clock.
std::int64_t unix_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t seconds_to_ns(double s) { return static_cast<std::int64_t>(std::llround(s * 1e9)); }

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
    reconnects += o.reconnects;
    scheduled += o.scheduled;
    dropped += o.dropped;
    unstarted += o.unstarted;
}

Run::Run(RunConfig config, std::shared_ptr<Workload> workload)
    : config_(config), workload_(std::move(workload)), in_flight_(config.concurrency) {
    if (!workload_) throw std::invalid_argument("run: no workload");
    thread_count_ = config_.concurrency;
    track_keys_ = workload_->key_space() > 0;
    type_names_ = workload_->operation_types();
    prepare();
}

Run::Run(RunConfig config, std::shared_ptr<AsyncWorkload> workload)
    : config_(config), async_workload_(std::move(workload)), in_flight_(config.concurrency) {
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
    if (!(config_.measure_s > 0)) throw std::invalid_argument("run: the measured window must be > 0 s");
    if (!(config_.warmup_s >= 0)) throw std::invalid_argument("run: warmup must be >= 0 s");
    if (config_.max_tries < 1) throw std::invalid_argument("run: max tries must be >= 1");
    if (!(config_.op_timeout_s >= 0)) throw std::invalid_argument("run: operation timeout must be >= 0 s");
    if (config_.open_parallelism < 1) throw std::invalid_argument("run: open parallelism must be >= 1");
    if (!(config_.rate >= 0) || !std::isfinite(config_.rate)) throw std::invalid_argument("run: rate must be >= 0");
    if (!(config_.max_lag_s >= 0)) throw std::invalid_argument("run: max lag must be >= 0 s");
    if (type_names_.size() > 255) throw std::invalid_argument("run: at most 255 operation types");
    // Each thread allocates its own metrics as it starts (about 330 KB each, mostly histograms): a
    // run of many blocking sessions then spends that time and memory while opening, where stop()
    // can still call it off, not in this constructor.
    metrics_.resize(thread_count_);
    thread_finished_ = std::make_unique<std::atomic<bool>[]>(thread_count_);
    thread_joined_.assign(thread_count_, false);
    if (open_loop()) session_interval_ns_ = 1e9 * static_cast<double>(config_.concurrency) / config_.rate;
    max_lag_ns_ = seconds_to_ns(config_.max_lag_s);
    for (std::size_t i = 0; i < config_.concurrency; ++i) slots_.push_back(std::make_unique<SessionSlot>());
    interrupted_deadline_.assign(config_.concurrency, 0);
    timeout_ns_ = seconds_to_ns(config_.op_timeout_s);
    monitor_sleep_ns_ = timeout_ns_ > 0 ? std::clamp(timeout_ns_ / 10, kMinSleepNs, kMaxSleepNs) : kMaxSleepNs;
}

// Threads the run gave up on (abandoned()) are joined here: the destructor waits for them.
Run::~Run() {
    if (started_) {
        stop();
        if (monitor_.joinable()) monitor_.join();
        for (auto& t : threads_)
            if (t.joinable()) t.join();
        if (interrupter_.joinable()) interrupter_.join();
        // Sessions the event loops were stopped under go before the loops themselves (asio's order).
        std::lock_guard lock(parked_mutex_);
        parked_.clear();
    }
}

void Run::start() { launch(); }

RunResult Run::run(std::function<void(const Progress&)> on_tick) {
    on_tick_ = std::move(on_tick);
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
    phase_started_ns_ = now_ns();
    reconnects_at_start_ = g_reconnect_events.load(std::memory_order_relaxed);
    running_ = static_cast<int>(thread_count_);
    // Event loops exist before the monitor takes its private copy of the file table, so that its
    // wake-ups (a post to interrupt a session) reach their eventfds.
    if (async_workload_) async_threads_ = std::make_unique<AsyncThreads>(thread_count_);
    monitor_ = std::thread([this] { monitor_main(); });
    monitor_ready_.wait(false);
    threads_.reserve(thread_count_);
    // Thousands of blocking sessions take a while to start: stop() ends the loop.
    std::size_t started = 0;
    for (; started < thread_count_ && !stop_.load(); ++started) {
        try {
            threads_.emplace_back([this, t = started] { thread_main(t); });
        } catch (const std::system_error& e) {
            const int err = e.code().value();
            session_open_failed("cannot start thread " + std::to_string(started + 1) + " of " +
                                std::to_string(thread_count_) + ": " + std::strerror(err) +
                                (err == EAGAIN ? " (EAGAIN: a limit on threads or memory mappings was reached)" : ""));
            stop_ = true;
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
    if (async_workload_) async_thread_main(thread);
    else sync_worker_main(thread);
    thread_finished_[thread].store(true);
    running_.fetch_sub(1);
}

WorkerMetrics& Run::make_metrics(std::size_t thread) {
    metrics_[thread] = std::make_unique<WorkerMetrics>(open_loop(), type_names_.size());
    return *metrics_[thread];
}

void Run::sessions_open_failed(std::size_t count, const std::string& error) {
    {
        std::lock_guard lock(open_error_mutex_);
        if (open_error_.empty()) open_error_ = error;
    }
    open_failed_.fetch_add(static_cast<int>(count));
}

ResourceEstimate Run::resource_estimate() const {
    ResourceEstimate e;
    e.sessions = config_.concurrency;
    e.threads = thread_count_ + 2;  // + the monitor and the interrupter
    e.thread_bytes = kThreadResidentBytes;
    const std::size_t metrics = WorkerMetrics(open_loop(), type_names_.size()).memory_bytes();
    const std::size_t per_thread = metrics + sizeof(std::thread) + sizeof(std::atomic<bool>) + e.thread_bytes;
    std::size_t per_session = sizeof(SessionSlot) + sizeof(std::unique_ptr<SessionSlot>) + sizeof(std::int64_t);
    if (async_workload_) per_session += async_session_bytes();
    else per_session += per_thread + sizeof(SessionState);  // one thread per session
    e.engine_bytes_per_session = per_session;
    e.engine_bytes = per_session * config_.concurrency + in_flight_.memory_bytes() +
                     (async_workload_ ? thread_count_ * per_thread : 0) + 2 * e.thread_bytes;
    return e;
}

void Run::tick(std::int64_t now) {
    constexpr std::int64_t kTickNs = 250'000'000;
    if (!on_tick_ || now - last_tick_ns_ < kTickNs) return;
    last_tick_ns_ = now;
    on_tick_(progress());
}

void Run::set_interruptible(std::size_t session, Interruptible* target) {
    SessionSlot& slot = *slots_[session];
    std::lock_guard lock(slot.target_mutex);
    slot.target = target;
}

void Run::session_open_failed(const std::string& error) { sessions_open_failed(1, error); }

// --- per-operation bookkeeping, shared by both drivers -------------------------------------------

SessionState Run::new_session_state(std::size_t index) const {
    SessionState s;
    s.index = index;
    s.rng = Rng::for_stream(config_.seed, config_.stream_offset + index);
    s.arrivals = Rng::for_stream(config_.seed ^ 0x5EEDA771FA11ULL, config_.stream_offset + index);
    const std::uint64_t n = config_.concurrency;
    s.quota = config_.operations / n + (index < config_.operations % n ? 1 : 0);
    return s;
}

bool Run::has_no_share(const SessionState& s) {
    if (config_.operations == 0 || s.quota > 0) return false;
    quotas_done_.fetch_add(1);
    return true;
}

// --- the open loop's schedule ---------------------------------------------------------------------

// Each session runs its own arrival process at rate / concurrency: the sum of independent Poisson
// processes is Poisson at the total rate, and regular beats offset by i / rate interleave evenly.
std::int64_t Run::next_gap_ns(SessionState& s) const {
    if (!config_.poisson) return static_cast<std::int64_t>(std::llround(session_interval_ns_));
    const double u = 1.0 - s.arrivals.uniform01();  // (0, 1]
    return static_cast<std::int64_t>(std::llround(-std::log(u) * session_interval_ns_));
}

void Run::start_schedule(SessionState& s) {
    if (!open_loop()) return;
    const std::int64_t offset = config_.poisson ? next_gap_ns(s)
                                                : static_cast<std::int64_t>(1e9 * static_cast<double>(s.index) / config_.rate);
    s.next_intended_ns = schedule_origin_ns_ + offset;
}

bool Run::schedule_next(SessionState& s, WorkerMetrics& m) {
    if (!m.enter()) return false;  // sealed: the run is over
    struct Leave {
        WorkerMetrics& m;
        ~Leave() { m.leave(); }
    } leave{m};
    const std::int64_t warmup_end = warmup_end_ns_.load(std::memory_order_relaxed);
    for (;;) {
        const std::int64_t t = s.next_intended_ns;
        if (!before_window_end(t)) return false;
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

void Run::close_session(SessionState& s, WorkerMetrics& m, std::uint64_t reconnects) {
    if (!m.enter()) return;  // sealed: what the run merged stays as it is
    m.counters.reconnects += reconnects;
    count_unstarted(s, m);
    m.leave();
}

void Run::count_unstarted(SessionState& s, WorkerMetrics& m) {
    if (!open_loop() || s.next_intended_ns == 0) return;  // 0: the schedule never started
    const std::int64_t warmup_end = warmup_end_ns_.load(std::memory_order_relaxed);
    for (std::int64_t t = s.next_intended_ns; before_window_end(t); t += next_gap_ns(s)) {
        if (t < warmup_end) continue;
        ++m.counters.scheduled;
        ++m.counters.unstarted;
    }
}

bool Run::begin_operation(SessionState& s, const OperationKeys& keys) {
    SessionSlot& slot = *slots_[s.index];
    std::uint8_t idle = kIdle;
    if (!slot.state.compare_exchange_strong(idle, kInFlight, std::memory_order_acq_rel)) return false;  // closed
    s.keys = keys;
    s.type = keys.type;
    s.holders = track_keys_ ? in_flight_.acquire(s.index, keys) : 0;
    s.tries = 0;
    s.retried = false;
    slot.op_seq.store(++s.seq, std::memory_order_relaxed);
    s.start_ns = now_ns();
    if (!open_loop()) s.intended_ns = s.start_ns;
    if (timeout_ns_) slot.deadline_ns.store(s.start_ns + timeout_ns_, std::memory_order_release);
    return true;
}

bool Run::should_retry(SessionState& s, const Attempt& attempt) {
    ++s.tries;
    if (attempt.outcome != Outcome::failed || !attempt.retryable || s.tries >= config_.max_tries) return false;
    if (stop_.load(std::memory_order_relaxed) ||
        slots_[s.index]->timed_out_seq.load(std::memory_order_relaxed) == s.seq)
        return false;
    if (!s.retried) s.retried_kinds.fill(0);
    s.retried = true;
    ++s.retried_kinds[static_cast<std::size_t>(attempt.error)];
    return true;
}

void Run::restart_deadline(SessionState& s) {
    if (timeout_ns_) slots_[s.index]->deadline_ns.store(now_ns() + timeout_ns_, std::memory_order_release);
}

// Exponential backoff with jitter between retries: 100 us doubling to at most 10 ms, drawn from the
// upper half of the range so retries of contending sessions spread out.
std::int64_t Run::backoff_ns(SessionState& s) const {
    const std::int64_t cap = std::min<std::int64_t>(10'000'000, 100'000LL << std::min(s.tries - 1, 16));
    return cap / 2 + static_cast<std::int64_t>(s.rng.below(static_cast<std::uint64_t>(cap / 2) + 1));
}

Run::After Run::finish_operation(SessionState& s, WorkerMetrics& m, Attempt attempt,
                                 const std::function<std::string()>& last_error) {
    const std::int64_t end = now_ns();
    // Sealed: the run is over and counted this operation as abandoned (after the window).
    if (!m.enter()) return After::stop;
    struct Leave {
        WorkerMetrics& m;
        ~Leave() { m.leave(); }
    } leave{m};
    SessionSlot& slot = *slots_[s.index];
    slot.state.store(kIdle, std::memory_order_release);
    if (timeout_ns_) slot.deadline_ns.store(0, std::memory_order_release);
    if (track_keys_) in_flight_.release(s.index, s.keys);
    if (attempt.outcome == Outcome::failed && slot.timed_out_seq.load(std::memory_order_relaxed) == s.seq)
        attempt = Attempt::failed(ErrorKind::timeout);

    OutcomeCounters& c = m.counters;
    if (end < warmup_end_ns_.load(std::memory_order_relaxed)) {
        ++c.before_window;
        return stop_.load(std::memory_order_relaxed) ? After::stop : After::next;
    }
    if (end >= measure_end_ns_.load(std::memory_order_relaxed)) {
        ++c.after_window;
        return After::stop;  // the window is closed: do not wait for the monitor to say so
    }

    c.attempts += static_cast<std::uint64_t>(s.tries);
    c.retries += static_cast<std::uint64_t>(s.tries - 1);
    if (s.retried)
        for (std::size_t k = 0; k < kErrorKinds; ++k) c.retried_errors[k] += s.retried_kinds[k];
    if (s.holders) {
        ++c.collision_ops;
        c.collision_count += s.holders;
    }
    const auto latency = static_cast<std::uint64_t>(end - s.intended_ns);
    if (attempt.outcome != Outcome::failed && m.service) {
        m.service->record(static_cast<std::uint64_t>(end - s.start_ns));
        m.lag->record(static_cast<std::uint64_t>(std::max<std::int64_t>(s.start_ns - s.intended_ns, 0)));
    }
    switch (attempt.outcome) {
        case Outcome::committed:
            ++c.committed;
            m.latency.record(latency);
            break;
        case Outcome::rejected:
            ++c.rejected;
            m.latency.record(latency);
            break;
        case Outcome::failed: {
            ++c.failed;
            const auto kind = static_cast<std::size_t>(attempt.error);
            ++c.errors[kind];
            if (m.first_error_by_kind[kind].empty()) {
                m.first_error_by_kind[kind] = last_error();
                if (m.first_error_by_kind[kind].empty())
                    m.first_error_by_kind[kind] = std::string(error_kind_name(attempt.error));
            }
            break;
        }
    }
    if (!m.by_type.empty() && s.type < m.by_type.size()) {
        TypeMetrics& t = m.by_type[s.type];
        t.retries += static_cast<std::uint64_t>(s.tries - 1);
        switch (attempt.outcome) {
            case Outcome::committed: ++t.committed; t.latency.record(latency); break;
            case Outcome::rejected: ++t.rejected; t.latency.record(latency); break;
            case Outcome::failed: ++t.failed; break;
        }
    }
    m.record_interval(attempt.outcome, latency);
    if (s.quota && ++s.counted == s.quota) {
        std::int64_t last = last_completion_ns_.load();
        while (last < end && !last_completion_ns_.compare_exchange_weak(last, end)) {
        }
        quotas_done_.fetch_add(1);
        return After::stop;
    }
    return stop_.load(std::memory_order_relaxed) ? After::stop : After::next;
}

// --- the blocking driver: one thread per session -------------------------------------------------

void Run::sync_worker_main(std::size_t index) {
    std::unique_ptr<WorkerSession> session;
    WorkerMetrics* m = nullptr;
    try {
        m = &make_metrics(index);
        session = workload_->open_session(index);
    } catch (const std::bad_alloc&) {
        session_open_failed("out of memory (ENOMEM) opening session " + std::to_string(index + 1));
        return;
    } catch (const std::exception& e) {
        session_open_failed(e.what());
        return;
    }
    set_interruptible(index, session.get());
    session_opened();
    wait_for_go();
    SessionState s = new_session_state(index);
    if (!stopping()) run_sync_operations(*session, s, *m);
    close_session(s, *m, session->reconnects());
    set_interruptible(index, nullptr);
}

void Run::run_sync_operations(WorkerSession& session, SessionState& s, WorkerMetrics& m) {
    if (has_no_share(s)) return;
    const std::function<std::string()> last_error = [&session] { return session.last_error(); };
    start_schedule(s);
    while (!stopping()) {
        if (open_loop()) {
            if (!schedule_next(s, m)) break;
            wait_until(s.intended_ns);
            if (!before_window_end(s.intended_ns)) break;  // stop() closed the window meanwhile
        }
        if (!begin_operation(s, session.plan(s.rng))) break;
        Attempt attempt = session.attempt();
        while (should_retry(s, attempt)) {
            sleep_ns(backoff_ns(s));
            restart_deadline(s);
            attempt = session.attempt();
        }
        if (finish_operation(s, m, attempt, last_error) == After::stop) break;
    }
}

// Sleeps most of the way (in slices, so a closed window is noticed), then spins the last stretch:
// a sleep alone wakes tens of microseconds late, which at 100k operations/s is a whole gap.
void Run::wait_until(std::int64_t t) const {
    constexpr std::int64_t kSpinNs = 30'000;
    constexpr std::int64_t kSliceNs = 20'000'000;
    for (;;) {
        const std::int64_t left = t - now_ns();
        if (left <= 0 || !before_window_end(t)) return;
        if (left > kSpinNs) sleep_ns(std::min(left - kSpinNs, kSliceNs));
    }
}

// --- the monitor ---------------------------------------------------------------------------------

// Interrupts every session whose attempt is past its deadline. Returns the earliest deadline still
// ahead (INT64_MAX: none), so the monitor wakes for it: a timeout then fires at its deadline, not
// up to a sleep later. (Deadlines set while the monitor sleeps lie a whole timeout ahead, after
// its wake-up.) interrupt() must not block (see Interruptible): this thread also keeps the clock.
std::int64_t Run::watchdog(std::int64_t now) {
    if (timeout_ns_ <= 0) return INT64_MAX;
    std::int64_t next = INT64_MAX;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        SessionSlot& slot = *slots_[i];
        const std::uint64_t seq = slot.op_seq.load(std::memory_order_acquire);
        const std::int64_t deadline = slot.deadline_ns.load(std::memory_order_acquire);
        if (deadline == 0 || interrupted_deadline_[i] == deadline) continue;
        if (now < deadline) {
            next = std::min(next, deadline);
            continue;
        }
        interrupted_deadline_[i] = deadline;
        slot.timed_out_seq.store(seq, std::memory_order_relaxed);
        std::lock_guard lock(slot.target_mutex);
        if (slot.target && slot.op_seq.load(std::memory_order_acquire) == seq) slot.target->interrupt();
    }
    return next;
}

void Run::close_second(std::int64_t now, std::int64_t& last_boundary) {
    merged_interval_.reset();
    for (auto& m : metrics_) {
        IntervalCounts& done = m->swap_interval();
        merged_interval_.merge(done);
        done.reset();
    }
    SecondPoint p;
    p.t_s = static_cast<double>(now - window_open_ns_) / 1e9;
    p.duration_s = static_cast<double>(now - last_boundary) / 1e9;
    p.committed = merged_interval_.committed;
    p.rejected = merged_interval_.rejected;
    p.failed = merged_interval_.failed;
    const LatencyHistogram& h = merged_interval_.latency;
    p.p50_ns = h.value_at_percentile(50);
    p.p95_ns = h.value_at_percentile(95);
    p.p99_ns = h.value_at_percentile(99);
    p.max_ns = h.max();
    last_boundary = now;
    series_.push_back(p);

    std::lock_guard lock(progress_mutex_);
    progress_.committed += p.committed;
    progress_.last_second_tps = p.duration_s > 0 ? static_cast<double>(p.committed) / p.duration_s : 0;
    progress_.last_second_p99_ns = p.p99_ns;
}

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
    while (opened_.load() + open_failed_.load() < n) {
        if (stop_.load()) break;
        sleep_ns(1'000'000);
    }
    if (open_failed_.load() > 0 || stop_.load()) {
        abort_opening();
        std::lock_guard lock(open_error_mutex_);
        result.error = open_error_.empty() ? "interrupted while opening sessions" : open_error_;
        result.interrupted = interrupted_.load();
        finish(std::move(result));
        return;
    }

    const std::int64_t t0 = now_ns();
    const std::int64_t t0_unix = unix_now_ns();
    schedule_origin_ns_ = t0;
    window_open_ns_ = t0 + seconds_to_ns(config_.warmup_s);
    warmup_end_ns_ = window_open_ns_;
    // stop() may already have moved the end earlier; keep the earlier of the two.
    std::int64_t planned_end = window_open_ns_ + seconds_to_ns(config_.measure_s);
    std::int64_t expected = INT64_MAX;
    measure_end_ns_.compare_exchange_strong(expected, planned_end);
    {
        std::lock_guard lock(progress_mutex_);
        progress_.phase = config_.warmup_s > 0 ? RunPhase::warmup : RunPhase::measuring;
        phase_started_ns_ = t0;
    }
    go_ = true;
    go_.notify_all();

    // Phase 2: warmup, then the measured window cut into seconds; watchdog every tick.
    std::int64_t last_boundary = window_open_ns_;
    std::int64_t next_boundary = window_open_ns_ + kSecondNs;
    bool measuring = false;
    double cpu_at_open = 0;
    for (;;) {
        const std::int64_t now = now_ns();
        const std::int64_t end = measure_end_ns_.load();
        const std::int64_t next_deadline = watchdog(now);
        tick(now);
        if (now >= end) break;
        if (config_.operations > 0 && quotas_done_.load() == n) {
            // Every session completed its share: the window closed with the last completion.
            std::int64_t expected_end = end;
            measure_end_ns_.compare_exchange_strong(expected_end,
                                                    std::max(last_completion_ns_.load() + 1, window_open_ns_));
            break;
        }
        if (!measuring && now >= window_open_ns_) {
            measuring = true;
            cpu_at_open = process_cpu_seconds();
            std::lock_guard lock(progress_mutex_);
            progress_.phase = RunPhase::measuring;
            phase_started_ns_ = window_open_ns_;
        }
        if (measuring && now >= next_boundary) {
            close_second(now, last_boundary);
            next_boundary += kSecondNs;
            if (next_boundary <= now) next_boundary = now + kSecondNs;  // the monitor was descheduled
            continue;
        }
        const std::int64_t wake =
            std::min({now + monitor_sleep_ns_, end, measuring ? next_boundary : window_open_ns_, next_deadline});
        monitor_sleep(std::max<std::int64_t>(wake - now, 0));
    }
    const double cpu_at_close = process_cpu_seconds();

    // Phase 3: sessions finish the operation in hand (not counted: it ends after the window),
    // within the stop's bound.
    {
        std::lock_guard lock(progress_mutex_);
        progress_.phase = RunPhase::stopping;
    }
    const std::uint64_t abandoned = stop_sessions();

    const std::int64_t end = measure_end_ns_.load();
    if (end > last_boundary) close_second(end, last_boundary);

    result.interrupted = interrupted_.load();
    result.warmup_s = static_cast<double>(std::min(end, window_open_ns_) - t0) / 1e9;
    result.measured_s = static_cast<double>(std::max<std::int64_t>(end - window_open_ns_, 0)) / 1e9;
    if (end > window_open_ns_) {
        result.window_start_unix_ns = t0_unix + (window_open_ns_ - t0);
        result.window_end_unix_ns = t0_unix + (end - t0);
    }
    result.cpu_s = measuring ? cpu_at_close - cpu_at_open : 0;
    result.sessions = config_.concurrency;
    result.threads = thread_count_;
    result.collisions_exact = in_flight_.exact();
    result.type_names = type_names_;
    result.by_type.resize(type_names_.size());
    for (auto& m : metrics_) {
        for (std::size_t t = 0; t < m->by_type.size(); ++t) result.by_type[t].merge(m->by_type[t]);
        result.counters.merge(m->counters);
        result.latency.merge(m->latency);
        if (m->service) {
            result.service.merge(*m->service);
            result.lag.merge(*m->lag);
        }
        for (std::size_t k = 0; k < kErrorKinds; ++k)
            if (result.error_examples[k].empty()) result.error_examples[k] = m->first_error_by_kind[k];
    }
    result.abandoned = abandoned;
    result.counters.after_window += abandoned;
    result.series = std::move(series_);
    finish(std::move(result));
}

// A sleep that stop() cuts short: a futex wait on wake_word_, which stop() bumps and wakes (both
// async-signal-safe), so the window closes when the signal comes, not at the next tick.
void Run::monitor_sleep(std::int64_t ns) {
#ifdef __linux__
    const std::uint32_t seen = wake_word_.load(std::memory_order_acquire);
    if (interrupted_.load()) return;
    const timespec timeout{static_cast<time_t>(ns / kSecondNs), static_cast<long>(ns % kSecondNs)};
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_word_), FUTEX_WAIT_PRIVATE, seen, &timeout, nullptr, 0);
#else
    sleep_ns(ns);
#endif
}

bool Run::wait_threads(std::int64_t deadline) {
    for (;;) {
        const std::int64_t now = now_ns();
        watchdog(now);
        tick(now);
        if (running_.load() == 0) return true;
        if (now >= deadline) return false;
        sleep_ns(1'000'000);
    }
}

std::uint64_t Run::stop_sessions() {
    stop_ = true;
    if (!wait_threads(now_ns() + kStopGraceNs)) {
        // On a thread of its own: an interrupt may block (a cancel request to a server that does
        // not answer), and the stop must not.
        interrupter_ = std::thread([this] {
            interrupt_in_flight();
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
    std::uint64_t abandoned = 0;
    for (auto& slot : slots_) {
        for (;;) {
            std::uint8_t state = slot->state.load();
            std::uint8_t next = state;
            if (state == kInFlight) next = kAbandoned;
            else if (state == kIdle) next = kClosed;
            if (next == state) break;
            if (slot->state.compare_exchange_strong(state, next)) {
                abandoned += next == kAbandoned;
                break;
            }
        }
    }
    join_finished_threads();
    return abandoned;
}

// Opening was called off (stop(), or a session that could not open): the sessions that opened
// close; those still opening get kOpenAbortGrace, then the run gives up on them. An event loop
// still waiting for opens after a moment is stopped (its thread then closes what opened).
void Run::abort_opening() {
    stop_ = true;
    go_ = true;
    go_.notify_all();
    const std::int64_t begun = now_ns();
    if (!wait_threads(begun + kOpenAbortGraceNs / 5) && async_threads_) {
        loops_stopped_.store(true);
        for (auto& io : async_threads_->contexts) io->stop();
    }
    wait_threads(begun + kOpenAbortGraceNs);
    join_finished_threads();
}

void Run::interrupt_in_flight() {
    for (auto& slot : slots_) {
        if (slot->state.load() != kInFlight) continue;
        std::lock_guard lock(slot->target_mutex);
        if (slot->target) slot->target->interrupt();
    }
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
    {
        std::lock_guard lock(progress_mutex_);
        progress_.phase = RunPhase::done;
    }
    std::lock_guard lock(done_mutex_);
    result_ = std::move(result);
    done_ = true;
    done_cv_.notify_all();
}

Progress Run::progress() const {
    std::lock_guard lock(progress_mutex_);
    Progress p = progress_;
    p.reconnects = g_reconnect_events.load(std::memory_order_relaxed) - reconnects_at_start_;
    p.elapsed_s = static_cast<double>(now_ns() - phase_started_ns_) / 1e9;
    return p;
}

void Run::stop() {
    interrupted_ = true;
    const std::int64_t now = now_ns();
    std::int64_t end = measure_end_ns_.load();
    while (now < end && !measure_end_ns_.compare_exchange_weak(end, now)) {
    }
    if (!go_.load()) stop_ = true;  // still opening sessions: give up on them
    wake_word_.fetch_add(1, std::memory_order_release);
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_word_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
#endif
}

bool Run::wait_for(double seconds) {
    std::unique_lock lock(done_mutex_);
    return done_cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return done_; });
}

RunResult Run::take_result() {
    std::unique_lock lock(done_mutex_);
    if (!done_) throw std::logic_error("run: not finished");
    if (monitor_.joinable()) {
        lock.unlock();
        monitor_.join();
    }
    return std::move(result_);
}

}  // namespace loadbench
