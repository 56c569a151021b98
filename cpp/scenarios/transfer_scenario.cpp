#include "scenarios/transfer_scenario.hpp"

#include <stdexcept>

#include "scenarios/open_adapter.hpp"

namespace loadbench {
namespace {

class TransferWorkerSession final : public WorkerSession {
public:
    TransferWorkerSession(std::unique_ptr<TransferSession> session, const TransferPlanner& planner)
        : session_(std::move(session)), planner_(planner) {}

    OperationKeys plan(Rng& rng) override { return planner_.plan(rng, transfer_); }
    Attempt attempt() override { return session_->transfer(transfer_); }
    void interrupt() noexcept override { session_->interrupt(); }
    std::string last_error() const override { return session_->last_error(); }

private:
    std::unique_ptr<TransferSession> session_;
    const TransferPlanner& planner_;
    Transfer transfer_;
};

class AsyncTransferWorkerSession final : public AsyncSession {
public:
    AsyncTransferWorkerSession(std::unique_ptr<AsyncTransferSession> session, const TransferPlanner& planner)
        : session_(std::move(session)), planner_(planner) {}

    OperationKeys plan(Rng& rng) override { return planner_.plan(rng, transfer_); }
    void attempt(AttemptCallback& done) override { session_->transfer(transfer_, done); }
    void shutdown() override { session_->shutdown(); }
    void interrupt() noexcept override { session_->interrupt(); }
    std::string last_error() const override { return session_->last_error(); }
    std::uint64_t reconnects() const override { return session_->reconnects(); }

private:
    std::unique_ptr<AsyncTransferSession> session_;
    const TransferPlanner& planner_;
    Transfer transfer_;
};

// The audited sessions (--audit): the plain ones plus an op id per attempt and its outcome in the
// log. Separate classes, so a run without --audit runs exactly the code it ran before.
class AuditedTransferWorkerSession final : public WorkerSession {
public:
    AuditedTransferWorkerSession(std::unique_ptr<TransferSession> session, const TransferPlanner& planner,
                                 TransferAuditLog::Session& log)
        : session_(std::move(session)), planner_(planner), log_(log) {}

    OperationKeys plan(Rng& rng) override { return planner_.plan(rng, transfer_); }
    Attempt attempt() override {
        transfer_.op_id = log_.begin();
        const Attempt a = session_->transfer(transfer_);
        log_.finish(audit_code(a));
        return a;
    }
    void interrupt() noexcept override { session_->interrupt(); }
    std::string last_error() const override { return session_->last_error(); }

private:
    std::unique_ptr<TransferSession> session_;
    const TransferPlanner& planner_;
    TransferAuditLog::Session& log_;
    Transfer transfer_;
};

class AuditedAsyncTransferWorkerSession final : public AsyncSession, private AttemptCallback {
public:
    AuditedAsyncTransferWorkerSession(std::unique_ptr<AsyncTransferSession> session, const TransferPlanner& planner,
                                      TransferAuditLog::Session& log)
        : session_(std::move(session)), planner_(planner), log_(log) {}

    OperationKeys plan(Rng& rng) override { return planner_.plan(rng, transfer_); }
    void attempt(AttemptCallback& done) override {
        done_ = &done;
        transfer_.op_id = log_.begin();
        session_->transfer(transfer_, *this);
    }
    void shutdown() override { session_->shutdown(); }
    void interrupt() noexcept override { session_->interrupt(); }
    std::string last_error() const override { return session_->last_error(); }
    std::uint64_t reconnects() const override { return session_->reconnects(); }

private:
    void attempt_done(Attempt a) override {
        log_.finish(audit_code(a));
        done_->attempt_done(a);
    }

