// PostgresConnector: test-1 on PostgreSQL and the systems that speak its protocol (CockroachDB,
// Supabase's database, PlanetScale's PostgreSQL). The control plane (check, prep with COPY,
// verify) goes through libpqxx; sessions use libpq's asynchronous API directly (PgConnection),
// because libpqxx 6 has no pipeline mode and exposes no socket to drive from an event loop.
//
// Options: `url` (required), `flavor` = postgres | cockroachdb, `mode` = function (one round trip:
// SELECT transfer(...)) | statements (BEGIN; UPDATE; UPDATE; COMMIT, as an ORM would),
// `isolation` = read_committed | serializable, `inflight` = transfers in flight per connection
// (pipeline mode; function mode only).
#pragma once

#include <string>

#include "connectors/connector.hpp"

namespace loadbench {

struct PgOptions {
    std::string url;
    bool cockroachdb = false;
    bool function_mode = true;
    bool serializable = false;
    std::size_t inflight = 1;
};

class PostgresConnector final : public Connector {
public:
    explicit PostgresConnector(const ConnectorOptions& options);
    ~PostgresConnector() override;

    void check() override;
    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;

    bool is_async() const override { return true; }
    void open_async_transfer_session(asio::io_context& io, std::size_t index, AsyncTransferOpenCallback& done) override;
    std::size_t sessions_per_connection() const override { return options_.inflight; }

    static std::string library_version();

private:
    struct Groups;
    void deliver(const std::shared_ptr<class PgConnection>& conn, const std::string& error,
                 AsyncTransferOpenCallback& done) const;
    PgOptions options_;
    std::unique_ptr<Groups> groups_;  // connections shared by the sessions of a pipeline group
};

}  // namespace loadbench
