// BlockingCallPool: runs calls that may block on the network for as long as the network pleases
// (libpq's PQcancel: a blocking connect, send and wait for the server to close, with no timeout
// of its own) on threads of their own, so that no event loop and no monitor thread ever waits
// for one. submit() never blocks; a call stuck on one thread holds up no call on the others, and
// no caller at all. Threads start on demand up to the pool's size and are detached: destroying
// the pool (or exiting the process) never waits for a stuck call; calls still queued are dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace loadbench {

class BlockingCallPool {
public:
    // Up to `threads` calls run at once; up to `max_queued` more wait.
    explicit BlockingCallPool(std::size_t threads, std::size_t max_queued = 4096);
    ~BlockingCallPool();
    BlockingCallPool(const BlockingCallPool&) = delete;
    BlockingCallPool& operator=(const BlockingCallPool&) = delete;

    // Queues `call` and returns at once; false (and the call is dropped, never run) when the queue
    // is full or no thread can be started. Thread-safe.
    bool submit(std::function<void()> call) noexcept;

    std::uint64_t completed() const;  // calls that returned (or threw)
    std::uint64_t dropped() const;    // calls never run: queue full, or no thread

private:
    struct State;
    std::shared_ptr<State> state_;  // shared with the threads, which may outlive the pool
};

}  // namespace loadbench
