// test-1's audit (scenarios/transfer_audit.hpp): op ids, the client's log and the comparison with a
// ledger: each figure and each violation on a ledger built by hand.
#include <gtest/gtest.h>

#include "scenarios/transfer_audit.hpp"

namespace loadbench {
namespace {

constexpr std::uint64_t kFirst = 7;  // the run's first stream (earlier runs had 0..6)

AccountsSpec accounts() { return {.accounts = 4, .initial_balance = 100}; }

// Balances as a ledger of `entries` leaves accounts 1..4 (all present).
AuditLedger ledger_of(std::vector<LedgerEntry> entries) {
    AuditLedger l;
    l.balances.assign(4, 100);
    l.present.assign(4, true);
    for (const LedgerEntry& e : entries) {
        l.balances[e.from_id - 1] -= e.amount;
        l.balances[e.to_id - 1] += e.amount;
    }
    l.entries = std::move(entries);
    return l;
}

std::vector<std::uint8_t> codes(std::initializer_list<AuditCode> c) {
    std::vector<std::uint8_t> out;
    for (AuditCode x : c) out.push_back(static_cast<std::uint8_t>(x));
    return out;
}

TEST(TransferAudit, OpIdsAreUniquePerStreamAndAttemptAndNeverZero) {
    EXPECT_EQ(audit_op_id(0, 0), 1u);
    EXPECT_NE(audit_op_id(1, 0), audit_op_id(0, 0));
    EXPECT_EQ(audit_op_id(3, 5) >> 32, 3u);
    EXPECT_EQ(audit_op_id(3, 5) & 0xffff'ffffu, 6u);
    EXPECT_LT(audit_op_id(kAuditMaxStreams - 1, kAuditMaxAttempts - 1), std::uint64_t{1} << 63);
}

TEST(TransferAudit, TheLogKeepsOneCodePerAttemptAndDropsWritesAfterTheSeal) {
    TransferAuditLog log(kFirst);
    auto& s = log.session(1);
    EXPECT_EQ(s.begin(), audit_op_id(kFirst + 1, 0));
    s.finish(AuditCode::committed);
    EXPECT_EQ(s.begin(), audit_op_id(kFirst + 1, 1));  // in flight when sealed: no answer
    const auto sealed = log.seal();
    s.finish(AuditCode::committed);  // an abandoned session answering late
    EXPECT_EQ(s.begin(), 0u);
    ASSERT_EQ(sealed.size(), 1u);
    EXPECT_EQ(sealed.at(kFirst + 1), codes({AuditCode::committed, AuditCode::no_answer}));
}

TEST(TransferAudit, FailuresWithoutAnAnswerAreAmbiguous) {
    EXPECT_EQ(audit_code(Attempt::committed()), AuditCode::committed);
    EXPECT_EQ(audit_code(Attempt::rejected()), AuditCode::rejected);
    EXPECT_EQ(audit_code(Attempt::failed(ErrorKind::serialization)), AuditCode::failed);
    EXPECT_EQ(audit_code(Attempt::failed(ErrorKind::connection)), AuditCode::no_answer);
    EXPECT_EQ(audit_code(Attempt::failed(ErrorKind::timeout)), AuditCode::no_answer);
}

TEST(TransferAudit, ACleanRunConfirmsEveryCommitAndCountsAmbiguousOutcomes) {
    const std::uint64_t s = kFirst;
    // attempts: 0 committed, 1 rejected, 2 no answer but committed, 3 no answer and not, 4 failed;
    // plus a row of an earlier run (stream 2).
    const auto ledger = ledger_of({{audit_op_id(s, 0), 1, 2, 10}, {audit_op_id(s, 2), 3, 4, 5}, {audit_op_id(2, 0), 2, 1, 1}});
    const std::map<std::uint64_t, std::vector<std::uint8_t>> log = {
        {s, codes({AuditCode::committed, AuditCode::rejected, AuditCode::no_answer, AuditCode::no_answer,
                   AuditCode::failed})}};
    const AuditFigures f = audit_transfers(ledger, log, kFirst, accounts());
    EXPECT_EQ(f.client_attempts, 5u);
    EXPECT_EQ(f.client_committed, 1u);
    EXPECT_EQ(f.client_no_answer, 2u);
    EXPECT_EQ(f.ledger_rows, 2u);
    EXPECT_EQ(f.ledger_rows_earlier, 1u);
    EXPECT_EQ(f.lost_writes, 0u);
    EXPECT_EQ(f.ambiguous_committed, 1u);
    EXPECT_EQ(f.ambiguous_not_committed, 1u);
    EXPECT_EQ(f.server_confirmed, 2u);
    EXPECT_EQ(f.lost_updates, 0u);
    EXPECT_TRUE(f.identity_holds);
    EXPECT_TRUE(f.passed);
}

TEST(TransferAudit, AnAcknowledgedCommitMissingFromTheLedgerIsALostWrite) {
    const auto ledger = ledger_of({{audit_op_id(kFirst, 0), 1, 2, 10}});
    const std::map<std::uint64_t, std::vector<std::uint8_t>> log = {
        {kFirst, codes({AuditCode::committed, AuditCode::committed})}};
    const AuditFigures f = audit_transfers(ledger, log, kFirst, accounts());
    EXPECT_EQ(f.lost_writes, 1u);
    EXPECT_EQ(f.lost_updates, 0u);  // the transaction went whole: balances agree with the ledger
    EXPECT_FALSE(f.identity_holds);
    EXPECT_FALSE(f.passed);
}

TEST(TransferAudit, ABalanceTheLedgerDoesNotExplainIsALostUpdate) {
    auto ledger = ledger_of({{audit_op_id(kFirst, 0), 1, 2, 10}});
    ledger.balances[1] -= 10;  // the credit lost
    ledger.present[3] = false;  // and an account gone
    const std::map<std::uint64_t, std::vector<std::uint8_t>> log = {{kFirst, codes({AuditCode::committed})}};
    const AuditFigures f = audit_transfers(ledger, log, kFirst, accounts());
    EXPECT_EQ(f.lost_updates, 2u);
    EXPECT_TRUE(f.identity_holds);
    EXPECT_FALSE(f.passed);
}

TEST(TransferAudit, RowsOfRefusedOrUnknownOrRepeatedIdsAreViolations) {
    const auto ledger = ledger_of({{audit_op_id(kFirst, 0), 1, 2, 1},
                                   {audit_op_id(kFirst, 5), 1, 2, 1},       // no such attempt
                                   {audit_op_id(kFirst + 3, 0), 1, 2, 1},   // no such session
                                   {audit_op_id(kFirst, 1), 1, 2, 1}});
    auto twice = ledger;
    twice.entries.push_back(twice.entries[0]);
    const std::map<std::uint64_t, std::vector<std::uint8_t>> log = {
        {kFirst, codes({AuditCode::rejected, AuditCode::committed})}};
    const AuditFigures f = audit_transfers(ledger, log, kFirst, accounts());
    EXPECT_EQ(f.rejected_in_ledger, 1u);
    EXPECT_EQ(f.unknown_in_ledger, 2u);
    EXPECT_EQ(f.ledger_rows, 4u);
    EXPECT_FALSE(f.passed);
    EXPECT_EQ(audit_transfers(twice, log, kFirst, accounts()).duplicate_ids, 1u);
}

}  // namespace
}  // namespace loadbench
