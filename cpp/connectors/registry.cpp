#include "connectors/registry.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include "connectors/null_connector.hpp"
#include "connectors/sqlite_connector.hpp"

namespace loadbench {

std::shared_ptr<Connector> make_connector(const std::string& kind, const ConnectorOptions& options) {
    if (kind == "null") return std::make_shared<NullConnector>(options);
    if (kind == "sqlite") return std::make_shared<SqliteConnector>(options);
    throw ConnectorError("unknown connector kind '" + kind + "'");
}

std::vector<std::string> connector_kinds() { return {"null", "sqlite"}; }

std::map<std::string, std::string> library_versions() {
    return {
        {"sqlite", SqliteConnector::library_version()},
        {"sqlitecpp", SQLITECPP_VERSION},
        {"compiler", __VERSION__},
    };
}

}  // namespace loadbench
