#include "connectors/pg_connection.hpp"
#include "engine/connection_events.hpp"

#include <boost/asio/post.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

#include "net/blocking_call_pool.hpp"
#include "net/system_error.hpp"

namespace loadbench {
namespace {

// libpq's connect_timeout when the connection string sets none (seconds).
constexpr long kDefaultConnectTimeoutSeconds = 10;

// Cancel requests of abandoned connections. PQcancel connects to the server and waits for it to
// close the connection, without a timeout: against a stopped server that is until it resumes, and
// against one that vanished, until TCP gives up (minutes). Four threads, started on demand, so a
// few stuck cancels leave others going; nobody waits for them. Never destroyed: a stuck cancel
// must not hold up the process's exit.
BlockingCallPool& cancel_pool() {
    static BlockingCallPool* pool = new BlockingCallPool(4);
    return *pool;
}

// The URL's connect_timeout (libpq's minimum of 2 s applies), else 10 s: libpq enforces it only
// in its blocking connect, so an asynchronous one has to.
std::chrono::milliseconds connect_timeout_of(const std::string& conninfo) {
    std::chrono::milliseconds timeout{1000 * kDefaultConnectTimeoutSeconds};
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
    if (!options) return timeout;
    for (PQconninfoOption* o = options; o->keyword; ++o) {
        if (std::strcmp(o->keyword, "connect_timeout") != 0 || !o->val || !*o->val) continue;
        const long seconds = std::strtol(o->val, nullptr, 10);
        if (seconds > 0) timeout = std::chrono::milliseconds(1000 * std::max(seconds, 2L));
    }
    PQconninfoFree(options);
    return timeout;
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> items;
    std::size_t begin = 0;
    for (;;) {
        const auto comma = text.find(',', begin);
        items.push_back(text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin));
        if (comma == std::string::npos) return items;
        begin = comma + 1;
    }
}

std::string join_list(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
    return out;
}

// A key=value value, quoted as libpq reads it.
std::string quoted(const std::string& value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\\' || c == '\'') out += '\\';
        out += c;
    }
    return out + "'";
}

bool is_address(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The addresses of `host` (TCP), in getaddrinfo's order, without repeats; empty when it cannot be resolved.
std::vector<std::string> addresses_of(const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::vector<std::string> out;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return out;
    for (addrinfo* a = found; a; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void* addr = a->ai_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                                                   : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
        if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) && inet_ntop(a->ai_family, addr, text, sizeof text) &&
            std::find(out.begin(), out.end(), text) == out.end())
            out.push_back(text);
    }
    freeaddrinfo(found);
    return out;
}

}  // namespace

namespace {

// What a URL or key=value string sets, keyword -> value; nullopt when libpq cannot parse it.
std::optional<std::map<std::string, std::string>> conninfo_options(const std::string& conninfo) {
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
    if (!options) return std::nullopt;
    std::map<std::string, std::string> given;
    for (PQconninfoOption* o = options; o->keyword; ++o)
        if (o->val) given[o->keyword] = o->val;
    PQconninfoFree(options);
    return given;
}

// Those options as a key=value string (values quoted).
std::string conninfo_string(const std::map<std::string, std::string>& given) {
    std::string out;
    for (const auto& [key, value] : given) out += (out.empty() ? "" : " ") + key + "=" + quoted(value);
    return out;
}

}  // namespace

std::string pg_conninfo_with_addresses(const std::string& conninfo) {
    std::optional<std::map<std::string, std::string>> parsed = conninfo_options(conninfo);
    if (!parsed) return conninfo;
    std::map<std::string, std::string>& given = *parsed;
    if (given.count("hostaddr") || !given.count("host") || given["host"].empty()) return conninfo;
    const std::vector<std::string> hosts = split_list(given["host"]);
    std::vector<std::string> ports = given.count("port") ? split_list(given["port"]) : std::vector<std::string>{""};
    if (ports.size() == 1) ports.resize(hosts.size(), ports[0]);
    if (ports.size() != hosts.size()) return conninfo;  // libpq will say what is wrong
    std::vector<std::string> out_hosts, out_addrs, out_ports;
    bool looked_up = false;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        const std::string& host = hosts[i];
        if (host.empty() || host[0] == '/' || host[0] == '@' || is_address(host)) {  // no lookup for these
            out_hosts.push_back(host);
            out_addrs.push_back("");
            out_ports.push_back(ports[i]);
            continue;
        }
        const std::vector<std::string> addresses = addresses_of(host);
        if (addresses.empty()) return conninfo;
        looked_up = true;
        for (const std::string& address : addresses) {
            out_hosts.push_back(host);
            out_addrs.push_back(address);
            out_ports.push_back(ports[i]);
        }
    }
    if (!looked_up) return conninfo;
    given["host"] = join_list(out_hosts);
    given["hostaddr"] = join_list(out_addrs);
    given["port"] = join_list(out_ports);
    return conninfo_string(given);
}

