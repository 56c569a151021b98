// A stalled server never stalls the harness: every attempt's timeout fires within 10 % + 100 ms of
// --op-timeout, for every session, while the monitor keeps the clock and the seconds, even when
// the server-side cancel of a timed-out request would block (PQcancel against a stopped server).
// PostgreSQL: a timed-out request abandons its connection (the others pipelined on it fail as
// connection errors), the cancel goes to a thread of its own, the connection comes back with the
// server. SQLite: an interrupt ends a busy wait at once.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "connectors/null_connector.hpp"
#include "connectors/postgres_connector.hpp"
#include "connectors/sqlite_connector.hpp"
#include "engine/async_workload.hpp"
#include "engine/run.hpp"
#include "fake_postgres.hpp"
#include "net/blocking_call_pool.hpp"
#include "scenarios/transfer_scenario.hpp"

namespace loadbench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The contract: a timeout of T fires at least T and at most T + 10 % + 100 ms after the attempt began.
void expect_within_bound(double took_s, double timeout_s, const std::string& what) {
    // The engine's clock starts just before it calls the attempt, the fake's inside it: on a loaded
    // machine under ThreadSanitizer a preemption in between measured 15 ms.
    EXPECT_GE(took_s, timeout_s - 0.025) << what;
    EXPECT_LE(took_s, timeout_s * 1.1 + 0.1) << what;
}

// Something that blocks until released: a cancel request to a server that never answers.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    std::atomic<int> waiting{0};
    void wait() {
        ++waiting;
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return open; });
    }
    void release() {
        std::lock_guard lock(m);
        open = true;
        cv.notify_all();
    }
};

// --- BlockingCallPool --------------------------------------------------------------------------

TEST(BlockingCallPool, AStuckCallHoldsUpNoOtherAndNoCaller) {
    Gate gate;
    auto pool = std::make_unique<BlockingCallPool>(2);
    ASSERT_TRUE(pool->submit([&] { gate.wait(); }));
    while (gate.waiting.load() == 0) std::this_thread::sleep_for(1ms);
    std::atomic<int> done{0};
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool->submit([&] { ++done; }));
    const auto t0 = Clock::now();
    while (done.load() < 10 && Clock::now() - t0 < 10s) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(done.load(), 10);  // on the other thread, while the first is stuck
    EXPECT_EQ(pool->completed(), 10u);
    // Destroying the pool does not wait for the stuck call.
    const auto t1 = Clock::now();
    pool.reset();
    EXPECT_LT(seconds(Clock::now() - t1), 1.0);
    gate.release();  // the detached thread finishes on its own
}

TEST(BlockingCallPool, AFullQueueDropsTheCallInsteadOfWaiting) {
    Gate gate;
    BlockingCallPool pool(1, 2);
    ASSERT_TRUE(pool.submit([&] { gate.wait(); }));
    while (gate.waiting.load() == 0) std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(pool.submit([] {}));
    EXPECT_TRUE(pool.submit([] {}));
    EXPECT_FALSE(pool.submit([] {}));
    EXPECT_EQ(pool.dropped(), 1u);
    gate.release();
    // The pool's thread is detached: the gate (on this stack) must outlive its wait (TSan saw
    // the condition variable destroyed while the thread was still returning from it).
    const auto t0 = Clock::now();
    while (pool.completed() < 3 && Clock::now() - t0 < 10s) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(pool.completed(), 3u);
}

// --- the engine ---------------------------------------------------------------------------------

// Sessions whose attempts hang until interrupted, as on a stopped server. Each interrupt ends the
// attempt at once (posted to its event loop) and hands a cancel that blocks until the test ends to
// `cancels` (one thread: the first cancel is stuck, and every later one waits behind it). Each
// session notes how long each of its attempts took.
struct FrozenServerWorkload : AsyncWorkload {
    Gate& server;
    BlockingCallPool cancels{1};
    std::atomic<std::uint64_t> cancels_submitted{0};
    std::mutex m;
    std::vector<double> attempt_seconds;

    explicit FrozenServerWorkload(Gate& g) : server(g) {}
    // Lets the stuck cancels go and waits for them, so none outlives the test's Gate.
    ~FrozenServerWorkload() override {
        server.release();
        const auto t0 = Clock::now();
        while (cancels.completed() + cancels.dropped() < cancels_submitted.load() && Clock::now() - t0 < 10s)
            std::this_thread::sleep_for(1ms);
    }

