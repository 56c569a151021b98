#include "connectors/spacetimedb_connector.hpp"

#include "connectors/registry.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "connectors/options.hpp"
#include "connectors/http_transfer.hpp"
#include "net/ws_connection.hpp"

namespace loadbench {

using json = nlohmann::json;

namespace {
constexpr const char* kSubprotocol = "v1.json.spacetimedb";
}

namespace stdb {

std::string call_reducer_message(const Transfer& t, std::uint32_t request_id) {
    char buf[200];
    const int n = std::snprintf(
        buf, sizeof buf, R"({"CallReducer":{"reducer":"transfer","args":"[%llu,%llu,%lld]","request_id":%u,"flags":0}})",
        static_cast<unsigned long long>(t.from_id), static_cast<unsigned long long>(t.to_id),
        static_cast<long long>(t.amount), request_id);
    return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<Attempt> interpret_message(std::string_view text, std::uint32_t request_id, std::string& error) {
    const json message = json::parse(text, nullptr, false);
    if (!message.is_object()) {
        error = "not a JSON message: " + one_line(std::string(text));
        return Attempt::failed(ErrorKind::protocol);
    }
    if (const auto light = message.find("TransactionUpdateLight"); light != message.end()) {
        if (light->is_object() && light->value("request_id", 0u) == request_id) return Attempt::committed();
        return std::nullopt;
    }
    const auto update = message.find("TransactionUpdate");
    if (update == message.end() || !update->is_object()) return std::nullopt;  // other traffic
    const auto call = update->find("reducer_call");
    if (call == update->end() || !call->is_object() || call->value("request_id", 0u) != request_id) return std::nullopt;
    const auto status = update->find("status");
    if (status == update->end() || !status->is_object()) {
        error = "TransactionUpdate without a status";
        return Attempt::failed(ErrorKind::protocol);
    }
    if (status->contains("Committed")) return Attempt::committed();
    if (const auto failed = status->find("Failed"); failed != status->end()) {
        error = one_line(failed->is_string() ? failed->get<std::string>() : failed->dump());
        if (error.find("insufficient_funds") != std::string::npos) return Attempt::rejected();
        return Attempt::failed(ErrorKind::other);
    }
    if (status->contains("OutOfEnergy")) {
        error = "out of energy";
        return Attempt::failed(ErrorKind::other);
    }
    error = "unknown TransactionUpdate status: " + one_line(status->dump());
    return Attempt::failed(ErrorKind::protocol);
}

}  // namespace stdb

namespace {

class StdbSession final : public AsyncTransferSession, public WsReplyHandler {
public:
    explicit StdbSession(std::shared_ptr<WsConnection> conn) : conn_(std::move(conn)) {}

