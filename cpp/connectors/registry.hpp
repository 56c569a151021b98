// The connector kinds this build knows, by name; the Python side maps configured connectors
// (e.g. `sqlite` from SQLITE_FILE) to a kind and its options.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "connectors/connector.hpp"

namespace loadbench {

// Throws ConnectorError for an unknown kind or bad options.
std::shared_ptr<Connector> make_connector(const std::string& kind, const ConnectorOptions& options);

std::vector<std::string> connector_kinds();

// Versions of the libraries the connectors were built with, for the report.
std::map<std::string, std::string> library_versions();

}  // namespace loadbench
