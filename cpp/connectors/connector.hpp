// Connector: how loadbench reaches one database system. A connector knows its system's protocol
// and error codes; it knows nothing of timing or threads (the engine's job) nor of how operations
// are chosen (the scenario's). Each scenario declares the session interface it needs, and a
// connector that supports the scenario implements it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/outcome.hpp"

namespace loadbench {

// Thrown for a configuration the connector cannot use (bad option, unreachable file...): the
// message is one clear line, free of secrets, that the CLI shows as is.
struct ConnectorError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

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

class Connector {
public:
    virtual ~Connector() = default;

    virtual void prep_accounts(const AccountsSpec& spec) = 0;
    // nullopt when the connector keeps no data to check (the null connector).
    virtual std::optional<AccountsCheck> verify_accounts(const AccountsSpec& spec) = 0;
    virtual std::unique_ptr<TransferSession> open_transfer_session() = 0;
};

// Connector options arrive as plain strings (from the Python side's config).
using ConnectorOptions = std::map<std::string, std::string>;

}  // namespace loadbench
