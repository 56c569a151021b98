"""The bench command's work: for each connector in turn, prep, run, verify; then one report,
recorded in ``runs/`` and summed up in ``runs/results.jsonl``.

Connectors run one after another, never at once, so they do not compete for the machine.
A connector that fails is recorded as failed and the others still run; Ctrl-C (or SIGTERM) ends
the current run early, skips the rest, and still writes the report (marked interrupted), within
2 s in every phase: prep and verification are cancelled or abandoned (see :mod:`loadbench.run.core`),
a run stops within about a second, and verification after an interrupted window gets
VERIFY_AFTER_INTERRUPT_S before it is recorded as not checked.

The runner measures and returns typed results (:mod:`loadbench.run.results`);
:mod:`loadbench.report.build` turns them into the report, :mod:`loadbench.report.publish` shows,
writes and records it.

A display (:class:`Display`) hears each connector's phases, its progress (on the engine's monitor
thread) and its finished run (:class:`~loadbench.cli.display.LiveDisplay`, the demo's bars, through
:func:`loadbench.cli.display.entries`).

The write test runs each connector (configuration preset) once per concurrency level on the same
tables (prepped once, verified after every level, dropped at the end) and also writes one results
file per configuration.

Runs that follow one another on the same data (the write test's levels, a sweep's runs) never
replay each other: a :class:`RunLedger` gives each run random streams no earlier run of the
invocation used on that data store, and moves scenario sequences past every value an earlier run
(or prep's seed rows) may have taken.

A connector that ran but committed nothing, or failed too many of its operations, is a failed
connector (:func:`loadbench.report.build.failure_of`, applied when the report is built): its
entry keeps its figures, says why in ``error`` and makes the command exit 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from types import FrameType
from typing import Any, Callable, Iterator, Protocol

from loadbench import _core, connectors
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import LoadbenchError, RunFailed
from loadbench.run import (
    audit,
    capacity,
    core as engine,
    faults as fault_schedule,
    machine,
    profiling,
    resources as resource_usage,
    server_counters,
)
from loadbench.run.config import RunPlan
from loadbench.run.results import BenchRun, ConnectorRun, CoreResult, FailedRun, MeasuredRun, Measurement, Verification

# After Ctrl-C or SIGTERM the command has 2 s to end: the run's stop takes up to 0.5 s, writing
# the report 0.1-0.3 s (its validation, the fsync); verification gets this (and 0.1 s to be
# cancelled), and is recorded as not checked if it needs longer.
VERIFY_AFTER_INTERRUPT_S = 0.3


class Display(Protocol):
    """What the runner tells as it goes: a connector's phase (``"prep"``, ``"opening"`` ...), its
    progress (the core's progress dict, on the engine's monitor thread) and its finished run. Used
    as a context manager around the whole measurement."""

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: object) -> object: ...

    def phase(self, spec: ConnectorSpec, phase: str) -> None: ...

    def progress(self, spec: ConnectorSpec, progress: _core.Progress) -> None: ...

    def finished(self, spec: ConnectorSpec, run: ConnectorRun) -> None: ...


def preflight(plan: RunPlan, warn: Callable[[str], None] | None = None) -> None:
    """Every connector can be reached with its configuration, and a scenario file's SQL prepares on
    it, before anything runs or is written: a wrong password, a malformed URL or SQL the database
    refuses is bad input (exit 2), an unreachable server a failure. ``warn`` (default: a line on
    stderr) hears :func:`superuser_warning`, and the netloss tables of SIGKILLed runs deleted
    before anything connects (:func:`loadbench.run.faults.drop_stale_tables`); a connection that
    fails while a netloss table drops the connector's port names it."""
    for line in fault_schedule.drop_stale_tables():
        (warn or _warn)(line)
    for spec in plan.connectors:
        try:
            engine.check(spec)
        except LoadbenchError as exc:
            found = connectors.module_of(spec.kind).endpoint(spec)
            port = found[1] if found is not None else None
            dropping = fault_schedule.tables_dropping(port) if port is not None else []
            if not dropping:
                raise
            raise type(exc)(f"{exc} (the nftables table {', '.join(dropping)} drops TCP port {port}: a netloss "
                            "run's; it is deleted when that run ends)") from None
        warning = superuser_warning(plan, spec)
        if warning:
            (warn or _warn)(warning)
        engine.check_sql(plan, spec)


