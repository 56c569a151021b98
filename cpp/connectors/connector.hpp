// Connector: how loadbench reaches one database system. A connector knows its system's protocol
// and error codes; it knows nothing of timing or threads (the engine's job) nor of how operations
// are chosen (the scenario's).
//
// Two parts: the control plane (Connector: check, prep, verify, the SQL set-up calls, cancel,
// footprint), and the session families a scenario needs (test-1's transfers, SQL scenarios), each
// a separate interface that a connector offers or not (the accessor returns nullptr). Nothing
// here has a default that fails at run time: a scenario asks for its family before any load and
// stops with one ConnectorConfigError line when the connector lacks it, and the registration's
// capabilities (connectors/registry.hpp) say the same up front.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "connectors/sql_session.hpp"
#include "errors/connector_errors.hpp"
#include "engine/async_workload.hpp"
#include "engine/outcome.hpp"

namespace loadbench {

// test-1's data set: accounts with ids 1..accounts, each seeded with initial_balance.
struct AccountsSpec {
    std::uint64_t accounts = 100'000;
    std::int64_t initial_balance = 1'000;
};

// What verify found; `passed` when money is conserved, nothing is negative and no account is missing.
struct AccountsCheck {
    std::uint64_t accounts = 0;
    std::int64_t total = 0;
    std::int64_t expected_total = 0;
    std::uint64_t negative_balances = 0;
    // Accounts whose balance is no longer the initial one (the keynote rpc `verify`'s `changed`);
    // nullopt where the system does not say.
    std::optional<std::uint64_t> changed;
    // Accounts found outside ids 1..N (counted in none of the above but `total` and
    // `negative_balances`), and one of them by name; nullopt where the system does not look for them.
    std::optional<std::uint64_t> outside;
    std::string outside_example;
    bool passed = false;
};

// One transfer of test-1: move `amount` from account `from_id` to `to_id` (ids are 1-based) if
// `from_id`'s balance covers it, in one transaction.
struct Transfer {
    std::uint64_t from_id = 0;
    std::uint64_t to_id = 0;
    std::int64_t amount = 0;
    // --audit: the attempt's unique id (scenarios/transfer_audit.hpp), written to the ledger in
    // the transfer's own transaction when it commits; 0: not audited, no ledger row.
    std::uint64_t op_id = 0;
};

// --audit (scenarios/transfer_audit.hpp): what the server holds, read after the run by a connector
// that audits.
struct LedgerEntry {
    std::uint64_t op_id = 0;
    std::uint64_t from_id = 0;
    std::uint64_t to_id = 0;
    std::int64_t amount = 0;
};

struct AuditLedger {
    std::vector<LedgerEntry> entries;  // the whole ledger since prep
    std::vector<std::int64_t> balances;  // by account id - 1
    std::vector<bool> present;           // by account id - 1: the account exists
    // The durability settings in force, read from the server (name -> value), e.g.
    // {"fsync": "on", "synchronous_commit": "on"}.
    std::map<std::string, std::string> durability;
};

// Connectors that audit implement this (their registration says `audit`). Prep creates (or
// empties) the ledger; a transfer with a non-zero op_id writes its row in its own transaction.
class TransferAuditReader {
public:
    virtual AuditLedger read_audit_ledger(const AccountsSpec& spec) = 0;
    // Whether the sessions opened from now on write the ledger (make_transfer_run sets it before
    // any session opens). Connectors that prepare the audited statements at connect prepare them
    // only when this is on, so a run without --audit needs none of the audit objects on the server
    // (a database prepped by an older loadbench, --skip-prep).
    void set_audited(bool on) noexcept { audited_.store(on, std::memory_order_relaxed); }
    bool audited() const noexcept { return audited_.load(std::memory_order_relaxed); }

protected:
    ~TransferAuditReader() = default;

private:
    std::atomic<bool> audited_{false};
};

class TransferSession {
public:
    virtual ~TransferSession() = default;
    virtual Attempt transfer(const Transfer& t) = 0;
    virtual void interrupt() noexcept {}
    virtual std::string last_error() const { return {}; }
};

// The same, for sessions that live on an event loop (see engine/async_workload.hpp).
class AsyncTransferSession : public Interruptible {
public:
    // Starts one transfer; `done` is called exactly once, later, on the session's io_context.
    virtual void transfer(const Transfer& t, AttemptCallback& done) = 0;
    virtual void shutdown() = 0;
    virtual std::string last_error() const { return {}; }
    virtual std::uint64_t reconnects() const { return 0; }
};

class AsyncTransferOpenCallback {
public:
    virtual void opened(std::unique_ptr<AsyncTransferSession> session) = 0;
    virtual void open_failed(std::string error) = 0;

protected:
    ~AsyncTransferOpenCallback() = default;
};

// Cancelling a control-plane call (check, prep, verify, schema, seeding) from another thread. The
// call registers, for as long as a connection of its lives, what makes that connection's wait end
// (sqlite3_interrupt, shutting its socket down); cancel() runs them, and a hook registered after
// it runs at once. Hooks must not block: they run under a lock that unregistering also takes, so
// the connection cannot go away while its hook runs. Best effort: a call between two waits may
// go on (its caller gives up on it after a bounded wait).
class CancelHooks {
public:
    class Registration {
    public:
        Registration(CancelHooks* hooks, std::uint64_t id) : hooks_(hooks), id_(id) {}
        Registration(Registration&& o) noexcept : hooks_(std::exchange(o.hooks_, nullptr)), id_(o.id_) {}
        Registration(const Registration&) = delete;
        Registration& operator=(const Registration&) = delete;
        Registration& operator=(Registration&&) = delete;
        ~Registration() {
            if (!hooks_) return;
            std::lock_guard lock(hooks_->mutex_);
            hooks_->hooks_.erase(id_);
        }

