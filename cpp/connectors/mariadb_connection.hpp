// MariaDbConnection: one MariaDB/MySQL connection driven on an io_context through MariaDB
// Connector/C's non-blocking API (MYSQL_OPT_NONBLOCK: mysql_real_connect_start/_cont,
// mysql_stmt_execute_start/_cont, ...). The classic protocol answers one command at a time, so a
// connection runs one request at a time; requests submitted meanwhile wait, in order. Statements are
// server-side prepared once per connection (binary protocol) and executed with bound parameters; a
// plain-query path (text protocol) serves setup and transaction control.
//
// A lost connection fails the request in flight (connection, not retryable: it may have
// committed), then reconnects with backoff (counted, and reported through note_reconnect());
// requests submitted meanwhile wait for it. interrupt() never blocks: it posts to the io_context,
// which fails the targeted request as a timeout and abandons the connection (shutdown of its
// socket; the server rolls back what the session had open when it sees the close), then
// reconnects at once. Abandoning, not KILL QUERY over a control connection: it needs no second
// connection, works when the server is stopped (SIGSTOP: a KILL would wait too), and the next
// request starts on a session with no transaction left open by the killed statement.
#pragma once

#include <mysql.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/sql_session.hpp"
#include "engine/outcome.hpp"
#include "net/fd_readiness.hpp"
#include "net/reconnect_backoff.hpp"

namespace loadbench {

namespace asio = boost::asio;

// Where the server is and who we are: mysql://user:password@host:port/database.
struct MariaDbEndpoint {
    std::string host = "127.0.0.1";
    unsigned port = 3306;
    std::string user = "root";
    std::string password;
    std::string database;
};

// Parses mysql://[user[:password]@]host[:port][/database] (also mariadb://); user and password may be
// percent-encoded. Throws ConnectorConfigError (one line, the password never in it) when the URL is
// not usable. Query options (?ssl=...) are not supported yet and are rejected.
MariaDbEndpoint parse_mariadb_url(std::string_view url);

struct MariaDbSettings {
    MariaDbEndpoint endpoint;
    std::vector<std::string> setup;       // plain queries run once per connection, in order (SET SESSION ...)
    std::vector<std::string> statements;  // prepared once per connection; requests name them by index
    std::size_t users = 1;                // sessions sharing the connection; the last release closes it
    // Connecting plus setup: a server that accepts the TCP connection but never answers (stopped)
    // counts as lost when this expires.
    std::chrono::milliseconds connect_timeout{10'000};
};

// What one request came to.
struct MariaDbReply {
    static constexpr std::size_t kColumns = 4;

    bool ok = false;
    ErrorKind error = ErrorKind::none;
    bool retryable = false;
    bool configuration = false;  // access denied, unknown database: the user's configuration, not a failure
    unsigned server_error = 0;   // the server's (1213, 1062...) or the client library's (2013...) error number
    std::string message;         // when !ok: "ERROR 1213 (40001): Deadlock found ..."
    // Rows a write matched (the connection sets CLIENT_FOUND_ROWS, so an UPDATE that leaves a value
    // unchanged still counts, as in PostgreSQL), of the request's last statement.
    std::int64_t rows_affected = 0;
    std::int64_t rows = 0;  // rows returned, over every result set (a CALL may return several)
    // The first row of the first result set, its first kColumns columns as integers (nullopt for NULL
    // or a value that is not an integer).
    std::array<std::optional<std::int64_t>, kColumns> first_row{};
};

// One execution: of prepared statement `statement` (an index into MariaDbSettings::statements) with
// the parameters set, or, when `sql` is set, of that plain query (text protocol, no parameters).
// Owned by the caller and reused; must stay alive until complete() is called.
class MariaDbRequest {
public:
    static constexpr std::size_t kInlineParams = 4;

    std::size_t statement = 0;
    const char* sql = nullptr;  // a plain query instead (NUL-terminated, borrowed until complete())

    // Up to kInlineParams bigints (test-1's path: copied, nothing allocated).
    void set_params(std::initializer_list<long long> values);
    // Any number of values; the span (and the text it points to) must live until complete().
    void set_values(std::span<const SqlValue> values);

    virtual void complete(const MariaDbReply& reply) = 0;

protected:
    ~MariaDbRequest() = default;

private:
    friend class MariaDbConnection;
    std::array<long long, kInlineParams> inline_{};
    std::size_t inline_count_ = 0;
    std::span<const SqlValue> values_;
    bool use_values_ = false;
};

// Maps a server or client-library error number to the engine's kind and whether retrying may
// succeed:
//   1213 deadlock: deadlock, retryable (InnoDB has rolled the whole transaction back);
//   1205 lock wait timeout: busy, retryable (only the statement was rolled back, unless the server
//        runs innodb_rollback_on_timeout: the caller rolls back before retrying);
//   1020 record changed since read (snapshot isolation): serialization, retryable;
//   1062/1586 duplicate key, 1451/1452 foreign key, 1048 NOT NULL, 4025 CHECK: constraint;
//   1317 interrupted, 1969/3024 statement time limit: timeout;
//   2002/2003/2006/2013/2055 and the server going away (1053, 1927, 1040): connection;
//   1044/1045/1049/1698 access denied or unknown database: other, and `configuration`;
//   2014 out of sync, 2027 malformed packet: protocol; everything else: other.
void classify_mariadb_error(unsigned code, MariaDbReply& reply);

class MariaDbConnection : public std::enable_shared_from_this<MariaDbConnection>, private FdReadiness::Listener {
public:
    MariaDbConnection(asio::io_context& io, MariaDbSettings settings);
    ~MariaDbConnection();
    MariaDbConnection(const MariaDbConnection&) = delete;
    MariaDbConnection& operator=(const MariaDbConnection&) = delete;

