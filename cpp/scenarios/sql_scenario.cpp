#include "scenarios/sql_scenario.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "scenarios/open_adapter.hpp"

namespace loadbench {
namespace {

constexpr std::size_t kMaxCycle = 1'000'000;
constexpr std::uint64_t kSeedBatch = 10'000;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("sql scenario: " + what);
}

void check_params(const SqlScenarioSpec& spec, const std::vector<SqlParam>& params, const std::string& where) {
    for (std::size_t i = 0; i < params.size(); ++i) {
        require(params[i].generator < spec.generators.size(), where + ": generator index out of range");
        require(params[i].distinct_from < static_cast<int>(i), where + ": distinct_from must name an earlier parameter");
        if (params[i].distinct_from >= 0) {
            const SqlGenerator& g = spec.generators[params[i].generator];
            const bool ranged = (g.kind == SqlGenerator::Kind::zipf && g.n > 1) ||
                                (g.kind == SqlGenerator::Kind::uniform && g.max > g.min);
            require(ranged, where + ": distinct_from needs a zipf or uniform generator of more than one value");
        }
    }
}

void check_slots(const std::vector<std::size_t>& slots, std::size_t params, const std::string& where) {
    for (std::size_t s : slots) require(s < params, where + ": slot names no parameter");
}

// Smooth weighted round-robin (as nginx balances upstreams): each operation appears exactly
// `weight` times per cycle, spread out rather than in runs.
std::vector<std::uint8_t> exact_cycle(const std::vector<SqlOperation>& ops) {
    std::vector<std::int64_t> weights;
    std::int64_t total = 0;
    for (const SqlOperation& op : ops) {
        require(op.weight == static_cast<double>(static_cast<std::int64_t>(op.weight)),
                "an exact mix needs integer weights");
        weights.push_back(static_cast<std::int64_t>(op.weight));
        total += weights.back();
    }
    require(static_cast<std::size_t>(total) <= kMaxCycle, "an exact mix's weights must sum to at most 1,000,000");
    std::vector<std::int64_t> current(ops.size(), 0);
    std::vector<std::uint8_t> cycle;
    cycle.reserve(static_cast<std::size_t>(total));
    for (std::int64_t i = 0; i < total; ++i) {
        std::size_t best = 0;
        for (std::size_t k = 0; k < ops.size(); ++k) {
            current[k] += weights[k];
            if (current[k] > current[best]) best = k;
        }
        current[best] -= total;
        cycle.push_back(static_cast<std::uint8_t>(best));
    }
    return cycle;
}

}  // namespace

SqlPlanner::SqlPlanner(SqlScenarioSpec spec, std::size_t sessions) : spec_(std::move(spec)), sessions_(std::max<std::size_t>(sessions, 1)) {
    require(!spec_.operations.empty(), "no operation");
    require(spec_.operations.size() <= 255, "at most 255 operations");
    for (const SqlGenerator& g : spec_.generators) {
        switch (g.kind) {
            case SqlGenerator::Kind::uniform: require(g.min <= g.max, "uniform: min > max"); break;
            case SqlGenerator::Kind::zipf: require(g.n >= 1, "zipf: n must be >= 1"); break;
            case SqlGenerator::Kind::pool:
                require(g.pool < spec_.pools.size() && !spec_.pools[g.pool].empty(), "pool: no such pool, or empty");
                break;
            case SqlGenerator::Kind::sequence:
            case SqlGenerator::Kind::constant: break;
        }
        zipf_.emplace_back(g.kind == SqlGenerator::Kind::zipf ? std::optional<ZipfSampler>(std::in_place, g.n, g.alpha)
                                                              : std::nullopt);
        scatter_.emplace_back(g.kind == SqlGenerator::Kind::zipf && g.scatter ? std::optional<KeyPermutation>(g.n)
                                                                              : std::nullopt);
    }
    global_taken_ = std::make_unique<std::atomic<std::int64_t>[]>(spec_.generators.size());
    double total = 0;
    for (const SqlOperation& op : spec_.operations) {
        const std::string where = "operation '" + op.name + "'";
        require(op.weight > 0, where + ": weight must be > 0");
        require(!op.steps.empty(), where + ": no statement");
        require(op.keys.size() <= 2, where + ": at most 2 keys");
        check_params(spec_, op.params, where);
        for (std::size_t k : op.keys) require(k < op.params.size(), where + ": key names no parameter");
        has_keys_ |= !op.keys.empty();
        std::vector<std::size_t> offsets;
        std::size_t bound = 0;
        for (const SqlStep& step : op.steps) {
            require(step.statement < spec_.statements.size(), where + ": statement index out of range");
            check_slots(step.slots, op.params.size(), where);
            offsets.push_back(bound);
            bound += step.slots.size();
        }
        step_offsets_.push_back(std::move(offsets));
        max_bound_ = std::max(max_bound_, bound);
        max_params_ = std::max(max_params_, op.params.size());
        total += op.weight;
        cumulative_weights_.push_back(total);
    }
    for (const SqlSeed& seed : spec_.seeds) {
        check_params(spec_, seed.params, "seed '" + seed.name + "'");
        check_slots(seed.slots, seed.params.size(), "seed '" + seed.name + "'");
        max_params_ = std::max(max_params_, seed.params.size());
    }
    if (spec_.exact_mix) cycle_ = exact_cycle(spec_.operations);
}

