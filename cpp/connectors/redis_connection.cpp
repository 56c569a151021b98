#include "connectors/redis_connection.hpp"

#include <openssl/evp.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "connectors/connector.hpp"
#include "engine/connection_events.hpp"

namespace loadbench {

namespace {

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

void append_number(std::string& out, long long v) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

void append_bulk(std::string& out, std::string_view s) {
    out += '$';
    append_number(out, static_cast<long long>(s.size()));
    out += "\r\n";
    out += s;
    out += "\r\n";
}

std::string first_line(std::string_view s) {
    const auto nl = s.find_first_of("\r\n");
    return std::string(s.substr(0, nl));
}

}  // namespace

RedisEndpoint parse_redis_url(std::string_view url) {
    if (url.substr(0, 9) == "rediss://") throw ConnectorConfigError("TLS (rediss://) is not supported yet");
    if (url.substr(0, 8) != "redis://") throw ConnectorConfigError("URL must start with redis://");
    std::string_view rest = url.substr(8);
    if (rest.find('?') != std::string_view::npos)
        throw ConnectorConfigError("options in the URL (after '?') are not supported");
    RedisEndpoint e;
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos && slash + 1 < rest.size()) {
        const std::string_view db = rest.substr(slash + 1);
        const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), e.database);
        if (ec != std::errc() || end != db.data() + db.size() || e.database < 0)
            throw ConnectorConfigError("URL's database must be a number (redis://host:port/0)");
    }
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos)
            throw ConnectorConfigError("URL names a user but no password (redis://[user]:password@host)");
        e.user = percent_decode(userinfo.substr(0, colon), "user");
        e.password = percent_decode(userinfo.substr(colon + 1), "password");
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

std::string redis_script_sha1(std::string_view source) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(source.data(), source.size(), digest, &size, EVP_sha1(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned i = 0; i < size; ++i) {
        hex += kHex[digest[i] >> 4];
        hex += kHex[digest[i] & 15];
    }
    return hex;
}

void classify_redis_error(std::string_view message, RedisReply& reply) {
    const std::string_view word = message.substr(0, message.find(' '));
    reply.retryable = false;
    reply.configuration = false;
    reply.error = ErrorKind::other;
    if (word == "NOAUTH" || word == "WRONGPASS" || word == "NOPERM") {
        reply.configuration = true;
    } else if (word == "BUSY" || word == "LOADING" || word == "TRYAGAIN" || word == "MASTERDOWN") {
        reply.error = ErrorKind::busy;
        reply.retryable = true;
    }
}

void RedisRequest::add(const RedisArg& arg) {
    if (arg.is_number) {
        char buf[24];
        const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, arg.number);
        append_bulk(body_, std::string_view(buf, static_cast<std::size_t>(end - buf)));
    } else {
        append_bulk(body_, arg.text);
    }
    ++argc_;
}

void RedisRequest::command(std::initializer_list<RedisArg> args) {
    body_.clear();
    argc_ = 0;
    script_ = kNoScript;
    for (const RedisArg& a : args) add(a);
}

void RedisRequest::script(std::size_t script, std::initializer_list<RedisArg> keys, std::initializer_list<RedisArg> args) {
    body_.clear();
    argc_ = 0;
    script_ = script;
    add(RedisArg(keys.size()));
    for (const RedisArg& k : keys) add(k);
    for (const RedisArg& a : args) add(a);
}

// One command of the connection's setup: AUTH, SELECT, CLIENT SETNAME, SCRIPT LOAD, then a PING
// that says the rest is done.
class RedisConnection::SetupStep final : public RedisRequest {
public:
    enum class What { auth, select, name, load, ping };
    SetupStep(RedisConnection& c, What w) : conn(c), what(w) { internal_ = true; }
    void complete(const RedisReply& reply) override { conn.on_setup_step(*this, reply); }
    RedisConnection& conn;
    const What what;
};

RedisConnection::RedisConnection(asio::io_context& io, RedisSettings settings)
    : io_(io), settings_(std::move(settings)), socket_(io, *this), deadline_timer_(io), reconnect_timer_(io),
      users_left_(settings_.users) {
    for (const std::string& s : settings_.scripts) shas_.push_back(redis_script_sha1(s));
    if (settings_.depth == 0) settings_.depth = 1;
}

