// PostgresConnector: test-1 on PostgreSQL and the systems that speak its protocol (CockroachDB,
// Supabase's database, PlanetScale's PostgreSQL). The control plane (check, prep with COPY,
// verify) goes through libpqxx; sessions use libpq's asynchronous API directly (PgConnection),
// because libpqxx 6 has no pipeline mode and exposes no socket to drive from an event loop.
//
// Options: `url` (required), `flavor` = postgres | cockroachdb, `mode` = function (one round trip:
// SELECT transfer(...)) | statements (BEGIN; UPDATE; UPDATE; COMMIT, as an ORM would),
// `isolation` = read_committed | serializable, `inflight` = transfers in flight per connection
// (pipeline mode; function mode only), `session_settings` = `name=value;name=value` (run as SET
// on every connection: configuration presets such as synchronous_commit=off).
// SQL scenarios (postgres_sql.cpp) use the same connections, settings and pipelining.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "connectors/pg_connection.hpp"

namespace loadbench {

struct PgOptions {
    std::string url;
    std::string session_conninfo;  // url with host names resolved (pg_conninfo_with_addresses): the load's
    bool cockroachdb = false;
    bool function_mode = true;
    bool serializable = false;
    std::size_t inflight = 1;
    std::vector<std::string> session_settings;  // SET statements
};


class PostgresConnector final : public Connector,
                                public EventLoopTransferSessions,
                                public SqlSessions,
                                public EventLoopSqlSessions,
                                public TransferAuditReader {
public:
    explicit PostgresConnector(const ConnectorOptions& options);
    ~PostgresConnector() override;

    void check() override;
    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;
    AuditLedger read_audit_ledger(const AccountsSpec& spec) override;

    bool is_async() const override { return true; }
    EventLoopTransferSessions* event_loop_transfer_sessions() override { return this; }
    SqlSessions* sql_sessions() override { return this; }
    EventLoopSqlSessions* event_loop_sql_sessions() override { return this; }
    void open_async_transfer_session(asio::io_context& io, std::size_t index, AsyncTransferOpenCallback& done) override;
    std::size_t sessions_per_connection() const override { return options_.inflight; }
    SessionFootprint footprint() const override;  // footprint.cpp

    // postgres_sql.cpp
    std::optional<SqlCheckFailure> sql_check(const std::vector<std::string>& script,
                                             const std::vector<std::string>& statements) override;
    void sql_execute(const std::vector<std::string>& script) override;
    SqlRows sql_query(const std::string& sql) override;
    std::unique_ptr<SqlSession> open_sql_session(const std::vector<std::string>& statements) override;
    void open_async_sql_session(asio::io_context& io, std::size_t index, const std::vector<std::string>& statements,
                                AsyncSqlOpenCallback& done) override;

    static std::string library_version();

private:
    struct Groups;
    using GroupOpened = std::function<void(const std::shared_ptr<PgConnection>& conn, const std::string& error)>;
    // Session `index` gets the connection of its pipeline group (opened by the group's first
    // session, with `statements` prepared); `done` runs on `io`'s thread.
    void open_in_group(asio::io_context& io, std::size_t index, std::vector<PgStatement> statements, GroupOpened done);
    // What every connection runs first: application name, isolation, session settings.
    std::vector<std::string> connection_setup() const;
    void deliver(const std::shared_ptr<PgConnection>& conn, const std::string& error,
                 AsyncTransferOpenCallback& done) const;
    PgOptions options_;
    std::unique_ptr<Groups> groups_;  // connections shared by the sessions of a pipeline group
};

}  // namespace loadbench
