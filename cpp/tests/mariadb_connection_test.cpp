// MariaDbConnection against a real MariaDB the test process starts (test_servers.hpp): prepared
// statements with bound parameters, a CALL's result, errors classified as the server raises them
// (duplicate key, deadlock, lock wait timeout, access denied), a server killed and restarted under
// a stream of requests, and an interrupt that returns at once while the server is stopped.
// Skipped, with the reason, where MariaDB is not installed.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "connectors/connector.hpp"
#include "connectors/mariadb_connection.hpp"
#include "test_servers.hpp"

namespace loadbench {
namespace {

using namespace std::chrono_literals;
using testing::EventLoop;
using testing::MariaDbTestServer;
using testing::Replies;

// --- without a server --------------------------------------------------------------------------

TEST(MariaDbUrl, ParsesUserPasswordHostPortAndDatabase) {
    const MariaDbEndpoint e = parse_mariadb_url("mysql://bench:p%40ss%3Aword@127.0.0.1:3307/accounts");
    EXPECT_EQ(e.user, "bench");
    EXPECT_EQ(e.password, "p@ss:word");
    EXPECT_EQ(e.host, "127.0.0.1");
    EXPECT_EQ(e.port, 3307u);
    EXPECT_EQ(e.database, "accounts");
    const MariaDbEndpoint d = parse_mariadb_url("mariadb://[::1]");
    EXPECT_EQ(d.host, "::1");
    EXPECT_EQ(d.port, 3306u);
    EXPECT_EQ(d.user, "root");
    EXPECT_EQ(d.database, "");
}

TEST(MariaDbUrl, MalformedUrlsAreConfigurationErrorsThatNeverShowThePassword) {
    for (const char* url : {"postgres://h/db", "mysql://u:secret@:3306/db", "mysql://u:secret@h:99999/db",
                            "mysql://u:secret@h/db?ssl=1", "mysql://u:se%zzcret@h/db", "mysql://:secret@h/db"}) {
        try {
            parse_mariadb_url(url);
            ADD_FAILURE() << url << " was accepted";
        } catch (const ConnectorConfigError& e) {
            EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
        }
    }
}

MariaDbReply classified(unsigned code) {
    MariaDbReply r;
    classify_mariadb_error(code, r);
    return r;
}

TEST(MariaDbErrors, DeadlocksAndLockWaitTimeoutsAreRetryable) {
    EXPECT_EQ(classified(1213).error, ErrorKind::deadlock);
    EXPECT_TRUE(classified(1213).retryable);
    EXPECT_EQ(classified(1205).error, ErrorKind::busy);
    EXPECT_TRUE(classified(1205).retryable);
}

TEST(MariaDbErrors, OtherKindsAreNotRetried) {
    EXPECT_EQ(classified(1062).error, ErrorKind::constraint);
    EXPECT_EQ(classified(1452).error, ErrorKind::constraint);
    EXPECT_EQ(classified(2006).error, ErrorKind::connection);
    EXPECT_EQ(classified(2013).error, ErrorKind::connection);
    EXPECT_EQ(classified(1927).error, ErrorKind::connection);  // the connection was killed
    EXPECT_EQ(classified(1317).error, ErrorKind::timeout);     // KILL QUERY
    EXPECT_EQ(classified(1064).error, ErrorKind::other);       // syntax
    for (unsigned code : {1062u, 1452u, 2006u, 2013u, 1927u, 1317u, 1064u, 1045u})
        EXPECT_FALSE(classified(code).retryable) << code;
}

TEST(MariaDbErrors, AccessDeniedIsTheUsersConfiguration) {
    for (unsigned code : {1044u, 1045u, 1049u, 1698u}) EXPECT_TRUE(classified(code).configuration) << code;
    for (unsigned code : {1062u, 1213u, 2013u}) EXPECT_FALSE(classified(code).configuration) << code;
}

// --- against the server ------------------------------------------------------------------------

// A request whose replies the test thread waits for.
struct Call final : MariaDbRequest {
    Replies<MariaDbReply> replies;
    void complete(const MariaDbReply& reply) override { replies.add(reply); }
};

class MariaDb : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = &MariaDbTestServer::shared();
        if (!server_->available()) GTEST_SKIP() << server_->unavailable_reason();
        if (!server_->running()) ASSERT_TRUE(server_->start());
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

    MariaDbSettings settings(std::vector<std::string> statements = {}, std::vector<std::string> setup = {}) {
        MariaDbSettings s;
        s.endpoint.port = server_->port();
        s.endpoint.user = MariaDbTestServer::kUser;
        s.endpoint.password = MariaDbTestServer::kPassword;
        s.endpoint.database = "bench";
        s.statements = std::move(statements);
        s.setup = std::move(setup);
        return s;
    }

