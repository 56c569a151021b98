// A PostgreSQL server of known behaviour for the stall tests: it speaks just enough of the wire
// protocol (version 3: startup, simple and extended query, pipelining, cancel requests) for
// PgConnection, answers every query with one boolean `true` row, and can be frozen as SIGSTOP
// freezes a real server: the kernel still accepts connections and takes their bytes, nothing is
// answered (startups, queries, cancel requests alike) until it thaws. It notes when each request
// arrived unanswered and when the client closed its connection, so a test can tell how late a
// timeout fired, from the outside.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loadbench::testing {

class FakePostgres {
public:
    using Clock = std::chrono::steady_clock;

    // A request that got no answer before its client closed the connection.
    struct Unanswered {
        Clock::time_point arrived;
        Clock::time_point closed;
    };

    FakePostgres() {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(listener_, 128);
        socklen_t len = sizeof addr;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~FakePostgres() {
        stopping_ = true;
        ::shutdown(listener_, SHUT_RDWR);
        acceptor_.join();
        std::vector<std::thread> handlers;
        {
            std::lock_guard lock(mutex_);
            handlers.swap(handlers_);
        }
        for (auto& t : handlers) t.join();
        ::close(listener_);
    }

    std::string url() const {
        return "host=127.0.0.1 port=" + std::to_string(port_) +
               " user=fake dbname=fake sslmode=disable gssencmode=disable";
    }

    void freeze() { frozen_ = true; }
    void thaw() { frozen_ = false; }

    int connections() const { return connections_.load(); }     // startups and cancels, accepted
    int cancel_requests() const { return cancels_.load(); }      // received (answered or not)
    int answered_requests() const { return answered_.load(); }   // queries answered
    int received_executes() const { return executes_.load(); }    // extended-protocol executions received
    std::vector<Unanswered> unanswered() const {
        std::lock_guard lock(mutex_);
        return unanswered_;
    }

private:
    struct Conn {
        int fd;
        std::string in, out;
        std::vector<Clock::time_point> pending;  // arrival of each request whose answer is in `out`
    };

    void accept_loop() {
        for (;;) {
            const int fd = ::accept(listener_, nullptr, nullptr);
            if (fd < 0) return;  // shut down
            ++connections_;
            std::lock_guard lock(mutex_);
            handlers_.emplace_back([this, fd] {
                serve(fd);
                ::close(fd);
            });
        }
    }

    static void put32(std::string& s, std::uint32_t v) {
        v = htonl(v);
        s.append(reinterpret_cast<const char*>(&v), 4);
    }
    static std::uint32_t get32(const char* p) {
        std::uint32_t v;
        std::memcpy(&v, p, 4);
        return ntohl(v);
    }
    static void message(std::string& out, char type, const std::string& body) {
        out += type;
        put32(out, static_cast<std::uint32_t>(body.size() + 4));
        out += body;
    }

    // Reads what is there (waiting up to 5 ms); false at EOF or shutdown.
    bool read_some(Conn& c) {
        pollfd p{c.fd, POLLIN, 0};
        if (::poll(&p, 1, 5) <= 0) return !stopping_;
        char buf[4096];
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) return false;
        c.in.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    // Sends what is due unless frozen.
    void flush(Conn& c) {
        if (frozen_ || c.out.empty()) return;
        ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        answered_ += static_cast<int>(c.pending.size());
        c.out.clear();
        c.pending.clear();
    }

    void serve(int fd) {
        Conn c{fd, {}, {}, {}};
        // Startup: length-prefixed packets with no type byte, SSL/GSS requests refused first.
        for (;;) {
            while (c.in.size() < 4 || c.in.size() < get32(c.in.data())) {
                if (!read_some(c)) return;
            }
            const std::uint32_t len = get32(c.in.data());
            const std::uint32_t code = get32(c.in.data() + 4);
            c.in.erase(0, len);
            if (code == 80877102) {  // CancelRequest: answered by closing, once thawed
                ++cancels_;
                while (frozen_ && !stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
                return;
            }
            if (code == 80877103 || code == 80877104) {  // SSL or GSS encryption: no
                c.out += 'N';
                while (frozen_ && !stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
                flush(c);
                continue;
            }
            break;
        }
        static std::atomic<std::uint32_t> next_pid{1000};
        std::string key;
        put32(key, next_pid++);
        put32(key, 42);
        message(c.out, 'R', std::string("\0\0\0\0", 4));  // AuthenticationOk
        for (const auto& [name, value] : {std::pair{"server_version", "15.0"}, {"client_encoding", "UTF8"},
                                          {"standard_conforming_strings", "on"}, {"integer_datetimes", "on"}})
            message(c.out, 'S', std::string(name) + '\0' + value + '\0');
        message(c.out, 'K', key);
        message(c.out, 'Z', "I");
        // Queries: each request (up to its Sync, or a simple Query) is answered as a whole.
        for (;;) {
            flush(c);
            while (c.in.size() >= 5 && c.in.size() >= 1 + get32(c.in.data() + 1)) {
                const char type = c.in[0];
                const std::uint32_t len = get32(c.in.data() + 1);
                c.in.erase(0, 1 + len);
                switch (type) {
                    case 'Q':
                        message(c.out, 'C', std::string("SET") + '\0');
                        message(c.out, 'Z', "I");
                        c.pending.push_back(Clock::now());
                        break;
                    case 'P': message(c.out, '1', ""); break;
                    case 'B': message(c.out, '2', ""); break;
                    case 'D': {  // one boolean column
                        std::string row;
                        row += '\0';
                        row += '\1';
                        row += std::string("transfer") + '\0';
                        put32(row, 0);
                        row += std::string("\0\0", 2);
                        put32(row, 16);  // bool
                        row += std::string("\0\1", 2);
                        put32(row, 0xFFFFFFFF);
                        row += std::string("\0\0", 2);
                        message(c.out, 'T', row);
                        break;
                    }
                    case 'E': {
                        ++executes_;
                        std::string data("\0\1", 2);
                        put32(data, 1);
                        data += 't';
                        message(c.out, 'D', data);
                        message(c.out, 'C', std::string("SELECT 1") + '\0');
                        c.pending.push_back(Clock::now());
                        break;
                    }
                    case 'S': message(c.out, 'Z', "I"); break;
                    default: break;  // Terminate, Flush...
                }
            }
            if (!read_some(c)) break;
        }
        // The client closed with requests unanswered (a frozen server's).
        const auto closed = Clock::now();
        std::lock_guard lock(mutex_);
        for (const auto& arrived : c.pending) unanswered_.push_back({arrived, closed});
    }

    int listener_ = -1;
    unsigned short port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> frozen_{false};
    std::atomic<int> connections_{0}, cancels_{0}, answered_{0}, executes_{0};
    std::thread acceptor_;
    mutable std::mutex mutex_;
    std::vector<std::thread> handlers_;
    std::vector<Unanswered> unanswered_;
};

}  // namespace loadbench::testing
