// The drain after the measured window: every operation begun in the window is counted exactly
// once, as committed, rejected or failed (by kind), wherever it completes. One held by a frozen
// server across the window's end is counted with its full latency (and in `drained`); one still
// unfinished when the drain ends (its limit, a stop) fails as `unfinished`; the operation timeout
// bounds the drain. Blocking sessions, event-loop sessions and the open loop alike.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/async_workload.hpp"
#include "engine/run.hpp"

namespace loadbench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMs = 1'000'000;

std::uint64_t errors_of(const RunResult& r, ErrorKind kind) { return r.counters.errors[static_cast<std::size_t>(kind)]; }

// Every operation begun in the window is one of committed, rejected or failed, and nothing else
// was begun (no warmup in these runs; `begun` counts first attempts: nothing here is retried).
void expect_identity(const RunResult& r, std::uint64_t begun) {
    const OutcomeCounters& c = r.counters;
    EXPECT_EQ(c.before_window, 0u);
    EXPECT_EQ(c.committed + c.rejected + c.failed + c.after_window, begun);
    std::uint64_t by_kind = 0;
    for (std::uint64_t n : c.errors) by_kind += n;
    EXPECT_EQ(by_kind, c.failed);
    EXPECT_EQ(r.latency.count(), c.committed + c.rejected);
    std::uint64_t series_failed = 0, series_done = 0;
    std::array<std::uint64_t, kErrorKinds> series_errors{};
    for (const SecondPoint& p : r.series) {
        series_failed += p.failed;
        series_done += p.committed + p.rejected;
        std::uint64_t point_by_kind = 0;  // a point's failures by kind add up to its failed
        for (std::size_t k = 0; k < kErrorKinds; ++k) {
            point_by_kind += p.errors[k];
            series_errors[k] += p.errors[k];
        }
        EXPECT_EQ(point_by_kind, p.failed);
    }
    EXPECT_EQ(series_errors, c.errors);  // unfinished ones too, in the last point
    EXPECT_EQ(series_failed, c.failed);
    EXPECT_EQ(series_done, c.committed + c.rejected);
}

// Blocking sessions against a "server" that can freeze: while frozen, an attempt waits until the
// server thaws (then commits) or, when `listen`, until it is interrupted (then fails).
struct FreezableServer : Workload {
    std::mutex m;
    std::condition_variable cv;
    bool frozen = false;
    bool listen = true;
    std::atomic<std::uint64_t> begun{0}, held{0};

    void freeze() {
        std::lock_guard lock(m);
        frozen = true;
    }
    void thaw() {
        std::lock_guard lock(m);
        frozen = false;
        cv.notify_all();
    }

    struct Session : WorkerSession {
        FreezableServer& s;
        bool interrupted = false;  // guarded by s.m
        explicit Session(FreezableServer& s) : s(s) {}
        OperationKeys plan(Rng& rng) override { return {{rng.below(1000), 1000 + rng.below(1000)}, 2}; }
        Attempt attempt() override {  // one attempt per operation: nothing here is retryable
            s.begun.fetch_add(1);
            std::unique_lock lock(s.m);
            interrupted = false;
            if (!s.frozen) {
                lock.unlock();
                std::this_thread::sleep_for(200us);
                return Attempt::committed();
            }
            s.held.fetch_add(1);
            s.cv.wait(lock, [&] { return !s.frozen || (s.listen && interrupted); });
            return s.frozen ? Attempt::failed(ErrorKind::connection) : Attempt::committed();
        }
        void interrupt() noexcept override {
            std::lock_guard lock(s.m);
            interrupted = true;
            s.cv.notify_all();
        }
    };

    std::unique_ptr<WorkerSession> open_session(std::size_t) override { return std::make_unique<Session>(*this); }
    std::uint64_t key_space() const override { return 2000; }
};

