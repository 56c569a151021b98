// The engine's contract: every operation is counted once (warmup, window or after), warmup is
// excluded, retries and timeouts are counted, collisions are seen, stop() interrupts.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "engine/run.hpp"

namespace loadbench {
namespace {

using namespace std::chrono_literals;

// A workload whose sessions run a given function; counts every attempt it served.
struct ScriptedWorkload : Workload {
    std::function<Attempt(std::size_t worker, std::uint64_t op)> behaviour;
    std::uint64_t keys = 1000;
    OperationKeys fixed_keys{{0, 1}, 2};
    bool fixed = false;
    std::atomic<std::uint64_t> operations{0};  // distinct operations planned and finished
    std::atomic<int> fail_open_worker{-1};

    struct Session : WorkerSession {
        ScriptedWorkload& w;
        std::size_t worker;
        std::uint64_t op = 0;
        Session(ScriptedWorkload& w, std::size_t worker) : w(w), worker(worker) {}
        OperationKeys plan(Rng& rng) override {
            ++op;
            if (w.fixed) return w.fixed_keys;
            return {{rng.below(w.keys), rng.below(w.keys)}, 2};
        }
        Attempt attempt() override { return w.behaviour(worker, op); }
    };

    std::unique_ptr<WorkerSession> open_session(std::size_t worker) override {
        if (static_cast<int>(worker) == fail_open_worker.load()) throw std::runtime_error("cannot connect");
        return std::make_unique<Session>(*this, worker);
    }
    std::uint64_t key_space() const override { return keys; }
};

RunResult run_to_end(RunConfig config, std::shared_ptr<Workload> workload) {
    loadbench::Run run(config, std::move(workload));
    run.start();
    EXPECT_TRUE(run.wait_for(60));
    return run.take_result();
}

TEST(Engine, CountsEveryOperationExactlyOnce) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [&](std::size_t, std::uint64_t) {
        w->operations.fetch_add(1);
        std::this_thread::sleep_for(50us);
        return Attempt::committed();
    };
    RunConfig config{.concurrency = 3, .warmup_seconds = 0.2, .seconds = 0.5};
    RunResult r = run_to_end(config, w);
    ASSERT_TRUE(r.error.empty());
    const OutcomeCounters& c = r.counters;
    EXPECT_GT(c.committed, 100u);
    EXPECT_GT(c.before_window, 0u);
    EXPECT_LE(c.after_window, 3u);  // at most the operation each worker had in hand
    EXPECT_EQ(c.before_window + c.committed + c.after_window, w->operations.load());
    EXPECT_EQ(r.latency.count(), c.committed);
    std::uint64_t series_total = 0;
    for (const auto& p : r.series) series_total += p.committed;
    EXPECT_EQ(series_total, c.committed);
    EXPECT_NEAR(r.measured_seconds, 0.5, 1e-9);
    EXPECT_NEAR(r.warmup_seconds, 0.2, 1e-9);
    EXPECT_FALSE(r.interrupted);
}

TEST(Engine, AHeldRunOpensItsSessionsThenStartsItsClockAtTheReleasedInstant) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [&](std::size_t, std::uint64_t) {
        w->operations.fetch_add(1);
        std::this_thread::sleep_for(50us);
        return Attempt::committed();
    };
    loadbench::Run run(RunConfig{.concurrency = 3, .warmup_seconds = 0.1, .seconds = 0.3}, w);
    run.hold();
    run.start();
    ASSERT_TRUE(run.wait_held(30));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(w->operations.load(), 0u);  // open, waiting at the gate: nothing runs
    EXPECT_FALSE(run.wait_for(0));
    const std::int64_t at = unix_now_ns() + 100'000'000;
    run.release(at);
    ASSERT_TRUE(run.wait_for(60));
    RunResult r = run.take_result();
    ASSERT_TRUE(r.error.empty());
    EXPECT_FALSE(r.interrupted);
    EXPECT_GE(r.go_unix_ns, at);
    EXPECT_LT(r.go_unix_ns, at + 1'000'000'000);  // loose: sanitizers and a shared machine
    EXPECT_GE(r.first_start_unix_ns, r.go_unix_ns);
    EXPECT_GT(r.counters.committed, 0u);
    EXPECT_NEAR(r.measured_seconds, 0.3, 1e-9);
    EXPECT_EQ(r.window_start_unix_ns, r.go_unix_ns + 100'000'000);
}

TEST(Engine, AReleaseInThePastStartsAtOnce) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [&](std::size_t, std::uint64_t) { return Attempt::committed(); };
    loadbench::Run run(RunConfig{.concurrency = 2, .warmup_seconds = 0, .seconds = 0.2}, w);
    run.hold();
    run.start();
    ASSERT_TRUE(run.wait_held(30));
    const std::int64_t released = unix_now_ns();
    run.release(released - 10'000'000'000);
    ASSERT_TRUE(run.wait_for(60));
    RunResult r = run.take_result();
    ASSERT_TRUE(r.error.empty());
    EXPECT_GE(r.go_unix_ns, released);
    EXPECT_LT(r.go_unix_ns, released + 1'000'000'000);
}

TEST(Engine, StopBeforeTheReleaseCallsAHeldRunOff) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [&](std::size_t, std::uint64_t) {
        w->operations.fetch_add(1);
        return Attempt::committed();
    };
    loadbench::Run run(RunConfig{.concurrency = 3, .warmup_seconds = 0, .seconds = 5}, w);
    run.hold();
    run.start();
    ASSERT_TRUE(run.wait_held(30));
    run.stop();
    ASSERT_TRUE(run.wait_for(5));
    RunResult r = run.take_result();
    EXPECT_FALSE(r.error.empty());
    EXPECT_TRUE(r.interrupted);
    EXPECT_EQ(w->operations.load(), 0u);
    EXPECT_FALSE(run.wait_held(0));  // ended: no longer waiting at the gate
}

TEST(Engine, AHeldRunWhoseSessionCannotOpenNeverWaitsAtTheGate) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [&](std::size_t, std::uint64_t) { return Attempt::committed(); };
    w->fail_open_worker = 1;
    loadbench::Run run(RunConfig{.concurrency = 3, .warmup_seconds = 0, .seconds = 5}, w);
    run.hold();
    run.start();
    EXPECT_FALSE(run.wait_held(30));
    ASSERT_TRUE(run.wait_for(5));
    EXPECT_NE(run.take_result().error.find("cannot connect"), std::string::npos);
}