SqlDraw SqlPlanner::new_draw(std::size_t session) const {
    SqlDraw d;
    d.session = session;
    d.sequence_taken.assign(spec_.generators.size(), 0);
    // Sessions start at different points of the interleaving, so they are not all inserting into
    // the same table at the same moment.
    if (!cycle_.empty()) d.cycle_position = (session * 7919) % cycle_.size();
    d.params.resize(max_params_);
    d.bound.resize(max_bound_);
    return d;
}

SqlValue SqlPlanner::draw(std::size_t generator, Rng& rng, SqlDraw& d) const {
    const SqlGenerator& g = spec_.generators[generator];
    switch (g.kind) {
        case SqlGenerator::Kind::uniform:
            return SqlValue::of(g.min + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(g.max - g.min) + 1)));
        case SqlGenerator::Kind::zipf: {
            std::uint64_t rank = (*zipf_[generator])(rng);
            if (scatter_[generator]) rank = (*scatter_[generator])(rank);
            return SqlValue::of(g.min + static_cast<std::int64_t>(rank));
        }
        case SqlGenerator::Kind::sequence: {
            if (g.global) return SqlValue::of(g.start + g.step * global_taken_[generator].fetch_add(1, std::memory_order_relaxed));
            const std::int64_t k = d.sequence_taken[generator]++;
            return SqlValue::of(g.start + g.step * (static_cast<std::int64_t>(d.session) + k * static_cast<std::int64_t>(sessions_)));
        }
        case SqlGenerator::Kind::pool: {
            const std::vector<std::string>& pool = spec_.pools[g.pool];
            return SqlValue::of_text(pool[rng.below(pool.size())]);
        }
        case SqlGenerator::Kind::constant:
            switch (g.constant_type) {
                case SqlType::integer: return SqlValue::of(g.constant_integer);
                case SqlType::real: return SqlValue::of_real(g.constant_real);
                case SqlType::text: return SqlValue::of_text(g.constant_text);
                case SqlType::null: return {};
            }
    }
    return {};
}

void SqlPlanner::draw_params(Rng& rng, SqlDraw& d, const std::vector<SqlParam>& params, std::vector<SqlValue>& out) const {
    for (std::size_t i = 0; i < params.size(); ++i) {
        const SqlParam& p = params[i];
        SqlValue v = draw(p.generator, rng, d);
        if (p.distinct_from >= 0)
            while (v == out[static_cast<std::size_t>(p.distinct_from)]) v = draw(p.generator, rng, d);
        out[i] = v;
    }
}

OperationKeys SqlPlanner::plan(Rng& rng, SqlDraw& d) const {
    std::size_t op_index = 0;
    if (!cycle_.empty()) {
        op_index = cycle_[d.cycle_position];
        if (++d.cycle_position == cycle_.size()) d.cycle_position = 0;
    } else if (cumulative_weights_.size() > 1) {
        const double x = rng.uniform01() * cumulative_weights_.back();
        while (op_index + 1 < cumulative_weights_.size() && x >= cumulative_weights_[op_index]) ++op_index;
    }
    d.operation = op_index;
    const SqlOperation& op = spec_.operations[op_index];
    draw_params(rng, d, op.params, d.params);
    std::size_t at = 0;
    for (const SqlStep& step : op.steps)
        for (std::size_t slot : step.slots) d.bound[at++] = d.params[slot];

    OperationKeys keys;
    keys.type = static_cast<std::uint8_t>(op_index);
    for (std::size_t k : op.keys) {
        const SqlValue& v = d.params[k];
        // Keys are hashed by the engine; UINT64_MAX is its "no key" marker.
        keys.keys[keys.count++] = std::min<std::uint64_t>(static_cast<std::uint64_t>(v.integer), UINT64_MAX - 1);
    }
    return keys;
}

// --- one attempt --------------------------------------------------------------------------------

SqlAttemptProgram::Call SqlAttemptProgram::start() {
    op_ = &planner_.spec().operations[draw_.operation];
    step_ = 0;
    if (op_->transaction) {
        phase_ = Phase::begin;
        return {Call::Kind::control, 0, {}, SqlControl::begin, {}};
    }
    phase_ = Phase::steps;
    return step_call();
}

