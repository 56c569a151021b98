// What every file of the bindings shares. The module (_core) is the only code that includes
// pybind11. Plain data crosses: dicts of numbers and strings in, dicts and lists out. Nothing
// crosses during a run except the Python side polling progress; every blocking call releases
// the GIL. One file per concept: inputs (run config, scenarios, connector), results (result,
// progress, histograms), run (a run and the signals that stop it), control (check, prep, verify,
// SQL control plane), resources (what a run needs), connectors (kinds, capabilities, errors,
// versions), rpc_server; module.cpp puts them together.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <exception>
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
RunConfig run_config_from(const py::dict& d);
TransferParams transfer_params_from(const py::dict& d);
SqlScenarioSpec sql_scenario_from(const py::dict& d);
std::unique_ptr<Run> make_run(const py::dict& config, const py::dict& scenario, std::shared_ptr<Connector> connector);
std::shared_ptr<Connector> connector_from(const py::dict& d);

// results.cpp
py::dict result_dict(const RunResult& r);
py::dict progress_dict(const Progress& p);

// Each adds its functions (and classes) to the module.
void register_connectors(py::module_& m);  // first: the exception types the others raise
void register_results(py::module_& m);
void register_run(py::module_& m);
void register_control(py::module_& m);
void register_resources(py::module_& m);
void register_rpc_server(py::module_& m);

}  // namespace loadbench::bindings