    struct Session : AsyncSession {
        FrozenServerWorkload& w;
        asio::io_context& io;
        AttemptCallback* done = nullptr;
        // An attempt in progress keeps the event loop running, as a real session's socket wait does.
        std::optional<asio::executor_work_guard<asio::io_context::executor_type>> busy;
        Clock::time_point began;
        std::atomic<std::uint64_t> attempts{0};
        Session(FrozenServerWorkload& w, asio::io_context& io) : w(w), io(io) {}

        OperationKeys plan(Rng&) override { return {}; }
        void attempt(AttemptCallback& d) override {
            done = &d;
            busy.emplace(io.get_executor());
            began = Clock::now();
        }
        void interrupt() noexcept override {
            ++w.cancels_submitted;
            w.cancels.submit([&server = w.server] { server.wait(); });
            asio::post(io, [this, seq = attempts.load()] {
                if (seq != attempts.load() || !done) return;
                ++attempts;
                {
                    std::lock_guard lock(w.m);
                    w.attempt_seconds.push_back(seconds(Clock::now() - began));
                }
                busy.reset();
                std::exchange(done, nullptr)->attempt_done(Attempt::failed(ErrorKind::timeout));
            });
        }
        void shutdown() override {}
    };

    void open_session(asio::io_context& io, std::size_t, SessionOpenCallback& done) override {
        asio::post(io, [this, &io, &done] { done.opened(std::make_unique<Session>(*this, io)); });
    }
    std::uint64_t key_space() const override { return 0; }
};

TEST(Stall, ABlockedCancelDelaysNeitherTheWatchdogNorAnySessionsTimeout) {
    Gate server;
    auto w = std::make_shared<FrozenServerWorkload>(server);
    constexpr double kTimeout = 0.3;
    loadbench::Run run({.concurrency = 8, .warmup_seconds = 0, .seconds = 1.6, .op_timeout_seconds = kTimeout, .threads = 2}, w);
    std::vector<Clock::time_point> ticks;
    const auto t0 = Clock::now();
    RunResult r = run.run([&](const Progress&) { ticks.push_back(Clock::now()); });
    const double wall = seconds(Clock::now() - t0);

    ASSERT_TRUE(r.error.empty()) << r.error;
    // Every session timed out every 0.3 s: 5 attempts each end inside the 1.6 s window, and the
    // 6th, begun in it at 1.5 s, in the drain after it (counted: it began in the window).
    EXPECT_EQ(r.counters.errors[static_cast<int>(ErrorKind::timeout)], 8u * 6);
    EXPECT_EQ(r.counters.failed, r.counters.errors[static_cast<int>(ErrorKind::timeout)]);
    {
        std::lock_guard lock(w->m);
        ASSERT_GE(w->attempt_seconds.size(), 8u * 5);
        for (double took : w->attempt_seconds) expect_within_bound(took, kTimeout, "attempt");
    }
    EXPECT_EQ(w->cancels.completed(), 0u);  // the first cancel is still stuck, the others wait behind it
    EXPECT_GE(w->cancels_submitted.load(), 8u * 5);
    // The monitor kept its clock: every second of the window is there, ticks came every 250 ms.
    ASSERT_EQ(r.series.size(), 2u);
    EXPECT_NEAR(r.series[0].t_s, 1.0, 0.05);
    EXPECT_NEAR(r.series[1].t_s, 1.6, 0.05);
    for (std::size_t i = 1; i < ticks.size(); ++i) EXPECT_LT(seconds(ticks[i] - ticks[i - 1]), 0.5) << "tick " << i;
    EXPECT_LT(wall, 1.6 + kTimeout * 1.1 + 0.1 + 0.5);
}

// Blocking sessions (one thread each, as SQLite's) that note how long each hung attempt took.
struct HangUntilInterrupted : Workload {
    std::mutex m;
    std::vector<double> attempt_seconds;
    struct Session : WorkerSession {
        HangUntilInterrupted& w;
        std::mutex m;
        std::condition_variable cv;
        bool interrupted = false;
        explicit Session(HangUntilInterrupted& w) : w(w) {}
        OperationKeys plan(Rng&) override { return {}; }
        Attempt attempt() override {
            const auto began = Clock::now();
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return interrupted; });
            interrupted = false;
            std::lock_guard record(w.m);
            w.attempt_seconds.push_back(seconds(Clock::now() - began));
            return Attempt::failed(ErrorKind::busy, true);
        }
        void interrupt() noexcept override {
            std::lock_guard lock(m);
            interrupted = true;
            cv.notify_all();
        }
    };
    std::unique_ptr<WorkerSession> open_session(std::size_t) override { return std::make_unique<Session>(*this); }
    std::uint64_t key_space() const override { return 0; }
};