RedisConnection::~RedisConnection() {
    destroying_ = true;
    drop("connection closed", false);
}

void RedisConnection::open(std::function<void(const RedisReply&)> done) {
    open_done_ = std::move(done);
    start_connect();
}

// --- the event hooks: hiredis says what it wants; the waits are started after it returns --------

void RedisConnection::add_read_hook(void* self) { static_cast<RedisConnection*>(self)->want_read_ = true; }
void RedisConnection::del_read_hook(void* self) { static_cast<RedisConnection*>(self)->want_read_ = false; }
void RedisConnection::add_write_hook(void* self) { static_cast<RedisConnection*>(self)->want_write_ = true; }
void RedisConnection::del_write_hook(void* self) { static_cast<RedisConnection*>(self)->want_write_ = false; }
void RedisConnection::cleanup_hook(void* self) { static_cast<RedisConnection*>(self)->on_cleanup(); }

void RedisConnection::on_reply_thunk(redisAsyncContext* ac, void* reply, void* privdata) {
    static_cast<RedisConnection*>(ac->data)->on_reply(static_cast<RedisRequest*>(privdata), static_cast<redisReply*>(reply));
}

void RedisConnection::on_ready(FdReadiness::Direction direction, const boost::system::error_code& ec) {
    if (ec || !ac_) return;
    in_hiredis_ = true;
    if (direction == FdReadiness::Direction::read) {
        ++reads_;
        redisAsyncHandleRead(ac_);
    } else {
        redisAsyncHandleWrite(ac_);
    }
    in_hiredis_ = false;
    after_hiredis();
}

// After each call into hiredis: send what waits, write what is buffered, then wait for what hiredis
// asked for. A read wait is an edge wait (no system call) when the oldest request in flight was sent
// after the last read: every byte of its reply is then new data. Otherwise hiredis's read (16 KiB at
// most) may have left part of a reply in the socket, and the wait re-arms so data already there counts.
// Inside hiredis (a reply's callback submitting the session's next request) the command is only
// queued: the call into hiredis that is under way comes back here when it returns, and writes
// every request its replies brought in one write. Waiting there instead would re-arm the socket for
// writing (a system call) and wake the loop once more for a write that is by then done.
void RedisConnection::after_hiredis() {
    send_available();
    if (!ac_ || in_hiredis_) return;
    const bool connected = ac_->c.flags & REDIS_CONNECTED;
    // Before the connect completes, hiredis must first see the socket writable (it then checks
    // SO_ERROR): no optimistic write.
    if (want_write_ && connected) {
        in_hiredis_ = true;
        redisAsyncHandleWrite(ac_);
        in_hiredis_ = false;
        if (!ac_) return;
    }
    if (want_write_) socket_.wait(FdReadiness::Direction::write, FdReadiness::Mode::rearm, shared_from_this());
    // Only while a reply is due: an idle connection must leave its io_context without work (the
    // engine's opening phase runs the loop until nothing is pending). A server that closes an idle
    // connection is found out by the next request.
    if (want_read_ && !sent_.empty()) {
        const bool fresh = sent_.front()->reads_when_sent_ == reads_;
        socket_.wait(FdReadiness::Direction::read, connected && fresh ? FdReadiness::Mode::edge : FdReadiness::Mode::rearm,
                     shared_from_this());
    }
}

// --- connecting and setup ----------------------------------------------------------------------