def _warn(line: str) -> None:
    print(f"loadbench: warning: {line}", file=sys.stderr, flush=True)


def superuser_warning(plan: RunPlan, spec: ConnectorSpec) -> str | None:
    """A scenario file is code, as a pgbench script is: its SQL runs with the rights of the
    connector's role, its DDL already during the check before load (see
    :func:`loadbench.run.core.check_sql`). When that role has rights over the server itself (the
    module's ``SUPERUSER_CHECK``: a PostgreSQL superuser can run programs there), the DDL can use
    them: say so, for a file that is not one of the shipped ones. None when there is nothing to say."""
    from loadbench.scenarios import files as scenario_files

    scenario, check = plan.scenario, connectors.module_of(spec.kind).SUPERUSER_CHECK
    if scenario is None or check is None:
        return None
    if scenario.path.resolve().parent == scenario_files.builtin_dir().resolve():
        return None  # ours
    try:
        superuser = engine.is_superuser(spec)
    except LoadbenchError:
        return None  # the check that follows reports what is wrong with the connection
    if not superuser:
        return None
    return (f"{spec.label}: the role is a superuser, and {scenario.path} is code run with its rights: its [tables] "
            f"DDL runs in the check before load and can {check.powers}; "
            f"run files you did not write as a role that is not a superuser")


@dataclass
class RunLedger:
    """What earlier runs of one invocation took, per data store (a connector's target: its SQLite
    file, its database URL; two presets or connectors on one database share it): random streams
    (``stream_offset``: the sessions of every earlier run there) and, per sequence generator of a
    scenario file, an upper bound on the values taken since the last prep there, and what the
    runs since that prep committed per operation (and completed outside their windows), which a
    scenario file's verification expects the tables to hold. Connectors on different stores start
    at the same offsets, so they get the same choices."""

    streams: dict[str, int] = dataclasses.field(default_factory=dict)
    sequences: dict[str, dict[int, int]] = dataclasses.field(default_factory=dict)
    committed: dict[str, Counter[str]] = dataclasses.field(default_factory=dict)
    uncounted: dict[str, int] = dataclasses.field(default_factory=dict)

    def plan_for(self, plan: RunPlan, spec: ConnectorSpec) -> RunPlan:
        """``plan`` for the connector's next run: its stream offset and sequence offsets."""
        if plan.scenario is not None and spec.target not in self.sequences:
            # No prep in this invocation (--skip-prep): the tables hold at least the seed rows.
            self.sequences[spec.target] = plan.scenario.sequence_taken_by_seeds()
        return dataclasses.replace(plan, stream_offset=self.streams.get(spec.target, 0),
                                   sequence_offsets=dict(self.sequences.get(spec.target, {})))

    def prepped(self, plan: RunPlan, spec: ConnectorSpec) -> None:
        """Prep re-created the data: sequences start again after the seed rows, nothing is
        committed yet (streams go on)."""
        if plan.scenario is not None:
            self.sequences[spec.target] = plan.scenario.sequence_taken_by_seeds()
        self.committed[spec.target] = Counter()
        self.uncounted[spec.target] = 0

    def ran(self, plan: RunPlan, spec: ConnectorSpec, result: CoreResult | None) -> None:
        """A run of ``plan`` (with ``result``, None when it failed part-way) is over: its streams and
        sequence values are taken."""
        sessions = plan.concurrency * spec.sessions_per_connection
        self.streams[spec.target] = self.streams.get(spec.target, 0) + sessions
        if result is not None:
            self.committed.setdefault(spec.target, Counter()).update(
                {op.name: op.committed for op in result.operations})
            self.uncounted[spec.target] = self.uncounted.get(spec.target, 0) + uncertain_operations(result.counters)
        if plan.scenario is None:
            return
        taken = self.sequences.setdefault(spec.target, plan.scenario.sequence_taken_by_seeds())
        for generator, values in sequence_values_taken(plan, sessions, result).items():
            taken[generator] = taken.get(generator, 0) + values


def uncertain_operations(counters: _core.Counters) -> int:
    """Operations that may or may not have committed: begun outside the measured window (not
    counted there), and those counted as failed by ``timeout`` or ``unfinished`` (the server may
    have applied them; nobody saw the answer)."""
    errors = counters.errors
    return (counters.before_window + counters.after_window + errors.get(_core.ErrorKind.timeout, 0)
            + errors.get(_core.ErrorKind.unfinished, 0))


