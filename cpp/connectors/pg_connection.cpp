#include "connectors/pg_connection.hpp"
#include "engine/connection_events.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace loadbench {

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
    : io_(io), settings_(std::move(settings)), socket_(io, *this), reconnect_timer_(io), users_left_(settings_.users) {
    pipeline_ = settings_.depth > 1;
}

PgConnection::~PgConnection() {
    close_socket();
    std::lock_guard lock(cancel_mutex_);
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
            case PGRES_POLLING_FAILED: return lost(PQerrorMessage(conn_));
            default: return poll_connect(status);
        }
    }
    if (direction == FdReadiness::Direction::write) return flush();
    on_readable();
}

void PgConnection::start_connect() {
    state_ = State::connecting;
    if (conn_) PQfinish(conn_);
    conn_ = PQconnectStart(settings_.conninfo.c_str());
    if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) return lost(conn_ ? PQerrorMessage(conn_) : "out of memory");
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
    if (const auto ec = socket_.watch(fd)) return lost("cannot watch the connection's socket: " + ec.message());
    const auto direction = wanted == PGRES_POLLING_READING ? FdReadiness::Direction::read : FdReadiness::Direction::write;
    socket_.wait(direction, FdReadiness::Mode::rearm, shared_from_this());
}

void PgConnection::on_connected() {
    if (PQsetnonblocking(conn_, 1) != 0) return lost(PQerrorMessage(conn_));
    if (const auto ec = socket_.watch(PQsocket(conn_))) return lost("cannot watch the connection's socket: " + ec.message());
    {
        std::lock_guard lock(cancel_mutex_);
        if (cancel_) PQfreeCancel(cancel_);
        cancel_ = PQgetCancel(conn_);
    }
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
    reconnect_backoff_ms_ = 0;
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
    if (broken) return lost(PQerrorMessage(conn_));
    if (state_ == State::ready) send_available();
}

void PgConnection::lost(const std::string& message) {
    if (state_ == State::closed) return;
    const bool opening = static_cast<bool>(open_done_);
    last_error_ = pg_first_line(message.c_str());
    close_socket();
    {
        std::lock_guard lock(cancel_mutex_);
        if (cancel_) PQfreeCancel(cancel_);
        cancel_ = nullptr;
    }
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    state_ = opening ? State::closed : State::broken;
    // What was sent may or may not have committed: fail it as a connection error, not retryable.
    // Completions are posted, never run inside the submit or open that detected the loss.
    std::vector<PgRequest*> failed;
    for (PgRequest* r : sent_)
        if (r != setup_step_.get()) failed.push_back(r);
    sent_.clear();
    reply_ = PgReply{};
    asio::post(io_, [self = shared_from_this(), failed = std::move(failed)] {
        PgReply reply;
        reply.message = "connection lost: " + self->last_error_;
        reply.error = ErrorKind::connection;
        for (PgRequest* r : failed) r->complete(reply);
        if (self->open_done_) std::exchange(self->open_done_, nullptr)(self->last_error_);
    });
    if (!opening) schedule_reconnect();
}

void PgConnection::schedule_reconnect() {
    reconnect_backoff_ms_ = std::clamp(reconnect_backoff_ms_ * 2, 10, 1000);
    reconnect_timer_.expires_after(std::chrono::milliseconds(reconnect_backoff_ms_));
    reconnect_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->state_ == State::broken) self->start_connect();
    });
}

void PgConnection::fail_waiting(ErrorKind kind, bool retryable, const std::string& message) {
    PgReply reply;
    reply.error = kind;
    reply.retryable = retryable;
    reply.message = message;
    while (!waiting_.empty()) {
        PgRequest* r = waiting_.front();
        waiting_.pop_front();
        r->complete(reply);
    }
}

void PgConnection::interrupt() noexcept {
    {
        std::lock_guard lock(cancel_mutex_);
        if (cancel_) {
            char error[256];
            PQcancel(cancel_, error, sizeof error);  // blocking, thread-safe: fine on the monitor thread
        }
    }
    asio::post(io_, [self = shared_from_this()] {
        if (self->state_ != State::ready && self->state_ != State::closed)
            self->fail_waiting(ErrorKind::timeout, false, "timed out waiting for the connection");
    });
}

void PgConnection::release() {
    if (users_left_ > 0 && --users_left_ > 0) return;
    state_ = State::closed;
    reconnect_timer_.cancel();
    close_socket();
}

std::string pg_library_version() {
    const int v = PQlibVersion();
    return std::to_string(v / 10000) + "." + std::to_string(v % 100);
}

}  // namespace loadbench
