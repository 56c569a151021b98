// Dicts in: the scenario (test-1 or a file-defined SQL scenario), the connector.
#include "bindings/common.hpp"
#include "connectors/registry.hpp"

namespace loadbench::bindings {

TransferParams transfer_params_from(const py::dict& d) {
    DictReader r(d, "scenario");
    if (r.require<std::string>("name") != "test-1") throw std::invalid_argument("scenario: unknown name");
    TransferParams p;
    p.accounts.accounts = r.get<std::uint64_t>("accounts", p.accounts.accounts);
    p.accounts.initial_balance = r.get<std::int64_t>("initial_balance", p.accounts.initial_balance);
    p.alpha = r.get<double>("alpha", p.alpha);
    p.max_amount = r.get<std::int64_t>("max_amount", p.max_amount);
    p.scatter = r.get<bool>("scatter", p.scatter);
    p.audit = r.get<bool>("audit", p.audit);
    return p;
}

namespace {

// --- SQL scenarios: the plain data loadbench.scenario_files produces ---------------------------

template <class T>
std::vector<T> list_of(const py::list& items, T (*read)(const py::dict&)) {
    std::vector<T> out;
    for (const auto& item : items) out.push_back(read(py::cast<py::dict>(item)));
    return out;
}

SqlGenerator sql_generator_from(const py::dict& d) {
    DictReader r(d, "generator");
    SqlGenerator g;
    const auto kind = r.require<std::string>("kind");
    if (kind == "uniform") {
        g.kind = SqlGenerator::Kind::uniform;
        g.min = r.require<std::int64_t>("min");
        g.max = r.require<std::int64_t>("max");
    } else if (kind == "zipf") {
        g.kind = SqlGenerator::Kind::zipf;
        g.n = r.require<std::uint64_t>("n");
        g.alpha = r.require<double>("alpha");
        g.min = r.get<std::int64_t>("min", 1);
        g.scatter = r.get<bool>("scatter", false);
    } else if (kind == "sequence") {
        g.kind = SqlGenerator::Kind::sequence;
        g.start = r.get<std::int64_t>("start", 1);
        g.step = r.get<std::int64_t>("step", 1);
        g.global = r.get<bool>("global", false);
    } else if (kind == "pool") {
        g.kind = SqlGenerator::Kind::pool;
        g.pool = r.require<std::size_t>("pool");
    } else if (kind == "constant") {
        g.kind = SqlGenerator::Kind::constant;
        const py::object value = d.contains("value") ? py::object(d["value"]) : py::none();
        r.get<py::object>("value", py::none());
        if (value.is_none()) g.constant_type = SqlType::null;
        else if (py::isinstance<py::bool_>(value) || py::isinstance<py::int_>(value)) {
            g.constant_type = SqlType::integer;
            g.constant_integer = py::cast<std::int64_t>(value);
        } else if (py::isinstance<py::float_>(value)) {
            g.constant_type = SqlType::real;
            g.constant_real = py::cast<double>(value);
        } else {
            g.constant_type = SqlType::text;
            g.constant_text = py::cast<std::string>(value);
        }
    } else {
        throw std::invalid_argument("generator: unknown kind '" + kind + "'");
    }
    return g;
}

SqlParam sql_param_from(const py::dict& d) {
    DictReader r(d, "parameter");
    return {r.require<std::size_t>("generator"), r.get<int>("distinct_from", -1)};
}

SqlStep sql_step_from(const py::dict& d) {
    DictReader r(d, "step");
    return {r.require<std::size_t>("statement"), r.require<std::vector<std::size_t>>("slots"),
            r.get<bool>("reject_if_no_rows", false)};
}

SqlOperation sql_operation_from(const py::dict& d) {
    DictReader r(d, "operation");
    SqlOperation op;
    op.name = r.require<std::string>("name");
    op.weight = r.get<double>("weight", 1.0);
    op.transaction = r.get<bool>("transaction", false);
    op.params = list_of(r.get<py::list>("params", py::list()), sql_param_from);
    op.steps = list_of(r.require<py::list>("steps"), sql_step_from);
    op.keys = r.get<std::vector<std::size_t>>("keys", {});
    return op;
}

SqlSeed sql_seed_from(const py::dict& d) {
    DictReader r(d, "seed");
    SqlSeed seed;
    seed.name = r.require<std::string>("name");
    seed.rows = r.require<std::uint64_t>("rows");
    seed.sql = r.require<std::string>("sql");
    seed.params = list_of(r.get<py::list>("params", py::list()), sql_param_from);
    seed.slots = r.get<std::vector<std::size_t>>("slots", {});
    return seed;
}

SqlScenarioSpec sql_spec_from(const py::dict& d) {
    DictReader r(d, "sql scenario");
    SqlScenarioSpec spec;
    spec.pools = r.get<std::vector<std::vector<std::string>>>("pools", {});
    spec.generators = list_of(r.get<py::list>("generators", py::list()), sql_generator_from);
    spec.statements = r.require<std::vector<std::string>>("statements");
    spec.operations = list_of(r.require<py::list>("operations"), sql_operation_from);
    spec.exact_mix = r.get<std::string>("mix", "random") == "exact";
    spec.seeds = list_of(r.get<py::list>("seeds", py::list()), sql_seed_from);
    return spec;
}

// A scenario dict is test-1's parameters or, with an `sql` key, a file-defined scenario.
bool is_sql_scenario(const py::dict& d) { return d.contains("sql"); }

}  // namespace

SqlScenarioSpec sql_scenario_from(const py::dict& d) {
    DictReader r(d, "scenario");
    r.require<std::string>("name");
    return sql_spec_from(r.require<py::dict>("sql"));
}

std::unique_ptr<Run> make_run(const RunConfig& config, const Dict& scenario, std::shared_ptr<Connector> connector,
                              std::shared_ptr<TransferAuditLog>* audit) {
    if (is_sql_scenario(scenario)) return make_sql_run(config, sql_scenario_from(scenario), std::move(connector));
    const TransferParams params = transfer_params_from(scenario);
    std::shared_ptr<TransferAuditLog> log;
    if (params.audit) log = std::make_shared<TransferAuditLog>(config.stream_offset);
    if (audit) *audit = log;
    return make_transfer_run(config, params, std::move(connector), std::move(log));
}

std::shared_ptr<Connector> connector_from(const py::dict& d) {
    DictReader r(d, "connector");
    return make_connector(r.require<std::string>("kind"), r.get<ConnectorOptions>("options", {}));
}

}  // namespace loadbench::bindings