TEST(Engine, WarmupOperationsAreNotMeasured) {
    // Operations take 100 ms during the first 250 ms, microseconds afterwards; warmup covers the
    // slow part, so no measured latency comes near 100 ms.
    auto w = std::make_shared<ScriptedWorkload>();
    const auto begin = std::chrono::steady_clock::now();
    w->behaviour = [&](std::size_t, std::uint64_t) {
        if (std::chrono::steady_clock::now() - begin < 250ms) std::this_thread::sleep_for(100ms);
        return Attempt::committed();
    };
    RunResult r = run_to_end({.concurrency = 1, .warmup_seconds = 0.5, .seconds = 0.2}, w);
    EXPECT_GE(r.counters.before_window, 3u);
    EXPECT_GT(r.counters.committed, 0u);
    EXPECT_LT(r.latency.max(), 50'000'000u);
}

TEST(Engine, SeriesHasOnePointPerSecond) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [](std::size_t, std::uint64_t) {
        std::this_thread::sleep_for(100us);
        return Attempt::committed();
    };
    RunResult r = run_to_end({.concurrency = 2, .warmup_seconds = 0, .seconds = 2.5}, w);
    ASSERT_EQ(r.series.size(), 3u);
    EXPECT_NEAR(r.series[0].t_s, 1.0, 0.05);
    EXPECT_NEAR(r.series[1].t_s, 2.0, 0.05);
    EXPECT_NEAR(r.series[2].t_s, 2.5, 1e-9);
    for (const auto& p : r.series) EXPECT_GT(p.committed, 0u);
}

