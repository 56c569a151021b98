// The run configuration: RunConfig, a bound class with a keyword-only constructor and read-only
// fields named as the CLI's flags and the report's parameters (``seconds``, ``warmup_seconds``,
// ``op_timeout_seconds``, ``max_lag_seconds``). Every field is required: the defaults live in
// one place, loadbench.run.config, which the CLI's help text reads.
#include "bindings/common.hpp"

namespace loadbench::bindings {

namespace {

enum class Arrival { poisson, regular };

}  // namespace

void register_config(py::module_& m) {
    py::enum_<Arrival>(m, "Arrival", "Open loop: gaps between intended starts, exponential (poisson) or constant (regular).")
        .value("poisson", Arrival::poisson)
        .value("regular", Arrival::regular);

    py::class_<RunConfig>(m, "RunConfig",
                          "One run's configuration (the engine's side of loadbench.run.config.RunPlan). Seconds "
                          "are floats; 0 disables op_timeout_seconds, max_lag_seconds, rate, operations and "
                          "threads (threads 0: one event loop per core). ValueError from Run on values out of range.")
        .def(py::init([](std::size_t concurrency, std::size_t threads, std::size_t open_parallelism, double warmup_seconds,
                         double seconds, std::uint64_t seed, std::uint64_t stream_offset, int max_tries,
                         double op_timeout_seconds, std::uint64_t operations, double rate, Arrival arrival,
                         double max_lag_seconds, double drain_seconds) {
                 RunConfig c;
                 c.concurrency = concurrency;
                 c.threads = threads;
                 c.open_parallelism = open_parallelism;
                 c.warmup_seconds = warmup_seconds;
                 c.seconds = seconds;
                 c.seed = seed;
                 c.stream_offset = stream_offset;
                 c.max_tries = max_tries;
                 c.op_timeout_seconds = op_timeout_seconds;
                 c.operations = operations;
                 c.rate = rate;
                 c.poisson = arrival == Arrival::poisson;
                 c.max_lag_seconds = max_lag_seconds;
                 c.drain_seconds = drain_seconds;
                 return c;
             }),
             py::kw_only(), py::arg("concurrency"), py::arg("threads"), py::arg("open_parallelism"),
             py::arg("warmup_seconds"), py::arg("seconds"), py::arg("seed"), py::arg("stream_offset"),
             py::arg("max_tries"), py::arg("op_timeout_seconds"), py::arg("operations"), py::arg("rate"),
             py::arg("arrival"), py::arg("max_lag_seconds"), py::arg("drain_seconds") = -1.0)
        .def_readonly("concurrency", &RunConfig::concurrency, "sessions (logical clients), one operation in flight each")
        .def_readonly("threads", &RunConfig::threads, "event-loop threads of an async connector (0: one per core)")
        .def_readonly("open_parallelism", &RunConfig::open_parallelism, "sessions being opened at once, at most")
        .def_readonly("warmup_seconds", &RunConfig::warmup_seconds, "warmup before the measured window, not counted")
        .def_readonly("seconds", &RunConfig::seconds, "length of the measured window")
        .def_readonly("seed", &RunConfig::seed)
        .def_readonly("stream_offset", &RunConfig::stream_offset, "the first random stream of this run's sessions")
        .def_readonly("max_tries", &RunConfig::max_tries, "attempts per operation on retryable errors")
        .def_readonly("op_timeout_seconds", &RunConfig::op_timeout_seconds, "per attempt; 0 disables")
        .def_readonly("operations", &RunConfig::operations, "> 0: the window closes after this many operations")
        .def_readonly("rate", &RunConfig::rate, "open loop: total operations/s; 0: closed loop")
        .def_property_readonly(
            "arrival", [](const RunConfig& c) { return c.poisson ? Arrival::poisson : Arrival::regular; })
        .def_readonly("max_lag_seconds", &RunConfig::max_lag_seconds, "open loop: > 0 skips operations this late")
        .def_readonly("drain_seconds", &RunConfig::drain_seconds,
                      "after the window, how long its operations in flight may take to complete; < 0: "
                      "op_timeout_seconds + 0.2, or 10 without a timeout");
}

}  // namespace loadbench::bindings
