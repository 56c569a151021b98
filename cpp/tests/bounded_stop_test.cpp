// The engine's bounded stop: after stop() (or the window's end) run() returns within about one
// second whatever the sessions do: attempts that return only when interrupted, attempts that
// ignore interrupts entirely, sessions that never finish opening. What was begun in the window and
// interrupted or abandoned is counted once, as a failure of kind `unfinished`, never as committed.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

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

// The longest stop() may take to end a run: the grace, the interrupt's grace, the loops' stop, and
// slack for a loaded machine (sanitizers, two shared cores).
constexpr auto kStopBound = std::chrono::nanoseconds(Run::kStopGraceNs + Run::kInterruptGraceNs + Run::kLoopStopGraceNs) + 700ms;

// A gate the test opens: sessions blocked on it return only then (or when interrupted, if they
// listen).
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    void release() {
        std::lock_guard lock(m);
        open = true;
        cv.notify_all();
    }
};

// Blocking sessions: operations commit after 200 µs until `frozen`; from then on an attempt
// blocks until the gate opens, or (when `listen`) until it is interrupted.
struct FreezingWorkload : Workload {
    std::atomic<bool> frozen{false};
    bool listen = true;
    Gate gate;
    std::atomic<std::uint64_t> begun{0}, returned{0}, blocked{0};

    struct Session : WorkerSession {
        FreezingWorkload& w;
        bool interrupted = false;  // guarded by w.gate.m
        explicit Session(FreezingWorkload& w) : w(w) {}
        OperationKeys plan(Rng& rng) override { return {{rng.below(1000), 1000 + rng.below(1000)}, 2}; }
        Attempt attempt() override {
            w.begun.fetch_add(1);
            if (!w.frozen.load()) {
                std::this_thread::sleep_for(200us);
                w.returned.fetch_add(1);
                return Attempt::committed();
            }
            std::unique_lock lock(w.gate.m);
            w.blocked.fetch_add(1);
            w.gate.cv.wait(lock, [&] { return w.gate.open || (w.listen && interrupted); });
            w.returned.fetch_add(1);
            return Attempt::failed(ErrorKind::timeout);
        }
        void interrupt() noexcept override {
            std::lock_guard lock(w.gate.m);
            interrupted = true;
            w.gate.cv.notify_all();
        }
    };

    std::unique_ptr<WorkerSession> open_session(std::size_t) override { return std::make_unique<Session>(*this); }
    std::uint64_t key_space() const override { return 2000; }
};

