// MariaDbConnector (kind `mysql`): test-1 and scenario files on MariaDB and MySQL (InnoDB),
// through MariaDB Connector/C. Sessions live on event loops (MariaDbConnection, the non-blocking
// API, server-side prepared statements); the control plane (check, prep, verify, a scenario's
// schema and checks) uses blocking connections of the same library.
//
// Options: `url` (mysql://user:password@host:port/database, required);
// `mode` = procedure (default: CALL transfer(?, ?, ?), one round trip; prep creates the procedure)
// | statements (BEGIN; SELECT ... FOR UPDATE locking both rows in id order; two UPDATEs; COMMIT,
// each a round trip); `isolation` = read_uncommitted | read_committed | repeatable_read (default,
// InnoDB's own) | serializable, set on every connection; `lock_wait_timeout` = seconds a statement
// waits for a row lock before failing with 1205 (set per session; absent: the server's);
// `server_settings` = `name=value;...`, global server variables (innodb_flush_log_at_trx_commit)
// set with SET GLOBAL by every connection before load and by check(), which refuses in one line an
// account without the privilege: the configuration presets, which the session cannot set.
//
// The classic protocol answers one command at a time (no pipelining): a connection serves one
// session, and more sessions per event-loop thread (`--threads` below `--concurrency`) is how few
// client threads drive many connections.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/connector.hpp"
#include "connectors/mariadb_connection.hpp"

namespace loadbench {

struct MariaDbConnectorOptions {
    MariaDbEndpoint endpoint;
    bool procedure_mode = true;
    std::string isolation = "REPEATABLE READ";
    std::optional<long long> lock_wait_timeout_s;
    std::vector<std::pair<std::string, std::string>> server_settings;  // SET GLOBAL name = value
};

class MariaDbConnector final : public Connector,
                               public EventLoopTransferSessions,
                               public SqlSessions,
                               public EventLoopSqlSessions,
                               public TransferAuditReader {
public:
    explicit MariaDbConnector(const ConnectorOptions& options);

    void check() override;
    // Drops and creates `accounts` (InnoDB), seeds it with multi-row INSERTs in one transaction,
    // and (re)creates the `transfer` procedure.
    void prep_accounts(const AccountsSpec& spec) override;
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;
    // --audit: the ledger (prep creates it empty, and the `transfer_audited` procedure), the
    // balances, innodb_flush_log_at_trx_commit, sync_binlog and log_bin.
    AuditLedger read_audit_ledger(const AccountsSpec& spec) override;
    SessionFootprint footprint() const override;

    bool is_async() const override { return true; }
    EventLoopTransferSessions* event_loop_transfer_sessions() override { return this; }
    SqlSessions* sql_sessions() override { return this; }
    EventLoopSqlSessions* event_loop_sql_sessions() override { return this; }
    void open_async_transfer_session(asio::io_context& io, std::size_t index, AsyncTransferOpenCallback& done) override;

    // The scratch copy of sql_check is a database of its own, dropped afterwards (MariaDB's DDL
    // commits, so a transaction cannot hold it); without the right to create one, the check is
    // skipped (nullopt) and the database's refusal comes at prep instead.
    std::optional<SqlCheckFailure> sql_check(const std::vector<std::string>& script,
                                             const std::vector<std::string>& statements) override;
    void sql_execute(const std::vector<std::string>& script) override;
    SqlRows sql_query(const std::string& sql) override;
    std::unique_ptr<SqlSession> open_sql_session(const std::vector<std::string>& statements) override;
    void open_async_sql_session(asio::io_context& io, std::size_t index, const std::vector<std::string>& statements,
                                AsyncSqlOpenCallback& done) override;

    const MariaDbConnectorOptions& options() const { return options_; }
    // What every connection runs first: isolation level, lock wait timeout, server settings.
    std::vector<std::string> connection_setup() const;
    // The CREATE PROCEDURE statement of the procedure test-1's procedure mode calls (prep creates it
    // as `transfer`), under `name`: transfer(a, b, amount) moves `amount` from `a` to `b` when `a`
    // covers it, locking the rows in id order; no result set: the CALL's status counts 2 or 3 rows
    // when it moved the money, 0 or 1 when it refused. bench/vs_sysbench.py creates it for sysbench.
    static std::string transfer_procedure(std::string_view name = "transfer");

private:
    MariaDbSettings session_settings(std::vector<std::string> statements) const;
    MariaDbConnectorOptions options_;
};

}  // namespace loadbench
