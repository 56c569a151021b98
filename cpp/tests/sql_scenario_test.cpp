// File-defined scenarios: generators draw what they promise, an exact mix keeps its proportions,
// and operations run on a real SQLite file as transactions: committed, rejected (rolled back) or
// failed (rolled back, counted by kind). Seeding, the prepare check and PostgreSQL's text
// parameters too.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "connectors/null_connector.hpp"
#include "connectors/pg_connection.hpp"
#include "connectors/registry.hpp"
#include "connectors/sqlite_connector.hpp"
#include "engine/run.hpp"
#include "scenarios/sql_scenario.hpp"

namespace loadbench {
namespace {

SqlGenerator uniform(std::int64_t min, std::int64_t max) {
    SqlGenerator g;
    g.kind = SqlGenerator::Kind::uniform;
    g.min = min;
    g.max = max;
    return g;
}

SqlGenerator zipf(std::uint64_t n, double alpha) {
    SqlGenerator g;
    g.kind = SqlGenerator::Kind::zipf;
    g.n = n;
    g.alpha = alpha;
    return g;
}

SqlGenerator sequence(std::int64_t start, std::int64_t step, bool global) {
    SqlGenerator g;
    g.kind = SqlGenerator::Kind::sequence;
    g.start = start;
    g.step = step;
    g.global = global;
    return g;
}

SqlGenerator constant(std::int64_t v) {
    SqlGenerator g;
    g.constant_type = SqlType::integer;
    g.constant_integer = v;
    return g;
}

// One operation drawing each generator once, into one statement that binds them all.
SqlScenarioSpec draw_all(std::vector<SqlGenerator> generators) {
    SqlScenarioSpec spec;
    spec.generators = std::move(generators);
    spec.statements = {"SELECT 1"};
    SqlOperation op{.name = "draw"};
    SqlStep step{.statement = 0};
    for (std::size_t i = 0; i < spec.generators.size(); ++i) {
        op.params.push_back({i, -1});
        step.slots.push_back(i);
    }
    op.steps = {step};
    spec.operations = {op};
    return spec;
}

TEST(SqlGenerators, UniformAndZipfStayInTheirRanges) {
    SqlPlanner planner(draw_all({uniform(-3, 3), zipf(10, 1.2)}), 1);
    SqlDraw d = planner.new_draw(0);
    Rng rng(1);
    std::set<std::int64_t> uniforms, zipfs;
    for (int i = 0; i < 5000; ++i) {
        planner.plan(rng, d);
        uniforms.insert(d.params[0].integer);
        zipfs.insert(d.params[1].integer);
    }
    EXPECT_EQ(uniforms, (std::set<std::int64_t>{-3, -2, -1, 0, 1, 2, 3}));
    EXPECT_EQ(*zipfs.begin(), 1);  // rank 0 is min, which defaults to 1
    EXPECT_EQ(*zipfs.rbegin(), 10);
}

TEST(SqlGenerators, SessionSequencesInterleaveWithoutSharing) {
    SqlPlanner planner(draw_all({sequence(100, 10, false)}), 3);
    Rng rng(1);
    std::vector<std::int64_t> seen;
    for (std::size_t session = 0; session < 3; ++session) {
        SqlDraw d = planner.new_draw(session);
        for (int k = 0; k < 2; ++k) {
            planner.plan(rng, d);
            seen.push_back(d.params[0].integer);
        }
    }
    // Session i takes start + step * (i + k * sessions).
    EXPECT_EQ(seen, (std::vector<std::int64_t>{100, 130, 110, 140, 120, 150}));
}

TEST(SqlGenerators, GlobalSequenceHandsOutEachValueOnceAcrossThreads) {
    SqlPlanner planner(draw_all({sequence(1, 1, true)}), 4);
    std::vector<std::vector<std::int64_t>> taken(4);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            SqlDraw d = planner.new_draw(t);
            Rng rng(t);
            for (int i = 0; i < 10'000; ++i) {
                planner.plan(rng, d);
                taken[t].push_back(d.params[0].integer);
            }
        });
    for (auto& t : threads) t.join();
    std::set<std::int64_t> all;
    for (const auto& v : taken) all.insert(v.begin(), v.end());
    EXPECT_EQ(all.size(), 40'000u);
    EXPECT_EQ(*all.begin(), 1);
    EXPECT_EQ(*all.rbegin(), 40'000);
}

TEST(SqlGenerators, PoolsConstantsAndDistinctParameters) {
    SqlScenarioSpec spec = draw_all({zipf(3, 2.0), zipf(3, 2.0), constant(7)});
    SqlGenerator pool;
    pool.kind = SqlGenerator::Kind::pool;
    pool.pool = 0;
    spec.pools = {{"ada", "grace"}};
    spec.generators.push_back(pool);
    spec.operations[0].params = {{0, -1}, {1, 0}, {2, -1}, {3, -1}};
    spec.operations[0].steps[0].slots = {0, 1, 2, 3};
    SqlPlanner planner(spec, 1);
    SqlDraw d = planner.new_draw(0);
    Rng rng(5);
    std::set<std::string> names;
    for (int i = 0; i < 2000; ++i) {
        planner.plan(rng, d);
        ASSERT_NE(d.params[0].integer, d.params[1].integer);  // alpha 2 makes 1 very likely for both
        EXPECT_EQ(d.params[2].integer, 7);
        names.insert(std::string(d.params[3].text, d.params[3].size));
        EXPECT_EQ(d.bound[3].text, d.params[3].text);  // bound in slot order, text borrowed, not copied
    }
    EXPECT_EQ(names, (std::set<std::string>{"ada", "grace"}));
}

TEST(SqlMix, ExactMixRunsEachOperationWeightTimesPerCycle) {
    SqlScenarioSpec spec;
    spec.statements = {"SELECT 1"};
    for (auto [name, weight] : {std::pair{"a", 1}, {"b", 4}, {"c", 3}, {"d", 2}})
        spec.operations.push_back({.name = name, .weight = double(weight), .steps = {{.statement = 0}}});
    spec.exact_mix = true;
    SqlPlanner planner(spec, 2);
    for (std::size_t session = 0; session < 2; ++session) {
        SqlDraw d = planner.new_draw(session);
        Rng rng(1);
        std::map<std::uint8_t, int> counts;
        for (int i = 0; i < 30; ++i) ++counts[planner.plan(rng, d).type];  // three cycles of 10
        EXPECT_EQ(counts, (std::map<std::uint8_t, int>{{0, 3}, {1, 12}, {2, 9}, {3, 6}}));
    }
}

TEST(SqlMix, RandomMixFollowsTheWeights) {
    SqlScenarioSpec spec;
    spec.statements = {"SELECT 1"};
    spec.operations = {{.name = "rare", .weight = 1, .steps = {{.statement = 0}}},
                       {.name = "common", .weight = 9, .steps = {{.statement = 0}}}};
    SqlPlanner planner(spec, 1);
    SqlDraw d = planner.new_draw(0);
    Rng rng(3);
    int rare = 0;
    for (int i = 0; i < 100'000; ++i) rare += planner.plan(rng, d).type == 0;
    EXPECT_NEAR(rare, 10'000, 500);
}

TEST(SqlPlannerSpec, InconsistentSpecsAreRejected) {
    SqlScenarioSpec spec = draw_all({uniform(1, 2)});
    spec.operations[0].steps[0].slots = {5};
    EXPECT_THROW(SqlPlanner(spec, 1), std::invalid_argument);
    spec = draw_all({uniform(3, 2)});
    EXPECT_THROW(SqlPlanner(spec, 1), std::invalid_argument);
    spec = draw_all({constant(1), constant(1)});
    spec.operations[0].params[1].distinct_from = 0;  // two constants can never differ
    EXPECT_THROW(SqlPlanner(spec, 1), std::invalid_argument);
    spec = draw_all({});
    spec.operations.clear();
    EXPECT_THROW(SqlPlanner(spec, 1), std::invalid_argument);
}

// --- on SQLite ------------------------------------------------------------------------------------

class SqlScenarioSqlite : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("loadbench-sqlscenario-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
        connector_ = std::make_shared<SqliteConnector>(ConnectorOptions{{"file", (dir_ / "t.db").string()}, {"mode", "wal"}});
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::int64_t scalar(const std::string& sql) { return std::stoll(*connector_->sql_query(sql).at(0).at(0)); }

    std::filesystem::path dir_;
    std::shared_ptr<SqliteConnector> connector_;
};

// test-1 as data: debit `from` if it can pay (else reject), credit `to`, in one transaction.
SqlScenarioSpec transfers(std::uint64_t accounts, double alpha) {
    SqlScenarioSpec spec;
    SqlGenerator account = zipf(accounts, alpha);
    spec.generators = {account, uniform(1, 100), sequence(1, 1, false), constant(100)};
    spec.statements = {"UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1",
                       "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2",
                       "INSERT INTO accounts (id, balance) VALUES (?1, ?2)"};
    spec.operations = {{.name = "transfer",
                        .transaction = true,
                        .params = {{0, -1}, {0, 0}, {1, -1}},
                        .steps = {{0, {2, 0}, true}, {1, {2, 1}, false}},
                        .keys = {0, 1}}};
    spec.seeds = {{.name = "accounts", .rows = accounts, .sql = spec.statements[2], .params = {{2, -1}, {3, -1}}, .slots = {0, 1}}};
    return spec;
}

TEST_F(SqlScenarioSqlite, SeedingInsertsEveryRowWithItsValues) {
    connector_->sql_execute({"CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"});
    seed_sql(*connector_, transfers(25'000, 0.5), 1);  // more than one batch
    EXPECT_EQ(scalar("SELECT count(*) FROM accounts"), 25'000);
    EXPECT_EQ(scalar("SELECT min(id) FROM accounts"), 1);
    EXPECT_EQ(scalar("SELECT max(id) FROM accounts"), 25'000);
    EXPECT_EQ(scalar("SELECT sum(balance) FROM accounts"), 2'500'000);
}

TEST_F(SqlScenarioSqlite, ConcurrentTransfersConserveMoneyAndRejectionsRollBack) {
    connector_->sql_execute({"CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"});
    const SqlScenarioSpec spec = transfers(20, 1.5);  // few, hot accounts of 100: many rejections
    seed_sql(*connector_, spec, 1);
    auto run = make_sql_run({.concurrency = 4, .warmup_seconds = 0, .seconds = 0.5, .max_tries = 50}, spec, connector_);
    RunResult r = run->run();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_GT(r.counters.committed, 100u);
    EXPECT_GT(r.counters.rejected, 0u);
    EXPECT_EQ(r.counters.failed, 0u);
    EXPECT_GT(r.counters.collision_ops, 0u);
    ASSERT_EQ(r.type_names, std::vector<std::string>{"transfer"});
    EXPECT_EQ(r.by_type[0].committed, r.counters.committed);
    EXPECT_EQ(scalar("SELECT sum(balance) FROM accounts"), 2000);
    EXPECT_EQ(scalar("SELECT count(*) FROM accounts WHERE balance < 0"), 0);
}

TEST_F(SqlScenarioSqlite, AFailedStatementRollsBackTheWholeOperationAndIsCountedByKind) {
    connector_->sql_execute({"CREATE TABLE t (id INTEGER PRIMARY KEY)", "CREATE TABLE log (n INTEGER)"});
    SqlScenarioSpec spec;
    spec.generators = {uniform(1, 3)};
    spec.statements = {"INSERT INTO log (n) VALUES (?1)", "INSERT INTO t (id) VALUES (?1)"};
    spec.operations = {{.name = "insert", .transaction = true, .params = {{0, -1}},
                        .steps = {{0, {0}, false}, {1, {0}, false}}}};
    auto run = make_sql_run({.concurrency = 1, .warmup_seconds = 0, .seconds = 5, .operations = 50}, spec, connector_);
    RunResult r = run->run();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.counters.committed, 3u);  // ids 1..3 once each; every later insert violates the key
    EXPECT_EQ(r.counters.failed, 47u);
    EXPECT_EQ(r.counters.errors[static_cast<std::size_t>(ErrorKind::constraint)], 47u);
    EXPECT_EQ(scalar("SELECT count(*) FROM log"), 3);  // the failed operations' first inserts were rolled back
    EXPECT_NE(r.error_examples[static_cast<std::size_t>(ErrorKind::constraint)].find("UNIQUE"), std::string::npos);
}

TEST_F(SqlScenarioSqlite, TheCheckNamesTheStatementThatDoesNotPrepare) {
    const std::vector<std::string> ddl = {"CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)"};
    EXPECT_FALSE(connector_->sql_check(ddl, {"UPDATE accounts SET balance = ?1 WHERE id = ?2"}));
    auto failure = connector_->sql_check(ddl, {"SELECT 1", "UPDATE accounts SET balanc = 1"});
    ASSERT_TRUE(failure);
    EXPECT_FALSE(failure->in_script);
    EXPECT_EQ(failure->index, 1u);
    EXPECT_NE(failure->message.find("no such column: balanc"), std::string::npos) << failure->message;
    failure = connector_->sql_check({"CREATE TABLE x (", "CREATE TABLE y (id)"}, {});
    ASSERT_TRUE(failure);
    EXPECT_TRUE(failure->in_script);
    EXPECT_EQ(failure->index, 0u);
    EXPECT_FALSE(std::filesystem::exists(dir_ / "t.db"));  // the check touched no file
}

TEST(SqlScenarioNull, RunsWithoutADatabase) {
    auto null = std::make_shared<NullConnector>(ConnectorOptions{});
    auto run = make_sql_run({.concurrency = 2, .warmup_seconds = 0, .seconds = 0.2}, transfers(1000, 0.5), null);
    RunResult r = run->run();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_GT(r.counters.committed, 10'000u);
    EXPECT_EQ(r.counters.rejected, 0u);
}

TEST(SqlScenarioFamilies, AConnectorWithoutSqlIsRefusedInOneLineBeforeAnyLoad) {
    auto rpc = make_connector("rpc", {{"url", "http://127.0.0.1:1"}});  // test-1 only; connects to nothing
    for (auto attempt : std::vector<std::function<void()>>{
             [&] { make_sql_run({.concurrency = 1, .warmup_seconds = 0, .seconds = 0.1}, transfers(10, 0.5), rpc); },
             [&] { seed_sql(*rpc, transfers(10, 0.5), 1); },
             [&] { SqlWorkload w(std::make_shared<const SqlPlanner>(transfers(10, 0.5), 1), rpc); }}) {
        try {
            attempt();
            ADD_FAILURE() << "no error";
        } catch (const ConnectorConfigError& e) {
            EXPECT_STREQ(e.what(), "connector 'rpc' runs no SQL scenarios");
        }
    }
}

// --- PostgreSQL's text parameters -------------------------------------------------------------

TEST(PgTextParams, NumbersAreFormattedTextIsBorrowedNullIsNull) {
    const std::string name = "O'Brien";
    const std::vector<SqlValue> values = {SqlValue::of(-9'007'199'254'740'993LL), SqlValue::of_real(0.1),
                                          SqlValue::of_text(name), SqlValue{}};
    PgTextParams params;
    params.set(values);
    ASSERT_EQ(params.count(), 4);
    EXPECT_STREQ(params.data()[0], "-9007199254740993");
    EXPECT_STREQ(params.data()[1], "0.1");  // shortest text that reads back as the same double
    EXPECT_EQ(params.data()[2], name.c_str());
    EXPECT_EQ(params.data()[3], nullptr);
    params.set(std::vector<SqlValue>{SqlValue::of(42)});  // reuse: fewer values
    ASSERT_EQ(params.count(), 1);
    EXPECT_STREQ(params.data()[0], "42");
}

}  // namespace
}  // namespace loadbench
