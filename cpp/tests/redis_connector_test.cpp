// RedisConnector against a real redis-server the test process starts (test_servers.hpp): prep and
// verify (checked with redis-cli too), test-1 runs in both modes with money conserved, pipelining,
// WATCH conflicts retried under contention, a refused password in one line without the password,
// and a run that survives the server killed and restarted. Skipped, with the reason, where Redis
// is not installed.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "connectors/redis_connector.hpp"
#include "connectors/registry.hpp"
#include "scenarios/transfer_scenario.hpp"
#include "test_servers.hpp"

namespace loadbench {
namespace {

using namespace std::chrono_literals;
using testing::RedisTestServer;

constexpr std::uint64_t kAccounts = 2'000;
constexpr std::int64_t kInitial = 1'000;

std::uint64_t errors_of(const RunResult& r, ErrorKind kind) { return r.counters.errors[static_cast<int>(kind)]; }
std::uint64_t retried_of(const RunResult& r, ErrorKind kind) { return r.counters.retried_errors[static_cast<int>(kind)]; }

class RedisConnectorTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = &RedisTestServer::shared();
        if (!server_->available()) GTEST_SKIP() << server_->unavailable_reason();
        if (!server_->running()) ASSERT_TRUE(server_->start());
        server_->cli({"FLUSHALL"});
    }
    void TearDown() override {
        if (server_ && server_->available() && !server_->running()) server_->start();
    }

    std::string url() const { return "redis://127.0.0.1:" + std::to_string(server_->port()) + "/0"; }

    std::shared_ptr<Connector> connector(const std::string& mode = "script", int inflight = 1) {
        return make_connector("redis", {{"url", url()}, {"mode", mode}, {"inflight", std::to_string(inflight)}});
    }

    // Money and accounts as redis-cli sees them, not through the connector: {accounts, total, negative}.
    std::array<long long, 3> money() {
        const std::string out = server_->cli(
            {"EVAL",
             "local n, t, neg = 0, 0, 0 for i = 0, tonumber(ARGV[1]) - 1 do "
             "local v = redis.call('GET', string.format('account:%012d', i)) "
             "if v then n = n + 1 t = t + tonumber(v) if tonumber(v) < 0 then neg = neg + 1 end end end "
             "return {n, t, neg}",
             "0", std::to_string(kAccounts)});
        std::array<long long, 3> v{};
        std::size_t pos = 0;
        for (long long& x : v) {
            std::size_t used = 0;
            x = std::stoll(out.substr(pos), &used);
            pos += used;
        }
        return v;
    }

    RedisTestServer* server_ = nullptr;
};

TEST(RedisConnectorOptions, BadOptionsAreRefusedWithoutThePassword) {
    EXPECT_THROW(make_connector("redis", {}), ConnectorError);
    EXPECT_THROW(make_connector("redis", {{"url", "redis://h"}, {"mode", "lua"}}), ConnectorError);
    // WATCH is the connection's state: no pipelining in watch mode.
    EXPECT_THROW(make_connector("redis", {{"url", "redis://h"}, {"mode", "watch"}, {"inflight", "2"}}), ConnectorError);
    try {
        make_connector("redis", {{"url", "redis://:s3cr%40t@h:99999/0"}});
        ADD_FAILURE() << "accepted";
    } catch (const ConnectorConfigError& e) {
        EXPECT_EQ(std::string(e.what()).find("s3cr"), std::string::npos) << e.what();
    }
    auto c = make_connector("redis", {{"url", "redis://h"}, {"inflight", "16"}});
    EXPECT_EQ(c->sessions_per_connection(), 16u);
    EXPECT_TRUE(c->is_async());
    EXPECT_EQ(c->sql_sessions(), nullptr);
}

TEST(RedisConnectorKeys, AreRedisBenchmarksRandIntForm) {
    EXPECT_EQ(RedisConnector::account_key(1), "account:000000000000");
    EXPECT_EQ(RedisConnector::account_key(1'000'000), "account:000000999999");
}

