// test-1 on a real SQLite file: prep seeds, transfers move money or are rejected, verify checks,
// and concurrent runs conserve money in every mode.
#include <gtest/gtest.h>

#include <filesystem>

#include "connectors/sqlite_connector.hpp"
#include "engine/run.hpp"
#include "scenarios/transfer_scenario.hpp"

namespace loadbench {
namespace {

class SqliteTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("loadbench-sqlite-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    ConnectorOptions options(const std::string& mode) { return {{"file", (dir_ / "t.db").string()}, {"mode", mode}}; }
    std::filesystem::path dir_;
};

TEST_F(SqliteTest, PrepSeedsAndVerifyPasses) {
    SqliteConnector c(options("wal"));
    c.prep_accounts({.accounts = 1000, .initial_balance = 50});
    auto check = c.verify_accounts({.accounts = 1000, .initial_balance = 50});
    ASSERT_TRUE(check);
    EXPECT_TRUE(check->passed);
    EXPECT_EQ(check->accounts, 1000u);
    EXPECT_EQ(check->total, 50'000);
    // Verifying against other parameters fails.
    EXPECT_FALSE(c.verify_accounts({.accounts = 1000, .initial_balance = 51})->passed);
}

TEST_F(SqliteTest, TransferMovesMoneyOrIsRejected) {
    SqliteConnector c(options("wal"));
    c.prep_accounts({.accounts = 2, .initial_balance = 10});
    auto s = c.open_transfer_session();
    EXPECT_EQ(s->transfer({1, 2, 7}).outcome, Outcome::committed);
    EXPECT_EQ(s->transfer({1, 2, 7}).outcome, Outcome::rejected);  // 3 left
    EXPECT_EQ(s->transfer({2, 1, 17}).outcome, Outcome::committed);
    auto check = c.verify_accounts({.accounts = 2, .initial_balance = 10});
    EXPECT_TRUE(check->passed);
}

TEST_F(SqliteTest, UnknownModeAndMissingDirectoryAreClearErrors) {
    EXPECT_THROW(SqliteConnector(options("turbo")), ConnectorError);
    SqliteConnector c({{"file", (dir_ / "no" / "such" / "dir.db").string()}});
    EXPECT_THROW(c.prep_accounts({}), ConnectorError);
}

TEST_F(SqliteTest, SessionOnAnUnpreppedFileExplainsWhy) {
    SqliteConnector c(options("wal"));
    try {
        c.open_transfer_session();
        FAIL() << "expected ConnectorError";
    } catch (const ConnectorError& e) {
        EXPECT_NE(std::string(e.what()).find("prepped"), std::string::npos);
    }
}

class SqliteModes : public SqliteTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(SqliteModes, ConcurrentTransfersConserveMoney) {
    auto c = std::make_shared<SqliteConnector>(options(GetParam()));
    TransferParams params{.accounts = {.accounts = 50, .initial_balance = 100}, .alpha = 1.2};
    c->prep_accounts(params.accounts);
    loadbench::Run run({.concurrency = 4, .warmup_seconds = 0, .seconds = 0.5, .max_tries = 50},
            std::make_shared<TransferWorkload>(params, c));
    run.start();
    ASSERT_TRUE(run.wait_for(60));
    RunResult r = run.take_result();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_GT(r.counters.committed, 0u);
    EXPECT_GT(r.counters.collision_ops, 0u);
    auto check = c->verify_accounts(params.accounts);
    EXPECT_TRUE(check->passed) << "total " << check->total << " negative " << check->negative_balances;
}

INSTANTIATE_TEST_SUITE_P(Modes, SqliteModes, ::testing::Values("default", "wal", "fast"));

}  // namespace
}  // namespace loadbench