TEST(Stall, TheWatchdogWakesAtTheDeadline) {
    auto w = std::make_shared<HangUntilInterrupted>();
    constexpr double kTimeout = 0.25;
    loadbench::Run run({.concurrency = 3, .warmup_seconds = 0, .seconds = 1.2, .op_timeout_seconds = kTimeout}, w);
    run.start();
    ASSERT_TRUE(run.wait_for(30));
    RunResult r = run.take_result();
    // A timed-out attempt is not retried, even when its error is retryable; it counts as a timeout.
    EXPECT_EQ(r.counters.retries, 0u);
    // 4 each end inside the 1.2 s window; the 5th, begun in it at 1.0 s, times out in the drain.
    EXPECT_EQ(r.counters.errors[static_cast<int>(ErrorKind::timeout)], 3u * 5);
    std::lock_guard lock(w->m);
    ASSERT_EQ(w->attempt_seconds.size(), 3u * 5);
    for (double took : w->attempt_seconds) expect_within_bound(took, kTimeout, "attempt");
}

// --- PostgreSQL ---------------------------------------------------------------------------------

std::shared_ptr<Connector> pg_connector(const testing::FakePostgres& server, int inflight) {
    return std::make_shared<PostgresConnector>(
        ConnectorOptions{{"url", server.url()}, {"inflight", std::to_string(inflight)}});
}

TransferParams small_accounts() { return {.accounts = {.accounts = 100, .initial_balance = 1000}}; }

// The server freezes (as under SIGSTOP: connections accepted, nothing answered, cancel requests
// included) 0.3 s into the window and thaws 1.2 s later.
RunResult run_through_a_freeze(testing::FakePostgres& server, RunConfig config, int inflight,
                               std::vector<Clock::time_point>* ticks = nullptr) {
    auto run = make_transfer_run(config, small_accounts(), pg_connector(server, inflight));
    std::thread freezer([&] {
        std::this_thread::sleep_for(300ms);  // (sessions open in a few ms)
        server.freeze();
        std::this_thread::sleep_for(1200ms);
        server.thaw();
    });
    RunResult r = run->run([&](const Progress&) {
        if (ticks) ticks->push_back(Clock::now());
    });
    freezer.join();
    return r;
}

TEST(Stall, PgTimeoutAbandonsTheConnectionWithoutWaitingForTheServerAndReopensWhenItThaws) {
    testing::FakePostgres server;
    constexpr double kTimeout = 0.4;
    std::vector<Clock::time_point> ticks;
    const auto t0 = Clock::now();
    RunResult r = run_through_a_freeze(
        server, {.concurrency = 4, .warmup_seconds = 0, .seconds = 2.5, .op_timeout_seconds = kTimeout, .threads = 2}, 1, &ticks);
    const double wall = seconds(Clock::now() - t0);
    ASSERT_TRUE(r.error.empty()) << r.error;

    const auto timeouts = r.counters.errors[static_cast<int>(ErrorKind::timeout)];
    // Each session: the request the server froze on, then one or two waiting for the reconnect
    // (whose startup the frozen server does not answer either) in 1.2 s.
    EXPECT_GE(timeouts, 4u * 2);
    EXPECT_LE(timeouts, 4u * 3);
    EXPECT_EQ(r.counters.failed, timeouts);
    // The frozen requests' connections were closed by their timeouts, on time.
    const auto unanswered = server.unanswered();
    EXPECT_EQ(unanswered.size(), 4u);
    for (const auto& u : unanswered) expect_within_bound(seconds(u.closed - u.arrived), kTimeout, "abandon");
    // One cancel request per abandoned connection; they waited for the thaw, nobody waited for them.
    EXPECT_EQ(server.cancel_requests(), 4);
    // No connection storm: 4 sessions, 4 cancels, 4 reconnects (each waiting through the freeze).
    EXPECT_EQ(server.connections(), 4 + 4 + 4);
    // Back after the thaw: reconnected (counted) and committing in the last second.
    EXPECT_EQ(r.counters.reconnects, 4u);
    ASSERT_EQ(r.series.size(), 3u);
    EXPECT_GT(r.series[2].committed, 100u);
    for (std::size_t i = 1; i < ticks.size(); ++i) EXPECT_LT(seconds(ticks[i] - ticks[i - 1]), 0.5) << "tick " << i;
    EXPECT_LT(wall, 2.5 + 1.0);
}

