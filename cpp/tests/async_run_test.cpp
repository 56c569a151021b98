// The event-loop driver keeps the engine's contract: many sessions on few threads, every operation
// counted once, retries after backoff, timeouts interrupt, groups share a thread, a session that
// cannot open fails the run.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <vector>
#include <thread>

#include "engine/async_workload.hpp"
#include "engine/run.hpp"

namespace loadbench {
namespace {

using namespace std::chrono_literals;

// Sessions whose attempts complete after a timer; scriptable per attempt.
struct TimerWorkload : AsyncWorkload {
    std::chrono::microseconds service_time{200};
    std::size_t group = 1;
    int fail_open_index = -1;
    int fail_first_tries = 0;            // each operation fails (retryable busy) this many times first
    bool hang = false;                   // attempts never complete unless interrupted
    std::atomic<std::uint64_t> operations{0};
    std::mutex m;
    std::map<std::size_t, std::thread::id> thread_of_session;

    struct Session : AsyncSession {
        TimerWorkload& w;
        asio::io_context& io;
        asio::steady_timer timer;
        int tries_this_op = 0;
        std::atomic<bool> interrupted{false};
        Session(TimerWorkload& w, asio::io_context& io) : w(w), io(io), timer(io) {}

        OperationKeys plan(Rng& rng) override {
            tries_this_op = 0;
            return {{rng.below(1000), 1000 + rng.below(1000)}, 2};
        }
        void attempt(AttemptCallback& done) override {
            ++tries_this_op;
            timer.expires_after(w.hang ? std::chrono::microseconds(3600'000'000LL) : w.service_time);
            timer.async_wait([this, &done](const boost::system::error_code& ec) {
                if (ec || interrupted.exchange(false)) return done.attempt_done(Attempt::failed(ErrorKind::other));
                if (tries_this_op <= w.fail_first_tries) return done.attempt_done(Attempt::failed(ErrorKind::busy, true));
                w.operations.fetch_add(1);
                done.attempt_done(Attempt::committed());
            });
        }
        void interrupt() noexcept override {
            interrupted = true;
            asio::post(io, [this] { timer.cancel(); });
        }
        void shutdown() override { timer.cancel(); }
    };

    void open_session(asio::io_context& io, std::size_t index, SessionOpenCallback& done) override {
        {
            std::lock_guard lock(m);
            thread_of_session[index] = std::this_thread::get_id();
        }
        asio::post(io, [this, &io, index, &done] {
            if (static_cast<int>(index) == fail_open_index) return done.open_failed("refused");
            done.opened(std::make_unique<Session>(*this, io));
        });
    }
    std::uint64_t key_space() const override { return 2000; }
    std::size_t sessions_per_group() const override { return group; }
};

TEST(AsyncEngine, ManySessionsOnTwoThreadsCountEveryOperationOnce) {
    auto w = std::make_shared<TimerWorkload>();
    loadbench::Run run({.concurrency = 200, .warmup_seconds = 0.1, .seconds = 0.5, .threads = 2}, w);
    RunResult r = run.run();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.threads, 2u);
    EXPECT_EQ(r.sessions, 200u);
    EXPECT_GT(r.counters.committed, 1000u);
    EXPECT_LE(r.counters.after_window, 200u);
    EXPECT_EQ(r.counters.before_window + r.counters.committed + r.counters.after_window, w->operations.load());
    EXPECT_EQ(r.latency.count(), r.counters.committed);
    EXPECT_GE(r.latency.min(), 200'000u);  // never faster than the service time
    std::set<std::thread::id> threads;
    for (auto& [session, id] : w->thread_of_session) threads.insert(id);
    EXPECT_EQ(threads.size(), 2u);
}

TEST(AsyncEngine, SessionsOfAGroupShareAThread) {
    auto w = std::make_shared<TimerWorkload>();
    w->group = 4;
    loadbench::Run run({.concurrency = 16, .warmup_seconds = 0, .seconds = 0.2, .threads = 3}, w);
    RunResult r = run.run();
    ASSERT_TRUE(r.error.empty());
    for (std::size_t g = 0; g < 4; ++g)
        for (std::size_t i = 1; i < 4; ++i)
            EXPECT_EQ(w->thread_of_session[g * 4 + i], w->thread_of_session[g * 4]) << "group " << g;
}

TEST(AsyncEngine, RetriesAfterBackoff) {
    auto w = std::make_shared<TimerWorkload>();
    w->fail_first_tries = 2;
    loadbench::Run run({.concurrency = 10, .warmup_seconds = 0, .seconds = 0.3, .max_tries = 3, .threads = 1}, w);
    RunResult r = run.run();
    EXPECT_GT(r.counters.committed, 0u);
    EXPECT_EQ(r.counters.failed, 0u);
    EXPECT_EQ(r.counters.retries, 2 * r.counters.committed);
}

TEST(AsyncEngine, TimeoutInterruptsAHungAttempt) {
    auto w = std::make_shared<TimerWorkload>();
    w->hang = true;
    const auto t0 = std::chrono::steady_clock::now();
    loadbench::Run run({.concurrency = 4, .warmup_seconds = 0, .seconds = 0.4, .op_timeout_seconds = 0.05, .threads = 1}, w);
    RunResult r = run.run();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_GT(r.counters.failed, 4u);
    EXPECT_EQ(r.counters.errors[static_cast<int>(ErrorKind::timeout)], r.counters.failed);
}

TEST(AsyncEngine, ASessionThatCannotOpenFailsTheRun) {
    auto w = std::make_shared<TimerWorkload>();
    w->fail_open_index = 7;
    loadbench::Run run({.concurrency = 20, .warmup_seconds = 0, .seconds = 1, .threads = 2}, w);
    RunResult r = run.run();
    EXPECT_EQ(r.error, "refused");
    EXPECT_EQ(r.counters.operations(), 0u);
}

TEST(AsyncEngine, OperationCountIsExact) {
    auto w = std::make_shared<TimerWorkload>();
    w->service_time = std::chrono::microseconds(10);
    loadbench::Run run({.concurrency = 8, .warmup_seconds = 0, .seconds = 30, .operations = 1001, .threads = 2}, w);
    RunResult r = run.run();
    EXPECT_EQ(r.counters.committed, 1001u);
    EXPECT_EQ(w->operations.load(), 1001u);
}

// Opens and attempts that complete from a thread of the connector's (as a call pool's would): the
// event loop has no work of its own meanwhile, and must still wait for them (the driver's work
// guards) instead of returning and dropping the sessions the completions are for.
struct ForeignThreadWorkload : AsyncWorkload {
    std::atomic<std::uint64_t> operations{0};
    std::mutex m;
    std::vector<std::thread> helpers;

