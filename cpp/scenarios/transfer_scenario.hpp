// test-1: money transfers between accounts. Each operation picks `from` and `to` (distinct) by
// Zipf rank with exponent alpha (rank 0 = account id 1, the hottest) and an amount uniform in
// [1, max_amount], and asks the connector to move it if `from` can cover it.
#pragma once

#include <memory>

#include "connectors/connector.hpp"
#include "engine/workload.hpp"
#include "sampling/zipf.hpp"

namespace loadbench {

struct TransferParams {
    AccountsSpec accounts;
    double alpha = 0.5;
    std::int64_t max_amount = 100;
};

class TransferWorkload final : public Workload {
public:
    // Throws std::invalid_argument for fewer than 2 accounts, a negative alpha or max_amount < 1.
    TransferWorkload(TransferParams params, std::shared_ptr<Connector> connector);

    std::unique_ptr<WorkerSession> open_session(std::size_t worker_index) override;
    std::uint64_t key_space() const override { return params_.accounts.accounts; }

private:
    TransferParams params_;
    std::shared_ptr<Connector> connector_;
    ZipfSampler sampler_;
};

}  // namespace loadbench
