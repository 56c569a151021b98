#include "connectors/mariadb_connection.hpp"

#include <errmsg.h>
#include <mysqld_error.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "connectors/connector.hpp"
#include "engine/connection_events.hpp"

namespace loadbench {

namespace {

// mysql_init() initializes the library on first use, which is not thread-safe: do it once, first.
void init_library() {
    static std::once_flag once;
    std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s, const char* what) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
        const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) throw ConnectorConfigError(std::string("URL's ") + what + " has an invalid %-escape");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

// "... (111)": the errno the client library put in its message, named.
std::string with_errno_named(std::string message) {
    if (message.size() < 3 || message.back() != ')') return message;
    const auto open = message.rfind('(');
    if (open == std::string::npos) return message;
    int err = 0;
    const char* first = message.data() + open + 1;
    const char* last = message.data() + message.size() - 1;
    const auto [end, ec] = std::from_chars(first, last, err);
    if (ec != std::errc() || end != last || err <= 0) return message;
    return message + ": " + std::strerror(err);
}

std::string format_error(unsigned code, const char* sqlstate, const char* text) {
    std::string message = "ERROR " + std::to_string(code);
    if (sqlstate && *sqlstate && std::strcmp(sqlstate, "HY000") != 0) message += std::string(" (") + sqlstate + ")";
    message += ": ";
    message += text && *text ? text : "unknown error";
    if (code >= CR_SOCKET_CREATE_ERROR && code <= CR_IPSOCK_ERROR) message = with_errno_named(std::move(message));
    return message;
}

std::optional<std::int64_t> parse_int(const char* text, unsigned long length) {
    if (!text) return std::nullopt;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text, text + length, v);
    if (ec != std::errc() || end != text + length) return std::nullopt;
    return v;
}

}  // namespace

MariaDbEndpoint parse_mariadb_url(std::string_view url) {
    std::string_view rest;
    for (std::string_view scheme : {"mysql://", "mariadb://"}) {
        if (url.substr(0, scheme.size()) == scheme) rest = url.substr(scheme.size());
    }
    if (rest.data() == nullptr) throw ConnectorConfigError("URL must start with mysql:// (or mariadb://)");
    if (rest.find('?') != std::string_view::npos)
        throw ConnectorConfigError("options in the URL (after '?') are not supported");
    MariaDbEndpoint e;
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        e.database = percent_decode(rest.substr(slash + 1), "database");
        if (e.database.find('/') != std::string::npos) throw ConnectorConfigError("URL's database name holds a '/'");
    }
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        const auto colon = userinfo.find(':');
        e.user = percent_decode(userinfo.substr(0, colon), "user");
        if (colon != std::string_view::npos) e.password = percent_decode(userinfo.substr(colon + 1), "password");
        if (e.user.empty()) throw ConnectorConfigError("URL names no user before '@'");
        authority = authority.substr(at + 1);
    }
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) throw ConnectorConfigError("URL has an unterminated [IPv6] host");
        e.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') throw ConnectorConfigError("URL has a malformed host");
            port = after.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        e.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (e.host.empty()) throw ConnectorConfigError("URL names no host");
    if (port.data() != nullptr) {
        unsigned p = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
            throw ConnectorConfigError("URL has an invalid port");
        e.port = p;
    }
    return e;
}

