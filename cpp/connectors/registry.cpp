#include "connectors/registry.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include "connectors/null_connector.hpp"
#include "connectors/pg_connection.hpp"
#include "connectors/postgres_connector.hpp"
#include "connectors/rpc_connector.hpp"
#include "connectors/supabase_rest_connector.hpp"
#include "connectors/convex_connector.hpp"
#include "connectors/spacetimedb_connector.hpp"
#include "connectors/sqlite_connector.hpp"

namespace loadbench {

std::shared_ptr<Connector> make_connector(const std::string& kind, const ConnectorOptions& options) {
    if (kind == "null") return std::make_shared<NullConnector>(options);
    if (kind == "sqlite") return std::make_shared<SqliteConnector>(options);
    if (kind == "postgres") return std::make_shared<PostgresConnector>(options);
    if (kind == "rpc") return std::make_shared<RpcConnector>(options);
    if (kind == "supabase-rest") return std::make_shared<SupabaseRestConnector>(options);
    if (kind == "convex") return std::make_shared<ConvexConnector>(options);
    if (kind == "spacetimedb") return std::make_shared<SpacetimeDbConnector>(options);
    throw ConnectorError("unknown connector kind '" + kind + "'");
}

std::vector<std::string> connector_kinds() { return {"null", "sqlite", "postgres", "rpc", "supabase-rest", "convex", "spacetimedb"}; }

std::map<std::string, std::string> library_versions() {
    return {
        {"sqlite", SqliteConnector::library_version()},
        {"sqlitecpp", SQLITECPP_VERSION},
        {"libpq", pg_library_version()},
        {"libpqxx", PostgresConnector::library_version()},
        {"compiler", __VERSION__},
    };
}

}  // namespace loadbench