    void transfer(const Transfer& t, AttemptCallback& done) override {
        done_ = &done;
        request_id_ = ++next_request_id_;
        message_ = stdb::call_reducer_message(t, request_id_);
        conn_->send(message_, *this);
    }
    bool is_reply(std::string_view text) override {
        std::string error;
        const auto attempt = stdb::interpret_message(text, request_id_, error);
        if (!attempt) return false;
        outcome_ = *attempt;
        if (attempt->outcome == Outcome::failed) last_error_ = error;
        return true;
    }
    void on_reply() override { done_->attempt_done(outcome_); }
    void on_failure(ErrorKind kind, const std::string& message) override {
        last_error_ = message;
        done_->attempt_done(Attempt::failed(kind, false));
    }
    void interrupt() noexcept override { conn_->interrupt(); }
    void shutdown() override { conn_->close(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    std::shared_ptr<WsConnection> conn_;
    AttemptCallback* done_ = nullptr;
    std::uint32_t next_request_id_ = 0;
    std::uint32_t request_id_ = 0;
    std::string message_;
    Attempt outcome_;
    std::string last_error_;
};

std::string checked_module(const std::string& name) {
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
            throw ConnectorConfigError("module name '" + name + "' may hold only letters, digits, - and _");
    return name;
}

std::int64_t as_int(const json& v) {
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_string()) return std::stoll(v.get<std::string>());
    throw ConnectorError("verify: the verification row holds a non-integer");
}

}  // namespace

SpacetimeDbConnector::SpacetimeDbConnector(const ConnectorOptions& options)
    : url_(parse_http_url(option_required(options, "url"))),
      module_(checked_module(option_required(options, "module"))),
      token_(option_string(options, "token", "")) {
    auto ws = std::make_shared<WsSettings>();
    ws->host_header = url_.host_header();
    ws->target = url_.base_path + "/v1/database/" + module_ + "/subscribe?compression=None";
    ws->subprotocol = kSubprotocol;
    ws->bearer = token_;
    ws_settings_ = std::move(ws);
    tls_ = make_tls_client(url_);
    endpoints_.resolve(url_);
}

HttpCallResult SpacetimeDbConnector::http(http::verb method, const std::string& path, const std::string& body,
                                          const std::string& what) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!body.empty()) headers.emplace_back("content-type", path.ends_with("/sql") ? "text/plain" : "application/json");
    if (!token_.empty()) headers.emplace_back("authorization", "Bearer " + token_);
    HttpCallResult r = http_call(url_, method, url_.base_path + "/v1/database/" + module_ + path, headers, body, 600, what);
    if (r.status == 404) throw ConnectorConfigError(what + ": no database '" + module_ + "' (was spacetimedb/ published?)");
    if (r.status == 401 || r.status == 403) throw ConnectorConfigError(what + ": SpacetimeDB refused the token");
    if (r.status >= 300)
        throw ConnectorError(what + ": SpacetimeDB answered HTTP " + std::to_string(r.status) + ": " + one_line(r.body));
    return r;
}

void SpacetimeDbConnector::check() { http(http::verb::get, "/schema?version=9", "", "cannot reach SpacetimeDB"); }

void SpacetimeDbConnector::prep_accounts(const AccountsSpec& spec) {
    http(http::verb::post, "/call/seed", json::array({spec.accounts, spec.initial_balance}).dump(), "prep (seed reducer)");
}

std::optional<AccountsCheck> SpacetimeDbConnector::verify_accounts(const AccountsSpec& spec) {
    http(http::verb::post, "/call/verify", "[]", "verify (verify reducer)");
    const HttpCallResult r = http(http::verb::post, "/sql", "SELECT * FROM verification", "verify (sql)");
    const json results = json::parse(r.body, nullptr, false);
    if (!results.is_array() || results.empty() || !results[0].is_object() || !results[0].contains("rows") ||
        !results[0]["rows"].is_array() || results[0]["rows"].size() != 1)
        throw ConnectorError("verify: the verification table did not hold one row");
    const json& row = results[0]["rows"][0];
    // Columns by name from the schema when present, else in the module's order (id, accounts, total, negative).
    std::map<std::string, std::size_t> column = {{"accounts", 1}, {"total", 2}, {"negative", 3}};
    if (const auto schema = results[0].find("schema"); schema != results[0].end() && schema->contains("elements")) {
        const json& elements = (*schema)["elements"];
        for (std::size_t i = 0; i < elements.size(); ++i) {
            const json& name = elements[i].value("name", json());
            const std::string n = name.is_object() && name.contains("some") ? name["some"].get<std::string>()
                                  : name.is_string()                       ? name.get<std::string>()
                                                                           : "";
            if (column.count(n)) column[n] = i;
        }
    }
    if (!row.is_array() || row.size() <= std::max({column["accounts"], column["total"], column["negative"]}))
        throw ConnectorError("verify: the verification row has too few columns");
    AccountsCheck check;
    check.accounts = static_cast<std::uint64_t>(as_int(row[column["accounts"]]));
    check.total = as_int(row[column["total"]]);
    check.negative_balances = static_cast<std::uint64_t>(as_int(row[column["negative"]]));
    check.expected_total = static_cast<std::int64_t>(spec.accounts) * spec.initial_balance;
    check.passed = check.accounts == spec.accounts && check.total == check.expected_total && check.negative_balances == 0;
    return check;
}

void SpacetimeDbConnector::open_async_transfer_session(asio::io_context& io, std::size_t,
                                                       AsyncTransferOpenCallback& done) {
    std::string error;
    const auto endpoints = endpoints_.get(url_, error);
    if (!endpoints) return asio::post(io, [&done, error] { done.open_failed(error); });
    auto conn = std::make_shared<WsConnection>(io, endpoints, ws_settings_, tls_);
    conn->open(
        [](std::string_view greeting) -> std::string {
            const json message = json::parse(greeting, nullptr, false);
            if (message.is_object() && message.contains("IdentityToken")) return "";
            return "expected an IdentityToken first, got: " + one_line(std::string(greeting));
        },
        [conn, &done](std::string error) {
            if (!error.empty()) return done.open_failed(error);
            done.opened(std::make_unique<StdbSession>(conn));
        });
}

namespace {
const ConnectorRegistrar registrar({.kind = "spacetimedb",
                                    .make = make_registered<SpacetimeDbConnector>,
                                    .capabilities = {.model = SessionModel::event_loop}});
}  // namespace

}  // namespace loadbench
