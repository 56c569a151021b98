#include "connectors/mariadb_connector.hpp"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <mutex>
#include <random>

#include "connectors/options.hpp"
#include "connectors/registry.hpp"

namespace loadbench {
namespace {

// Rows are locked lower id first (when `b` is the lower id it is locked first, by a read that
// changes nothing), so transfers never deadlock among themselves. The outcome comes back without a
// result set, in the CALL's final status: MariaDB counts there the rows every statement of the
// procedure touched, the debit and the credit (2) when it moved the money, plus 1 for the locking
// read when `b` is the lower id; 0 or that 1 when it refused. An error (a deadlock with another workload, a lock
// wait timeout, which rolls back only the statement) rolls the whole transfer back before it leaves
// the procedure: nothing half done stays open in the session for the next START TRANSACTION to
// commit.
//
// --audit (scenarios/transfer_audit.hpp): `transfer_audited`, the same transfer with a fourth
// parameter, the operation's id, and its ledger row inserted before the COMMIT (one more row
// touched: 3 or 4 when it moved the money, 0 or 1 when it refused).
std::string transfer_procedure_sql(std::string_view name, bool audited) {
    std::string sql = "CREATE PROCEDURE ";
    sql += name;
    sql += audited ? "(a BIGINT, b BIGINT, amount BIGINT, op BIGINT)" : "(a BIGINT, b BIGINT, amount BIGINT)";
    sql += R"sql(
BEGIN
  DECLARE moved INT DEFAULT 0;
  DECLARE locked BIGINT;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  START TRANSACTION;
  IF b < a THEN
    SELECT id INTO locked FROM accounts WHERE id = b FOR UPDATE;
  END IF;
  UPDATE accounts SET balance = balance - amount WHERE id = a AND balance >= amount;
  SET moved = ROW_COUNT();
  IF moved = 1 THEN
    UPDATE accounts SET balance = balance + amount WHERE id = b;
)sql";
    if (audited) sql += "    INSERT INTO audit_ledger (op_id, from_id, to_id, amount) VALUES (op, a, b, amount);\n";
    sql += R"sql(    COMMIT;
  ELSE
    ROLLBACK;
  END IF;
END)sql";
    return sql;
}

// A CALL of the transfer procedure that moved the money reports at least this many rows (see above).
constexpr std::int64_t kMovedRows = 2;

constexpr const char* kLedgerTable =
    "CREATE TABLE audit_ledger (op_id BIGINT NOT NULL PRIMARY KEY, from_id BIGINT NOT NULL, to_id BIGINT NOT NULL, "
    "amount BIGINT NOT NULL) ENGINE=InnoDB";

// Statements mode, as an application (and sysbench_transfer.lua) writes it: both rows locked in
// one statement (an IN list on the primary key is read in key order), the payer's balance read.
constexpr const char* kLockBoth = "SELECT SUM(IF(id = ?, balance, 0)) FROM accounts WHERE id IN (?, ?) FOR UPDATE";
constexpr const char* kDebit = "UPDATE accounts SET balance = balance - ? WHERE id = ?";
constexpr const char* kCredit = "UPDATE accounts SET balance = balance + ? WHERE id = ?";
constexpr const char* kLedgerInsert = "INSERT INTO audit_ledger (op_id, from_id, to_id, amount) VALUES (?, ?, ?, ?)";
enum Statement : std::size_t { kLockStatement, kDebitStatement, kCreditStatement, kLedgerStatement };

constexpr const char* kBegin = "BEGIN";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";

// Rows per INSERT when seeding: about 1 MB of SQL, far below max_allowed_packet's 16 MB default.
constexpr std::uint64_t kSeedRowsPerInsert = 50'000;

void init_library() {
    static std::once_flag once;
    std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

std::string error_text(unsigned code, const char* sqlstate, const char* text) {
    std::string message = "ERROR " + std::to_string(code);
    if (sqlstate && *sqlstate && std::string_view(sqlstate) != "HY000") message += std::string(" (") + sqlstate + ")";
    return message + ": " + (text && *text ? text : "unknown error");
}

bool is_word(const std::string& s, bool allow_dash) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || (allow_dash && c == '-');
    });
}

