// Dicts out: the run's result (counters, histograms, series, per type) and its progress.
#include "bindings/common.hpp"

#include <array>
#include <vector>

namespace loadbench::bindings {

namespace {

constexpr double kReportedPercentiles[] = {50, 90, 95, 99, 99.9, 99.99};

std::string percentile_key(double p) {
    std::string s = py::cast<std::string>(py::str("{:g}").format(p));
    return s;
}

py::dict histogram_dict(const LatencyHistogram& h) {
    py::dict out;
    out["count"] = h.count();
    out["min_ns"] = h.min();
    out["max_ns"] = h.max();
    out["mean_ns"] = h.mean();
    out["stddev_ns"] = h.stddev();
    out["clamped"] = h.clamped();
    py::dict percentiles;
    for (double p : kReportedPercentiles) percentiles[py::str(percentile_key(p))] = h.value_at_percentile(p);
    out["percentiles_ns"] = percentiles;
    out["significant_figures"] = h.significant_figures();
    out["highest_trackable_ns"] = h.highest_trackable();
    py::list buckets;
    h.for_each_bucket([&](std::uint64_t value, std::uint64_t count) { buckets.append(py::make_tuple(value, count)); });
    out["buckets"] = buckets;
    return out;
}

py::dict by_kind(const std::array<std::uint64_t, kErrorKinds>& counts) {
    py::dict out;
    for (std::size_t k = 1; k < kErrorKinds; ++k)
        if (counts[k]) out[py::str(std::string(error_kind_name(static_cast<ErrorKind>(k))))] = counts[k];
    return out;
}

const char* phase_name(RunPhase phase) {
    switch (phase) {
        case RunPhase::opening: return "opening";
        case RunPhase::warmup: return "warmup";
        case RunPhase::measuring: return "measuring";
        case RunPhase::stopping: return "stopping";
        case RunPhase::done: return "done";
    }
    return "?";
}

}  // namespace

py::dict result_dict(const RunResult& r) {
    const OutcomeCounters& c = r.counters;
    py::dict out;
    out["error"] = r.error;
    out["interrupted"] = r.interrupted;
    out["warmup_s"] = r.warmup_s;
    out["measured_s"] = r.measured_s;
    out["window_start_unix_ns"] = r.window_start_unix_ns;
    out["window_end_unix_ns"] = r.window_end_unix_ns;
    out["sessions"] = r.sessions;
    out["threads"] = r.threads;
    out["cpu_s"] = r.cpu_s;
    out["reconnects"] = c.reconnects;
    out["committed"] = c.committed;
    out["rejected"] = c.rejected;
    out["failed"] = c.failed;
    out["attempts"] = c.attempts;
    out["retries"] = c.retries;
    out["before_window"] = c.before_window;
    out["after_window"] = c.after_window;
    out["errors"] = by_kind(c.errors);
    out["retried_errors"] = by_kind(c.retried_errors);
    py::dict examples;
    for (std::size_t k = 1; k < kErrorKinds; ++k)
        if (!r.error_examples[k].empty())
            examples[py::str(std::string(error_kind_name(static_cast<ErrorKind>(k))))] = r.error_examples[k];
    out["error_examples"] = examples;
    out["collision_ops"] = c.collision_ops;
    out["collision_count"] = c.collision_count;
    out["collisions_exact"] = r.collisions_exact;
    out["abandoned"] = r.abandoned;
    out["latency"] = histogram_dict(r.latency);
    if (r.service.count() || r.lag.count()) {
        out["service"] = histogram_dict(r.service);
        out["lag"] = histogram_dict(r.lag);
    } else {
        out["service"] = py::none();
        out["lag"] = py::none();
    }
    py::list by_type;
    for (std::size_t t = 0; t < r.by_type.size(); ++t) {
        const TypeMetrics& m = r.by_type[t];
        py::dict type;
        type["name"] = r.type_names[t];
        type["committed"] = m.committed;
        type["rejected"] = m.rejected;
        type["failed"] = m.failed;
        type["retries"] = m.retries;
        type["latency"] = histogram_dict(m.latency);
        by_type.append(type);
    }
    out["operations"] = by_type;
    out["scheduled"] = c.scheduled;
    out["dropped"] = c.dropped;
    out["unstarted"] = c.unstarted;
    py::list series;
    for (const SecondPoint& p : r.series) {
        py::dict point;
        point["t_s"] = p.t_s;
        point["duration_s"] = p.duration_s;
        point["committed"] = p.committed;
        point["rejected"] = p.rejected;
        point["failed"] = p.failed;
        point["p50_ns"] = p.p50_ns;
        point["p95_ns"] = p.p95_ns;
        point["p99_ns"] = p.p99_ns;
        point["max_ns"] = p.max_ns;
        series.append(point);
    }
    out["series"] = series;
    return out;
}

py::dict progress_dict(const Progress& p) {
    py::dict out;
    out["phase"] = phase_name(p.phase);
    out["elapsed_s"] = p.elapsed_s;
    out["committed"] = p.committed;
    out["last_second_tps"] = p.last_second_tps;
    out["last_second_p99_ns"] = p.last_second_p99_ns;
    out["reconnects"] = p.reconnects;
    return out;
}

void register_results(py::module_& m) {
    m.attr("REPORTED_PERCENTILES") = py::cast(std::vector<double>(std::begin(kReportedPercentiles),
                                                                  std::end(kReportedPercentiles)));
}

}  // namespace loadbench::bindings
