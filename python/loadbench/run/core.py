"""One run of one connector through the native engine, and the control-plane calls around it.

A run blocks the calling thread with the GIL released while native threads do the work. While it
runs, Ctrl-C and SIGTERM close the measured window early (or call off the opening of sessions):
the engine gives sessions in flight a short grace, interrupts them, and abandons those that still
do not return, so the result comes back, marked ``interrupted``, within about a second whatever
the server does.

The control-plane calls (check, prep, verify, schema, seeding) run on a native thread of their own
while the calling thread waits in short slices, so Ctrl-C and SIGTERM raise KeyboardInterrupt
within about 50 ms even when the server never answers; the call is then cancelled (SQLite:
sqlite3_interrupt; PostgreSQL: its socket shut down) and, if it has not returned 0.1 s later,
abandoned. ``timeout_s`` gives verification the same bound after an interrupted run
(TimeoutError).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from loadbench import _core, connectors
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import ConfigError, RunFailed
from loadbench.run.config import RunPlan
from loadbench.scenarios import files as scenario_files
from loadbench.secrets import scrub

ProgressCallback = Callable[[_core.Progress], None]


def _native_call(spec: ConnectorSpec, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Calls into the core; its errors become one scrubbed line naming the connector: bad
    configuration (a wrong password, a malformed URL) as ConfigError, the rest as RunFailed."""
    try:
        return fn(*args)
    except _core.ConnectorConfigError as exc:
        raise ConfigError(f"{spec.name}: {scrub(str(exc), spec.secrets)}") from None
    except _core.ConnectorError as exc:
        # (The core's message may already name the step: "verify: cannot connect", said once.)
        raise RunFailed(f"{spec.name}: {what}: {scrub(str(exc), spec.secrets).removeprefix(what + ': ')}") from None
    except ValueError as exc:  # a bad option value the Python side did not catch
        raise ConfigError(f"{spec.name}: {scrub(str(exc), spec.secrets)}") from None


def check(spec: ConnectorSpec) -> None:
    """Connects once (raises ConfigError or RunFailed when it cannot)."""
    _native_call(spec, "unreachable", _core.check, spec.core_dict())


def check_sql(plan: RunPlan, spec: ConnectorSpec) -> None:
    """A scenario file's SQL on this connector's database, before prep. What it executes: SQLite
    runs the ``[tables]`` DDL on an in-memory database and prepares every operation and seed
    statement there; PostgreSQL runs ``BEGIN``, ``CREATE SCHEMA loadbench_check``, ``SET LOCAL
    search_path = loadbench_check, public``, the DDL itself, a ``PREPARE`` of every operation and
    seed statement, then ``ROLLBACK``. The DDL is executed, not parsed: what it does outside the
    database's transactions (a ``COPY ... TO PROGRAM``, an ``ATTACH`` of a file on SQLite) happens.
    Operation and seed statements are only prepared. A refusal is a ConfigError naming the file,
    the TOML key and the database's message."""
    scenario = plan.scenario
    if scenario is None or spec.dialect is None or not spec.dialect.runs_sql:
        return
    texts, keys, _ = scenario.statements(spec.dialect)
    for seed in scenario.seeds:
        texts.append(scenario.seed_sql(seed, spec.dialect))
        keys.append(seed.statement.key)
    creates = scenario.create_tables(spec.dialect)
    failure = _native_call(spec, "check", _core.sql_check, spec.core_dict(), creates, texts)
    if failure is None:
        return
    if failure["in_script"]:
        key = f"tables.{scenario.tables[failure['index']][0]}"
    else:
        key = keys[failure["index"]]
    raise scenario.error(key, f"does not prepare on {spec.label}: {scrub(failure['message'], spec.secrets)}")


def is_superuser(spec: ConnectorSpec) -> bool:
    """Whether the connector's role has rights over the server itself (PostgreSQL: a superuser, who
    can run programs there with ``COPY ... TO PROGRAM``), by its module's ``SUPERUSER_CHECK``
    (False when it has none)."""
    check = connectors.module_of(spec.kind).SUPERUSER_CHECK
    if check is None:
        return False
    rows = _native_call(spec, "check", _core.sql_query, spec.core_dict(), check.query)
    return _scalar(rows) == "on"


def prep(plan: RunPlan, spec: ConnectorSpec) -> None:
    """test-1: seed the accounts. A scenario file: drop and create its tables, insert its seeds."""
    if plan.scenario is None:
        _native_call(spec, "prep", _core.prep, plan.scenario_dict(), spec.core_dict())
        return
    if spec.dialect is None or not spec.dialect.runs_sql:
        return
    _native_call(spec, "prep", _core.sql_execute, spec.core_dict(), plan.scenario.ddl(spec.dialect))
    _native_call(spec, "prep", _core.sql_seed, plan.core_scenario(spec), spec.core_dict(), plan.seed)