TEST(Stall, PgPipelinedSessionsAllTimeOutOnAFrozenServer) {
    testing::FakePostgres server;
    constexpr double kTimeout = 0.4;
    RunResult r = run_through_a_freeze(
        server, {.concurrency = 8, .warmup_seconds = 0, .seconds = 2.5, .op_timeout_seconds = kTimeout, .threads = 1}, 4);
    ASSERT_TRUE(r.error.empty()) << r.error;
    const auto timeouts = r.counters.errors[static_cast<int>(ErrorKind::timeout)];
    const auto connection = r.counters.errors[static_cast<int>(ErrorKind::connection)];
    // Two connections of 4 sessions each froze with 4 requests in flight. On each, the first to
    // time out abandoned the connection; the 3 others failed with it, as timeouts where their own
    // deadline had passed too (requests of a closed loop sent together: all of them, here), as
    // connection errors otherwise. Then the sessions' next requests timed out waiting for the
    // reconnect, one by one.
    const auto unanswered = server.unanswered();
    EXPECT_EQ(unanswered.size(), 8u);
    for (const auto& u : unanswered) EXPECT_LE(seconds(u.closed - u.arrived), kTimeout * 1.1 + 0.1);
    EXPECT_LE(connection, 2u * 3);
    EXPECT_GE(timeouts + connection, 8u * 2);
    EXPECT_EQ(r.counters.failed, timeouts + connection);
    EXPECT_EQ(r.counters.retries, 0u);  // neither kind is retried: they may have committed
    EXPECT_EQ(server.cancel_requests(), 2);
    EXPECT_EQ(r.counters.reconnects, 2u * 4);  // a pipeline group's sessions each count their connection's
    ASSERT_EQ(r.series.size(), 3u);
    EXPECT_GT(r.series[2].committed, 100u);
}

// A request of PgConnection's, as a session's: records its replies.
struct RecordedRequest final : PgRequest {
    std::vector<PgReply> replies;
    RecordedRequest() { statement = "q"; }
    void complete(const PgReply& reply) override { replies.push_back(reply); }
};

TEST(Stall, PgTimeoutOfOnePipelinedRequestAbandonsItsNeighboursAsConnectionErrors) {
    testing::FakePostgres server;
    asio::io_context io;
    PgConnectionSettings settings;
    settings.conninfo = server.url();
    settings.statements = {{"q", "SELECT true"}};
    settings.depth = 3;
    auto conn = std::make_shared<PgConnection>(io, settings);
    std::string open_error = "(pending)";
    conn->open([&](std::string e) { open_error = std::move(e); });
    auto run_until = [&](auto done) {
        const auto t0 = Clock::now();
        while (!done() && Clock::now() - t0 < 5s) io.run_one_for(10ms);
        ASSERT_TRUE(done());
    };
    run_until([&] { return open_error != "(pending)"; });
    ASSERT_EQ(open_error, "");

    RecordedRequest a, b, c;
    server.freeze();
    for (RecordedRequest* r : {&a, &b, &c}) conn->submit(*r);
    run_until([&] { return server.received_executes() == 3; });  // sent, and unanswered
    const auto incarnation = conn->incarnation();
    conn->interrupt(b);  // from another thread, as the watchdog would: only posts
    run_until([&] { return !a.replies.empty() && !b.replies.empty() && !c.replies.empty(); });
    EXPECT_EQ(b.replies[0].error, ErrorKind::timeout);
    EXPECT_NE(b.replies[0].message.find("connection abandoned"), std::string::npos) << b.replies[0].message;
    for (RecordedRequest* r : {&a, &c}) {
        EXPECT_EQ(r->replies[0].error, ErrorKind::connection);
        EXPECT_EQ(r->replies[0].message, "connection abandoned: a request pipelined with this one timed out");
        EXPECT_FALSE(r->replies[0].retryable);
    }
    EXPECT_EQ(conn->incarnation(), incarnation + 1);
    run_until([&] { return server.cancel_requests() == 1 && server.unanswered().size() == 3; });

    // Reconnecting to the frozen server: a request waiting for it times out alone; an interrupt
    // for an attempt that ended before it arrived does nothing.
    RecordedRequest d, e;
    conn->submit(d);
    conn->submit(e);
    conn->interrupt(e);
    e.attempt_ended();  // (the interrupt is still on its way)
    conn->interrupt(d);
    run_until([&] { return !d.replies.empty(); });
    EXPECT_EQ(d.replies[0].error, ErrorKind::timeout);
    EXPECT_NE(d.replies[0].message.find("timed out waiting for the connection"), std::string::npos) << d.replies[0].message;
    EXPECT_TRUE(e.replies.empty());
    // The server thaws: the connection comes back (counted) and e goes through.
    server.thaw();
    run_until([&] { return !e.replies.empty(); });
    EXPECT_TRUE(e.replies[0].ok);
    EXPECT_TRUE(e.replies[0].first_value_true);
    EXPECT_EQ(conn->reconnects(), 1u);
    EXPECT_EQ(server.connections(), 3);  // the first, the cancel, the reconnect
    conn->release();
    io.run_for(100ms);
}

