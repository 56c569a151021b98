#include "test_servers.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace loadbench::testing {

namespace fs = std::filesystem;

namespace {

std::string find_binary(const std::string& name) {
    std::vector<std::string> dirs;
    if (const char* path = std::getenv("PATH")) {
        std::stringstream ss(path);
        for (std::string d; std::getline(ss, d, ':');)
            if (!d.empty()) dirs.push_back(d);
    }
    for (const char* d : {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin"}) dirs.emplace_back(d);
    for (const std::string& d : dirs) {
        const std::string candidate = d + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

// The unprivileged user a server runs as when we are root; empty when we are not root.
std::string server_user(std::initializer_list<const char*> candidates) {
    if (::geteuid() != 0) return {};
    for (const char* name : candidates)
        if (::getpwnam(name)) return name;
    return {};
}

// Directories of test processes that are gone (killed before they could clean up).
void remove_stale_dirs(const std::string& prefix) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + prefix.size()));
        if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), ec);
    }
}

// A fresh directory the server's user owns, named for this process.
std::string make_dir(const std::string& prefix, const std::string& user) {
    static std::atomic<int> counter{0};
    const fs::path dir = fs::temp_directory_path() /
                         (prefix + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)));
    fs::remove_all(dir);
    fs::create_directories(dir);
    if (!user.empty()) {
        const passwd* pw = ::getpwnam(user.c_str());
        if (pw && ::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) return {};
    }
    return dir.string();
}

std::string tail(const std::string& path, std::size_t lines = 5) {
    std::string text;
    run_command({"/usr/bin/tail", "-n", std::to_string(lines), path}, &text);
    return text;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

unsigned free_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(s);
    return ntohs(addr.sin_port);
}

