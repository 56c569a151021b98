#include "engine/monitor.hpp"

#include "engine/connection_events.hpp"
#include "engine/timeline.hpp"

namespace loadbench {

void Monitor::started(std::int64_t now) {
    reconnects_at_start_ = g_reconnect_events.load(std::memory_order_relaxed);
    std::lock_guard lock(progress_mutex_);
    phase_started_ns_ = now;
}

void Monitor::enter_phase(RunPhase phase, std::int64_t since) {
    std::lock_guard lock(progress_mutex_);
    progress_.phase = phase;
    phase_started_ns_ = since;
}

void Monitor::enter_phase(RunPhase phase) {
    std::lock_guard lock(progress_mutex_);
    progress_.phase = phase;
}

std::int64_t Monitor::watch(std::int64_t now) {
    const std::int64_t next_deadline = loop_.watchdog(now);
    tick(now);
    return next_deadline;
}

void Monitor::tick(std::int64_t now) {
    constexpr std::int64_t kTickNs = 250'000'000;
    if (!on_tick_ || now - last_tick_ns_ < kTickNs) return;
    last_tick_ns_ = now;
    on_tick_(progress());
}

void Monitor::close_second(std::int64_t now, std::int64_t& last_boundary, std::int64_t window_open,
                           const std::vector<std::unique_ptr<WorkerMetrics>>& metrics) {
    merged_interval_.reset();
    for (auto& m : metrics) {
        IntervalCounts& done = m->swap_interval();
        merged_interval_.merge(done);
        done.reset();
    }
    SecondPoint p;
    p.t_s = static_cast<double>(now - window_open) / 1e9;
    p.duration_s = static_cast<double>(now - last_boundary) / 1e9;
    p.committed = merged_interval_.committed;
    p.rejected = merged_interval_.rejected;
    p.failed = merged_interval_.failed;
    p.errors = merged_interval_.errors;
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

Progress Monitor::progress() const {
    std::lock_guard lock(progress_mutex_);
    Progress p = progress_;
    p.reconnects = g_reconnect_events.load(std::memory_order_relaxed) - reconnects_at_start_;
    p.elapsed_s = static_cast<double>(now_ns() - phase_started_ns_) / 1e9;
    return p;
}

void Monitor::merge(const std::vector<std::unique_ptr<WorkerMetrics>>& metrics, RunResult& result) {
    result.by_type.resize(result.type_names.size());
    for (auto& m : metrics) {
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
}

}  // namespace loadbench
