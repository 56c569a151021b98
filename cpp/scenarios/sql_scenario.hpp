// SqlScenario: a scenario described as data (from a TOML file, through Python): a weighted mix of
// operations, each one or more prepared SQL statements (optionally one transaction) whose
// positional parameters are drawn from generators before the attempt. Runs on any connector that
// implements the SQL sessions of connectors/sql_session.hpp, blocking or event-loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "engine/async_workload.hpp"
#include "engine/run.hpp"
#include "engine/workload.hpp"
#include "sampling/key_permutation.hpp"
#include "sampling/zipf.hpp"

namespace loadbench {

struct SqlGenerator {
    enum class Kind : std::uint8_t { uniform, zipf, sequence, pool, constant };
    Kind kind = Kind::constant;
    std::int64_t min = 1, max = 1;    // uniform: [min, max]; zipf: the value of rank 0 (the hottest)
    std::uint64_t n = 1;              // zipf: ranks, values min .. min + n - 1
    double alpha = 0;                 // zipf exponent
    bool scatter = false;             // zipf: ranks through KeyPermutation, so the hottest are not the lowest
    std::int64_t start = 1, step = 1; // sequence
    // sequence: one counter for all sessions (an atomic); otherwise session i of s takes
    // start + step * (i + k * s) for its k-th value: distinct across sessions, no shared state.
    bool global = false;
    std::size_t pool = 0;             // pool: uniform choice among SqlScenarioSpec::pools[pool]
    SqlType constant_type = SqlType::null;
    std::int64_t constant_integer = 0;
    double constant_real = 0;
    std::string constant_text;
};

// One named parameter of an operation: drawn once per operation (retries reuse it).
struct SqlParam {
    std::size_t generator = 0;
    int distinct_from = -1;  // index of an earlier parameter of the operation this one must differ from
};

struct SqlStep {
    std::size_t statement = 0;        // index into SqlScenarioSpec::statements
    std::vector<std::size_t> slots;   // the operation parameter bound to $1, $2, ... (?1, ?2, ...)
    bool reject_if_no_rows = false;   // no row changed or returned: the operation is rejected
};

struct SqlOperation {
    std::string name;
    double weight = 1;
    bool transaction = false;         // BEGIN .. COMMIT around the steps; ROLLBACK on reject or error
    std::vector<SqlParam> params;
    std::vector<SqlStep> steps;
    std::vector<std::size_t> keys;    // parameters whose values are contention keys (at most 2)
};

// Rows inserted by prep: `rows` executions of `sql`, in transactions of a bounded size.
struct SqlSeed {
    std::string name;
    std::uint64_t rows = 0;
    std::string sql;
    std::vector<SqlParam> params;
    std::vector<std::size_t> slots;
};

struct SqlScenarioSpec {
    std::vector<std::vector<std::string>> pools;
    std::vector<SqlGenerator> generators;
    std::vector<std::string> statements;
    std::vector<SqlOperation> operations;
    // Exact mix: every session runs a fixed interleaving in which each operation appears `weight`
    // times per sum-of-weights operations (integer weights); otherwise each draw is independent.
    bool exact_mix = false;
    std::vector<SqlSeed> seeds;
};

// A session's part of the generators' state and the operation in hand.
struct SqlDraw {
    std::size_t session = 0;
    std::vector<std::int64_t> sequence_taken;  // per generator: values taken by this session
    std::size_t cycle_position = 0;            // exact mix
    std::size_t operation = 0;
    std::vector<SqlValue> params;              // the operation's parameters
    std::vector<SqlValue> bound;               // the steps' values, step after step
};

// Draws operations and their values: shared by every session, thread-safe (const but for the
// global sequences' atomics).
class SqlPlanner {
public:
    // Throws std::invalid_argument for an inconsistent spec (an index out of range, no operation...).
    SqlPlanner(SqlScenarioSpec spec, std::size_t sessions);

    SqlDraw new_draw(std::size_t session) const;
    OperationKeys plan(Rng& rng, SqlDraw& d) const;
    // Draws the parameters `params` into `out` (seeding uses it too).
    void draw_params(Rng& rng, SqlDraw& d, const std::vector<SqlParam>& params, std::vector<SqlValue>& out) const;

