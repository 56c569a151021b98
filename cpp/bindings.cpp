// The only file that includes pybind11. Plain data crosses: dicts of numbers and strings in,
// dicts and lists out. Nothing crosses during a run except the Python side polling progress;
// every blocking call releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "connectors/registry.hpp"
#include "engine/run.hpp"
#include "scenarios/sql_scenario.hpp"
#include "server/rpc_server.hpp"
#include "scenarios/transfer_scenario.hpp"

namespace py = pybind11;
using namespace loadbench;

namespace {

constexpr double kReportedPercentiles[] = {50, 90, 95, 99, 99.9, 99.99};

// Reads a dict strictly: a key it does not know is an error (a typo must not pass silently).
class DictReader {
public:
    DictReader(const py::dict& d, std::string what) : d_(d), what_(std::move(what)) {}
    ~DictReader() noexcept(false) {
        if (std::uncaught_exceptions()) return;
        for (auto item : d_) {
            auto key = py::cast<std::string>(item.first);
            if (!read_.count(key)) throw std::invalid_argument(what_ + ": unknown key '" + key + "'");
        }
    }
    template <class T>
    T get(const char* key, T fallback) {
        read_.insert(key);
        return d_.contains(key) ? py::cast<T>(d_[key]) : fallback;
    }
    template <class T>
    T require(const char* key) {
        read_.insert(key);
        if (!d_.contains(key)) throw std::invalid_argument(what_ + ": missing key '" + key + "'");
        return py::cast<T>(d_[key]);
    }

private:
    const py::dict& d_;
    std::string what_;
    std::set<std::string> read_;
};

RunConfig run_config_from(const py::dict& d) {
    DictReader r(d, "run config");
    RunConfig c;
    c.concurrency = r.get<std::size_t>("concurrency", c.concurrency);
    c.warmup_s = r.get<double>("warmup_s", c.warmup_s);
    c.measure_s = r.get<double>("measure_s", c.measure_s);
    c.seed = r.get<std::uint64_t>("seed", c.seed);
    c.stream_offset = r.get<std::uint64_t>("stream_offset", c.stream_offset);
    c.max_tries = r.get<int>("max_tries", c.max_tries);
    c.op_timeout_s = r.get<double>("op_timeout_s", c.op_timeout_s);
    c.operations = r.get<std::uint64_t>("operations", c.operations);
    c.threads = r.get<std::size_t>("threads", c.threads);
    c.open_parallelism = r.get<std::size_t>("open_parallelism", c.open_parallelism);
    c.rate = r.get<double>("rate", c.rate);
    c.poisson = r.get<std::string>("arrival", c.poisson ? "poisson" : "regular") == "poisson";
    c.max_lag_s = r.get<double>("max_lag_s", c.max_lag_s);
    return c;
}

TransferParams transfer_params_from(const py::dict& d) {
    DictReader r(d, "scenario");
    if (r.require<std::string>("name") != "test-1") throw std::invalid_argument("scenario: unknown name");
    TransferParams p;
    p.accounts.accounts = r.get<std::uint64_t>("accounts", p.accounts.accounts);
    p.accounts.initial_balance = r.get<std::int64_t>("initial_balance", p.accounts.initial_balance);
    p.alpha = r.get<double>("alpha", p.alpha);
    p.max_amount = r.get<std::int64_t>("max_amount", p.max_amount);
    p.scatter = r.get<bool>("scatter", p.scatter);
    return p;
}

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

SqlScenarioSpec sql_scenario_from(const py::dict& d) {
    DictReader r(d, "scenario");
    r.require<std::string>("name");
    return sql_spec_from(r.require<py::dict>("sql"));
}

std::unique_ptr<Run> make_run(const py::dict& config, const py::dict& scenario, std::shared_ptr<Connector> connector) {
    if (is_sql_scenario(scenario)) return make_sql_run(run_config_from(config), sql_scenario_from(scenario), std::move(connector));
    return make_transfer_run(run_config_from(config), transfer_params_from(scenario), std::move(connector));
}

std::shared_ptr<Connector> connector_from(const py::dict& d) {
    DictReader r(d, "connector");
    return make_connector(r.require<std::string>("kind"), r.get<ConnectorOptions>("options", {}));
}

std::string percentile_key(double p) {
    std::string s = py::cast<std::string>(py::str("{:g}").format(p));
    return s;
}

py::dict histogram_dict(const LatencyHistogram& h) {
    py::dict out;
    out["count"] = h.count();
    out["min_ns"] = h.min();
    out["max_ns"] = h.max();
    out["mean_ns"] = h.mean();
    out["stddev_ns"] = h.stddev();
    out["clamped"] = h.clamped();
    py::dict percentiles;
    for (double p : kReportedPercentiles) percentiles[py::str(percentile_key(p))] = h.value_at_percentile(p);
    out["percentiles_ns"] = percentiles;
    out["significant_figures"] = h.significant_figures();
    out["highest_trackable_ns"] = h.highest_trackable();
    py::list buckets;
    h.for_each_bucket([&](std::uint64_t value, std::uint64_t count) { buckets.append(py::make_tuple(value, count)); });
    out["buckets"] = buckets;
    return out;
}

py::dict by_kind(const std::array<std::uint64_t, kErrorKinds>& counts) {
    py::dict out;
    for (std::size_t k = 1; k < kErrorKinds; ++k)
        if (counts[k]) out[py::str(std::string(error_kind_name(static_cast<ErrorKind>(k))))] = counts[k];
    return out;
}

py::dict result_dict(const RunResult& r) {
    const OutcomeCounters& c = r.counters;
    py::dict out;
    out["error"] = r.error;
    out["interrupted"] = r.interrupted;
    out["warmup_s"] = r.warmup_s;
    out["measured_s"] = r.measured_s;
    out["window_start_unix_ns"] = r.window_start_unix_ns;
    out["window_end_unix_ns"] = r.window_end_unix_ns;
    out["sessions"] = r.sessions;
    out["threads"] = r.threads;
    out["cpu_s"] = r.cpu_s;
    out["reconnects"] = c.reconnects;
    out["committed"] = c.committed;
    out["rejected"] = c.rejected;
    out["failed"] = c.failed;
    out["attempts"] = c.attempts;
    out["retries"] = c.retries;
    out["before_window"] = c.before_window;
    out["after_window"] = c.after_window;
    out["errors"] = by_kind(c.errors);
    out["retried_errors"] = by_kind(c.retried_errors);
    py::dict examples;
    for (std::size_t k = 1; k < kErrorKinds; ++k)
        if (!r.error_examples[k].empty())
            examples[py::str(std::string(error_kind_name(static_cast<ErrorKind>(k))))] = r.error_examples[k];
    out["error_examples"] = examples;
    out["collision_ops"] = c.collision_ops;
    out["collision_count"] = c.collision_count;
    out["collisions_exact"] = r.collisions_exact;
    out["abandoned"] = r.abandoned;
    out["latency"] = histogram_dict(r.latency);
    if (r.service.count() || r.lag.count()) {
        out["service"] = histogram_dict(r.service);
        out["lag"] = histogram_dict(r.lag);
    } else {
        out["service"] = py::none();
        out["lag"] = py::none();
    }
    py::list by_type;
    for (std::size_t t = 0; t < r.by_type.size(); ++t) {
        const TypeMetrics& m = r.by_type[t];
        py::dict type;
        type["name"] = r.type_names[t];
        type["committed"] = m.committed;
        type["rejected"] = m.rejected;
        type["failed"] = m.failed;
        type["retries"] = m.retries;
        type["latency"] = histogram_dict(m.latency);
        by_type.append(type);
    }
    out["operations"] = by_type;
    out["scheduled"] = c.scheduled;
    out["dropped"] = c.dropped;
    out["unstarted"] = c.unstarted;
    py::list series;
    for (const SecondPoint& p : r.series) {
        py::dict point;
        point["t_s"] = p.t_s;
        point["duration_s"] = p.duration_s;
        point["committed"] = p.committed;
        point["rejected"] = p.rejected;
        point["failed"] = p.failed;
        point["p50_ns"] = p.p50_ns;
        point["p95_ns"] = p.p95_ns;
        point["p99_ns"] = p.p99_ns;
        point["max_ns"] = p.max_ns;
        series.append(point);
    }
    out["series"] = series;
    return out;
}

const char* phase_name(RunPhase phase) {
    switch (phase) {
        case RunPhase::opening: return "opening";
        case RunPhase::warmup: return "warmup";
        case RunPhase::measuring: return "measuring";
        case RunPhase::stopping: return "stopping";
        case RunPhase::done: return "done";
    }
    return "?";
}

py::dict progress_dict(const Progress& p) {
    py::dict out;
    out["phase"] = phase_name(p.phase);
    out["elapsed_s"] = p.elapsed_s;
    out["committed"] = p.committed;
    out["last_second_tps"] = p.last_second_tps;
    out["last_second_p99_ns"] = p.last_second_p99_ns;
    out["reconnects"] = p.reconnects;
    return out;
}

// --- control-plane calls (check, prep, verify, schema, seeding) --------------------------------

// A control-plane call blocks on its database, which may never answer (a stopped server, a lock
// held elsewhere). It runs on a thread of its own while the calling (Python main) thread waits in
// slices, running Python's signal handlers between them, so Ctrl-C and SIGTERM raise as usual
// (KeyboardInterrupt); with `timeout_s` > 0, a call that takes longer raises TimeoutError. Either
// way the call is cancelled (Connector::cancel) and, if it has not returned kAbandonAfter later,
// abandoned: its thread owns copies of everything it uses (the connector included) and never
// touches Python, so it may go on until its call returns, or the process exits.
constexpr auto kSignalSlice = std::chrono::milliseconds(50);
constexpr auto kAbandonAfter = std::chrono::milliseconds(100);

template <class R>
R control_call(const std::shared_ptr<Connector>& connector, double timeout_s, std::function<R()> work) {
    struct Shared {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        std::optional<R> value;
        std::exception_ptr error;
    };
    auto shared = std::make_shared<Shared>();
    std::thread worker([shared, work = std::move(work)] {
        std::optional<R> value;
        std::exception_ptr error;
        try {
            value.emplace(work());
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard lock(shared->m);
        shared->value = std::move(value);
        shared->error = error;
        shared->done = true;
        shared->cv.notify_all();
    });
    auto wait = [&](std::chrono::steady_clock::duration d) {
        py::gil_scoped_release release;
        std::unique_lock lock(shared->m);
        return shared->cv.wait_for(lock, d, [&] { return shared->done; });
    };
    auto give_up = [&] {
        connector->cancel();
        if (wait(kAbandonAfter)) worker.join();
        else worker.detach();
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                                  std::chrono::duration<double>(timeout_s > 0 ? timeout_s : 0));
    for (;;) {
        auto slice = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kSignalSlice);
        if (timeout_s > 0) slice = std::min(slice, std::max(deadline - std::chrono::steady_clock::now(), slice.zero()));
        if (wait(slice)) break;
        if (PyErr_CheckSignals() != 0) {
            py::error_already_set raised;  // the handler's exception (KeyboardInterrupt), taken out
            give_up();
            throw raised;
        }
        if (timeout_s > 0 && std::chrono::steady_clock::now() >= deadline) {
            give_up();
            PyErr_SetString(PyExc_TimeoutError, "the call did not finish in time");
            throw py::error_already_set();
        }
    }
    worker.join();
    if (shared->error) std::rethrow_exception(shared->error);
    return std::move(*shared->value);
}

// The run that SIGINT / SIGTERM should stop while it owns the calling thread.
std::atomic<Run*> g_stop_target{nullptr};

extern "C" void stop_on_signal(int) {
    if (Run* run = g_stop_target.load()) run->stop();  // atomics and clock_gettime only: signal-safe
}

// While a run owns the calling (Python main) thread, Python cannot run its own signal handlers, so
// Ctrl-C and SIGTERM go to one that closes the measured window (or calls off the opening); the
// run then ends within its bounded stop, and Python's handlers are back. A signal the process was
// told to ignore stays ignored.
class StopSignals {
public:
    explicit StopSignals(Run& run) {
        g_stop_target = &run;
        struct sigaction ours {};
        ours.sa_handler = stop_on_signal;
        sigemptyset(&ours.sa_mask);
        for (std::size_t i = 0; i < kSignals.size(); ++i) {
            sigaction(kSignals[i], nullptr, &saved_[i]);
            if (saved_[i].sa_handler != SIG_IGN) sigaction(kSignals[i], &ours, nullptr);
        }
    }
    ~StopSignals() {
        for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &saved_[i], nullptr);
        g_stop_target = nullptr;
    }

private:
    static constexpr std::array<int, 2> kSignals = {SIGINT, SIGTERM};
    std::array<struct sigaction, 2> saved_{};
};

