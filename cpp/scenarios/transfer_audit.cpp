#include "scenarios/transfer_audit.hpp"

#include <algorithm>
#include <unordered_set>

namespace loadbench {

AuditCode audit_code(const Attempt& attempt) {
    switch (attempt.outcome) {
        case Outcome::committed: return AuditCode::committed;
        case Outcome::rejected: return AuditCode::rejected;
        case Outcome::failed: break;
    }
    switch (attempt.error) {
        case ErrorKind::connection:
        case ErrorKind::timeout:
        case ErrorKind::protocol: return AuditCode::no_answer;
        default: return AuditCode::failed;
    }
}

std::uint64_t TransferAuditLog::Session::begin() {
    std::lock_guard lock(mutex_);
    if (sealed_ || codes_.size() >= kAuditMaxAttempts) return 0;
    codes_.push_back(static_cast<std::uint8_t>(AuditCode::no_answer));
    return audit_op_id(stream_, codes_.size() - 1);
}

void TransferAuditLog::Session::finish(AuditCode code) {
    std::lock_guard lock(mutex_);
    if (!sealed_ && !codes_.empty()) codes_.back() = static_cast<std::uint8_t>(code);
}

TransferAuditLog::Session& TransferAuditLog::session(std::size_t index) {
    std::lock_guard lock(mutex_);
    auto& slot = sessions_[index];
    if (!slot) {
        slot = std::make_unique<Session>();
        slot->stream_ = first_stream_ + index;
        if (slot->stream_ >= kAuditMaxStreams) throw ConnectorConfigError("--audit: more than 2^31 sessions");
    }
    return *slot;
}

std::map<std::uint64_t, std::vector<std::uint8_t>> TransferAuditLog::seal() {
    std::lock_guard lock(mutex_);
    std::map<std::uint64_t, std::vector<std::uint8_t>> out;
    for (auto& [index, s] : sessions_) {
        std::lock_guard session_lock(s->mutex_);
        s->sealed_ = true;
        out[s->stream_] = s->codes_;
    }
    return out;
}

TransferAuditReader& require_audit(Connector& connector) {
    if (auto* reader = dynamic_cast<TransferAuditReader*>(&connector)) return *reader;
    throw ConnectorConfigError(connector.describe() + " keeps no audit ledger (--audit)");
}

AuditFigures audit_transfers(const AuditLedger& ledger, const std::map<std::uint64_t, std::vector<std::uint8_t>>& log,
                             std::uint64_t first_stream, const AccountsSpec& spec) {
    AuditFigures f;
    for (const auto& [stream, codes] : log) {
        f.client_attempts += codes.size();
        for (std::uint8_t c : codes) {
            switch (static_cast<AuditCode>(c)) {
                case AuditCode::committed: ++f.client_committed; break;
                case AuditCode::rejected: ++f.client_rejected; break;
                case AuditCode::failed: ++f.client_failed; break;
                case AuditCode::no_answer: ++f.client_no_answer; break;
            }
        }
    }

    // Balances expected from the whole ledger; this run's rows matched against the client's codes.
    const std::size_t n = static_cast<std::size_t>(spec.accounts);
    std::vector<std::int64_t> expected(n, spec.initial_balance);
    std::unordered_set<std::uint64_t> seen;
    seen.reserve(ledger.entries.size());
    for (const LedgerEntry& e : ledger.entries) {
        if (!seen.insert(e.op_id).second) {
            ++f.duplicate_ids;
            continue;
        }
        if (e.from_id >= 1 && e.from_id <= n && e.to_id >= 1 && e.to_id <= n) {  // the connectors' own rows
            expected[e.from_id - 1] -= e.amount;
            expected[e.to_id - 1] += e.amount;
        }
        const std::uint64_t stream = e.op_id >> 32, seq_plus_1 = e.op_id & 0xffff'ffffu;
        if (stream < first_stream) {
            ++f.ledger_rows_earlier;
            continue;
        }
        ++f.ledger_rows;
        const auto it = log.find(stream);
        if (it == log.end() || seq_plus_1 == 0 || seq_plus_1 > it->second.size()) {
            ++f.unknown_in_ledger;
            continue;
        }
        switch (static_cast<AuditCode>(it->second[seq_plus_1 - 1])) {
            case AuditCode::committed: ++f.committed_in_ledger; break;
            case AuditCode::rejected: ++f.rejected_in_ledger; break;
            case AuditCode::failed: ++f.failed_in_ledger; break;
            case AuditCode::no_answer: ++f.no_answer_in_ledger; break;
        }
    }
    f.lost_writes = f.client_committed - f.committed_in_ledger;
    f.ambiguous_committed = f.failed_in_ledger + f.no_answer_in_ledger;
    f.ambiguous_not_committed = f.client_no_answer - f.no_answer_in_ledger;
    f.server_confirmed = f.client_committed + f.ambiguous_committed;
    f.identity_holds = f.server_confirmed == f.ledger_rows;

    for (std::size_t i = 0; i < n; ++i) {
        const bool present = i < ledger.present.size() && ledger.present[i];
        if (!present || ledger.balances[i] != expected[i]) ++f.lost_updates;
    }
    f.accounts_checked = n;
    f.passed = f.identity_holds && f.lost_writes == 0 && f.lost_updates == 0 && f.duplicate_ids == 0 &&
               f.rejected_in_ledger == 0 && f.unknown_in_ledger == 0;
    return f;
}

}  // namespace loadbench