void classify_mariadb_error(unsigned code, MariaDbReply& reply) {
    reply.retryable = false;
    reply.configuration = false;
    switch (code) {
        case ER_LOCK_DEADLOCK:
            reply.error = ErrorKind::deadlock;
            reply.retryable = true;
            return;
        case ER_LOCK_WAIT_TIMEOUT:
            reply.error = ErrorKind::busy;
            reply.retryable = true;
            return;
        case ER_CHECKREAD:
            reply.error = ErrorKind::serialization;
            reply.retryable = true;
            return;
        case ER_DUP_ENTRY:
        case ER_DUP_ENTRY_WITH_KEY_NAME:
        case ER_ROW_IS_REFERENCED_2:
        case ER_NO_REFERENCED_ROW_2:
        case ER_BAD_NULL_ERROR:
        case ER_CONSTRAINT_FAILED:
            reply.error = ErrorKind::constraint;
            return;
        case ER_QUERY_INTERRUPTED:
        case ER_STATEMENT_TIMEOUT:
        case 3024:  // MySQL's ER_QUERY_TIMEOUT (max_execution_time)
            reply.error = ErrorKind::timeout;
            return;
        case CR_SOCKET_CREATE_ERROR:
        case CR_CONNECTION_ERROR:
        case CR_CONN_HOST_ERROR:
        case CR_IPSOCK_ERROR:
        case CR_SERVER_GONE_ERROR:
        case CR_SERVER_LOST:
        case CR_SERVER_LOST_EXTENDED:
        case CR_ERR_NET_READ:
        case CR_ERR_NET_WRITE:
        case ER_SERVER_SHUTDOWN:
        case ER_CONNECTION_KILLED:
        case ER_CON_COUNT_ERROR:
            reply.error = ErrorKind::connection;
            return;
        case ER_ACCESS_DENIED_ERROR:
        case ER_DBACCESS_DENIED_ERROR:
        case ER_BAD_DB_ERROR:
        case ER_ACCESS_DENIED_NO_PASSWORD_ERROR:
            reply.error = ErrorKind::other;
            reply.configuration = true;
            return;
        case CR_COMMANDS_OUT_OF_SYNC:
        case CR_MALFORMED_PACKET:
            reply.error = ErrorKind::protocol;
            return;
        default:
            reply.error = ErrorKind::other;
    }
}

void MariaDbRequest::set_params(std::initializer_list<long long> values) {
    use_values_ = false;
    inline_count_ = std::min(values.size(), kInlineParams);
    std::copy_n(values.begin(), inline_count_, inline_.begin());
}

void MariaDbRequest::set_values(std::span<const SqlValue> values) {
    use_values_ = true;
    values_ = values;
}

MariaDbConnection::MariaDbConnection(asio::io_context& io, MariaDbSettings settings)
    : io_(io),
      settings_(std::move(settings)),
      socket_(io, *this),
      call_timer_(io),
      deadline_timer_(io),
      reconnect_timer_(io),
      users_left_(settings_.users) {
    init_library();
}

MariaDbConnection::~MariaDbConnection() {
    abort_call();
    close_connection(false);
}

void MariaDbConnection::open(std::function<void(const MariaDbReply&)> done) {
    open_done_ = std::move(done);
    start_connect();
}

unsigned long MariaDbConnection::thread_id() const {
    return conn_ && state_ == State::ready ? mysql_thread_id(conn_) : 0;
}

// --- non-blocking calls ------------------------------------------------------------------------
//
// A call's _start (or _cont) returns 0 when the call is complete, else the MYSQL_WAIT_* events it
// waits for; the library's coroutine is suspended meanwhile. When one occurs, _cont resumes it.

void MariaDbConnection::await(int status, Cont cont, Then then) {
    if (status == 0) return (this->*then)();
    cont_ = cont;
    then_ = then;
    call_active_ = true;
    wait_for(status);
}

void MariaDbConnection::wait_for(int status) {
    awaiting_ = status;
    const std::uint64_t seq = ++call_seq_;
    if (state_ == State::connecting) {
        // The library may move to another socket while connecting (another address): follow it.
        const my_socket fd = mysql_get_socket(conn_);
        if (const auto ec = socket_.watch(fd)) {
            abort_call();
            return lost("cannot watch the connection's socket: " + ec.message(), CR_SOCKET_CREATE_ERROR, false);
        }
    }
    if (status & MYSQL_WAIT_TIMEOUT) {
        call_timer_.expires_after(std::chrono::milliseconds(mysql_get_timeout_value_ms(conn_)));
        call_timer_.async_wait([self = shared_from_this(), seq](const boost::system::error_code& ec) {
            if (!ec && self->call_active_ && self->call_seq_ == seq) self->resume(MYSQL_WAIT_TIMEOUT);
        });
    }
    // The library asks to wait for reading only after a read found nothing (EAGAIN): every byte that
    // can wake it is new, so once connected an edge wait (no system call) is enough. Writes are rare
    // (a full send buffer) and connect steps need current readiness: those re-arm.
    if (status & (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT)) {
        socket_.wait(FdReadiness::Direction::read,
                     state_ == State::connecting ? FdReadiness::Mode::rearm : FdReadiness::Mode::edge, shared_from_this());
    }
    if (status & MYSQL_WAIT_WRITE)
        socket_.wait(FdReadiness::Direction::write, FdReadiness::Mode::rearm, shared_from_this());
}

