// Connectors register themselves (connectors/registry.hpp): every kind survives linking, each is
// made by its kind, and what its capabilities say matches what the connector does.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "connectors/registry.hpp"
#include "net/reconnect_backoff.hpp"
#include "scenarios/transfer_scenario.hpp"
#include "server/rpc_server.hpp"

namespace loadbench {
namespace {

TEST(ConnectorRegistry, EveryConnectorRegistersItself) {
    const std::vector<std::string> kinds = connector_kinds();
    EXPECT_EQ(std::set<std::string>(kinds.begin(), kinds.end()),
              (std::set<std::string>{"convex", "mysql", "null", "postgres", "redis", "rpc", "spacetimedb", "sqlite",
                                     "supabase-rest"}));
    EXPECT_TRUE(std::is_sorted(kinds.begin(), kinds.end()));
    EXPECT_THROW(make_connector("no-such-kind", {}), ConnectorError);
}

TEST(ConnectorRegistry, CapabilitiesMatchTheConnectors) {
    const std::map<std::string, ConnectorOptions> options{
        {"null", {}},
        {"sqlite", {{"file", "/nonexistent/never-opened.db"}}},
        {"postgres", {{"url", "postgresql://127.0.0.1:1/db"}}},
        {"mysql", {{"url", "mysql://u:p@127.0.0.1:1/db"}}},
        {"rpc", {{"url", "http://127.0.0.1:1"}}},
        {"convex", {{"url", "http://127.0.0.1:1"}}},
        {"supabase-rest", {{"url", "http://127.0.0.1:1"}, {"anon_key", "k"}, {"db_url", "postgresql://127.0.0.1:1/db"}}},
        {"spacetimedb", {{"url", "http://127.0.0.1:1"}, {"module", "bank"}}},
        {"redis", {{"url", "redis://127.0.0.1:1/0"}, {"inflight", "4"}}},
    };
    for (const ConnectorRegistration& r : registered_connectors()) {
        SCOPED_TRACE(r.kind);
        const auto connector = make_connector(r.kind, options.at(r.kind));  // connects to nothing
        EXPECT_EQ(connector->is_async(), r.capabilities.model == SessionModel::event_loop);
        if (!r.capabilities.pipelining) EXPECT_EQ(connector->sessions_per_connection(), 1u);
        // The session families it offers are those its capabilities announce: test-1 in its model
        // (every connector runs test-1), SQL exactly when it names a dialect, in its model too.
        const bool event_loop = r.capabilities.model == SessionModel::event_loop;
        const bool sql = !r.capabilities.sql_dialect.empty();
        EXPECT_EQ(connector->blocking_transfer_sessions() != nullptr, !event_loop);
        EXPECT_EQ(connector->event_loop_transfer_sessions() != nullptr, event_loop);
        EXPECT_EQ(connector->sql_sessions() != nullptr, sql);
        EXPECT_EQ(connector->event_loop_sql_sessions() != nullptr, sql && event_loop);
        EXPECT_EQ(sql, !r.capabilities.placeholder.empty() || r.capabilities.sql_dialect == "null");
        EXPECT_EQ(connector->kind(), r.kind);
        // --audit exactly where announced: the connector reads a ledger.
        EXPECT_EQ(dynamic_cast<TransferAuditReader*>(connector.get()) != nullptr, r.capabilities.audit);
        // A SQL dialect other than the null connector's comes with its placeholder style.
        if (!r.capabilities.sql_dialect.empty() && r.capabilities.sql_dialect != "null")
            EXPECT_FALSE(r.capabilities.placeholder.empty());
    }
    const auto versions = library_versions();
    for (const char* library : {"sqlite", "sqlitecpp", "libpq", "libpqxx", "mariadb-connector-c", "hiredis", "compiler"})
        EXPECT_FALSE(versions.at(library).empty()) << library;
}

// A connector that offers only the control plane: every scenario and the rpc server refuse it
// with one ConnectorConfigError line when they are set up, before any session opens.
class ControlPlaneOnly final : public Connector {
public:
    void prep_accounts(const AccountsSpec&) override {}
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec&) override { return std::nullopt; }
};

template <class F>
std::string config_error_of(F&& f) {
    try {
        f();
    } catch (const ConnectorConfigError& e) {
        return e.what();
    }
    return "no ConnectorConfigError";
}

TEST(SessionFamilies, AConnectorWithoutAFamilyIsRefusedInOneLineBeforeAnyLoad) {
    auto c = std::make_shared<ControlPlaneOnly>();
    const RunConfig config{.concurrency = 1, .warmup_seconds = 0, .seconds = 0.1};
    EXPECT_EQ(config_error_of([&] { make_transfer_run(config, TransferParams{}, c); }),
              "this connector runs no test-1 transfers");
    EXPECT_EQ(config_error_of([&] { RpcServer server({}, c); }),
              "this connector runs no test-1 transfers: it cannot back the rpc server");
    EXPECT_EQ(config_error_of([&] { c->sql_execute({"SELECT 1"}); }), "this connector runs no SQL scenarios");
    EXPECT_EQ(config_error_of([&] { c->sql_query("SELECT 1"); }), "this connector runs no SQL scenarios");
    EXPECT_EQ(config_error_of([&] { c->sql_check({}, {"SELECT 1"}); }), "this connector runs no SQL scenarios");
    // A registered connector names its kind.
    auto rpc = make_connector("rpc", {{"url", "http://127.0.0.1:1"}});
    EXPECT_EQ(config_error_of([&] { rpc->sql_execute({"SELECT 1"}); }), "connector 'rpc' runs no SQL scenarios");
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
