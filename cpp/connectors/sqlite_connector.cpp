#include "connectors/sqlite_connector.hpp"

#include "connectors/registry.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>

#include "connectors/options.hpp"
#include "net/system_error.hpp"

namespace loadbench {
namespace {

// `default` is SQLite out of the box: rollback journal, synchronous=FULL, no busy timeout.
const std::array<SqliteMode, 3> kSqliteModes = {{
    {"default", "DELETE", "", 0, "", ""},
    {"wal", "WAL", "NORMAL", 5000, "", ""},
    {"fast", "WAL", "OFF", 5000, "", ""},
}};

SqliteMode find_mode(const std::string& name) {
    for (const auto& mode : kSqliteModes)
        if (name == mode.name) return mode;
    throw ConnectorError("unknown SQLite mode '" + name + "' (expected default, wal or fast)");
}

// A pragma value from the options, checked against what the pragma accepts: it goes into SQL text.
std::string pragma_option(const ConnectorOptions& options, const std::string& key, const std::string& fallback,
                          std::initializer_list<const char*> allowed) {
    const std::string value = option_string(options, key, fallback);
    if (value.empty() || allowed.size() == 0) return value;
    for (const char* a : allowed)
        if (value == a) return value;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    throw ConnectorError("connector option '" + key + "' must be one of " + list + ", got '" + value + "'");
}

std::string integer_pragma(const ConnectorOptions& options, const std::string& key) {
    if (options.find(key) == options.end()) return {};
    return std::to_string(option_int(options, key, 0, INT64_MIN, INT64_MAX));
}

ErrorKind classify(int rc) {
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return ErrorKind::busy;
        case SQLITE_INTERRUPT: return ErrorKind::timeout;
        case SQLITE_CONSTRAINT: return ErrorKind::constraint;
        default: return ErrorKind::other;
    }
}

// What went wrong, with the system's reason when SQLite met a resource limit (a journal that
// cannot be opened for want of descriptors reads "unable to open database file" otherwise).
std::string describe_failure(sqlite3* db, int rc, const std::string& message) {
    std::string text = std::string(sqlite3_errstr(rc)) + ": " + message;
    const int primary = rc & 0xff;
    if (primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR) {
        const int err = sqlite3_system_errno(db);
        if (is_resource_exhaustion(err)) text += ": " + describe_errno(err);
    }
    return text;
}

// Waits for a lock as SQLite's own busy handler does (the same sleeps, at most the mode's
// busy_timeout in all), but gives up as soon as the session is interrupted: sqlite3_interrupt()
// alone does not end a busy wait (measured on SQLite 3.40.1: a wait for BEGIN IMMEDIATE sat out
// its whole 3 s busy_timeout after sqlite3_interrupt at 0.3 s, in rollback and WAL mode alike).
// The sleep is a futex wait that interrupt() wakes, so the timeout ends the wait at once.
class BusyWait {
public:
    explicit BusyWait(int timeout_ms) : timeout_ms_(timeout_ms) {}
    BusyWait(const BusyWait&) = delete;
    BusyWait& operator=(const BusyWait&) = delete;

