#include "connectors/redis_connector.hpp"

#include "connectors/registry.hpp"

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "connectors/options.hpp"
#include "net/system_error.hpp"

namespace loadbench {
namespace {

// The transfer script, in two pieces: --audit's script (scenarios/transfer_audit.hpp) is the same
// text with kLedgerStep between them: when the money moved, its ledger entry ARGV[2] ("op_id from to
// amount") is appended to the list KEYS[3] in the same script (atomic; one entry in the AOF with it).
// One text for both, so an audited run measures the same work plus the ledger; the tests compare.
constexpr std::string_view kTransferBody =
    R"lua(-- test-1's transfer on Redis, run with EVALSHA (by loadbench's redis connector and by
-- bench/vs_redis_benchmark.py's redis-benchmark): KEYS[1] pays ARGV[1] to KEYS[2] if its balance
-- covers it. Atomic, as every script is. Returns 1 when money moved, 0 when refused, an error
-- when an account is missing (a server restarted without persistence has lost them).
local amount = tonumber(ARGV[1])
local balance = redis.call('GET', KEYS[1])
if not balance or redis.call('EXISTS', KEYS[2]) == 0 then
  return redis.error_reply('NOACCOUNT no such account')
end
if tonumber(balance) < amount then return 0 end
redis.call('DECRBY', KEYS[1], amount)
redis.call('INCRBY', KEYS[2], amount)
)lua";
constexpr std::string_view kLedgerStep = "redis.call('RPUSH', KEYS[3], ARGV[2])\n";
constexpr std::string_view kTransferEnd = "return 1\n";

const std::string kTransferScript = std::string(kTransferBody).append(kTransferEnd);
const std::string kAuditedTransferScript = std::string(kTransferBody).append(kLedgerStep).append(kTransferEnd);
constexpr const char* kLedgerKey = "audit:ledger";
constexpr long long kLedgerPage = 10'000;  // entries per LRANGE, accounts per MGET when auditing

// A ledger entry's text, "op_id from to amount", into `out`.
std::string_view format_entry(const Transfer& t, std::array<char, 96>& out) {
    const int n = std::snprintf(out.data(), out.size(), "%llu %llu %llu %lld", static_cast<unsigned long long>(t.op_id),
                                static_cast<unsigned long long>(t.from_id), static_cast<unsigned long long>(t.to_id),
                                static_cast<long long>(t.amount));
    return {out.data(), static_cast<std::size_t>(n)};
}

// verify, over account indexes ARGV[1]..ARGV[2] (id - 1): {present, total, negative, changed}, by
// MGETs of 1,000 keys (measured: 0.7x the time of a GET per key).
// In ranges, so that no single script holds the server for long (its busy-script limit is 5 s).
constexpr const char* kVerifyScript = R"lua(
local first, last, initial = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local count, total, negative, changed = 0, 0, 0, 0
local keys = {}
for i = first, last do
  keys[#keys + 1] = string.format('account:%012d', i)
  if #keys == 1000 or i == last then
    for _, v in ipairs(redis.call('MGET', unpack(keys))) do
      if v then
        v = tonumber(v)
        count = count + 1
        total = total + v
        if v < 0 then negative = negative + 1 end
        if v ~= initial then changed = changed + 1 end
      end
    end
    keys = {}
  end
end
return {count, total, negative, changed}
)lua";

// verify's second pass: SCAN from cursor ARGV[1] over every 'account:*' key, about ARGV[3] keys per
// call, and return {cursor, outside}: each key that is not account:<12-digit index> with index <
// ARGV[2] (ids 1..N), with its balance (false when it is not an integer), as a flat list. SCAN may
// return a key twice (while the key table is resized), so the caller keeps each name once.
constexpr const char* kVerifyScanScript = R"lua(
local cursor, n, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local seen, outside = 0, {}
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', 'account:*', 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    local digits = string.match(key, '^account:(%d+)$')
    if not digits or #digits ~= 12 or tonumber(digits) >= n then
      local ok, v = pcall(redis.call, 'GET', key)
      outside[#outside + 1] = key
      outside[#outside + 1] = (ok and type(v) == 'string' and string.match(v, '^-?%d+$')) or ''
    end
  end
  seen = seen + #page[2]
until cursor == '0' or seen >= budget
return {cursor, outside}
)lua";

constexpr std::uint64_t kVerifyRange = 50'000;    // accounts per verify script call
constexpr std::uint64_t kVerifyScanBudget = 100'000;  // keys per SCAN pass script call
constexpr std::size_t kPrepBatch = 1'000;          // accounts per MSET
constexpr std::size_t kPrepWindow = 32;            // MSETs in flight during prep

// account:<index>, the index zero-padded to 12 digits (redis-benchmark's __rand_int__), into `out`.
// Two per transfer: to_chars, not snprintf (whose format parsing was 3% of a pipelined run's
// client CPU, perf record -e cpu-clock at 32 connections x 16).
std::string_view format_key(std::uint64_t index, std::array<char, 32>& out) {
    constexpr std::string_view kPrefix = "account:";
    constexpr std::size_t kWidth = 12;
    char digits[20];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, index);
    const auto n = static_cast<std::size_t>(end - digits);
    const std::size_t pad = n < kWidth ? kWidth - n : 0;
    char* p = std::copy(kPrefix.begin(), kPrefix.end(), out.data());
    p = std::fill_n(p, pad, '0');
    p = std::copy(digits, end, p);
    return {out.data(), static_cast<std::size_t>(p - out.data())};
}

RedisConnectorOptions parse_options(const ConnectorOptions& options) {
    RedisConnectorOptions o;
    o.endpoint = parse_redis_url(option_required(options, "url"));
    const std::string mode = option_string(options, "mode", "script");
    if (mode != "script" && mode != "watch") throw ConnectorError("mode must be script or watch, got '" + mode + "'");
    o.watch_mode = mode == "watch";
    o.inflight = static_cast<std::size_t>(option_int(options, "inflight", 1, 1, 1024));
    if (o.inflight > 1 && o.watch_mode)
        throw ConnectorError("inflight > 1 (pipelining) needs mode=script: WATCH belongs to the whole connection");
    return o;
}

std::string where(const RedisEndpoint& e) { return e.host + ":" + std::to_string(e.port); }

struct ReplyDeleter {
    void operator()(redisReply* r) const {
        if (r) freeReplyObject(r);
    }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// A blocking connection for the control plane (hiredis's synchronous API), cancellable through the
// connector's hooks (shutting its socket down ends any wait). Every error is a ConnectorError that
// begins with `what` (when not empty); a refused password or permission is a ConnectorConfigError.
class ControlConnection {
public:
    // io_timeout_s bounds each reply: a frozen server (SIGSTOP) still completes TCP handshakes from
    // the kernel's backlog, so only this ends the wait. Prep's and verify's replies each cover a
    // bounded batch (kVerifyRange accounts, kVerifyScanBudget keys) and take well under a second.
    ControlConnection(Connector& owner, const RedisEndpoint& e, const std::string& what, long io_timeout_s = 15)
        : what_(what.empty() ? "" : what + ": "), io_timeout_s_(io_timeout_s) {
        const timeval connect_timeout{10, 0};
        ctx_ = redisConnectWithTimeout(e.host.c_str(), static_cast<int>(e.port), connect_timeout);
        if (!ctx_) throw ConnectorError(what_ + "cannot connect to " + where(e) + ": out of memory");
        if (ctx_->err) {
            const std::string message = ctx_->errstr;
            redisFree(std::exchange(ctx_, nullptr));
            throw ConnectorError(what_ + "cannot connect to " + where(e) + ": " + explain_resource_errors(message));
        }
        // A stalled server must not hold the call for ever (and cancel() ends the wait sooner).
        const timeval io_timeout{io_timeout_s, 0};
        redisSetTimeout(ctx_, io_timeout);
        cancel_.emplace(owner.on_cancel([fd = ctx_->fd] { ::shutdown(fd, SHUT_RDWR); }));
        try {
            if (!e.password.empty()) {
                if (e.user.empty()) call({"AUTH", e.password}, "AUTH refused");
                else call({"AUTH", e.user, e.password}, "AUTH refused");
            }
            if (e.database != 0) call({"SELECT", std::to_string(e.database)}, "SELECT failed");
        } catch (...) {
            close();
            throw;
        }
    }
    ~ControlConnection() { close(); }
    ControlConnection(const ControlConnection&) = delete;
    ControlConnection& operator=(const ControlConnection&) = delete;

