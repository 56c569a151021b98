// RedisConnector: test-1 on Redis (and Valkey, which speaks the same protocol). Each account is a
// string key, account:<id - 1> zero-padded to 12 digits (redis-benchmark's __rand_int__ form, so
// bench/vs_redis_benchmark.py drives the very same keys), holding the balance as an integer.
// The control plane (check, prep, verify) uses hiredis's blocking API; sessions use RedisConnection
// (hiredis's asynchronous API on the engine's event loops).
//
// Options: `url` (redis://[[user]:password@]host[:port][/database], required), `mode` = script
// (default: one EVALSHA of the transfer script per transfer, atomic on the server) | watch
// (WATCH/MULTI/EXEC: an optimistic transaction; an EXEC that a concurrent write to a watched key
// aborted is a retryable serialization failure, so the engine retries and counts it), `inflight` =
// transfers in flight per connection (pipelining; script mode only: WATCH belongs to the whole
// connection). No SQL: scenario files are refused.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "connectors/connector.hpp"
#include "connectors/redis_connection.hpp"

namespace loadbench {

struct RedisConnectorOptions {
    RedisEndpoint endpoint;
    bool watch_mode = false;
    std::size_t inflight = 1;
};

class RedisConnector final : public Connector, public EventLoopTransferSessions, public TransferAuditReader {
public:
    explicit RedisConnector(const ConnectorOptions& options);
    ~RedisConnector() override;

    // Connects, authenticates, selects the database and PINGs. A refused password or missing
    // permission is a ConnectorConfigError.
    void check() override;
    // Removes every account:* key of the database (SCAN, UNLINK), then writes accounts 1..N with
    // pipelined MSETs.
    void prep_accounts(const AccountsSpec& spec) override;
    // Sums every balance server-side (a Lua script over ranges of ids): the accounts present, the
    // total, the negative and the changed balances. A server that restarted without persistence
    // has lost its accounts: verify fails, counting them missing.
    std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) override;
    // --audit: the ledger list audit:ledger (prep empties it), the balances (MGET in pages), and
    // appendonly, appendfsync, save (CONFIG GET; "unknown" where refused).
    AuditLedger read_audit_ledger(const AccountsSpec& spec) override;

    bool is_async() const override { return true; }
    EventLoopTransferSessions* event_loop_transfer_sessions() override { return this; }
    void open_async_transfer_session(asio::io_context& io, std::size_t index, AsyncTransferOpenCallback& done) override;
    std::size_t sessions_per_connection() const override { return options_.inflight; }
    SessionFootprint footprint() const override;

    // The transfer script (what bench/vs_redis_benchmark.py gives redis-benchmark, through
    // _core.redis_scripts(): both tools name it by its SHA1), and --audit's: the same text with the
    // ledger step (RPUSH of ARGV[2] to KEYS[3]) before its final `return 1`.
    static const std::string& transfer_script();
    static const std::string& audited_transfer_script();
    // account:<id - 1>, 12 digits: the key of account `id` (1-based).
    static std::string account_key(std::uint64_t id);

private:
    struct Groups;
    using GroupOpened = std::function<void(const std::shared_ptr<RedisConnection>& conn, const std::string& error)>;
    void open_in_group(asio::io_context& io, std::size_t index, GroupOpened done);
    RedisConnectorOptions options_;
    std::unique_ptr<Groups> groups_;  // connections shared by the sessions of a pipeline group
};

}  // namespace loadbench