    const SqlScenarioSpec& spec() const { return spec_; }
    // Where step `s` of operation `op` finds its values in SqlDraw::bound.
    std::size_t step_offset(std::size_t op, std::size_t s) const { return step_offsets_[op][s]; }
    bool has_keys() const { return has_keys_; }

private:
    SqlValue draw(std::size_t generator, Rng& rng, SqlDraw& d) const;

    SqlScenarioSpec spec_;
    std::size_t sessions_;
    std::vector<std::optional<ZipfSampler>> zipf_;
    std::vector<std::optional<KeyPermutation>> scatter_;
    std::unique_ptr<std::atomic<std::int64_t>[]> global_taken_;
    std::vector<double> cumulative_weights_;
    std::vector<std::uint8_t> cycle_;  // exact mix: the interleaving
    std::vector<std::vector<std::size_t>> step_offsets_;
    std::size_t max_bound_ = 0, max_params_ = 0;
    bool has_keys_ = false;
};

// One attempt of a planned operation as a sequence of calls: BEGIN, the steps, COMMIT; ROLLBACK
// when a step is rejected or fails inside a transaction. Blocking and event-loop sessions drive
// the same program, so both mean the same by committed, rejected and failed.
class SqlAttemptProgram {
public:
    struct Call {
        enum class Kind : std::uint8_t { execute, control, done } kind = Kind::done;
        std::size_t statement = 0;
        std::span<const SqlValue> values;
        SqlControl control = SqlControl::begin;
        Attempt result;  // when done
    };

    SqlAttemptProgram(const SqlPlanner& planner, const SqlDraw& draw) : planner_(planner), draw_(draw) {}
    Call start();
    Call next(const SqlReply& reply);

private:
    enum class Phase : std::uint8_t { begin, steps, commit, rollback };
    Call step_call() const;
    Call finish(Attempt result);

    const SqlPlanner& planner_;
    const SqlDraw& draw_;
    const SqlOperation* op_ = nullptr;
    std::size_t step_ = 0;
    Phase phase_ = Phase::steps;
    Attempt result_;
};

// Both workloads throw ConnectorConfigError when the connector does not offer the SQL family's
// sessions in their model.
class SqlWorkload final : public Workload {
public:
    SqlWorkload(std::shared_ptr<const SqlPlanner> planner, std::shared_ptr<Connector> connector);
    std::unique_ptr<WorkerSession> open_session(std::size_t worker_index) override;
    std::uint64_t key_space() const override;
    std::vector<std::string> operation_types() const override;

private:
    std::shared_ptr<const SqlPlanner> planner_;
    std::shared_ptr<Connector> connector_;  // keeps sessions_ alive
    SqlSessions* sessions_;
};

class AsyncSqlWorkload final : public AsyncWorkload {
public:
    AsyncSqlWorkload(std::shared_ptr<const SqlPlanner> planner, std::shared_ptr<Connector> connector);
    void open_session(asio::io_context& io, std::size_t index, SessionOpenCallback& done) override;
    std::uint64_t key_space() const override;
    std::size_t sessions_per_group() const override { return connector_->sessions_per_connection(); }
    std::vector<std::string> operation_types() const override;

private:
    std::shared_ptr<const SqlPlanner> planner_;
    std::shared_ptr<Connector> connector_;  // keeps sessions_ alive
    EventLoopSqlSessions* sessions_;
};

// A run of the scenario against `connector`, blocking or event-loop, whichever the connector is.
// Throws ConnectorConfigError (before any load) when the connector runs no SQL scenarios.
// Throws std::invalid_argument when the connector pipelines and an operation is not a single
// statement (pipelined sessions share a connection, so their transactions would interleave).
std::unique_ptr<Run> make_sql_run(const RunConfig& config, const SqlScenarioSpec& spec,
                                  std::shared_ptr<Connector> connector);

// Inserts every seed's rows (prep), in transactions of at most 10,000 rows, values drawn with
// `seed`. Throws ConnectorError naming the seed on failure.
void seed_sql(Connector& connector, const SqlScenarioSpec& spec, std::uint64_t seed);

}  // namespace loadbench