void RedisConnection::start_connect() {
    state_ = State::connecting;
    const RedisEndpoint& e = settings_.endpoint;
    redisAsyncContext* ac = redisAsyncConnect(e.host.c_str(), static_cast<int>(e.port));
    if (!ac || ac->err) {
        last_error_ = ac ? std::string("cannot connect: ") + ac->errstr : "out of memory";
        if (ac) redisAsyncFree(ac);
        return after_loss(static_cast<bool>(open_done_), false);
    }
    ac_ = ac;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = &add_read_hook;
    ac->ev.delRead = &del_read_hook;
    ac->ev.addWrite = &add_write_hook;
    ac->ev.delWrite = &del_write_hook;
    ac->ev.cleanup = &cleanup_hook;
    if (const auto ec = socket_.watch(ac->c.fd)) {
        const bool opening = static_cast<bool>(open_done_);
        drop("cannot watch the connection's socket: " + ec.message(), false);
        return after_loss(opening, false);
    }
    deadline_timer_.expires_after(settings_.connect_timeout);
    deadline_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->state_ != State::connecting) return;
        const bool opening = static_cast<bool>(self->open_done_);
        self->drop("no answer from the server within " + std::to_string(self->settings_.connect_timeout.count()) +
                       " ms of connecting",
                   false);
        self->after_loss(opening, false);
    });
    // The whole setup is pipelined: hiredis holds it until the connect completes.
    setup_.clear();
    if (!e.password.empty()) {
        auto& s = *setup_.emplace_back(std::make_unique<SetupStep>(*this, SetupStep::What::auth));
        if (e.user.empty()) s.command({"AUTH", e.password});
        else s.command({"AUTH", e.user, e.password});
    }
    if (e.database != 0) setup_.emplace_back(std::make_unique<SetupStep>(*this, SetupStep::What::select))->command({"SELECT", e.database});
    // The name says which of the server's clients are loadbench's (CLIENT LIST name=loadbench): the
    // `terminate` fault (python/loadbench/connectors/redis.py) ends those and no other.
    setup_.emplace_back(std::make_unique<SetupStep>(*this, SetupStep::What::name))->command({"CLIENT", "SETNAME", "loadbench"});
    for (const std::string& source : settings_.scripts)
        setup_.emplace_back(std::make_unique<SetupStep>(*this, SetupStep::What::load))->command({"SCRIPT", "LOAD", source});
    setup_.emplace_back(std::make_unique<SetupStep>(*this, SetupStep::What::ping))->command({"PING"});
    setup_left_ = setup_.size();
    for (auto& s : setup_) send(*s);
    after_hiredis();
}

void RedisConnection::on_setup_step(SetupStep& step, const RedisReply& reply) {
    if (state_ != State::connecting) return;
    // A user whose ACL denies CLIENT SETNAME still benchmarks: its sessions are only unnamed.
    if (!reply.ok && step.what != SetupStep::What::name) {
        const bool configuration = step.what == SetupStep::What::auth || reply.configuration;
        const char* what = step.what == SetupStep::What::auth     ? "AUTH refused: "
                           : step.what == SetupStep::What::select ? "SELECT failed: "
                           : step.what == SetupStep::What::load   ? "SCRIPT LOAD failed: "
                                                                  : "";
        const bool opening = static_cast<bool>(open_done_);
        drop(what + reply.message, configuration);
        return after_loss(opening, configuration);
    }
    if (--setup_left_ > 0) return;
    deadline_timer_.cancel();
    state_ = State::ready;
    reconnect_backoff_.reset();
    if (open_done_) {
        RedisReply ok;
        ok.ok = true;
        std::exchange(open_done_, nullptr)(ok);
    } else {
        reconnects_.fetch_add(1, std::memory_order_relaxed);
        note_reconnect();
    }
}

// --- requests ----------------------------------------------------------------------------------

bool RedisConnection::send(RedisRequest& r) {
    if (!ac_) return false;
    scratch_.clear();
    scratch_ += '*';
    append_number(scratch_, static_cast<long long>(r.argc_ + (r.script_ != RedisRequest::kNoScript ? 2 : 0)));
    scratch_ += "\r\n";
    if (r.script_ != RedisRequest::kNoScript) {
        append_bulk(scratch_, "EVALSHA");
        append_bulk(scratch_, shas_[r.script_]);
    }
    scratch_ += r.body_;
    if (redisAsyncFormattedCommand(ac_, &on_reply_thunk, &r, scratch_.data(), scratch_.size()) != REDIS_OK) return false;
    r.reads_when_sent_ = reads_;
    sent_.push_back(&r);
    return true;
}

void RedisConnection::submit(RedisRequest& request) {
    if (state_ == State::closed) {  // released, or its first connection failed: nothing will come
        RedisReply closed;
        closed.error = ErrorKind::connection;
        closed.message = "connection closed: " + last_error_;
        asio::post(io_, [self = shared_from_this(), r = &request, closed] { r->complete(closed); });
        return;
    }
    request.reloaded_ = false;
    waiting_.push_back(&request);
    in_submit_ = true;
    after_hiredis();
    in_submit_ = false;
}