SqlAttemptProgram::Call SqlAttemptProgram::step_call() const {
    const SqlStep& step = op_->steps[step_];
    const std::size_t offset = planner_.step_offset(draw_.operation, step_);
    return {Call::Kind::execute, step.statement, std::span<const SqlValue>(draw_.bound.data() + offset, step.slots.size()),
            SqlControl::begin, {}};
}

SqlAttemptProgram::Call SqlAttemptProgram::finish(Attempt result) {
    // Inside a transaction, undo what was done before answering (a lost connection took the
    // transaction with it, and a failed BEGIN opened none).
    if (op_->transaction && phase_ != Phase::begin && phase_ != Phase::rollback &&
        !(result.outcome == Outcome::failed && result.error == ErrorKind::connection)) {
        phase_ = Phase::rollback;
        result_ = result;
        return {Call::Kind::control, 0, {}, SqlControl::rollback, {}};
    }
    Call done;
    done.result = result;
    return done;
}

SqlAttemptProgram::Call SqlAttemptProgram::next(const SqlReply& reply) {
    if (phase_ == Phase::rollback) {
        Call done;
        done.result = result_;  // the rollback's own outcome changes nothing of the answer
        return done;
    }
    if (!reply.ok) return finish(Attempt::failed(reply.error, reply.retryable));
    switch (phase_) {
        case Phase::begin:
            phase_ = Phase::steps;
            return step_call();
        case Phase::steps:
            if (op_->steps[step_].reject_if_no_rows && reply.rows == 0) return finish(Attempt::rejected());
            if (++step_ < op_->steps.size()) return step_call();
            if (!op_->transaction) return finish(Attempt::committed());
            phase_ = Phase::commit;
            return {Call::Kind::control, 0, {}, SqlControl::commit, {}};
        case Phase::commit: {
            Call done;
            done.result = Attempt::committed();
            return done;
        }
        case Phase::rollback: break;
    }
    return {};
}

// --- sessions -----------------------------------------------------------------------------------

namespace {

class SqlWorkerSession final : public WorkerSession {
public:
    SqlWorkerSession(std::unique_ptr<SqlSession> session, const SqlPlanner& planner, std::size_t index)
        : session_(std::move(session)), planner_(planner), draw_(planner.new_draw(index)), program_(planner, draw_) {}

    OperationKeys plan(Rng& rng) override { return planner_.plan(rng, draw_); }
    Attempt attempt() override {
        SqlAttemptProgram::Call call = program_.start();
        while (call.kind != SqlAttemptProgram::Call::Kind::done) {
            const SqlReply reply = call.kind == SqlAttemptProgram::Call::Kind::execute
                                       ? session_->execute(call.statement, call.values)
                                       : session_->control(call.control);
            call = program_.next(reply);
        }
        session_->attempt_ended();
        return call.result;
    }
    void interrupt() noexcept override { session_->interrupt(); }
    std::string last_error() const override { return session_->last_error(); }

private:
    std::unique_ptr<SqlSession> session_;
    const SqlPlanner& planner_;
    SqlDraw draw_;
    SqlAttemptProgram program_;
};

class AsyncSqlWorkerSession final : public AsyncSession, public SqlReplyCallback {
public:
    AsyncSqlWorkerSession(std::unique_ptr<AsyncSqlSession> session, const SqlPlanner& planner, std::size_t index)
        : session_(std::move(session)), planner_(planner), draw_(planner.new_draw(index)), program_(planner, draw_) {}

    OperationKeys plan(Rng& rng) override { return planner_.plan(rng, draw_); }
    void attempt(AttemptCallback& done) override {
        done_ = &done;
        act(program_.start());
    }
    void sql_done(const SqlReply& reply) override { act(program_.next(reply)); }
    void shutdown() override { session_->shutdown(); }
    void interrupt() noexcept override { session_->interrupt(); }
    std::string last_error() const override { return session_->last_error(); }
    std::uint64_t reconnects() const override { return session_->reconnects(); }

private:
    void act(const SqlAttemptProgram::Call& call) {
        switch (call.kind) {
            case SqlAttemptProgram::Call::Kind::execute: return session_->execute(call.statement, call.values, *this);
            case SqlAttemptProgram::Call::Kind::control: return session_->control(call.control, *this);
            case SqlAttemptProgram::Call::Kind::done:
                session_->attempt_ended();
                return done_->attempt_done(call.result);
        }
    }