int run_command(const std::vector<std::string>& argv, std::string* output) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(pipefd[1], 1);
        ::dup2(pipefd[1], 2);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipefd[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR);)
        if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(pipefd[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (output) *output = std::move(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ServerProcess::spawn(const std::vector<std::string>& argv, const std::string& user, const std::string& log) {
    kill();
    uid_t uid = 0;
    gid_t gid = 0;
    if (!user.empty()) {
        const passwd* pw = ::getpwnam(user.c_str());
        if (!pw) return false;
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {  // only async-signal-safe calls until exec
        ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        if (!user.empty() && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) ::_exit(126);
        // After the change of user (which clears it): the server dies with the test process.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    if (pid < 0) return false;
    pid_ = pid;
    return true;
}

void ServerProcess::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {}
    pid_ = -1;
}

void ServerProcess::stop(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);  // a stopped server cannot act on SIGTERM
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill();
}

int ServerProcess::wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    return -1;
}

bool ServerProcess::running() {
    if (pid_ <= 0) return false;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

void ServerProcess::signal(int sig) const {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    // kill() returns before every thread of the server has stopped: one can still answer a request
    // sent right after (seen in CI). The group stop is complete when waitpid reports it.
    if (sig == SIGSTOP) {
        int status = 0;
        while (::waitpid(pid_, &status, WUNTRACED) < 0 && errno == EINTR) {}
    }
}

bool wait_for_port(unsigned port, ServerProcess& process, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!process.running()) return false;
        const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        const bool up = ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(s);
        if (up) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

// --- MariaDB -------------------------------------------------------------------------------------

namespace {
std::string g_mariadbd, g_mariadb_client;
}

MariaDbTestServer& MariaDbTestServer::shared() {
    static MariaDbTestServer server;
    return server;
}

MariaDbTestServer::MariaDbTestServer() {
    g_mariadbd = find_binary("mariadbd");
    g_mariadb_client = find_binary("mariadb");
    const std::string installer = find_binary("mariadb-install-db");
    if (g_mariadbd.empty() || g_mariadb_client.empty() || installer.empty()) {
        reason_ = "MariaDB is not installed (Debian: apt-get install mariadb-server mariadb-client)";
        return;
    }
    user_ = server_user({"mysql", "nobody"});
    if (::geteuid() == 0 && user_.empty()) {
        reason_ = "running as root with no 'mysql' or 'nobody' user to run MariaDB as";
        return;
    }
    remove_stale_dirs("loadbench-test-mariadb-");
    dir_ = make_dir("loadbench-test-mariadb-", user_);
    port_ = free_port();
    ServerProcess install;
    if (!install.spawn({installer, "--no-defaults", "--datadir=" + dir_ + "/data", "--auth-root-authentication-method=normal",
                        "--skip-test-db", "--innodb-log-file-size=8M"},
                       user_, dir_ + "/install.log")) {
        ADD_FAILURE() << "cannot run mariadb-install-db";
        return;
    }
    if (install.wait(std::chrono::seconds(120)) != 0 || !fs::exists(fs::path(dir_) / "data" / "mysql")) {
        ADD_FAILURE() << "mariadb-install-db failed: " << tail(dir_ + "/install.log");
        return;
    }
    if (!start()) return;
    sql(std::string("CREATE USER '") + kUser + "'@'%' IDENTIFIED BY '" + kPassword + "'; GRANT ALL ON *.* TO '" + kUser +
        "'@'%'; CREATE DATABASE bench;");
}

MariaDbTestServer::~MariaDbTestServer() {
    process_.stop(std::chrono::seconds(10));
    if (!dir_.empty()) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

bool MariaDbTestServer::start() {
    process_.spawn({g_mariadbd, "--no-defaults", "--datadir=" + dir_ + "/data", "--port=" + std::to_string(port_),
                    "--bind-address=127.0.0.1", "--socket=" + dir_ + "/mariadbd.sock", "--pid-file=" + dir_ + "/mariadbd.pid",
                    "--log-error=" + dir_ + "/error.log", "--skip-name-resolve", "--innodb-buffer-pool-size=64M",
                    "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
                    "--max-connections=200"},
                   user_, dir_ + "/server.log");
    if (wait_for_port(port_, process_, std::chrono::seconds(60))) return true;
    ADD_FAILURE() << "mariadbd did not start: " << tail(dir_ + "/error.log");
    process_.kill();
    return false;
}

std::string MariaDbTestServer::sql(const std::string& statements) {
    std::string out;
    const int rc = run_command({g_mariadb_client, "--no-defaults", "-S", dir_ + "/mariadbd.sock", "-uroot", "-N", "-B", "-e",
                                statements},
                               &out);
    EXPECT_EQ(rc, 0) << statements << ": " << out;
    return trimmed(out);
}

// --- Redis ---------------------------------------------------------------------------------------

RedisTestServer& RedisTestServer::shared() {
    static RedisTestServer server;
    return server;
}

RedisTestServer::RedisTestServer(std::string password) : password_(std::move(password)) {
    if (find_binary("redis-server").empty() || find_binary("redis-cli").empty()) {
        reason_ = "Redis is not installed (Debian: apt-get install redis-server)";
        return;
    }
    user_ = server_user({"redis", "nobody"});
    remove_stale_dirs("loadbench-test-redis-");
    dir_ = make_dir("loadbench-test-redis-", user_);
    port_ = free_port();
    start();
}

RedisTestServer::~RedisTestServer() {
    process_.kill();
    if (!dir_.empty()) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

bool RedisTestServer::start() {
    std::vector<std::string> argv = {find_binary("redis-server"), "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", dir_, "--daemonize", "no"};
    if (!password_.empty()) {
        argv.push_back("--requirepass");
        argv.push_back(password_);
    }
    process_.spawn(argv, user_, dir_ + "/server.log");
    if (wait_for_port(port_, process_, std::chrono::seconds(20))) return true;
    ADD_FAILURE() << "redis-server did not start: " << tail(dir_ + "/server.log");
    process_.kill();
    return false;
}

std::string RedisTestServer::cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {find_binary("redis-cli"), "-h", "127.0.0.1", "-p", std::to_string(port_)};
    if (!password_.empty()) {
        argv.insert(argv.end(), {"--no-auth-warning", "-a", password_});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    EXPECT_EQ(run_command(argv, &out), 0) << out;
    return trimmed(out);
}

// --- EventLoop -------------------------------------------------------------------------------------

EventLoop::EventLoop() : guard_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

EventLoop::~EventLoop() {
    guard_.reset();
    io_.stop();
    thread_.join();
}

void EventLoop::run(std::function<void()> f) {
    std::promise<void> done;
    asio::post(io_, [&] {
        f();
        done.set_value();
    });
    done.get_future().wait();
}

}  // namespace loadbench::testing
