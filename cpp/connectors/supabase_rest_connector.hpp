// SupabaseRestConnector: test-1 through Supabase's REST interface (PostgREST): each transfer is
// POST <url>/rest/v1/rpc/transfer {"p_from", "p_to", "p_amount"} with the `apikey` and
// `Authorization: Bearer` headers, answered `true` (moved), `false` (balance too low) or a
// PostgREST error {"code": SQLSTATE, "message", ...}. The SQL function, the accounts and the
// verification go through the database URL (the PostgreSQL connector's prep, plus grants to the
// `anon` role and a schema-cache reload when the database has them).
//
// Options: `url` (required, http://), `anon_key` (required), `db_url` (required).
#pragma once

#include <memory>
#include <string>

#include "connectors/connector.hpp"
#include "net/http_connection.hpp"

namespace loadbench {

class HttpTransferProtocol;
class PostgresConnector;

class SupabaseRestConnector final : public Connector {
public:
    explicit SupabaseRestConnector(const ConnectorOptions& options);
    ~SupabaseRestConnector() override;

    void check() override;
    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;

    bool is_async() const override { return true; }
    void open_async_transfer_session(asio::io_context& io, std::size_t index, AsyncTransferOpenCallback& done) override;

private:
    HttpUrl url_;
    std::string anon_key_;
    std::string db_url_;
    std::unique_ptr<PostgresConnector> database_;
    SharedEndpoints endpoints_;
    std::shared_ptr<TlsClient> tls_;  // https only
    std::shared_ptr<const HttpTransferProtocol> protocol_;
};

namespace postgrest {
std::string transfer_body(const Transfer& t);
Attempt interpret_transfer_reply(unsigned status, const std::string& body, std::string& error);
}  // namespace postgrest

}  // namespace loadbench