void RedisConnection::send_available() {
    while (state_ == State::ready && ac_ && !waiting_.empty() && user_in_flight_ < settings_.depth) {
        RedisRequest* r = waiting_.front();
        if (r->script_ != RedisRequest::kNoScript && r->script_ >= shas_.size()) {
            waiting_.pop_front();
            RedisReply reply;
            reply.error = ErrorKind::other;
            reply.message = "no script " + std::to_string(r->script_) + " was loaded";
            deliver(r, reply);
            continue;
        }
        if (!send(*r)) break;
        waiting_.pop_front();
        ++user_in_flight_;
    }
}

void RedisConnection::on_reply(RedisRequest* request, redisReply* reply) {
    // hiredis answers in the order commands were sent: `request` is the oldest in flight.
    const auto it = std::find(sent_.begin(), sent_.end(), request);
    if (it != sent_.end()) sent_.erase(it);
    if (!request->internal_ && user_in_flight_ > 0) --user_in_flight_;
    RedisReply r;
    if (!reply) {  // the context is being freed: by us, or after an error the library found
        if (state_ == State::ready) state_ = State::broken;  // completions below submit into the queue
        if (destroying_ || request->internal_) return;
        if (abandoning_ && (!abandon_target_ || abandon_target_ == request)) {
            r.error = ErrorKind::timeout;
            r.message = "timed out; the connection was abandoned and reconnects";
        } else {
            r.error = ErrorKind::connection;
            r.message = abandoning_ ? "connection abandoned: another request on it timed out"
                        : ac_ && ac_->err ? std::string("connection lost: ") + ac_->errstr
                        : state_ == State::closed ? "connection closed"
                                                  : "connection lost";
        }
        return deliver(request, r);
    }
    r.type = reply->type;
    r.raw = reply;
    if (reply->type == REDIS_REPLY_ERROR) {
        const std::string_view text(reply->str, reply->len);
        // The script cache was flushed (or the server restarted under us): load it and resend, once.
        // Loading is fire-and-forget: if it fails, the resent EVALSHA says NOSCRIPT again.
        if (request->script_ != RedisRequest::kNoScript && !request->reloaded_ && text.substr(0, 8) == "NOSCRIPT" &&
            state_ == State::ready && ac_) {
            request->reloaded_ = true;
            ++script_reloads_;
            scratch_.clear();
            scratch_ += "*3\r\n";
            append_bulk(scratch_, "SCRIPT");
            append_bulk(scratch_, "LOAD");
            append_bulk(scratch_, settings_.scripts[request->script_]);
            if (redisAsyncFormattedCommand(ac_, nullptr, nullptr, scratch_.data(), scratch_.size()) == REDIS_OK &&
                send(*request)) {
                if (!request->internal_) ++user_in_flight_;
                return;
            }
        }
        r.message = first_line(text);
        classify_redis_error(text, r);
    } else if (reply->type == REDIS_REPLY_NIL && request->nil_is_conflict) {
        r.error = ErrorKind::serialization;
        r.retryable = true;
        r.message = "EXEC aborted: a WATCHed key changed";
    } else {
        r.ok = true;
        if (reply->type == REDIS_REPLY_INTEGER) r.integer = reply->integer;
        if (reply->type == REDIS_REPLY_ARRAY) r.elements = reply->elements;
    }
    if (!r.ok && !request->internal_) last_error_ = r.message;
    deliver(request, r);
}

void RedisConnection::deliver(RedisRequest* request, const RedisReply& reply) {
    if (!in_submit_) return request->complete(reply);
    RedisReply copy = reply;
    copy.raw = nullptr;  // hiredis frees it when this returns
    asio::post(io_, [self = shared_from_this(), request, copy] { request->complete(copy); });
}

// --- loss --------------------------------------------------------------------------------------