    std::unique_ptr<AsyncTransferSession> session_;
    const TransferPlanner& planner_;
    TransferAuditLog::Session& log_;
    AttemptCallback* done_ = nullptr;
    Transfer transfer_;
};

}  // namespace

TransferPlanner::TransferPlanner(const TransferParams& params)
    : sampler_(params.accounts.accounts, params.alpha), max_amount_(static_cast<std::uint64_t>(params.max_amount)) {
    if (params.scatter) scatter_.emplace(params.accounts.accounts);
    if (params.accounts.accounts < 2) throw std::invalid_argument("test-1 needs at least 2 accounts");
    if (params.max_amount < 1) throw std::invalid_argument("test-1: max amount must be >= 1");
}

OperationKeys TransferPlanner::plan(Rng& rng, Transfer& out) const {
    std::uint64_t from = sampler_(rng);
    std::uint64_t to = sampler_(rng);
    while (to == from) to = sampler_(rng);
    if (scatter_) {  // a bijection: distinct ranks stay distinct ids
        from = (*scatter_)(from);
        to = (*scatter_)(to);
    }
    out = {from + 1, to + 1, static_cast<std::int64_t>(1 + rng.below(max_amount_))};
    return {{from, to}, 2};
}

namespace {

// The family's interface, or the one line that says the connector has none.
template <class Family>
Family* require_transfer(Connector& connector, Family* family) {
    if (!family) throw ConnectorConfigError(connector.describe() + " runs no test-1 transfers");
    return family;
}

}  // namespace

TransferWorkload::TransferWorkload(TransferParams params, std::shared_ptr<Connector> connector,
                                   std::shared_ptr<TransferAuditLog> audit)
    : planner_(params),
      connector_(std::move(connector)),
      sessions_(require_transfer(*connector_, connector_->blocking_transfer_sessions())),
      audit_(std::move(audit)) {
    if (audit_) require_audit(*connector_);
}

std::unique_ptr<WorkerSession> TransferWorkload::open_session(std::size_t worker_index) {
    if (audit_)
        return std::make_unique<AuditedTransferWorkerSession>(sessions_->open_transfer_session(), planner_,
                                                              audit_->session(worker_index));
    return std::make_unique<TransferWorkerSession>(sessions_->open_transfer_session(), planner_);
}

AsyncTransferWorkload::AsyncTransferWorkload(TransferParams params, std::shared_ptr<Connector> connector,
                                             std::shared_ptr<TransferAuditLog> audit)
    : planner_(params),
      connector_(std::move(connector)),
      sessions_(require_transfer(*connector_, connector_->event_loop_transfer_sessions())),
      audit_(std::move(audit)) {
    if (audit_) require_audit(*connector_);
}

void AsyncTransferWorkload::open_session(asio::io_context& io, std::size_t index, SessionOpenCallback& done) {
    const TransferPlanner& planner = planner_;
    if (audit_) {
        TransferAuditLog::Session& log = audit_->session(index);
        return sessions_->open_async_transfer_session(
            io, index,
            adapt_open<AsyncTransferSession, AsyncTransferOpenCallback>(
                [&planner, &log](std::unique_ptr<AsyncTransferSession> session) {
                    return std::make_unique<AuditedAsyncTransferWorkerSession>(std::move(session), planner, log);
                },
                done));
    }
    sessions_->open_async_transfer_session(
        io, index,
        adapt_open<AsyncTransferSession, AsyncTransferOpenCallback>(
            [&planner](std::unique_ptr<AsyncTransferSession> session) {
                return std::make_unique<AsyncTransferWorkerSession>(std::move(session), planner);
            },
            done));
}

std::unique_ptr<Run> make_transfer_run(const RunConfig& config, const TransferParams& params,
                                       std::shared_ptr<Connector> connector, std::shared_ptr<TransferAuditLog> audit) {
    if (auto* reader = dynamic_cast<TransferAuditReader*>(connector.get())) reader->set_audited(audit != nullptr);
    if (connector->is_async())
        return std::make_unique<Run>(
            config, std::make_shared<AsyncTransferWorkload>(params, std::move(connector), std::move(audit)));
    return std::make_unique<Run>(config,
                                 std::make_shared<TransferWorkload>(params, std::move(connector), std::move(audit)));
}

}  // namespace loadbench
