// What a run would need of the machine (the resource check before a run).
#include "bindings/common.hpp"

#include <algorithm>

namespace loadbench::bindings {

void register_resources(py::module_& m) {
    m.def(
        "resource_needs",
        [](const RunConfig& config, const Dict& scenario, const Dict& connector) {
            auto c = connector_from(connector);
            const SessionFootprint footprint = c->footprint();
            const std::size_t per_connection = std::max<std::size_t>(1, c->sessions_per_connection());
            const bool blocking = !c->is_async();
            const ResourceEstimate e = make_run(config, scenario, c)->resource_estimate();
            const std::size_t connections = (e.sessions + per_connection - 1) / per_connection;
            // An event loop's own descriptors: its epoll instance, eventfd and timerfd.
            const std::size_t loops = blocking ? 0 : e.threads - 2;
            Dict out;
            out["sessions"] = e.sessions;
            out["connections"] = connections;
            out["blocking"] = blocking;
            out["threads"] = e.threads;
            out["descriptors"] = connections * footprint.descriptors_per_connection + 3 * loops;
            out["descriptors_per_connection"] = footprint.descriptors_per_connection;
            out["memory_bytes"] = e.engine_bytes + connections * footprint.bytes_per_connection;
            out["bytes_per_session"] = e.engine_bytes_per_session + footprint.bytes_per_connection / per_connection;
            out["thread_bytes"] = e.thread_bytes;
            return out;
        },
        py::arg("config"), py::arg("scenario"), py::arg("connector"),
        "What a run would need of the machine, from the real sizes of the engine's and the connector's "
        "structures: {sessions, connections, blocking, threads, descriptors, descriptors_per_connection, "
        "memory_bytes, bytes_per_session, thread_bytes}. Connects to nothing.");
}

}  // namespace loadbench::bindings