void MariaDbConnection::on_ready(FdReadiness::Direction direction, const boost::system::error_code& ec) {
    if (ec || !call_active_) return;
    const int events = direction == FdReadiness::Direction::read ? (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT) : MYSQL_WAIT_WRITE;
    if (!(awaiting_ & events)) return;  // a wait left from an earlier step
    resume(awaiting_ & events);
}

void MariaDbConnection::resume(int events) {
    if (awaiting_ & MYSQL_WAIT_TIMEOUT) call_timer_.cancel();
    const int status = (this->*cont_)(events);
    if (status != 0) return wait_for(status);
    call_active_ = false;
    awaiting_ = 0;
    (this->*then_)();
}

// Ends a suspended call before its connection is dropped: the coroutine is resumed as if its wait
// had timed out (the library then fails the call), with the socket shut down so it cannot do more
// I/O. Never waits.
void MariaDbConnection::abort_call() {
    if (!call_active_) return;
    if (conn_) {
        const my_socket fd = mysql_get_socket(conn_);
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
    int status = 1;
    for (int i = 0; i < 16 && status != 0; ++i) status = (this->*cont_)(MYSQL_WAIT_TIMEOUT);
    call_active_ = false;
    awaiting_ = 0;
    ++call_seq_;
    if (result_) {
        mysql_free_result(result_);
        result_ = nullptr;
    }
}

// --- connecting and setup ----------------------------------------------------------------------

void MariaDbConnection::start_connect() {
    close_connection(false);
    state_ = State::connecting;
    conn_ = mysql_init(nullptr);
    if (!conn_) return lost("out of memory", CR_OUT_OF_MEMORY, false);
    mysql_options(conn_, MYSQL_OPT_NONBLOCK, nullptr);
    // TCP even for "localhost": the library would otherwise take the Unix socket, which is the
    // machine's own server's, not the one the URL names.
    const unsigned protocol = MYSQL_PROTOCOL_TCP;
    mysql_options(conn_, MYSQL_OPT_PROTOCOL, &protocol);
    mysql_options(conn_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    // Names loadbench's sessions in performance_schema.session_connect_attrs (where it is on).
    mysql_optionsv(conn_, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "loadbench");
    deadline_timer_.expires_after(settings_.connect_timeout);
    deadline_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || (self->state_ != State::connecting && self->state_ != State::setting_up)) return;
        self->abort_call();
        self->lost("no answer from the server within " + std::to_string(self->settings_.connect_timeout.count()) +
                       " ms of connecting",
                   CR_SERVER_LOST, false);
    });
    const MariaDbEndpoint& e = settings_.endpoint;
    const unsigned long flags = CLIENT_FOUND_ROWS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS;
    const int status = mysql_real_connect_start(&connect_ret_, conn_, e.host.c_str(), e.user.c_str(), e.password.c_str(),
                                                e.database.empty() ? nullptr : e.database.c_str(), e.port, nullptr, flags);
    await(status, &MariaDbConnection::connect_cont, &MariaDbConnection::on_connected);
}

int MariaDbConnection::connect_cont(int events) { return mysql_real_connect_cont(&connect_ret_, conn_, events); }