// `name=value;name=value`. Names are checked and values that are not a number or a word quoted:
// they become SQL.
std::vector<std::pair<std::string, std::string>> parse_settings(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> settings;
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t end = text.find(';', begin);
        if (end == std::string::npos) end = text.size();
        const std::string item = text.substr(begin, end - begin);
        begin = end + 1;
        if (item.empty()) continue;
        const auto eq = item.find('=');
        std::string name = item.substr(0, eq);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        if (eq == std::string::npos || !is_word(name, false) || eq + 1 == item.size())
            throw ConnectorError("server_settings: expected name=value, got '" + item + "'");
        std::string value = item.substr(eq + 1);
        if (!is_word(value, true)) {
            std::string quoted = "'";
            for (char c : value) quoted += c == '\'' ? std::string("''") : c == '\\' ? std::string("\\\\") : std::string(1, c);
            value = quoted + "'";
        }
        settings.emplace_back(std::move(name), std::move(value));
    }
    return settings;
}

MariaDbConnectorOptions parse_options(const ConnectorOptions& options) {
    MariaDbConnectorOptions o;
    o.endpoint = parse_mariadb_url(option_required(options, "url"));
    const std::string mode = option_string(options, "mode", "procedure");
    if (mode != "procedure" && mode != "statements")
        throw ConnectorError("mode must be procedure or statements, got '" + mode + "'");
    o.procedure_mode = mode == "procedure";
    const std::string isolation = option_string(options, "isolation", "repeatable_read");
    static const std::map<std::string, std::string> levels{{"read_uncommitted", "READ UNCOMMITTED"},
                                                           {"read_committed", "READ COMMITTED"},
                                                           {"repeatable_read", "REPEATABLE READ"},
                                                           {"serializable", "SERIALIZABLE"}};
    const auto level = levels.find(isolation);
    if (level == levels.end())
        throw ConnectorError("isolation must be read_uncommitted, read_committed, repeatable_read or serializable, got '" +
                             isolation + "'");
    o.isolation = level->second;
    if (options.count("lock_wait_timeout") && !options.at("lock_wait_timeout").empty())
        o.lock_wait_timeout_s = option_int(options, "lock_wait_timeout", 50, 0, 1'073'741'824);
    o.server_settings = parse_settings(option_string(options, "server_settings", ""));
    return o;
}

// A blocking connection of the control plane (MariaDB Connector/C's plain API). Results are read to
// their end; interrupt() (any thread) shuts the socket down so that a wait in progress fails.
class MySqlClient {
public:
    MySqlClient(const MariaDbEndpoint& e, const std::vector<std::string>& setup) {
        init_library();
        conn_ = mysql_init(nullptr);
        if (!conn_) throw ConnectorError("cannot connect: out of memory");
        const unsigned protocol = MYSQL_PROTOCOL_TCP;  // never the machine's own server's Unix socket
        mysql_options(conn_, MYSQL_OPT_PROTOCOL, &protocol);
        mysql_options(conn_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        const unsigned connect_timeout_s = 10;
        mysql_options(conn_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout_s);
        const unsigned long flags = CLIENT_FOUND_ROWS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS;
        if (!mysql_real_connect(conn_, e.host.c_str(), e.user.c_str(), e.password.c_str(),
                                e.database.empty() ? nullptr : e.database.c_str(), e.port, nullptr, flags)) {
            const unsigned code = mysql_errno(conn_);
            const std::string message = "cannot connect: " + error_text(code, mysql_sqlstate(conn_), mysql_error(conn_));
            mysql_close(conn_);
            MariaDbReply r;
            classify_mariadb_error(code, r);
            if (r.configuration) throw ConnectorConfigError(message);
            throw ConnectorError(message);
        }
        for (const std::string& sql : setup) exec(sql, "setup");
    }
    ~MySqlClient() { mysql_close(conn_); }
    MySqlClient(const MySqlClient&) = delete;
    MySqlClient& operator=(const MySqlClient&) = delete;

    // Runs `sql`; 0 when it succeeded, else the server's error number (the message in error()).
    unsigned try_exec(const std::string& sql, SqlRows* rows = nullptr) {
        if (mysql_real_query(conn_, sql.data(), sql.size())) return failed();
        for (bool first = true;; first = false) {
            MYSQL_RES* res = mysql_store_result(conn_);
            if (res) {
                if (first && rows) {
                    const unsigned columns = mysql_num_fields(res);
                    while (MYSQL_ROW row = mysql_fetch_row(res)) {
                        const unsigned long* lengths = mysql_fetch_lengths(res);
                        auto& out = rows->emplace_back();
                        for (unsigned c = 0; c < columns; ++c)
                            out.push_back(row[c] ? std::optional<std::string>(std::string(row[c], lengths[c])) : std::nullopt);
                    }
                }
                mysql_free_result(res);
            } else if (mysql_field_count(conn_) != 0) {
                return failed();
            }
            const int next = mysql_next_result(conn_);
            if (next < 0) return 0;
            if (next > 0) return failed();
        }
    }
    void exec(const std::string& sql, const std::string& what, SqlRows* rows = nullptr) {
        if (try_exec(sql, rows)) throw ConnectorError(what + ": " + error_);
    }
    SqlRows rows(const std::string& sql, const std::string& what) {
        SqlRows out;
        exec(sql, what, &out);
        return out;
    }
    // Prepares `sql` and closes it: 0 or the error number (message in error()).
    unsigned try_prepare(const std::string& sql) {
        MYSQL_STMT* stmt = mysql_stmt_init(conn_);
        if (!stmt) return failed();
        unsigned code = 0;
        if (mysql_stmt_prepare(stmt, sql.data(), sql.size())) {
            code = mysql_stmt_errno(stmt);
            error_ = error_text(code, mysql_stmt_sqlstate(stmt), mysql_stmt_error(stmt));
        }
        mysql_stmt_close(stmt);
        return code;
    }
    const std::string& error() const { return error_; }
    void interrupt() noexcept {
        const my_socket fd = mysql_get_socket(conn_);
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
    std::string escape(const std::string& s) {
        std::string out(s.size() * 2 + 1, '\0');
        out.resize(mysql_real_escape_string(conn_, out.data(), s.data(), s.size()));
        return out;
    }

private:
    unsigned failed() {
        const unsigned code = mysql_errno(conn_);
        error_ = error_text(code, mysql_sqlstate(conn_), mysql_error(conn_));
        return code ? code : CR_UNKNOWN_ERROR;
    }
    MYSQL* conn_ = nullptr;
    std::string error_;
};

// --- test-1's sessions -------------------------------------------------------------------------

// Procedure mode: one CALL per transfer.
class ProcedureSession final : public AsyncTransferSession, private MariaDbRequest {
public:
    explicit ProcedureSession(std::shared_ptr<MariaDbConnection> conn) : conn_(std::move(conn)) { statement = 0; }

    void transfer(const Transfer& t, AttemptCallback& done) override {
        done_ = &done;
        audited_ = t.op_id != 0;
        statement = audited_ ? 1 : 0;
        if (audited_)
            set_params({static_cast<long long>(t.from_id), static_cast<long long>(t.to_id), t.amount,
                        static_cast<long long>(t.op_id)});
        else
            set_params({static_cast<long long>(t.from_id), static_cast<long long>(t.to_id), t.amount});
        conn_->submit(*this);
    }
    void interrupt() noexcept override { conn_->interrupt(this); }
    void shutdown() override { conn_->release(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    void complete(const MariaDbReply& reply) override {
        if (!reply.ok) {
            last_error_ = reply.message;
            return done_->attempt_done(Attempt::failed(reply.error, reply.retryable));
        }
        const std::int64_t moved = kMovedRows + (audited_ ? 1 : 0);  // the ledger row
        if (reply.rows_affected < 0 || reply.rows_affected > moved + 1 || reply.rows > 0) {
            last_error_ = std::string(audited_ ? "CALL transfer_audited" : "CALL transfer") + " touched " +
                          std::to_string(reply.rows_affected) + " rows and returned " + std::to_string(reply.rows) +
                          ": is it the procedure prep creates?";
            return done_->attempt_done(Attempt::failed(ErrorKind::other));
        }
        done_->attempt_done(reply.rows_affected >= moved ? Attempt::committed() : Attempt::rejected());
    }

    std::shared_ptr<MariaDbConnection> conn_;
    AttemptCallback* done_ = nullptr;
    bool audited_ = false;
    std::string last_error_;
};

// Statements mode: BEGIN; lock both rows, reading the payer's balance; ROLLBACK when it cannot
// cover the amount (a rejection); else debit, credit, COMMIT. A statement that fails inside the
// transaction is followed by a ROLLBACK (a lock wait timeout rolls back only the statement),
// unless the connection was lost or abandoned since BEGIN, which took the transaction with it.
class StatementsSession final : public AsyncTransferSession, private MariaDbRequest {
public:
    explicit StatementsSession(std::shared_ptr<MariaDbConnection> conn) : conn_(std::move(conn)) {}

    void transfer(const Transfer& t, AttemptCallback& done) override {
        done_ = &done;
        t_ = t;
        in_transaction_ = false;
        send_query(Step::begin, kBegin);
    }
    void interrupt() noexcept override { conn_->interrupt(this); }
    void shutdown() override { conn_->release(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    enum class Step { begin, lock, debit, credit, record, commit, rollback_rejected, rollback_after_error };

    void complete(const MariaDbReply& reply) override {
        if (!reply.ok) {
            last_error_ = reply.message;
            if (step_ == Step::rollback_after_error) return finish(failure_);
            failure_ = Attempt::failed(reply.error, reply.retryable);
            const bool lost = reply.error == ErrorKind::connection || reply.error == ErrorKind::timeout ||
                              conn_->reconnects() != begin_reconnects_;
            if (in_transaction_ && step_ != Step::commit && !lost) return send_query(Step::rollback_after_error, kRollback);
            return finish(failure_);
        }
        const auto from = static_cast<long long>(t_.from_id), to = static_cast<long long>(t_.to_id);
        switch (step_) {
            case Step::begin:
                in_transaction_ = true;
                begin_reconnects_ = conn_->reconnects();
                return send(Step::lock, kLockStatement, {from, from, to});
            case Step::lock:
                if (!reply.first_row[0] || *reply.first_row[0] < t_.amount)
                    return send_query(Step::rollback_rejected, kRollback);
                return send(Step::debit, kDebitStatement, {t_.amount, from});
            case Step::debit:
                if (reply.rows_affected != 1) return send_query(Step::rollback_rejected, kRollback);
                return send(Step::credit, kCreditStatement, {t_.amount, to});
            case Step::credit:
                if (t_.op_id != 0)  // --audit: the ledger row, in the transaction
                    return send(Step::record, kLedgerStatement,
                                {static_cast<long long>(t_.op_id), from, to, t_.amount});
                return send_query(Step::commit, kCommit);
            case Step::record:
                return send_query(Step::commit, kCommit);
            case Step::commit:
                return finish(Attempt::committed());
            case Step::rollback_rejected:
                return finish(Attempt::rejected());
            case Step::rollback_after_error:
                return finish(failure_);
        }
    }

    void send(Step step, std::size_t index, std::initializer_list<long long> params) {
        step_ = step;
        sql = nullptr;
        statement = index;
        set_params(params);
        conn_->submit(*this);
    }
    void send_query(Step step, const char* text) {
        step_ = step;
        sql = text;
        conn_->submit(*this);
    }
    void finish(Attempt attempt) {
        in_transaction_ = false;
        done_->attempt_done(attempt);
    }

    std::shared_ptr<MariaDbConnection> conn_;
    AttemptCallback* done_ = nullptr;
    Transfer t_;
    Step step_ = Step::begin;
    bool in_transaction_ = false;
    std::uint64_t begin_reconnects_ = 0;
    Attempt failure_;
    std::string last_error_;
};

// --- scenario files' sessions ------------------------------------------------------------------

SqlReply sql_reply_of(const MariaDbReply& reply) {
    if (!reply.ok) return SqlReply::failed(reply.error, reply.retryable);
    return {true, ErrorKind::none, false, reply.rows > 0 ? reply.rows : reply.rows_affected};
}

const char* control_sql(SqlControl what) {
    return what == SqlControl::begin ? kBegin : what == SqlControl::commit ? kCommit : kRollback;
}

// A load session of a scenario file: one request at a time on its own connection.
class AsyncSqlSessionImpl final : public AsyncSqlSession, private MariaDbRequest {
public:
    AsyncSqlSessionImpl(asio::io_context& io, std::shared_ptr<MariaDbConnection> conn) : io_(io), conn_(std::move(conn)) {}

    void execute(std::size_t statement_index, std::span<const SqlValue> values, SqlReplyCallback& done) override {
        done_ = &done;
        control_ = false;
        sql = nullptr;
        statement = statement_index;
        set_values(values);
        conn_->submit(*this);
    }
    void control(SqlControl what, SqlReplyCallback& done) override {
        done_ = &done;
        // A connection lost or abandoned since BEGIN took the transaction with it: a ROLLBACK
        // would only wait for the reconnect.
        if (what == SqlControl::rollback && conn_->reconnects() != begin_reconnects_) {
            asio::post(io_, [this] { done_->sql_done({}); });
            return;
        }
        control_ = what == SqlControl::begin;
        sql = control_sql(what);
        conn_->submit(*this);
    }
    void interrupt() noexcept override { conn_->interrupt(this); }
    void shutdown() override { conn_->release(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    void complete(const MariaDbReply& reply) override {
        if (!reply.ok) last_error_ = reply.message;
        if (reply.ok && control_) begin_reconnects_ = conn_->reconnects();
        done_->sql_done(sql_reply_of(reply));
    }

    asio::io_context& io_;
    std::shared_ptr<MariaDbConnection> conn_;
    SqlReplyCallback* done_ = nullptr;
    bool control_ = false;  // a BEGIN in flight
    std::uint64_t begin_reconnects_ = 0;
    std::string last_error_;
};

// A blocking session (seeding, blocking callers): a MariaDbConnection on an io_context of its own,
// run by the calling thread until the request completes, so binding and error classification are
// the load sessions' own.
class BlockingSqlSession final : public SqlSession, private MariaDbRequest {
public:
    explicit BlockingSqlSession(MariaDbSettings settings) : conn_(std::make_shared<MariaDbConnection>(io_, std::move(settings))) {
        std::optional<MariaDbReply> opened;
        conn_->open([&opened](const MariaDbReply& r) { opened = r; });
        run_until([&] { return opened.has_value(); });
        if (!opened || !opened->ok) {
            const std::string message = "cannot connect: " + (opened ? opened->message : std::string("no answer"));
            const bool configuration = opened && opened->configuration;
            close();
            if (configuration) throw ConnectorConfigError(message);
            throw ConnectorError(message);
        }
    }
    ~BlockingSqlSession() override { close(); }

    SqlReply execute(std::size_t statement_index, std::span<const SqlValue> values) override {
        sql = nullptr;
        statement = statement_index;
        set_values(values);
        return run();
    }
    SqlReply control(SqlControl what) override {
        sql = control_sql(what);
        return run();
    }
    std::string last_error() const override { return last_error_; }
    void interrupt() noexcept override {
        if (conn_) conn_->interrupt(nullptr);
    }

private:
    void complete(const MariaDbReply& reply) override { reply_ = reply; }

    SqlReply run() {
        reply_.reset();
        conn_->submit(*this);
        run_until([&] { return reply_.has_value(); });
        if (!reply_) {
            last_error_ = "the connection stopped answering";
            return SqlReply::failed(ErrorKind::connection, false);
        }
        if (!reply_->ok) last_error_ = reply_->message;
        return sql_reply_of(*reply_);
    }
    template <class Done>
    void run_until(Done done) {
        io_.restart();
        while (!done())
            if (io_.run_one() == 0) return;  // nothing left that could complete it
    }
    void close() {
        if (!conn_) return;
        conn_->release();
        io_.restart();
        io_.poll();  // the handlers still holding the connection (cancelled timers, posted completions)
        conn_.reset();
        io_.restart();
        io_.poll();
    }

    asio::io_context io_;
    std::shared_ptr<MariaDbConnection> conn_;
    std::optional<MariaDbReply> reply_;
    std::string last_error_;
};

// Opens a connection on `io` (posted: the engine may call from another thread) and hands it, or
// the error, to `done` on io's thread.
void open_connection(asio::io_context& io, MariaDbSettings settings,
                     std::function<void(std::shared_ptr<MariaDbConnection>, const MariaDbReply&)> done) {
    asio::post(io, [&io, settings = std::move(settings), done = std::move(done)]() mutable {
        auto conn = std::make_shared<MariaDbConnection>(io, std::move(settings));
        conn->open([conn, done = std::move(done)](const MariaDbReply& r) mutable {
            if (!r.ok) {
                conn->release();
                return done(nullptr, r);
            }
            done(std::move(conn), r);
        });
    });
}

}  // namespace

MariaDbConnector::MariaDbConnector(const ConnectorOptions& options) : options_(parse_options(options)) {}

std::string MariaDbConnector::transfer_procedure(std::string_view name) { return transfer_procedure_sql(name, false); }

std::vector<std::string> MariaDbConnector::connection_setup() const {
    std::vector<std::string> setup = {"SET SESSION TRANSACTION ISOLATION LEVEL " + options_.isolation};
    if (options_.lock_wait_timeout_s)
        setup.push_back("SET SESSION innodb_lock_wait_timeout = " + std::to_string(*options_.lock_wait_timeout_s));
    for (const auto& [name, value] : options_.server_settings) setup.push_back("SET GLOBAL " + name + " = " + value);
    return setup;
}

MariaDbSettings MariaDbConnector::session_settings(std::vector<std::string> statements) const {
    MariaDbSettings s;
    s.endpoint = options_.endpoint;
    s.setup = connection_setup();
    s.statements = std::move(statements);
    return s;
}

// Reachable, the account accepted, and the server settings applied (SET GLOBAL needs SUPER, or
// SYSTEM_VARIABLES_ADMIN on MySQL): an account without the privilege is refused here, before load.
void MariaDbConnector::check() {
    MySqlClient c(options_.endpoint, {});
    const auto cancel = on_cancel([&c] { c.interrupt(); });
    c.exec("SELECT 1", "check");
    for (const auto& [name, value] : options_.server_settings) {
        const unsigned code = c.try_exec("SET GLOBAL " + name + " = " + value);
        if (code == ER_SPECIFIC_ACCESS_DENIED_ERROR || code == ER_ACCESS_DENIED_ERROR)
            throw ConnectorConfigError("server setting " + name + "=" + value +
                                       " needs SET GLOBAL, which this account may not run (it needs the SUPER privilege): " +
                                       c.error());
        if (code) throw ConnectorConfigError("server setting " + name + "=" + value + ": " + c.error());
    }
}

void MariaDbConnector::prep_accounts(const AccountsSpec& spec) {
    MySqlClient c(options_.endpoint, {});
    const auto cancel = on_cancel([&c] { c.interrupt(); });
    c.exec("DROP TABLE IF EXISTS accounts", "prep");
    c.exec("CREATE TABLE accounts (id BIGINT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB", "prep");
    c.exec("DROP TABLE IF EXISTS audit_ledger", "prep");
    c.exec(kLedgerTable, "prep");
    c.exec("DROP PROCEDURE IF EXISTS transfer", "prep");
    c.exec(transfer_procedure_sql("transfer", false), "prep");
    c.exec("DROP PROCEDURE IF EXISTS transfer_audited", "prep");
    c.exec(transfer_procedure_sql("transfer_audited", true), "prep");
    // Ids in key order, in one transaction: InnoDB appends to the primary key's last page.
    c.exec("SET SESSION unique_checks = 0", "prep");
    c.exec("BEGIN", "prep");
    const std::string balance = "," + std::to_string(spec.initial_balance) + ")";
    std::string sql;
    for (std::uint64_t first = 1; first <= spec.accounts; first += kSeedRowsPerInsert) {
        const std::uint64_t last = std::min<std::uint64_t>(spec.accounts, first + kSeedRowsPerInsert - 1);
        sql.assign("INSERT INTO accounts (id, balance) VALUES ");
        for (std::uint64_t id = first; id <= last; ++id) {
            if (id != first) sql += ',';
            sql += '(';
            sql += std::to_string(id);
            sql += balance;
        }
        c.exec(sql, "prep");
    }
    c.exec("COMMIT", "prep");
    c.exec("ANALYZE TABLE accounts", "prep");
}

std::optional<AccountsCheck> MariaDbConnector::verify_accounts(const AccountsSpec& spec) {
    MySqlClient c(options_.endpoint, {});
    const auto cancel = on_cancel([&c] { c.interrupt(); });
    const SqlRows rows = c.rows(
        "SELECT COUNT(*), COALESCE(SUM(balance), 0), COALESCE(SUM(balance < 0), 0), "
        "COALESCE(SUM(balance <> " + std::to_string(spec.initial_balance) + "), 0) FROM accounts",
        "verify");
    auto value = [&](std::size_t i) -> std::int64_t {
        if (rows.empty() || rows[0].size() <= i || !rows[0][i]) throw ConnectorError("verify: no result");
        return std::stoll(*rows[0][i]);
    };
    AccountsCheck check;
    check.accounts = static_cast<std::uint64_t>(value(0));
    check.total = value(1);
    check.negative_balances = static_cast<std::uint64_t>(value(2));
    check.changed = static_cast<std::uint64_t>(value(3));
    check.expected_total = static_cast<std::int64_t>(spec.accounts) * spec.initial_balance;
    check.passed = check.accounts == spec.accounts && check.total == check.expected_total && check.negative_balances == 0;
    return check;
}

AuditLedger MariaDbConnector::read_audit_ledger(const AccountsSpec& spec) {
    MySqlClient c(options_.endpoint, {});
    const auto cancel = on_cancel([&c] { c.interrupt(); });
    AuditLedger ledger;
    const SqlRows settings = c.rows("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit, @@GLOBAL.sync_binlog, @@GLOBAL.log_bin",
                                    "audit");
    auto cell = [](const SqlRows& rows, std::size_t r, std::size_t i) -> std::string {
        if (rows.size() <= r || rows[r].size() <= i || !rows[r][i]) throw ConnectorError("audit: no result");
        return *rows[r][i];
    };
    ledger.durability["innodb_flush_log_at_trx_commit"] = cell(settings, 0, 0);
    ledger.durability["sync_binlog"] = cell(settings, 0, 1);
    ledger.durability["log_bin"] = cell(settings, 0, 2);
    const SqlRows entries = c.rows("SELECT op_id, from_id, to_id, amount FROM audit_ledger", "audit");
    ledger.entries.reserve(entries.size());
    for (std::size_t r = 0; r < entries.size(); ++r)
        ledger.entries.push_back({std::stoull(cell(entries, r, 0)), std::stoull(cell(entries, r, 1)),
                                  std::stoull(cell(entries, r, 2)), std::stoll(cell(entries, r, 3))});
    const std::size_t n = static_cast<std::size_t>(spec.accounts);
    ledger.balances.assign(n, 0);
    ledger.present.assign(n, false);
    const SqlRows accounts =
        c.rows("SELECT id, balance FROM accounts WHERE id BETWEEN 1 AND " + std::to_string(spec.accounts), "audit");
    for (std::size_t r = 0; r < accounts.size(); ++r) {
        const auto i = static_cast<std::size_t>(std::stoll(cell(accounts, r, 0)) - 1);
        ledger.balances[i] = std::stoll(cell(accounts, r, 1));
        ledger.present[i] = true;
    }
    return ledger;
}

// Connector/C keeps a 16 KiB network buffer (net_buffer_length) and the MYSQL handle (a few
// KiB) per connection, and per prepared statement a handle and its binds; MariaDbConnection is
// the rest. Two descriptors: the library's socket and the duplicate FdReadiness watches.
SessionFootprint MariaDbConnector::footprint() const {
    constexpr std::size_t kNetBuffer = 16 * 1024, kHandle = 4 * 1024, kStatements = 3 * 2 * 1024;
    return {kNetBuffer + kHandle + kStatements + sizeof(MariaDbConnection), 2};
}

void MariaDbConnector::open_async_transfer_session(asio::io_context& io, std::size_t, AsyncTransferOpenCallback& done) {
    const bool procedure = options_.procedure_mode;
    std::vector<std::string> statements = procedure ? std::vector<std::string>{"CALL transfer(?, ?, ?)"}
                                                    : std::vector<std::string>{kLockBoth, kDebit, kCredit};
    if (audited()) statements.emplace_back(procedure ? "CALL transfer_audited(?, ?, ?, ?)" : kLedgerInsert);
    open_connection(io, session_settings(std::move(statements)),
                    [&done, procedure](std::shared_ptr<MariaDbConnection> conn, const MariaDbReply& r) {
                        if (!conn) return done.open_failed(r.message);
                        if (procedure) return done.opened(std::make_unique<ProcedureSession>(std::move(conn)));
                        done.opened(std::make_unique<StatementsSession>(std::move(conn)));
                    });
}

std::optional<SqlCheckFailure> MariaDbConnector::sql_check(const std::vector<std::string>& script,
                                                           const std::vector<std::string>& statements) {
    MySqlClient c(options_.endpoint, {});
    const auto cancel = on_cancel([&c] { c.interrupt(); });
    std::random_device random;
    const std::string scratch = "loadbench_check_" + std::to_string(random()) + std::to_string(random());
    const unsigned created = c.try_exec("CREATE DATABASE " + scratch);
    if (created == ER_DBACCESS_DENIED_ERROR || created == ER_ACCESS_DENIED_ERROR ||
        created == ER_SPECIFIC_ACCESS_DENIED_ERROR)
        return std::nullopt;  // no right to a scratch database: prep will say what the server refuses
    if (created) throw ConnectorError("check: " + c.error());
    std::optional<SqlCheckFailure> failure;
    try {
        c.exec("USE " + scratch, "check");
        for (std::size_t i = 0; i < script.size() && !failure; ++i)
            if (c.try_exec(script[i])) failure = SqlCheckFailure{true, i, c.error()};
        for (std::size_t i = 0; i < statements.size() && !failure; ++i)
            if (c.try_prepare(statements[i])) failure = SqlCheckFailure{false, i, c.error()};
    } catch (...) {
        c.try_exec("DROP DATABASE IF EXISTS " + scratch);
        throw;
    }
    c.exec("DROP DATABASE IF EXISTS " + scratch, "check");
    return failure;
}

void MariaDbConnector::sql_execute(const std::vector<std::string>& script) {
    MySqlClient c(options_.endpoint, {});
    const auto cancel = on_cancel([&c] { c.interrupt(); });
    c.exec("SET SESSION sql_notes = 0", "schema");  // no note for DROP TABLE IF EXISTS of a missing table
    for (const std::string& sql : script) c.exec(sql, "schema");
}

SqlRows MariaDbConnector::sql_query(const std::string& sql) {
    MySqlClient c(options_.endpoint, {});
    const auto cancel = on_cancel([&c] { c.interrupt(); });
    return c.rows(sql, "query");
}

std::unique_ptr<SqlSession> MariaDbConnector::open_sql_session(const std::vector<std::string>& statements) {
    return std::make_unique<BlockingSqlSession>(session_settings(statements));
}

void MariaDbConnector::open_async_sql_session(asio::io_context& io, std::size_t, const std::vector<std::string>& statements,
                                              AsyncSqlOpenCallback& done) {
    open_connection(io, session_settings(statements),
                    [&done, &io](std::shared_ptr<MariaDbConnection> conn, const MariaDbReply& r) {
                        if (!conn) return done.open_failed(r.message);
                        done.opened(std::make_unique<AsyncSqlSessionImpl>(io, std::move(conn)));
                    });
}

namespace {
const ConnectorRegistrar registrar({.kind = "mysql",
                                    .make = make_registered<MariaDbConnector>,
                                    .capabilities = {.sql_dialect = "mysql", .placeholder = "?", .model = SessionModel::event_loop, .audit = true},
                                    .library_versions = [] {
                                        return std::map<std::string, std::string>{{"mariadb-connector-c", mariadb_library_version()}};
                                    }});
}  // namespace

}  // namespace loadbench
