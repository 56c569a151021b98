// The connector kinds this build knows. Each connector's own source file registers itself, with
// one ConnectorRegistrar at namespace scope:
//
//     const ConnectorRegistrar registrar({.kind = "sqlite", .make = make<SqliteConnector>,
//                                         .capabilities = {...}, .library_versions = versions});
//
// and CMake compiles the connectors into an OBJECT library whose objects every binary links
// directly, so no linker drops a registrar that nothing references. This file only iterates: a
// new system touches its own files, one CMake line and its tests.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "connectors/connector.hpp"

namespace loadbench {

// How a connector's sessions run.
enum class SessionModel { blocking, event_loop };  // one thread per session | on an io_context

// What a connector supports, said up front (the Python side reads it through
// `_core.connector_capabilities()`), instead of found out when a call throws. It must agree with
// the session families the connector offers (connector.hpp; ConnectorRegistry's test checks):
// test-1 in `model`, and SQL (in `model` too) exactly when `sql_dialect` is set.
struct ConnectorCapabilities {
    std::string sql_dialect;  // scenario files' dialect key ("sqlite", "postgres"); "" runs no SQL scenarios
    std::string placeholder;  // numbered placeholder style: "?1" (SQLite), "$1" (PostgreSQL); "" without SQL
    SessionModel model = SessionModel::blocking;
    bool pipelining = false;  // sessions may share one connection with several requests in flight
    bool audit = false;       // test-1 --audit: a ledger written with each transfer (TransferAuditReader)
};

struct ConnectorRegistration {
    std::string kind;  // as the configuration names it ("sqlite", "supabase-rest")
    std::shared_ptr<Connector> (*make)(const ConnectorOptions&) = nullptr;  // throws ConnectorError
    ConnectorCapabilities capabilities;
    // The client libraries it was built with, by name (for the report); may be null.
    std::map<std::string, std::string> (*library_versions)() = nullptr;
};

template <class C>
std::shared_ptr<Connector> make_registered(const ConnectorOptions& options) {
    return std::make_shared<C>(options);
}

// Adds a registration (at static initialization); a kind registered twice is a build error,
// reported by connector_kinds() and make_connector() with std::logic_error.
struct ConnectorRegistrar {
    explicit ConnectorRegistrar(ConnectorRegistration registration);
};

// Every registration, by kind (sorted).
const std::vector<ConnectorRegistration>& registered_connectors();

// Throws ConnectorError for an unknown kind or bad options.
std::shared_ptr<Connector> make_connector(const std::string& kind, const ConnectorOptions& options);

std::vector<std::string> connector_kinds();  // sorted

// Versions of the libraries the connectors were built with, and the compiler's, for the report.
std::map<std::string, std::string> library_versions();

}  // namespace loadbench
