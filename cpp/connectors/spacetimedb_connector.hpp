// SpacetimeDbConnector: test-1 through SpacetimeDB's client WebSocket protocol, text form
// (subprotocol v1.json.spacetimedb): each session is a WebSocket to
// /v1/database/<module>/subscribe that calls the module's `transfer` reducer,
// {"CallReducer": {"reducer": "transfer", "args": "[from, to, amount]", "request_id": N, "flags": 0}},
// and waits for the TransactionUpdate carrying its request id: status Committed (moved),
// Failed("insufficient_funds") (a rejection) or another Failed / OutOfEnergy (an error). Prep and
// verify call the `seed` and `verify` reducers over HTTP (/v1/database/<module>/call/<reducer>) and
// read the `verification` table through /v1/database/<module>/sql. The module is spacetimedb/.
//
// Options: `url` (required: http://, ws://, or over TLS https://, wss://), `module` (required),
// `token` (optional bearer token).
#pragma once

#include <memory>
#include <string>

#include "connectors/connector.hpp"
#include "net/http_connection.hpp"

namespace loadbench {

struct WsSettings;

class SpacetimeDbConnector final : public Connector, public EventLoopTransferSessions {
public:
    explicit SpacetimeDbConnector(const ConnectorOptions& options);

    void check() override;
    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;

    bool is_async() const override { return true; }
    EventLoopTransferSessions* event_loop_transfer_sessions() override { return this; }
    void open_async_transfer_session(asio::io_context& io, std::size_t index, AsyncTransferOpenCallback& done) override;

private:
    HttpCallResult http(http::verb method, const std::string& path, const std::string& body, const std::string& what);

    HttpUrl url_;
    std::string module_;
    std::string token_;
    std::shared_ptr<const WsSettings> ws_settings_;
    SharedEndpoints endpoints_;
    std::shared_ptr<TlsClient> tls_;  // https:// and wss:// only
};

namespace stdb {
std::string call_reducer_message(const Transfer& t, std::uint32_t request_id);
// Reads one server message: nullopt when it is not the TransactionUpdate of `request_id`.
std::optional<Attempt> interpret_message(std::string_view text, std::uint32_t request_id, std::string& error);
}  // namespace stdb

}  // namespace loadbench
