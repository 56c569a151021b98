#include "connectors/null_connector.hpp"

#include "connectors/options.hpp"
#include "engine/run.hpp"

namespace loadbench {
namespace {

class NullSession final : public TransferSession {
public:
    explicit NullSession(std::int64_t delay_ns) : delay_ns_(delay_ns) {}

    Attempt transfer(const Transfer&) override {
        if (delay_ns_ > 0) {
            // Spin rather than sleep: a sleep's wake-up jitter would dominate short delays.
            const std::int64_t until = now_ns() + delay_ns_;
            while (now_ns() < until) {
            }
        }
        return Attempt::committed();
    }

private:
    std::int64_t delay_ns_;
};

}  // namespace

NullConnector::NullConnector(const ConnectorOptions& options)
    : delay_ns_(option_int(options, "delay_ns", 0, 0, 60'000'000'000LL)) {}

std::unique_ptr<TransferSession> NullConnector::open_transfer_session() {
    return std::make_unique<NullSession>(delay_ns_);
}

}  // namespace loadbench