    // One command and its reply. An error reply throws, prefixed with `context`.
    ReplyPtr call(const std::vector<std::string_view>& args, const char* context = nullptr) {
        append(args);
        return next(context);
    }
    // Pipelining: append commands, then read their replies in order with next().
    void append(const std::vector<std::string_view>& args) {
        argv_.clear();
        lengths_.clear();
        for (std::string_view a : args) {
            argv_.push_back(a.data());
            lengths_.push_back(a.size());
        }
        if (redisAppendCommandArgv(ctx_, static_cast<int>(argv_.size()), argv_.data(), lengths_.data()) != REDIS_OK)
            throw ConnectorError(what_ + ctx_->errstr);
    }
    ReplyPtr next(const char* context = nullptr) {
        void* raw = nullptr;
        if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) {
            std::string message = ctx_->errstr;
            if (ctx_->err == REDIS_ERR_IO && message.empty()) message = "connection lost";
            // hiredis reports its read timeout as the socket's EAGAIN, in strerror's words.
            if (ctx_->err == REDIS_ERR_IO && message == std::strerror(EAGAIN))
                message = "no answer from the server within " + std::to_string(io_timeout_s_) + " s";
            throw ConnectorError(what_ + explain_resource_errors(message));
        }
        ReplyPtr reply(static_cast<redisReply*>(raw));
        if (reply->type == REDIS_REPLY_ERROR) {
            const std::string message(reply->str, reply->len);
            RedisReply classified;
            classify_redis_error(message, classified);
            const std::string line = what_ + (context ? std::string(context) + ": " : "") + message;
            if (classified.configuration || (context && std::string_view(context) == "AUTH refused"))
                throw ConnectorConfigError(line);
            throw ConnectorError(line);
        }
        return reply;
    }
    [[noreturn]] void unexpected(const char* command) const {
        throw ConnectorError(what_ + "unexpected reply to " + command);
    }

private:
    void close() {
        cancel_.reset();  // before the socket goes: the hook must never shut down a reused descriptor
        if (ctx_) redisFree(std::exchange(ctx_, nullptr));
    }
    std::string what_;
    long io_timeout_s_;
    redisContext* ctx_ = nullptr;
    std::optional<CancelHooks::Registration> cancel_;
    std::vector<const char*> argv_;
    std::vector<std::size_t> lengths_;
};

long long integer_at(const redisReply* array, std::size_t i) {
    const redisReply* e = array->element[i];
    return e->type == REDIS_REPLY_INTEGER ? e->integer : 0;
}

// --- sessions -------------------------------------------------------------------------------------

// Script mode: one EVALSHA per transfer; the sessions of a pipeline group share a connection.
class ScriptSession final : public AsyncTransferSession, public RedisRequest {
public:
    ScriptSession(std::shared_ptr<RedisConnection> conn, bool counts_reconnects)
        : conn_(std::move(conn)), counts_reconnects_(counts_reconnects) {}

