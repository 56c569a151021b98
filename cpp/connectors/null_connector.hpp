// NullConnector: commits every transfer (and every SQL statement of a file-defined scenario, as if
// it changed one row) without doing anything, so a run measures the harness alone (sampling,
// timing, recording). For testing comparisons and schedules it can stand in for
// a database with known behaviour: `delay_ns` makes every operation take that long, and
// `stall_at_ms` + `stall_ms` freeze it like a paused server: every operation that overlaps
// [first operation + stall_at, + stall] ends no earlier than the end of that stall.
#pragma once

#include <atomic>
#include <memory>

#include "connectors/connector.hpp"

namespace loadbench {

class NullConnector final : public Connector, public BlockingTransferSessions, public SqlSessions {
public:
    explicit NullConnector(const ConnectorOptions& options);

    BlockingTransferSessions* blocking_transfer_sessions() override { return this; }
    SqlSessions* sql_sessions() override { return this; }

    void prep_accounts(const AccountsSpec&) override {}
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec&) override { return std::nullopt; }
    std::unique_ptr<TransferSession> open_transfer_session() override;

    std::optional<SqlCheckFailure> sql_check(const std::vector<std::string>&, const std::vector<std::string>&) override {
        return std::nullopt;
    }
    void sql_execute(const std::vector<std::string>&) override {}
    SqlRows sql_query(const std::string&) override { return {}; }
    std::unique_ptr<SqlSession> open_sql_session(const std::vector<std::string>& statements) override;

private:
    std::int64_t delay_ns_ = 0;
    std::int64_t stall_at_ns_ = -1;  // from the first operation of any session; -1: no stall
    std::int64_t stall_ns_ = 0;
    std::shared_ptr<std::atomic<std::int64_t>> first_op_ns_ = std::make_shared<std::atomic<std::int64_t>>(0);
};

}  // namespace loadbench