void MariaDbConnection::on_connected() {
    if (!connect_ret_) {
        const unsigned code = mysql_errno(conn_);
        MariaDbReply r;
        classify_mariadb_error(code, r);
        return lost(format_error(code, mysql_sqlstate(conn_), mysql_error(conn_)), code, r.configuration);
    }
    if (const auto ec = socket_.watch(mysql_get_socket(conn_)))
        return lost("cannot watch the connection's socket: " + ec.message(), CR_SOCKET_CREATE_ERROR, false);
    state_ = State::setting_up;
    setup_step_ = 0;
    run_setup();
}

void MariaDbConnection::run_setup() {
    if (setup_step_ < settings_.setup.size()) {
        in_setup_query_ = true;
        reply_ = MariaDbReply{};
        first_result_ = true;
        return start_query(settings_.setup[setup_step_].c_str());
    }
    in_setup_query_ = false;
    prepared_.resize(settings_.statements.size());
    prepare_next();
}

void MariaDbConnection::prepare_next() {
    const std::size_t index = setup_step_ - settings_.setup.size();
    if (index == settings_.statements.size()) return on_ready_to_serve();
    Prepared& p = prepared_[index];
    p.stmt = mysql_stmt_init(conn_);
    if (!p.stmt) return lost("out of memory", CR_OUT_OF_MEMORY, false);
    executing_ = &p;
    const std::string& sql = settings_.statements[index];
    await(mysql_stmt_prepare_start(&int_ret_, p.stmt, sql.data(), sql.size()), &MariaDbConnection::prepare_cont,
          &MariaDbConnection::on_prepared);
}

int MariaDbConnection::prepare_cont(int events) { return mysql_stmt_prepare_cont(&int_ret_, executing_->stmt, events); }

void MariaDbConnection::on_prepared() {
    Prepared& p = *std::exchange(executing_, nullptr);
    const std::size_t index = setup_step_ - settings_.setup.size();
    if (int_ret_) {
        const unsigned code = mysql_stmt_errno(p.stmt);
        MariaDbReply r;
        classify_mariadb_error(code, r);
        return lost("cannot prepare statement " + std::to_string(index) + ": " +
                        format_error(code, mysql_stmt_sqlstate(p.stmt), mysql_stmt_error(p.stmt)),
                    code, r.configuration);
    }
    p.params = mysql_stmt_param_count(p.stmt);
    p.binds.assign(p.params, MYSQL_BIND{});
    p.ints.assign(p.params, 0);
    p.reals.assign(p.params, 0);
    p.lengths.assign(p.params, 0);
    p.bound.clear();
    ++setup_step_;
    prepare_next();
}

void MariaDbConnection::on_ready_to_serve() {
    deadline_timer_.cancel();
    state_ = State::ready;
    reconnect_backoff_.reset();
    if (!open_done_) {
        reconnects_.fetch_add(1, std::memory_order_relaxed);
        note_reconnect();
    } else {
        MariaDbReply ok;
        ok.ok = true;
        std::exchange(open_done_, nullptr)(ok);
    }
    send_next();
}

// --- requests ----------------------------------------------------------------------------------

void MariaDbConnection::submit(MariaDbRequest& request) {
    if (state_ == State::closed) {  // released, or its first connection failed: nothing will come
        MariaDbReply closed;
        closed.error = ErrorKind::connection;
        closed.message = "connection closed: " + last_error_;
        asio::post(io_, [self = shared_from_this(), r = &request, closed] { r->complete(closed); });
        return;
    }
    waiting_.push_back(&request);
    in_submit_ = true;
    send_next();
    in_submit_ = false;
}

void MariaDbConnection::send_next() {
    if (state_ != State::ready || in_flight_ || call_active_ || waiting_.empty()) return;
    in_flight_ = waiting_.front();
    waiting_.pop_front();
    reply_ = MariaDbReply{};
    first_result_ = true;
    if (in_flight_->sql) return start_query(in_flight_->sql);
    start_execute();
}