// A run, owned by its Python object; run() blocks with the GIL released.
class PyRun {
public:
    PyRun(const py::dict& config, const py::dict& scenario, const py::dict& connector)
        : run_(make_run(config, scenario, connector_from(connector))) {}
    PyRun(const PyRun&) = delete;
    PyRun& operator=(const PyRun&) = delete;
    // A run that gave up on sessions (a server that never answered, even when interrupted) is
    // left alive: destroying it would wait for their threads, and the process is about to report
    // and exit (or go on to the next run) anyway.
    ~PyRun() {
        if (run_ && run_->abandoned()) (void)run_.release();
    }

    py::dict run(const py::object& on_progress) {
        RunResult result;
        {
            StopSignals signals(*run_);
            py::gil_scoped_release release;
            result = run_->run([&](const Progress& p) {
                if (on_progress.is_none()) return;
                py::gil_scoped_acquire acquire;
                try {
                    on_progress(progress_dict(p));
                } catch (py::error_already_set& e) {
                    e.discard_as_unraisable("loadbench progress callback");  // a display fault must not end the run
                }
            });
        }
        return result_dict(result);
    }

private:
    std::unique_ptr<Run> run_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "loadbench's native engine (private: use loadbench.engine)";
    auto& connector_error = py::register_exception<ConnectorError>(m, "ConnectorError", PyExc_RuntimeError);
    // Registered after its base, so pybind11 tries it first.
    py::register_exception<ConnectorConfigError>(m, "ConnectorConfigError", connector_error.ptr());