def teardown(plan: RunPlan, spec: ConnectorSpec, timeout_s: float | None = None) -> None:
    """A scenario file's tables dropped (TimeoutError after ``timeout_s``, when given)."""
    if plan.scenario is not None and spec.dialect is not None and spec.dialect.runs_sql:
        _native_call(spec, "teardown", _core.sql_execute, spec.core_dict(), plan.scenario.teardown(), timeout_s or 0.0)


def verify(plan: RunPlan, spec: ConnectorSpec, committed: Mapping[str, int] | None = None,
           uncounted: int = 0, timeout_s: float | None = None) -> dict[str, Any] | None:
    """The verification result (None when the connector keeps no data). For a scenario file,
    ``committed`` is what each operation committed since prep, and ``uncounted`` how many
    operations completed outside the measured windows (which may or may not have committed, so
    an expectation that counts commits becomes a range). With ``timeout_s``, raises TimeoutError
    when the whole verification takes longer (its queries then cancelled or abandoned)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def left() -> float:
        if deadline is None:
            return 0.0  # the core's "no timeout"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("verification did not finish in time")
        return remaining

    if plan.scenario is None:
        verified: dict[str, Any] | None = _native_call(spec, "verify", _core.verify, plan.scenario_dict(),
                                                       spec.core_dict(), left())
        return verified
    if spec.dialect is None or not spec.dialect.runs_sql:
        return None
    scenario = plan.scenario
    committed = {name: 0 for name in scenario.operation_names()} | dict(committed or {})
    checks = []
    for check in scenario.checks:
        actual = _scalar(_native_call(spec, "verify", _core.sql_query, spec.core_dict(), check.sql, left()))
        entry: dict[str, Any] = {"name": check.name, "actual": actual}
        if check.expect_sql is not None:
            expected = _scalar(_native_call(spec, "verify", _core.sql_query, spec.core_dict(), check.expect_sql,
                                            left()))
            entry.update(expected=expected, passed=actual == expected)
        else:
            assert check.expect is not None  # a check has expect or expect_sql (the loader's rule)
            low, high = sorted(
                scenario_files.evaluate_expectation(check.expect, scenario.vars, scenario.seeded(), counts)
                for counts in (committed, {k: v + uncounted for k, v in committed.items()}))
            entry.update(expected=low if low == high else [low, high],
                         passed=isinstance(actual, int) and low <= actual <= high)
        checks.append(entry)
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def _scalar(rows: list[list[str | None]]) -> int | float | str | None:
    """The first value of a query's answer, as a number when it is one."""
    if not rows or not rows[0]:
        return None
    text = rows[0][0]
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def resource_needs(plan: RunPlan, spec: ConnectorSpec) -> dict[str, Any]:
    """What running ``plan`` on ``spec`` would take of the machine, from the real sizes of the
    engine's and the connector's structures (see ``_core.resource_needs``); connects to nothing."""
    needs: dict[str, Any] = _native_call(spec, "start", _core.resource_needs, plan.core_config(spec),
                                         plan.core_scenario(spec), spec.core_dict())
    return needs


def audit(plan: RunPlan, spec: ConnectorSpec, log: dict[int, bytes], timeout_s: float | None = None) -> dict[str, Any]:
    """--audit: the core's comparison of ``log`` (``_core.Run.audit_log()``) with the connector's
    ledger and balances (see :mod:`loadbench.run.audit`); TimeoutError after ``timeout_s``."""
    found: dict[str, Any] = _native_call(spec, "audit", _core.audit, plan.scenario_dict(), spec.core_dict(), log,
                                         plan.stream_offset, timeout_s or 0.0)
    return found


def run(plan: RunPlan, spec: ConnectorSpec, on_progress: ProgressCallback | None = None,
        audit_log: Callable[[dict[int, bytes]], None] | None = None) -> _core.RunResult:
    """Runs the load, blocking this thread, and returns the core's result (``_core.RunResult``),
    its error examples redacted.

    ``on_progress`` gets a ``_core.Progress`` about four times a second, on the engine's monitor thread.
    With --audit, ``audit_log`` gets the client's log (``_core.Run.audit_log()``) once the run ended.
    Raises KeyboardInterrupt when Ctrl-C or SIGTERM called the run off while sessions were opening.
    """
    native = _native_call(spec, "start", _core.Run, plan.core_config(spec), plan.core_scenario(spec), spec.core_dict())
    result: _core.RunResult = native.run(on_progress)
    if audit_log is not None:
        log = native.audit_log()
        if log is not None:
            audit_log(log)
    if result.error and result.interrupted:
        raise KeyboardInterrupt  # Ctrl-C while the sessions were opening
    if result.error:
        raise RunFailed(f"{spec.name}: {scrub(result.error, spec.secrets)}")
    return result.with_error_examples({k: scrub(v, spec.secrets) for k, v in result.error_examples.items()})