bool MariaDbConnection::bind_params(Prepared& p, MariaDbRequest& r) {
    const std::size_t n = r.use_values_ ? r.values_.size() : r.inline_count_;
    if (n != p.params) {
        reply_.error = ErrorKind::other;
        reply_.message = "statement " + std::to_string(r.statement) + " takes " + std::to_string(p.params) +
                         " parameters, got " + std::to_string(n);
        return false;
    }
    if (n == 0) return true;
    // The bind array is handed to the library only when a type or a text's address changed: test-1's
    // bigints only rewrite the values the array already points to.
    bool rebind = p.bound.size() != n;
    auto type_of = [&](std::size_t i) {
        if (!r.use_values_) return MYSQL_TYPE_LONGLONG;
        switch (r.values_[i].type) {
            case SqlType::null: return MYSQL_TYPE_NULL;
            case SqlType::integer: return MYSQL_TYPE_LONGLONG;
            case SqlType::real: return MYSQL_TYPE_DOUBLE;
            case SqlType::text: return MYSQL_TYPE_STRING;
        }
        return MYSQL_TYPE_NULL;
    };
    for (std::size_t i = 0; i < n; ++i) {
        const enum_field_types type = type_of(i);
        if (!rebind && p.bound[i] != type) rebind = true;
        if (type == MYSQL_TYPE_STRING) rebind = true;
        if (!r.use_values_) {
            p.ints[i] = r.inline_[i];
            continue;
        }
        const SqlValue& v = r.values_[i];
        if (type == MYSQL_TYPE_LONGLONG) p.ints[i] = v.integer;
        if (type == MYSQL_TYPE_DOUBLE) p.reals[i] = v.real;
        if (type == MYSQL_TYPE_STRING) p.lengths[i] = v.size;
    }
    if (!rebind) return true;
    p.bound.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        MYSQL_BIND& b = p.binds[i];
        b = MYSQL_BIND{};
        b.buffer_type = p.bound[i] = type_of(i);
        switch (b.buffer_type) {
            case MYSQL_TYPE_LONGLONG: b.buffer = &p.ints[i]; break;
            case MYSQL_TYPE_DOUBLE: b.buffer = &p.reals[i]; break;
            case MYSQL_TYPE_STRING:
                b.buffer = const_cast<char*>(r.values_[i].text);
                b.buffer_length = p.lengths[i];
                b.length = &p.lengths[i];
                break;
            default: break;
        }
    }
    if (mysql_stmt_bind_param(p.stmt, p.binds.data())) {
        p.bound.clear();
        reply_.error = ErrorKind::other;
        reply_.message = "cannot bind parameters: " + std::string(mysql_stmt_error(p.stmt));
        return false;
    }
    return true;
}

void MariaDbConnection::start_execute() {
    MariaDbRequest& r = *in_flight_;
    if (r.statement >= prepared_.size()) {
        reply_.error = ErrorKind::other;
        reply_.message = "no statement " + std::to_string(r.statement) + " was prepared";
        return request_done();
    }
    Prepared& p = prepared_[r.statement];
    if (!bind_params(p, r)) return request_done();
    executing_ = &p;
    await(mysql_stmt_execute_start(&int_ret_, p.stmt), &MariaDbConnection::execute_cont, &MariaDbConnection::on_executed);
}

int MariaDbConnection::execute_cont(int events) { return mysql_stmt_execute_cont(&int_ret_, executing_->stmt, events); }

void MariaDbConnection::on_executed() {
    if (int_ret_) return fail_with_stmt_error(executing_->stmt);
    start_stmt_result();
}

