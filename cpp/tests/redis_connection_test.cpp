// RedisConnection against a real redis-server the test process starts (test_servers.hpp):
// commands and pipelining (16 in flight, answered in order), EVALSHA with its reload after SCRIPT
// FLUSH, a WATCH conflict reported as retryable, a refused password as the user's configuration, a
// server killed and restarted under a stream of requests, and an interrupt that returns at once
// while the server is stopped. Skipped, with the reason, where Redis is not installed.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "connectors/connector.hpp"
#include "connectors/redis_connection.hpp"
#include "test_servers.hpp"

namespace loadbench {
namespace {

using namespace std::chrono_literals;
using testing::EventLoop;
using testing::RedisTestServer;
using testing::Replies;

// --- without a server --------------------------------------------------------------------------

TEST(RedisUrl, ParsesPasswordHostPortAndDatabase) {
    const RedisEndpoint e = parse_redis_url("redis://:p%40ss@127.0.0.1:6380/2");
    EXPECT_EQ(e.user, "");
    EXPECT_EQ(e.password, "p@ss");
    EXPECT_EQ(e.host, "127.0.0.1");
    EXPECT_EQ(e.port, 6380u);
    EXPECT_EQ(e.database, 2);
    const RedisEndpoint acl = parse_redis_url("redis://bench:secret@localhost");
    EXPECT_EQ(acl.user, "bench");
    EXPECT_EQ(acl.password, "secret");
    EXPECT_EQ(acl.port, 6379u);
    EXPECT_EQ(acl.database, 0);
}

TEST(RedisUrl, MalformedUrlsAreConfigurationErrorsThatNeverShowThePassword) {
    for (const char* url : {"http://h", "rediss://:secret@h", "redis://:secret@h:0", "redis://:secret@h/x",
                            "redis://:secret@h?timeout=1", "redis://:secret@", "redis://secret@h"}) {
        try {
            parse_redis_url(url);
            ADD_FAILURE() << url << " was accepted";
        } catch (const ConnectorConfigError& e) {
            EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
        }
    }
}

TEST(RedisErrors, ClassifiesErrorReplies) {
    RedisReply r;
    classify_redis_error("WRONGPASS invalid username-password pair", r);
    EXPECT_TRUE(r.configuration);
    classify_redis_error("NOAUTH Authentication required.", r);
    EXPECT_TRUE(r.configuration);
    classify_redis_error("BUSY Redis is busy running a script.", r);
    EXPECT_EQ(r.error, ErrorKind::busy);
    EXPECT_TRUE(r.retryable);
    classify_redis_error("LOADING Redis is loading the dataset in memory", r);
    EXPECT_TRUE(r.retryable);
    classify_redis_error("ERR wrong number of arguments", r);
    EXPECT_EQ(r.error, ErrorKind::other);
    EXPECT_FALSE(r.retryable);
    EXPECT_FALSE(r.configuration);
}

// --- against the server ------------------------------------------------------------------------

struct Call final : RedisRequest {
    Replies<RedisReply> replies;
    std::function<void(const RedisReply&)> on_complete;
    void complete(const RedisReply& reply) override {
        if (on_complete) on_complete(reply);
        RedisReply copy = reply;
        copy.raw = nullptr;
        replies.add(copy);
    }
};

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return condition();
}

const char* const kIncrBy = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

class Redis : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = &RedisTestServer::shared();
        if (!server_->available()) GTEST_SKIP() << server_->unavailable_reason();
        if (!server_->running()) ASSERT_TRUE(server_->start());
        server_->cli({"FLUSHALL"});
    }

    void TearDown() override {
        loop_.run([&] {
            for (auto& c : connections_) c->release();
            connections_.clear();
        });
        if (server_ && server_->available()) {
            server_->signal(SIGCONT);
            if (!server_->running()) server_->start();
        }
    }

    RedisSettings settings(std::size_t depth = 1, std::vector<std::string> scripts = {}) {
        RedisSettings s;
        s.endpoint.port = server_->port();
        s.depth = depth;
        s.scripts = std::move(scripts);
        return s;
    }

    RedisReply open(std::shared_ptr<RedisConnection>& conn, RedisSettings s) {
        Replies<RedisReply> opened;
        loop_.run([&] {
            conn = std::make_shared<RedisConnection>(loop_.io(), std::move(s));
            connections_.push_back(conn);
            conn->open([&opened](const RedisReply& r) { opened.add(r); });
        });
        auto r = opened.next();
        EXPECT_TRUE(r.has_value()) << "open never answered";
        return r.value_or(RedisReply{});
    }

    std::shared_ptr<RedisConnection> connect(RedisSettings s) {
        std::shared_ptr<RedisConnection> conn;
        const RedisReply r = open(conn, std::move(s));
        EXPECT_TRUE(r.ok) << r.message;
        return conn;
    }

    RedisReply run(const std::shared_ptr<RedisConnection>& conn, Call& call) {
        loop_.post([conn, &call] { conn->submit(call); });
        auto r = call.replies.next();
        EXPECT_TRUE(r.has_value()) << "no reply";
        return r.value_or(RedisReply{});
    }

    RedisReply command(const std::shared_ptr<RedisConnection>& conn, std::initializer_list<RedisArg> args) {
        Call call;
        call.command(args);
        return run(conn, call);
    }

    RedisTestServer* server_ = nullptr;
    EventLoop loop_;
    std::vector<std::shared_ptr<RedisConnection>> connections_;
};