    private:
        CancelHooks* hooks_;
        std::uint64_t id_;
    };

    [[nodiscard]] Registration add(std::function<void()> hook) {
        std::lock_guard lock(mutex_);
        if (cancelled_) hook();
        hooks_.emplace(++last_id_, std::move(hook));
        return {this, last_id_};
    }
    void cancel() noexcept {
        std::lock_guard lock(mutex_);
        cancelled_ = true;
        for (auto& [id, hook] : hooks_) hook();
    }

private:
    std::mutex mutex_;
    bool cancelled_ = false;
    std::uint64_t last_id_ = 0;
    std::map<std::uint64_t, std::function<void()>> hooks_;
};

// What one session costs the machine beyond the engine's own structures (the resource check
// before a run): resident bytes, and file descriptors per connection.
struct SessionFootprint {
    std::size_t bytes_per_connection = 8 * 1024;  // an HTTP/WebSocket session: buffers and its socket
    std::size_t descriptors_per_connection = 1;
};

// test-1's family, blocking: one session per engine thread.
class BlockingTransferSessions {
public:
    virtual std::unique_ptr<TransferSession> open_transfer_session() = 0;

protected:
    ~BlockingTransferSessions() = default;
};

// test-1's family on event loops: session `index` opens on `io`, `done` is called on its thread.
class EventLoopTransferSessions {
public:
    virtual void open_async_transfer_session(asio::io_context& io, std::size_t index, AsyncTransferOpenCallback& done) = 0;

protected:
    ~EventLoopTransferSessions() = default;
};

// The SQL family (scenarios defined in files; see connectors/sql_session.hpp): its set-up calls
// and blocking sessions, which every SQL connector has (seeding uses them; they are the load of a
// blocking connector).
class SqlSessions {
public:
    // Runs `script` (DDL) on a scratch copy of the schema that is thrown away afterwards (an
    // in-memory database, a rolled-back transaction), then prepares every statement there: the
    // first refusal, or nullopt when everything prepares. Touches no data.
    virtual std::optional<SqlCheckFailure> sql_check(const std::vector<std::string>& script,
                                                     const std::vector<std::string>& statements) = 0;
    // Runs each statement of `script` in order (schema set-up and tear-down).
    virtual void sql_execute(const std::vector<std::string>& script) = 0;
    // One query's rows (verification).
    virtual SqlRows sql_query(const std::string& sql) = 0;
    // A blocking session with `statements` prepared.
    virtual std::unique_ptr<SqlSession> open_sql_session(const std::vector<std::string>& statements) = 0;

protected:
    ~SqlSessions() = default;
};

// The SQL family's load sessions on event loops (event-loop connectors, besides SqlSessions).
class EventLoopSqlSessions {
public:
    virtual void open_async_sql_session(asio::io_context& io, std::size_t index,
                                        const std::vector<std::string>& statements, AsyncSqlOpenCallback& done) = 0;

protected:
    ~EventLoopSqlSessions() = default;
};

class Connector {
public:
    virtual ~Connector() = default;

