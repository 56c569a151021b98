// Throwaway servers for the connection tests, started by the test process itself: a MariaDB
// (mariadb-install-db into a temp directory, then mariadbd) and a Redis (redis-server --save ''
// --appendonly no), each on a free loopback port, never the machine's own 3306 or 6379. When we
// are root they run as an unprivileged user (mysql, redis or nobody) in a directory it owns. Each
// dies with the test process (PR_SET_PDEATHSIG), so a crashed test leaves no server behind; the
// directories of earlier test processes that are gone are removed when the next one starts.
//
// An event loop on its own thread (EventLoop) drives the connections, as the engine's threads do.
#pragma once

#include <sys/types.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace loadbench::testing {

namespace asio = boost::asio;

// A free TCP port on 127.0.0.1 (the kernel's choice).
unsigned free_port();

// Runs `argv` and returns its exit status and what it printed (stdout and stderr together).
int run_command(const std::vector<std::string>& argv, std::string* output = nullptr);

// A server process started by a test.
class ServerProcess {
public:
    ServerProcess() = default;
    ~ServerProcess() { kill(); }
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // Starts `argv` (as `user` when we are root) with its output to `log`; false if it could not.
    bool spawn(const std::vector<std::string>& argv, const std::string& user, const std::string& log);
    // SIGKILL, and reaps it.
    void kill();
    // SIGTERM, and waits up to `limit` for it to exit (then SIGKILL).
    void stop(std::chrono::milliseconds limit = std::chrono::seconds(20));
    // Waits up to `limit` for it to exit by itself (then SIGKILL); its exit status, -1 if killed.
    int wait(std::chrono::milliseconds limit);
    bool running();
    // Sends `sig`; for SIGSTOP, returns once every thread of the server has stopped.
    void signal(int sig) const;
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

// Waits until 127.0.0.1:port accepts a connection, or the process exits, or `limit` passes.
bool wait_for_port(unsigned port, ServerProcess& process, std::chrono::milliseconds limit);

class MariaDbTestServer {
public:
    // The process's server, installed and started on first use; nullopt-like (available() false)
    // with a reason when MariaDB is not installed.
    static MariaDbTestServer& shared();
    ~MariaDbTestServer();

    bool available() const { return reason_.empty(); }
    const std::string& unavailable_reason() const { return reason_; }
    unsigned port() const { return port_; }
    // A user created at start, with all privileges.
    static constexpr const char* kUser = "bench";
    static constexpr const char* kPassword = "bench-secret";

    bool start();                  // on the same port and data directory; true when it accepts connections
    void kill() { process_.kill(); }
    void stop() { process_.stop(); }
    bool running() { return process_.running(); }
    void signal(int sig) const { process_.signal(sig); }
    // Runs SQL through the `mariadb` client as root (over the server's Unix socket); its output
    // (tab-separated, no headers). Fails the test on an error.
    std::string sql(const std::string& statements);

private:
    MariaDbTestServer();
    std::string reason_;
    std::string dir_;
    std::string user_;
    unsigned port_ = 0;
    ServerProcess process_;
};

class RedisTestServer {
public:
    // Prefer the process's shared one; a test that needs its own (a password) makes one.
    static RedisTestServer& shared();
    explicit RedisTestServer(std::string password = "");
    ~RedisTestServer();

    bool available() const { return reason_.empty(); }
    const std::string& unavailable_reason() const { return reason_; }
    unsigned port() const { return port_; }

    bool start();
    void kill() { process_.kill(); }
    bool running() { return process_.running(); }
    void signal(int sig) const { process_.signal(sig); }
    // Runs one command through redis-cli; its output. Fails the test on an error.
    std::string cli(const std::vector<std::string>& args);

private:
    std::string reason_;
    std::string dir_;
    std::string user_;
    std::string password_;
    unsigned port_ = 0;
    ServerProcess process_;
};

// An io_context run by its own thread for the test's lifetime.
class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    asio::io_context& io() { return io_; }
    // Runs `f` on the loop's thread and waits for it.
    void run(std::function<void()> f);
    void post(std::function<void()> f) { asio::post(io_, std::move(f)); }

private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::thread thread_;
};

// Collects what a request completes with, across threads.
template <class Reply>
class Replies {
public:
    void add(const Reply& reply) {
        std::lock_guard lock(mutex_);
        replies_.push_back(reply);
        ++count_;
        cv_.notify_all();
    }
    // The next reply, or nullopt after `limit`.
    std::optional<Reply> next(std::chrono::milliseconds limit = std::chrono::seconds(15)) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, limit, [&] { return !replies_.empty(); })) return std::nullopt;
        Reply r = std::move(replies_.front());
        replies_.pop_front();
        return r;
    }
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return count_;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Reply> replies_;
    std::size_t count_ = 0;
};

}  // namespace loadbench::testing