    ~ForeignThreadWorkload() override {
        for (auto& t : helpers) t.join();
    }
    // Runs `f` on the loop 2 ms from now, from a thread of its own.
    void later(asio::io_context& io, std::function<void()> f) {
        std::lock_guard lock(m);
        helpers.emplace_back([&io, f = std::move(f)] {
            std::this_thread::sleep_for(2ms);
            asio::post(io, f);
        });
    }
    struct Session : AsyncSession {
        ForeignThreadWorkload& w;
        asio::io_context& io;
        Session(ForeignThreadWorkload& w, asio::io_context& io) : w(w), io(io) {}
        OperationKeys plan(Rng&) override { return {}; }
        void attempt(AttemptCallback& done) override {
            w.later(io, [this, &done] {
                w.operations.fetch_add(1);
                done.attempt_done(Attempt::committed());
            });
        }
        void interrupt() noexcept override {}
        void shutdown() override {}
    };
    void open_session(asio::io_context& io, std::size_t, SessionOpenCallback& done) override {
        later(io, [this, &io, &done] { done.opened(std::make_unique<Session>(*this, io)); });
    }
    std::uint64_t key_space() const override { return 0; }
};

TEST(AsyncEngine, CompletionsFromAnotherThreadKeepTheLoopRunning) {
    auto w = std::make_shared<ForeignThreadWorkload>();
    {
        loadbench::Run run({.concurrency = 4, .warmup_seconds = 0, .seconds = 30, .operations = 40, .threads = 1}, w);
        run.start();
        const bool finished = run.wait_for(20);
        if (!finished) run.stop();  // the loop returned early: nothing runs the completions
        ASSERT_TRUE(finished);
        RunResult r = run.take_result();
        ASSERT_TRUE(r.error.empty()) << r.error;
        EXPECT_EQ(r.counters.committed, 40u);
        EXPECT_EQ(w->operations.load(), 40u);
    }
}

TEST(AsyncEngine, ConcurrencyMustFillWholeGroups) {
    auto w = std::make_shared<TimerWorkload>();
    w->group = 4;
    EXPECT_THROW(loadbench::Run({.concurrency = 6}, w), std::invalid_argument);
}

}  // namespace
}  // namespace loadbench