    // Replaces the connection's busy handler (the open's timeout) with this one; with a timeout of
    // 0, none: BUSY at once, as SQLite out of the box.
    void install(sqlite3* db) {
        if (timeout_ms_ > 0) sqlite3_busy_handler(db, &BusyWait::handler, this);
        else sqlite3_busy_handler(db, nullptr, nullptr);
    }
    // Thread-safe, never blocks: ends the wait in progress, and any until reset().
    void interrupt() noexcept {
        flag_.store(1, std::memory_order_release);
        syscall(SYS_futex, word(), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
    }
    // After each attempt: an interrupt meant for it must not end the next one's waits. (One that
    // arrives later than that ends the next attempt's first wait, as a retryable BUSY.)
    void reset() noexcept { flag_.store(0, std::memory_order_relaxed); }
    bool interrupted() const noexcept { return flag_.load(std::memory_order_acquire) != 0; }

private:
    std::uint32_t* word() noexcept { return reinterpret_cast<std::uint32_t*>(&flag_); }

    static int handler(void* arg, int count) {
        auto& self = *static_cast<BusyWait*>(arg);
        // sqliteDefaultBusyCallback's schedule (ms): these sleeps, then 100 each.
        static constexpr int kDelays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
        static constexpr int kTotals[] = {0, 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228};
        constexpr int n = static_cast<int>(std::size(kDelays));
        if (self.interrupted()) return 0;
        int delay = count < n ? kDelays[count] : kDelays[n - 1];
        const long long prior = count < n ? kTotals[count] : kTotals[n - 1] + 100LL * (count - (n - 1));
        if (prior + delay > self.timeout_ms_) {
            delay = static_cast<int>(self.timeout_ms_ - prior);
            if (delay <= 0) return 0;
        }
        const timespec wait{delay / 1000, static_cast<long>(delay % 1000) * 1'000'000L};
        syscall(SYS_futex, self.word(), FUTEX_WAIT_PRIVATE, 0, &wait, nullptr, 0);
        return self.interrupted() ? 0 : 1;
    }

    const int timeout_ms_;
    std::atomic<std::uint32_t> flag_{0};
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
};

// Sessions open all at once before the load starts (the first of them may be recovering the WAL),
// so opening waits for locks whatever the mode; the mode's own busy timeout applies afterwards.
constexpr int kOpenBusyTimeoutMs = 10'000;

SQLite::Database open_database(const std::string& file, const SqliteMode& mode, int flags) {
    try {
        SQLite::Database db(file, flags | SQLite::OPEN_NOMUTEX, kOpenBusyTimeoutMs);
        if (!mode.synchronous.empty()) db.exec("PRAGMA synchronous=" + mode.synchronous);
        if (!mode.cache_size.empty()) db.exec("PRAGMA cache_size=" + mode.cache_size);
        if (!mode.mmap_size.empty()) db.exec("PRAGMA mmap_size=" + mode.mmap_size);
        return db;
    } catch (const SQLite::Exception& e) {
        const int err = errno;  // the open's own, when it failed for want of a resource
        std::string reason = e.what();
        if (is_resource_exhaustion(err)) reason += ": " + describe_errno(err);
        throw ConnectorError("cannot open '" + file + "': " + reason);
    }
}

// --audit's ledger (scenarios/transfer_audit.hpp): created empty by every prep.
constexpr const char* kSqliteLedgerTable =
    "CREATE TABLE audit_ledger (op_id INTEGER PRIMARY KEY, from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, "
    "amount INTEGER NOT NULL)";
constexpr const char* kSqliteLedgerInsert = "INSERT INTO audit_ledger (op_id, from_id, to_id, amount) VALUES (?1, ?2, ?3, ?4)";

class SqliteTransferSession final : public TransferSession {
public:
    SqliteTransferSession(const std::string& file, const SqliteMode& mode)
        : busy_(mode.busy_timeout_ms),
          db_(open_database(file, mode, SQLite::OPEN_READWRITE)),
          begin_(db_, "BEGIN IMMEDIATE"),
          debit_(db_, "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1"),
          credit_(db_, "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2"),
          commit_(db_, "COMMIT"),
          rollback_(db_, "ROLLBACK") {
        busy_.install(db_.getHandle());
    }

    Attempt transfer(const Transfer& t) override {
        const Attempt attempt = run(t);
        busy_.reset();
        return attempt;
    }

    void interrupt() noexcept override {
        busy_.interrupt();
        sqlite3_interrupt(db_.getHandle());
    }
    std::string last_error() const override { return last_error_; }

private:
    Attempt run(const Transfer& t) {
        int rc = step(begin_);
        if (rc != SQLITE_DONE) return fail(rc);
        debit_.bind(1, t.amount);
        debit_.bind(2, static_cast<std::int64_t>(t.from_id));
        if ((rc = step(debit_)) != SQLITE_DONE) return fail(rc);
        if (db_.getChanges() == 0) {
            step(rollback_);
            return Attempt::rejected();
        }
        credit_.bind(1, t.amount);
        credit_.bind(2, static_cast<std::int64_t>(t.to_id));
        if ((rc = step(credit_)) != SQLITE_DONE) return fail(rc);
        if (t.op_id != 0 && (rc = record(t)) != SQLITE_DONE) return fail(rc);
        if ((rc = step(commit_)) != SQLITE_DONE) return fail(rc);
        return Attempt::committed();
    }

    // --audit: the ledger row, in the transfer's transaction (prepared at the first audited one).
    int record(const Transfer& t) {
        if (!ledger_) ledger_.emplace(db_, kSqliteLedgerInsert);
        ledger_->bind(1, static_cast<std::int64_t>(t.op_id));
        ledger_->bind(2, static_cast<std::int64_t>(t.from_id));
        ledger_->bind(3, static_cast<std::int64_t>(t.to_id));
        ledger_->bind(4, t.amount);
        return step(*ledger_);
    }

    static int step(SQLite::Statement& statement) {
        const int rc = statement.tryExecuteStep();
        statement.tryReset();
        return rc;
    }