// The result of the statement (or of one statement of a CALL): rows to fetch, or a count.
void MariaDbConnection::start_stmt_result() {
    MYSQL_STMT* s = executing_->stmt;
    const unsigned fields = mysql_stmt_field_count(s);
    if (fields == 0) {
        reply_.rows_affected = static_cast<std::int64_t>(mysql_stmt_affected_rows(s));
        return on_fetched_all();
    }
    result_binds_.assign(fields, MYSQL_BIND{});
    for (unsigned i = 0; i < fields; ++i) {
        MYSQL_BIND& b = result_binds_[i];
        if (first_result_ && i < MariaDbReply::kColumns) {
            b.buffer_type = MYSQL_TYPE_LONGLONG;
            b.buffer = &result_ints_[i];
            b.is_null = &result_nulls_[i];
            b.error = &result_errors_[i];
        } else {  // only counted: truncated into a scratch buffer
            b.buffer_type = MYSQL_TYPE_STRING;
            b.buffer = result_scratch_;
            b.buffer_length = sizeof result_scratch_;
        }
    }
    if (mysql_stmt_bind_result(s, result_binds_.data())) return fail_with_stmt_error(s);
    fetch_rows(mysql_stmt_fetch_start(&int_ret_, s));
}

int MariaDbConnection::fetch_cont(int events) { return mysql_stmt_fetch_cont(&int_ret_, executing_->stmt, events); }

void MariaDbConnection::on_fetched() { fetch_rows(0); }

// Takes rows while the library has them; a loop, not recursion: a result may have a million rows.
void MariaDbConnection::fetch_rows(int status) {
    MYSQL_STMT* s = executing_->stmt;
    for (;;) {
        if (status != 0) {
            cont_ = &MariaDbConnection::fetch_cont;
            then_ = &MariaDbConnection::on_fetched;
            call_active_ = true;
            return wait_for(status);
        }
        if (int_ret_ == MYSQL_NO_DATA) break;
        if (int_ret_ == 1) return fail_with_stmt_error(s, true);
        // A row (MYSQL_DATA_TRUNCATED: a counted-only column did not fit the scratch buffer).
        if (first_result_ && reply_.rows == 0) {
            const unsigned columns = std::min<unsigned>(mysql_stmt_field_count(s), MariaDbReply::kColumns);
            for (unsigned i = 0; i < columns; ++i) {
                if (!result_nulls_[i] && !result_errors_[i]) reply_.first_row[i] = result_ints_[i];
            }
        }
        ++reply_.rows;
        status = mysql_stmt_fetch_start(&int_ret_, s);
    }
    first_result_ = false;
    on_fetched_all();
}

void MariaDbConnection::on_fetched_all() {
    MYSQL_STMT* s = executing_->stmt;
    if (!mysql_stmt_more_results(s)) return finish_ok();
    await(mysql_stmt_next_result_start(&int_ret_, s), &MariaDbConnection::stmt_next_cont, &MariaDbConnection::on_stmt_next);
}

int MariaDbConnection::stmt_next_cont(int events) { return mysql_stmt_next_result_cont(&int_ret_, executing_->stmt, events); }

void MariaDbConnection::on_stmt_next() {
    if (int_ret_ > 0) return fail_with_stmt_error(executing_->stmt, true);
    if (int_ret_ < 0) return finish_ok();
    start_stmt_result();
}

// --- plain queries (text protocol) -------------------------------------------------------------

void MariaDbConnection::start_query(const char* sql) {
    await(mysql_real_query_start(&int_ret_, conn_, sql, std::strlen(sql)), &MariaDbConnection::query_cont,
          &MariaDbConnection::on_queried);
}

int MariaDbConnection::query_cont(int events) { return mysql_real_query_cont(&int_ret_, conn_, events); }

void MariaDbConnection::on_queried() {
    if (int_ret_) return fail_with_connection_error();
    text_result();
}

void MariaDbConnection::text_result() {
    if (mysql_field_count(conn_) == 0) {
        reply_.rows_affected = static_cast<std::int64_t>(mysql_affected_rows(conn_));
        return after_text_result();
    }
    await(mysql_store_result_start(&result_, conn_), &MariaDbConnection::store_cont, &MariaDbConnection::on_stored);
}

int MariaDbConnection::store_cont(int events) { return mysql_store_result_cont(&result_, conn_, events); }