    void transfer(const Transfer& t, AttemptCallback& done) override {
        done_ = &done;
        if (t.op_id != 0)
            script(1, {format_key(t.from_id - 1, from_), format_key(t.to_id - 1, to_), kLedgerKey},
                   {t.amount, format_entry(t, entry_)});
        else
            script(0, {format_key(t.from_id - 1, from_), format_key(t.to_id - 1, to_)}, {t.amount});
        conn_->submit(*this);
    }
    void complete(const RedisReply& reply) override {
        if (!reply.ok) {
            last_error_ = reply.message;
            return done_->attempt_done(Attempt::failed(reply.error, reply.retryable));
        }
        if (reply.type != REDIS_REPLY_INTEGER || (reply.integer != 0 && reply.integer != 1)) {
            last_error_ = "the transfer script answered something other than 0 or 1";
            return done_->attempt_done(Attempt::failed(ErrorKind::protocol));
        }
        done_->attempt_done(reply.integer == 1 ? Attempt::committed() : Attempt::rejected());
    }
    void interrupt() noexcept override { conn_->interrupt(this); }
    void shutdown() override { conn_->release(); }
    std::string last_error() const override { return last_error_; }
    // The connection's reconnects, counted by one session of the group (the engine sums sessions).
    std::uint64_t reconnects() const override { return counts_reconnects_ ? conn_->reconnects() : 0; }

private:
    std::shared_ptr<RedisConnection> conn_;
    bool counts_reconnects_;
    AttemptCallback* done_ = nullptr;
    std::array<char, 32> from_{}, to_{};
    std::array<char, 96> entry_{};
    std::string last_error_;
};

// Watch mode, an optimistic transaction in two round trips, each a pipelined batch:
//   WATCH from to; MGET from to   -> too little money: UNWATCH, rejected
//   MULTI; DECRBY from; INCRBY to; EXEC   -> EXEC nil (a watched key changed): retryable
// (--audit: RPUSH of the ledger entry between INCRBY and EXEC.)
// One session per connection: WATCH and MULTI are the connection's state.
class WatchSession final : public AsyncTransferSession {
public:
    WatchSession(std::shared_ptr<RedisConnection> conn, asio::io_context& io) : conn_(std::move(conn)), io_(io) {
        for (Step* s : {&watch_, &read_, &multi_, &debit_, &credit_, &record_, &exec_, &unwatch_}) s->session = this;
        exec_.nil_is_conflict = true;
        multi_.command({"MULTI"});
        exec_.command({"EXEC"});
        unwatch_.command({"UNWATCH"});
    }

