// test-1: money transfers between accounts. Each operation picks `from` and `to` (distinct) by
// Zipf rank with exponent alpha (rank 0 = account id 1, the hottest) and an amount uniform in
// [1, max_amount], and asks the connector to move it if `from` can cover it.
#pragma once

#include <memory>

#include "connectors/connector.hpp"
#include "engine/async_workload.hpp"
#include "engine/run.hpp"
#include "engine/workload.hpp"
#include <optional>

#include "sampling/key_permutation.hpp"
#include "sampling/zipf.hpp"
#include "scenarios/transfer_audit.hpp"

namespace loadbench {

struct TransferParams {
    AccountsSpec accounts;
    double alpha = 0.5;
    std::int64_t max_amount = 100;
    bool scatter = false;  // map Zipf ranks to ids through KeyPermutation (off: rank 0 is id 1)
    bool audit = false;    // --audit: every attempt carries an op id, its outcome kept (see transfer_audit.hpp)
};

// Chooses transfers: the scenario's part of every session, whatever the connector.
class TransferPlanner {
public:
    // Throws std::invalid_argument for fewer than 2 accounts, a negative alpha or max_amount < 1.
    explicit TransferPlanner(const TransferParams& params);
    OperationKeys plan(Rng& rng, Transfer& out) const;
    std::uint64_t key_space() const { return sampler_.size(); }

private:
    ZipfSampler sampler_;
    std::uint64_t max_amount_;
    std::optional<KeyPermutation> scatter_;
};

// Both workloads throw ConnectorConfigError when the connector does not offer test-1's sessions
// in their model.
// With an `audit` log, sessions are the audited ones: each attempt gets an op id and its outcome
// goes to the log; without one, the sessions are the plain ones, unchanged.
class TransferWorkload final : public Workload {
public:
    TransferWorkload(TransferParams params, std::shared_ptr<Connector> connector,
                     std::shared_ptr<TransferAuditLog> audit = nullptr);

    std::unique_ptr<WorkerSession> open_session(std::size_t worker_index) override;
    std::uint64_t key_space() const override { return planner_.key_space(); }

private:
    TransferPlanner planner_;
    std::shared_ptr<Connector> connector_;  // keeps sessions_ alive
    BlockingTransferSessions* sessions_;
    std::shared_ptr<TransferAuditLog> audit_;
};

class AsyncTransferWorkload final : public AsyncWorkload {
public:
    AsyncTransferWorkload(TransferParams params, std::shared_ptr<Connector> connector,
                          std::shared_ptr<TransferAuditLog> audit = nullptr);

    void open_session(asio::io_context& io, std::size_t index, SessionOpenCallback& done) override;
    std::uint64_t key_space() const override { return planner_.key_space(); }
    std::size_t sessions_per_group() const override { return connector_->sessions_per_connection(); }

private:
    TransferPlanner planner_;
    std::shared_ptr<Connector> connector_;  // keeps sessions_ alive
    EventLoopTransferSessions* sessions_;
    std::shared_ptr<TransferAuditLog> audit_;
};

// A run of test-1 against `connector`, blocking or event-loop, whichever the connector is.
// Throws ConnectorConfigError (before any load) when the connector runs no test-1, or, with
// `audit`, keeps no ledger.
std::unique_ptr<Run> make_transfer_run(const RunConfig& config, const TransferParams& params,
                                       std::shared_ptr<Connector> connector,
                                       std::shared_ptr<TransferAuditLog> audit = nullptr);

}  // namespace loadbench
