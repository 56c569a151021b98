#include "engine/run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#ifdef __linux__
#include <sched.h>
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

std::int64_t seconds_to_ns(double s) { return static_cast<std::int64_t>(std::llround(s * 1e9)); }

void sleep_ns(std::int64_t ns) { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); }

// Exponential backoff with jitter between retries: 100 us doubling to at most 10 ms, drawn from the
// upper half of the range so retries of contending workers spread out.
void backoff(Rng& rng, int tries) {
    const std::int64_t cap = std::min<std::int64_t>(10'000'000, 100'000LL << std::min(tries - 1, 16));
    sleep_ns(cap / 2 + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(cap / 2) + 1)));
}

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
}

Run::Run(RunConfig config, std::shared_ptr<Workload> workload)
    : config_(config), workload_(std::move(workload)), in_flight_(config.concurrency) {
    if (!workload_) throw std::invalid_argument("run: no workload");
    if (config_.concurrency < 1) throw std::invalid_argument("run: concurrency must be >= 1");
    if (!(config_.measure_s > 0)) throw std::invalid_argument("run: the measured window must be > 0 s");
    if (!(config_.warmup_s >= 0)) throw std::invalid_argument("run: warmup must be >= 0 s");
    if (config_.max_tries < 1) throw std::invalid_argument("run: max tries must be >= 1");
    if (!(config_.op_timeout_s >= 0)) throw std::invalid_argument("run: operation timeout must be >= 0 s");
    for (std::size_t i = 0; i < config_.concurrency; ++i) {
        metrics_.push_back(std::make_unique<WorkerMetrics>());
        slots_.push_back(std::make_unique<WorkerSlot>());
    }
    interrupted_deadline_.assign(config_.concurrency, 0);
    const std::int64_t timeout_ns = seconds_to_ns(config_.op_timeout_s);
    monitor_sleep_ns_ = timeout_ns > 0 ? std::clamp(timeout_ns / 10, kMinSleepNs, kMaxSleepNs) : kMaxSleepNs;
}

Run::~Run() {
    if (!started_) return;
    stop();
    if (monitor_.joinable()) monitor_.join();
}

void Run::start() { launch(0); }

RunResult Run::run(std::function<void(const Progress&)> on_tick) {
    on_tick_ = std::move(on_tick);
    launch(1);
    worker_main(0);
    while (!wait_for(3600)) {
    }
    return take_result();
}

void Run::launch(std::size_t first_threaded_worker) {
    if (started_) throw std::logic_error("run: already started");
    started_ = true;
    phase_started_ns_ = now_ns();
    running_ = static_cast<int>(config_.concurrency);
    workers_.reserve(config_.concurrency);
    monitor_ = std::thread([this] { monitor_main(); });
    monitor_ready_.wait(false);
    for (std::size_t i = first_threaded_worker; i < config_.concurrency; ++i)
        workers_.emplace_back([this, i] { worker_main(i); });
    workers_launched_.store(true);
    workers_launched_.notify_all();
}

void Run::tick(std::int64_t now) {
    constexpr std::int64_t kTickNs = 250'000'000;
    if (!on_tick_ || now - last_tick_ns_ < kTickNs) return;
    last_tick_ns_ = now;
    on_tick_(progress());
}

void Run::worker_main(std::size_t index) {
    WorkerSlot& slot = *slots_[index];
    std::unique_ptr<WorkerSession> session;
    try {
        session = workload_->open_session(index);
    } catch (const std::exception& e) {
        {
            std::lock_guard lock(open_error_mutex_);
            if (open_error_.empty()) open_error_ = e.what();
        }
        open_failed_.fetch_add(1);
        running_.fetch_sub(1);
        return;
    }
    {
        std::lock_guard lock(slot.session_mutex);
        slot.session = session.get();
    }
    opened_.fetch_add(1);
    go_.wait(false);
    if (!stop_.load()) run_operations(index, *session);
    {
        std::lock_guard lock(slot.session_mutex);
        slot.session = nullptr;
    }
    session.reset();  // close before reporting the worker gone
    running_.fetch_sub(1);
}