    // The registered kind ("sqlite"), for messages; set by make_connector, empty when the connector
    // was built directly.
    const std::string& kind() const { return kind_; }

    // --- control plane ----------------------------------------------------------------------
    // Thread-safe: makes the control-plane call in progress on this connector return soon (with a
    // ConnectorError), best effort (see CancelHooks).
    void cancel() noexcept { cancel_hooks_.cancel(); }
    // Resources per connection (connections = sessions / sessions_per_connection()).
    virtual SessionFootprint footprint() const { return {}; }

    // Can the system be reached with this configuration? Throws ConnectorError if not.
    virtual void check() {}
    virtual void prep_accounts(const AccountsSpec& spec) = 0;
    // nullopt when the connector keeps no data to check (the null connector).
    virtual std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) = 0;

    // SQL set-up calls (see SqlSessions): ConnectorConfigError when the connector runs no SQL
    // scenarios.
    std::optional<SqlCheckFailure> sql_check(const std::vector<std::string>& script,
                                             const std::vector<std::string>& statements) {
        return require_sql().sql_check(script, statements);
    }
    void sql_execute(const std::vector<std::string>& script) { require_sql().sql_execute(script); }
    SqlRows sql_query(const std::string& sql) { return require_sql().sql_query(sql); }

    // A control-plane connection's way to be cancelled, registered while the result lives.
    [[nodiscard]] CancelHooks::Registration on_cancel(std::function<void()> hook) { return cancel_hooks_.add(std::move(hook)); }

    // --- sessions ---------------------------------------------------------------------------
    // How the sessions run: on event loops (the event-loop families) or one thread each (the
    // blocking ones). Must agree with the families offered and the registration's model.
    virtual bool is_async() const { return false; }
    // Sessions [k * g, (k + 1) * g) share one connection (pipelining).
    virtual std::size_t sessions_per_connection() const { return 1; }

    // The families this connector offers; nullptr: not offered. A connector offers test-1 in its
    // session model, and SQL (SqlSessions, plus EventLoopSqlSessions when is_async()) exactly
    // when its registration names an SQL dialect.
    virtual BlockingTransferSessions* blocking_transfer_sessions() { return nullptr; }
    virtual EventLoopTransferSessions* event_loop_transfer_sessions() { return nullptr; }
    virtual SqlSessions* sql_sessions() { return nullptr; }
    virtual EventLoopSqlSessions* event_loop_sql_sessions() { return nullptr; }

    // "connector 'rpc'" (or "this connector"), to begin a message with.
    std::string describe() const { return kind_.empty() ? "this connector" : "connector '" + kind_ + "'"; }

private:
    friend std::shared_ptr<Connector> make_connector(const std::string& kind, const std::map<std::string, std::string>& options);
    SqlSessions& require_sql() {
        if (SqlSessions* sql = sql_sessions()) return *sql;
        throw ConnectorConfigError(describe() + " runs no SQL scenarios");
    }
    std::string kind_;
    CancelHooks cancel_hooks_;
};

// Connector options arrive as plain strings (from the Python side's config).
using ConnectorOptions = std::map<std::string, std::string>;

}  // namespace loadbench
