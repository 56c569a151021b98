#include "net/fd_readiness.hpp"

#include <unistd.h>

#include <boost/asio/error.hpp>

#include <cerrno>
#include <utility>

namespace loadbench {

FdReadiness::Wait::Wait(FdReadiness& owner, Direction direction)
    : reactor_op(boost::system::error_code(), &Wait::perform, &Wait::complete), owner(owner), direction(direction) {}

// Runs on the io_context for a completed or cancelled wait, and with scheduler == nullptr when the
// io_context is destroyed with the wait still queued (then it only lets go of its keep-alive).
void FdReadiness::Wait::complete(void* scheduler, asio::detail::operation* base, const boost::system::error_code&,
                                 std::size_t) {
    Wait& w = *static_cast<Wait*>(base);
    std::shared_ptr<void> keep_alive = std::move(w.keep_alive);  // *this may not outlive it
    const boost::system::error_code ec = std::exchange(w.ec_, boost::system::error_code());
    w.queued = false;
    const bool again = std::exchange(w.again, false);
    if (!scheduler) return;
    FdReadiness& owner = w.owner;
    if (w.generation != owner.generation_) {  // cancelled by close(); its caller may want a new wait
        if (again) owner.start(w, w.again_mode, std::move(keep_alive));
        return;
    }
    owner.listener_.on_ready(w.direction, ec);
}

FdReadiness::FdReadiness(asio::io_context& io, Listener& listener)
    : reactor_(asio::use_service<asio::detail::reactor>(io)),
      listener_(listener),
      read_wait_(*this, Direction::read),
      write_wait_(*this, Direction::write) {
    reactor_.init_task();  // the io_context runs the reactor even if nothing else uses it
}

FdReadiness::~FdReadiness() { close(); }

boost::system::error_code FdReadiness::watch(int fd) {
    close();
    const int dup = ::dup(fd);
    if (dup < 0) return {errno, boost::system::system_category()};
    if (const int error = reactor_.register_descriptor(dup, data_)) {
        ::close(dup);
        return {error, boost::system::system_category()};
    }
    fd_ = dup;
    return {};
}

// The same steps as asio's own descriptor close: waits still queued complete with
// operation_aborted, later, on the io_context.
void FdReadiness::close() {
    if (fd_ < 0) return;
    reactor_.deregister_descriptor(fd_, data_, false);
    ::close(fd_);
    reactor_.cleanup_descriptor_data(data_);
    fd_ = -1;
    ++generation_;
}

void FdReadiness::wait(Direction direction, Mode mode, std::shared_ptr<void> keep_alive) {
    Wait& w = direction == Direction::read ? read_wait_ : write_wait_;
    if (w.queued) {
        if (w.generation == generation_) return;  // already waiting
        w.again = true;  // a cancelled wait is still on its way back: start this one after it
        w.again_mode = mode;
        return;
    }
    start(w, mode, std::move(keep_alive));
}

void FdReadiness::start(Wait& w, Mode mode, std::shared_ptr<void> keep_alive) {
    w.queued = true;
    w.generation = generation_;
    w.keep_alive = std::move(keep_alive);
    if (fd_ < 0) {
        w.ec_ = asio::error::bad_descriptor;
        reactor_.post_immediate_completion(&w, false);
        return;
    }
    // Speculative start (edge): the reactor "performs" the wait at once only if readiness was
    // reported while no wait was queued; otherwise it queues it, without touching epoll.
    // Non-speculative (rearm): epoll_ctl(MOD) first, so readiness already there is reported.
    const int op = w.direction == Direction::read ? asio::detail::reactor::read_op : asio::detail::reactor::write_op;
    reactor_.start_op(op, fd_, data_, &w, false, mode == Mode::edge);
}

}  // namespace loadbench
