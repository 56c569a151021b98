// The control plane from Python: check, prep, verify, and the SQL scenarios' schema, seeding and queries.
#include "bindings/common.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace loadbench::bindings {

namespace {

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

}  // namespace

void register_control(py::module_& m) {
    m.def(
        "check",
        [](const Dict& connector, double timeout_s) {
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
        [](const Dict& scenario, const Dict& connector) {
            const TransferParams params = transfer_params_from(scenario);
            auto c = connector_from(connector);
            control_call<bool>(c, 0, [c, params] {
                c->prep_accounts(params.accounts);
                return true;
            });
        },
        py::arg("scenario"), py::arg("connector"));

    m.def(
        "audit",
        [](const Dict& scenario, const Dict& connector, const py::typing::Dict<py::int_, py::bytes>& log,
           std::uint64_t first_stream, double timeout_s) -> Dict {
            const TransferParams params = transfer_params_from(scenario);
            auto c = connector_from(connector);
            TransferAuditReader& reader = require_audit(*c);
            std::map<std::uint64_t, std::vector<std::uint8_t>> codes;
            for (auto item : log) {
                const std::string bytes = py::cast<std::string>(py::reinterpret_borrow<py::bytes>(item.second));
                codes[py::cast<std::uint64_t>(item.first)] = std::vector<std::uint8_t>(bytes.begin(), bytes.end());
            }
            AuditLedger ledger = control_call<AuditLedger>(c, timeout_s, [c, &reader, params] {
                return reader.read_audit_ledger(params.accounts);
            });
            AuditFigures f;
            {
                py::gil_scoped_release release;
                f = audit_transfers(ledger, codes, first_stream, params.accounts);
            }
            Dict out;
            out["passed"] = f.passed;
            out["identity_holds"] = f.identity_holds;
            out["client_attempts"] = f.client_attempts;
            out["client_committed"] = f.client_committed;
            out["client_rejected"] = f.client_rejected;
            out["client_failed"] = f.client_failed;
            out["client_no_answer"] = f.client_no_answer;
            out["ledger_rows"] = f.ledger_rows;
            out["ledger_rows_earlier"] = f.ledger_rows_earlier;
            out["committed_in_ledger"] = f.committed_in_ledger;
            out["failed_in_ledger"] = f.failed_in_ledger;
            out["no_answer_in_ledger"] = f.no_answer_in_ledger;
            out["rejected_in_ledger"] = f.rejected_in_ledger;
            out["unknown_in_ledger"] = f.unknown_in_ledger;
            out["duplicate_ids"] = f.duplicate_ids;
            out["lost_writes"] = f.lost_writes;
            out["ambiguous_committed"] = f.ambiguous_committed;
            out["ambiguous_not_committed"] = f.ambiguous_not_committed;
            out["server_confirmed"] = f.server_confirmed;
            out["lost_updates"] = f.lost_updates;
            out["accounts_checked"] = f.accounts_checked;
            Dict durability;
            for (const auto& [name, value] : ledger.durability) durability[py::str(name)] = py::str(value);
            out["durability"] = durability;
            return out;
        },
        py::arg("scenario"), py::arg("connector"), py::arg("log"), py::arg("first_stream"), py::arg("timeout_s") = 0.0,
        "--audit: reads the connector's ledger, balances and durability settings and compares them with the "
        "client's log (Run.audit_log(); first_stream: the run's RunConfig.stream_offset). A dict of counts (see "
        "scenarios/transfer_audit.hpp) with passed, identity_holds and durability {setting: value}. "
        "ConnectorConfigError when the connector keeps no ledger.");

    m.def(
        "verify",
        [](const Dict& scenario, const Dict& connector, double timeout_s) -> OptionalDict {
            const TransferParams params = transfer_params_from(scenario);
            auto c = connector_from(connector);
            const std::optional<AccountsCheck> check = control_call<std::optional<AccountsCheck>>(
                c, timeout_s, [c, params] { return c->verify_accounts(params.accounts); });
            if (!check) return OptionalDict(py::none());
            Dict out;
            out["passed"] = check->passed;
            out["accounts"] = check->accounts;
            out["total"] = check->total;
            out["expected_total"] = check->expected_total;
            out["negative_balances"] = check->negative_balances;
            if (check->outside) {
                out["outside_accounts"] = *check->outside;
                if (!check->outside_example.empty()) out["outside_example"] = check->outside_example;
            }
            return OptionalDict(std::move(out));
        },
        py::arg("scenario"), py::arg("connector"), py::arg("timeout_s") = 0.0);

    m.def(
        "sql_check",
        [](const Dict& connector, const std::vector<std::string>& script,
           const std::vector<std::string>& statements) -> OptionalDict {
            auto c = connector_from(connector);
            const std::optional<SqlCheckFailure> failure = control_call<std::optional<SqlCheckFailure>>(
                c, 0, [c, script, statements] { return c->sql_check(script, statements); });
            if (!failure) return OptionalDict(py::none());
            Dict out;
            out["in_script"] = failure->in_script;
            out["index"] = failure->index;
            out["message"] = failure->message;
            return OptionalDict(std::move(out));
        },
        py::arg("connector"), py::arg("script"), py::arg("statements"),
        "Runs the DDL on a scratch schema and prepares every statement: None, or the first refusal.");

    m.def(
        "sql_execute",
        [](const Dict& connector, const std::vector<std::string>& script, double timeout_s) {
            auto c = connector_from(connector);
            control_call<bool>(c, timeout_s, [c, script] {
                c->sql_execute(script);
                return true;
            });
        },
        py::arg("connector"), py::arg("script"), py::arg("timeout_s") = 0.0);

    m.def(
        "sql_seed",
        [](const Dict& scenario, const Dict& connector, std::uint64_t seed) {
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
        [](const Dict& connector, const std::string& sql, double timeout_s) {
            auto c = connector_from(connector);
            return control_call<SqlRows>(c, timeout_s, [c, sql] { return c->sql_query(sql); });
        },
        py::arg("connector"), py::arg("sql"), py::arg("timeout_s") = 0.0);
}

}  // namespace loadbench::bindings