void wait_until_blocked(const std::atomic<std::uint64_t>& blocked, std::uint64_t n) {
    const auto deadline = Clock::now() + 10s;
    while (blocked.load() < n && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(blocked.load(), n);
}

// Stops `run` and returns how long until it ended.
Clock::duration stop_and_time(loadbench::Run& run) {
    const auto t0 = Clock::now();
    run.stop();
    EXPECT_TRUE(run.wait_for(30));
    return Clock::now() - t0;
}

TEST(BoundedStop, AnAttemptThatReturnsOnlyWhenInterruptedIsInterrupted) {
    auto w = std::make_shared<FreezingWorkload>();
    loadbench::Run run({.concurrency = 3, .warmup_seconds = 0, .seconds = 60, .op_timeout_seconds = 0}, w);
    run.start();
    std::this_thread::sleep_for(200ms);
    w->frozen = true;
    wait_until_blocked(w->blocked, 3);
    const auto took = stop_and_time(run);
    EXPECT_LT(took, kStopBound);
    EXPECT_GE(took, std::chrono::nanoseconds(Run::kStopGraceNs));  // the grace came first
    RunResult r = run.take_result();
    EXPECT_TRUE(r.interrupted);
    EXPECT_FALSE(run.abandoned());
    EXPECT_EQ(r.abandoned, 0u);
    // Each session's blocked operation was interrupted: begun in the window, it fails as unfinished.
    EXPECT_EQ(r.counters.after_window, 0u);
    EXPECT_GT(r.counters.committed, 0u);
    EXPECT_EQ(r.counters.failed, 3u);
    EXPECT_EQ(r.counters.errors[static_cast<std::size_t>(ErrorKind::unfinished)], 3u);
    EXPECT_EQ(r.counters.committed + r.counters.failed, w->begun.load());
}

TEST(BoundedStop, AnAttemptThatIgnoresInterruptsIsAbandonedAndCountedOnce) {
    auto w = std::make_shared<FreezingWorkload>();
    w->listen = false;
    {
        loadbench::Run run({.concurrency = 3, .warmup_seconds = 0, .seconds = 60, .op_timeout_seconds = 0}, w);
        std::thread stopper;
        RunResult r;
        Clock::time_point stopped_at;
        stopper = std::thread([&] {
            std::this_thread::sleep_for(200ms);
            w->frozen = true;
            wait_until_blocked(w->blocked, 3);
            stopped_at = Clock::now();
            run.stop();
        });
        r = run.run();  // the calling thread only waits: it returns although no session did
        const auto took = Clock::now() - stopped_at;
        stopper.join();
        EXPECT_LT(took, kStopBound);
        EXPECT_GE(took, std::chrono::nanoseconds(Run::kStopGraceNs + Run::kInterruptGraceNs));
        EXPECT_TRUE(r.interrupted);
        EXPECT_TRUE(run.abandoned());
        EXPECT_EQ(r.abandoned, 3u);
        EXPECT_EQ(r.counters.after_window, 0u);
        EXPECT_EQ(r.counters.errors[static_cast<std::size_t>(ErrorKind::unfinished)], 3u);
        EXPECT_EQ(r.counters.committed + r.counters.failed, w->begun.load());
        const std::uint64_t committed = r.counters.committed;
        // The abandoned attempts return now; nothing they do reaches the result (sealed), and the
        // destructor waits for their threads.
        w->gate.release();
        EXPECT_EQ(r.counters.committed, committed);
    }
    EXPECT_EQ(w->returned.load(), w->begun.load());
}

TEST(BoundedStop, TheWindowsOwnEndIsBoundedTooWithoutATimeout) {
    // Not interrupted: the window ends on time, a session hangs with no per-operation timeout;
    // the drain waits its limit (0.2 s here; 10 s by default without a timeout), then gives up.
    auto w = std::make_shared<FreezingWorkload>();
    w->listen = false;
    w->frozen = true;
    {
        loadbench::Run run({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.3, .op_timeout_seconds = 0,
                            .drain_seconds = 0.2},
                           w);
        const auto t0 = Clock::now();
        RunResult r = run.run();
        EXPECT_LT(Clock::now() - t0, 300ms + kStopBound);
        EXPECT_FALSE(r.interrupted);
        EXPECT_EQ(r.abandoned, 2u);
        EXPECT_EQ(r.counters.operations(), 2u);  // begun in the window, failed as unfinished
        EXPECT_EQ(r.counters.errors[static_cast<std::size_t>(ErrorKind::unfinished)], 2u);
        EXPECT_NEAR(r.measured_seconds, 0.3, 1e-9);
        w->gate.release();
    }
}

// Blocking sessions whose open blocks until the gate opens.
struct SlowOpenWorkload : Workload {
    Gate gate;
    std::atomic<int> opening{0};
    struct Session : WorkerSession {
        OperationKeys plan(Rng&) override { return {}; }
        Attempt attempt() override { return Attempt::committed(); }
    };
    std::unique_ptr<WorkerSession> open_session(std::size_t index) override {
        if (index % 2 == 1) {  // half of them hang
            opening.fetch_add(1);
            std::unique_lock lock(gate.m);
            gate.cv.wait(lock, [&] { return gate.open; });
        }
        return std::make_unique<Session>();
    }
    std::uint64_t key_space() const override { return 0; }
};

TEST(BoundedStop, OpeningIsCalledOffWithinTheBound) {
    auto w = std::make_shared<SlowOpenWorkload>();
    {
        loadbench::Run run({.concurrency = 6, .warmup_seconds = 0, .seconds = 10}, w);
        run.start();
        const auto deadline = Clock::now() + 10s;
        while (w->opening.load() < 3 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
        const auto took = stop_and_time(run);
        EXPECT_LT(took, std::chrono::nanoseconds(Run::kOpenAbortGraceNs) + 700ms);
        RunResult r = run.take_result();
        EXPECT_EQ(r.error, "interrupted while opening sessions");
        EXPECT_TRUE(r.interrupted);
        EXPECT_TRUE(run.abandoned());
        EXPECT_EQ(r.counters.operations(), 0u);
        w->gate.release();
    }
}

// Event-loop sessions: attempts that never complete (a wait that stands for a read no answer
// ends); `listen`: unless interrupted.
struct SilentAsyncWorkload : AsyncWorkload {
    bool listen = true;
    bool open_never = false;
    std::atomic<std::uint64_t> begun{0}, opened{0};

    struct Session : AsyncSession {
        SilentAsyncWorkload& w;
        asio::io_context& io;
        asio::steady_timer read;
        Session(SilentAsyncWorkload& w, asio::io_context& io) : w(w), io(io), read(io) {}
        OperationKeys plan(Rng& rng) override { return {{rng.below(1000), 1000 + rng.below(1000)}, 2}; }
        void attempt(AttemptCallback& done) override {
            w.begun.fetch_add(1);
            read.expires_after(std::chrono::hours(1));
            read.async_wait([&done](const boost::system::error_code&) { done.attempt_done(Attempt::failed(ErrorKind::timeout)); });
        }
        void interrupt() noexcept override {
            if (w.listen) asio::post(io, [this] { read.cancel(); });
        }
        void shutdown() override {}
    };

    void open_session(asio::io_context& io, std::size_t, SessionOpenCallback& done) override {
        if (open_never) return;  // the open never completes
        asio::post(io, [this, &io, &done] {
            opened.fetch_add(1);
            done.opened(std::make_unique<Session>(*this, io));
        });
    }
    std::uint64_t key_space() const override { return 2000; }
};

TEST(BoundedStop, EventLoopAttemptsAreInterruptedThenAbandoned) {
    for (const bool listen : {true, false}) {
        SCOPED_TRACE(listen ? "listens to interrupts" : "ignores interrupts");
        auto w = std::make_shared<SilentAsyncWorkload>();
        w->listen = listen;
        loadbench::Run run({.concurrency = 8, .warmup_seconds = 0, .seconds = 60, .op_timeout_seconds = 0, .threads = 2}, w);
        run.start();
        const auto deadline = Clock::now() + 10s;
        while (w->begun.load() < 8 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
        ASSERT_EQ(w->begun.load(), 8u);
        const auto took = stop_and_time(run);
        EXPECT_LT(took, kStopBound);
        RunResult r = run.take_result();
        EXPECT_TRUE(r.interrupted);
        EXPECT_EQ(r.counters.after_window, 0u);
        EXPECT_EQ(r.abandoned, listen ? 0u : 8u);
        EXPECT_EQ(run.abandoned(), !listen);
        EXPECT_EQ(r.counters.operations(), 8u);  // begun in the window, failed as unfinished
        EXPECT_EQ(r.counters.errors[static_cast<std::size_t>(ErrorKind::unfinished)], 8u);
    }
}

TEST(BoundedStop, EventLoopOpensThatNeverCompleteAreCalledOff) {
    auto w = std::make_shared<SilentAsyncWorkload>();
    w->open_never = true;
    loadbench::Run run({.concurrency = 4, .warmup_seconds = 0, .seconds = 10, .threads = 2}, w);
    run.start();
    std::this_thread::sleep_for(100ms);
    const auto took = stop_and_time(run);
    EXPECT_LT(took, std::chrono::nanoseconds(Run::kOpenAbortGraceNs) + 700ms);
    RunResult r = run.take_result();
    EXPECT_EQ(r.error, "interrupted while opening sessions");
    EXPECT_TRUE(r.interrupted);
}

TEST(BoundedStop, StartingThreadsStopsWhenStopped) {
    // stop() while thousands of blocking sessions are still being started: the rest never start.
    auto w = std::make_shared<SlowOpenWorkload>();
    {
        loadbench::Run run({.concurrency = 500, .warmup_seconds = 0, .seconds = 10}, w);
        std::thread stopper([&] {
            while (w->opening.load() < 1) std::this_thread::sleep_for(100us);
            run.stop();
        });
        const auto t0 = Clock::now();
        RunResult r = run.run();
        stopper.join();
        EXPECT_LT(Clock::now() - t0, 10s);
        EXPECT_TRUE(r.interrupted);
        EXPECT_FALSE(r.error.empty());
        w->gate.release();
    }
}

TEST(BoundedStop, EstimateCountsEveryStructure) {
    auto w = std::make_shared<FreezingWorkload>();
    loadbench::Run small({.concurrency = 10}, w);
    loadbench::Run big({.concurrency = 1000}, w);
    const ResourceEstimate a = small.resource_estimate(), b = big.resource_estimate();
    EXPECT_EQ(a.threads, 12u);   // one per blocking session, the monitor, the interrupter
    EXPECT_EQ(b.threads, 1002u);
    EXPECT_EQ(a.engine_bytes_per_session, b.engine_bytes_per_session);
    // Each blocking session has its own metrics: three histograms at least 3 * 100 KB.
    EXPECT_GT(a.engine_bytes_per_session, 300'000u);
    EXPECT_GE(b.engine_bytes, 1000 * b.engine_bytes_per_session);
}

}  // namespace
}  // namespace loadbench