void MariaDbConnection::on_stored() {
    if (!result_) return fail_with_connection_error(true);
    // A stored result is in memory: reading and freeing it does no I/O.
    const auto rows = static_cast<std::int64_t>(mysql_num_rows(result_));
    if (first_result_ && rows > 0) {
        MYSQL_ROW row = mysql_fetch_row(result_);
        const unsigned long* lengths = mysql_fetch_lengths(result_);
        const unsigned columns = std::min<unsigned>(mysql_num_fields(result_), MariaDbReply::kColumns);
        for (unsigned i = 0; row && lengths && i < columns; ++i) reply_.first_row[i] = parse_int(row[i], lengths[i]);
    }
    reply_.rows += rows;
    mysql_free_result(std::exchange(result_, nullptr));
    first_result_ = false;
    after_text_result();
}

void MariaDbConnection::after_text_result() {
    if (!mysql_more_results(conn_)) return finish_ok();
    await(mysql_next_result_start(&int_ret_, conn_), &MariaDbConnection::next_cont, &MariaDbConnection::on_next);
}

int MariaDbConnection::next_cont(int events) { return mysql_next_result_cont(&int_ret_, conn_, events); }

void MariaDbConnection::on_next() {
    if (int_ret_ > 0) return fail_with_connection_error(true);
    if (int_ret_ < 0) return finish_ok();
    text_result();
}

// --- completion and loss -----------------------------------------------------------------------

void MariaDbConnection::finish_ok() {
    reply_.ok = true;
    request_done();
}

void MariaDbConnection::request_done() {
    executing_ = nullptr;
    if (in_setup_query_) {
        if (!reply_.ok) return lost("setup query failed: " + reply_.message, reply_.server_error, reply_.configuration);
        ++setup_step_;
        return run_setup();
    }
    MariaDbRequest* r = std::exchange(in_flight_, nullptr);
    MariaDbReply reply = std::move(reply_);
    reply_ = MariaDbReply{};
    if (!reply.ok) last_error_ = reply.message;
    if (r) deliver(r, reply);
    send_next();
}

void MariaDbConnection::deliver(MariaDbRequest* request, const MariaDbReply& reply) {
    if (!in_submit_) return request->complete(reply);
    asio::post(io_, [self = shared_from_this(), request, reply] { request->complete(reply); });
}

void MariaDbConnection::fail_with_error(unsigned code, std::string message, bool mid_result) {
    reply_.ok = false;
    reply_.server_error = code;
    reply_.message = std::move(message);
    classify_mariadb_error(code, reply_);
    // A lost connection, or a statement whose result was not read to its end (the connection would
    // be out of step with the server): start over on a new connection. A server error in place of a
    // row (a lock wait timeout or deadlock met by SELECT ... FOR UPDATE while it sends its rows) ends
    // the result on the wire: the connection is in step and goes on.
    const bool server_ended_result = code > 0 && code < CR_MIN_ERROR;
    if (reply_.error == ErrorKind::connection || reply_.error == ErrorKind::protocol ||
        (mid_result && !in_setup_query_ && !server_ended_result))
        return lost(reply_.message, code, false);
    request_done();
}

void MariaDbConnection::fail_with_stmt_error(MYSQL_STMT* stmt, bool mid_result) {
    const unsigned code = mysql_stmt_errno(stmt);
    // An error packet read in place of a row is recorded on the connection, not the statement.
    if (code == 0 && conn_ && mysql_errno(conn_) != 0) return fail_with_connection_error(mid_result);
    fail_with_error(code, format_error(code, mysql_stmt_sqlstate(stmt), mysql_stmt_error(stmt)), mid_result);
}

void MariaDbConnection::fail_with_connection_error(bool mid_result) {
    if (result_) mysql_free_result(std::exchange(result_, nullptr));
    const unsigned code = mysql_errno(conn_);
    fail_with_error(code, format_error(code, mysql_sqlstate(conn_), mysql_error(conn_)), mid_result);
}