    void transfer(const Transfer& t, AttemptCallback& done) override {
        done_ = &done;
        amount_ = t.amount;
        const std::string_view from = format_key(t.from_id - 1, from_), to = format_key(t.to_id - 1, to_);
        watch_.command({"WATCH", from, to});
        read_.command({"MGET", from, to});
        debit_.command({"DECRBY", from, t.amount});
        credit_.command({"INCRBY", to, t.amount});
        audited_ = t.op_id != 0;
        if (audited_) record_.command({"RPUSH", kLedgerKey, format_entry(t, entry_)});
        failure_.reset();
        submit(Phase::read, {&watch_, &read_});
    }

    void interrupt() noexcept override { conn_->interrupt(nullptr); }  // the connection is this session's alone
    void shutdown() override { conn_->release(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    enum class Phase { read, write, unwatch };
    struct Step final : RedisRequest {
        WatchSession* session = nullptr;
        void complete(const RedisReply& reply) override { session->on_step(*this, reply); }
    };

    void submit(Phase phase, std::initializer_list<Step*> steps) {
        phase_ = phase;
        pending_ = steps.size();
        for (Step* s : steps) conn_->submit(*s);
    }

    void fail(Attempt attempt, std::string message) {
        if (failure_) return;  // the first failure of a batch says what happened
        failure_ = attempt;
        last_error_ = std::move(message);
    }

    void on_step(Step& step, const RedisReply& reply) {
        if (!reply.ok) {
            fail(Attempt::failed(reply.error, reply.retryable), reply.message);
        } else if (&step == &read_) {
            const redisReply* r = reply.raw;
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
                fail(Attempt::failed(ErrorKind::protocol), "MGET answered something other than two values");
            } else if (r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
                fail(Attempt::failed(ErrorKind::other), "NOACCOUNT no such account");
            } else {
                const redisReply* from = r->element[0];
                long long balance = 0;
                const auto [end, ec] = std::from_chars(from->str, from->str + from->len, balance);
                if (ec != std::errc() || end != from->str + from->len)
                    fail(Attempt::failed(ErrorKind::other), "a balance is not an integer");
                covers_ = balance >= amount_;
            }
        } else if (&step == &exec_ && reply.raw) {
            const redisReply* r = reply.raw;  // EXEC's replies: DECRBY's and INCRBY's (and RPUSH's)
            for (std::size_t i = 0; i < r->elements; ++i)
                if (r->element[i]->type == REDIS_REPLY_ERROR)
                    fail(Attempt::failed(ErrorKind::other), std::string(r->element[i]->str, r->element[i]->len));
        }
        if (--pending_ > 0) return;
        switch (phase_) {
            case Phase::read:
                if (failure_) {
                    // A lost (or abandoned) connection took its WATCH along; otherwise end it.
                    if (failure_->error == ErrorKind::connection || failure_->error == ErrorKind::timeout)
                        return finish();
                    return submit(Phase::unwatch, {&unwatch_});
                }
                if (!covers_) {
                    outcome_ = Attempt::rejected();
                    return submit(Phase::unwatch, {&unwatch_});
                }
                if (audited_) return submit(Phase::write, {&multi_, &debit_, &credit_, &record_, &exec_});
                return submit(Phase::write, {&multi_, &debit_, &credit_, &exec_});
            case Phase::write:  // EXEC ended the transaction and its WATCH, whatever it answered
                if (!failure_) outcome_ = Attempt::committed();
                return finish();
            case Phase::unwatch:
                return finish();
        }
    }

    void finish() {
        const Attempt attempt = failure_ ? *failure_ : outcome_;
        if (failure_ && (failure_->error == ErrorKind::connection || failure_->error == ErrorKind::timeout)) {
            // Possibly inside the connection's own teardown (an interrupt abandoning it): the next
            // attempt must be submitted after that, not into it.
            asio::post(io_, [this, attempt] { done_->attempt_done(attempt); });
            return;
        }
        done_->attempt_done(attempt);
    }

    std::shared_ptr<RedisConnection> conn_;
    asio::io_context& io_;
    AttemptCallback* done_ = nullptr;
    std::array<char, 32> from_{}, to_{};
    std::int64_t amount_ = 0;
    bool covers_ = false;
    bool audited_ = false;
    std::array<char, 96> entry_{};
    Step watch_, read_, multi_, debit_, credit_, record_, exec_, unwatch_;
    Phase phase_ = Phase::read;
    std::size_t pending_ = 0;
    std::optional<Attempt> failure_;
    Attempt outcome_;
    std::string last_error_;
};

}  // namespace

// Connections being opened or open, by pipeline group (see PostgresConnector::Groups): only the
// group's sessions own one, so it goes with the run whose event loop it lives on.
struct RedisConnector::Groups {
    struct Group {
        std::weak_ptr<RedisConnection> conn;
        bool opening = false;
        bool open = false;
        std::string error;
        std::vector<GroupOpened> waiting;
    };
    std::mutex mutex;
    std::map<std::size_t, Group> by_group;
};

RedisConnector::RedisConnector(const ConnectorOptions& options)
    : options_(parse_options(options)), groups_(std::make_unique<Groups>()) {}

RedisConnector::~RedisConnector() = default;

const std::string& RedisConnector::transfer_script() { return kTransferScript; }
const std::string& RedisConnector::audited_transfer_script() { return kAuditedTransferScript; }

std::string RedisConnector::account_key(std::uint64_t id) {
    std::array<char, 32> buf{};
    return std::string(format_key(id - 1, buf));
}

void RedisConnector::check() {
    ControlConnection c(*this, options_.endpoint, "", 10);
    const ReplyPtr pong = c.call({"PING"});
    if (pong->type != REDIS_REPLY_STATUS) c.unexpected("PING");
}

void RedisConnector::prep_accounts(const AccountsSpec& spec) {
    ControlConnection c(*this, options_.endpoint, "prep");
    // Accounts of an earlier prep (perhaps more of them) go first; the database's other keys stay.
    std::string cursor = "0";
    std::vector<std::string_view> args;
    do {
        const ReplyPtr page = c.call({"SCAN", cursor, "MATCH", "account:*", "COUNT", "10000"});
        if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 || page->element[0]->type != REDIS_REPLY_STRING ||
            page->element[1]->type != REDIS_REPLY_ARRAY)
            c.unexpected("SCAN");
        cursor.assign(page->element[0]->str, page->element[0]->len);
        const redisReply* keys = page->element[1];
        if (keys->elements == 0) continue;
        args.assign({"UNLINK"});
        for (std::size_t i = 0; i < keys->elements; ++i) args.emplace_back(keys->element[i]->str, keys->element[i]->len);
        c.call(args);
    } while (cursor != "0");

