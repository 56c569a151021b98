"""The bench command's work: for each connector in turn, prep, run, verify; then one report,
recorded in ``runs/`` and summed up in ``runs/results.jsonl``.

Connectors run one after another, never at once, so they do not compete for the machine.
A connector that fails is recorded as failed and the others still run; Ctrl-C (or SIGTERM) ends
the current run early, skips the rest, and still writes the report (marked interrupted), within
2 s in every phase: prep and verification are cancelled or abandoned (see :mod:`loadbench.engine`),
a run stops within about a second, and verification after an interrupted window gets
VERIFY_AFTER_INTERRUPT_S before it is recorded as not checked.

A display is anything with ``phase(spec, text)``, ``progress(spec, dict)``, ``finished(spec,
entry)`` and a context manager's enter and exit (:class:`~loadbench.display.LiveDisplay`, the
demo's bars). Its ``progress`` is called on the engine's monitor thread.

The write test runs each connector (configuration preset) once per concurrency level on the same
tables (prepped once, verified after every level, dropped at the end) and also writes one results
file per configuration.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from loadbench import capacity, engine, machine, reports, resource_usage, results, results_log, server_counters
from loadbench.config import RunPlan
from loadbench.errors import RunFailed

EXIT_INTERRUPTED = 130
# After Ctrl-C or SIGTERM the command has 2 s to end: the run's stop takes up to 0.5 s, writing
# the report 0.1-0.3 s (its validation, the fsync); verification gets this (and 0.1 s to be
# cancelled), and is recorded as not checked if it needs longer.
VERIFY_AFTER_INTERRUPT_S = 0.3


@dataclass
class BenchOutcome:
    report: dict
    path: Path
    results_paths: tuple[Path, ...] = ()

    @property
    def exit_code(self) -> int:
        if self.report["interrupted"]:
            return EXIT_INTERRUPTED
        return 0 if self.report["status"] == "ok" else 1


def preflight(plan: RunPlan) -> None:
    """Every connector can be reached with its configuration, and a scenario file's SQL prepares on
    it, before anything runs or is written: a wrong password, a malformed URL or SQL the database
    refuses is bad input (exit 2), an unreachable server a failure."""
    for spec in plan.connectors:
        engine.check(spec)
        engine.check_sql(plan, spec)


@dataclass
class Measurement:
    entries: list[dict]  # one per connector that ran or failed
    interrupted: bool


def measure(plan: RunPlan, display) -> Measurement:
    """Runs every connector of ``plan`` in turn; its report entries, each with its resource usage.
    A plan the machine cannot hold (memory, threads, descriptors) is refused first (ConfigError)."""
    capacity.check(plan)
    preflight(plan)
    entries: list[dict] = []
    with display:
        for spec in plan.connectors:
            if _bench_connector(plan, spec, display, entries):
                return Measurement(entries, interrupted=True)
    return Measurement(entries, interrupted=False)


def bench(plan: RunPlan, display) -> BenchOutcome:
    started = datetime.now(timezone.utc)
    machine_info = machine.describe()
    done = measure(plan, display)
    report = reports.build(plan, done.entries, started, datetime.now(timezone.utc), done.interrupted, machine_info)
    path = record(report, plan.runs_dir)
    written = results.write_all(report, plan.results_dir) if plan.concurrency_levels and plan.results_dir else ()
    return BenchOutcome(report, path, tuple(written))


def record(report: dict, runs_dir: Path) -> Path:
    """Writes the report and appends its line to ``runs_dir/results.jsonl``; the report's path."""
    path = reports.write(report, runs_dir)
    results_log.append(runs_dir, report, path)
    return path


