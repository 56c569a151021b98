// RpcConnector: test-1 through an application server speaking the keynote-style JSON RPC over
// HTTP: POST <url>/rpc with {"name": ..., "args": {...}}, answered {"ok": true, "result": ...}
// or {"ok": false, "error": "..."} (HTTP 500). Transfers are `transfer` calls on keep-alive
// connections, one per session; prep is `seed`, verify is `verify`, check is `health`.
// Account ids on the wire are 0-based, as the keynote servers seed them (loadbench's id - 1).
// A reply {"ok": true, "result": {"transferred": false}} (the bundled server's) counts as a
// rejection; a plain {"ok": true} counts as committed.
//
// Options: `url` (required, http://host:port[/prefix]), `control_timeout_s` (seed/verify, default 600).
#pragma once

#include <memory>
#include <string>

#include "connectors/http_transfer.hpp"

namespace loadbench {

class RpcConnector final : public HttpTransferConnector {
public:
    explicit RpcConnector(const ConnectorOptions& options);

    void check() override;
    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;

private:
    std::string call(const std::string& body, double timeout_s, const std::string& what);

    double control_timeout_s_;
};

// The rpc wire format, shared by the connector and the bundled server (and unit-tested).
namespace rpc {
std::string transfer_body(const Transfer& t);  // ids made 0-based
// Reads a reply body into an attempt; `error` gets the server's message on failure.
Attempt interpret_transfer_reply(unsigned status, const std::string& body, std::string& error);
}  // namespace rpc

}  // namespace loadbench
