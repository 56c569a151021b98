#include "scenarios/transfer_scenario.hpp"

#include <stdexcept>

namespace loadbench {
namespace {

class TransferWorkerSession final : public WorkerSession {
public:
    TransferWorkerSession(std::unique_ptr<TransferSession> session, const ZipfSampler& sampler,
                          std::int64_t max_amount)
        : session_(std::move(session)), sampler_(sampler), max_amount_(static_cast<std::uint64_t>(max_amount)) {}

    OperationKeys plan(Rng& rng) override {
        const std::uint64_t from = sampler_(rng);
        std::uint64_t to = sampler_(rng);
        while (to == from) to = sampler_(rng);
        transfer_ = {from + 1, to + 1, static_cast<std::int64_t>(1 + rng.below(max_amount_))};
        return {{from, to}, 2};
    }

    Attempt attempt() override { return session_->transfer(transfer_); }
    void interrupt() noexcept override { session_->interrupt(); }
    std::string last_error() const override { return session_->last_error(); }

private:
    std::unique_ptr<TransferSession> session_;
    const ZipfSampler& sampler_;
    std::uint64_t max_amount_;
    Transfer transfer_;
};

}  // namespace

TransferWorkload::TransferWorkload(TransferParams params, std::shared_ptr<Connector> connector)
    : params_(params), connector_(std::move(connector)), sampler_(params.accounts.accounts, params.alpha) {
    if (params_.accounts.accounts < 2) throw std::invalid_argument("test-1 needs at least 2 accounts");
    if (params_.max_amount < 1) throw std::invalid_argument("test-1: max amount must be >= 1");
}

std::unique_ptr<WorkerSession> TransferWorkload::open_session(std::size_t) {
    return std::make_unique<TransferWorkerSession>(connector_->open_transfer_session(), sampler_,
                                                   params_.max_amount);
}

}  // namespace loadbench