std::string pg_conninfo_with_connect_timeout(const std::string& conninfo) {
    std::optional<std::map<std::string, std::string>> given = conninfo_options(conninfo);
    if (!given) return conninfo;
    const char* from_environment = std::getenv("PGCONNECT_TIMEOUT");
    if (given->count("connect_timeout") || (from_environment && *from_environment)) return conninfo;
    (*given)["connect_timeout"] = std::to_string(kDefaultConnectTimeoutSeconds);
    return conninfo_string(*given);
}

std::string pg_first_line(const char* text) {
    std::string s = text ? text : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    const auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
}

void PgRequest::set_params(std::initializer_list<long long> values) {
    values_ = inline_values_;
    param_count = 0;
    for (long long v : values) {
        char* buf = text_[param_count];
        auto [end, ec] = std::to_chars(buf, buf + sizeof(text_[0]) - 1, v);
        *end = '\0';
        ++param_count;
    }
}

void PgRequest::set_values(std::span<const SqlValue> values) {
    params_.set(values);
    values_ = params_.data();
    param_count = params_.count();
}

void PgTextParams::set(std::span<const SqlValue> values) {
    if (scratch_.size() < values.size() * kSlot) scratch_.resize(values.size() * kSlot);
    pointers_.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const SqlValue& v = values[i];
        char* buf = scratch_.data() + i * kSlot;
        switch (v.type) {
            case SqlType::null: pointers_[i] = nullptr; continue;
            case SqlType::text: pointers_[i] = v.text; continue;
            case SqlType::integer: *std::to_chars(buf, buf + kSlot - 1, v.integer).ptr = '\0'; break;
            case SqlType::real: *std::to_chars(buf, buf + kSlot - 1, v.real).ptr = '\0'; break;
        }
        pointers_[i] = buf;
    }
}

void classify_pg_error(const char* sqlstate, PgReply& reply) {
    const std::string code = sqlstate ? sqlstate : "";
    reply.retryable = false;
    if (code == "40001") {
        reply.error = ErrorKind::serialization;
        reply.retryable = true;
    } else if (code == "40P01") {
        reply.error = ErrorKind::deadlock;
        reply.retryable = true;
    } else if (code.rfind("23", 0) == 0) {
        reply.error = ErrorKind::constraint;
    } else if (code == "57014") {
        reply.error = ErrorKind::timeout;  // query_canceled: our own interrupt
    } else if (code.rfind("08", 0) == 0 || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300") {
        reply.error = ErrorKind::connection;
    } else if (code == "55P03") {
        reply.error = ErrorKind::busy;  // lock_not_available
        reply.retryable = true;
    } else {
        reply.error = ErrorKind::other;
    }
}

// A setup query (SET ..., or a PREPARE through the protocol) run through the normal request path.
class PgConnection::SetupStep final : public PgRequest {
public:
    explicit SetupStep(PgConnection& c) : conn(c) {}
    std::string sql;
    std::string prepare_name;  // non-empty: prepare `sql` under this name
    std::size_t index = 0;
    void complete(const PgReply& reply) override {
        if (!reply.ok) return conn.lost("setup failed: " + reply.message);
        conn.run_setup(index + 1);
    }
    PgConnection& conn;
};

PgConnection::PgConnection(asio::io_context& io, PgConnectionSettings settings)
    : io_(io),
      settings_(std::move(settings)),
      socket_(io, *this),
      reconnect_timer_(io),
      connect_timer_(io),
      users_left_(settings_.users) {
    pipeline_ = settings_.depth > 1;
    connect_timeout_ = connect_timeout_of(settings_.conninfo);
}

PgConnection::~PgConnection() {
    close_socket();
    if (cancel_) PQfreeCancel(cancel_);
    if (conn_) PQfinish(conn_);
}

void PgConnection::open(std::function<void(std::string)> done) {
    open_done_ = std::move(done);
    start_connect();
}

