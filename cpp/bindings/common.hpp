// What every file of the bindings shares. The module (_core) is the only code that includes
// pybind11. The run's configuration, progress and result cross as bound classes (keyword-only
// constructors, read-only fields, units in the names); scenarios and connectors as dicts. Nothing
// crosses during a run except the Python side polling progress; every blocking call releases
// the GIL. One file per concept: config (the run configuration), inputs (scenarios, connector),
// progress (phases and progress), results (result, counters, series points, histogram summaries,
// error kinds), run (a run and the signals that stop it), control (check, prep, verify,
// SQL control plane), resources (what a run needs), connectors (kinds, capabilities, errors,
// versions), rpc_server; module.cpp puts them together.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <exception>
#include <map>
#include <optional>
#include <utility>
#include <vector>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include "connectors/connector.hpp"
#include "engine/run.hpp"
#include "scenarios/sql_scenario.hpp"
#include "scenarios/transfer_scenario.hpp"

namespace loadbench::bindings {

namespace py = pybind11;

// A dict of plain data (a scenario, a connector, what a control call answers): dict[str, Any] in the stubs.
using Dict = py::typing::Dict<py::str, py::object>;
using OptionalDict = py::typing::Optional<Dict>;

// Reads a dict strictly: a key it does not know is an error (a typo must not pass silently).
class DictReader {
public:
    DictReader(const py::dict& d, std::string what) : d_(d), what_(std::move(what)) {}
    ~DictReader() noexcept(false) {
        if (std::uncaught_exceptions()) return;
        for (auto item : d_) {
            auto key = py::cast<std::string>(item.first);
            if (!read_.count(key)) throw std::invalid_argument(what_ + ": unknown key '" + key + "'");
        }
    }
    template <class T>
    T get(const char* key, T fallback) {
        read_.insert(key);
        return d_.contains(key) ? py::cast<T>(d_[key]) : fallback;
    }
    template <class T>
    T require(const char* key) {
        read_.insert(key);
        if (!d_.contains(key)) throw std::invalid_argument(what_ + ": missing key '" + key + "'");
        return py::cast<T>(d_[key]);
    }

private:
    const py::dict& d_;
    std::string what_;
    std::set<std::string> read_;
};

// inputs.cpp
TransferParams transfer_params_from(const py::dict& d);
SqlScenarioSpec sql_scenario_from(const py::dict& d);
// `audit` (when given) receives the run's audit log: null unless the scenario asks for --audit.
std::unique_ptr<Run> make_run(const RunConfig& config, const Dict& scenario, std::shared_ptr<Connector> connector,
                              std::shared_ptr<TransferAuditLog>* audit = nullptr);
std::shared_ptr<Connector> connector_from(const py::dict& d);

// results.cpp: the result as Python sees it, built once when the run ends.
struct HistogramSummary {
    std::uint64_t count = 0, min_ns = 0, max_ns = 0;
    double mean_ns = 0, stddev_ns = 0;
    std::uint64_t clamped = 0;
    std::map<std::string, std::uint64_t> percentiles_ns;  // reported_percentiles(), keys "50" ... "99.99"
    int significant_figures = 3;
    std::uint64_t highest_trackable_ns = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> buckets;  // (value_ns, count), non-empty buckets
};

struct OperationResult {  // one operation type of a scenario file
    std::string name;
    std::uint64_t committed = 0, rejected = 0, failed = 0, retries = 0;
    HistogramSummary latency;
};

struct RunResultView {
    std::string error;
    bool interrupted = false;
    double warmup_seconds = 0, measured_seconds = 0;
    std::int64_t window_start_unix_ns = 0, window_end_unix_ns = 0;
    std::int64_t go_unix_ns = 0, first_start_unix_ns = 0;
    std::size_t sessions = 0, threads = 0;
    double cpu_seconds = 0;
    OutcomeCounters counters;
    std::map<ErrorKind, std::string> error_examples;
    bool collisions_exact = true;
    std::uint64_t abandoned = 0;
    double drain_seconds = 0;
    HistogramSummary latency;
    std::optional<HistogramSummary> service, lag;
    std::vector<OperationResult> operations;
    std::vector<SecondPoint> series;
};

RunResultView result_view(const RunResult& r);

// Each adds its functions (and classes) to the module.
void register_connectors(py::module_& m);  // first: the exception types the others raise
void register_config(py::module_& m);
void register_progress(py::module_& m);
void register_results(py::module_& m);
void register_run(py::module_& m);
void register_control(py::module_& m);
void register_resources(py::module_& m);
void register_rpc_server(py::module_& m);

}  // namespace loadbench::bindings
