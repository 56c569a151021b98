// Running out of descriptors (or memory, or local ports) reads as what it is, in every connector:
// "too many open files (EMFILE): raise the limit with ulimit -n, now N", never "Operation canceled".
// Each test opens a connection in a child process whose RLIMIT_NOFILE is lowered and every
// descriptor below it taken (a child: the sanitizers' own checks need descriptors, and complain
// on its stderr, which goes nowhere).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "connectors/pg_connection.hpp"
#include "connectors/sqlite_connector.hpp"
#include "net/http_connection.hpp"
#include "net/http_url.hpp"
#include "net/system_error.hpp"
#include "net/ws_connection.hpp"

namespace loadbench {
namespace {

// While alive: no descriptor can be opened (EMFILE), and the soft limit is `limit`.
class NoFreeDescriptors {
public:
    NoFreeDescriptors() {
        getrlimit(RLIMIT_NOFILE, &saved_);
        int highest = 0;
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
            highest = std::max(highest, std::stoi(entry.path().filename().string()));
        rlimit lowered = saved_;
        lowered.rlim_cur = static_cast<rlim_t>(highest + 16);
        setrlimit(RLIMIT_NOFILE, &lowered);
        limit = lowered.rlim_cur;
        for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers_.push_back(fd);
    }
    ~NoFreeDescriptors() {
        for (int fd : fillers_) ::close(fd);
        setrlimit(RLIMIT_NOFILE, &saved_);
    }
    rlim_t limit = 0;

private:
    rlimit saved_{};
    std::vector<int> fillers_;
};

// What `action` answers in a child process; `action` calls its argument when everything it needs
// before is set up, which takes every free descriptor and returns the lowered limit, written
// after the answer as "\nlimit=N".
std::string in_child(const std::function<std::string(const std::function<rlim_t()>&)>& action) {
    int out[2];
    if (::pipe(out) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(out[0]);
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 2);
        ::close(null);
        std::unique_ptr<NoFreeDescriptors> full;
        std::string answer = action([&] {
            full = std::make_unique<NoFreeDescriptors>();
            return full->limit;
        });
        const rlim_t limit = full ? full->limit : 0;
        full.reset();
        answer += "\nlimit=" + std::to_string(limit);
        ssize_t ignored = ::write(out[1], answer.data(), answer.size());
        (void)ignored;
        ::_exit(0);
    }
    ::close(out[1]);
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    return answer;
}

void expect_names_emfile(const std::string& answer) {
    const auto at = answer.rfind("\nlimit=");
    ASSERT_NE(at, std::string::npos) << answer;
    const std::string message = answer.substr(0, at);
    const std::string limit = answer.substr(at + 7);
    EXPECT_NE(message.find("too many open files (EMFILE): raise the limit with ulimit -n, now " + limit), std::string::npos)
        << message;
    EXPECT_EQ(message.find("Operation canceled"), std::string::npos) << message;
}

TEST(SystemError, ResourceLimitsAreNamedWithWhatToRaise) {
    EXPECT_NE(describe_errno(EMFILE).find("ulimit -n, now "), std::string::npos);
    EXPECT_NE(describe_errno(ENFILE).find("too many open files in the system (ENFILE): raise fs.file-max, now "),
              std::string::npos);
    EXPECT_EQ(describe_errno(ENOMEM), "out of memory (ENOMEM)");
    EXPECT_NE(describe_errno(EADDRNOTAVAIL).find("ephemeral ports exhausted, net.ipv4.ip_local_port_range is "),
              std::string::npos);
    EXPECT_EQ(describe_errno(ECONNREFUSED), std::strerror(ECONNREFUSED));
    EXPECT_EQ(describe_error(boost::system::error_code(EMFILE, boost::system::system_category())), describe_errno(EMFILE));
    // libpq's messages carry strerror's words: ENFILE's begin with EMFILE's, and must not be taken for them.
    EXPECT_EQ(explain_resource_errors("could not create socket: Too many open files\n"),
              "could not create socket: " + describe_errno(EMFILE) + "\n");
    EXPECT_EQ(explain_resource_errors("could not create socket: Too many open files in system"),
              "could not create socket: " + describe_errno(ENFILE));
    EXPECT_EQ(explain_resource_errors("could not connect: Cannot assign requested address"),
              "could not connect: " + describe_errno(EADDRNOTAVAIL));
    EXPECT_EQ(explain_resource_errors("connection refused"), "connection refused");
}

TEST(ResourceErrors, PostgresConnectionSaysItIsOutOfDescriptors) {
    expect_names_emfile(in_child([](const auto& exhaust) {
        asio::io_context io;
        asio::steady_timer reactor(io);  // the event loop's own descriptors first
        PgConnectionSettings settings;
        settings.conninfo = "host=127.0.0.1 port=1 user=u dbname=d sslmode=disable gssencmode=disable";
        auto conn = std::make_shared<PgConnection>(io, settings);
        std::string error;
        exhaust();
        conn->open([&](std::string e) { error = std::move(e); });
        io.run_for(std::chrono::seconds(5));
        return error;
    }));
}

TEST(ResourceErrors, HttpConnectionSaysItIsOutOfDescriptors) {
    expect_names_emfile(in_child([](const auto& exhaust) {
        asio::io_context io;
        asio::steady_timer reactor(io);
        auto endpoints = std::make_shared<const TcpEndpoints>(TcpEndpoints{{asio::ip::make_address("127.0.0.1"), 1}});
        auto conn = std::make_shared<HttpConnection>(io, endpoints);
        std::string error;
        exhaust();
        conn->open([&](std::string e) { error = std::move(e); });
        io.run_for(std::chrono::seconds(5));
        return error;
    }));
}

TEST(ResourceErrors, HttpCallSaysItIsOutOfDescriptors) {
    expect_names_emfile(in_child([](const auto& exhaust) {
        const HttpUrl url = parse_http_url("http://127.0.0.1:1");
        exhaust();
        try {
            http_call(url, http::verb::get, "/", {}, "", 5, "check");
            return std::string("no error");
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
    }));
}

TEST(ResourceErrors, WebSocketConnectionSaysItIsOutOfDescriptors) {
    expect_names_emfile(in_child([](const auto& exhaust) {
        asio::io_context io;
        asio::steady_timer reactor(io);
        auto endpoints = std::make_shared<const TcpEndpoints>(TcpEndpoints{{asio::ip::make_address("127.0.0.1"), 1}});
        auto settings = std::make_shared<WsSettings>(WsSettings{"127.0.0.1", "/", "p", ""});
        auto conn = std::make_shared<WsConnection>(io, endpoints, settings);
        std::string error;
        exhaust();
        conn->open(nullptr, [&](std::string e) { error = std::move(e); });
        io.run_for(std::chrono::seconds(5));
        return error;
    }));
}

TEST(ResourceErrors, SqliteSessionSaysItIsOutOfDescriptors) {
    const auto dir = std::filesystem::temp_directory_path() / ("loadbench-emfile-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    SqliteConnector c(ConnectorOptions{{"file", (dir / "t.db").string()}, {"mode", "wal"}});
    c.prep_accounts({.accounts = 10, .initial_balance = 100});
    expect_names_emfile(in_child([&](const auto& exhaust) {
        exhaust();
        try {
            c.open_transfer_session();
            return std::string("no error");
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
    }));
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loadbench