TEST_F(RedisConnectorTest, PrepWritesTheAccountsAndVerifySumsThemServerSide) {
    server_->cli({"SET", "account:000000999999", "5"});  // an earlier, bigger prep's leftover
    server_->cli({"SET", "other:key", "kept"});          // not ours
    auto c = connector();
    c->check();
    c->prep_accounts({.accounts = kAccounts, .initial_balance = kInitial});
    EXPECT_EQ(server_->cli({"DBSIZE"}), std::to_string(kAccounts + 1));
    EXPECT_EQ(server_->cli({"GET", "account:000000000000"}), "1000");
    EXPECT_EQ(server_->cli({"GET", "other:key"}), "kept");
    const auto check = c->verify_accounts({.accounts = kAccounts, .initial_balance = kInitial});
    ASSERT_TRUE(check);
    EXPECT_TRUE(check->passed);
    EXPECT_EQ(check->accounts, kAccounts);
    EXPECT_EQ(check->total, static_cast<std::int64_t>(kAccounts) * kInitial);
    EXPECT_EQ(check->changed, 0u);

    // Money created, a negative balance, a missing account: each fails verify.
    server_->cli({"INCRBY", "account:000000000007", "3"});
    auto bad = c->verify_accounts({.accounts = kAccounts, .initial_balance = kInitial});
    EXPECT_FALSE(bad->passed);
    EXPECT_EQ(bad->total, static_cast<std::int64_t>(kAccounts) * kInitial + 3);
    EXPECT_EQ(bad->changed, 1u);
    server_->cli({"SET", "account:000000000007", "-3"});
    server_->cli({"SET", "account:000000000008", "2003"});
    bad = c->verify_accounts({.accounts = kAccounts, .initial_balance = kInitial});
    EXPECT_FALSE(bad->passed);
    EXPECT_EQ(bad->total, static_cast<std::int64_t>(kAccounts) * kInitial);
    EXPECT_EQ(bad->negative_balances, 1u);
    server_->cli({"DEL", "account:000000001999"});
    bad = c->verify_accounts({.accounts = kAccounts, .initial_balance = kInitial});
    EXPECT_FALSE(bad->passed);
    EXPECT_EQ(bad->accounts, kAccounts - 1);
    EXPECT_EQ(bad->outside, 0u);

    // Keys outside ids 1..N, found by the SCAN pass: their balances count, each key once.
    c->prep_accounts({.accounts = kAccounts, .initial_balance = kInitial});
    server_->cli({"DECRBY", "account:000000000003", "9"});
    server_->cli({"SET", "account:" + std::string(12 - std::to_string(kAccounts).size(), '0') +
                              std::to_string(kAccounts), "9"});  // id N + 1
    server_->cli({"SET", "account:x", "not a balance"});
    bad = c->verify_accounts({.accounts = kAccounts, .initial_balance = kInitial});
    EXPECT_FALSE(bad->passed);
    EXPECT_EQ(bad->accounts, kAccounts);
    EXPECT_EQ(bad->total, static_cast<std::int64_t>(kAccounts) * kInitial);  // the 9 moved, not lost
    EXPECT_EQ(bad->outside, 2u);
    EXPECT_EQ(bad->outside_example, "account:" + std::string(12 - std::to_string(kAccounts).size(), '0') +
                                        std::to_string(kAccounts));
}

struct ModeCase {
    const char* mode;
    int inflight;
};

class RedisTransfer : public RedisConnectorTest, public ::testing::WithParamInterface<ModeCase> {};