TEST(Stall, PgConnectionThatCannotCompleteStartsOverAfterItsConnectTimeout) {
    testing::FakePostgres server;
    server.freeze();
    asio::io_context io;
    PgConnectionSettings settings;
    settings.conninfo = server.url() + " connect_timeout=2";
    auto conn = std::make_shared<PgConnection>(io, settings);
    std::string error = "(none)";
    const auto t0 = Clock::now();
    conn->open([&](std::string e) { error = std::move(e); });
    io.run_for(5s);
    EXPECT_NEAR(seconds(Clock::now() - t0), 2.0, 0.3);
    EXPECT_NE(error.find("no answer from the server within 2 s"), std::string::npos) << error;
    server.thaw();
}

TEST(Stall, PgHostNamesAreLookedUpOnceBeforeTheLoad) {
    // localhost becomes its addresses (as many host entries), the rest stays as it was.
    const std::string resolved = pg_conninfo_with_addresses("postgresql://u:p%20w@localhost:5433/db?sslmode=disable");
    EXPECT_NE(resolved.find("hostaddr='127.0.0.1"), std::string::npos) << resolved;
    EXPECT_NE(resolved.find("host='localhost"), std::string::npos) << resolved;
    EXPECT_NE(resolved.find("port='5433"), std::string::npos) << resolved;
    EXPECT_NE(resolved.find("password='p w'"), std::string::npos) << resolved;
    EXPECT_NE(resolved.find("sslmode='disable'"), std::string::npos) << resolved;
    for (const char* unchanged : {"host=127.0.0.1 port=5 dbname=d", "host=/var/run/postgresql dbname=d",
                                  "host=db.example hostaddr=10.0.0.1", "dbname=d", "host=no-such-host.invalid"})
        EXPECT_EQ(pg_conninfo_with_addresses(unchanged), unchanged);
    // libpq connects through what it became (the name stays for authentication and TLS).
    testing::FakePostgres server;
    asio::io_context io;
    PgConnectionSettings settings;
    std::string url = server.url();
    url.replace(url.find("127.0.0.1"), 9, "localhost");
    settings.conninfo = pg_conninfo_with_addresses(url);
    ASSERT_NE(settings.conninfo.find("hostaddr="), std::string::npos) << settings.conninfo;
    auto conn = std::make_shared<PgConnection>(io, settings);
    std::string error = "(pending)";
    conn->open([&](std::string e) { error = std::move(e); });
    const auto t0 = Clock::now();
    while (error == "(pending)" && Clock::now() - t0 < 5s) io.run_one_for(10ms);
    EXPECT_EQ(error, "");
    conn->release();
    io.run_for(50ms);
}

TEST(Stall, PgControlPlaneConnectionsGetAConnectTimeoutWhenTheUrlSetsNone) {
    // Without one, libpq's blocking connect to a server whose SYNs go unanswered waits out the
    // kernel's SYN retries (over two minutes).
    const std::string added = pg_conninfo_with_connect_timeout("postgresql://u:p%20w@127.0.0.1:5433/db?sslmode=disable");
    EXPECT_NE(added.find("connect_timeout='10'"), std::string::npos) << added;
    EXPECT_NE(added.find("password='p w'"), std::string::npos) << added;
    EXPECT_NE(added.find("sslmode='disable'"), std::string::npos) << added;
    EXPECT_NE(pg_conninfo_with_connect_timeout("host=127.0.0.1 dbname=d").find("connect_timeout='10'"), std::string::npos);
    for (const char* unchanged : {"postgresql://u@127.0.0.1/db?connect_timeout=3", "host=h connect_timeout=2",
                                  "not a conninfo='"})
        EXPECT_EQ(pg_conninfo_with_connect_timeout(unchanged), unchanged);
}