TEST(Engine, RetriesRetryableFailuresUpToMaxTries) {
    auto w = std::make_shared<ScriptedWorkload>();
    std::atomic<int> calls{0};
    // Each operation fails twice with a retryable busy, then commits.
    w->behaviour = [&](std::size_t, std::uint64_t op) {
        static thread_local std::uint64_t last_op = 0;
        static thread_local int tries = 0;
        if (op != last_op) last_op = op, tries = 0;
        ++calls;
        return ++tries <= 2 ? Attempt::failed(ErrorKind::busy, true) : Attempt::committed();
    };
    RunResult enough = run_to_end({.concurrency = 1, .warmup_seconds = 0, .seconds = 0.3, .max_tries = 3}, w);
    EXPECT_GT(enough.counters.committed, 0u);
    EXPECT_EQ(enough.counters.failed, 0u);
    EXPECT_EQ(enough.counters.retries, 2 * enough.counters.committed);
    EXPECT_EQ(enough.counters.attempts, 3 * enough.counters.committed);
    EXPECT_EQ(enough.counters.retried_errors[static_cast<int>(ErrorKind::busy)], enough.counters.retries);

    RunResult too_few = run_to_end({.concurrency = 1, .warmup_seconds = 0, .seconds = 0.3, .max_tries = 2}, w);
    EXPECT_EQ(too_few.counters.committed, 0u);
    EXPECT_GT(too_few.counters.failed, 0u);
    EXPECT_EQ(too_few.counters.errors[static_cast<int>(ErrorKind::busy)], too_few.counters.failed);
    EXPECT_EQ(too_few.latency.count(), 0u);  // failed operations are not in the latency histogram
}

TEST(Engine, NonRetryableFailuresAreNotRetried) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [](std::size_t, std::uint64_t) { return Attempt::failed(ErrorKind::constraint, false); };
    RunResult r = run_to_end({.concurrency = 1, .warmup_seconds = 0, .seconds = 0.1, .max_tries = 5}, w);
    EXPECT_GT(r.counters.failed, 0u);
    EXPECT_EQ(r.counters.retries, 0u);
    EXPECT_EQ(r.counters.errors[static_cast<int>(ErrorKind::constraint)], r.counters.failed);
}

TEST(Engine, SeriesCountsFailuresByKindEachSecondAndTheyAddUpToTheTotals) {
    auto w = std::make_shared<ScriptedWorkload>();
    // Every third operation commits; the others fail as busy or as a constraint violation in turn.
    w->behaviour = [](std::size_t, std::uint64_t op) {
        std::this_thread::sleep_for(20us);
        if (op % 3 == 0) return Attempt::committed();
        return Attempt::failed(op % 3 == 1 ? ErrorKind::busy : ErrorKind::constraint, false);
    };
    RunResult r = run_to_end({.concurrency = 2, .warmup_seconds = 0.1, .seconds = 1.5}, w);
    ASSERT_TRUE(r.error.empty());
    ASSERT_EQ(r.series.size(), 2u);
    std::array<std::uint64_t, kErrorKinds> summed{};
    std::uint64_t failed = 0;
    for (const SecondPoint& p : r.series) {
        std::uint64_t by_kind = 0;
        for (std::size_t k = 0; k < kErrorKinds; ++k) {
            summed[k] += p.errors[k];
            by_kind += p.errors[k];
        }
        EXPECT_EQ(by_kind, p.failed);  // each second: failed = the sum over the kinds
        EXPECT_GT(p.errors[static_cast<std::size_t>(ErrorKind::busy)], 0u);
        EXPECT_GT(p.errors[static_cast<std::size_t>(ErrorKind::constraint)], 0u);
        EXPECT_EQ(p.errors[static_cast<std::size_t>(ErrorKind::other)], 0u);
        failed += p.failed;
    }
    EXPECT_EQ(failed, r.counters.failed);
    EXPECT_EQ(summed, r.counters.errors);  // the series adds up to the run's totals, kind by kind
}