# Without a result (a run that failed part-way) a run's draws are unknown: later runs move this
# far past it, which no run of a day's length reaches (2^40 ~ 10^12 operations).
_UNKNOWN_DRAWS = 2**40


def sequence_values_taken(plan: RunPlan, sessions: int, result: CoreResult | None) -> dict[int, int]:
    """Per sequence generator, an upper bound on the sequence positions one run used.

    A session-scope sequence gives session i of s the positions i + k*s (k = 0, 1, ...), so the run
    stays below s * (the most draws of one session); a global one below the run's draws. One
    operation draws each sequence at most ``uses`` times; the operations planned are those
    counted in the window, before and after it, dropped and never started, plus one in flight per
    session; with --operations one session counts at most ceil(operations / s) in the window.
    """
    scenario = plan.scenario
    assert scenario is not None
    uses = scenario.sequence_uses_per_operation()
    if result is None:
        return {g: _UNKNOWN_DRAWS for g, n in uses.items() if n}
    counters = result.counters
    in_window = counters.committed + counters.rejected + counters.failed
    outside = counters.before_window + counters.after_window + counters.dropped + counters.unstarted + sessions
    total = in_window + outside
    one_session = min(total, (-(-plan.operations // sessions) if plan.operations else in_window) + outside)
    taken: dict[int, int] = {}
    for g, n in uses.items():
        if n:
            taken[g] = n * (total if scenario.generators[g].fields["global"] else sessions * one_session)
    return taken


def measure(plan: RunPlan, display: Display, ledger: RunLedger | None = None) -> Measurement:
    """Runs every connector of ``plan`` in turn; its runs, each with its resource usage.
    ``ledger`` carries what earlier runs of the invocation took (a sweep passes one for all its
    runs). A plan the machine cannot hold (memory, threads, descriptors) is refused first
    (ConfigError). What a connector changed on its server for the runs (mysql's presets) is put
    back when they end, however they end (:func:`kept_for_the_runs`)."""
    with kept_for_the_runs(plan):
        return _measure(plan, display, ledger)


@contextlib.contextmanager
def kept_for_the_runs(plan: RunPlan) -> Iterator[None]:
    """Enters every connector's ``run_scope`` (before any check), and leaves them in reverse
    order, so that the value found before the first one is the one left on the server."""
    with contextlib.ExitStack() as scopes:
        for spec in plan.connectors:
            if spec.run_scope is not None:
                scopes.enter_context(spec.run_scope(spec))
        yield


def _measure(plan: RunPlan, display: Display, ledger: RunLedger | None) -> Measurement:
    capacity.check(plan)
    preflight(plan)
    if plan.profile:
        reason = profiling.unavailable()
        if reason is not None:  # one line, and the run goes on unprofiled
            _warn(f"--profile: {reason}; running without profiles")
            plan = dataclasses.replace(plan, profile=False)
    # The servers faults will hit, found (or refused, one line) before any load.
    targets = {spec.name: fault_schedule.Target.find(spec, resource_usage.server_finder(spec, plan.runs_dir, plan.server_pids),
                                                     plan.server_restart, plan.faults)
               for spec in plan.connectors} if plan.faults else {}
    ledger = ledger if ledger is not None else RunLedger()
    runs: list[ConnectorRun] = []
    with display:
        for spec in plan.connectors:
            if _bench_connector(plan, spec, display, runs, ledger, targets.get(spec.name)):
                return Measurement(runs, interrupted=True)
    return Measurement(runs, interrupted=False)


def bench(plan: RunPlan, display: Display) -> BenchRun:
    """Measures every connector (:func:`measure`), with when it ran and on what machine."""
    started = datetime.now(timezone.utc)
    machine_info = machine.describe()
    done = measure(plan, display)
    return BenchRun(plan, done, started, datetime.now(timezone.utc), machine_info)


def _bench_connector(plan: RunPlan, spec: ConnectorSpec, display: Display, runs: list[ConnectorRun],
                     ledger: RunLedger, fault_target: fault_schedule.Target | None = None) -> bool:
    """Prep, then one run per concurrency level (one run for all but the write test), each verified
    and with the resources it used (and its faults' timeline, with ``fault_target``); appends the
    runs; True when interrupted."""
    levels = plan.concurrency_levels or (plan.concurrency,)
    prep_seconds = None
    interrupted = False
    doing = "before the run started"  # for an interrupt that ends the connector without a result
    find_server = resource_usage.server_finder(spec, plan.runs_dir, plan.server_pids)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    try:
        if plan.prep:
            doing = "during prep"
            display.phase(spec, "prep")
            began = time.monotonic()
            engine.prep(plan, spec)
            ledger.prepped(plan, spec)
            prep_seconds = time.monotonic() - began
        for level in levels:
            level_plan = ledger.plan_for(dataclasses.replace(plan, concurrency=level) if plan.concurrency_levels
                                         else plan, spec)
            sampler = resource_usage.ResourceSampler(spec.kind, find_server)
            profiler = profiling.Profiler(
                plan.runs_dir, profiling.stem_for(plan.test, spec.name, stamp, level if plan.concurrency_levels else None),
                find_server, title=f"{plan.test} {spec.name} c={level}") if plan.profile else None

            injector = (fault_schedule.FaultInjector(plan.faults, fault_target,
                                                                  window_s=level_plan.seconds) if fault_target is not None
                        else None)

            def on_progress(p: _core.Progress, sampler: resource_usage.ResourceSampler = sampler,
                            profiler: profiling.Profiler | None = profiler,
                            injector: fault_schedule.FaultInjector | None = injector) -> None:
                sampler.on_progress(p)
                if profiler is not None:
                    profiler.on_progress(p)
                if injector is not None:
                    injector.on_progress(p)
                display.progress(spec, p)

            doing = "while opening sessions"
            display.phase(spec, f"opening {level} sessions" if plan.concurrency_levels else "opening")
            counter = server_counters.for_spec(spec)  # a server's own count of committed work, if it has one
            try:
                counted_before = counter.read() if counter else None
                sampler.start()
                audit_logs: list[dict[int, bytes]] = []
                try:
                    result = engine.run(level_plan, spec, on_progress=on_progress,
                                        audit_log=audit_logs.append if plan.audit else None)
                except BaseException as exc:
                    if injector is not None:  # a frozen server is continued, whatever happened
                        injector.finish(wait=not isinstance(exc, KeyboardInterrupt))
                    raise
                if injector is not None:
                    # A restart in flight is waited for, unless Ctrl-C or SIGTERM ended the run.
                    injector.finish(wait=not result.interrupted)
            except RunFailed as exc:
                sampler.finish()
                if profiler is not None:
                    profiler.finish()
                ledger.ran(level_plan, spec, None)
                runs.append(FailedRun(spec, str(exc)))
                display.finished(spec, runs[-1])
                return False
            except KeyboardInterrupt:
                if profiler is not None:
                    profiler.finish()
                ledger.ran(level_plan, spec, None)
                raise
            ledger.ran(level_plan, spec, result)
            # The window's figures are in hand: from here an interrupt only shortens what follows.
            interrupted = result.interrupted
            server_committed: int | None = None
            server_committed_error: str | None = None
            try:
                # After an interrupt the run must end promptly even if the server has stalled.
                after = counter.read(timeout_s=1.0 if interrupted else 10.0) if counter else None
                server_committed = None if after is None or counted_before is None else after - counted_before
            except RunFailed as exc:  # the cross-check is lost, not the window's figures
                server_committed_error = str(exc)
            except KeyboardInterrupt:
                interrupted = True
            with _interrupts_deferred() as deferred:
                resources = sampler.finish()
                profile = profiler.finish() if profiler is not None else None
                fault_timeline = injector.timeline(result.series, result.measured_seconds) if injector else None
            # What the tables should hold: every run's commits since prep (this invocation's).
            verification, stopped = _verify(plan, spec, ledger.committed[spec.target], ledger.uncounted[spec.target],
                                            interrupted or deferred.signalled)
            audit_result = None
            if audit_logs and not stopped and verification is not None and verification.get("checked") is False:
                # The server did not answer the verification just before: reading its ledger would
                # wait out the same silence (up to a minute on Redis) to learn nothing more.
                audit_result = {"checked": False, "violation": "audit: not checked: the server did not answer the "
                                                               "verification before it"}
            elif audit_logs and not stopped:
                audit_result, stopped = _audit(level_plan, spec, audit_logs[0], interrupted or deferred.signalled)
            with _interrupts_deferred() as late:
                runs.append(MeasuredRun(spec, level_plan, result, verification, resources, prep_seconds,
                                        server_committed, server_committed_error, profile, fault_timeline,
                                        audit_result))
                display.finished(spec, runs[-1])
            interrupted = interrupted or deferred.signalled or stopped or late.signalled
            if interrupted:
                return True
            doing = "before the next level started"
            prep_seconds = None  # prepped once, before the first level
    except RunFailed as exc:
        runs.append(FailedRun(spec, str(exc)))
        display.finished(spec, runs[-1])
        return False
    except KeyboardInterrupt:
        interrupted = True
        runs.append(FailedRun(spec, f"interrupted {doing}"))
        return True
    finally:
        if plan.concurrency_levels:
            _teardown(plan, spec, interrupted)
    return False


class _Deferred:
    signalled = False


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[_Deferred]:
    """Ctrl-C and SIGTERM during a few lines of bookkeeping that must not be cut in half (the
    result is in hand): noted (``.signalled``) and acted on after them. On the main thread only
    (elsewhere Python delivers no signals)."""
    state = _Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def note(signum: int, frame: FrameType | None) -> None:
        state.signalled = True

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig, handler in saved.items():
        if handler not in (signal.SIG_IGN, None):
            signal.signal(sig, note)
    try:
        yield state
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


def _teardown(plan: RunPlan, spec: ConnectorSpec, interrupted: bool) -> None:
    # After an interrupt the tables are dropped only if the server answers at once: the command
    # has its 2 s, and the next prep drops them again anyway.
    try:
        engine.teardown(plan, spec, timeout_s=0.2 if interrupted else None)
    except (RunFailed, TimeoutError, KeyboardInterrupt):
        pass  # the results stand; the tables are dropped again by the next prep


def _verify(plan: RunPlan, spec: ConnectorSpec, committed: Counter[str], uncounted: int,
            interrupted: bool) -> tuple[Verification | None, bool]:
    """The verification (None when not requested) and whether Ctrl-C or SIGTERM came during it.
    After an interrupted window it gets VERIFY_AFTER_INTERRUPT_S; what does not finish, cannot run
    (an error such as a refused connection), or is interrupted, is recorded as not checked, with
    the reason."""
    if not plan.verify:
        return None, False
    try:
        return engine.verify(plan, spec, committed, uncounted,
                             timeout_s=VERIFY_AFTER_INTERRUPT_S if interrupted else None), False
    except RunFailed as exc:
        # A verification that could not run (the server stopped, vanished, refused the connection)
        # says nothing about the data: not checked, with the reason. Outside an interrupt that
        # fails the connector (report.build.connector_entry), but never as a failed verification.
        detail = str(exc).removeprefix(f"{spec.name}: verify: ")  # the entry names the connector
        return _not_checked(f"{'interrupted: ' if interrupted else ''}verification could not run: {detail}"), False
    except TimeoutError:
        return _not_checked(f"interrupted: verification did not finish within {VERIFY_AFTER_INTERRUPT_S:g} s"), False
    except KeyboardInterrupt:
        return _not_checked("interrupted during verification"), True


def _audit(plan: RunPlan, spec: ConnectorSpec, log: dict[int, bytes],
           interrupted: bool) -> tuple[dict[str, Any], bool]:
    """--audit's result (:mod:`loadbench.run.audit`) and whether Ctrl-C or SIGTERM came during it;
    like verification, bounded after an interrupted window, and recorded as not checked (with the
    reason, which fails the connector) when it cannot be read."""
    try:
        return audit.audit(plan, spec, log, timeout_s=VERIFY_AFTER_INTERRUPT_S if interrupted else None), False
    except (RunFailed, LoadbenchError) as exc:
        return {"checked": False, "violation": f"audit: not checked: {exc}"}, False
    except TimeoutError:
        return {"checked": False, "violation": f"audit: not checked: interrupted, the ledger was not read within "
                                               f"{VERIFY_AFTER_INTERRUPT_S:g} s"}, False
    except KeyboardInterrupt:
        return {"checked": False, "violation": "audit: not checked: interrupted"}, True


def _not_checked(reason: str) -> Verification:
    # report.build.connector_entry keeps these keys over its own "checked": True.
    return {"checked": False, "reason": reason}