TEST_F(Redis, RunsCommandsAndReadsTheirReplies) {
    auto conn = connect(settings());
    EXPECT_TRUE(command(conn, {"SET", "balance:1", 100}).ok);
    const RedisReply incr = command(conn, {"INCRBY", "balance:1", -30});
    ASSERT_TRUE(incr.ok) << incr.message;
    EXPECT_EQ(incr.type, REDIS_REPLY_INTEGER);
    EXPECT_EQ(incr.integer, 70);
    const RedisReply wrong = command(conn, {"INCR", "balance:1", "extra"});
    EXPECT_FALSE(wrong.ok);
    EXPECT_EQ(wrong.error, ErrorKind::other);
    EXPECT_NE(wrong.message.find("wrong number of arguments"), std::string::npos) << wrong.message;
    EXPECT_EQ(server_->cli({"GET", "balance:1"}), "70");
}

TEST_F(Redis, NamesItselfLoadbenchSoTheTerminateFaultFindsIt) {
    auto conn = connect(settings());
    ASSERT_TRUE(command(conn, {"PING"}).ok);
    // CLIENT LIST (through redis-cli, not this connection): ours is the one named loadbench.
    const std::string clients = server_->cli({"CLIENT", "LIST", "TYPE", "normal"});
    EXPECT_NE(clients.find(" name=loadbench "), std::string::npos) << clients;
}

TEST_F(Redis, AnIdleConnectionLeavesItsEventLoopWithoutWork) {
    // The engine runs each thread's io_context until its sessions have opened (run() returning
    // when nothing is pending): a connection must not keep a wait while no reply is due.
    asio::io_context io;
    auto conn = std::make_shared<RedisConnection>(io, settings(1, {kIncrBy}));
    bool opened = false;
    conn->open([&](const RedisReply& r) { opened = r.ok; });
    const auto t0 = std::chrono::steady_clock::now();
    io.run_for(10s);
    EXPECT_TRUE(opened);
    EXPECT_TRUE(io.stopped()) << "the open completed, yet the io_context still has work";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    Call call;  // and it still answers after that
    call.command({"PING"});
    conn->submit(call);
    io.restart();
    io.run_for(10s);
    const auto r = call.replies.next(0s);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->ok) << r->message;
    conn->release();
    io.restart();
    io.poll();
}

TEST_F(Redis, PipelinesSixteenRequestsAndAnswersThemInOrder) {
    auto conn = connect(settings(16));
    std::vector<std::unique_ptr<Call>> calls;
    std::vector<int> order;
    std::atomic<std::size_t> in_flight_at_first{0};
    for (int i = 0; i < 16; ++i) {
        auto& c = *calls.emplace_back(std::make_unique<Call>());
        c.command({"INCR", "counter"});
        c.on_complete = [&, i](const RedisReply&) {  // on the loop's thread
            if (order.empty()) in_flight_at_first = conn->in_flight();
            order.push_back(i);
        };
    }
    loop_.post([&] {
        for (auto& c : calls) conn->submit(*c);
    });
    for (int i = 0; i < 16; ++i) {
        const auto r = calls[i]->replies.next();
        ASSERT_TRUE(r && r->ok);
        EXPECT_EQ(r->integer, i + 1);  // the server ran them in the order they were submitted
    }
    loop_.run([] {});
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
    // All 16 were on the wire before the first reply came back: 15 others were still in flight.
    EXPECT_EQ(in_flight_at_first.load(), 15u);
}

