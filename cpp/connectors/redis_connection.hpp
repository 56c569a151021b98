// RedisConnection: one Redis (or Valkey) connection driven on an io_context through hiredis's
// asynchronous context. hiredis 0.14 has no Boost.Asio adapter; this class is one: the context's
// event hooks (ev.addRead/delRead/addWrite/delWrite/cleanup) become waits on its socket through
// FdReadiness, registered once. Replies come back in the order commands were sent, so up to
// `depth` requests are in flight at once (pipelining); more wait, in order.
//
// Scripts are loaded (SCRIPT LOAD) on every connection and run with EVALSHA; a NOSCRIPT reply
// (someone ran SCRIPT FLUSH) loads the script again and resends the request once (counted in
// script_reloads()). An EXEC that answers nil (a WATCHed key changed) is a retryable serialization
// failure when the request says so. A lost connection fails what was in flight (connection, not
// retryable: a write may have been applied), then reconnects with backoff (counted, and reported
// through note_reconnect()); requests submitted meanwhile wait for it. interrupt() never blocks:
// it posts to the io_context, which abandons the connection if the targeted request is in flight
// (Redis has no way to cancel one command), then reconnects at once.
// The socket is watched for replies only while one is due: an idle connection leaves its io_context
// without pending work.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/outcome.hpp"
#include "net/fd_readiness.hpp"
#include "net/reconnect_backoff.hpp"

namespace loadbench {

namespace asio = boost::asio;

// redis://[[user]:password@]host[:port][/database]
struct RedisEndpoint {
    std::string host = "127.0.0.1";
    unsigned port = 6379;
    std::string user;      // empty: AUTH password (the default user)
    std::string password;  // empty: no AUTH
    int database = 0;
};

// Parses redis://[[user]:password@]host[:port][/database]; user and password may be percent-encoded.
// Throws ConnectorConfigError (one line, the password never in it) when the URL is not usable
// (rediss:// and unix sockets are not supported yet).
RedisEndpoint parse_redis_url(std::string_view url);

struct RedisSettings {
    RedisEndpoint endpoint;
    std::vector<std::string> scripts;  // Lua sources, loaded on every connection; requests run them by index
    std::size_t depth = 1;             // requests in flight at once (pipelining)
    std::size_t users = 1;             // sessions sharing the connection; the last release closes it
    // Connecting plus setup (AUTH, SELECT, SCRIPT LOAD): a server that accepts the TCP connection
    // but never answers (stopped) counts as lost when this expires.
    std::chrono::milliseconds connect_timeout{10'000};
};

// What one request came to.
struct RedisReply {
    bool ok = false;
    ErrorKind error = ErrorKind::none;
    bool retryable = false;
    bool configuration = false;  // NOAUTH, WRONGPASS, NOPERM, a refused AUTH: the user's configuration
    std::string message;         // when !ok: the server's error line, or what happened to the connection
    int type = 0;                // REDIS_REPLY_* of the reply; 0 when none came
    long long integer = 0;       // of an integer reply
    std::size_t elements = 0;    // of an array reply
    const redisReply* raw = nullptr;  // the whole reply; valid only during complete()
};

// One argument of a command: text (borrowed until the command is formatted, i.e. during the call
// that takes it) or an integer.
struct RedisArg {
    std::string_view text;
    long long number = 0;
    bool is_number = false;

    RedisArg(const char* s) : text(s) {}
    RedisArg(std::string_view s) : text(s) {}
    RedisArg(const std::string& s) : text(s) {}
    template <std::integral T>
    RedisArg(T v) : number(static_cast<long long>(v)), is_number(true) {}
};

// One command, formatted into the request (RESP) when set. Owned by the caller and reused (the
// buffer keeps its capacity: nothing allocated once warm); must stay alive until complete().
class RedisRequest {
public:
    static constexpr std::size_t kNoScript = std::numeric_limits<std::size_t>::max();

    void command(std::initializer_list<RedisArg> args);
    // EVALSHA of script `script` (an index into RedisSettings::scripts) with these keys and arguments.
    void script(std::size_t script, std::initializer_list<RedisArg> keys, std::initializer_list<RedisArg> args);
    // EXEC after WATCH: a nil reply means a watched key changed, a retryable serialization failure.
    bool nil_is_conflict = false;

