// The bundled rpc server, served from Python (loadbench rpc-server).
#include "bindings/common.hpp"
#include "server/rpc_server.hpp"

namespace loadbench::bindings {

void register_rpc_server(py::module_& m) {
    m.def(
        "serve_rpc",
        [](const Dict& config, const Dict& connector, const py::typing::Callable<void(int)>& on_listening) {
            DictReader r(config, "rpc server config");
            RpcServerConfig c;
            c.host = r.get<std::string>("host", c.host);
            c.port = r.get<unsigned short>("port", c.port);
            c.threads = r.get<std::size_t>("threads", c.threads);
            c.pool = r.get<std::size_t>("pool", c.pool);
            c.max_tries = r.get<int>("max_tries", c.max_tries);
            RpcServer server(c, connector_from(connector));
            const unsigned short port = server.bind();
            server.stop_on_signals();
            on_listening(port);
            py::gil_scoped_release release;
            server.serve();
        },
        py::arg("config"), py::arg("connector"), py::arg("on_listening"),
        "Binds, calls on_listening(port), then serves the rpc protocol until SIGINT or SIGTERM.");
}

}  // namespace loadbench::bindings