    Attempt fail(int rc) {
        last_error_ = describe_failure(db_.getHandle(), rc, db_.getErrorMsg());
        if (busy_.interrupted()) last_error_ = "timed out waiting for a lock (" + last_error_ + ")";
        if (!sqlite3_get_autocommit(db_.getHandle())) step(rollback_);
        const ErrorKind kind = classify(rc);
        return Attempt::failed(kind, kind == ErrorKind::busy);
    }

    BusyWait busy_;  // before db_: closing the database may still wait for a lock (a WAL checkpoint)
    SQLite::Database db_;
    SQLite::Statement begin_, debit_, credit_, commit_, rollback_;
    std::optional<SQLite::Statement> ledger_;
    std::string last_error_;
};

// One prepared statement on the raw C API: the hot path binds and steps it with nothing between.
class PreparedStatement {
public:
    PreparedStatement(sqlite3* db, const std::string& sql) {
        const char* tail = nullptr;
        const int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                          &stmt_, &tail);
        if (rc != SQLITE_OK) {
            std::string message = sqlite3_errmsg(db);
            sqlite3_finalize(stmt_);
            throw ConnectorError(message);
        }
        if (!stmt_) throw ConnectorError("the statement is empty");
        while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';')) ++tail;
        if (tail && *tail) {
            sqlite3_finalize(stmt_);
            throw ConnectorError("one statement only: found more after the first");
        }
        readonly_ = sqlite3_stmt_readonly(stmt_) != 0;
    }
    ~PreparedStatement() { sqlite3_finalize(stmt_); }
    PreparedStatement(const PreparedStatement&) = delete;
    PreparedStatement& operator=(const PreparedStatement&) = delete;

    sqlite3_stmt* get() const { return stmt_; }
    bool readonly() const { return readonly_; }

private:
    sqlite3_stmt* stmt_ = nullptr;
    bool readonly_ = false;
};

class SqliteSqlSession final : public SqlSession {
public:
    SqliteSqlSession(const std::string& file, const SqliteMode& mode, const std::vector<std::string>& statements)
        : busy_(mode.busy_timeout_ms),
          db_(open_database(file, mode, SQLite::OPEN_READWRITE)),
          begin_(db_.getHandle(), "BEGIN IMMEDIATE"),
          commit_(db_.getHandle(), "COMMIT"),
          rollback_(db_.getHandle(), "ROLLBACK") {
        statements_.reserve(statements.size());
        for (std::size_t i = 0; i < statements.size(); ++i) {
            try {
                statements_.push_back(std::make_unique<PreparedStatement>(db_.getHandle(), statements[i]));
            } catch (const ConnectorError& e) {
                throw ConnectorError("statement " + std::to_string(i + 1) + " does not prepare on '" + file +
                                     "': " + e.what());
            }
        }
        // Only now: preparing reads the schema, which may wait for a session still opening (the
        // open's own timeout applies); the mode's timeout governs the load.
        busy_.install(db_.getHandle());
    }

    SqlReply execute(std::size_t statement, std::span<const SqlValue> values) override {
        const PreparedStatement& p = *statements_[statement];
        sqlite3_stmt* stmt = p.get();
        for (std::size_t i = 0; i < values.size(); ++i) {
            const SqlValue& v = values[i];
            const int at = static_cast<int>(i) + 1;
            switch (v.type) {
                case SqlType::null: sqlite3_bind_null(stmt, at); break;
                case SqlType::integer: sqlite3_bind_int64(stmt, at, v.integer); break;
                case SqlType::real: sqlite3_bind_double(stmt, at, v.real); break;
                case SqlType::text: sqlite3_bind_text(stmt, at, v.text, static_cast<int>(v.size), SQLITE_STATIC); break;
            }
        }
        std::int64_t rows = 0;
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) ++rows;
        sqlite3_reset(stmt);
        if (rc != SQLITE_DONE) return fail(rc);
        return {true, ErrorKind::none, false, p.readonly() ? rows : sqlite3_changes64(db_.getHandle())};
    }

    SqlReply control(SqlControl what) override {
        if (what == SqlControl::rollback && sqlite3_get_autocommit(db_.getHandle())) return {};  // nothing open
        const PreparedStatement& p = what == SqlControl::begin ? begin_ : what == SqlControl::commit ? commit_ : rollback_;
        const int rc = sqlite3_step(p.get());
        sqlite3_reset(p.get());
        return rc == SQLITE_DONE ? SqlReply{} : fail(rc);
    }

    void interrupt() noexcept override {
        busy_.interrupt();
        sqlite3_interrupt(db_.getHandle());
    }
    void attempt_ended() noexcept override { busy_.reset(); }
    std::string last_error() const override { return last_error_; }

