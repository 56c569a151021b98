// SupabaseRestConnector: test-1 through PostgREST, the engine of Supabase's REST API: each transfer
// is POST <url>/rpc/transfer {"p_from", "p_to", "p_amount"} with the `apikey` header (checked by
// Supabase's gateway; PostgREST ignores it) and `Authorization: Bearer <key>` (the JWT PostgREST
// verifies), answered `true` (moved), `false` (balance too low) or a PostgREST error
// {"code": SQLSTATE or PGRSTnnn, "message", ...}. The SQL function, the accounts and the
// verification go through the database URL (the PostgreSQL connector's prep, plus grants to the
// `anon` and `authenticated` roles where they exist and a schema-cache reload, waited for).
//
// Options: `url` (required, http(s)://: the REST root, e.g. http://127.0.0.1:3000 for PostgREST
// itself or https://<project>.supabase.co/rest/v1 behind Supabase's gateway), `anon_key`
// (required), `db_url` (required).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

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
    // apikey (Supabase's gateway) and Authorization: Bearer (PostgREST's JWT), the same key.
    std::vector<std::pair<std::string, std::string>> headers() const;
    bool probe_transfer();
    void wait_for_function();

    std::string anon_key_;
    std::string db_url_;
    std::unique_ptr<PostgresConnector> database_;
};

namespace postgrest {
std::string transfer_body(const Transfer& t);
// A reply to POST /rpc/transfer as an attempt. As PostgREST 12.0.2 answers (measured here):
// 40P01 -> HTTP 500 (deadlock, retryable); 53300 -> 503 (too many connections: busy, retryable);
// P0001 (RAISE) -> 400 (other, final); PGRST202 -> 404 (no such function, final); PGRST301 -> 401
// (bad JWT, final). 40001 never arrives: PostgREST re-runs the transaction itself, without limit.
Attempt interpret_transfer_reply(unsigned status, const std::string& body, std::string& error);
}  // namespace postgrest

}  // namespace loadbench