    // Opens a connection on the loop; its open reply.
    MariaDbReply open(std::shared_ptr<MariaDbConnection>& conn, MariaDbSettings s) {
        Replies<MariaDbReply> opened;
        loop_.run([&] {
            conn = std::make_shared<MariaDbConnection>(loop_.io(), std::move(s));
            connections_.push_back(conn);
            conn->open([&opened](const MariaDbReply& r) { opened.add(r); });
        });
        auto r = opened.next();
        EXPECT_TRUE(r.has_value()) << "open never answered";
        return r.value_or(MariaDbReply{});
    }

    std::shared_ptr<MariaDbConnection> connect(MariaDbSettings s) {
        std::shared_ptr<MariaDbConnection> conn;
        const MariaDbReply r = open(conn, std::move(s));
        EXPECT_TRUE(r.ok) << r.message;
        return conn;
    }

    void submit(const std::shared_ptr<MariaDbConnection>& conn, Call& call) {
        loop_.post([conn, &call] { conn->submit(call); });
    }

    MariaDbReply query(const std::shared_ptr<MariaDbConnection>& conn, const char* sql) {
        Call call;
        call.sql = sql;
        submit(conn, call);
        auto r = call.replies.next();
        EXPECT_TRUE(r.has_value()) << sql << " never answered";
        return r.value_or(MariaDbReply{});
    }

    MariaDbReply execute(const std::shared_ptr<MariaDbConnection>& conn, Call& call, std::size_t statement,
                         std::initializer_list<long long> params) {
        call.statement = statement;
        call.sql = nullptr;
        call.set_params(params);
        submit(conn, call);
        auto r = call.replies.next();
        EXPECT_TRUE(r.has_value()) << "statement " << statement << " never answered";
        return r.value_or(MariaDbReply{});
    }

    void accounts(int n, long long balance) {
        server_->sql("DROP TABLE IF EXISTS bench.accounts; CREATE TABLE bench.accounts (id BIGINT PRIMARY KEY, balance "
                     "BIGINT NOT NULL) ENGINE=InnoDB; INSERT INTO bench.accounts SELECT seq, " +
                     std::to_string(balance) + " FROM bench.seq_1_to_" + std::to_string(n));
    }

