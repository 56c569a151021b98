// PgConnection: one libpq connection driven asynchronously on an io_context (libpq's non-blocking
// API: PQconnectPoll, PQsendQueryPrepared, PQconsumeInput/PQisBusy/PQgetResult). Requests are
// answered in order; with depth > 1 the connection runs in pipeline mode (each request followed by
// a sync, so a failed request aborts no other) and keeps up to `depth` requests in flight, which is
// how a few connections simulate many clients. A lost connection fails what was in flight, then
// reconnects with backoff (counted); requests submitted meanwhile wait for it.
//
// Timeouts (interrupt(), from the engine's watchdog) never wait for the server: a request still
// waiting to be sent fails alone; a request the server has and does not answer in time gives the
// whole connection up at once (every request in flight on it fails, the timed-out one as a
// timeout, the others pipelined with it as connection errors), a cancel request for its backend
// goes to a thread of its own (BlockingCallPool: libpq's PQcancel blocks, with no timeout), and
// the connection reopens with backoff, counted. Abandoning, rather than cancelling and waiting on
// the same connection, means a late cancel can never hit a later request, and a server that
// stopped or vanished holds nothing up. Connecting (and the setup after it) that takes longer
// than the URL's connect_timeout (10 s when it has none) starts over.
#pragma once

#include <libpq-fe.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "connectors/sql_session.hpp"
#include "engine/outcome.hpp"
#include "net/fd_readiness.hpp"
#include "net/reconnect_backoff.hpp"

namespace loadbench {

namespace asio = boost::asio;

struct PgStatement {
    std::string name;  // prepared statement name
    std::string sql;
};

struct PgConnectionSettings {
    std::string conninfo;                 // a URL or key=value string
    std::vector<std::string> setup;       // run once per connection (e.g. SET default_transaction_isolation)
    std::vector<PgStatement> statements;  // prepared once per connection
    std::size_t depth = 1;                // requests in flight at once; > 1 means pipeline mode
    std::size_t users = 1;                // sessions sharing the connection; the last release closes it
};

// What one request came to.
struct PgReply {
    bool ok = false;
    ErrorKind error = ErrorKind::none;
    bool retryable = false;
    std::string message;  // when !ok
    long rows_affected = 0;
    bool first_value_true = false;  // first column of the first row is boolean true
};

// Values as libpq text-format parameters: text by pointer (NUL-terminated, borrowed), null as a
// null pointer, numbers formatted into a buffer kept between calls, so nothing is allocated once
// warm.
class PgTextParams {
public:
    void set(std::span<const SqlValue> values);
    const char* const* data() const { return pointers_.data(); }
    int count() const { return static_cast<int>(pointers_.size()); }

private:
    static constexpr std::size_t kSlot = 32;  // an int64 or a shortest round-trip double, and its NUL
    std::vector<char> scratch_;
    std::vector<const char*> pointers_;
};

// One execution of a prepared statement. Owned by the caller and reused; must stay alive until
// complete() is called. set_params() takes up to kInlineParams bigints (test-1's path: formatted
// into inline buffers, nothing else touched); set_values() any number of SqlValues.
class PgRequest {
public:
    static constexpr int kInlineParams = 4;  // test-1's three, and --audit's op id
    const char* statement = nullptr;
    int param_count = 0;
    void set_params(std::initializer_list<long long> values);
    void set_values(std::span<const SqlValue> values);
    virtual void complete(const PgReply& reply) = 0;

protected:
    ~PgRequest() = default;

private:
    friend class PgConnection;
    char text_[kInlineParams][24] = {};
    const char* inline_values_[kInlineParams] = {text_[0], text_[1], text_[2], text_[3]};
    const char* const* values_ = inline_values_;
    PgTextParams params_;  // set_values()
    std::uint64_t reads_when_sent_ = 0;  // PgConnection's read count when this was sent

public:
    // The owner's attempt (one or several requests, e.g. BEGIN ... COMMIT) is over: an interrupt
    // meant for it, still on its way to the connection's thread, must not end the next one.
    // Called on the connection's thread.
    void attempt_ended() noexcept { attempt_.fetch_add(1, std::memory_order_release); }

private:
    std::atomic<std::uint64_t> attempt_{0};
};

// The first line of a libpq message, without trailing blanks.
std::string pg_first_line(const char* text);

// `conninfo` (a URL or key=value string) with its host names looked up now, once, into hostaddr:
// one host entry per address, in getaddrinfo's order, host kept (TLS verification and
// authentication still see the name). libpq otherwise resolves host names in PQconnectStart and
// PQconnectPoll, a blocking getaddrinfo on the connection's event loop at every reconnect.
// Returned unchanged when nothing needs a lookup (addresses, unix sockets, hostaddr given) or a
// lookup fails (libpq then reports it as it would).
std::string pg_conninfo_with_addresses(const std::string& conninfo);

// `conninfo` (a URL or key=value string) with connect_timeout=10 when it sets none (and the
// environment has no PGCONNECT_TIMEOUT), for the blocking connections of the control plane (check,
// prep, verify): without one, libpq's blocking connect to a server whose SYNs go unanswered waits
// out the kernel's SYN retries, over two minutes. Returned unchanged when it sets one, or when
// libpq cannot parse it (libpq then reports it as it would).
std::string pg_conninfo_with_connect_timeout(const std::string& conninfo);

// Maps a server error (SQLSTATE) to the engine's kind and whether retrying may succeed.
void classify_pg_error(const char* sqlstate, PgReply& reply);

class PgConnection : public std::enable_shared_from_this<PgConnection>, private FdReadiness::Listener {
public:
    PgConnection(asio::io_context& io, PgConnectionSettings settings);
    ~PgConnection();

