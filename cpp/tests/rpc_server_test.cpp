// End to end in one process: the rpc connector drives the bundled rpc server over SQLite through
// the event-loop engine; money is conserved, and the server's seed and verify answer.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <thread>

#include "connectors/rpc_connector.hpp"
#include "connectors/sqlite_connector.hpp"
#include "engine/run.hpp"
#include "server/rpc_server.hpp"
#include "scenarios/transfer_scenario.hpp"

namespace loadbench {
namespace {

class RpcServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("loadbench-rpc-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        auto sqlite = std::make_shared<SqliteConnector>(ConnectorOptions{{"file", (dir_ / "t.db").string()}, {"mode", "wal"}});
        server_ = std::make_unique<RpcServer>(RpcServerConfig{.threads = 2}, sqlite);
        port_ = server_->bind();
        thread_ = std::thread([this] { server_->serve(); });
    }
    void TearDown() override {
        server_->stop();
        thread_.join();
        server_.reset();
        std::filesystem::remove_all(dir_);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    // One POST /rpc with `body`, as a client other than loadbench's connector sends it: (status, JSON).
    std::pair<unsigned, nlohmann::json> call(const std::string& body) const {
        namespace beast = boost::beast;
        namespace http = beast::http;
        boost::asio::io_context io;
        boost::asio::ip::tcp::socket socket(io);
        socket.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
        http::request<http::string_body> request{http::verb::post, "/rpc", 11};
        request.set(http::field::host, "127.0.0.1");
        request.set(http::field::content_type, "application/json");
        request.keep_alive(false);
        request.body() = body;
        request.prepare_payload();
        http::write(socket, request);
        beast::flat_buffer buffer;
        http::response<http::string_body> response;
        http::read(socket, buffer, response);
        return {response.result_int(), nlohmann::json::parse(response.body())};
    }

    std::filesystem::path dir_;
    std::unique_ptr<RpcServer> server_;
    unsigned short port_ = 0;
    std::thread thread_;
};

TEST_F(RpcServerTest, HealthSeedAndVerifyAnswer) {
    RpcConnector c(ConnectorOptions{{"url", url()}});
    c.check();
    c.prep_accounts({.accounts = 100, .initial_balance = 10});
    const auto check = c.verify_accounts({.accounts = 100, .initial_balance = 10});
    ASSERT_TRUE(check);
    EXPECT_TRUE(check->passed);
    EXPECT_EQ(check->total, 1000);
    EXPECT_EQ(check->changed, 0u);  // freshly seeded: every balance is the initial one
    const auto against_other_balance = c.verify_accounts({.accounts = 100, .initial_balance = 11});
    EXPECT_FALSE(against_other_balance->passed);
    EXPECT_EQ(against_other_balance->changed, 100u);
}

TEST_F(RpcServerTest, BareVerifyChecksWhatTheServerSeeded) {
    // Before any seed there is nothing to check against: one line saying what to give.
    const auto [refused_status, refused] = call(R"({"name":"verify","args":{}})");
    EXPECT_EQ(refused_status, 400u);
    EXPECT_FALSE(refused["ok"].get<bool>());
    EXPECT_NE(refused["error"].get<std::string>().find("seeded nothing"), std::string::npos);

    const auto [seed_status, seeded] = call(R"({"name":"seed","args":{"accounts":40,"initialBalance":25}})");
    ASSERT_EQ(seed_status, 200u) << seeded.dump();
    const auto [status, verified] = call(R"({"name":"verify","args":{}})");
    ASSERT_EQ(status, 200u) << verified.dump();
    EXPECT_TRUE(verified["ok"].get<bool>());
    EXPECT_EQ(verified["result"]["accounts"].get<std::uint64_t>(), 40u);
    EXPECT_EQ(verified["result"]["expected"].get<std::int64_t>(), 1000);
    EXPECT_TRUE(verified["result"]["passed"].get<bool>());
    // A body with no args at all is bare too; explicit args still win over the seeded values.
    const auto [no_args_status, no_args] = call(R"({"name":"verify"})");
    EXPECT_EQ(no_args_status, 200u);
    EXPECT_EQ(no_args["result"]["expected"].get<std::int64_t>(), 1000);
    const auto [explicit_status, other] = call(R"({"name":"verify","args":{"accounts":40,"initialBalance":26}})");
    EXPECT_EQ(explicit_status, 200u);
    EXPECT_FALSE(other["result"]["passed"].get<bool>());
}

TEST_F(RpcServerTest, ManySessionsConserveMoney) {
    auto c = std::make_shared<RpcConnector>(ConnectorOptions{{"url", url()}});
    TransferParams params;
    params.accounts = {.accounts = 50, .initial_balance = 100};
    params.alpha = 1.0;
    c->prep_accounts(params.accounts);
    RunConfig config;
    config.concurrency = 64;
    config.threads = 2;
    config.warmup_seconds = 0;
    config.seconds = 0.5;
    auto run = make_transfer_run(config, params, c);
    const RunResult r = run->run();
    ASSERT_EQ(r.error, "");
    EXPECT_GT(r.counters.committed, 100u);
    EXPECT_EQ(r.counters.failed, 0u);
    EXPECT_EQ(r.sessions, 64u);
    const auto check = c->verify_accounts(params.accounts);
    EXPECT_TRUE(check->passed);
    EXPECT_GT(check->changed.value_or(0), 0u);  // transfers moved money between accounts
}

TEST_F(RpcServerTest, UnreachableServerFailsCheckWithOneLine) {
    RpcConnector c(ConnectorOptions{{"url", "http://127.0.0.1:1"}});
    try {
        c.check();
        FAIL();
    } catch (const ConnectorError& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.find('\n'), std::string::npos);
        EXPECT_NE(what.find("cannot connect to"), std::string::npos);
    }
}

}  // namespace
}  // namespace loadbench