    virtual void complete(const RedisReply& reply) = 0;

protected:
    ~RedisRequest() = default;

private:
    friend class RedisConnection;
    void add(const RedisArg& arg);
    std::string body_;  // the arguments, RESP bulk strings
    std::size_t argc_ = 0;
    std::size_t script_ = kNoScript;
    bool internal_ = false;     // the connection's own (setup), not counted against depth
    bool reloaded_ = false;     // already resent after NOSCRIPT
    std::uint64_t reads_when_sent_ = 0;
};

// Redis's own SHA1 of a script (what EVALSHA names it by), as 40 lowercase hex digits.
std::string redis_script_sha1(std::string_view source);

// Maps an error reply's first word to the engine's kind: NOAUTH/WRONGPASS/NOPERM: other and
// configuration; BUSY (a script runs), LOADING, TRYAGAIN, MASTERDOWN: busy, retryable; anything
// else (ERR, WRONGTYPE, EXECABORT, OOM, a script's own error): other.
void classify_redis_error(std::string_view message, RedisReply& reply);

class RedisConnection : public std::enable_shared_from_this<RedisConnection>, private FdReadiness::Listener {
public:
    RedisConnection(asio::io_context& io, RedisSettings settings);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    // Connects, authenticates, selects the database and loads the scripts; `done` gets an ok reply or
    // the error (configuration set for a refused password). Called once, later, on the io_context.
    // A first connection that fails is not retried.
    void open(std::function<void(const RedisReply&)> done);
    // On the io_context's thread. complete() is called exactly once, later, never inside submit().
    void submit(RedisRequest& request);
    // Thread-safe and never blocks: posts to the io_context, where `request` (nullptr: everything in
    // flight) fails as a timeout. If it is in flight, the connection is abandoned: the other requests
    // in flight on it fail as connection errors, and it reconnects at once. If it waits, it leaves the
    // queue. With nullptr, requests waiting for a reconnect fail too. `request` is only compared,
    // never touched.
    void interrupt(const RedisRequest* request = nullptr) noexcept;
    // A session is done with the connection; the last one closes it.
    void release();

    std::uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }
    std::uint64_t script_reloads() const { return script_reloads_; }
    // Requests sent and not yet answered (on the io_context's thread).
    std::size_t in_flight() const { return user_in_flight_; }
    std::string last_error() const { return last_error_; }
    const std::string& script_sha(std::size_t script) const { return shas_.at(script); }

private:
    enum class State { idle, connecting, ready, broken, closed };
    class SetupStep;

    static void on_reply_thunk(redisAsyncContext* ac, void* reply, void* privdata);
    static void add_read_hook(void* self);
    static void del_read_hook(void* self);
    static void add_write_hook(void* self);
    static void del_write_hook(void* self);
    static void cleanup_hook(void* self);

    void on_ready(FdReadiness::Direction direction, const boost::system::error_code& ec) override;
    void after_hiredis();
    void on_reply(RedisRequest* request, redisReply* reply);
    void start_connect();
    void on_setup_step(SetupStep& step, const RedisReply& reply);
    bool send(RedisRequest& request);
    void send_available();
    void deliver(RedisRequest* request, const RedisReply& reply);
    void drop(const std::string& message, bool configuration);
    void on_cleanup();
    void after_loss(bool opening, bool configuration);
    void schedule_reconnect(bool at_once);
    void on_interrupt(const RedisRequest* request);

    asio::io_context& io_;
    RedisSettings settings_;
    std::vector<std::string> shas_;
    FdReadiness socket_;  // watches a duplicate of the context's socket
    asio::steady_timer deadline_timer_;
    asio::steady_timer reconnect_timer_;
    redisAsyncContext* ac_ = nullptr;
    State state_ = State::idle;
    bool want_read_ = false;
    bool want_write_ = false;
    bool in_hiredis_ = false;  // inside redisAsyncHandleRead/Write: they must not be entered again
    bool in_submit_ = false;
    bool freeing_ = false;     // we free the context (not a loss the library found)
    bool destroying_ = false;
    bool abandoning_ = false;
    const RedisRequest* abandon_target_ = nullptr;
    std::uint64_t reads_ = 0;  // redisAsyncHandleRead calls so far
    std::deque<RedisRequest*> sent_;     // in flight, in the order replies will come
    std::deque<RedisRequest*> waiting_;  // submitted, not yet sent
    std::size_t user_in_flight_ = 0;
    std::vector<std::unique_ptr<SetupStep>> setup_;
    std::size_t setup_left_ = 0;
    std::string scratch_;  // a command being formatted
    std::function<void(const RedisReply&)> open_done_;
    std::size_t users_left_;
    std::atomic<std::uint64_t> reconnects_{0};
    std::uint64_t script_reloads_ = 0;
    ReconnectBackoff reconnect_backoff_;
    std::string last_error_;
};

std::string hiredis_library_version();

}  // namespace loadbench