def _bench_connector(plan: RunPlan, spec, display, entries: list[dict]) -> bool:
    """Prep, then one run per concurrency level (one run for all but the write test), each verified
    and with the resources it used; appends the entries; True when interrupted."""
    levels = plan.concurrency_levels or (plan.concurrency,)
    committed: Counter[str] = Counter()  # per operation, since prep: what the tables should hold
    uncounted = 0
    prep_seconds = None
    interrupted = False
    doing = "before the run started"  # for an interrupt that ends the connector without a result
    pids = resource_usage.server_pids(spec, plan.runs_dir, plan.server_pids)
    try:
        if plan.prep:
            doing = "during prep"
            display.phase(spec, "prep")
            began = time.monotonic()
            engine.prep(plan, spec)
            prep_seconds = time.monotonic() - began
        for level in levels:
            level_plan = dataclasses.replace(plan, concurrency=level) if plan.concurrency_levels else plan
            sampler = resource_usage.ResourceSampler(spec.kind, pids)

            def on_progress(p: dict, sampler=sampler) -> None:
                sampler.on_progress(p)
                display.progress(spec, p)

            doing = "while opening sessions"
            display.phase(spec, f"opening {level} sessions" if plan.concurrency_levels else "opening")
            counter = server_counters.for_spec(spec)  # a server's own count of committed work, if it has one
            try:
                counted_before = counter.read() if counter else None
                sampler.start()
                result = engine.run(level_plan, spec, on_progress=on_progress)
            except RunFailed as exc:
                sampler.finish()
                entries.append(reports.failed_entry(spec, str(exc)))
                display.finished(spec, entries[-1])
                return False
            # The window's figures are in hand: from here an interrupt only shortens what follows.
            interrupted = result["interrupted"]
            server_committed = None
            try:
                server_committed = counter.read() - counted_before if counter else None
            except RunFailed as exc:
                entries.append(reports.failed_entry(spec, str(exc)))
                display.finished(spec, entries[-1])
                return interrupted
            except KeyboardInterrupt:
                interrupted = True
            with _interrupts_deferred() as deferred:
                resources = sampler.finish()
                committed.update({op["name"]: op["committed"] for op in result["operations"]})
                uncounted += result["before_window"] + result["after_window"]
            verification, stopped = _verify(plan, spec, committed, uncounted, interrupted or deferred.signalled)
            with _interrupts_deferred() as late:
                entry = reports.connector_entry(spec, result, verification, plan.verify, level_plan)
                entry["prep_seconds"] = None if prep_seconds is None else round(prep_seconds, 3)
                entry["resources"] = resources
                if server_committed is not None:
                    entry["server_committed"] = server_committed
                if spec.configuration_id:
                    entry["configuration_id"] = spec.configuration_id
                entries.append(entry)
                display.finished(spec, entry)
            interrupted = interrupted or deferred.signalled or stopped or late.signalled
            if interrupted:
                return True
            doing = "before the next level started"
            prep_seconds = None  # prepped once, before the first level
    except RunFailed as exc:
        entries.append(reports.failed_entry(spec, str(exc)))
        display.finished(spec, entries[-1])
        return False
    except KeyboardInterrupt:
        interrupted = True
        entries.append(reports.failed_entry(spec, f"interrupted {doing}"))
        return True
    finally:
        if plan.concurrency_levels:
            _teardown(plan, spec, interrupted)
    return False


class _Deferred:
    signalled = False


@contextlib.contextmanager
def _interrupts_deferred():
    """Ctrl-C and SIGTERM during a few lines of bookkeeping that must not be cut in half (the
    result is in hand): noted (``.signalled``) and acted on after them. On the main thread only
    (elsewhere Python delivers no signals)."""
    state = _Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def note(signum, frame) -> None:
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


def _teardown(plan: RunPlan, spec, interrupted: bool) -> None:
    # After an interrupt the tables are dropped only if the server answers at once: the command
    # has its 2 s, and the next prep drops them again anyway.
    try:
        engine.teardown(plan, spec, timeout_s=0.2 if interrupted else None)
    except (RunFailed, TimeoutError, KeyboardInterrupt):
        pass  # the results stand; the tables are dropped again by the next prep


def _verify(plan: RunPlan, spec, committed: Counter, uncounted: int, interrupted: bool) -> tuple[dict | None, bool]:
    """The verification (None when not requested) and whether Ctrl-C or SIGTERM came during it.
    After an interrupted window it gets VERIFY_AFTER_INTERRUPT_S; what does not finish, or is
    interrupted, is recorded as not checked, with the reason."""
    if not plan.verify:
        return None, False
    try:
        return engine.verify(plan, spec, committed, uncounted,
                             timeout_s=VERIFY_AFTER_INTERRUPT_S if interrupted else None), False
    except RunFailed as exc:
        return {"passed": False, "error": str(exc)}, False
    except TimeoutError:
        return _not_checked(f"interrupted: verification did not finish within {VERIFY_AFTER_INTERRUPT_S:g} s"), False
    except KeyboardInterrupt:
        return _not_checked("interrupted during verification"), True


def _not_checked(reason: str) -> dict:
    # reports.connector_entry keeps these keys over its own "checked": True.
    return {"checked": False, "reason": reason}
