#include "engine/session_loop.hpp"

#include <algorithm>

namespace loadbench {

SessionLoop::SessionLoop(const RunConfig& config, Timeline& timeline, bool track_keys)
    : config_(config),
      timeline_(timeline),
      arrivals_(config),
      in_flight_(config.concurrency),
      track_keys_(track_keys),
      timeout_ns_(seconds_to_ns(config.op_timeout_seconds)) {
    for (std::size_t i = 0; i < config_.concurrency; ++i) slots_.push_back(std::make_unique<SessionSlot>());
    interrupted_deadline_.assign(config_.concurrency, 0);
}

std::size_t SessionLoop::bytes_per_session() {
    return sizeof(SessionSlot) + sizeof(std::unique_ptr<SessionSlot>) + sizeof(std::int64_t);
}

SessionState SessionLoop::new_session_state(std::size_t index) const {
    SessionState s;
    s.index = index;
    s.rng = Rng::for_stream(config_.seed, config_.stream_offset + index);
    s.arrivals = Rng::for_stream(config_.seed ^ 0x5EEDA771FA11ULL, config_.stream_offset + index);
    const std::uint64_t n = config_.concurrency;
    s.quota = config_.operations / n + (index < config_.operations % n ? 1 : 0);
    return s;
}

bool SessionLoop::has_no_share(const SessionState& s) {
    if (config_.operations == 0 || s.quota > 0) return false;
    quotas_done_.fetch_add(1);
    return true;
}

void SessionLoop::set_interruptible(std::size_t session, Interruptible* target) {
    SessionSlot& slot = *slots_[session];
    std::lock_guard lock(slot.target_mutex);
    slot.target = target;
}

void SessionLoop::sessions_open_failed(std::size_t count, const std::string& error) {
    {
        std::lock_guard lock(open_error_mutex_);
        if (open_error_.empty()) open_error_ = error;
    }
    open_failed_.fetch_add(static_cast<int>(count));
}

std::string SessionLoop::open_error() const {
    std::lock_guard lock(open_error_mutex_);
    return open_error_;
}

void SessionLoop::close_session(SessionState& s, WorkerMetrics& m, std::uint64_t reconnects) {
    if (!m.enter()) return;  // sealed: what the run merged stays as it is
    m.counters.reconnects += reconnects;
    arrivals_.count_unstarted(s, m, timeline_);
    m.leave();
}

bool SessionLoop::begin_operation(SessionState& s, const OperationKeys& keys) {
    const std::int64_t start = now_ns();
    // A closed loop begins nothing once the window has closed (before the monitor says stop):
    // the operation would belong to no window. (An open loop checked its intended start.)
    if (!open_loop() && !timeline_.before_window_end(start)) return false;
    if (!open_loop()) s.intended_ns = start;
    SessionSlot& slot = *slots_[s.index];
    // Where the operation belongs, before it is in flight: close_all() reads it once it claims it.
    slot.intended_ns.store(s.intended_ns, std::memory_order_relaxed);
    slot.type.store(keys.type, std::memory_order_relaxed);
    std::uint8_t idle = kIdle;
    if (!slot.state.compare_exchange_strong(idle, kInFlight, std::memory_order_acq_rel)) return false;  // closed
    s.keys = keys;
    s.type = keys.type;
    s.holders = track_keys_ ? in_flight_.acquire(s.index, keys) : 0;
    s.tries = 0;
    s.retried = false;
    slot.op_seq.store(++s.seq, std::memory_order_relaxed);
    s.start_ns = start;
    // Only the first operations of the run write: after them every start is later, a plain load.
    for (std::int64_t first = first_start_ns_.load(std::memory_order_relaxed);
         s.start_ns < first && !first_start_ns_.compare_exchange_weak(first, s.start_ns);) {
    }
    if (timeout_ns_) slot.deadline_ns.store(s.start_ns + timeout_ns_, std::memory_order_release);
    return true;
}

bool SessionLoop::should_retry(SessionState& s, const Attempt& attempt) {
    ++s.tries;
    if (attempt.outcome != Outcome::failed || !attempt.retryable || s.tries >= config_.max_tries) return false;
    // The drain after the window retries too (the operation's outcome must not depend on where the
    // window ended); an interrupted run, a timeout or the drain's end does not.
    const SessionSlot& slot = *slots_[s.index];
    if (timeline_.interrupted() || slot.timed_out_seq.load(std::memory_order_relaxed) == s.seq ||
        slot.unfinished_seq.load(std::memory_order_relaxed) == s.seq)
        return false;
    if (!s.retried) s.retried_kinds.fill(0);
    s.retried = true;
    ++s.retried_kinds[static_cast<std::size_t>(attempt.error)];
    return true;
}

void SessionLoop::restart_deadline(SessionState& s) {
    if (timeout_ns_) slots_[s.index]->deadline_ns.store(now_ns() + timeout_ns_, std::memory_order_release);
}

// Exponential backoff with jitter between retries: 100 us doubling to at most 10 ms, drawn from the
// upper half of the range so retries of contending sessions spread out.
std::int64_t SessionLoop::backoff_ns(SessionState& s) const {
    const std::int64_t cap = std::min<std::int64_t>(10'000'000, 100'000LL << std::min(s.tries - 1, 16));
    return cap / 2 + static_cast<std::int64_t>(s.rng.below(static_cast<std::uint64_t>(cap / 2) + 1));
}

SessionLoop::After SessionLoop::finish_operation(SessionState& s, WorkerMetrics& m, Attempt attempt,
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
    if (attempt.outcome == Outcome::failed) {
        if (slot.timed_out_seq.load(std::memory_order_relaxed) == s.seq) attempt = Attempt::failed(ErrorKind::timeout);
        else if (slot.unfinished_seq.load(std::memory_order_relaxed) == s.seq)
            attempt = Attempt::failed(ErrorKind::unfinished);
    }

    // Where the operation belongs: where it began (open loop: was intended to begin).
    OutcomeCounters& c = m.counters;
    const bool window_closed = !timeline_.before_window_end(end);
    if (s.intended_ns < timeline_.warmup_end_ns()) {
        ++c.before_window;
        return timeline_.stopping() || window_closed ? After::stop : After::next;
    }
    if (!timeline_.before_window_end(s.intended_ns)) {
        ++c.after_window;
        return After::stop;
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
    if (window_closed) {
        ++c.drained;
        c.drained_max_ns = std::max(c.drained_max_ns, latency);
    }
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
    m.record_interval(attempt.outcome, attempt.error, latency);
    if (s.quota && ++s.counted == s.quota) {
        std::int64_t last = last_completion_ns_.load();
        while (last < end && !last_completion_ns_.compare_exchange_weak(last, end)) {
        }
        quotas_done_.fetch_add(1);
        return After::stop;
    }
    // The window is closed: do not wait for the monitor to say so.
    return timeline_.stopping() || window_closed ? After::stop : After::next;
}

// Interrupts every session whose attempt is past its deadline. Returns the earliest deadline still
// ahead (INT64_MAX: none), so the monitor wakes for it: a timeout then fires at its deadline, not
// up to a sleep later. (Deadlines set while the monitor sleeps lie a whole timeout ahead, after
// its wake-up.) interrupt() must not block (see Interruptible): this thread also keeps the clock.
std::int64_t SessionLoop::watchdog(std::int64_t now) {
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

void SessionLoop::interrupt_in_flight() {
    for (auto& slot : slots_) {
        if (slot->state.load() != kInFlight) continue;
        slot->unfinished_seq.store(slot->op_seq.load(std::memory_order_acquire), std::memory_order_relaxed);
        std::lock_guard lock(slot->target_mutex);
        if (slot->target) slot->target->interrupt();
    }
}

SessionLoop::Abandoned SessionLoop::close_all() {
    Abandoned abandoned;
    auto claim = [&](const SessionSlot& slot) {
        // The slot's fields were written before its state became in flight (acquired by the CAS).
        const std::int64_t intended = slot.intended_ns.load(std::memory_order_relaxed);
        if (intended < timeline_.warmup_end_ns()) {
            ++abandoned.before_window;
        } else if (!timeline_.before_window_end(intended)) {
            ++abandoned.after_window;
        } else {
            ++abandoned.in_window;
            const std::uint8_t type = slot.type.load(std::memory_order_relaxed);
            if (abandoned.by_type.size() <= type) abandoned.by_type.resize(type + 1u);
            ++abandoned.by_type[type];
        }
    };
    for (auto& slot : slots_) {
        for (;;) {
            std::uint8_t state = slot->state.load();
            std::uint8_t next = state;
            if (state == kInFlight) next = kAbandoned;
            else if (state == kIdle) next = kClosed;
            if (next == state) break;
            if (slot->state.compare_exchange_strong(state, next)) {
                if (next == kAbandoned) claim(*slot);
                break;
            }
        }
    }
    return abandoned;
}

}  // namespace loadbench