// A session that hangs until interrupted, like a database waiting on a lock forever.
struct HangingWorkload : Workload {
    struct Session : WorkerSession {
        std::mutex m;
        std::condition_variable cv;
        bool interrupted = false;
        OperationKeys plan(Rng&) override { return {}; }
        Attempt attempt() override {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return interrupted; });
            interrupted = false;
            return Attempt::failed(ErrorKind::other);
        }
        void interrupt() noexcept override {
            std::lock_guard lock(m);
            interrupted = true;
            cv.notify_all();
        }
    };
    std::unique_ptr<WorkerSession> open_session(std::size_t) override { return std::make_unique<Session>(); }
    std::uint64_t key_space() const override { return 0; }
};

TEST(Engine, PerOperationTimeoutTurnsAHangIntoACountedError) {
    auto w = std::make_shared<HangingWorkload>();
    const auto t0 = std::chrono::steady_clock::now();
    RunResult r = run_to_end({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.5, .op_timeout_seconds = 0.05}, w);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_GT(r.counters.failed, 4u);
    EXPECT_EQ(r.counters.errors[static_cast<int>(ErrorKind::timeout)], r.counters.failed);
}

TEST(Engine, CollisionsAreCountedOnlyWhenOperationsOverlap) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->fixed = true;
    w->behaviour = [](std::size_t, std::uint64_t) {
        std::this_thread::sleep_for(200us);
        return Attempt::committed();
    };
    RunResult alone = run_to_end({.concurrency = 1, .warmup_seconds = 0, .seconds = 0.2}, w);
    EXPECT_EQ(alone.counters.collision_ops, 0u);
    RunResult crowd = run_to_end({.concurrency = 4, .warmup_seconds = 0, .seconds = 0.3}, w);
    EXPECT_GT(crowd.counters.collision_ops, crowd.counters.operations() / 2);
    EXPECT_GE(crowd.counters.collision_count, crowd.counters.collision_ops);
    EXPECT_TRUE(crowd.collisions_exact);
}

TEST(Engine, StopEndsTheWindowEarlyAndMarksTheResult) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [](std::size_t, std::uint64_t) {
        std::this_thread::sleep_for(100us);
        return Attempt::committed();
    };
    loadbench::Run run({.concurrency = 2, .warmup_seconds = 0, .seconds = 30}, w);
    run.start();
    std::this_thread::sleep_for(300ms);
    run.stop();
    ASSERT_TRUE(run.wait_for(10));
    RunResult r = run.take_result();
    EXPECT_TRUE(r.interrupted);
    EXPECT_LT(r.measured_seconds, 5);
    EXPECT_GT(r.counters.committed, 0u);
}

TEST(Engine, ASessionThatCannotOpenFailsTheRunWithItsMessage) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [](std::size_t, std::uint64_t) { return Attempt::committed(); };
    w->fail_open_worker = 1;
    RunResult r = run_to_end({.concurrency = 3, .warmup_seconds = 0, .seconds = 1}, w);
    EXPECT_EQ(r.error, "cannot connect");
    EXPECT_EQ(r.counters.operations(), 0u);
}

TEST(Engine, AnOperationCountEndsTheWindowWhenEveryWorkerDidItsShare) {
    auto w = std::make_shared<ScriptedWorkload>();
    w->behaviour = [&](std::size_t, std::uint64_t) {
        w->operations.fetch_add(1);
        return Attempt::committed();
    };
    RunResult r = run_to_end({.concurrency = 3, .warmup_seconds = 0, .seconds = 30, .operations = 1000}, w);
    EXPECT_EQ(r.counters.committed, 1000u);
    EXPECT_EQ(r.counters.after_window, 0u);
    EXPECT_EQ(w->operations.load(), 1000u);
    EXPECT_LT(r.measured_seconds, 5);
    EXPECT_FALSE(r.interrupted);
}