    std::unique_ptr<AsyncSqlSession> session_;
    const SqlPlanner& planner_;
    SqlDraw draw_;
    SqlAttemptProgram program_;
    AttemptCallback* done_ = nullptr;
};

std::vector<std::string> names_of(const SqlPlanner& planner) {
    std::vector<std::string> names;
    for (const SqlOperation& op : planner.spec().operations) names.push_back(op.name);
    return names;
}

// The family's interface, or the one line that says the connector has none.
template <class Family>
Family* require_sql(Connector& connector, Family* family) {
    if (!family) throw ConnectorConfigError(connector.describe() + " runs no SQL scenarios");
    return family;
}

// Keys are whatever integers the key parameters hold: the whole range.
std::uint64_t key_space_of(const SqlPlanner& planner) { return planner.has_keys() ? UINT64_MAX : 0; }

}  // namespace

SqlWorkload::SqlWorkload(std::shared_ptr<const SqlPlanner> planner, std::shared_ptr<Connector> connector)
    : planner_(std::move(planner)),
      connector_(std::move(connector)),
      sessions_(require_sql(*connector_, connector_->sql_sessions())) {}

std::unique_ptr<WorkerSession> SqlWorkload::open_session(std::size_t worker_index) {
    return std::make_unique<SqlWorkerSession>(sessions_->open_sql_session(planner_->spec().statements), *planner_,
                                              worker_index);
}

std::uint64_t SqlWorkload::key_space() const { return key_space_of(*planner_); }
std::vector<std::string> SqlWorkload::operation_types() const { return names_of(*planner_); }

AsyncSqlWorkload::AsyncSqlWorkload(std::shared_ptr<const SqlPlanner> planner, std::shared_ptr<Connector> connector)
    : planner_(std::move(planner)),
      connector_(std::move(connector)),
      sessions_(require_sql(*connector_, connector_->event_loop_sql_sessions())) {}

void AsyncSqlWorkload::open_session(asio::io_context& io, std::size_t index, SessionOpenCallback& done) {
    const SqlPlanner& planner = *planner_;
    sessions_->open_async_sql_session(
        io, index, planner.spec().statements,
        adapt_open<AsyncSqlSession, AsyncSqlOpenCallback>(
            [&planner, index](std::unique_ptr<AsyncSqlSession> session) {
                return std::make_unique<AsyncSqlWorkerSession>(std::move(session), planner, index);
            },
            done));
}

std::uint64_t AsyncSqlWorkload::key_space() const { return key_space_of(*planner_); }
std::vector<std::string> AsyncSqlWorkload::operation_types() const { return names_of(*planner_); }

std::unique_ptr<Run> make_sql_run(const RunConfig& config, const SqlScenarioSpec& spec,
                                  std::shared_ptr<Connector> connector) {
    require_sql(*connector, connector->sql_sessions());  // one line, before the planner's own checks
    auto planner = std::make_shared<const SqlPlanner>(spec, config.concurrency);
    if (connector->is_async()) {
        if (connector->sessions_per_connection() > 1)
            for (const SqlOperation& op : spec.operations)
                if (op.transaction || op.steps.size() > 1)
                    throw std::invalid_argument("operation '" + op.name +
                                                "' is a transaction or several statements: it cannot be pipelined "
                                                "(in flight per connection must be 1)");
        return std::make_unique<Run>(config, std::make_shared<AsyncSqlWorkload>(std::move(planner), std::move(connector)));
    }
    return std::make_unique<Run>(config, std::make_shared<SqlWorkload>(std::move(planner), std::move(connector)));
}

void seed_sql(Connector& connector, const SqlScenarioSpec& spec, std::uint64_t seed) {
    SqlSessions& sql = *require_sql(connector, connector.sql_sessions());
    const SqlPlanner planner(spec, 1);
    SqlDraw draw = planner.new_draw(0);
    std::vector<SqlValue> params, bound;
    for (std::size_t i = 0; i < spec.seeds.size(); ++i) {
        const SqlSeed& s = spec.seeds[i];
        if (s.rows == 0) continue;
        Rng rng = Rng::for_stream(seed, 1'000'000 + i);  // apart from every session's stream
        auto session = sql.open_sql_session({s.sql});
        const auto cancel = connector.on_cancel([&session] { session->interrupt(); });
        auto check = [&](const SqlReply& reply) {
            if (!reply.ok) throw ConnectorError("seed '" + s.name + "': " + session->last_error());
        };
        params.assign(s.params.size(), {});
        bound.assign(s.slots.size(), {});
        check(session->control(SqlControl::begin));
        for (std::uint64_t row = 0; row < s.rows; ++row) {
            planner.draw_params(rng, draw, s.params, params);
            for (std::size_t k = 0; k < s.slots.size(); ++k) bound[k] = params[s.slots[k]];
            check(session->execute(0, bound));
            if ((row + 1) % kSeedBatch == 0 && row + 1 < s.rows) {
                check(session->control(SqlControl::commit));
                check(session->control(SqlControl::begin));
            }
        }
        check(session->control(SqlControl::commit));
    }
}

}  // namespace loadbench
