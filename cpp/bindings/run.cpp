// A run from Python: Run(config, scenario, connector).run(on_progress), with Ctrl-C and SIGTERM closing its window.
#include "bindings/common.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <functional>
#include <optional>

#include <pybind11/functional.h>

namespace loadbench::bindings {

namespace {

// The run that SIGINT / SIGTERM should stop while it owns the calling thread.
std::atomic<Run*> g_stop_target{nullptr};

extern "C" void stop_on_signal(int) {
    if (Run* run = g_stop_target.load()) run->stop();  // atomics and clock_gettime only: signal-safe
}

// While a run owns the calling (Python main) thread, Python cannot run its own signal handlers, so
// Ctrl-C and SIGTERM go to one that closes the measured window (or calls off the opening); the
// run then ends within its bounded stop, and Python's handlers are back. A signal the process was
// told to ignore stays ignored.
class StopSignals {
public:
    explicit StopSignals(Run& run) {
        g_stop_target = &run;
        struct sigaction ours {};
        ours.sa_handler = stop_on_signal;
        sigemptyset(&ours.sa_mask);
        for (std::size_t i = 0; i < kSignals.size(); ++i) {
            sigaction(kSignals[i], nullptr, &saved_[i]);
            if (saved_[i].sa_handler != SIG_IGN) sigaction(kSignals[i], &ours, nullptr);
        }
    }
    ~StopSignals() {
        for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &saved_[i], nullptr);
        g_stop_target = nullptr;
    }

private:
    static constexpr std::array<int, 2> kSignals = {SIGINT, SIGTERM};
    std::array<struct sigaction, 2> saved_{};
};

// A run, owned by its Python object; run() blocks with the GIL released.
class PyRun {
public:
    PyRun(const RunConfig& config, const Dict& scenario, const Dict& connector)
        : run_(make_run(config, scenario, connector_from(connector))) {}
    PyRun(const PyRun&) = delete;
    PyRun& operator=(const PyRun&) = delete;
    // A run that gave up on sessions (a server that never answered, even when interrupted) is
    // left alive: destroying it would wait for their threads, and the process is about to report
    // and exit (or go on to the next run) anyway.
    ~PyRun() {
        if (run_ && run_->abandoned()) (void)run_.release();
    }

    RunResultView run(const std::optional<std::function<void(const Progress&)>>& on_progress) {
        RunResult result;
        {
            StopSignals signals(*run_);
            py::gil_scoped_release release;
            result = run_->run([&](const Progress& p) {
                if (!on_progress) return;
                py::gil_scoped_acquire acquire;
                try {
                    (*on_progress)(p);
                } catch (py::error_already_set& e) {
                    e.discard_as_unraisable("loadbench progress callback");  // a display fault must not end the run
                }
            });
        }
        return result_view(result);
    }

private:
    std::unique_ptr<Run> run_;
};

}  // namespace

void register_run(py::module_& m) {
    py::class_<PyRun>(m, "Run")
        .def(py::init<const RunConfig&, const Dict&, const Dict&>(), py::arg("config"), py::arg("scenario"),
             py::arg("connector"))
        .def("run", &PyRun::run, py::arg("on_progress") = py::none(),
             "Runs to the end on this thread (GIL released); Ctrl-C or SIGTERM close the window early "
             "(RunResult.interrupted). on_progress gets a Progress about four times a second.");
}

}  // namespace loadbench::bindings
