// The connectors this build knows: their kinds, capabilities and library versions, and the errors they raise.
#include "bindings/common.hpp"
#include "connectors/redis_connector.hpp"
#include "connectors/mariadb_connector.hpp"
#include "connectors/registry.hpp"

namespace loadbench::bindings {

void register_connectors(py::module_& m) {
    auto& connector_error = py::register_exception<ConnectorError>(m, "ConnectorError", PyExc_RuntimeError);
    // Registered after its base, so pybind11 tries it first.
    py::register_exception<ConnectorConfigError>(m, "ConnectorConfigError", connector_error.ptr());

    m.def("library_versions", &library_versions);
    m.def("connector_kinds", &connector_kinds);
    m.def(
        "connector_capabilities",
        []() -> py::typing::Dict<py::str, Dict> {
            py::typing::Dict<py::str, Dict> out;
            for (const auto& c : registered_connectors()) {
                py::dict d;
                auto or_none = [](const std::string& s) { return s.empty() ? py::object(py::none()) : py::str(s); };
                d["sql_dialect"] = or_none(c.capabilities.sql_dialect);
                d["placeholder"] = or_none(c.capabilities.placeholder);
                d["model"] = c.capabilities.model == SessionModel::event_loop ? "event_loop" : "blocking";
                d["pipelining"] = c.capabilities.pipelining;
                d["audit"] = c.capabilities.audit;
                py::dict libraries;
                if (c.library_versions)
                    for (const auto& [name, version] : c.library_versions()) libraries[py::str(name)] = version;
                d["library_versions"] = libraries;
                out[py::str(c.kind)] = d;
            }
            return out;
        },
        "What each connector kind supports, said by the connector itself: {kind: {sql_dialect: str | None "
        "(scenario files' dialect key; None: no SQL scenarios), placeholder: str | None ('?1' or '$1'), "
        "model: 'blocking' | 'event_loop', pipelining: bool, audit: bool (test-1 --audit), library_versions: {library: version}}}.");
    m.def(
        "redis_scripts",
        []() -> py::typing::Dict<py::str, py::str> {
            py::typing::Dict<py::str, py::str> out;
            out["transfer"] = RedisConnector::transfer_script();
            out["audited_transfer"] = RedisConnector::audited_transfer_script();
            return out;
        },
        "The redis connector's Lua scripts, as it loads them (SCRIPT LOAD; EVALSHA names each by its SHA1): "
        "{'transfer': test-1's transfer, 'audited_transfer': the same text with --audit's ledger step}.");
    m.def("mysql_transfer_procedure", &MariaDbConnector::transfer_procedure, py::arg("name") = "transfer",
          "The mysql connector's CREATE PROCEDURE statement of test-1's transfer, under `name` (prep creates it "
          "as `transfer`).");
}

}  // namespace loadbench::bindings