// The caller only waits (so it can return within the stop's bound even when a session never
// does): every worker has a thread of its own.
TEST(Engine, RunWaitsOnTheCallingThreadAndTicks) {
    auto w = std::make_shared<ScriptedWorkload>();
    std::mutex m;
    std::set<std::thread::id> worker0_threads;
    w->behaviour = [&](std::size_t worker, std::uint64_t) {
        if (worker == 0) {
            std::lock_guard lock(m);
            worker0_threads.insert(std::this_thread::get_id());
        }
        std::this_thread::sleep_for(100us);
        return Attempt::committed();
    };
    int ticks = 0;
    loadbench::Run run({.concurrency = 3, .warmup_seconds = 0.1, .seconds = 0.8}, w);
    RunResult r = run.run([&](const Progress& p) {
        ++ticks;
        EXPECT_NE(p.phase, RunPhase::done);
    });
    ASSERT_EQ(worker0_threads.size(), 1u);
    EXPECT_NE(*worker0_threads.begin(), std::this_thread::get_id());
    EXPECT_GE(ticks, 2);
    EXPECT_GT(r.counters.committed, 0u);
    EXPECT_EQ(r.sessions, 3u);
}

// Two operation types: "fast" commits at once, "slow" sleeps first and is rejected.
struct TwoTypeWorkload : Workload {
    struct Session : WorkerSession {
        std::uint8_t type = 0;
        OperationKeys plan(Rng& rng) override {
            type = static_cast<std::uint8_t>(rng.below(2));
            return {{0, 0}, 0, type};
        }
        Attempt attempt() override {
            if (type == 0) return Attempt::committed();
            std::this_thread::sleep_for(200us);
            return Attempt::rejected();
        }
    };
    std::unique_ptr<WorkerSession> open_session(std::size_t) override { return std::make_unique<Session>(); }
    std::uint64_t key_space() const override { return 0; }
    std::vector<std::string> operation_types() const override { return {"fast", "slow"}; }
};

TEST(Engine, EachOperationTypeGetsItsOwnCountsAndLatencies) {
    RunResult r = run_to_end({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.3}, std::make_shared<TwoTypeWorkload>());
    ASSERT_EQ(r.type_names, (std::vector<std::string>{"fast", "slow"}));
    ASSERT_EQ(r.by_type.size(), 2u);
    EXPECT_EQ(r.by_type[0].committed + r.by_type[1].committed, r.counters.committed);
    EXPECT_EQ(r.by_type[0].rejected + r.by_type[1].rejected, r.counters.rejected);
    EXPECT_EQ(r.by_type[0].rejected, 0u);
    EXPECT_EQ(r.by_type[1].committed, 0u);
    EXPECT_GT(r.by_type[1].rejected, 100u);
    // Each histogram holds its own type's latencies: every slow one slept 200 µs; the fast ones are
    // typically far below (not all: on a loaded machine a thread can be descheduled mid-operation).
    EXPECT_GE(r.by_type[1].latency.min(), 200'000u);
    EXPECT_LT(r.by_type[0].latency.value_at_percentile(50), 200'000u);
    EXPECT_EQ(r.by_type[0].latency.count() + r.by_type[1].latency.count(), r.latency.count());
}

TEST(Engine, RejectsBadConfigurations) {
    auto w = std::make_shared<ScriptedWorkload>();
    EXPECT_THROW(loadbench::Run({.concurrency = 0}, w), std::invalid_argument);
    EXPECT_THROW(loadbench::Run({.seconds = 0}, w), std::invalid_argument);
    EXPECT_THROW(loadbench::Run({.warmup_seconds = -1}, w), std::invalid_argument);
    EXPECT_THROW(loadbench::Run({.max_tries = 0}, w), std::invalid_argument);
}

}  // namespace
}  // namespace loadbench
