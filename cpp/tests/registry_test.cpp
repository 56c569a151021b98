// Connectors register themselves (connectors/registry.hpp): every kind survives linking, each is
// made by its kind, and what its capabilities say matches what the connector does.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "connectors/registry.hpp"
#include "net/reconnect_backoff.hpp"

namespace loadbench {
namespace {

TEST(ConnectorRegistry, EveryConnectorRegistersItself) {
    const std::vector<std::string> kinds = connector_kinds();
    EXPECT_EQ(std::set<std::string>(kinds.begin(), kinds.end()),
              (std::set<std::string>{"convex", "null", "postgres", "rpc", "spacetimedb", "sqlite", "supabase-rest"}));
    EXPECT_TRUE(std::is_sorted(kinds.begin(), kinds.end()));
    EXPECT_THROW(make_connector("no-such-kind", {}), ConnectorError);
}

TEST(ConnectorRegistry, CapabilitiesMatchTheConnectors) {
    const std::map<std::string, ConnectorOptions> options{
        {"null", {}},
        {"sqlite", {{"file", "/nonexistent/never-opened.db"}}},
        {"postgres", {{"url", "postgresql://127.0.0.1:1/db"}}},
        {"rpc", {{"url", "http://127.0.0.1:1"}}},
        {"convex", {{"url", "http://127.0.0.1:1"}}},
        {"supabase-rest", {{"url", "http://127.0.0.1:1"}, {"anon_key", "k"}, {"db_url", "postgresql://127.0.0.1:1/db"}}},
        {"spacetimedb", {{"url", "http://127.0.0.1:1"}, {"module", "bank"}}},
    };
    for (const ConnectorRegistration& r : registered_connectors()) {
        SCOPED_TRACE(r.kind);
        const auto connector = make_connector(r.kind, options.at(r.kind));  // connects to nothing
        EXPECT_EQ(connector->is_async(), r.capabilities.model == SessionModel::event_loop);
        if (!r.capabilities.pipelining) EXPECT_EQ(connector->sessions_per_connection(), 1u);
        // A SQL dialect other than the null connector's comes with its placeholder style.
        if (!r.capabilities.sql_dialect.empty() && r.capabilities.sql_dialect != "null")
            EXPECT_FALSE(r.capabilities.placeholder.empty());
    }
    const auto versions = library_versions();
    for (const char* library : {"sqlite", "sqlitecpp", "libpq", "libpqxx", "compiler"})
        EXPECT_FALSE(versions.at(library).empty()) << library;
}

TEST(ReconnectBackoff, DoublesFromTenMillisecondsToOneSecondAndStartsOverOnReset) {
    using std::chrono::milliseconds;
    ReconnectBackoff b;
    std::vector<milliseconds> waits;
    for (int i = 0; i < 9; ++i) waits.push_back(b.next());
    EXPECT_EQ(waits, (std::vector<milliseconds>{milliseconds(10), milliseconds(20), milliseconds(40), milliseconds(80),
                                                milliseconds(160), milliseconds(320), milliseconds(640),
                                                milliseconds(1000), milliseconds(1000)}));
    b.reset();
    EXPECT_EQ(b.next(), milliseconds(10));
}

}  // namespace
}  // namespace loadbench