    c.call({"UNLINK", kLedgerKey});  // --audit's ledger starts empty

    // MSETs of kPrepBatch accounts, kPrepWindow of them in flight (hiredis formats each command
    // into its output buffer when appended, so the key texts can be reused at once).
    const std::string balance = std::to_string(spec.initial_balance);
    std::vector<std::array<char, 32>> keys(kPrepBatch);
    std::size_t in_flight = 0;
    for (std::uint64_t first = 0; first < spec.accounts; first += kPrepBatch) {
        const std::uint64_t end = std::min<std::uint64_t>(spec.accounts, first + kPrepBatch);
        args.assign({"MSET"});
        for (std::uint64_t i = first; i < end; ++i) {
            args.push_back(format_key(i, keys[i - first]));
            args.emplace_back(balance);
        }
        c.append(args);
        if (++in_flight == kPrepWindow) {
            c.next();
            --in_flight;
        }
    }
    for (; in_flight > 0; --in_flight) c.next();
}

std::optional<AccountsCheck> RedisConnector::verify_accounts(const AccountsSpec& spec) {
    ControlConnection c(*this, options_.endpoint, "verify");
    AccountsCheck check;
    std::uint64_t changed = 0;
    const std::string initial = std::to_string(spec.initial_balance);
    for (std::uint64_t first = 0; first < spec.accounts; first += kVerifyRange) {
        const std::uint64_t last = std::min<std::uint64_t>(spec.accounts, first + kVerifyRange) - 1;
        const std::string from = std::to_string(first), to = std::to_string(last);
        const ReplyPtr r = c.call({"EVAL", kVerifyScript, "0", from, to, initial});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) c.unexpected("the verify script");
        check.accounts += static_cast<std::uint64_t>(integer_at(r.get(), 0));
        check.total += integer_at(r.get(), 1);
        check.negative_balances += static_cast<std::uint64_t>(integer_at(r.get(), 2));
        changed += static_cast<std::uint64_t>(integer_at(r.get(), 3));
    }
    check.changed = changed;
    // Every other 'account:*' key, by a server-side SCAN: money moved to an id outside 1..N is
    // found, not missed. Each name counts once, whatever SCAN repeats.
    std::map<std::string, std::string> outside;
    const std::string n = std::to_string(spec.accounts), budget = std::to_string(kVerifyScanBudget);
    std::string cursor = "0";
    do {
        const ReplyPtr r = c.call({"EVAL", kVerifyScanScript, "0", cursor, n, budget});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY || r->element[1]->elements % 2 != 0)
            c.unexpected("the verify scan script");
        cursor.assign(r->element[0]->str, r->element[0]->len);
        const redisReply* keys = r->element[1];
        for (std::size_t i = 0; i + 1 < keys->elements; i += 2)
            outside.emplace(std::string(keys->element[i]->str, keys->element[i]->len),
                            std::string(keys->element[i + 1]->str, keys->element[i + 1]->len));
    } while (cursor != "0");
    for (const auto& [key, value] : outside) {
        long long balance = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), balance);
        if (ec != std::errc() || end != value.data() + value.size()) continue;  // not a balance
        check.total += balance;
        if (balance < 0) ++check.negative_balances;
    }
    check.outside = outside.size();
    if (!outside.empty()) check.outside_example = outside.begin()->first;
    check.expected_total = static_cast<std::int64_t>(spec.accounts) * spec.initial_balance;
    check.passed = check.accounts == spec.accounts && check.total == check.expected_total &&
                   check.negative_balances == 0 && outside.empty();
    return check;
}

