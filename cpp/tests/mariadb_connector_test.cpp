// The `mysql` connector (MariaDbConnector) against a real MariaDB the test process starts
// (test_servers.hpp): prep and verify, test-1's transfer in both modes (committed, rejected, money
// conserved), scenario files' set-up calls and sessions, server settings, and options and
// passwords checked up front. Skipped, with the reason, where MariaDB is not installed.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "connectors/mariadb_connector.hpp"
#include "connectors/registry.hpp"
#include "test_servers.hpp"

namespace loadbench {
namespace {

using namespace std::chrono_literals;
using testing::EventLoop;
using testing::MariaDbTestServer;
using testing::Replies;

// --- without a server --------------------------------------------------------------------------

TEST(MysqlConnectorOptions, UnknownValuesAreRejected) {
    const std::string url = "mysql://u:p@127.0.0.1:1/db";
    EXPECT_THROW(MariaDbConnector(ConnectorOptions{{"url", url}, {"mode", "function"}}), ConnectorError);
    EXPECT_THROW(MariaDbConnector(ConnectorOptions{{"url", url}, {"isolation", "snapshot"}}), ConnectorError);
    EXPECT_THROW(MariaDbConnector(ConnectorOptions{{"url", url}, {"lock_wait_timeout", "-1"}}), ConnectorError);
    EXPECT_THROW(MariaDbConnector(ConnectorOptions{{"url", url}, {"server_settings", "x; DROP TABLE t=1"}}), ConnectorError);
    EXPECT_THROW(MariaDbConnector(ConnectorOptions{}), ConnectorError);
}

TEST(MysqlConnectorOptions, AMalformedUrlIsAConfigurationErrorThatNeverShowsThePassword) {
    try {
        MariaDbConnector(ConnectorOptions{{"url", "mysql://u:hunter2-secret@h:70000/db"}});
        ADD_FAILURE() << "accepted";
    } catch (const ConnectorConfigError& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
}

TEST(MysqlConnectorOptions, EveryConnectionSetsTheIsolationLevelTheLockWaitAndTheServerSettings) {
    const MariaDbConnector c(ConnectorOptions{{"url", "mysql://u:p@h/db"},
                                              {"isolation", "read_committed"},
                                              {"lock_wait_timeout", "0"},
                                              {"server_settings", "innodb_flush_log_at_trx_commit=2;sql_mode=a b'c"}});
    EXPECT_EQ(c.connection_setup(),
              (std::vector<std::string>{"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                                        "SET SESSION innodb_lock_wait_timeout = 0",
                                        "SET GLOBAL innodb_flush_log_at_trx_commit = 2",
                                        "SET GLOBAL sql_mode = 'a b''c'"}));
    const MariaDbConnector d(ConnectorOptions{{"url", "mysql://u:p@h/db"}});
    EXPECT_EQ(d.connection_setup(),
              (std::vector<std::string>{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"}));
}

// --- against the server ------------------------------------------------------------------------

struct Opened final : AsyncTransferOpenCallback {
    std::promise<std::unique_ptr<AsyncTransferSession>> session;
    std::promise<std::string> error;
    void opened(std::unique_ptr<AsyncTransferSession> s) override { session.set_value(std::move(s)); }
    void open_failed(std::string e) override {
        session.set_value(nullptr);
        error.set_value(std::move(e));
    }
};

struct Done final : AttemptCallback {
    Replies<Attempt> attempts;
    void attempt_done(Attempt a) override { attempts.add(a); }
};

class MysqlConnector : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = &MariaDbTestServer::shared();
        if (!server_->available()) GTEST_SKIP() << server_->unavailable_reason();
        if (!server_->running()) ASSERT_TRUE(server_->start());
    }

    std::string url(const std::string& password = MariaDbTestServer::kPassword) const {
        return "mysql://" + std::string(MariaDbTestServer::kUser) + ":" + password + "@127.0.0.1:" +
               std::to_string(server_->port()) + "/bench";
    }

    std::shared_ptr<Connector> connector(ConnectorOptions options = {}) {
        options["url"] = url();
        return make_connector("mysql", options);
    }

    std::unique_ptr<AsyncTransferSession> open(Connector& c) {
        Opened opened;
        c.event_loop_transfer_sessions()->open_async_transfer_session(loop_.io(), 0, opened);
        auto future = opened.session.get_future();
        EXPECT_EQ(future.wait_for(15s), std::future_status::ready);
        auto session = future.get();
        if (!session) ADD_FAILURE() << opened.error.get_future().get();
        return session;
    }

    Attempt transfer(AsyncTransferSession& s, Transfer t) {
        Done done;
        loop_.post([&] { s.transfer(t, done); });
        auto a = done.attempts.next();
        EXPECT_TRUE(a.has_value()) << "the transfer never ended";
        return a.value_or(Attempt::failed(ErrorKind::other));
    }

    void close(std::unique_ptr<AsyncTransferSession>& s) {
        loop_.run([&] { s->shutdown(); });
        s.reset();
    }

    // Both modes move money when the payer covers it and refuse otherwise, and conserve it.
    void transfers_in(const std::string& mode) {
        auto c = connector({{"mode", mode}});
        c->prep_accounts({.accounts = 10, .initial_balance = 100});
        auto s = open(*c);
        ASSERT_TRUE(s);
        EXPECT_EQ(transfer(*s, {.from_id = 1, .to_id = 2, .amount = 60}).outcome, Outcome::committed);
        EXPECT_EQ(transfer(*s, {.from_id = 1, .to_id = 2, .amount = 60}).outcome, Outcome::rejected);
        EXPECT_EQ(transfer(*s, {.from_id = 9, .to_id = 3, .amount = 100}).outcome, Outcome::committed);  // higher id pays
        EXPECT_EQ(transfer(*s, {.from_id = 9, .to_id = 3, .amount = 1}).outcome, Outcome::rejected);
        close(s);
        EXPECT_EQ(server_->sql("SELECT GROUP_CONCAT(balance ORDER BY id) FROM bench.accounts"),
                  "40,160,200,100,100,100,100,100,0,100");
        const auto check = c->verify_accounts({.accounts = 10, .initial_balance = 100});
        ASSERT_TRUE(check);
        EXPECT_TRUE(check->passed);
        EXPECT_EQ(check->total, 1000);
        EXPECT_EQ(check->changed, 4u);
        EXPECT_EQ(server_->sql("SELECT COUNT(*) FROM information_schema.INNODB_TRX"), "0");  // nothing left open
    }

    MariaDbTestServer* server_ = nullptr;
    EventLoop loop_;
};

TEST_F(MysqlConnector, PrepSeedsTheAccountsInInnoDbAndVerifyChecksThemInSql) {
    auto c = connector();
    c->check();
    c->prep_accounts({.accounts = 120'000, .initial_balance = 7});
    EXPECT_EQ(server_->sql("SELECT COUNT(*), SUM(balance), MIN(id), MAX(id) FROM bench.accounts"), "120000\t840000\t1\t120000");
    EXPECT_EQ(server_->sql("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'bench' AND TABLE_NAME = 'accounts'"),
              "InnoDB");
    auto check = c->verify_accounts({.accounts = 120'000, .initial_balance = 7});
    ASSERT_TRUE(check);
    EXPECT_TRUE(check->passed);
    EXPECT_EQ(check->changed, 0u);
    server_->sql("UPDATE bench.accounts SET balance = -1 WHERE id = 5");
    check = c->verify_accounts({.accounts = 120'000, .initial_balance = 7});
    EXPECT_FALSE(check->passed);
    EXPECT_EQ(check->negative_balances, 1u);
    EXPECT_EQ(check->total, 840'000 - 8);
}

TEST_F(MysqlConnector, ProcedureModeMovesMoneyInOneCallAndRefusesWhatTheBalanceCannotCover) {
    transfers_in("procedure");
}

TEST_F(MysqlConnector, StatementsModeMovesMoneyAndRefusesWhatTheBalanceCannotCover) { transfers_in("statements"); }

TEST_F(MysqlConnector, ALockWaitTimeoutInTheProcedureRollsTheTransferBackAndIsRetryable) {
    auto c = connector({{"lock_wait_timeout", "0"}});
    c->prep_accounts({.accounts = 4, .initial_balance = 100});
    auto s = open(*c);
    ASSERT_TRUE(s);
    // Another session holds account 4: the transfer 2 -> 4 debits 2, then cannot lock 4.
    auto holder = connector();
    auto session = holder->sql_sessions()->open_sql_session({"UPDATE accounts SET balance = balance WHERE id = ?"});
    ASSERT_TRUE(session->control(SqlControl::begin).ok);
    const SqlValue four[] = {SqlValue::of(4)};
    ASSERT_TRUE(session->execute(0, four).ok) << session->last_error();
    const Attempt a = transfer(*s, {.from_id = 2, .to_id = 4, .amount = 10});
    EXPECT_EQ(a.outcome, Outcome::failed);
    EXPECT_EQ(a.error, ErrorKind::busy);
    EXPECT_TRUE(a.retryable);
    EXPECT_NE(s->last_error().find("1205"), std::string::npos) << s->last_error();
    ASSERT_TRUE(session->control(SqlControl::rollback).ok);
    // The debit was rolled back with it: the retry moves the money once.
    EXPECT_EQ(transfer(*s, {.from_id = 2, .to_id = 4, .amount = 10}).outcome, Outcome::committed);
    close(s);
    EXPECT_EQ(server_->sql("SELECT GROUP_CONCAT(balance ORDER BY id) FROM bench.accounts"), "100,90,100,110");
}

TEST_F(MysqlConnector, ALockWaitTimeoutWhileLockingBothRowsIsRetryableAndKeepsTheConnection) {
    auto c = connector({{"mode", "statements"}, {"lock_wait_timeout", "0"}});
    c->prep_accounts({.accounts = 4, .initial_balance = 100});
    auto s = open(*c);
    ASSERT_TRUE(s);
    auto holder = connector();
    auto session = holder->sql_sessions()->open_sql_session({"UPDATE accounts SET balance = balance WHERE id = ?"});
    ASSERT_TRUE(session->control(SqlControl::begin).ok);
    const SqlValue four[] = {SqlValue::of(4)};
    ASSERT_TRUE(session->execute(0, four).ok) << session->last_error();
    // SELECT ... FOR UPDATE locks 2, then meets 4 locked while it sends its rows: the server's
    // error takes a row's place, which ends the result; the connection stays in step.
    const Attempt a = transfer(*s, {.from_id = 2, .to_id = 4, .amount = 10});
    EXPECT_EQ(a.outcome, Outcome::failed);
    EXPECT_EQ(a.error, ErrorKind::busy);
    EXPECT_TRUE(a.retryable);
    EXPECT_NE(s->last_error().find("1205"), std::string::npos) << s->last_error();
    ASSERT_TRUE(session->control(SqlControl::rollback).ok);
    EXPECT_EQ(transfer(*s, {.from_id = 2, .to_id = 4, .amount = 10}).outcome, Outcome::committed);
    std::uint64_t reconnects = 1;
    loop_.run([&] { reconnects = s->reconnects(); });
    EXPECT_EQ(reconnects, 0u);
    close(s);
    EXPECT_EQ(server_->sql("SELECT GROUP_CONCAT(balance ORDER BY id) FROM bench.accounts"), "100,90,100,110");
}

TEST_F(MysqlConnector, AWrongPasswordIsAConfigurationErrorThatNeverShowsIt) {
    const std::string wrong = "not-the-Pass%40word";
    auto c = make_connector("mysql", {{"url", url(wrong)}});
    try {
        c->check();
        ADD_FAILURE() << "check passed";
    } catch (const ConnectorConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("Access denied"), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).find("not-the-Pass"), std::string::npos) << e.what();
    }
    Opened opened;
    c->event_loop_transfer_sessions()->open_async_transfer_session(loop_.io(), 0, opened);
    auto future = opened.session.get_future();
    ASSERT_EQ(future.wait_for(15s), std::future_status::ready);
    EXPECT_EQ(future.get(), nullptr);
    const std::string error = opened.error.get_future().get();
    EXPECT_NE(error.find("1045"), std::string::npos) << error;
    EXPECT_EQ(error.find("not-the-Pass"), std::string::npos) << error;
}

TEST_F(MysqlConnector, ServerSettingsAreAppliedWithSetGlobalByCheckAndEveryConnection) {
    auto c = connector({{"server_settings", "innodb_flush_log_at_trx_commit=2"}});
    c->check();
    EXPECT_EQ(server_->sql("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit"), "2");
    server_->sql("SET GLOBAL innodb_flush_log_at_trx_commit = 1");
    c->prep_accounts({.accounts = 2, .initial_balance = 1});
    auto s = open(*c);
    ASSERT_TRUE(s);
    EXPECT_EQ(server_->sql("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit"), "2");
    close(s);
    server_->sql("SET GLOBAL innodb_flush_log_at_trx_commit = 1");
    // An account that may not run SET GLOBAL is refused up front, in one line.
    server_->sql("DROP USER IF EXISTS 'plain'@'%'; CREATE USER 'plain'@'%' IDENTIFIED BY 'plain-pw'; "
                 "GRANT ALL ON bench.* TO 'plain'@'%'");
    auto plain = make_connector("mysql", {{"url", "mysql://plain:plain-pw@127.0.0.1:" + std::to_string(server_->port()) + "/bench"},
                                          {"server_settings", "innodb_flush_log_at_trx_commit=0"}});
    try {
        plain->check();
        ADD_FAILURE() << "check passed";
    } catch (const ConnectorConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("SUPER"), std::string::npos) << e.what();
    }
    EXPECT_EQ(server_->sql("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit"), "1");
}

TEST_F(MysqlConnector, SqlCheckRunsTheSchemaInAScratchDatabaseAndNamesWhatDoesNotPrepare) {
    auto c = connector();
    const std::vector<std::string> script = {"CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT) ENGINE=InnoDB"};
    EXPECT_FALSE(c->sql_check(script, {"INSERT INTO t (id, v) VALUES (?, ?)", "SELECT v FROM t WHERE id = ?"}));
    const auto bad = c->sql_check(script, {"SELECT v FROM t WHERE id = ?", "SELECT nope FROM t"});
    ASSERT_TRUE(bad);
    EXPECT_FALSE(bad->in_script);
    EXPECT_EQ(bad->index, 1u);
    EXPECT_NE(bad->message.find("nope"), std::string::npos) << bad->message;
    const auto bad_ddl = c->sql_check({"CREATE TABLE t (id BIGINT PRIMARY KEY"}, {});
    ASSERT_TRUE(bad_ddl);
    EXPECT_TRUE(bad_ddl->in_script);
    // Nothing stays behind: no scratch database, no table in the user's.
    EXPECT_EQ(server_->sql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'loadbench_check%'"), "0");
    EXPECT_EQ(server_->sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'bench' AND TABLE_NAME = 't'"), "0");
}

TEST_F(MysqlConnector, ScenarioSessionsBindValuesAndQueriesReturnText) {
    auto c = connector();
    c->sql_execute({"DROP TABLE IF EXISTS t", "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT, r DOUBLE)"});
    {
        auto s = c->sql_sessions()->open_sql_session({"INSERT INTO t (id, v, r) VALUES (?, ?, ?)", "UPDATE t SET r = r * 2 WHERE id = ?"});
        ASSERT_TRUE(s->control(SqlControl::begin).ok);
        const std::string text = "it's \"quoted\"";
        const SqlValue row[] = {SqlValue::of(1), SqlValue::of_text(text), SqlValue::of_real(1.5)};
        const SqlReply inserted = s->execute(0, row);
        ASSERT_TRUE(inserted.ok) << s->last_error();
        EXPECT_EQ(inserted.rows, 1);
        const SqlValue null_row[] = {SqlValue::of(2), SqlValue{}, SqlValue::of_real(0)};
        ASSERT_TRUE(s->execute(0, null_row).ok) << s->last_error();
        const SqlReply duplicate = s->execute(0, row);
        EXPECT_FALSE(duplicate.ok);
        EXPECT_EQ(duplicate.error, ErrorKind::constraint);
        const SqlValue one[] = {SqlValue::of(1)};
        EXPECT_EQ(s->execute(1, one).rows, 1);
        ASSERT_TRUE(s->control(SqlControl::commit).ok);
    }
    const SqlRows rows = c->sql_query("SELECT id, v, r FROM t ORDER BY id");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0], (std::vector<std::optional<std::string>>{"1", "it's \"quoted\"", "3"}));
    EXPECT_EQ(rows[1][1], std::nullopt);
    c->sql_execute({"DROP TABLE t"});
}

}  // namespace
}  // namespace loadbench