void PgConnection::close_socket() {
    socket_.close();  // closes our dup of libpq's socket; pending waits are cancelled
}

// Every wait of this connection completes here.
void PgConnection::on_ready(FdReadiness::Direction direction, const boost::system::error_code& ec) {
    if (ec || !conn_) return;
    if (state_ == State::connecting) {
        switch (const auto status = PQconnectPoll(conn_)) {
            case PGRES_POLLING_OK: return on_connected();
            case PGRES_POLLING_FAILED: return lost(explain_resource_errors(PQerrorMessage(conn_)));
            default: return poll_connect(status);
        }
    }
    if (direction == FdReadiness::Direction::write) return flush();
    on_readable();
}

void PgConnection::start_connect() {
    state_ = State::connecting;
    if (conn_) PQfinish(conn_);
    arm_connect_timer();
    conn_ = PQconnectStart(settings_.conninfo.c_str());
    if (!conn_ || PQstatus(conn_) == CONNECTION_BAD)
        return lost(conn_ ? explain_resource_errors(PQerrorMessage(conn_)) : describe_errno(ENOMEM));
    // Notices (and the FATAL a terminated backend sends) would go to stderr: errors reach the
    // report through results instead.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    // libpq's protocol: start as if PQconnectPoll had asked to wait for the socket to be writable.
    poll_connect(PGRES_POLLING_WRITING);
}

void PgConnection::poll_connect(PostgresPollingStatusType wanted) {
    const int fd = PQsocket(conn_);
    if (fd < 0) return lost(PQerrorMessage(conn_));
    // libpq may switch sockets while connecting (another address, SSL refused): follow it each
    // step. Connect waits re-arm: PQconnectPoll must not run before the socket is ready.
    if (const auto ec = socket_.watch(fd)) return lost("cannot watch the connection's socket: " + describe_error(ec));
    const auto direction = wanted == PGRES_POLLING_READING ? FdReadiness::Direction::read : FdReadiness::Direction::write;
    socket_.wait(direction, FdReadiness::Mode::rearm, shared_from_this());
}

void PgConnection::on_connected() {
    if (PQsetnonblocking(conn_, 1) != 0) return lost(PQerrorMessage(conn_));
    if (const auto ec = socket_.watch(PQsocket(conn_)))
        return lost("cannot watch the connection's socket: " + describe_error(ec));
    if (cancel_) PQfreeCancel(cancel_);
    cancel_ = PQgetCancel(conn_);
    state_ = State::setting_up;
    run_setup(0);
}

// Setup runs one query at a time, before pipeline mode: the settings first, then the statements.
void PgConnection::run_setup(std::size_t step) {
    const std::size_t sets = settings_.setup.size();
    if (step < sets + settings_.statements.size()) {
        if (!setup_step_) setup_step_ = std::make_unique<SetupStep>(*this);
        SetupStep& s = *setup_step_;
        s.index = step;
        if (step < sets) {
            s.sql = settings_.setup[step];
            s.prepare_name.clear();
        } else {
            s.sql = settings_.statements[step - sets].sql;
            s.prepare_name = settings_.statements[step - sets].name;
        }
        const int sent = s.prepare_name.empty() ? PQsendQuery(conn_, s.sql.c_str())
                                                : PQsendPrepare(conn_, s.prepare_name.c_str(), s.sql.c_str(), 0, nullptr);
        if (!sent) return lost(PQerrorMessage(conn_));
        push_sent(&s);
        return flush();
    }
    if (pipeline_ && !PQenterPipelineMode(conn_)) return lost(PQerrorMessage(conn_));
    const bool reconnected = !open_done_;
    state_ = State::ready;
    ++connect_seq_;  // this connect is done: its timer no longer applies
    connect_timer_.cancel();
    reconnect_backoff_.reset();
    if (reconnected) {
        ++reconnects_;
        note_reconnect();
    }
    if (open_done_) std::exchange(open_done_, nullptr)("");
    send_available();
}

void PgConnection::submit(PgRequest& request) {
    waiting_.push_back(&request);
    if (state_ == State::ready) send_available();
}

