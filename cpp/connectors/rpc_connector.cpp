#include "connectors/rpc_connector.hpp"

#include "connectors/registry.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>

#include <boost/asio/post.hpp>

#include "connectors/options.hpp"
#include "connectors/http_transfer.hpp"

namespace loadbench {

using json = nlohmann::json;

namespace rpc {

std::string transfer_body(const Transfer& t) {
    char buf[160];
    const int n = std::snprintf(buf, sizeof buf, R"({"name":"transfer","args":{"from_id":%llu,"to_id":%llu,"amount":%lld}})",
                                static_cast<unsigned long long>(t.from_id - 1), static_cast<unsigned long long>(t.to_id - 1),
                                static_cast<long long>(t.amount));
    return std::string(buf, static_cast<std::size_t>(n));
}

Attempt interpret_transfer_reply(unsigned status, const std::string& body, std::string& error) {
    const ErrorKind status_kind = http_status_kind(status);
    const json reply = json::parse(body, nullptr, false);
    const bool is_object = reply.is_object() && reply.contains("ok") && reply["ok"].is_boolean();
    if (status_kind == ErrorKind::none && is_object && reply["ok"].get<bool>()) {
        const auto result = reply.find("result");
        if (result != reply.end() && result->is_object()) {
            const auto transferred = result->find("transferred");
            if (transferred != result->end() && transferred->is_boolean() && !transferred->get<bool>())
                return Attempt::rejected();
        }
        return Attempt::committed();
    }
    if (is_object && !reply["ok"].get<bool>()) {
        const auto message = reply.find("error");
        error = one_line(message != reply.end() && message->is_string() ? message->get<std::string>() : "error");
        // The bundled server says when retrying may succeed (busy, serialization).
        const auto kind = reply.find("kind");
        if (kind != reply.end() && kind->is_string()) {
            const std::string k = kind->get<std::string>();
            if (k == "busy") return Attempt::failed(ErrorKind::busy, true);
            if (k == "serialization") return Attempt::failed(ErrorKind::serialization, true);
            if (k == "deadlock") return Attempt::failed(ErrorKind::deadlock, true);
            if (k == "connection") return Attempt::failed(ErrorKind::connection, false);
            if (k == "timeout") return Attempt::failed(ErrorKind::timeout, false);
            if (k == "constraint") return Attempt::failed(ErrorKind::constraint, false);
        }
        return Attempt::failed(status_kind == ErrorKind::none ? ErrorKind::other : status_kind,
                               status_kind == ErrorKind::busy);
    }
    error = "HTTP " + std::to_string(status) + ": " + one_line(body);
    if (status_kind == ErrorKind::busy) return Attempt::failed(ErrorKind::busy, true);
    return Attempt::failed(status_kind == ErrorKind::none ? ErrorKind::protocol : status_kind);
}

}  // namespace rpc

namespace {

std::int64_t as_int(const json& v, const char* name) {
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        std::int64_t out = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec == std::errc() && end == s.data() + s.size()) return out;
    }
    throw ConnectorError(std::string("verify: the server's '") + name + "' is not an integer");
}

}  // namespace

RpcConnector::RpcConnector(const ConnectorOptions& options)
    : HttpTransferConnector(parse_http_url(option_required(options, "url"))),
      control_timeout_s_(static_cast<double>(option_int(options, "control_timeout_s", 600, 1, 86'400))) {
    set_transfer({.path = "/rpc", .body = rpc::transfer_body, .interpret = rpc::interpret_transfer_reply});
    resolve();
}

std::string RpcConnector::call(const std::string& body, double timeout_s, const std::string& what) {
    const HttpCallResult r = http_call(url_, http::verb::post, url_.base_path + "/rpc",
                                       {{"content-type", "application/json"}}, body, timeout_s, what);
    const json reply = json::parse(r.body, nullptr, false);
    if (reply.is_object() && reply.contains("ok") && reply["ok"].is_boolean()) {
        if (reply["ok"].get<bool>()) return r.body;
        const auto message = reply.find("error");
        throw ConnectorError(what + ": the server answered: " +
                             one_line(message != reply.end() && message->is_string() ? message->get<std::string>() : "error"));
    }
    throw ConnectorError(what + ": " + url_.origin() + " answered HTTP " + std::to_string(r.status) +
                         " without an rpc reply (is it an rpc server?)");
}

void RpcConnector::check() { call(R"({"name":"health","args":{}})", 10, "cannot reach the rpc server"); }

void RpcConnector::prep_accounts(const AccountsSpec& spec) {
    const json body = {{"name", "seed"}, {"args", {{"accounts", spec.accounts}, {"initialBalance", spec.initial_balance}}}};
    call(body.dump(), control_timeout_s_, "prep (rpc seed)");
}

std::optional<AccountsCheck> RpcConnector::verify_accounts(const AccountsSpec& spec) {
    const json body = {{"name", "verify"},
                       {"args", {{"accounts", spec.accounts}, {"initialBalance", spec.initial_balance}}}};
    const json reply = json::parse(call(body.dump(), control_timeout_s_, "verify (rpc verify)"));
    const auto result = reply.find("result");
    if (result == reply.end() || !result->is_object())
        throw ConnectorError("verify: the rpc server's reply has no result");
    if (result->value("skipped", false))
        throw ConnectorError("verify: the rpc server skipped it (set SEED_INITIAL_BALANCE on the server)");
    AccountsCheck check;
    check.accounts = static_cast<std::uint64_t>(as_int(result->at("accounts"), "accounts"));
    check.total = as_int(result->at("total"), "total");
    if (result->contains("negative")) check.negative_balances = static_cast<std::uint64_t>(as_int((*result)["negative"], "negative"));
    if (result->contains("changed")) check.changed = static_cast<std::uint64_t>(as_int((*result)["changed"], "changed"));
    check.expected_total = static_cast<std::int64_t>(spec.accounts) * spec.initial_balance;
    check.passed = check.accounts == spec.accounts && check.total == check.expected_total && check.negative_balances == 0;
    return check;
}

namespace {
const ConnectorRegistrar registrar({.kind = "rpc",
                                    .make = make_registered<RpcConnector>,
                                    .capabilities = {.model = SessionModel::event_loop}});
}  // namespace

}  // namespace loadbench
