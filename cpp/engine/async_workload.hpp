// The seam for sessions that live on an event loop (PostgreSQL through libpq's asynchronous API,
// HTTP and WebSocket through Boost.Beast): a thread drives many sessions, each with one operation
// in flight, so thousands of clients need a handful of threads. Callbacks, not coroutines: one
// virtual call per completion, no allocation per operation.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/workload.hpp"

namespace loadbench {

namespace asio = boost::asio;

class AttemptCallback {
public:
    // Exactly once per AsyncSession::attempt(), on the session's io_context thread, never inside
    // attempt() itself.
    virtual void attempt_done(Attempt attempt) = 0;

protected:
    ~AttemptCallback() = default;
};

class AsyncSession : public Interruptible {
public:
    virtual OperationKeys plan(Rng& rng) = 0;
    // Starts one attempt of the planned operation (again, unchanged, for a retry).
    virtual void attempt(AttemptCallback& done) = 0;
    // The engine will start nothing more: release what keeps the io_context busy (idle reads,
    // timers) once nothing is in flight.
    virtual void shutdown() = 0;
    virtual std::string last_error() const { return {}; }
    virtual std::uint64_t reconnects() const { return 0; }
};

class SessionOpenCallback {
public:
    // Exactly one of these, once, on the io_context's thread, never inside open_session() itself.
    virtual void opened(std::unique_ptr<AsyncSession> session) = 0;
    virtual void open_failed(std::string error) = 0;

protected:
    ~SessionOpenCallback() = default;
};

class AsyncWorkload {
public:
    virtual ~AsyncWorkload() = default;

    // Opens session `index` on `io` (the context of the thread that will drive it).
    virtual void open_session(asio::io_context& io, std::size_t index, SessionOpenCallback& done) = 0;

    // Operation keys lie in [0, key_space()); 0: no keys.
    virtual std::uint64_t key_space() const = 0;

    // Sessions [k * g, (k + 1) * g) share one connection (pipelining) and so one thread.
    virtual std::size_t sessions_per_group() const { return 1; }

    // As Workload::operation_types().
    virtual std::vector<std::string> operation_types() const { return {}; }
};

}  // namespace loadbench