AuditLedger RedisConnector::read_audit_ledger(const AccountsSpec& spec) {
    ControlConnection c(*this, options_.endpoint, "audit", 60);  // the ledger's replies may be large
    AuditLedger ledger;
    for (const char* name : {"appendonly", "appendfsync", "save"}) {
        std::string value = "unknown";  // CONFIG may be renamed or refused to this user
        try {
            const ReplyPtr r = c.call({"CONFIG", "GET", name});
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING)
                value.assign(r->element[1]->str, r->element[1]->len);
        } catch (const ConnectorConfigError&) {
            throw;
        } catch (const ConnectorError&) {
        }
        ledger.durability[name] = value;
    }
    for (long long first = 0;; first += kLedgerPage) {
        const ReplyPtr page =
            c.call({"LRANGE", kLedgerKey, std::to_string(first), std::to_string(first + kLedgerPage - 1)});
        if (page->type != REDIS_REPLY_ARRAY) c.unexpected("LRANGE");
        for (std::size_t i = 0; i < page->elements; ++i) {
            const redisReply* e = page->element[i];
            unsigned long long op = 0, from = 0, to = 0;
            long long amount = 0;
            if (e->type != REDIS_REPLY_STRING ||
                std::sscanf(std::string(e->str, e->len).c_str(), "%llu %llu %llu %lld", &op, &from, &to, &amount) != 4)
                c.unexpected("LRANGE (a ledger entry)");
            ledger.entries.push_back({op, from, to, amount});
        }
        if (page->elements < static_cast<std::size_t>(kLedgerPage)) break;
    }
    const std::size_t n = static_cast<std::size_t>(spec.accounts);
    ledger.balances.assign(n, 0);
    ledger.present.assign(n, false);
    std::vector<std::array<char, 32>> keys(static_cast<std::size_t>(kLedgerPage));
    std::vector<std::string_view> args;
    for (std::size_t first = 0; first < n; first += static_cast<std::size_t>(kLedgerPage)) {
        const std::size_t end = std::min(n, first + static_cast<std::size_t>(kLedgerPage));
        args.assign({"MGET"});
        for (std::size_t i = first; i < end; ++i) args.push_back(format_key(i, keys[i - first]));
        const ReplyPtr values = c.call(args);
        if (values->type != REDIS_REPLY_ARRAY || values->elements != end - first) c.unexpected("MGET");
        for (std::size_t i = first; i < end; ++i) {
            const redisReply* v = values->element[i - first];
            if (v->type != REDIS_REPLY_STRING) continue;  // missing
            long long balance = 0;
            const auto [ptr, ec] = std::from_chars(v->str, v->str + v->len, balance);
            if (ec != std::errc() || ptr != v->str + v->len) continue;  // not a balance: counted as lost
            ledger.balances[i] = balance;
            ledger.present[i] = true;
        }
    }
    return ledger;
}

