// Connector: how loadbench reaches one database system. A connector knows its system's protocol
// and error codes; it knows nothing of timing or threads (the engine's job) nor of how operations
// are chosen (the scenario's). Each scenario declares the session interface it needs, and a
// connector that supports the scenario implements it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

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
    bool passed = false;
};

// One transfer of test-1: move `amount` from account `from_id` to `to_id` (ids are 1-based) if
// `from_id`'s balance covers it, in one transaction.
struct Transfer {
    std::uint64_t from_id = 0;
    std::uint64_t to_id = 0;
    std::int64_t amount = 0;
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

class Connector {
public:
    virtual ~Connector() = default;

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

    // Blocking connectors (one thread per session) implement this...
    virtual std::unique_ptr<TransferSession> open_transfer_session() {
        throw ConnectorError("this connector's sessions run on an event loop");
    }
    // ...event-loop connectors these.
    virtual bool is_async() const { return false; }
    virtual void open_async_transfer_session(asio::io_context&, std::size_t /*index*/, AsyncTransferOpenCallback& done) {
        done.open_failed("this connector has no event-loop sessions");
    }
    // Sessions [k * g, (k + 1) * g) share one connection (pipelining).
    virtual std::size_t sessions_per_connection() const { return 1; }

    // --- SQL scenarios (scenarios defined in files); see connectors/sql_session.hpp ----------
    // Runs `script` (DDL) on a scratch copy of the schema that is thrown away afterwards (an
    // in-memory database, a rolled-back transaction), then prepares every statement there: the
    // first refusal, or nullopt when everything prepares. Touches no data.
    virtual std::optional<SqlCheckFailure> sql_check(const std::vector<std::string>& /*script*/,
                                                     const std::vector<std::string>& /*statements*/) {
        return std::nullopt;
    }
    // Runs each statement of `script` in order (schema set-up and tear-down).
    virtual void sql_execute(const std::vector<std::string>& /*script*/) { no_sql(); }
    // One query's rows (verification).
    virtual SqlRows sql_query(const std::string& /*sql*/) { no_sql(); }
    // A blocking session with `statements` prepared: the load itself for blocking connectors,
    // seeding for every SQL connector.
    virtual std::unique_ptr<SqlSession> open_sql_session(const std::vector<std::string>& /*statements*/) { no_sql(); }
    // Event-loop connectors: the load's sessions.
    virtual void open_async_sql_session(asio::io_context&, std::size_t /*index*/,
                                        const std::vector<std::string>& /*statements*/, AsyncSqlOpenCallback& done) {
        done.open_failed("this connector has no event-loop sessions");
    }

    // A control-plane connection's way to be cancelled, registered while the result lives.
    [[nodiscard]] CancelHooks::Registration on_cancel(std::function<void()> hook) { return cancel_hooks_.add(std::move(hook)); }

private:
    [[noreturn]] static void no_sql() { throw ConnectorError("this connector runs no SQL scenarios"); }
    CancelHooks cancel_hooks_;
};

// Connector options arrive as plain strings (from the Python side's config).
using ConnectorOptions = std::map<std::string, std::string>;

}  // namespace loadbench
