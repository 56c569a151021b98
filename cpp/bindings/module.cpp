// The _core module: loadbench's native engine (private: use loadbench.run.core). Each concept's
// bindings live in a file of their own (bindings/common.hpp lists them).
#include "bindings/common.hpp"

PYBIND11_MODULE(_core, m) {
    using namespace loadbench::bindings;
    m.doc() = "loadbench's native engine (private: use loadbench.run.core)";
    register_connectors(m);  // the exception types first
    register_config(m);
    register_progress(m);
    register_results(m);  // the classes Run's signatures name, before Run
    register_run(m);
    register_control(m);
    register_resources(m);
    register_rpc_server(m);
}
