#include "connectors/supabase_rest_connector.hpp"

#include "connectors/registry.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <cstdio>
#include <thread>

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
        // 53300 (too_many_connections) reaches us from inside PostgREST: the server is busy, our
        // connection to it is fine (PostgreSQL's own client counts it as a lost connection).
        if (code == "53300") return Attempt::failed(ErrorKind::busy, true);
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

// Supabase's API roles (`anon`, and `authenticated` where it exists: a bare PostgREST has only
// the roles its configuration names) may call the function and touch the table it updates;
// PostgREST reloads its schema cache to see the new function. Harmless on a plain PostgreSQL.
constexpr const char* kSupabaseGrants = R"sql(
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT SELECT, UPDATE ON accounts TO %I', r);
      EXECUTE format('GRANT EXECUTE ON FUNCTION transfer(bigint, bigint, bigint) TO %I', r);
    END IF;
  END LOOP;
END $$;
NOTIFY pgrst, 'reload schema';
)sql";

// A transfer that moves nothing (account 0 does not exist, the amount is 0): `false` once
// PostgREST sees the function.
constexpr const char* kProbeBody = R"({"p_from":0,"p_to":0,"p_amount":0})";
constexpr double kSchemaReloadWait_s = 15;

std::vector<std::pair<std::string, std::string>> with_json_content_type(
    std::vector<std::pair<std::string, std::string>> headers) {
    headers.emplace_back("content-type", "application/json");
    return headers;
}

std::string reply_code(const HttpCallResult& r) {
    const json reply = json::parse(r.body, nullptr, false);
    return reply.is_object() && reply.contains("code") && reply["code"].is_string() ? reply["code"].get<std::string>() : "";
}

// "HTTP 401 PGRST301: JWSError JWSInvalidSignature" from a PostgREST (or gateway) error reply.
std::string describe_reply(const HttpCallResult& r) {
    std::string text = "HTTP " + std::to_string(r.status);
    const json reply = json::parse(r.body, nullptr, false);
    if (reply.is_object()) {
        if (const std::string code = reply_code(r); !code.empty()) text += " " + code;
        if (reply.contains("message") && reply["message"].is_string()) text += ": " + one_line(reply["message"].get<std::string>());
    }
    return text;
}

}  // namespace

SupabaseRestConnector::SupabaseRestConnector(const ConnectorOptions& options)
    : HttpTransferConnector(parse_http_url(option_required(options, "url"))),
      anon_key_(option_required(options, "anon_key")),
      db_url_(option_required(options, "db_url")),
      database_(std::make_unique<PostgresConnector>(ConnectorOptions{{"url", db_url_}, {"mode", "function"}})) {
    set_transfer({.path = "/rpc/transfer",
                  .headers = headers(),
                  .body = postgrest::transfer_body,
                  .interpret = postgrest::interpret_transfer_reply});
    resolve();
}

SupabaseRestConnector::~SupabaseRestConnector() = default;

std::vector<std::pair<std::string, std::string>> SupabaseRestConnector::headers() const {
    return {{"apikey", anon_key_}, {"authorization", "Bearer " + anon_key_}};
}

// A transfer that moves nothing, as the bench would send it: `false` once PostgREST finds the
// function (or a SQLSTATE error the function raised: a deadlock now says nothing about the
// configuration); 404 PGRST202 before prep made it (or 42883, just dropped); 401 when the key is refused (PostgREST's
// PGRST301 for a bad JWT, or Supabase's gateway's "Invalid API key"); any other 404 when the URL
// is not a REST root. Returns whether the function was found.
bool SupabaseRestConnector::probe_transfer() {
    const HttpCallResult r = http_call(url_, http::verb::post, url_.base_path + "/rpc/transfer",
                                       with_json_content_type(headers()), kProbeBody, 10, "cannot reach the REST API");
    if (r.status == 200) return true;
    const std::string code = reply_code(r);
    const bool sqlstate = code.size() == 5 && code.rfind("PGRST", 0) != 0;
    // PostgREST answers 401/403 for the database's 42501 too (the role may not touch the table
    // yet: prep grants it); only its own codes (PGRST301 bad JWT ...) say the key was refused.
    if ((r.status == 401 || r.status == 403) && !sqlstate)
        throw ConnectorConfigError("the REST API refused the key (" + describe_reply(r) + ")");
    // 42883: dropped since PostgREST last loaded its schema cache.
    if (r.status == 404 && (code == "PGRST202" || code == "42883")) return false;
    if (sqlstate) return true;  // the function ran and the database raised: the API and the key work
    if (r.status == 404)
        throw ConnectorConfigError("no REST API at the URL (POST " + url_.base_path + "/rpc/transfer: " + describe_reply(r) +
                                   "): SUPABASE_URL is the project's URL (/rest/v1 is appended), SUPABASE_REST_URL the "
                                   "REST root as it is (PostgREST's own root, or a URL ending in /rest/v1)");
    throw ConnectorError("POST /rpc/transfer answered " + describe_reply(r));
}

void SupabaseRestConnector::check() {
    database_->check();
    probe_transfer();  // the function may be missing: prep creates it
}

// After prep: PostgREST reloads its schema cache on NOTIFY, asynchronously; wait until it finds
// the function, so that the run does not begin with 404s.
void SupabaseRestConnector::wait_for_function() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(kSchemaReloadWait_s);
    while (!probe_transfer()) {
        if (std::chrono::steady_clock::now() > deadline)
            throw ConnectorConfigError("prep: the REST API does not find the function transfer(p_from, p_to, p_amount) "
                                       "after prep (404 PGRST202): it must expose the public schema (db-schemas) and "
                                       "reload its schema cache on NOTIFY pgrst");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

void SupabaseRestConnector::prep_accounts(const AccountsSpec& spec) {
    database_->prep_accounts(spec);
    try {
        pqxx::connection c(pg_conninfo_with_connect_timeout(db_url_));
        pqxx::nontransaction n(c);
        n.exec(kSupabaseGrants);
    } catch (const std::exception& e) {
        std::string message = e.what();
        throw ConnectorError("prep (grants): " + message.substr(0, message.find('\n')));
    }
    wait_for_function();
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
