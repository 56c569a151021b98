// Progress: the run's phase and its last second, handed to Python's callback about four times a second.
#include "bindings/common.hpp"

namespace loadbench::bindings {

void register_progress(py::module_& m) {
    py::enum_<RunPhase>(m, "Phase", "A run's phase, in order.")
        .value("opening", RunPhase::opening)
        .value("warmup", RunPhase::warmup)
        .value("measuring", RunPhase::measuring)
        .value("stopping", RunPhase::stopping)
        .value("done", RunPhase::done);

    py::class_<Progress>(m, "Progress", "Where a run stands (Run.run's on_progress gets one about every 250 ms).")
        .def(py::init([](RunPhase phase, double elapsed_seconds, std::uint64_t committed, double last_second_tps,
                         std::uint64_t last_second_p99_ns, std::uint64_t reconnects) {
                 return Progress{phase, elapsed_seconds, committed, last_second_tps, last_second_p99_ns, reconnects};
             }),
             py::kw_only(), py::arg("phase"), py::arg("elapsed_seconds"), py::arg("committed"),
             py::arg("last_second_tps"), py::arg("last_second_p99_ns"), py::arg("reconnects"))
        .def_readonly("phase", &Progress::phase)
        .def_readonly("elapsed_seconds", &Progress::elapsed_s, "in the current phase")
        .def_readonly("committed", &Progress::committed, "counted so far (whole seconds of the measured window)")
        .def_readonly("last_second_tps", &Progress::last_second_tps)
        .def_readonly("last_second_p99_ns", &Progress::last_second_p99_ns)
        .def_readonly("reconnects", &Progress::reconnects,
                      "connections re-established since the run started (process-wide)");
}

}  // namespace loadbench::bindings
