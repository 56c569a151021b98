// SqliteConnector: test-1 and SQL scenarios on an SQLite file through SQLiteCpp, one connection per
// worker. Options: `file` (required), `mode` = default | wal | fast (see kSqliteModes); these
// override the mode's: `journal_mode`, `synchronous`, `busy_timeout_ms`, and `cache_size`,
// `mmap_size` (PRAGMA values; unset: SQLite's defaults). Transactions take the write lock up front
// (BEGIN IMMEDIATE) so two writers never deadlock upgrading a read lock; BUSY/LOCKED come back to
// the engine as retryable.
#pragma once

#include <string>

#include "connectors/connector.hpp"

namespace loadbench {

struct SqliteMode {
    std::string name;
    std::string journal_mode;  // set on the file by prep (it persists in the file)
    std::string synchronous;   // empty: SQLite's default (FULL)
    int busy_timeout_ms;       // 0: SQLite's default (fail at once)
    std::string cache_size;    // PRAGMA cache_size per connection; empty: SQLite's default
    std::string mmap_size;     // PRAGMA mmap_size per connection; empty: SQLite's default (0)
};

class SqliteConnector final : public Connector,
                              public BlockingTransferSessions,
                              public SqlSessions,
                              public TransferAuditReader {
public:
    explicit SqliteConnector(const ConnectorOptions& options);

    BlockingTransferSessions* blocking_transfer_sessions() override { return this; }
    SqlSessions* sql_sessions() override { return this; }

    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;
    std::unique_ptr<TransferSession> open_transfer_session() override;
    AuditLedger read_audit_ledger(const AccountsSpec& spec) override;
    SessionFootprint footprint() const override;  // footprint.cpp

    std::optional<SqlCheckFailure> sql_check(const std::vector<std::string>& script,
                                             const std::vector<std::string>& statements) override;
    void sql_execute(const std::vector<std::string>& script) override;
    SqlRows sql_query(const std::string& sql) override;
    std::unique_ptr<SqlSession> open_sql_session(const std::vector<std::string>& statements) override;

    static std::string library_version();

private:
    std::string file_;
    SqliteMode mode_;
};

}  // namespace loadbench