    py::class_<PyRun>(m, "Run")
        .def(py::init<const py::dict&, const py::dict&, const py::dict&>(), py::arg("config"), py::arg("scenario"),
             py::arg("connector"))
        .def("run", &PyRun::run, py::arg("on_progress") = py::none(),
             "Runs to the end on this thread; Ctrl-C or SIGTERM close the window early (result['interrupted']).");

    m.def(
        "check",
        [](const py::dict& connector, double timeout_s) {
            auto c = connector_from(connector);
            control_call<bool>(c, timeout_s, [c] {
                c->check();
                return true;
            });
        },
        py::arg("connector"), py::arg("timeout_s") = 0.0,
        "Connects once; raises ConnectorConfigError or ConnectorError when it cannot. Every control-plane "
        "call here raises what a signal handler raised (Ctrl-C) and TimeoutError after timeout_s (> 0), "
        "leaving the call cancelled or abandoned.");

    m.def(
        "prep",
        [](const py::dict& scenario, const py::dict& connector) {
            const TransferParams params = transfer_params_from(scenario);
            auto c = connector_from(connector);
            control_call<bool>(c, 0, [c, params] {
                c->prep_accounts(params.accounts);
                return true;
            });
        },
        py::arg("scenario"), py::arg("connector"));

    m.def(
        "verify",
        [](const py::dict& scenario, const py::dict& connector, double timeout_s) -> py::object {
            const TransferParams params = transfer_params_from(scenario);
            auto c = connector_from(connector);
            const std::optional<AccountsCheck> check = control_call<std::optional<AccountsCheck>>(
                c, timeout_s, [c, params] { return c->verify_accounts(params.accounts); });
            if (!check) return py::none();
            py::dict out;
            out["passed"] = check->passed;
            out["accounts"] = check->accounts;
            out["total"] = check->total;
            out["expected_total"] = check->expected_total;
            out["negative_balances"] = check->negative_balances;
            return out;
        },
        py::arg("scenario"), py::arg("connector"), py::arg("timeout_s") = 0.0);

