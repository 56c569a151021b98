// NullConnector: commits every transfer without doing anything, so a run measures the harness
// alone (sampling, timing, recording). Option `delay_ns` spins that long per operation: a
// deterministic, throttled stand-in for a database when testing comparisons and schedules.
#pragma once

#include "connectors/connector.hpp"

namespace loadbench {

class NullConnector final : public Connector {
public:
    explicit NullConnector(const ConnectorOptions& options);

    void prep_accounts(const AccountsSpec&) override {}
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec&) override { return std::nullopt; }
    std::unique_ptr<TransferSession> open_transfer_session() override;

private:
    std::int64_t delay_ns_ = 0;
};

}  // namespace loadbench