TEST(Stall, NullConnectorStallEndsAtTheTimeout) {
    auto null = std::make_shared<NullConnector>(
        ConnectorOptions{{"delay_ns", "1000000"}, {"stall_at_ms", "100"}, {"stall_ms", "60000"}});
    constexpr double kTimeout = 0.3;
    const auto t0 = Clock::now();
    auto run = make_transfer_run({.concurrency = 2, .warmup_seconds = 0, .seconds = 1.5, .op_timeout_seconds = kTimeout},
                                 small_accounts(), null);
    RunResult r = run->run();
    EXPECT_LT(seconds(Clock::now() - t0), 1.5 + kTimeout * 1.1 + 0.1 + 0.3);
    // From 0.1 s on, every attempt waits out the stall until its timeout: 4 end in the window
    // each, and the 5th, begun at 1.3 s, in the drain after it.
    EXPECT_EQ(r.counters.errors[static_cast<int>(ErrorKind::timeout)], 2u * 5);
    EXPECT_EQ(r.counters.failed, 2u * 5);
    EXPECT_EQ(r.error_examples[static_cast<int>(ErrorKind::timeout)], "timed out: the null connector's stall");
}

// --- SQLite -------------------------------------------------------------------------------------

class SqliteStall : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("loadbench-stall-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string file() const { return (dir_ / "t.db").string(); }
    std::filesystem::path dir_;
};

TEST_F(SqliteStall, AnInterruptEndsABusyWaitAtOnceAndOnlyThatAttempt) {
    for (const char* mode : {"wal", "default"}) {
        SCOPED_TRACE(mode);
        auto c = std::make_shared<SqliteConnector>(
            ConnectorOptions{{"file", file()}, {"mode", mode}, {"busy_timeout_ms", "5000"}});
        c->prep_accounts({.accounts = 10, .initial_balance = 100});
        auto session = c->open_transfer_session();
        auto holder = std::make_unique<SQLite::Database>(file(), SQLite::OPEN_READWRITE);
        holder->exec("BEGIN EXCLUSIVE");
        Attempt attempt;
        Clock::time_point returned;
        std::thread worker([&] {
            attempt = session->transfer({1, 2, 5});
            returned = Clock::now();
        });
        std::this_thread::sleep_for(300ms);
        const auto interrupted = Clock::now();
        session->interrupt();
        worker.join();
        EXPECT_LT(seconds(returned - interrupted), 0.05);  // not the 5 s busy timeout
        EXPECT_EQ(attempt.outcome, Outcome::failed);
        EXPECT_EQ(attempt.error, ErrorKind::busy);
        EXPECT_NE(session->last_error().find("timed out waiting for a lock"), std::string::npos) << session->last_error();
        holder->exec("ROLLBACK");
        holder.reset();
        // The interrupt was that attempt's: the next one commits.
        EXPECT_EQ(session->transfer({1, 2, 5}).outcome, Outcome::committed);
    }
}

TEST_F(SqliteStall, EveryLockedSessionTimesOutWithinTheBound) {
    auto c = std::make_shared<SqliteConnector>(ConnectorOptions{{"file", file()}, {"mode", "wal"}});
    c->prep_accounts({.accounts = 100, .initial_balance = 1000});
    SQLite::Database holder(file(), SQLite::OPEN_READWRITE);
    holder.exec("BEGIN EXCLUSIVE");
    constexpr double kTimeout = 0.3;
    // Two operations per session, each stuck on the lock: the window closes with the last of them.
    auto run = make_transfer_run({.concurrency = 3, .warmup_seconds = 0, .seconds = 30, .op_timeout_seconds = kTimeout, .operations = 6},
                                 small_accounts(), c);
    RunResult r = run->run();
    holder.exec("ROLLBACK");
    EXPECT_EQ(r.counters.errors[static_cast<int>(ErrorKind::timeout)], 6u);
    EXPECT_EQ(r.counters.retries, 0u);
    EXPECT_GE(r.measured_seconds, 2 * kTimeout);
    EXPECT_LE(r.measured_seconds, 2 * (kTimeout * 1.1 + 0.1));
    EXPECT_NE(r.error_examples[static_cast<int>(ErrorKind::timeout)].find("timed out waiting for a lock"),
              std::string::npos);
}

}  // namespace
}  // namespace loadbench
