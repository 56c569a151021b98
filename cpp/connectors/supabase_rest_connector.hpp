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

#include "connectors/http_transfer.hpp"

namespace loadbench {

class PostgresConnector;

class SupabaseRestConnector final : public HttpTransferConnector {
public:
    explicit SupabaseRestConnector(const ConnectorOptions& options);
    ~SupabaseRestConnector() override;

    void check() override;
    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;

private:
    std::string anon_key_;
    std::string db_url_;
    std::unique_ptr<PostgresConnector> database_;
};

namespace postgrest {
std::string transfer_body(const Transfer& t);
Attempt interpret_transfer_reply(unsigned status, const std::string& body, std::string& error);
}  // namespace postgrest

}  // namespace loadbench
