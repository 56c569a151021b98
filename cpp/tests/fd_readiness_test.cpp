// FdReadiness over a socketpair: what each wait mode reports, cancellation, and that the watched
// descriptor stays its owner's.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "net/fd_readiness.hpp"

namespace loadbench {
namespace {

using Direction = FdReadiness::Direction;
using Mode = FdReadiness::Mode;

struct Recorder final : FdReadiness::Listener {
    struct Event {
        Direction direction;
        boost::system::error_code ec;
    };
    std::vector<Event> events;
    void on_ready(Direction direction, const boost::system::error_code& ec) override { events.push_back({direction, ec}); }
};

class FdReadinessTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
        readiness_ = std::make_unique<FdReadiness>(io_, recorder_);
        ASSERT_FALSE(readiness_->watch(fds_[0]));
    }
    void TearDown() override {
        readiness_.reset();
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    // Runs the io_context until it has nothing left, or for at most `limit`.
    void run_for(std::chrono::milliseconds limit = std::chrono::milliseconds(200)) {
        io_.restart();
        io_.run_for(limit);
    }
    void send_byte() { ASSERT_EQ(::write(fds_[1], "x", 1), 1); }
    std::size_t drain() {
        char buf[64];
        std::size_t n = 0;
        for (ssize_t r; (r = ::read(fds_[0], buf, sizeof buf)) > 0;) n += static_cast<std::size_t>(r);
        return n;
    }
    void wait(Direction d, Mode m) { readiness_->wait(d, m, keep_); }

    asio::io_context io_;
    Recorder recorder_;
    std::unique_ptr<FdReadiness> readiness_;
    std::shared_ptr<int> keep_ = std::make_shared<int>(0);
    int fds_[2] = {-1, -1};
};

TEST_F(FdReadinessTest, RearmReportsDataAlreadyThere) {
    send_byte();
    wait(Direction::read, Mode::rearm);
    run_for();
    ASSERT_EQ(recorder_.events.size(), 1u);
    EXPECT_EQ(recorder_.events[0].direction, Direction::read);
    EXPECT_FALSE(recorder_.events[0].ec);
}

TEST_F(FdReadinessTest, EdgeWaitWakesForNewDataAfterADrain) {
    // The first wait after registration completes at once (nothing is known yet); after the
    // caller drains, an edge wait sleeps until new data arrives.
    wait(Direction::read, Mode::edge);
    run_for();
    ASSERT_EQ(recorder_.events.size(), 1u);
    EXPECT_EQ(drain(), 0u);

    wait(Direction::read, Mode::edge);
    run_for(std::chrono::milliseconds(50));
    EXPECT_EQ(recorder_.events.size(), 1u) << "an edge wait must not complete without new data";

    send_byte();
    run_for();
    ASSERT_EQ(recorder_.events.size(), 2u);
    EXPECT_FALSE(recorder_.events[1].ec);
    EXPECT_EQ(drain(), 1u);
}

// The contract that makes an edge wait free: data the caller left unread is not reported again
// (no re-arm); a rearm wait reports it.
TEST_F(FdReadinessTest, EdgeWaitDoesNotReportDataLeftUnreadButRearmDoes) {
    wait(Direction::read, Mode::edge);
    run_for();
    send_byte();
    wait(Direction::read, Mode::edge);
    run_for();
    ASSERT_EQ(recorder_.events.size(), 2u);  // the byte arrived: reported

    wait(Direction::read, Mode::edge);  // not read: no new edge
    run_for(std::chrono::milliseconds(50));
    EXPECT_EQ(recorder_.events.size(), 2u);

    readiness_->close();  // a fresh registration, since the edge wait is still queued
    ASSERT_FALSE(readiness_->watch(fds_[0]));
    run_for();
    wait(Direction::read, Mode::rearm);
    run_for();
    ASSERT_EQ(recorder_.events.size(), 3u);
    EXPECT_EQ(drain(), 1u);
}

TEST_F(FdReadinessTest, EdgeWaitSeesDataThatArrivedWhileNoWaitWasQueued) {
    wait(Direction::read, Mode::edge);
    run_for();
    drain();
    // Data arrives and the reactor sees it while nothing waits; the next edge wait must not miss it.
    send_byte();
    asio::steady_timer tick(io_, std::chrono::milliseconds(10));
    tick.async_wait([](const boost::system::error_code&) {});
    run_for();
    ASSERT_EQ(recorder_.events.size(), 1u);
    wait(Direction::read, Mode::edge);
    run_for();
    ASSERT_EQ(recorder_.events.size(), 2u);
    EXPECT_EQ(drain(), 1u);
}

TEST_F(FdReadinessTest, WriteWaitReportsAWritableSocket) {
    wait(Direction::write, Mode::rearm);
    run_for();
    ASSERT_EQ(recorder_.events.size(), 1u);
    EXPECT_EQ(recorder_.events[0].direction, Direction::write);
}

TEST_F(FdReadinessTest, CloseCancelsAPendingWaitWithoutCallingBack) {
    wait(Direction::read, Mode::edge);
    run_for();
    drain();
    wait(Direction::read, Mode::edge);
    readiness_->close();
    send_byte();
    run_for();
    EXPECT_EQ(recorder_.events.size(), 1u) << "a cancelled wait is not reported as ready";
    // The watched descriptor is the caller's: still open and readable.
    EXPECT_EQ(drain(), 1u);
}

TEST_F(FdReadinessTest, AWaitAskedForWhileACancelledOneIsQueuedStartsAfterIt) {
    wait(Direction::read, Mode::edge);
    run_for();
    drain();
    wait(Direction::read, Mode::edge);
    ASSERT_FALSE(readiness_->watch(fds_[0]));  // re-watch: the queued wait is cancelled
    send_byte();
    wait(Direction::read, Mode::rearm);
    run_for();
    ASSERT_EQ(recorder_.events.size(), 2u);
    EXPECT_FALSE(recorder_.events[1].ec);
}

TEST_F(FdReadinessTest, TheKeepAliveIsHeldUntilTheWaitCompletes) {
    std::weak_ptr<int> weak = keep_;
    wait(Direction::read, Mode::rearm);
    keep_.reset();
    EXPECT_FALSE(weak.expired());
    send_byte();
    run_for();
    EXPECT_TRUE(weak.expired());
}

TEST_F(FdReadinessTest, AWaitOnAClosedWatchFailsAsABadDescriptor) {
    readiness_->close();
    wait(Direction::read, Mode::edge);
    run_for();
    ASSERT_EQ(recorder_.events.size(), 1u);
    EXPECT_EQ(recorder_.events[0].ec, asio::error::bad_descriptor);
}

}  // namespace
}  // namespace loadbench