// Ends the context ourselves. The hooks are detached first: nothing of it reaches this object again
// but the NULL replies of what was in flight (now, or right after the callback we may be inside).
void RedisConnection::drop(const std::string& message, bool configuration) {
    (void)configuration;
    if (!destroying_) last_error_ = message;
    redisAsyncContext* ac = std::exchange(ac_, nullptr);
    socket_.close();
    want_read_ = want_write_ = false;
    if (state_ == State::ready || state_ == State::connecting) state_ = State::broken;
    if (!ac) return;
    ac->ev.addRead = ac->ev.delRead = ac->ev.addWrite = ac->ev.delWrite = nullptr;
    ac->ev.cleanup = nullptr;
    redisAsyncFree(ac);
}

// The library ended the context after an error it found (a failed read or write, the server's EOF);
// the NULL replies of what was in flight have been delivered.
void RedisConnection::on_cleanup() {
    std::string message = ac_ && ac_->err ? std::string(ac_->errstr) : "connection closed by the server";
    ac_ = nullptr;
    socket_.close();
    want_read_ = want_write_ = false;
    sent_.clear();
    user_in_flight_ = 0;
    if (destroying_ || state_ == State::closed) return;
    last_error_ = message;
    after_loss(static_cast<bool>(open_done_), false);
}

void RedisConnection::after_loss(bool opening, bool configuration) {
    deadline_timer_.cancel();
    sent_.clear();
    user_in_flight_ = 0;
    if (!opening) {
        state_ = State::broken;
        return schedule_reconnect(false);
    }
    // A first connection that fails is not retried: the opener hears why, and what waited fails.
    state_ = State::closed;
    std::deque<RedisRequest*> never_sent;
    never_sent.swap(waiting_);
    RedisReply failed;
    failed.error = ErrorKind::other;
    classify_redis_error(last_error_, failed);
    failed.configuration = failed.configuration || configuration;
    if (!failed.configuration) failed.error = ErrorKind::connection;
    failed.message = last_error_;
    asio::post(io_, [self = shared_from_this(), never_sent = std::move(never_sent), failed] {
        RedisReply lost = failed;
        lost.error = ErrorKind::connection;
        for (RedisRequest* r : never_sent) r->complete(lost);
        if (self->open_done_) std::exchange(self->open_done_, nullptr)(failed);
    });
}

void RedisConnection::schedule_reconnect(bool at_once) {
    reconnect_timer_.expires_after(at_once ? std::chrono::milliseconds(0) : reconnect_backoff_.next());
    reconnect_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->state_ == State::broken) self->start_connect();
    });
}

void RedisConnection::interrupt(const RedisRequest* request) noexcept {
    auto self = weak_from_this().lock();
    if (!self) return;
    asio::post(io_, [self = std::move(self), request] { self->on_interrupt(request); });
}

void RedisConnection::on_interrupt(const RedisRequest* request) {
    if (state_ == State::closed) return;
    const bool in_flight = std::any_of(sent_.begin(), sent_.end(), [&](const RedisRequest* r) {
        return !r->internal_ && (!request || r == request);
    });
    RedisReply timeout;
    timeout.error = ErrorKind::timeout;
    if (in_flight) {
        // Redis cannot cancel one command: give up the connection (its replies would come in order
        // behind the stuck one anyway) and reconnect at once.
        abandoning_ = true;
        abandon_target_ = request;
        drop("timed out; the connection was abandoned and reconnects", false);
        abandoning_ = false;
        abandon_target_ = nullptr;
        sent_.clear();
        user_in_flight_ = 0;
        state_ = State::broken;
        schedule_reconnect(true);
    } else if (request) {
        const auto it = std::find(waiting_.begin(), waiting_.end(), request);
        if (it != waiting_.end()) {
            RedisRequest* r = *it;
            waiting_.erase(it);
            timeout.message = "timed out waiting for the connection";
            r->complete(timeout);
        }
    }
    if (!request && state_ != State::ready) {
        timeout.message = "timed out waiting for the connection";
        while (!waiting_.empty()) {
            RedisRequest* r = waiting_.front();
            waiting_.pop_front();
            r->complete(timeout);
        }
    }
}

void RedisConnection::release() {
    if (users_left_ > 0 && --users_left_ > 0) return;
    state_ = State::closed;
    reconnect_timer_.cancel();
    deadline_timer_.cancel();
    drop("connection closed", false);
}

std::string hiredis_library_version() {
    return std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR) + "." + std::to_string(HIREDIS_PATCH);
}

}  // namespace loadbench