void PgConnection::send_available() {
    const std::size_t depth = pipeline_ ? settings_.depth : 1;
    while (state_ == State::ready && !waiting_.empty() && sent_.size() < depth) {
        PgRequest* r = waiting_.front();
        if (!PQsendQueryPrepared(conn_, r->statement, r->param_count, r->values_, nullptr, nullptr, 0) ||
            (pipeline_ && !PQpipelineSync(conn_)))
            return lost(PQerrorMessage(conn_));
        waiting_.pop_front();
        push_sent(r);
    }
    flush();
}

void PgConnection::push_sent(PgRequest* request) {
    request->reads_when_sent_ = reads_;
    sent_.push_back(request);
}

void PgConnection::flush() {
    const int pending = PQflush(conn_);
    if (pending < 0) return lost(PQerrorMessage(conn_));
    if (pending > 0 && !socket_.waiting(FdReadiness::Direction::write)) {
        socket_.wait(FdReadiness::Direction::write, FdReadiness::Mode::rearm, shared_from_this());
    }
    if (!sent_.empty()) arm_read();
}

// The closed loop's wait costs no system call (an edge wait) when the oldest request in flight was
// sent after libpq's last read: then every byte of its answer arrives after that read, as new
// data, and wakes the wait. Otherwise part of the answer may have been read, and the rest may be
// in the socket already (libpq's read stops when its buffer is full): the wait re-arms, so data
// already there counts. In pipeline mode that is most waits; they serve several answers each.
void PgConnection::arm_read() {
    if (socket_.waiting(FdReadiness::Direction::read)) return;
    const bool sent_after_last_read = sent_.front()->reads_when_sent_ == reads_;
    socket_.wait(FdReadiness::Direction::read, sent_after_last_read ? FdReadiness::Mode::edge : FdReadiness::Mode::rearm,
                 shared_from_this());
}

void PgConnection::on_readable() {
    ++reads_;
    if (!PQconsumeInput(conn_)) return lost(PQerrorMessage(conn_));
    drain();
}

// Takes every result libpq has complete. Outside pipeline mode a request's results end with a
// null result; in pipeline mode with the PIPELINE_SYNC that follows it.
void PgConnection::drain() {
    bool after_null = false;
    while (!sent_.empty()) {
        if (PQisBusy(conn_)) return arm_read();
        PGresult* res = PQgetResult(conn_);
        if (!res) {
            if (!pipeline_ || state_ != State::ready) {
                finish_front();
                continue;
            }
            if (after_null) return arm_read();  // between requests, and the next has no result yet
            after_null = true;
            continue;
        }
        after_null = false;
        const ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            finish_front();
            continue;
        }
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
            reply_.ok = true;
            const char* rows = PQcmdTuples(res);
            reply_.rows_affected = rows && *rows ? std::strtol(rows, nullptr, 10) : 0;
            reply_.first_value_true = PQntuples(res) > 0 && PQnfields(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't';
        } else if (!reply_.message.size() || reply_.ok) {  // keep the first error of the request
            reply_.ok = false;
            reply_.message = pg_first_line(PQresultErrorMessage(res));
            if (status == PGRES_PIPELINE_ABORTED) reply_.message = "pipeline aborted by an earlier error";
            classify_pg_error(PQresultErrorField(res, PG_DIAG_SQLSTATE), reply_);
        }
        PQclear(res);
    }
}

void PgConnection::finish_front() {
    PgRequest* r = sent_.front();
    sent_.pop_front();
    PgReply reply = std::move(reply_);
    reply_ = PgReply{};
    if (!reply.ok) last_error_ = reply.message;
    const bool broken = PQstatus(conn_) == CONNECTION_BAD;
    r->complete(reply);
    if (broken && conn_) return lost(PQerrorMessage(conn_));  // (unless the completion gave it up already)
    if (state_ == State::ready) send_available();
}

void PgConnection::lost(const std::string& message) {
    if (state_ == State::closed) return;
    const bool opening = static_cast<bool>(open_done_);
    last_error_ = pg_first_line(message.c_str());
    std::vector<PgRequest*> failed(sent_.begin(), sent_.end());
    std::erase(failed, static_cast<PgRequest*>(setup_step_.get()));
    drop_connection();
    if (opening) state_ = State::closed;
    // What was sent may or may not have committed: fail it as a connection error, not retryable.
    // Completions are posted, never run inside the submit or open that detected the loss.
    asio::post(io_, [self = shared_from_this(), failed = std::move(failed)] {
        PgReply reply;
        reply.message = "connection lost: " + self->last_error_;
        reply.error = ErrorKind::connection;
        for (PgRequest* r : failed) r->complete(reply);
        if (self->open_done_) std::exchange(self->open_done_, nullptr)(self->last_error_);
    });
    if (!opening) schedule_reconnect();
}

