#include "connectors/convex_connector.hpp"

#include "connectors/registry.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "connectors/options.hpp"
#include "connectors/http_transfer.hpp"

namespace loadbench {

using json = nlohmann::json;

namespace {
constexpr std::uint64_t kSeedBatch = 4000;  // documents per seeding mutation (Convex caps writes per mutation)
constexpr int kSummaryPage = 8000;          // documents per verification query (and reads per query)
constexpr unsigned kStatusFunctionFailed = 560;

// Convex's optimistic concurrency: a mutation that lost a race reports a write conflict.
bool is_write_conflict(const std::string& message) {
    return message.find("while this mutation was being run") != std::string::npos ||
           message.find("OptimisticConcurrencyControlFailure") != std::string::npos;
}
}  // namespace

namespace convex {

std::string transfer_body(const Transfer& t) {
    char buf[160];
    const int n = std::snprintf(
        buf, sizeof buf, R"({"path":"transfer:transfer","args":{"from_id":%llu,"to_id":%llu,"amount":%lld},"format":"json"})",
        static_cast<unsigned long long>(t.from_id), static_cast<unsigned long long>(t.to_id), static_cast<long long>(t.amount));
    return std::string(buf, static_cast<std::size_t>(n));
}

Attempt interpret_transfer_reply(unsigned status, const std::string& body, std::string& error) {
    const json reply = json::parse(body, nullptr, false);
    const std::string outcome = reply.is_object() ? reply.value("status", "") : "";
    if (outcome == "success" && (status == 200)) {
        const auto value = reply.find("value");
        if (value != reply.end() && value->is_boolean() && !value->get<bool>()) return Attempt::rejected();
        return Attempt::committed();
    }
    if (outcome == "error") {
        const auto message = reply.find("errorMessage");
        error = one_line(message != reply.end() && message->is_string() ? message->get<std::string>() : "error");
        if (is_write_conflict(error)) return Attempt::failed(ErrorKind::serialization, true);
        const ErrorKind kind = status == 200 || status == kStatusFunctionFailed ? ErrorKind::other : http_status_kind(status);
        return Attempt::failed(kind, kind == ErrorKind::busy);
    }
    error = "HTTP " + std::to_string(status) + ": " + one_line(body);
    const ErrorKind kind = http_status_kind(status);
    return Attempt::failed(kind == ErrorKind::none ? ErrorKind::protocol : kind, kind == ErrorKind::busy);
}

}  // namespace convex

namespace {

std::int64_t int_field(const json& o, const char* name) {
    const auto it = o.find(name);
    if (it == o.end() || !it->is_number()) throw ConnectorError(std::string("verify: accounts:summary returned no '") + name + "'");
    return it->is_number_integer() ? it->get<std::int64_t>() : static_cast<std::int64_t>(it->get<double>());
}

}  // namespace

ConvexConnector::ConvexConnector(const ConnectorOptions& options)
    : HttpTransferConnector(parse_http_url(option_required(options, "url"))) {
    set_transfer({.path = "/api/mutation", .body = convex::transfer_body, .interpret = convex::interpret_transfer_reply});
    resolve();
}

// One query or mutation through the HTTP API; the function's value as JSON text.
std::string ConvexConnector::call(const char* kind, const std::string& path, const std::string& args_json,
                                  const std::string& what) {
    const std::string body = R"({"path":")" + path + R"(","args":)" + args_json + R"(,"format":"json"})";
    for (int tries = 1;; ++tries) {
        const HttpCallResult r = http_call(url_, http::verb::post, url_.base_path + "/api/" + kind,
                                           {{"content-type", "application/json"}}, body, 120, what);
        const json reply = json::parse(r.body, nullptr, false);
        const std::string outcome = reply.is_object() ? reply.value("status", "") : "";
        if (outcome == "success") return reply.contains("value") ? reply["value"].dump() : "null";
        if (outcome == "error") {
            const std::string message = one_line(reply.value("errorMessage", "error"));
            if (is_write_conflict(message) && tries < 10) continue;
            throw ConnectorError(what + ": " + path + " failed: " + message +
                                 (message.find("Could not find") != std::string::npos ? " (was convex-app/ deployed?)" : ""));
        }
        throw ConnectorError(what + ": " + url_.origin() + " answered HTTP " + std::to_string(r.status) +
                             " without a Convex reply");
    }
}

void ConvexConnector::check() {
    call("query", "accounts:summary", R"({"cursor":null,"numItems":1})", "cannot reach Convex");
}

void ConvexConnector::prep_accounts(const AccountsSpec& spec) {
    for (;;) {  // deletes in batches until the table is empty
        const json done = json::parse(call("mutation", "seed:clear", "{}", "prep"));
        if (done.is_boolean() && done.get<bool>()) break;
    }
    for (std::uint64_t first = 1; first <= spec.accounts; first += kSeedBatch) {
        const std::uint64_t count = std::min(kSeedBatch, spec.accounts - first + 1);
        const json args = {{"first_id", first}, {"count", count}, {"initial_balance", spec.initial_balance}};
        call("mutation", "seed:insertBatch", args.dump(), "prep");
    }
}

std::optional<AccountsCheck> ConvexConnector::verify_accounts(const AccountsSpec& spec) {
    AccountsCheck check;
    json cursor = nullptr;
    for (;;) {
        const json args = {{"cursor", cursor}, {"numItems", kSummaryPage}};
        const json page = json::parse(call("query", "accounts:summary", args.dump(), "verify"));
        if (!page.is_object()) throw ConnectorError("verify: accounts:summary returned no object");
        check.accounts += static_cast<std::uint64_t>(int_field(page, "count"));
        check.total += int_field(page, "total");
        check.negative_balances += static_cast<std::uint64_t>(int_field(page, "negative"));
        if (page.value("isDone", true)) break;
        cursor = page.value("continueCursor", json(nullptr));
    }
    check.expected_total = static_cast<std::int64_t>(spec.accounts) * spec.initial_balance;
    check.passed = check.accounts == spec.accounts && check.total == check.expected_total && check.negative_balances == 0;
    return check;
}

namespace {
const ConnectorRegistrar registrar({.kind = "convex",
                                    .make = make_registered<ConvexConnector>,
                                    .capabilities = {.model = SessionModel::event_loop}});
}  // namespace

}  // namespace loadbench
