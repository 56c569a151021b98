// RpcServer: the bundled application server. It speaks the keynote-style JSON RPC (see
// connectors/rpc_connector.hpp) over HTTP/1.1 keep-alive and runs each call on one of loadbench's
// own connectors, so `client -> HTTP app server -> database` can be measured with nothing else
// installed. `threads` event-loop threads, each with its own io_context, its share of the
// accepted connections and its own database sessions: a blocking connector (SQLite) gets one
// session per thread, used inline; an event-loop connector (PostgreSQL) a pool of `pool`
// connections in all, shared by the thread's requests in arrival order. Retryable errors (busy,
// serialization) are retried here, up to `max_tries` attempts, as an app server would.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "connectors/connector.hpp"

namespace loadbench {

struct RpcServerConfig {
    std::string host = "127.0.0.1";
    unsigned short port = 0;  // 0: any free port (bind() says which)
    std::size_t threads = 0;  // 0: one per core
    std::size_t pool = 0;     // event-loop connectors: database connections in all (0: 8 per thread)
    int max_tries = 10;
};

class RpcServer {
public:
    // Throws ConnectorConfigError when `backend` runs no test-1 transfers.
    RpcServer(RpcServerConfig config, std::shared_ptr<Connector> backend);
    ~RpcServer();
    RpcServer(const RpcServer&) = delete;
    RpcServer& operator=(const RpcServer&) = delete;

    // Listens; returns the port. Throws ConnectorError when the address cannot be bound.
    unsigned short bind();
    // From now on SIGINT and SIGTERM stop the server (call before announcing it: a signal that
    // arrives before serve() is kept for it).
    void stop_on_signals();
    // Serves until stop() (or a signal, after stop_on_signals()); blocks.
    void serve();
    // Thread-safe.
    void stop();

    std::uint64_t requests() const { return requests_.load(); }
    // What the last successful seed call seeded (none before one): a bare verify checks against it.
    std::optional<AccountsSpec> seeded() const {
        std::lock_guard lock(seeded_mutex_);
        return seeded_;
    }

private:
    struct Lane;
    class Connection;
    void accept();

    RpcServerConfig config_;
    std::shared_ptr<Connector> backend_;
    // test-1's sessions of the backend: exactly one is set, as its model says.
    BlockingTransferSessions* blocking_ = nullptr;
    EventLoopTransferSessions* event_loop_ = nullptr;
    std::vector<std::unique_ptr<Lane>> lanes_;
    struct Listener;
    std::unique_ptr<Listener> listener_;
    struct Signals;
    std::unique_ptr<Signals> signals_;
    std::size_t next_lane_ = 0;
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::size_t> session_index_{0};
    mutable std::mutex seeded_mutex_;
    std::optional<AccountsSpec> seeded_;
    void remember_seeded(const AccountsSpec& spec) {
        std::lock_guard lock(seeded_mutex_);
        seeded_ = spec;
    }
};

}  // namespace loadbench