// Closes the connection now, without waiting for anything (PQfinish's goodbye is sent
// non-blocking, or not at all), and forgets what was in flight on it.
void PgConnection::drop_connection() {
    close_socket();
    if (cancel_) PQfreeCancel(cancel_);
    cancel_ = nullptr;
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    sent_.clear();
    reply_ = PgReply{};
    state_ = State::broken;
    ++incarnation_;
    ++connect_seq_;
    connect_timer_.cancel();
}

void PgConnection::time_out(PgRequest& request) {
    if (state_ == State::closed) return;
    if (const auto it = std::find(waiting_.begin(), waiting_.end(), &request); it != waiting_.end()) {
        waiting_.erase(it);  // never sent: nothing of it reached the server
        PgReply reply;
        reply.error = ErrorKind::timeout;
        reply.message = state_ == State::ready ? "timed out waiting to be sent"
                                               : "timed out waiting for the connection" +
                                                     (last_error_.empty() ? std::string() : " (" + last_error_ + ")");
        return request.complete(reply);
    }
    if (std::find(sent_.begin(), sent_.end(), &request) != sent_.end()) abandon(request);
    // Otherwise its completion is on its way already (a lost connection's).
}

void PgConnection::abandon(PgRequest& timed_out) {
    // Ask the server to stop the request, so its backend does not hold locks for a client that is
    // gone (a backend waiting on a lock would not notice the closed socket); on a thread of its own.
    if (cancel_) {
        std::shared_ptr<PGcancel> cancel(std::exchange(cancel_, nullptr), PQfreeCancel);
        cancel_pool().submit([cancel] {
            char error[256];
            PQcancel(cancel.get(), error, sizeof error);
        });
    }
    std::vector<PgRequest*> in_flight(sent_.begin(), sent_.end());
    std::erase(in_flight, static_cast<PgRequest*>(setup_step_.get()));
    last_error_ = "abandoned after a request timed out";
    drop_connection();
    schedule_reconnect();
    // The connection is consistent (broken, reconnecting) before anyone hears of it: a completion
    // may submit the session's next request at once.
    PgReply timeout;
    timeout.error = ErrorKind::timeout;
    timeout.message = "timed out: no answer from the server (connection abandoned, cancel requested)";
    PgReply aborted;
    aborted.error = ErrorKind::connection;
    aborted.message = "connection abandoned: a request pipelined with this one timed out";
    for (PgRequest* r : in_flight) r->complete(r == &timed_out ? timeout : aborted);
}

void PgConnection::schedule_reconnect() {
    reconnect_timer_.expires_after(reconnect_backoff_.next());
    reconnect_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->state_ == State::broken) self->start_connect();
    });
}

// A connect that never completes (a server that stopped, or a SYN nobody answers) would otherwise
// hold the connection until TCP gives up, minutes later, or forever.
void PgConnection::arm_connect_timer() {
    const std::uint64_t seq = ++connect_seq_;
    connect_timer_.expires_after(connect_timeout_);
    connect_timer_.async_wait([self = shared_from_this(), seq](const boost::system::error_code& ec) {
        if (ec || self->connect_seq_ != seq) return;
        if (self->state_ != State::connecting && self->state_ != State::setting_up) return;
        self->lost("no answer from the server within " + std::to_string(self->connect_timeout_.count() / 1000) +
                   " s (connect_timeout)");
    });
}

void PgConnection::interrupt(PgRequest& request) noexcept {
    const std::uint64_t attempt = request.attempt_.load(std::memory_order_acquire);
    try {
        asio::post(io_, [self = shared_from_this(), r = &request, attempt] {
            if (r->attempt_.load(std::memory_order_acquire) == attempt) self->time_out(*r);
        });
    } catch (...) {  // no memory to post: the attempt waits for its answer
    }
}

void PgConnection::release() {
    if (users_left_ > 0 && --users_left_ > 0) return;
    state_ = State::closed;
    reconnect_timer_.cancel();
    ++connect_seq_;
    connect_timer_.cancel();
    close_socket();
}

std::string pg_library_version() {
    const int v = PQlibVersion();
    return std::to_string(v / 10000) + "." + std::to_string(v % 100);
}

}  // namespace loadbench