    MariaDbTestServer* server_ = nullptr;
    EventLoop loop_;
    std::vector<std::shared_ptr<MariaDbConnection>> connections_;
};

TEST_F(MariaDb, ExecutesPreparedStatementsWithBoundParameters) {
    accounts(3, 100);
    auto conn = connect(settings({"UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?",
                                  "SELECT balance, id, NULL FROM accounts WHERE id = ?",
                                  "INSERT INTO accounts (id, balance) VALUES (?, ?)"}));
    Call call;
    const MariaDbReply debit = execute(conn, call, 0, {30, 1, 30});
    ASSERT_TRUE(debit.ok) << debit.message;
    EXPECT_EQ(debit.rows_affected, 1);
    const MariaDbReply refused = execute(conn, call, 0, {500, 2, 500});  // not enough money: no row matches
    ASSERT_TRUE(refused.ok) << refused.message;
    EXPECT_EQ(refused.rows_affected, 0);
    const MariaDbReply read = execute(conn, call, 1, {1});
    ASSERT_TRUE(read.ok) << read.message;
    EXPECT_EQ(read.rows, 1);
    EXPECT_EQ(read.first_row[0], 70);
    EXPECT_EQ(read.first_row[1], 1);
    EXPECT_FALSE(read.first_row[2].has_value());  // NULL
    // SqlValues, text included, through the same statement.
    const std::string id = "4", balance = "40";
    const SqlValue values[] = {SqlValue::of_text(id), SqlValue::of_text(balance)};
    call.statement = 2;
    call.set_values(values);
    submit(conn, call);
    const auto inserted = call.replies.next();
    ASSERT_TRUE(inserted && inserted->ok) << (inserted ? inserted->message : "no reply");
    EXPECT_EQ(server_->sql("SELECT id, balance FROM bench.accounts ORDER BY id"), "1\t70\n2\t100\n3\t100\n4\t40");
}

TEST_F(MariaDb, ReadsTheResultOfAStoredProcedure) {
    accounts(2, 100);
    // Through a connection of ours: the client would split the body at its semicolons.
    auto admin = connect(settings());
    ASSERT_TRUE(query(admin, "DROP PROCEDURE IF EXISTS transfer").ok);
    const MariaDbReply created = query(
        admin,
        "CREATE PROCEDURE transfer(a BIGINT, b BIGINT, amount BIGINT) BEGIN DECLARE moved INT; START TRANSACTION; "
        "UPDATE accounts SET balance = balance - amount WHERE id = a AND balance >= amount; SET moved = ROW_COUNT(); "
        "IF moved = 1 THEN UPDATE accounts SET balance = balance + amount WHERE id = b; END IF; COMMIT; SELECT moved; END");
    ASSERT_TRUE(created.ok) << created.message;
    auto conn = connect(settings({"CALL transfer(?, ?, ?)"}));
    Call call;
    const MariaDbReply moved = execute(conn, call, 0, {1, 2, 60});
    ASSERT_TRUE(moved.ok) << moved.message;
    EXPECT_EQ(moved.first_row[0], 1);
    const MariaDbReply refused = execute(conn, call, 0, {1, 2, 60});
    ASSERT_TRUE(refused.ok) << refused.message;
    EXPECT_EQ(refused.first_row[0], 0);
    EXPECT_EQ(server_->sql("SELECT GROUP_CONCAT(balance ORDER BY id), SUM(balance) FROM bench.accounts"), "40,160\t200");
}

TEST_F(MariaDb, DuplicateKeyIsAConstraintErrorAndTheConnectionGoesOn) {
    accounts(1, 100);
    auto conn = connect(settings({"INSERT INTO accounts (id, balance) VALUES (?, ?)"}));
    Call call;
    const MariaDbReply duplicate = execute(conn, call, 0, {1, 5});
    EXPECT_FALSE(duplicate.ok);
    EXPECT_EQ(duplicate.server_error, 1062u);
    EXPECT_EQ(duplicate.error, ErrorKind::constraint);
    EXPECT_FALSE(duplicate.retryable);
    EXPECT_NE(duplicate.message.find("Duplicate entry"), std::string::npos) << duplicate.message;
    const MariaDbReply next = execute(conn, call, 0, {2, 5});
    EXPECT_TRUE(next.ok) << next.message;
    EXPECT_EQ(conn->reconnects(), 0u);
}

TEST_F(MariaDb, DeadlockBetweenTwoConnectionsIsRetryable) {
    accounts(2, 100);
    auto a = connect(settings()), b = connect(settings());
    ASSERT_TRUE(query(a, "BEGIN").ok);
    ASSERT_TRUE(query(b, "BEGIN").ok);
    ASSERT_TRUE(query(a, "UPDATE accounts SET balance = balance + 1 WHERE id = 1").ok);
    ASSERT_TRUE(query(b, "UPDATE accounts SET balance = balance + 1 WHERE id = 2").ok);
    Call a_second, b_second;
    a_second.sql = "UPDATE accounts SET balance = balance + 1 WHERE id = 2";  // waits for b
    submit(a, a_second);
    std::this_thread::sleep_for(100ms);  // a is queued on b's lock before b asks for a's
    b_second.sql = "UPDATE accounts SET balance = balance + 1 WHERE id = 1";
    submit(b, b_second);
    const auto ra = a_second.replies.next(), rb = b_second.replies.next();
    ASSERT_TRUE(ra && rb);
    // InnoDB rolls back one of the two (its choice), and the other's update goes through.
    ASSERT_NE(ra->ok, rb->ok) << ra->message << " / " << rb->message;
    const MariaDbReply& victim = ra->ok ? *rb : *ra;
    EXPECT_EQ(victim.server_error, 1213u);
    EXPECT_EQ(victim.error, ErrorKind::deadlock);
    EXPECT_TRUE(victim.retryable);
    EXPECT_TRUE(query(a, "ROLLBACK").ok);
    EXPECT_TRUE(query(b, "ROLLBACK").ok);
}

TEST_F(MariaDb, LockWaitTimeoutIsRetryableBusy) {
    accounts(1, 100);
    auto holder = connect(settings());
    auto waiter = connect(settings({"UPDATE accounts SET balance = balance - ? WHERE id = ?"},
                                   {"SET SESSION innodb_lock_wait_timeout = 1"}));
    ASSERT_TRUE(query(holder, "BEGIN").ok);
    ASSERT_TRUE(query(holder, "UPDATE accounts SET balance = 0 WHERE id = 1").ok);
    Call call;
    const auto started = std::chrono::steady_clock::now();
    const MariaDbReply blocked = execute(waiter, call, 0, {1, 1});
    EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
    EXPECT_FALSE(blocked.ok);
    EXPECT_EQ(blocked.server_error, 1205u);
    EXPECT_EQ(blocked.error, ErrorKind::busy);
    EXPECT_TRUE(blocked.retryable);
    EXPECT_TRUE(query(holder, "ROLLBACK").ok);
    EXPECT_TRUE(execute(waiter, call, 0, {1, 1}).ok);
}

TEST_F(MariaDb, WrongPasswordIsAConfigurationErrorThatNeverShowsThePassword) {
    MariaDbSettings s = settings();
    s.endpoint.password = "not-the-password";
    std::shared_ptr<MariaDbConnection> conn;
    const MariaDbReply r = open(conn, s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.server_error, 1045u);
    EXPECT_TRUE(r.configuration);
    EXPECT_FALSE(r.retryable);
    EXPECT_EQ(r.message.find("not-the-password"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("Access denied"), std::string::npos) << r.message;
}

TEST_F(MariaDb, RefusedConnectionIsAConnectionErrorNamedAsSuch) {
    MariaDbSettings s = settings();
    s.endpoint.port = testing::free_port();  // nothing listens there
    std::shared_ptr<MariaDbConnection> conn;
    const MariaDbReply r = open(conn, s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, ErrorKind::connection);
    EXPECT_FALSE(r.configuration);
    EXPECT_NE(r.message.find("Connection refused"), std::string::npos) << r.message;
    Call call;  // a connection that never opened answers at once, and is not retried
    call.sql = "SELECT 1";
    submit(conn, call);
    const auto late = call.replies.next(1s);
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->error, ErrorKind::connection);
}

// A stream of requests, each submitted when the previous completes, counting how they end.
struct Stream final : MariaDbRequest {
    std::shared_ptr<MariaDbConnection> conn;
    std::atomic<int> ok{0}, connection_errors{0}, other_errors{0};
    std::atomic<bool> stop{false};
    Replies<int> finished;
    void complete(const MariaDbReply& reply) override {
        if (reply.ok) ++ok;
        else if (reply.error == ErrorKind::connection) ++connection_errors;
        else ++other_errors;
        if (stop) return finished.add(0);
        conn->submit(*this);
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

TEST_F(MariaDb, ServerKilledMidStreamFailsRequestsAsConnectionErrorsAndReconnects) {
    accounts(1, 100);
    Stream stream;
    stream.conn = connect(settings({"UPDATE accounts SET balance = balance + ? WHERE id = ?"}));
    stream.statement = 0;
    stream.set_params({1, 1});
    loop_.post([&] { stream.conn->submit(stream); });
    ASSERT_TRUE(eventually([&] { return stream.ok > 50; }));
    server_->kill();
    ASSERT_TRUE(eventually([&] { return stream.connection_errors > 0; })) << "no request failed after the kill";
    const int ok_while_down = stream.ok;
    ASSERT_TRUE(server_->start());
    ASSERT_TRUE(eventually([&] { return stream.ok > ok_while_down + 50; })) << stream.conn->last_error();
    stream.stop = true;
    ASSERT_TRUE(stream.finished.next());
    EXPECT_EQ(stream.other_errors, 0);
    // Requests submitted while it reconnected waited for it: the one in flight failed, no more.
    EXPECT_EQ(stream.connection_errors, 1);
    std::uint64_t reconnects = 0;
    loop_.run([&] { reconnects = stream.conn->reconnects(); });
    EXPECT_EQ(reconnects, 1u);
}

TEST_F(MariaDb, InterruptNeverBlocksAndTheAttemptEndsAsATimeoutWhileTheServerIsStopped) {
    auto conn = connect(settings({"SELECT ?"}));
    Call call;
    ASSERT_TRUE(execute(conn, call, 0, {7}).ok);
    server_->signal(SIGSTOP);
    call.set_params({8});
    submit(conn, call);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(call.replies.count(), 1u);  // the first reply only: this one hangs
    const auto t0 = std::chrono::steady_clock::now();
    conn->interrupt(&call);  // from this thread, as the engine's watchdog calls it
    const auto returned = std::chrono::steady_clock::now() - t0;
    const auto reply = call.replies.next(1s);
    const auto completed = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(returned, 5ms);
    ASSERT_TRUE(reply.has_value());
    EXPECT_LT(completed, 100ms);
    EXPECT_EQ(reply->error, ErrorKind::timeout);
    EXPECT_FALSE(reply->retryable);
    server_->signal(SIGCONT);
    // The connection reconnects by itself and serves again.
    const MariaDbReply after = execute(conn, call, 0, {9});
    EXPECT_TRUE(after.ok) << after.message;
    EXPECT_EQ(after.first_row[0], 9);
    std::uint64_t reconnects = 0;
    loop_.run([&] { reconnects = conn->reconnects(); });
    EXPECT_EQ(reconnects, 1u);
}

TEST_F(MariaDb, InterruptTakesAWaitingRequestOutOfTheQueue) {
    auto conn = connect(settings());
    Call slow, queued;
    slow.sql = "SELECT SLEEP(0.5)";
    queued.sql = "SELECT 1";
    submit(conn, slow);
    submit(conn, queued);
    std::this_thread::sleep_for(50ms);
    conn->interrupt(&queued);
    const auto r = queued.replies.next(200ms);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->error, ErrorKind::timeout);
    const auto s = slow.replies.next();  // the one running was left alone
    ASSERT_TRUE(s.has_value());
    EXPECT_TRUE(s->ok) << s->message;
    EXPECT_EQ(queued.replies.count(), 1u);
}

}  // namespace
}  // namespace loadbench