void wait_for(const std::atomic<std::uint64_t>& n, std::uint64_t at_least) {
    const auto deadline = Clock::now() + 10s;
    while (n.load() < at_least && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_GE(n.load(), at_least);
}

TEST(Engine, AnOperationFrozenAcrossTheWindowsEndIsCountedWithItsFullLatency) {
    auto server = std::make_shared<FreezableServer>();
    loadbench::Run run({.concurrency = 3, .warmup_seconds = 0, .seconds = 0.6, .op_timeout_seconds = 0}, server);
    std::thread freezer([&] {
        wait_for(server->begun, 3);
        std::this_thread::sleep_for(200ms);
        server->freeze();  // about 0.4 s before the window's end
        wait_for(server->held, 3);
        std::this_thread::sleep_for(800ms);  // well past the window's end
        server->thaw();
    });
    RunResult r = run.run();
    freezer.join();
    EXPECT_FALSE(r.interrupted);
    EXPECT_EQ(r.abandoned, 0u);
    EXPECT_EQ(r.counters.failed, 0u);
    // The three operations the freeze held completed after the window: counted, with the stall.
    EXPECT_EQ(r.counters.drained, 3u);
    EXPECT_GE(r.counters.drained_max_ns, 700 * kMs);
    EXPECT_GE(r.latency.max(), 700 * kMs);
    EXPECT_EQ(r.latency.value_at_percentile(100), r.latency.max());
    EXPECT_GE(r.drain_seconds, 0.2);
    expect_identity(r, server->begun.load());
}

TEST(Engine, AnOperationUnfinishedWhenTheDrainEndsFailsAsUnfinished) {
    for (const bool listen : {true, false}) {
        SCOPED_TRACE(listen ? "returns when interrupted" : "ignores interrupts (abandoned)");
        auto server = std::make_shared<FreezableServer>();
        server->listen = listen;
        {
            loadbench::Run run({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.4, .op_timeout_seconds = 0,
                                .drain_seconds = 0.2},
                               server);
            std::thread freezer([&] {
                wait_for(server->begun, 2);
                server->freeze();
            });
            const auto t0 = Clock::now();
            RunResult r = run.run();
            const auto took = Clock::now() - t0;
            freezer.join();
            // The window, the drain's limit, the interrupt's grace (and the loops' stop), and slack.
            EXPECT_LT(took, 400ms + 200ms + std::chrono::nanoseconds(Run::kInterruptGraceNs) + 1s);
            EXPECT_GE(took, 600ms);
            EXPECT_FALSE(r.interrupted);
            EXPECT_EQ(errors_of(r, ErrorKind::unfinished), 2u);
            EXPECT_EQ(r.counters.failed, 2u);
            EXPECT_EQ(r.abandoned, listen ? 0u : 2u);
            EXPECT_FALSE(r.error_examples[static_cast<std::size_t>(ErrorKind::unfinished)].empty());
            expect_identity(r, server->begun.load());
            server->thaw();  // the abandoned attempts return; nothing they do is counted (sealed)
        }
    }
}

TEST(Engine, TheOperationTimeoutBoundsTheDrain) {
    auto server = std::make_shared<FreezableServer>();
    loadbench::Run run({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.4, .op_timeout_seconds = 0.5}, server);
    std::thread freezer([&] {
        wait_for(server->begun, 2);
        std::this_thread::sleep_for(200ms);
        server->freeze();
    });
    RunResult r = run.run();
    freezer.join();
    server->thaw();
    // The held attempts time out (0.5 s after they began, about 0.3 s into the drain): timeouts,
    // not unfinished, and the drain did not wait for its own limit.
    EXPECT_EQ(errors_of(r, ErrorKind::timeout), 2u);
    EXPECT_EQ(errors_of(r, ErrorKind::unfinished), 0u);
    EXPECT_LT(r.drain_seconds, 0.5 + Run::kStopGraceNs / 1e9);
    expect_identity(r, server->begun.load());
}

TEST(Engine, AStopDuringTheDrainCutsItShort) {
    auto server = std::make_shared<FreezableServer>();
    loadbench::Run run({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.3, .op_timeout_seconds = 0}, server);
    std::thread freezer([&] {
        wait_for(server->begun, 2);
        server->freeze();
        std::this_thread::sleep_for(600ms);  // the drain (10 s without a timeout) is under way
        run.stop();
    });
    RunResult r = run.run();
    freezer.join();
    EXPECT_TRUE(r.interrupted);
    EXPECT_LT(r.drain_seconds, 0.3 + (Run::kStopGraceNs + Run::kInterruptGraceNs) / 1e9 + 1.0);
    EXPECT_EQ(errors_of(r, ErrorKind::unfinished), 2u);
    expect_identity(r, server->begun.load());
}

TEST(Engine, AnOperationBegunInWarmupIsNotCountedWhereverItCompletes) {
    auto server = std::make_shared<FreezableServer>();
    loadbench::Run run({.concurrency = 1, .warmup_seconds = 0.3, .seconds = 0.5, .op_timeout_seconds = 0}, server);
    std::thread freezer([&] {
        wait_for(server->begun, 1);
        server->freeze();  // during warmup
        std::this_thread::sleep_for(500ms);  // into the window
        server->thaw();
    });
    RunResult r = run.run();
    freezer.join();
    EXPECT_GE(r.counters.before_window, 1u);
    EXPECT_GT(r.counters.committed, 0u);
    EXPECT_LT(r.latency.max(), 100 * kMs);  // the held one is the warmup's, not the window's
    EXPECT_EQ(r.counters.before_window + r.counters.committed, server->begun.load());
}

// Event-loop sessions: an attempt is a timer; frozen, it expires at the thaw instant instead.
struct FreezableAsyncServer : AsyncWorkload {
    std::atomic<std::int64_t> thaw_at_ns{0};  // 0: not frozen
    std::atomic<std::uint64_t> begun{0}, held{0};

    struct Session : AsyncSession {
        FreezableAsyncServer& s;
        asio::steady_timer reply;
        Session(FreezableAsyncServer& s, asio::io_context& io) : s(s), reply(io) {}
        OperationKeys plan(Rng& rng) override { return {{rng.below(1000), 1000 + rng.below(1000)}, 2}; }
        void attempt(AttemptCallback& done) override {  // one attempt per operation
            s.begun.fetch_add(1);
            const std::int64_t thaw = s.thaw_at_ns.load();
            if (thaw) s.held.fetch_add(1);
            reply.expires_after(thaw ? std::chrono::nanoseconds(std::max<std::int64_t>(thaw - now_ns(), 0))
                                     : std::chrono::nanoseconds(200'000));
            reply.async_wait([&done](const boost::system::error_code& ec) {
                done.attempt_done(ec ? Attempt::failed(ErrorKind::connection) : Attempt::committed());
            });
        }
        void interrupt() noexcept override {}
        void shutdown() override {}
    };

    void open_session(asio::io_context& io, std::size_t, SessionOpenCallback& done) override {
        asio::post(io, [this, &io, &done] { done.opened(std::make_unique<Session>(*this, io)); });
    }
    std::uint64_t key_space() const override { return 2000; }
};

TEST(Engine, AnEventLoopOperationFrozenAcrossTheWindowsEndIsCounted) {
    auto server = std::make_shared<FreezableAsyncServer>();
    loadbench::Run run({.concurrency = 8, .warmup_seconds = 0, .seconds = 0.6, .op_timeout_seconds = 0, .threads = 2},
                       server);
    std::thread freezer([&] {
        wait_for(server->begun, 8);
        std::this_thread::sleep_for(200ms);
        server->thaw_at_ns = now_ns() + 1'000'000'000;  // held for 1 s from about 0.4 s before the end
    });
    RunResult r = run.run();
    freezer.join();
    EXPECT_EQ(r.counters.failed, 0u);
    EXPECT_EQ(r.counters.drained, 8u);
    EXPECT_GE(r.latency.max(), 500 * kMs);
    EXPECT_GE(r.counters.drained_max_ns, 500 * kMs);
    expect_identity(r, server->begun.load());
}

TEST(Engine, AnOpenLoopOperationFrozenAcrossTheWindowsEndIsCountedFromItsIntendedStart) {
    auto server = std::make_shared<FreezableServer>();
    loadbench::Run run({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.6, .op_timeout_seconds = 0, .rate = 200,
                        .poisson = false},
                       server);
    std::thread freezer([&] {
        wait_for(server->begun, 2);
        std::this_thread::sleep_for(200ms);
        server->freeze();
        wait_for(server->held, 2);
        std::this_thread::sleep_for(700ms);
        server->thaw();
    });
    RunResult r = run.run();
    freezer.join();
    const OutcomeCounters& c = r.counters;
    EXPECT_EQ(c.drained, 2u);  // each session's held operation; the rest of the schedule never began
    EXPECT_GE(c.drained_max_ns, 600 * kMs);
    EXPECT_GE(r.latency.max(), 600 * kMs);
    EXPECT_GT(c.unstarted, 0u);
    EXPECT_EQ(c.scheduled, c.operations() + c.unstarted + c.dropped + c.after_window);
    EXPECT_EQ(c.failed, 0u);
    expect_identity(r, server->begun.load());
}

}  // namespace
}  // namespace loadbench
