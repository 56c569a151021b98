// FdReadiness: waits, on an io_context, for a descriptor that something else reads and writes
// (libpq's socket) to become readable or writable.
//
// Why not asio::posix::stream_descriptor::async_wait: Boost 1.74's epoll reactor starts every such
// wait with an epoll_ctl(EPOLL_CTL_MOD) that re-arms the descriptor, so a closed-loop transaction
// costs send, epoll_wait, recv and that epoll_ctl, one system call more than pgbench's poll loop
// (send, poll, recv). Here the descriptor is registered once (edge-triggered, as asio registers
// every descriptor) and a wait can be queued without a system call (Mode::edge). The reactor's
// own types are used for it (boost::asio::detail): they are what async_wait is built from.
//
// An edge wait completes on readiness that arrives after the descriptor was last drained: the
// caller must know that nothing readable was left behind since its last wake (a request sent
// after its last read can only be answered by new data). Where it cannot know (a read that may
// have stopped short), Mode::rearm waits the way async_wait does: current readiness counts.
#pragma once

// io_context first: the reactor's inline code needs the scheduler's definition.
#include <boost/asio/io_context.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/system/error_code.hpp>

#include <memory>

namespace loadbench {

namespace asio = boost::asio;

class FdReadiness {
public:
    enum class Direction { read = 0, write = 1 };
    enum class Mode { rearm, edge };

    class Listener {
    public:
        // A wait completed: ec is operation_aborted when close() cancelled it.
        virtual void on_ready(Direction direction, const boost::system::error_code& ec) = 0;

    protected:
        ~Listener() = default;
    };

    FdReadiness(asio::io_context& io, Listener& listener);
    ~FdReadiness();
    FdReadiness(const FdReadiness&) = delete;
    FdReadiness& operator=(const FdReadiness&) = delete;

    // Registers a duplicate of `fd` (the original stays its owner's to close); closes what was
    // watched before.
    boost::system::error_code watch(int fd);
    // Cancels the pending waits (they complete with operation_aborted) and closes the duplicate.
    void close();

    // Whether a wait in that direction is pending on what is watched now.
    bool waiting(Direction direction) const {
        const Wait& w = direction == Direction::read ? read_wait_ : write_wait_;
        return w.queued && w.generation == generation_;
    }

    // At most one wait per direction: a second one while the first is pending is ignored.
    // `keep_alive` must own this object (the listener's shared_ptr): it is held until the wait
    // completes, because the reactor holds the wait until then. A wait asked for while a cancelled
    // one is still on its way back starts after it, on the keep-alive the cancelled one holds.
    void wait(Direction direction, Mode mode, std::shared_ptr<void> keep_alive);

private:
    class Wait final : public asio::detail::reactor_op {
    public:
        Wait(FdReadiness& owner, Direction direction);
        FdReadiness& owner;
        const Direction direction;
        bool queued = false;             // in the reactor, or its completion is
        unsigned generation = 0;         // of the registration it was queued on
        bool again = false;              // asked for while a cancelled wait was still queued
        Mode again_mode = Mode::rearm;
        std::shared_ptr<void> keep_alive;

    private:
        static status perform(reactor_op*) { return done_and_exhausted; }  // readiness is all it waits for
        static void complete(void* owner, asio::detail::operation* base, const boost::system::error_code&,
                             std::size_t);
    };

    void start(Wait& w, Mode mode, std::shared_ptr<void> keep_alive);

    asio::detail::reactor& reactor_;
    Listener& listener_;
    int fd_ = -1;
    unsigned generation_ = 0;
    asio::detail::reactor::per_descriptor_data data_{};
    Wait read_wait_;
    Wait write_wait_;
};

}  // namespace loadbench
