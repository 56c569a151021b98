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
        : run_(make_run(config, scenario, connector_from(connector), &audit_)) {}
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

    // A held run (see Run::hold), driven from Python: open() returns at once; the caller waits
    // for the gate, releases it, polls and stops. No signal handlers are installed: the caller
    // (a Dask worker's task thread) is not the main thread, and stops the run itself.
    // No progress callback: it would take the GIL on the monitor thread, which a caller dropping
    // this object mid-run (joining that thread with the GIL held) would deadlock.
    void open() {
        run_->hold();
        run_->start();
    }
    bool wait_held(double seconds) {
        py::gil_scoped_release release;
        return run_->wait_held(seconds);
    }
    void release(std::int64_t start_unix_ns) { run_->release(start_unix_ns); }
    void stop() { run_->stop(); }
    bool wait(double seconds) {
        py::gil_scoped_release release;
        return run_->wait_for(seconds);
    }
    RunResultView result() {
        RunResult r;
        {
            py::gil_scoped_release release;
            r = run_->take_result();
        }
        return result_view(r);
    }

    // --audit: per session's stream, one byte per attempt (AuditCode), sealed now; None without it.
    py::typing::Optional<py::typing::Dict<py::int_, py::bytes>> audit_log() {
        if (!audit_) return py::none();
        std::map<std::uint64_t, std::vector<std::uint8_t>> sealed;
        {
            py::gil_scoped_release release;
            sealed = audit_->seal();
        }
        py::typing::Dict<py::int_, py::bytes> out;
        for (const auto& [stream, codes] : sealed)
            out[py::int_(stream)] = py::bytes(reinterpret_cast<const char*>(codes.data()), codes.size());
        return out;
    }

private:
    std::shared_ptr<TransferAuditLog> audit_;  // before run_: the run's sessions write to it
    std::unique_ptr<Run> run_;
};

}  // namespace

void register_run(py::module_& m) {
    py::class_<PyRun>(m, "Run")
        .def(py::init<const RunConfig&, const Dict&, const Dict&>(), py::arg("config"), py::arg("scenario"),
             py::arg("connector"))
        .def("run", &PyRun::run, py::arg("on_progress") = py::none(),
             "Runs to the end on this thread (GIL released); Ctrl-C or SIGTERM close the window early "
             "(RunResult.interrupted). on_progress gets a Progress about four times a second.")
        .def("open", &PyRun::open,
             "Starts a held run: its sessions open, then it waits at the gate for release() (returns at once).")
        .def("wait_held", &PyRun::wait_held, py::arg("seconds"),
             "Waits up to seconds (GIL released) until every session has opened and the run waits at the gate; "
             "False on timeout or when the run ended first (a session could not open).")
        .def("release", &PyRun::release, py::arg("start_unix_ns"),
             "Starts the clock (warmup, then the window) at this wall-clock instant (ns since the epoch; now if past).")
        .def("stop", &PyRun::stop, "Closes the window now (before release(): calls the run off). Any thread.")
        .def("wait", &PyRun::wait, py::arg("seconds"), "Waits up to seconds (GIL released); True once the run ended.")
        .def("result", &PyRun::result, "The result, once wait() returned True.")
        .def("audit_log", &PyRun::audit_log,
             "--audit: {stream: bytes}, one byte per attempt of the session with that random stream, in order "
             "(0 no answer, 1 committed, 2 rejected, 3 failed with the server's answer); sealed by this call. "
             "None without --audit.");
}

}  // namespace loadbench::bindings