    // Connects, runs the setup and prepares the statements; done("") on success, else the error.
    void open(std::function<void(std::string)> done);
    void submit(PgRequest& request);
    // Thread-safe, never blocks: the attempt `request` belongs to has timed out. On the
    // connection's thread, soon: if the request waits to be sent, it fails alone (timeout); if
    // the server has it, the connection is abandoned (see above). Nothing when that attempt has
    // ended meanwhile (PgRequest::attempt_ended).
    void interrupt(PgRequest& request) noexcept;
    // Bumped each time the connection is lost or abandoned: a transaction begun under another
    // incarnation went with its connection (no ROLLBACK to send).
    std::uint64_t incarnation() const { return incarnation_; }
    asio::io_context& io() const { return io_; }
    // A session is done with the connection; the last one closes it.
    void release();
    std::uint64_t reconnects() const { return reconnects_; }
    std::string last_error() const { return last_error_; }

private:
    enum class State { idle, connecting, setting_up, ready, broken, closed };
    class SetupStep;

    void on_ready(FdReadiness::Direction direction, const boost::system::error_code& ec) override;
    void start_connect();
    void poll_connect(PostgresPollingStatusType wanted);
    void on_connected();
    void run_setup(std::size_t step);
    void send_available();
    void flush();
    void arm_read();
    void on_readable();
    void drain();
    void push_sent(PgRequest* request);
    void finish_front();
    void lost(const std::string& message);
    void time_out(PgRequest& request);
    void abandon(PgRequest& timed_out);
    void drop_connection();
    void schedule_reconnect();
    void arm_connect_timer();
    void close_socket();

    asio::io_context& io_;
    PgConnectionSettings settings_;
    FdReadiness socket_;  // watches a duplicate of libpq's socket
    asio::steady_timer reconnect_timer_;
    asio::steady_timer connect_timer_;  // connect + setup must finish within connect_timeout_
    std::chrono::milliseconds connect_timeout_{10'000};
    PGconn* conn_ = nullptr;
    State state_ = State::idle;
    bool pipeline_ = false;
    std::deque<PgRequest*> waiting_;  // submitted, not yet sent
    std::deque<PgRequest*> sent_;     // sent, awaiting their results
    std::uint64_t reads_ = 0;         // PQconsumeInput calls so far
    PgReply reply_;                   // of sent_.front(), being assembled
    std::function<void(std::string)> open_done_;
    std::unique_ptr<SetupStep> setup_step_;
    std::size_t users_left_;
    std::uint64_t reconnects_ = 0;
    std::uint64_t incarnation_ = 0;
    std::uint64_t connect_seq_ = 0;  // which connect a connect timer belongs to
    ReconnectBackoff reconnect_backoff_;
    std::string last_error_;
    PGcancel* cancel_ = nullptr;  // for the backend of the connection now open; the connection's thread only
};

std::string pg_library_version();

}  // namespace loadbench