TEST_F(Redis, PipelineDepthBoundsWhatIsInFlight) {
    auto conn = connect(settings(4));
    std::vector<std::unique_ptr<Call>> calls;
    std::size_t most = 0;
    for (int i = 0; i < 32; ++i) {
        auto& c = *calls.emplace_back(std::make_unique<Call>());
        c.command({"INCR", "counter"});
        c.on_complete = [&](const RedisReply&) { most = std::max(most, conn->in_flight() + 1); };
    }
    loop_.post([&] {
        for (auto& c : calls) conn->submit(*c);
    });
    for (auto& c : calls) ASSERT_TRUE(c->replies.next());
    loop_.run([] {});
    EXPECT_EQ(most, 4u);
    EXPECT_EQ(server_->cli({"GET", "counter"}), "32");
}

TEST_F(Redis, EvalshaRunsTheScriptAndReloadsItAfterScriptFlush) {
    auto conn = connect(settings(1, {kIncrBy}));
    EXPECT_EQ(server_->cli({"SCRIPT", "LOAD", kIncrBy}), conn->script_sha(0));  // our SHA1 is Redis's
    Call call;
    call.script(0, {"balance:1"}, {5});
    const RedisReply first = run(conn, call);
    ASSERT_TRUE(first.ok) << first.message;
    EXPECT_EQ(first.integer, 5);
    server_->cli({"SCRIPT", "FLUSH"});
    const RedisReply second = run(conn, call);
    ASSERT_TRUE(second.ok) << second.message;
    EXPECT_EQ(second.integer, 10);
    std::uint64_t reloads = 0;
    loop_.run([&] { reloads = conn->script_reloads(); });
    EXPECT_EQ(reloads, 1u);
}

TEST_F(Redis, WatchConflictIsARetryableSerializationFailure) {
    auto conn = connect(settings());
    server_->cli({"SET", "balance:1", "100"});
    auto transaction = [&](bool interfere) {
        EXPECT_TRUE(command(conn, {"WATCH", "balance:1"}).ok);
        EXPECT_TRUE(command(conn, {"GET", "balance:1"}).ok);
        if (interfere) server_->cli({"INCRBY", "balance:1", "1"});  // another client writes the watched key
        EXPECT_TRUE(command(conn, {"MULTI"}).ok);
        EXPECT_TRUE(command(conn, {"DECRBY", "balance:1", 10}).ok);  // QUEUED
        Call exec;
        exec.command({"EXEC"});
        exec.nil_is_conflict = true;
        return run(conn, exec);
    };
    const RedisReply conflict = transaction(true);
    EXPECT_FALSE(conflict.ok);
    EXPECT_EQ(conflict.error, ErrorKind::serialization);
    EXPECT_TRUE(conflict.retryable);
    EXPECT_EQ(server_->cli({"GET", "balance:1"}), "101");  // the transaction did not run
    const RedisReply committed = transaction(false);
    ASSERT_TRUE(committed.ok) << committed.message;
    EXPECT_EQ(committed.type, REDIS_REPLY_ARRAY);
    EXPECT_EQ(committed.elements, 1u);
    EXPECT_EQ(server_->cli({"GET", "balance:1"}), "91");
}

TEST_F(Redis, WrongPasswordIsAConfigurationErrorThatNeverShowsThePassword) {
    RedisTestServer guarded("right-password");
    ASSERT_TRUE(guarded.available());
    RedisSettings s = settings();
    s.endpoint.port = guarded.port();
    s.endpoint.password = "wrong-password";
    std::shared_ptr<RedisConnection> conn;
    const RedisReply wrong = open(conn, s);
    EXPECT_FALSE(wrong.ok);
    EXPECT_TRUE(wrong.configuration);
    EXPECT_EQ(wrong.message.find("wrong-password"), std::string::npos) << wrong.message;
    s.endpoint.password.clear();  // none at all: the server says NOAUTH
    const RedisReply none = open(conn, s);
    EXPECT_FALSE(none.ok);
    EXPECT_TRUE(none.configuration) << none.message;
    s.endpoint.password = "right-password";
    const RedisReply right = open(conn, s);
    EXPECT_TRUE(right.ok) << right.message;
}

