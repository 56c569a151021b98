#include "connectors/null_connector.hpp"

#include "connectors/registry.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "connectors/options.hpp"
#include "engine/run.hpp"

namespace loadbench {
namespace {

class NullSession final : public TransferSession {
public:
    NullSession(std::int64_t delay_ns, std::int64_t stall_at_ns, std::int64_t stall_ns,
                std::shared_ptr<std::atomic<std::int64_t>> first_op_ns)
        : delay_ns_(delay_ns), stall_at_ns_(stall_at_ns), stall_ns_(stall_ns), first_op_ns_(std::move(first_op_ns)) {}

    Attempt transfer(const Transfer&) override {
        if (delay_ns_ == 0 && stall_at_ns_ < 0) return Attempt::committed();
        const std::int64_t start = now_ns();
        std::int64_t until = start + delay_ns_;
        if (stall_at_ns_ >= 0) {
            std::int64_t first = 0;
            first_op_ns_->compare_exchange_strong(first, start);
            if (first == 0) first = start;
            const std::int64_t stall_begin = first + stall_at_ns_, stall_end = stall_begin + stall_ns_;
            if (start < stall_end && until >= stall_begin) until = std::max(until, stall_end);
        }
        const bool interrupted = !wait_until(until);
        interrupted_.store(false, std::memory_order_relaxed);  // (after the attempt: see BusyWait in sqlite_connector.cpp)
        return interrupted ? Attempt::failed(ErrorKind::timeout) : Attempt::committed();
    }

    // A stall is a stalled server: the per-operation timeout ends it, as it would a real one's.
    void interrupt() noexcept override { interrupted_.store(true, std::memory_order_relaxed); }
    std::string last_error() const override { return "timed out: the null connector's stall"; }

private:
    // Spins for short waits (a sleep's wake-up jitter would dominate them), sleeps long ones in
    // slices of at most 5 ms, so an interrupt ends them; false when interrupted.
    bool wait_until(std::int64_t until) const {
        for (std::int64_t left = until - now_ns(); left > 0; left = until - now_ns()) {
            if (interrupted_.load(std::memory_order_relaxed)) return false;
            if (left > 200'000) std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::int64_t>(left - 100'000, 5'000'000)));
        }
        return true;
    }

    std::int64_t delay_ns_, stall_at_ns_, stall_ns_;
    std::atomic<bool> interrupted_{false};
    std::shared_ptr<std::atomic<std::int64_t>> first_op_ns_;
};

class NullSqlSession final : public SqlSession {
public:
    SqlReply execute(std::size_t, std::span<const SqlValue>) override { return {true, ErrorKind::none, false, 1}; }
    SqlReply control(SqlControl) override { return {}; }
};

}  // namespace

NullConnector::NullConnector(const ConnectorOptions& options)
    : delay_ns_(option_int(options, "delay_ns", 0, 0, 60'000'000'000LL)),
      stall_at_ns_(option_int(options, "stall_at_ms", -1, -1, 3'600'000) * 1'000'000),
      stall_ns_(option_int(options, "stall_ms", 0, 0, 3'600'000) * 1'000'000) {
    if (stall_at_ns_ < 0) stall_at_ns_ = -1;
}

std::unique_ptr<TransferSession> NullConnector::open_transfer_session() {
    return std::make_unique<NullSession>(delay_ns_, stall_at_ns_, stall_ns_, first_op_ns_);
}

std::unique_ptr<SqlSession> NullConnector::open_sql_session(const std::vector<std::string>&) {
    return std::make_unique<NullSqlSession>();
}

namespace {
// Runs SQL scenarios without reading their statements: its dialect "null" needs no SQL text.
const ConnectorRegistrar registrar({.kind = "null",
                                    .make = make_registered<NullConnector>,
                                    .capabilities = {.sql_dialect = "null", .model = SessionModel::blocking}});
}  // namespace

}  // namespace loadbench