    m.def(
        "sql_check",
        [](const py::dict& connector, const std::vector<std::string>& script,
           const std::vector<std::string>& statements) -> py::object {
            auto c = connector_from(connector);
            const std::optional<SqlCheckFailure> failure = control_call<std::optional<SqlCheckFailure>>(
                c, 0, [c, script, statements] { return c->sql_check(script, statements); });
            if (!failure) return py::none();
            py::dict out;
            out["in_script"] = failure->in_script;
            out["index"] = failure->index;
            out["message"] = failure->message;
            return out;
        },
        py::arg("connector"), py::arg("script"), py::arg("statements"),
        "Runs the DDL on a scratch schema and prepares every statement: None, or the first refusal.");

    m.def(
        "sql_execute",
        [](const py::dict& connector, const std::vector<std::string>& script, double timeout_s) {
            auto c = connector_from(connector);
            control_call<bool>(c, timeout_s, [c, script] {
                c->sql_execute(script);
                return true;
            });
        },
        py::arg("connector"), py::arg("script"), py::arg("timeout_s") = 0.0);

    m.def(
        "sql_seed",
        [](const py::dict& scenario, const py::dict& connector, std::uint64_t seed) {
            auto spec = std::make_shared<const SqlScenarioSpec>(sql_scenario_from(scenario));
            auto c = connector_from(connector);
            control_call<bool>(c, 0, [c, spec, seed] {
                seed_sql(*c, *spec, seed);
                return true;
            });
        },
        py::arg("scenario"), py::arg("connector"), py::arg("seed"));