void RedisConnector::open_async_transfer_session(asio::io_context& io, std::size_t index,
                                                 AsyncTransferOpenCallback& done) {
    open_in_group(io, index, [this, &io, &done, index](const std::shared_ptr<RedisConnection>& conn, const std::string& error) {
        if (!error.empty()) return done.open_failed(error);
        if (options_.watch_mode) return done.opened(std::make_unique<WatchSession>(conn, io));
        done.opened(std::make_unique<ScriptSession>(conn, index % options_.inflight == 0));
    });
}

void RedisConnector::open_in_group(asio::io_context& io, std::size_t index, GroupOpened done) {
    const std::size_t group_index = index / options_.inflight;
    std::shared_ptr<RedisConnection> to_open;
    {
        std::lock_guard lock(groups_->mutex);
        Groups::Group& group = groups_->by_group[group_index];
        if (group.open || !group.error.empty()) {  // a later session of an opened group
            auto conn = group.conn.lock();
            const std::string error = conn || !group.error.empty() ? group.error : "connection closed";
            asio::post(io, [conn = std::move(conn), error, done = std::move(done)] { done(conn, error); });
            return;
        }
        group.waiting.push_back(std::move(done));
        if (group.opening) return;
        group.opening = true;
        RedisSettings settings;
        settings.endpoint = options_.endpoint;
        if (options_.watch_mode) {
            settings.depth = 5;  // a batch: MULTI, DECRBY, INCRBY, (--audit: RPUSH,) EXEC
            settings.users = 1;
        } else {
            settings.scripts = {kTransferScript, kAuditedTransferScript};
            settings.depth = options_.inflight;
            settings.users = options_.inflight;
        }
        group.conn = to_open = std::make_shared<RedisConnection>(io, std::move(settings));
    }
    to_open->open([this, group_index](const RedisReply& reply) {
        std::vector<GroupOpened> waiting;
        std::shared_ptr<RedisConnection> conn;
        const std::string error = reply.ok ? "" : "cannot connect: " + reply.message;
        {
            std::lock_guard lock(groups_->mutex);
            Groups::Group& group = groups_->by_group[group_index];
            group.open = reply.ok;
            group.error = error;
            waiting.swap(group.waiting);
            conn = group.conn.lock();
        }
        for (GroupOpened& opened : waiting) opened(conn, error);
    });
}

// hiredis reads into a buffer of 16 KiB and formats commands into an output buffer (a few KiB at
// test-1's size), beside its contexts; RedisConnection and the sessions sharing it are the rest.
// Two descriptors: hiredis's socket and the duplicate FdReadiness watches.
SessionFootprint RedisConnector::footprint() const {
    constexpr std::size_t kHiredisBuffers = 16 * 1024 + 4 * 1024, kContexts = 2 * 1024;
    return {kHiredisBuffers + kContexts + sizeof(RedisConnection), 2};
}

namespace {
const ConnectorRegistrar registrar({.kind = "redis",
                                    .make = make_registered<RedisConnector>,
                                    .capabilities = {.model = SessionModel::event_loop, .pipelining = true, .audit = true},
                                    .library_versions = [] {
                                        return std::map<std::string, std::string>{{"hiredis", hiredis_library_version()}};
                                    }});
}  // namespace

}  // namespace loadbench