void Run::run_operations(std::size_t index, WorkerSession& session) {
    WorkerSlot& slot = *slots_[index];
    WorkerMetrics& m = *metrics_[index];
    Rng rng = Rng::for_stream(config_.seed, index);
    const bool track_keys = workload_->key_space() > 0;
    const std::int64_t timeout_ns = seconds_to_ns(config_.op_timeout_s);
    const std::int64_t warmup_end = warmup_end_ns_.load();
    std::uint64_t seq = 0;
    std::array<std::uint32_t, kErrorKinds> retried_kinds{};
    const std::uint64_t workers = config_.concurrency;
    const std::uint64_t quota = config_.operations / workers + (index < config_.operations % workers ? 1 : 0);
    std::uint64_t counted = 0;
    if (config_.operations > 0 && quota == 0) {
        quotas_done_.fetch_add(1);
        return;
    }

    while (!stop_.load(std::memory_order_relaxed)) {
        const OperationKeys keys = session.plan(rng);
        const std::uint64_t holders = track_keys ? in_flight_.acquire(index, keys) : 0;

        slot.op_seq.store(++seq, std::memory_order_relaxed);
        const std::int64_t start = now_ns();
        if (timeout_ns) slot.deadline_ns.store(start + timeout_ns, std::memory_order_release);

        Attempt attempt;
        int tries = 0;
        bool retried = false;
        for (;;) {
            attempt = session.attempt();
            ++tries;
            if (attempt.outcome != Outcome::failed || !attempt.retryable || tries >= config_.max_tries) break;
            if (stop_.load(std::memory_order_relaxed) || slot.timed_out_seq.load(std::memory_order_relaxed) == seq)
                break;
            if (!retried) retried_kinds.fill(0);
            retried = true;
            ++retried_kinds[static_cast<std::size_t>(attempt.error)];
            backoff(rng, tries);
            if (timeout_ns) slot.deadline_ns.store(now_ns() + timeout_ns, std::memory_order_release);
        }
        const std::int64_t end = now_ns();
        if (timeout_ns) slot.deadline_ns.store(0, std::memory_order_release);
        if (track_keys) in_flight_.release(index, keys);
        if (attempt.outcome == Outcome::failed && slot.timed_out_seq.load(std::memory_order_relaxed) == seq)
            attempt = Attempt::failed(ErrorKind::timeout);

        if (end < warmup_end) {
            ++m.counters.before_window;
            continue;
        }
        if (end >= measure_end_ns_.load(std::memory_order_relaxed)) {
            ++m.counters.after_window;
            break;  // the window is closed: do not wait for the monitor to say so
        }

        OutcomeCounters& c = m.counters;
        c.attempts += static_cast<std::uint64_t>(tries);
        c.retries += static_cast<std::uint64_t>(tries - 1);
        if (retried)
            for (std::size_t k = 0; k < kErrorKinds; ++k) c.retried_errors[k] += retried_kinds[k];
        if (holders) {
            ++c.collision_ops;
            c.collision_count += holders;
        }
        const auto latency = static_cast<std::uint64_t>(end - start);
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
                    m.first_error_by_kind[kind] = session.last_error();
                    if (m.first_error_by_kind[kind].empty()) m.first_error_by_kind[kind] = std::string(error_kind_name(attempt.error));
                }
                break;
            }
        }
        m.record_interval(attempt.outcome, latency);
        if (quota && ++counted == quota) {
            std::int64_t last = last_completion_ns_.load();
            while (last < end && !last_completion_ns_.compare_exchange_weak(last, end)) {
            }
            quotas_done_.fetch_add(1);
            break;
        }
    }
}

void Run::watchdog(std::int64_t now) {
    if (config_.op_timeout_s <= 0) return;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        WorkerSlot& slot = *slots_[i];
        const std::uint64_t seq = slot.op_seq.load(std::memory_order_acquire);
        const std::int64_t deadline = slot.deadline_ns.load(std::memory_order_acquire);
        if (deadline == 0 || now < deadline || interrupted_deadline_[i] == deadline) continue;
        interrupted_deadline_[i] = deadline;
        slot.timed_out_seq.store(seq, std::memory_order_relaxed);
        std::lock_guard lock(slot.session_mutex);
        if (slot.session && slot.op_seq.load(std::memory_order_acquire) == seq) slot.session->interrupt();
    }
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
    // descriptor of the sessions, and it copies the table before any session opens one.
    unshare(CLONE_FILES);
#endif
    monitor_ready_.store(true);
    monitor_ready_.notify_all();
    workers_launched_.wait(false);  // workers_ is complete from here on
    RunResult result;
    const int n = static_cast<int>(config_.concurrency);

    // Phase 1: every session opens before the clock starts, so connection time is never measured.
    while (opened_.load() + open_failed_.load() < n) {
        if (stop_.load()) break;
        sleep_ns(1'000'000);
    }
    if (open_failed_.load() > 0 || stop_.load()) {
        stop_ = true;
        go_ = true;
        go_.notify_all();
        for (auto& t : workers_) t.join();
        std::lock_guard lock(open_error_mutex_);
        result.error = open_error_;
        result.interrupted = interrupted_.load();
        finish(std::move(result));
        return;
    }

    const std::int64_t t0 = now_ns();
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
    for (;;) {
        const std::int64_t now = now_ns();
        const std::int64_t end = measure_end_ns_.load();
        watchdog(now);
        tick(now);
        if (now >= end) break;
        if (config_.operations > 0 && quotas_done_.load() == n) {
            // Every worker completed its share: the window closed with the last completion.
            std::int64_t expected_end = end;
            measure_end_ns_.compare_exchange_strong(expected_end, std::max(last_completion_ns_.load() + 1, window_open_ns_));
            break;
        }
        if (!measuring && now >= window_open_ns_) {
            measuring = true;
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
        const std::int64_t wake = std::min({now + monitor_sleep_ns_, end, measuring ? next_boundary : window_open_ns_});
        sleep_ns(std::max<std::int64_t>(wake - now, 0));
    }

    // Phase 3: workers finish the operation in hand (not counted: it ends after the window).
    stop_ = true;
    {
        std::lock_guard lock(progress_mutex_);
        progress_.phase = RunPhase::stopping;
    }
    while (running_.load() > 0) {
        watchdog(now_ns());
        tick(now_ns());
        sleep_ns(1'000'000);
    }
    for (auto& t : workers_) t.join();

    const std::int64_t end = measure_end_ns_.load();
    if (end > last_boundary) close_second(end, last_boundary);

    result.interrupted = interrupted_.load();
    result.warmup_s = static_cast<double>(std::min(end, window_open_ns_) - t0) / 1e9;
    result.measured_s = static_cast<double>(std::max<std::int64_t>(end - window_open_ns_, 0)) / 1e9;
    result.sessions = config_.concurrency;
    result.collisions_exact = in_flight_.exact();
    for (auto& m : metrics_) {
        result.counters.merge(m->counters);
        result.latency.merge(m->latency);
        for (std::size_t k = 0; k < kErrorKinds; ++k)
            if (result.error_examples[k].empty()) result.error_examples[k] = m->first_error_by_kind[k];
    }
    result.series = std::move(series_);
    finish(std::move(result));
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