    m.def(
        "sql_query",
        [](const py::dict& connector, const std::string& sql, double timeout_s) {
            auto c = connector_from(connector);
            return control_call<SqlRows>(c, timeout_s, [c, sql] { return c->sql_query(sql); });
        },
        py::arg("connector"), py::arg("sql"), py::arg("timeout_s") = 0.0);

    m.def(
        "resource_needs",
        [](const py::dict& config, const py::dict& scenario, const py::dict& connector) {
            auto c = connector_from(connector);
            const SessionFootprint footprint = c->footprint();
            const std::size_t per_connection = std::max<std::size_t>(1, c->sessions_per_connection());
            const bool blocking = !c->is_async();
            const ResourceEstimate e = make_run(config, scenario, c)->resource_estimate();
            const std::size_t connections = (e.sessions + per_connection - 1) / per_connection;
            // An event loop's own descriptors: its epoll instance, eventfd and timerfd.
            const std::size_t loops = blocking ? 0 : e.threads - 2;
            py::dict out;
            out["sessions"] = e.sessions;
            out["connections"] = connections;
            out["blocking"] = blocking;
            out["threads"] = e.threads;
            out["descriptors"] = connections * footprint.descriptors_per_connection + 3 * loops;
            out["descriptors_per_connection"] = footprint.descriptors_per_connection;
            out["memory_bytes"] = e.engine_bytes + connections * footprint.bytes_per_connection;
            out["bytes_per_session"] = e.engine_bytes_per_session + footprint.bytes_per_connection / per_connection;
            out["thread_bytes"] = e.thread_bytes;
            return out;
        },
        py::arg("config"), py::arg("scenario"), py::arg("connector"),
        "What a run would need of the machine, from the real sizes of the engine's and the connector's "
        "structures: {sessions, connections, blocking, threads, descriptors, descriptors_per_connection, "
        "memory_bytes, bytes_per_session, thread_bytes}. Connects to nothing.");

    m.def(
        "serve_rpc",
        [](const py::dict& config, const py::dict& connector, const py::object& on_listening) {
            DictReader r(config, "rpc server config");
            RpcServerConfig c;
            c.host = r.get<std::string>("host", c.host);
            c.port = r.get<unsigned short>("port", c.port);
            c.threads = r.get<std::size_t>("threads", c.threads);
            c.pool = r.get<std::size_t>("pool", c.pool);
            c.max_tries = r.get<int>("max_tries", c.max_tries);
            RpcServer server(c, connector_from(connector));
            const unsigned short port = server.bind();
            server.stop_on_signals();
            on_listening(port);
            py::gil_scoped_release release;
            server.serve();
        },
        py::arg("config"), py::arg("connector"), py::arg("on_listening"),
        "Binds, calls on_listening(port), then serves the rpc protocol until SIGINT or SIGTERM.");

    m.def("library_versions", &library_versions);
    m.def("connector_kinds", &connector_kinds);
    m.def(
        "connector_capabilities",
        [] {
            py::dict out;
            for (const auto& c : registered_connectors()) {
                py::dict d;
                d["sql_dialect"] = c.capabilities.sql_dialect.empty() ? py::object(py::none()) : py::str(c.capabilities.sql_dialect);
                d["placeholder"] = c.capabilities.placeholder.empty() ? py::object(py::none()) : py::str(c.capabilities.placeholder);
                d["model"] = c.capabilities.model == SessionModel::event_loop ? "event_loop" : "blocking";
                d["pipelining"] = c.capabilities.pipelining;
                py::dict libraries;
                if (c.library_versions)
                    for (const auto& [name, version] : c.library_versions()) libraries[py::str(name)] = version;
                d["library_versions"] = libraries;
                out[py::str(c.kind)] = d;
            }
            return out;
        },
        "What each connector kind supports, said by the connector itself: {kind: {sql_dialect: str | None "
        "(scenario files' dialect key; None: no SQL scenarios), placeholder: str | None ('?1' or '$1'), "
        "model: 'blocking' | 'event_loop', pipelining: bool, library_versions: {library: version}}}.");
    m.attr("REPORTED_PERCENTILES") = py::cast(std::vector<double>(std::begin(kReportedPercentiles),
                                                                  std::end(kReportedPercentiles)));
}
