// test-1's audit (--audit): every attempt at a transfer carries a unique operation id; a connector
// that audits writes (op_id, from, to, amount) to a ledger in the transfer's own transaction, so a
// ledger row exists exactly when the transfer committed. The client keeps one byte per attempt,
// what it heard back (TransferAuditLog). After the run audit_transfers() compares the two:
//
//   ledger rows (this run) = committed_in_ledger + failed_in_ledger + no_answer_in_ledger
//                            + rejected_in_ledger + unknown_in_ledger
//   lost_writes            = client_committed - committed_in_ledger      (must be 0)
//   server_confirmed       = client_committed + failed_in_ledger + no_answer_in_ledger
//   identity               : server_confirmed == ledger rows (this run), exactly
//
// and every account's balance against initial + credits - debits over the whole ledger.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connectors/connector.hpp"

namespace loadbench {

// What the client heard back about one attempt.
enum class AuditCode : std::uint8_t {
    no_answer = 0,  // sent, and no answer came (connection lost, timeout, interrupt, or never finished)
    committed = 1,  // acknowledged commit
    rejected = 2,   // refused by the business rule (insufficient balance): no ledger row
    failed = 3,     // the server answered with an error: rolled back
};

// Which of the failed attempts had an answer from the server: busy, serialization, deadlock,
// constraint and other are the server's (or the library's) own answer; connection, timeout and
// protocol leave the outcome unknown.
AuditCode audit_code(const Attempt& attempt);

// Operation ids: the session's random stream (RunConfig::stream_offset + session index, unique
// across the runs of an invocation and across a cluster's generators) in bits 62..32, the
// attempt's sequence number + 1 in bits 31..0. Never 0 (0: not audited); below 2^63 (a signed
// BIGINT).
constexpr std::uint64_t audit_op_id(std::uint64_t stream, std::uint64_t seq) { return (stream << 32) | (seq + 1); }
inline constexpr std::uint64_t kAuditMaxStreams = std::uint64_t{1} << 31;
inline constexpr std::uint64_t kAuditMaxAttempts = (std::uint64_t{1} << 32) - 1;  // per session

// One byte per attempt per session. A session writes only its own log (one uncontended mutex per
// attempt); seal() takes the logs once the run is over, after which late writes (a session the
// engine abandoned and that answered later) are dropped: the sealed byte says no_answer.
class TransferAuditLog {
public:
    explicit TransferAuditLog(std::uint64_t first_stream) : first_stream_(first_stream) {}

    class Session {
    public:
        // The id of the next attempt, recorded as no_answer until finish(); 0 past kAuditMaxAttempts.
        std::uint64_t begin();
        void finish(AuditCode code);

    private:
        friend class TransferAuditLog;
        std::uint64_t stream_ = 0;
        std::mutex mutex_;
        bool sealed_ = false;
        std::vector<std::uint8_t> codes_;
    };

    // The log of session `index` (of this run), created on first use.
    Session& session(std::size_t index);
    std::uint64_t first_stream() const { return first_stream_; }
    // Per session: its stream and its codes (seq order). Later writes are dropped.
    std::map<std::uint64_t, std::vector<std::uint8_t>> seal();

private:
    std::uint64_t first_stream_;
    std::mutex mutex_;
    std::map<std::size_t, std::unique_ptr<Session>> sessions_;
};

struct AuditFigures {
    // The client's outcomes, per attempt (all phases: warmup, window and after).
    std::uint64_t client_attempts = 0, client_committed = 0, client_rejected = 0, client_failed = 0,
                  client_no_answer = 0;
    // The ledger: rows of this run's operations (stream >= first_stream), and rows of earlier runs
    // since prep (their streams come first).
    std::uint64_t ledger_rows = 0, ledger_rows_earlier = 0;
    std::uint64_t committed_in_ledger = 0, failed_in_ledger = 0, no_answer_in_ledger = 0;
    std::uint64_t rejected_in_ledger = 0;  // refused, yet a row: a violation
    std::uint64_t unknown_in_ledger = 0;   // an id of this run that no attempt had: a violation
    std::uint64_t duplicate_ids = 0;       // the same id twice: a violation
    std::uint64_t lost_writes = 0;         // acknowledged commits missing from the ledger
    std::uint64_t ambiguous_committed = 0;      // failed_in_ledger + no_answer_in_ledger
    std::uint64_t ambiguous_not_committed = 0;  // no answer, and not in the ledger
    std::uint64_t server_confirmed = 0;         // client_committed + ambiguous_committed
    // Accounts whose balance != initial + credits - debits over the whole ledger (missing ones too).
    std::uint64_t lost_updates = 0;
    std::uint64_t accounts_checked = 0;
    bool identity_holds = false;
    bool passed = false;
};

// Throws ConnectorConfigError when the connector does not audit.
TransferAuditReader& require_audit(Connector& connector);

AuditFigures audit_transfers(const AuditLedger& ledger, const std::map<std::uint64_t, std::vector<std::uint8_t>>& log,
                             std::uint64_t first_stream, const AccountsSpec& spec);

}  // namespace loadbench