private:
    SqlReply fail(int rc) {
        last_error_ = describe_failure(db_.getHandle(), rc, db_.getErrorMsg());
        if (busy_.interrupted()) last_error_ = "timed out waiting for a lock (" + last_error_ + ")";
        const ErrorKind kind = classify(rc);
        return SqlReply::failed(kind, kind == ErrorKind::busy);
    }

    BusyWait busy_;  // before db_: closing the database may still wait for a lock (a WAL checkpoint)
    SQLite::Database db_;
    PreparedStatement begin_, commit_, rollback_;
    std::vector<std::unique_ptr<PreparedStatement>> statements_;
    std::string last_error_;
};

}  // namespace

SqliteConnector::SqliteConnector(const ConnectorOptions& options)
    : file_(option_required(options, "file")), mode_(find_mode(option_string(options, "mode", "wal"))) {
    mode_.journal_mode = pragma_option(options, "journal_mode", mode_.journal_mode,
                                       {"DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF"});
    mode_.synchronous = pragma_option(options, "synchronous", mode_.synchronous, {"OFF", "NORMAL", "FULL", "EXTRA"});
    mode_.busy_timeout_ms =
        static_cast<int>(option_int(options, "busy_timeout_ms", mode_.busy_timeout_ms, 0, 3'600'000));
    mode_.cache_size = integer_pragma(options, "cache_size");
    mode_.mmap_size = integer_pragma(options, "mmap_size");
}

void SqliteConnector::prep_accounts(const AccountsSpec& spec) {
    SQLite::Database db = open_database(file_, mode_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    const auto cancel = on_cancel([&db] { sqlite3_interrupt(db.getHandle()); });
    try {
        db.exec("PRAGMA journal_mode=" + mode_.journal_mode);
        db.exec("DROP TABLE IF EXISTS accounts");
        db.exec("DROP TABLE IF EXISTS audit_ledger");
        db.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)");
        db.exec(kSqliteLedgerTable);
        SQLite::Transaction txn(db);
        SQLite::Statement insert(db, "INSERT INTO accounts (id, balance) VALUES (?1, ?2)");
        for (std::uint64_t id = 1; id <= spec.accounts; ++id) {
            insert.bind(1, static_cast<std::int64_t>(id));
            insert.bind(2, spec.initial_balance);
            insert.exec();
            insert.reset();
        }
        txn.commit();
        if (mode_.journal_mode == "WAL") db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("'" + file_ + "': " + e.what());
    }
}

std::optional<AccountsCheck> SqliteConnector::verify_accounts(const AccountsSpec& spec) {
    SQLite::Database db = open_database(file_, mode_, SQLite::OPEN_READONLY);
    const auto cancel = on_cancel([&db] { sqlite3_interrupt(db.getHandle()); });
    try {
        SQLite::Statement q(db,
                            "SELECT COUNT(*), COALESCE(SUM(balance), 0), "
                            "COALESCE(SUM(CASE WHEN balance < 0 THEN 1 ELSE 0 END), 0), "
                            "COALESCE(SUM(CASE WHEN balance <> ? THEN 1 ELSE 0 END), 0) FROM accounts");
        q.bind(1, static_cast<std::int64_t>(spec.initial_balance));
        q.executeStep();
        AccountsCheck check;
        check.accounts = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
        check.total = q.getColumn(1).getInt64();
        check.negative_balances = static_cast<std::uint64_t>(q.getColumn(2).getInt64());
        check.changed = static_cast<std::uint64_t>(q.getColumn(3).getInt64());
        check.expected_total = static_cast<std::int64_t>(spec.accounts) * spec.initial_balance;
        check.passed = check.accounts == spec.accounts && check.total == check.expected_total &&
                       check.negative_balances == 0;
        return check;
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("'" + file_ + "': " + e.what());
    }
}

