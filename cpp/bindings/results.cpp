// The run's result as Python sees it: RunResult (counters, histogram summaries, the per-second
// series, per operation type), built once when the run ends; and ErrorKind. Read-only fields,
// keyword-only constructors (for tests and tools that build one), units in the names.
#include "bindings/common.hpp"

#include <array>
#include <iterator>
#include <vector>

namespace loadbench::bindings {

namespace {

constexpr double kReportedPercentiles[] = {50, 90, 95, 99, 99.9, 99.99};

std::string percentile_key(double p) { return py::cast<std::string>(py::str("{:g}").format(p)); }

HistogramSummary summary_of(const LatencyHistogram& h) {
    HistogramSummary s;
    s.count = h.count();
    s.min_ns = h.min();
    s.max_ns = h.max();
    s.mean_ns = h.mean();
    s.stddev_ns = h.stddev();
    s.clamped = h.clamped();
    for (double p : kReportedPercentiles) s.percentiles_ns[percentile_key(p)] = h.value_at_percentile(p);
    s.significant_figures = h.significant_figures();
    s.highest_trackable_ns = h.highest_trackable();
    h.for_each_bucket([&](std::uint64_t value, std::uint64_t count) { s.buckets.emplace_back(value, count); });
    return s;
}

using ByKind = std::map<ErrorKind, std::uint64_t>;

ByKind by_kind(const std::array<std::uint64_t, kErrorKinds>& counts) {
    ByKind out;
    for (std::size_t k = 1; k < kErrorKinds; ++k)
        if (counts[k]) out[static_cast<ErrorKind>(k)] = counts[k];
    return out;
}

std::array<std::uint64_t, kErrorKinds> counts_of(const ByKind& by) {
    std::array<std::uint64_t, kErrorKinds> out{};
    for (const auto& [kind, n] : by) out[static_cast<std::size_t>(kind)] = n;
    return out;
}

}  // namespace

RunResultView result_view(const RunResult& r) {
    RunResultView v;
    v.error = r.error;
    v.interrupted = r.interrupted;
    v.warmup_seconds = r.warmup_seconds;
    v.measured_seconds = r.measured_seconds;
    v.window_start_unix_ns = r.window_start_unix_ns;
    v.window_end_unix_ns = r.window_end_unix_ns;
    v.go_unix_ns = r.go_unix_ns;
    v.first_start_unix_ns = r.first_start_unix_ns;
    v.sessions = r.sessions;
    v.threads = r.threads;
    v.cpu_seconds = r.cpu_seconds;
    v.counters = r.counters;
    for (std::size_t k = 1; k < kErrorKinds; ++k)
        if (!r.error_examples[k].empty()) v.error_examples[static_cast<ErrorKind>(k)] = r.error_examples[k];
    v.collisions_exact = r.collisions_exact;
    v.abandoned = r.abandoned;
    v.drain_seconds = r.drain_seconds;
    v.latency = summary_of(r.latency);
    if (r.service.count() || r.lag.count()) {
        v.service = summary_of(r.service);
        v.lag = summary_of(r.lag);
    }
    for (std::size_t t = 0; t < r.by_type.size(); ++t) {
        const TypeMetrics& m = r.by_type[t];
        v.operations.push_back({r.type_names[t], m.committed, m.rejected, m.failed, m.retries, summary_of(m.latency)});
    }
    v.series = r.series;
    return v;
}

void register_results(py::module_& m) {
    // A function, not a module attribute: its type then reaches the generated stubs (list[float]).
    m.def(
        "reported_percentiles",
        [] { return std::vector<double>(std::begin(kReportedPercentiles), std::end(kReportedPercentiles)); },
        "The percentiles every HistogramSummary.percentiles_ns holds, keyed by their shortest form (\"99.9\").");

    {
        py::enum_<ErrorKind> kinds(m, "ErrorKind", "Why an operation failed (its .name is the report's key).");
        for (std::size_t k = 1; k < kErrorKinds; ++k) {
            const auto kind = static_cast<ErrorKind>(k);
            kinds.value(std::string(error_kind_name(kind)).c_str(), kind);
        }
    }

    py::class_<HistogramSummary>(m, "HistogramSummary",
                                 "A latency histogram (HdrHistogram layout): its statistics, the reported_percentiles() "
                                 "and every non-empty bucket, in ns.")
        .def(py::init([](std::uint64_t count, std::uint64_t min_ns, std::uint64_t max_ns, double mean_ns,
                         double stddev_ns, std::uint64_t clamped, std::map<std::string, std::uint64_t> percentiles_ns,
                         int significant_figures, std::uint64_t highest_trackable_ns,
                         std::vector<std::pair<std::uint64_t, std::uint64_t>> buckets) {
                 return HistogramSummary{count,   min_ns, max_ns, mean_ns, stddev_ns, clamped, std::move(percentiles_ns),
                                         significant_figures, highest_trackable_ns, std::move(buckets)};
             }),
             py::kw_only(), py::arg("count"), py::arg("min_ns"), py::arg("max_ns"), py::arg("mean_ns"),
             py::arg("stddev_ns"), py::arg("clamped"), py::arg("percentiles_ns"), py::arg("significant_figures"),
             py::arg("highest_trackable_ns"), py::arg("buckets"))
        .def_readonly("count", &HistogramSummary::count)
        .def_readonly("min_ns", &HistogramSummary::min_ns)
        .def_readonly("max_ns", &HistogramSummary::max_ns)
        .def_readonly("mean_ns", &HistogramSummary::mean_ns)
        .def_readonly("stddev_ns", &HistogramSummary::stddev_ns, "population standard deviation")
        .def_readonly("clamped", &HistogramSummary::clamped, "values above highest_trackable_ns, recorded at it")
        .def_readonly("percentiles_ns", &HistogramSummary::percentiles_ns, "{\"50\": ns, ..., \"99.99\": ns}")
        .def_readonly("significant_figures", &HistogramSummary::significant_figures)
        .def_readonly("highest_trackable_ns", &HistogramSummary::highest_trackable_ns)
        .def_readonly("buckets", &HistogramSummary::buckets, "(value_ns, count) of every non-empty bucket");

    py::class_<OutcomeCounters>(m, "Counters", "A run's operation counts (in the measured window unless named otherwise).")
        .def(py::init([](std::uint64_t committed, std::uint64_t rejected, std::uint64_t failed, std::uint64_t attempts,
                         std::uint64_t retries, const ByKind& errors, const ByKind& retried_errors,
                         std::uint64_t collision_ops, std::uint64_t collision_count, std::uint64_t before_window,
                         std::uint64_t after_window, std::uint64_t reconnects, std::uint64_t scheduled,
                         std::uint64_t dropped, std::uint64_t unstarted, std::uint64_t drained,
                         std::uint64_t drained_max_ns) {
                 OutcomeCounters c;
                 c.committed = committed;
                 c.rejected = rejected;
                 c.failed = failed;
                 c.attempts = attempts;
                 c.retries = retries;
                 c.errors = counts_of(errors);
                 c.retried_errors = counts_of(retried_errors);
                 c.collision_ops = collision_ops;
                 c.collision_count = collision_count;
                 c.before_window = before_window;
                 c.after_window = after_window;
                 c.reconnects = reconnects;
                 c.scheduled = scheduled;
                 c.dropped = dropped;
                 c.unstarted = unstarted;
                 c.drained = drained;
                 c.drained_max_ns = drained_max_ns;
                 return c;
             }),
             py::kw_only(), py::arg("committed"), py::arg("rejected"), py::arg("failed"), py::arg("attempts"),
             py::arg("retries"), py::arg("errors"), py::arg("retried_errors"), py::arg("collision_ops"),
             py::arg("collision_count"), py::arg("before_window"), py::arg("after_window"), py::arg("reconnects"),
             py::arg("scheduled"), py::arg("dropped"), py::arg("unstarted"), py::arg("drained") = 0,
             py::arg("drained_max_ns") = 0)
        .def_readonly("committed", &OutcomeCounters::committed)
        .def_readonly("rejected", &OutcomeCounters::rejected)
        .def_readonly("failed", &OutcomeCounters::failed)
        .def_readonly("attempts", &OutcomeCounters::attempts, "every try, retries included")
        .def_readonly("retries", &OutcomeCounters::retries, "tries after the first")
        .def_property_readonly("errors", [](const OutcomeCounters& c) { return by_kind(c.errors); },
                               "failed operations by kind (kinds with none left out)")
        .def_property_readonly("retried_errors", [](const OutcomeCounters& c) { return by_kind(c.retried_errors); },
                               "retried attempts by kind")
        .def_readonly("collision_ops", &OutcomeCounters::collision_ops,
                      "operations that started on a key another in-flight operation held")
        .def_readonly("collision_count", &OutcomeCounters::collision_count, "the sum of those holders")
        .def_readonly("before_window", &OutcomeCounters::before_window,
                      "begun during warmup (open loop: intended then), wherever they completed (not counted)")
        .def_readonly("after_window", &OutcomeCounters::after_window,
                      "begun at or after the window's end, a start racing the stop (not counted)")
        .def_readonly("drained", &OutcomeCounters::drained,
                      "begun in the window, completed after it in the drain (counted with their outcome)")
        .def_readonly("drained_max_ns", &OutcomeCounters::drained_max_ns,
                      "the longest latency of those drained (ns; 0 when none)")
        .def_readonly("reconnects", &OutcomeCounters::reconnects, "connections re-established after a loss (whole run)")
        .def_readonly("scheduled", &OutcomeCounters::scheduled, "open loop: intended starts in the window")
        .def_readonly("dropped", &OutcomeCounters::dropped, "open loop: skipped for max_lag_seconds")
        .def_readonly("unstarted", &OutcomeCounters::unstarted, "open loop: never begun");

    py::class_<SecondPoint>(m, "SecondPoint", "One interval of the per-second series (the last one may be shorter).")
        .def(py::init([](double t_s, double duration_s, std::uint64_t committed, std::uint64_t rejected,
                         std::uint64_t failed, std::uint64_t p50_ns, std::uint64_t p95_ns, std::uint64_t p99_ns,
                         std::uint64_t max_ns, const ByKind& errors) {
                 return SecondPoint{t_s,    duration_s, committed, rejected, failed,
                                    p50_ns, p95_ns,     p99_ns,    max_ns,   counts_of(errors)};
             }),
             py::kw_only(), py::arg("t_s"), py::arg("duration_s"), py::arg("committed"), py::arg("rejected"),
             py::arg("failed"), py::arg("p50_ns"), py::arg("p95_ns"), py::arg("p99_ns"), py::arg("max_ns"),
             py::arg("errors") = ByKind{})
        .def_readonly("t_s", &SecondPoint::t_s, "end of the interval, seconds since the measured window opened")
        .def_readonly("duration_s", &SecondPoint::duration_s, "its length, seconds")
        .def_readonly("committed", &SecondPoint::committed)
        .def_readonly("rejected", &SecondPoint::rejected)
        .def_readonly("failed", &SecondPoint::failed)
        .def_readonly("p50_ns", &SecondPoint::p50_ns, "of committed + rejected")
        .def_readonly("p95_ns", &SecondPoint::p95_ns)
        .def_readonly("p99_ns", &SecondPoint::p99_ns)
        .def_readonly("max_ns", &SecondPoint::max_ns)
        .def_property_readonly("errors", [](const SecondPoint& p) { return by_kind(p.errors); },
                               "failed operations by kind in the interval (kinds with none left out)");

    py::class_<OperationResult>(m, "OperationResult", "One operation type of a scenario file: its counts and latency.")
        .def(py::init([](std::string name, std::uint64_t committed, std::uint64_t rejected, std::uint64_t failed,
                         std::uint64_t retries, HistogramSummary latency) {
                 return OperationResult{std::move(name), committed, rejected, failed, retries, std::move(latency)};
             }),
             py::kw_only(), py::arg("name"), py::arg("committed"), py::arg("rejected"), py::arg("failed"),
             py::arg("retries"), py::arg("latency"))
        .def_readonly("name", &OperationResult::name)
        .def_readonly("committed", &OperationResult::committed)
        .def_readonly("rejected", &OperationResult::rejected)
        .def_readonly("failed", &OperationResult::failed)
        .def_readonly("retries", &OperationResult::retries)
        .def_readonly("latency", &OperationResult::latency);

    py::class_<RunResultView>(m, "RunResult", "What Run.run measured.")
        .def(py::init([](std::string error, bool interrupted, double warmup_seconds, double measured_seconds,
                         std::int64_t window_start_unix_ns, std::int64_t window_end_unix_ns, std::size_t sessions,
                         std::size_t threads, double cpu_seconds, OutcomeCounters counters,
                         std::map<ErrorKind, std::string> error_examples, bool collisions_exact, std::uint64_t abandoned,
                         HistogramSummary latency, std::optional<HistogramSummary> service,
                         std::optional<HistogramSummary> lag, std::vector<OperationResult> operations,
                         std::vector<SecondPoint> series, std::int64_t go_unix_ns, std::int64_t first_start_unix_ns,
                         double drain_seconds) {
                 return RunResultView{std::move(error), interrupted, warmup_seconds, measured_seconds,
                                      window_start_unix_ns, window_end_unix_ns, go_unix_ns, first_start_unix_ns,
                                      sessions, threads, cpu_seconds,
                                      counters, std::move(error_examples), collisions_exact, abandoned,
                                      drain_seconds, std::move(latency), std::move(service), std::move(lag),
                                      std::move(operations), std::move(series)};
             }),
             py::kw_only(), py::arg("error"), py::arg("interrupted"), py::arg("warmup_seconds"),
             py::arg("measured_seconds"), py::arg("window_start_unix_ns"), py::arg("window_end_unix_ns"),
             py::arg("sessions"), py::arg("threads"), py::arg("cpu_seconds"), py::arg("counters"),
             py::arg("error_examples"), py::arg("collisions_exact"), py::arg("abandoned"), py::arg("latency"),
             py::arg("service"), py::arg("lag"), py::arg("operations"), py::arg("series"), py::arg("go_unix_ns") = 0,
             py::arg("first_start_unix_ns") = 0, py::arg("drain_seconds") = 0.0)
        .def_readonly("error", &RunResultView::error, "non-empty when the run could not start (a session failed to open)")
        .def_readonly("interrupted", &RunResultView::interrupted, "Ctrl-C or SIGTERM closed the window early")
        .def_readonly("warmup_seconds", &RunResultView::warmup_seconds)
        .def_readonly("measured_seconds", &RunResultView::measured_seconds, "actual length of the measured window")
        .def_readonly("window_start_unix_ns", &RunResultView::window_start_unix_ns,
                      "the measured window on the wall clock (UTC, ns since the epoch); 0 when it never opened")
        .def_readonly("window_end_unix_ns", &RunResultView::window_end_unix_ns)
        .def_readonly("go_unix_ns", &RunResultView::go_unix_ns,
                      "when the clock started (warmup, then the window), wall clock ns; 0 when it never did")
        .def_readonly("first_start_unix_ns", &RunResultView::first_start_unix_ns,
                      "when the first operation began, wall clock ns; 0 when none did")
        .def_readonly("sessions", &RunResultView::sessions)
        .def_readonly("threads", &RunResultView::threads)
        .def_readonly("cpu_seconds", &RunResultView::cpu_seconds, "CPU time of this process during the measured window")
        .def_readonly("counters", &RunResultView::counters)
        .def_readonly("error_examples", &RunResultView::error_examples, "one message per error kind seen")
        .def_readonly("collisions_exact", &RunResultView::collisions_exact)
        .def_readonly("abandoned", &RunResultView::abandoned,
                      "operations in flight when the run gave up waiting for them (those begun in the window are "
                      "failures of kind unfinished)")
        .def_readonly("drain_seconds", &RunResultView::drain_seconds,
                      "how long the drain after the window took: until every session returned or the run gave up")
        .def_readonly("latency", &RunResultView::latency, "committed + rejected operations in the window")
        .def_readonly("service", &RunResultView::service, "open loop: from the actual start (None in a closed loop)")
        .def_readonly("lag", &RunResultView::lag, "open loop: actual start - intended start (None in a closed loop)")
        .def_readonly("operations", &RunResultView::operations, "per operation type (scenario files with several)")
        .def_readonly("series", &RunResultView::series)
        .def(
            "with_error_examples",
            [](const RunResultView& r, std::map<ErrorKind, std::string> examples) {
                RunResultView copy = r;
                copy.error_examples = std::move(examples);
                return copy;
            },
            py::arg("examples"), "A copy with these error examples (the caller's redacted ones).");
}

}  // namespace loadbench::bindings