TEST_P(RedisTransfer, ConservesMoney) {
    auto c = connector(GetParam().mode, GetParam().inflight);
    c->prep_accounts({.accounts = kAccounts, .initial_balance = kInitial});
    TransferParams params{.accounts = {.accounts = kAccounts, .initial_balance = kInitial}, .alpha = 0.5, .max_amount = 100};
    auto run = make_transfer_run({.concurrency = 8, .warmup_seconds = 0, .seconds = 1, .threads = 2}, params, c);
    const RunResult r = run->run();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_GT(r.counters.committed, 100u);
    EXPECT_EQ(r.counters.failed, 0u) << r.error_examples[static_cast<int>(ErrorKind::other)];
    EXPECT_EQ(money(), (std::array<long long, 3>{kAccounts, kAccounts * kInitial, 0}));
    const auto check = c->verify_accounts(params.accounts);
    EXPECT_TRUE(check->passed);
    EXPECT_GT(*check->changed, 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisTransfer,
                         ::testing::Values(ModeCase{"script", 1}, ModeCase{"script", 8}, ModeCase{"watch", 1}),
                         [](const auto& info) { return std::string(info.param.mode) + std::to_string(info.param.inflight); });

TEST_F(RedisConnectorTest, ScriptModeCountsInsufficientFundsAsRejected) {
    auto c = connector();
    c->prep_accounts({.accounts = 10, .initial_balance = 1});  // amounts 1..100: most refused
    TransferParams params{.accounts = {.accounts = 10, .initial_balance = 1}, .alpha = 0, .max_amount = 100};
    const RunResult r = make_transfer_run({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.5}, params, c)->run();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_GT(r.counters.rejected, r.counters.committed);
    EXPECT_EQ(r.counters.failed, 0u);
    EXPECT_TRUE(c->verify_accounts(params.accounts)->passed);
}

TEST_F(RedisConnectorTest, WatchModeRetriesConflictsUnderContention) {
    auto c = connector("watch");
    c->prep_accounts({.accounts = 100, .initial_balance = kInitial});
    // alpha 2: most transfers touch the hottest few accounts, so EXECs abort on each other's writes.
    TransferParams params{.accounts = {.accounts = 100, .initial_balance = kInitial}, .alpha = 2, .max_amount = 100};
    const RunResult r =
        make_transfer_run({.concurrency = 16, .warmup_seconds = 0, .seconds = 1, .max_tries = 100, .threads = 2}, params, c)->run();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_GT(r.counters.committed, 100u);
    EXPECT_GT(retried_of(r, ErrorKind::serialization), 0u);
    EXPECT_EQ(r.counters.retries, retried_of(r, ErrorKind::serialization));
    EXPECT_TRUE(c->verify_accounts(params.accounts)->passed);
}

TEST_F(RedisConnectorTest, WrongPasswordIsOneConfigurationLineWithoutThePassword) {
    RedisTestServer guarded("right-password");
    ASSERT_TRUE(guarded.available());
    const std::string port = std::to_string(guarded.port());
    for (const std::string& url : {"redis://:wr%40ng-pa%24%24@127.0.0.1:" + port, "redis://default:wr%40ng-pa%24%24@127.0.0.1:" + port,
                                   "redis://127.0.0.1:" + port}) {
        SCOPED_TRACE(url);
        auto c = make_connector("redis", {{"url", url}});
        try {
            c->check();
            ADD_FAILURE() << "check passed";
        } catch (const ConnectorConfigError& e) {
            const std::string what = e.what();
            EXPECT_EQ(what.find("wr@ng"), std::string::npos) << what;
            EXPECT_EQ(what.find('\n'), std::string::npos) << what;
            EXPECT_TRUE(what.find("AUTH refused: WRONGPASS") != std::string::npos || what.find("NOAUTH") == 0) << what;
        }
    }
    auto right = make_connector("redis", {{"url", "redis://:right-password@127.0.0.1:" + port}});
    EXPECT_NO_THROW(right->check());
}

TEST_F(RedisConnectorTest, RunSurvivesTheServerKilledAndRestartedAndCountsTheReconnects) {
    auto c = connector("script", 4);
    const AccountsSpec accounts{.accounts = kAccounts, .initial_balance = kInitial};
    c->prep_accounts(accounts);
    TransferParams params{.accounts = accounts, .alpha = 0.5, .max_amount = 100};
    auto run = make_transfer_run({.concurrency = 8, .warmup_seconds = 0, .seconds = 2.5, .threads = 2}, params, c);
    // On this thread: the server dies with the thread that started it (PR_SET_PDEATHSIG).
    run->start();
    std::this_thread::sleep_for(700ms);
    server_->kill();
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(server_->start());
    // --save '': the restarted server is empty. Seed it again (as an operator restoring a backup
    // would); transfers before that fail as NOACCOUNT, not as refusals.
    c->prep_accounts(accounts);
    ASSERT_TRUE(run->wait_for(30));
    const RunResult r = run->take_result();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.counters.reconnects, 2u);  // one for each connection (8 sessions, 4 per connection)
    EXPECT_GT(errors_of(r, ErrorKind::connection), 0u);
    EXPECT_GT(r.counters.committed, 100u);
    EXPECT_TRUE(c->verify_accounts(accounts)->passed);  // the money of the seeding after the restart
}

TEST_F(RedisConnectorTest, VerifyAfterARestartWithoutPersistenceFailsCountingTheAccountsMissing) {
    auto c = connector();
    const AccountsSpec accounts{.accounts = kAccounts, .initial_balance = kInitial};
    c->prep_accounts(accounts);
    server_->kill();
    ASSERT_TRUE(server_->start());
    const auto check = c->verify_accounts(accounts);
    EXPECT_FALSE(check->passed);
    EXPECT_EQ(check->accounts, 0u);
    EXPECT_EQ(check->total, 0);
}

}  // namespace
}  // namespace loadbench