TEST_F(Redis, RefusedConnectionIsAConnectionError) {
    RedisSettings s = settings();
    s.endpoint.port = testing::free_port();
    std::shared_ptr<RedisConnection> conn;
    const RedisReply r = open(conn, s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, ErrorKind::connection);
    EXPECT_FALSE(r.configuration);
    EXPECT_NE(r.message.find("Connection refused"), std::string::npos) << r.message;
    Call call;  // a connection that never opened answers at once, and is not retried
    call.command({"PING"});
    loop_.post([&] { conn->submit(call); });
    const auto late = call.replies.next(1s);
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->error, ErrorKind::connection);
}

// Four streams on one pipelined connection, each resubmitting when it completes.
struct Stream final : RedisRequest {
    std::shared_ptr<RedisConnection> conn;
    std::atomic<int>* ok = nullptr;
    std::atomic<int>* connection_errors = nullptr;
    std::atomic<int>* other_errors = nullptr;
    std::atomic<bool>* stop = nullptr;
    Replies<int> finished;
    void complete(const RedisReply& reply) override {
        if (reply.ok) ++*ok;
        else if (reply.error == ErrorKind::connection) ++*connection_errors;
        else ++*other_errors;
        if (*stop) return finished.add(0);
        conn->submit(*this);
    }
};

TEST_F(Redis, ServerKilledMidStreamFailsRequestsAsConnectionErrorsAndReconnects) {
    auto conn = connect(settings(4, {kIncrBy}));
    std::atomic<int> ok{0}, connection_errors{0}, other_errors{0};
    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<Stream>> streams;
    for (int i = 0; i < 4; ++i) {
        auto& s = *streams.emplace_back(std::make_unique<Stream>());
        s.conn = conn;
        s.ok = &ok;
        s.connection_errors = &connection_errors;
        s.other_errors = &other_errors;
        s.stop = &stop;
        s.script(0, {"counter"}, {1});
    }
    loop_.post([&] {
        for (auto& s : streams) conn->submit(*s);
    });
    ASSERT_TRUE(eventually([&] { return ok > 200; }));
    server_->kill();
    ASSERT_TRUE(eventually([&] { return connection_errors > 0; })) << "no request failed after the kill";
    const int ok_while_down = ok;
    ASSERT_TRUE(server_->start());  // a new server: the script is loaded again on the new connection
    ASSERT_TRUE(eventually([&] { return ok > ok_while_down + 200; })) << conn->last_error();
    stop = true;
    for (auto& s : streams) ASSERT_TRUE(s->finished.next());
    EXPECT_EQ(other_errors, 0);
    EXPECT_GE(connection_errors, 1);
    EXPECT_LE(connection_errors, 4);  // only those in flight when it died
    std::uint64_t reconnects = 0, reloads = 0;
    loop_.run([&] {
        reconnects = conn->reconnects();
        reloads = conn->script_reloads();
    });
    EXPECT_EQ(reconnects, 1u);
    EXPECT_EQ(reloads, 0u);  // loaded during the reconnect's setup, never missing
}

TEST_F(Redis, InterruptNeverBlocksAndTheAttemptEndsAsATimeoutWhileTheServerIsStopped) {
    auto conn = connect(settings(2));
    ASSERT_TRUE(command(conn, {"PING"}).ok);
    server_->signal(SIGSTOP);
    Call stuck, other;
    stuck.command({"INCR", "counter"});
    other.command({"INCR", "counter"});
    loop_.post([&] {
        conn->submit(stuck);
        conn->submit(other);
    });
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(stuck.replies.count(), 0u);
    const auto t0 = std::chrono::steady_clock::now();
    conn->interrupt(&stuck);  // from this thread, as the engine's watchdog calls it
    const auto returned = std::chrono::steady_clock::now() - t0;
    const auto reply = stuck.replies.next(1s);
    const auto completed = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(returned, 5ms);
    ASSERT_TRUE(reply.has_value());
    EXPECT_LT(completed, 100ms);
    EXPECT_EQ(reply->error, ErrorKind::timeout);
    // The other request on the abandoned connection did not time out: it lost its connection.
    const auto second = other.replies.next(1s);
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(second->error, ErrorKind::connection);
    server_->signal(SIGCONT);
    const RedisReply after = command(conn, {"PING"});
    EXPECT_TRUE(after.ok) << after.message;
    std::uint64_t reconnects = 0;
    loop_.run([&] { reconnects = conn->reconnects(); });
    EXPECT_EQ(reconnects, 1u);
}

}  // namespace
}  // namespace loadbench
