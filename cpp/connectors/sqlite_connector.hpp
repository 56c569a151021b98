// SqliteConnector: test-1 on an SQLite file through SQLiteCpp, one connection per worker.
// Options: `file` (required), `mode` = default | wal | fast (see kSqliteModes), `busy_timeout_ms`
// (overrides the mode's). Transfers take the write lock up front (BEGIN IMMEDIATE) so two writers
// never deadlock upgrading a read lock; BUSY/LOCKED come back to the engine as retryable.
#pragma once

#include <string>

#include "connectors/connector.hpp"

namespace loadbench {

struct SqliteMode {
    const char* name;
    const char* journal_mode;  // set on the file by prep (it persists in the file)
    const char* synchronous;   // nullptr: SQLite's default (FULL)
    int busy_timeout_ms;       // 0: SQLite's default (fail at once)
};

class SqliteConnector final : public Connector {
public:
    explicit SqliteConnector(const ConnectorOptions& options);

    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;
    std::unique_ptr<TransferSession> open_transfer_session() override;

    static std::string library_version();

private:
    std::string file_;
    SqliteMode mode_;
};

}  // namespace loadbench
