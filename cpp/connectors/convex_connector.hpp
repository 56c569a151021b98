// ConvexConnector: test-1 through Convex's HTTP API. Each transfer runs the mutation
// `transfer:transfer` of the app in convex-app/: POST <url>/api/mutation with {"path",
// "args": {"from_id", "to_id", "amount"}, "format": "json"}, answered {"status": "success",
// "value": true|false} (moved, or balance too low) or {"status": "error", "errorMessage"} (HTTP
// 560 for a function error, or 200). Prep runs `seed:clear` until it reports done, then
// `seed:insertBatch` in batches; verify pages through the query `accounts:summary`.
//
// Options: `url` (required, http://, e.g. a local backend at http://127.0.0.1:3210).
#pragma once

#include <memory>
#include <string>

#include "connectors/http_transfer.hpp"

namespace loadbench {

class ConvexConnector final : public HttpTransferConnector {
public:
    explicit ConvexConnector(const ConnectorOptions& options);

    void check() override;
    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;

private:
    std::string call(const char* kind, const std::string& path, const std::string& args_json, const std::string& what);
};

namespace convex {
std::string transfer_body(const Transfer& t);
Attempt interpret_transfer_reply(unsigned status, const std::string& body, std::string& error);
}  // namespace convex

}  // namespace loadbench
