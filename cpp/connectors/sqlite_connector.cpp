#include "connectors/sqlite_connector.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <array>

#include "connectors/options.hpp"

namespace loadbench {
namespace {

// `default` is SQLite out of the box: rollback journal, synchronous=FULL, no busy timeout.
constexpr std::array<SqliteMode, 3> kSqliteModes = {{
    {"default", "DELETE", nullptr, 0},
    {"wal", "WAL", "NORMAL", 5000},
    {"fast", "WAL", "OFF", 5000},
}};

SqliteMode find_mode(const std::string& name) {
    for (const auto& mode : kSqliteModes)
        if (name == mode.name) return mode;
    throw ConnectorError("unknown SQLite mode '" + name + "' (expected default, wal or fast)");
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

// Sessions open all at once before the load starts (the first of them may be recovering the WAL),
// so opening waits for locks whatever the mode; the mode's own busy timeout applies afterwards.
constexpr int kOpenBusyTimeoutMs = 10'000;

SQLite::Database open_database(const std::string& file, const SqliteMode& mode, int flags) {
    try {
        SQLite::Database db(file, flags | SQLite::OPEN_NOMUTEX, kOpenBusyTimeoutMs);
        if (mode.synchronous) db.exec(std::string("PRAGMA synchronous=") + mode.synchronous);
        return db;
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("cannot open '" + file + "': " + e.what());
    }
}

class SqliteTransferSession final : public TransferSession {
public:
    SqliteTransferSession(const std::string& file, const SqliteMode& mode)
        : db_(open_database(file, mode, SQLite::OPEN_READWRITE)),
          begin_(db_, "BEGIN IMMEDIATE"),
          debit_(db_, "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1"),
          credit_(db_, "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2"),
          commit_(db_, "COMMIT"),
          rollback_(db_, "ROLLBACK") {
        db_.setBusyTimeout(mode.busy_timeout_ms);
    }

    Attempt transfer(const Transfer& t) override {
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
        if ((rc = step(commit_)) != SQLITE_DONE) return fail(rc);
        return Attempt::committed();
    }

    void interrupt() noexcept override { sqlite3_interrupt(db_.getHandle()); }
    std::string last_error() const override { return last_error_; }

private:
    static int step(SQLite::Statement& statement) {
        const int rc = statement.tryExecuteStep();
        statement.tryReset();
        return rc;
    }

    Attempt fail(int rc) {
        last_error_ = std::string(sqlite3_errstr(rc)) + ": " + db_.getErrorMsg();
        if (!sqlite3_get_autocommit(db_.getHandle())) step(rollback_);
        const ErrorKind kind = classify(rc);
        return Attempt::failed(kind, kind == ErrorKind::busy);
    }

    SQLite::Database db_;
    SQLite::Statement begin_, debit_, credit_, commit_, rollback_;
    std::string last_error_;
};

}  // namespace

SqliteConnector::SqliteConnector(const ConnectorOptions& options)
    : file_(option_required(options, "file")), mode_(find_mode(option_string(options, "mode", "wal"))) {
    mode_.busy_timeout_ms =
        static_cast<int>(option_int(options, "busy_timeout_ms", mode_.busy_timeout_ms, 0, 3'600'000));
}

void SqliteConnector::prep_accounts(const AccountsSpec& spec) {
    SQLite::Database db = open_database(file_, mode_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    try {
        db.exec(std::string("PRAGMA journal_mode=") + mode_.journal_mode);
        db.exec("DROP TABLE IF EXISTS accounts");
        db.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)");
        SQLite::Transaction txn(db);
        SQLite::Statement insert(db, "INSERT INTO accounts (id, balance) VALUES (?1, ?2)");
        for (std::uint64_t id = 1; id <= spec.accounts; ++id) {
            insert.bind(1, static_cast<std::int64_t>(id));
            insert.bind(2, spec.initial_balance);
            insert.exec();
            insert.reset();
        }
        txn.commit();
        if (std::string(mode_.journal_mode) == "WAL") db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("'" + file_ + "': " + e.what());
    }
}

std::optional<AccountsCheck> SqliteConnector::verify_accounts(const AccountsSpec& spec) {
    SQLite::Database db = open_database(file_, mode_, SQLite::OPEN_READONLY);
    try {
        SQLite::Statement q(db,
                            "SELECT COUNT(*), COALESCE(SUM(balance), 0), "
                            "COALESCE(SUM(CASE WHEN balance < 0 THEN 1 ELSE 0 END), 0) FROM accounts");
        q.executeStep();
        AccountsCheck check;
        check.accounts = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
        check.total = q.getColumn(1).getInt64();
        check.negative_balances = static_cast<std::uint64_t>(q.getColumn(2).getInt64());
        check.expected_total = static_cast<std::int64_t>(spec.accounts) * spec.initial_balance;
        check.passed = check.accounts == spec.accounts && check.total == check.expected_total &&
                       check.negative_balances == 0;
        return check;
    } catch (const SQLite::Exception& e) {
        throw ConnectorError("'" + file_ + "': " + e.what());
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

std::string SqliteConnector::library_version() { return sqlite3_libversion(); }

}  // namespace loadbench
