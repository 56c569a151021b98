#include "connectors/supabase_rest_connector.hpp"

#include "connectors/registry.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <cstdio>

#include "connectors/options.hpp"
#include "connectors/pg_connection.hpp"
#include "connectors/postgres_connector.hpp"
#include "connectors/http_transfer.hpp"

namespace loadbench {

using json = nlohmann::json;

namespace postgrest {

std::string transfer_body(const Transfer& t) {
    char buf[128];
    const int n = std::snprintf(buf, sizeof buf, R"({"p_from":%llu,"p_to":%llu,"p_amount":%lld})",
                                static_cast<unsigned long long>(t.from_id), static_cast<unsigned long long>(t.to_id),
                                static_cast<long long>(t.amount));
    return std::string(buf, static_cast<std::size_t>(n));
}

Attempt interpret_transfer_reply(unsigned status, const std::string& body, std::string& error) {
    const json reply = json::parse(body, nullptr, false);
    if (status >= 200 && status < 300) {
        if (reply.is_boolean()) return reply.get<bool>() ? Attempt::committed() : Attempt::rejected();
        error = "unexpected reply: " + one_line(body);
        return Attempt::failed(ErrorKind::protocol);
    }
    // PostgREST's error shape: {"code", "message", "details", "hint"}; code is a SQLSTATE when the
    // database raised it, PGRSTnnn when PostgREST did.
    if (reply.is_object() && reply.contains("message")) {
        const std::string code = reply.value("code", "");
        error = one_line(reply["message"].is_string() ? reply["message"].get<std::string>() : "error");
        if (!code.empty()) error = code + ": " + error;
        if (code.size() == 5 && code.rfind("PGRST", 0) != 0) {
            PgReply pg;
            classify_pg_error(code.c_str(), pg);
            return Attempt::failed(pg.error, pg.retryable);
        }
    } else {
        error = "HTTP " + std::to_string(status) + ": " + one_line(body);
    }
    const ErrorKind kind = http_status_kind(status);
    return Attempt::failed(kind, kind == ErrorKind::busy);
}

}  // namespace postgrest

namespace {

// Supabase's API roles may call the function and touch the table it updates; PostgREST reloads
// its schema cache to see the new function. Harmless on a plain PostgreSQL without those roles.
constexpr const char* kSupabaseGrants = R"sql(
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    GRANT SELECT, UPDATE ON accounts TO anon, authenticated;
    GRANT EXECUTE ON FUNCTION transfer(bigint, bigint, bigint) TO anon, authenticated;
  END IF;
END $$;
NOTIFY pgrst, 'reload schema';
)sql";

}  // namespace

SupabaseRestConnector::SupabaseRestConnector(const ConnectorOptions& options)
    : HttpTransferConnector(parse_http_url(option_required(options, "url"))),
      anon_key_(option_required(options, "anon_key")),
      db_url_(option_required(options, "db_url")),
      database_(std::make_unique<PostgresConnector>(ConnectorOptions{{"url", db_url_}, {"mode", "function"}})) {
    set_transfer({.path = "/rest/v1/rpc/transfer",
                  .headers = {{"apikey", anon_key_}, {"authorization", "Bearer " + anon_key_}},
                  .body = postgrest::transfer_body,
                  .interpret = postgrest::interpret_transfer_reply});
    resolve();
}

SupabaseRestConnector::~SupabaseRestConnector() = default;

void SupabaseRestConnector::check() {
    database_->check();
    const HttpCallResult r = http_call(url_, http::verb::get, url_.base_path + "/rest/v1/",
                                       {{"apikey", anon_key_}, {"authorization", "Bearer " + anon_key_}}, "", 10,
                                       "cannot reach Supabase's REST API");
    if (r.status == 401 || r.status == 403)
        throw ConnectorConfigError("Supabase's REST API refused the key (HTTP " + std::to_string(r.status) + ")");
    if (r.status >= 400) throw ConnectorError("Supabase's REST API answered HTTP " + std::to_string(r.status));
}

void SupabaseRestConnector::prep_accounts(const AccountsSpec& spec) {
    database_->prep_accounts(spec);
    try {
        pqxx::connection c(db_url_);
        pqxx::nontransaction n(c);
        n.exec(kSupabaseGrants);
    } catch (const std::exception& e) {
        std::string message = e.what();
        throw ConnectorError("prep (grants): " + message.substr(0, message.find('\n')));
    }
}

std::optional<AccountsCheck> SupabaseRestConnector::verify_accounts(const AccountsSpec& spec) {
    return database_->verify_accounts(spec);
}

namespace {
const ConnectorRegistrar registrar({.kind = "supabase-rest",
                                    .make = make_registered<SupabaseRestConnector>,
                                    .capabilities = {.model = SessionModel::event_loop}});
}  // namespace

}  // namespace loadbench