    // Connects, runs the setup and prepares the statements; `done` gets an ok reply, or the error
    // (configuration set for access denied). Called once, later, on the io_context. A first
    // connection that fails is not retried.
    void open(std::function<void(const MariaDbReply&)> done);
    // On the io_context's thread. complete() is called exactly once, later, never inside submit().
    void submit(MariaDbRequest& request);
    // Thread-safe and never blocks: posts to the io_context, where `request` (nullptr: whatever runs
    // now) fails as a timeout: if it is running, the connection is abandoned and reconnected at
    // once; if it waits, it leaves the queue. With nullptr, requests waiting for a reconnect fail too.
    // `request` is only compared, never touched, so a request completed meanwhile is safe to name.
    void interrupt(const MariaDbRequest* request = nullptr) noexcept;
    // A session is done with the connection; the last one closes it.
    void release();

    std::uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }
    std::string last_error() const { return last_error_; }
    // The server's connection id (for KILL, or to find the session in PROCESSLIST); 0 when not connected.
    unsigned long thread_id() const;

private:
    enum class State { idle, connecting, setting_up, ready, broken, closed };
    // A step of a non-blocking call in progress: calls the library's _cont with the events that
    // occurred, returns what it returns (0: done).
    using Cont = int (MariaDbConnection::*)(int events);
    using Then = void (MariaDbConnection::*)();
    struct Prepared {
        MYSQL_STMT* stmt = nullptr;
        unsigned params = 0;
        std::vector<MYSQL_BIND> binds;
        std::vector<long long> ints;
        std::vector<double> reals;
        std::vector<unsigned long> lengths;
        std::vector<enum_field_types> bound;  // types bound last time; empty: never bound
    };

    void on_ready(FdReadiness::Direction direction, const boost::system::error_code& ec) override;
    void await(int status, Cont cont, Then then);
    void wait_for(int status);
    void resume(int events);
    void abort_call();

    void start_connect();
    int connect_cont(int events);
    void on_connected();
    void run_setup();
    void prepare_next();
    int prepare_cont(int events);
    void on_prepared();
    void on_ready_to_serve();

    void send_next();
    bool bind_params(Prepared& p, MariaDbRequest& r);
    void start_execute();
    int execute_cont(int events);
    void on_executed();
    void start_stmt_result();
    int fetch_cont(int events);
    void on_fetched();
    void fetch_rows(int status);
    void on_fetched_all();
    int stmt_next_cont(int events);
    void on_stmt_next();

    void start_query(const char* sql);
    int query_cont(int events);
    void on_queried();
    void text_result();
    int store_cont(int events);
    void on_stored();
    void after_text_result();
    int next_cont(int events);
    void on_next();

    void finish_ok();
    void request_done();
    void deliver(MariaDbRequest* request, const MariaDbReply& reply);
    void fail_with_error(unsigned code, std::string message, bool mid_result);
    void fail_with_stmt_error(MYSQL_STMT* stmt, bool mid_result = false);
    void fail_with_connection_error(bool mid_result = false);
    void lost(std::string message, unsigned code, bool configuration);
    void close_connection(bool polite);
    void schedule_reconnect(bool at_once);
    void on_interrupt(const MariaDbRequest* request);

    asio::io_context& io_;
    MariaDbSettings settings_;
    FdReadiness socket_;  // watches a duplicate of the library's socket
    asio::steady_timer call_timer_;       // a call's MYSQL_WAIT_TIMEOUT
    asio::steady_timer deadline_timer_;   // connect + setup
    asio::steady_timer reconnect_timer_;
    MYSQL* conn_ = nullptr;
    State state_ = State::idle;
    std::vector<Prepared> prepared_;

    // The non-blocking call in progress.
    bool call_active_ = false;
    int awaiting_ = 0;             // MYSQL_WAIT_* bits the call waits for
    std::uint64_t call_seq_ = 0;   // tells a stale timer from the current wait
    Cont cont_ = nullptr;
    Then then_ = nullptr;
    int int_ret_ = 0;
    my_bool bool_ret_ = 0;
    MYSQL* connect_ret_ = nullptr;
    MYSQL_RES* result_ = nullptr;

    // Setup progress.
    std::size_t setup_step_ = 0;
    bool in_setup_query_ = false;

    // The request in flight and its reply being assembled.
    MariaDbRequest* in_flight_ = nullptr;
    Prepared* executing_ = nullptr;
    bool first_result_ = true;
    std::vector<MYSQL_BIND> result_binds_;
    std::array<long long, MariaDbReply::kColumns> result_ints_{};
    std::array<my_bool, MariaDbReply::kColumns> result_nulls_{};
    std::array<my_bool, MariaDbReply::kColumns> result_errors_{};
    char result_scratch_[64] = {};
    MariaDbReply reply_;
    std::deque<MariaDbRequest*> waiting_;

    std::function<void(const MariaDbReply&)> open_done_;
    bool in_submit_ = false;
    std::size_t users_left_;
    std::atomic<std::uint64_t> reconnects_{0};
    ReconnectBackoff reconnect_backoff_;
    std::string last_error_;
};

std::string mariadb_library_version();

}  // namespace loadbench
