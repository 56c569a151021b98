// Bridges a connector's open callback for scenario-specific event-loop sessions (an
// AsyncTransferSession, an AsyncSqlSession...) to the engine's SessionOpenCallback: `wrap` turns the
// opened session into the engine's AsyncSession. The adapter owns itself from the open until its
// one callback, which deletes it, so a scenario keeps no bookkeeping of opens in flight.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "engine/async_workload.hpp"

namespace loadbench {

template <class Session, class ConnectorCallback, class Wrap>
class OpenAdapter final : public ConnectorCallback {
public:
    OpenAdapter(Wrap wrap, SessionOpenCallback& done) : wrap_(std::move(wrap)), done_(done) {}

    void opened(std::unique_ptr<Session> session) override {
        auto& done = done_;
        std::unique_ptr<AsyncSession> wrapped = wrap_(std::move(session));
        delete this;
        done.opened(std::move(wrapped));
    }
    void open_failed(std::string error) override {
        auto& done = done_;
        delete this;
        done.open_failed(std::move(error));
    }

private:
    Wrap wrap_;
    SessionOpenCallback& done_;
};

// A new self-owning adapter, as the connector's callback.
template <class Session, class ConnectorCallback, class Wrap>
ConnectorCallback& adapt_open(Wrap wrap, SessionOpenCallback& done) {
    return *new OpenAdapter<Session, ConnectorCallback, Wrap>(std::move(wrap), done);
}

}  // namespace loadbench