// `message` by value: it may be reply_.message, which is cleared below.
void MariaDbConnection::lost(std::string message, unsigned code, bool configuration) {
    if (state_ == State::closed) return;
    const bool opening = static_cast<bool>(open_done_);
    last_error_ = message;
    abort_call();
    close_connection(false);
    deadline_timer_.cancel();
    state_ = opening ? State::closed : State::broken;
    in_setup_query_ = false;
    executing_ = nullptr;
    reply_ = MariaDbReply{};
    // What was sent may or may not have committed: a connection error, not retryable. Completions
    // are posted, never run inside the submit or open that found the loss.
    MariaDbRequest* failed = std::exchange(in_flight_, nullptr);
    std::deque<MariaDbRequest*> never_sent;
    if (opening) never_sent.swap(waiting_);  // no reconnect will come for them
    MariaDbReply reply;
    reply.error = ErrorKind::connection;
    reply.server_error = code;
    reply.message = "connection lost: " + message;
    asio::post(io_, [self = shared_from_this(), failed, never_sent = std::move(never_sent), reply, message, code,
                     configuration] {
        if (failed) failed->complete(reply);
        for (MariaDbRequest* r : never_sent) r->complete(reply);
        if (self->open_done_) {
            MariaDbReply r;
            classify_mariadb_error(code, r);
            r.configuration = r.configuration || configuration;
            r.server_error = code;
            r.message = message;
            std::exchange(self->open_done_, nullptr)(r);
        }
    });
    if (!opening) schedule_reconnect(false);
}

void MariaDbConnection::close_connection(bool polite) {
    socket_.close();
    if (!conn_) return;
    // Shut down first unless saying goodbye politely: then closing cannot wait on a stalled server.
    if (!polite) {
        const my_socket fd = mysql_get_socket(conn_);
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
    mysql_close(conn_);  // detaches the statements: closing them next sends nothing
    conn_ = nullptr;
    for (Prepared& p : prepared_)
        if (p.stmt) mysql_stmt_close(p.stmt);
    prepared_.clear();
}

void MariaDbConnection::schedule_reconnect(bool at_once) {
    reconnect_timer_.expires_after(at_once ? std::chrono::milliseconds(0) : reconnect_backoff_.next());
    reconnect_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->state_ == State::broken) self->start_connect();
    });
}

void MariaDbConnection::interrupt(const MariaDbRequest* request) noexcept {
    auto self = weak_from_this().lock();
    if (!self) return;
    asio::post(io_, [self = std::move(self), request] { self->on_interrupt(request); });
}

void MariaDbConnection::on_interrupt(const MariaDbRequest* request) {
    if (state_ == State::closed) return;
    MariaDbReply timeout;
    timeout.error = ErrorKind::timeout;
    if (in_flight_ && (!request || request == in_flight_)) {
        MariaDbRequest* r = std::exchange(in_flight_, nullptr);
        timeout.message = "timed out; the connection was abandoned and reconnects";
        last_error_ = timeout.message;
        // The library's call is ended, the socket closed; the server rolls back what the session had
        // open when it notices. Nothing of `r` is touched after this.
        abort_call();
        close_connection(false);
        executing_ = nullptr;
        reply_ = MariaDbReply{};
        state_ = State::broken;
        schedule_reconnect(true);
        r->complete(timeout);
    } else if (request) {
        const auto it = std::find(waiting_.begin(), waiting_.end(), request);
        if (it != waiting_.end()) {
            MariaDbRequest* r = *it;
            waiting_.erase(it);
            timeout.message = "timed out waiting for the connection";
            r->complete(timeout);
        }
    }
    if (!request && state_ != State::ready) {
        timeout.message = "timed out waiting for the connection";
        while (!waiting_.empty()) {
            MariaDbRequest* r = waiting_.front();
            waiting_.pop_front();
            r->complete(timeout);
        }
    }
}

void MariaDbConnection::release() {
    if (users_left_ > 0 && --users_left_ > 0) return;
    const bool idle = state_ == State::ready && !call_active_;
    state_ = State::closed;
    reconnect_timer_.cancel();
    deadline_timer_.cancel();
    call_timer_.cancel();
    abort_call();
    close_connection(idle);
}

std::string mariadb_library_version() { return mysql_get_client_info(); }

}  // namespace loadbench