AuditLedger SqliteConnector::read_audit_ledger(const AccountsSpec& spec) {
    SQLite::Database db = open_database(file_, mode_, SQLite::OPEN_READONLY);
    const auto cancel = on_cancel([&db] { sqlite3_interrupt(db.getHandle()); });
    try {
        AuditLedger ledger;
        SQLite::Statement rows(db, "SELECT op_id, from_id, to_id, amount FROM audit_ledger");
        while (rows.executeStep())
            ledger.entries.push_back({static_cast<std::uint64_t>(rows.getColumn(0).getInt64()),
                                      static_cast<std::uint64_t>(rows.getColumn(1).getInt64()),
                                      static_cast<std::uint64_t>(rows.getColumn(2).getInt64()),
                                      rows.getColumn(3).getInt64()});
        const std::size_t n = static_cast<std::size_t>(spec.accounts);
        ledger.balances.assign(n, 0);
        ledger.present.assign(n, false);
        SQLite::Statement accounts(db, "SELECT id, balance FROM accounts WHERE id BETWEEN 1 AND ?1");
        accounts.bind(1, static_cast<std::int64_t>(spec.accounts));
        while (accounts.executeStep()) {
            const auto i = static_cast<std::size_t>(accounts.getColumn(0).getInt64() - 1);
            ledger.balances[i] = accounts.getColumn(1).getInt64();
            ledger.present[i] = true;
        }
        // As the sessions' connections have them (open_database applies the mode's pragmas).
        static constexpr const char* kSynchronous[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
        ledger.durability["journal_mode"] = db.execAndGet("PRAGMA journal_mode").getString();
        const auto sync = db.execAndGet("PRAGMA synchronous").getInt();
        ledger.durability["synchronous"] = sync >= 0 && sync <= 3 ? kSynchronous[sync] : std::to_string(sync);
        return ledger;
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("'" + file_ + "': audit: " + e.what());
    }
}

std::unique_ptr<TransferSession> SqliteConnector::open_transfer_session() {
    try {
        return std::make_unique<SqliteTransferSession>(file_, mode_);
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("cannot prepare test-1 statements on '" + file_ + "' (was it prepped?): " +
                             e.what());
    }
}

// The check runs the DDL on an in-memory database: the same library and dialect, and nothing of
// the real file is touched.
std::optional<SqlCheckFailure> SqliteConnector::sql_check(const std::vector<std::string>& script,
                                                          const std::vector<std::string>& statements) {
    SQLite::Database db(":memory:", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    for (std::size_t i = 0; i < script.size(); ++i) {
        try {
            db.exec(script[i]);
        } catch (const SQLite::Exception& e) {
            return SqlCheckFailure{true, i, e.what()};
        }
    }
    for (std::size_t i = 0; i < statements.size(); ++i) {
        try {
            PreparedStatement p(db.getHandle(), statements[i]);
        } catch (const ConnectorError& e) {
            return SqlCheckFailure{false, i, e.what()};
        }
    }
    return std::nullopt;
}

void SqliteConnector::sql_execute(const std::vector<std::string>& script) {
    SQLite::Database db = open_database(file_, mode_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    const auto cancel = on_cancel([&db] { sqlite3_interrupt(db.getHandle()); });
    try {
        db.exec("PRAGMA journal_mode=" + mode_.journal_mode);
        for (const std::string& sql : script) db.exec(sql);
        if (mode_.journal_mode == "WAL") db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("'" + file_ + "': " + e.what());
    }
}

SqlRows SqliteConnector::sql_query(const std::string& sql) {
    SQLite::Database db = open_database(file_, mode_, SQLite::OPEN_READONLY);
    const auto cancel = on_cancel([&db] { sqlite3_interrupt(db.getHandle()); });
    try {
        SQLite::Statement q(db, sql);
        SqlRows rows;
        while (q.executeStep()) {
            auto& row = rows.emplace_back();
            for (int c = 0; c < q.getColumnCount(); ++c) {
                const SQLite::Column column = q.getColumn(c);
                if (column.isNull()) row.emplace_back(std::nullopt);
                else row.emplace_back(column.getString());
            }
        }
        return rows;
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("'" + file_ + "': " + e.what());
    }
}

std::unique_ptr<SqlSession> SqliteConnector::open_sql_session(const std::vector<std::string>& statements) {
    try {
        return std::make_unique<SqliteSqlSession>(file_, mode_, statements);
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("cannot open '" + file_ + "': " + e.what());
    }
}

std::string SqliteConnector::library_version() { return sqlite3_libversion(); }

namespace {
const ConnectorRegistrar registrar({.kind = "sqlite",
                                    .make = make_registered<SqliteConnector>,
                                    .capabilities = {.sql_dialect = "sqlite", .placeholder = "?1", .model = SessionModel::blocking, .audit = true},
                                    .library_versions = [] {
                                        return std::map<std::string, std::string>{
                                            {"sqlite", SqliteConnector::library_version()},
                                            {"sqlitecpp", SQLITECPP_VERSION}};
                                    }});
}  // namespace

}  // namespace loadbench
