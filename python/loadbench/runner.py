"""The bench command's work: for each connector in turn, prep, run, verify; then one report,
recorded in ``runs/`` and summed up in ``runs/results.jsonl``.

Connectors run one after another, never at once, so they do not compete for the machine.
A connector that fails is recorded as failed and the others still run; Ctrl-C (or SIGTERM) ends
the current run early, skips the rest, and still writes the report (marked interrupted).

A display is anything with ``phase(spec, text)``, ``progress(spec, dict)``, ``finished(spec,
entry)`` and a context manager's enter and exit (:class:`~loadbench.display.LiveDisplay`, the
demo's bars). Its ``progress`` is called on the engine's monitor thread.

The write test runs each connector (configuration preset) once per concurrency level on the same
tables (prepped once, verified after every level, dropped at the end) and also writes one results
file per configuration.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from loadbench import engine, machine, reports, resource_usage, results, results_log, server_counters
from loadbench.config import RunPlan
from loadbench.errors import OutputError, RunFailed

EXIT_INTERRUPTED = 130


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
    """Runs every connector of ``plan`` in turn; its report entries, each with its resource usage."""
    preflight(plan)
    entries: list[dict] = []
    with display:
        for spec in plan.connectors:
            if _bench_connector(plan, spec, display, entries):
                return Measurement(entries, interrupted=True)
    return Measurement(entries, interrupted=False)


def bench(plan: RunPlan, display, show: Callable[[dict], None] | None = None) -> BenchOutcome:
    """Measures every connector, then shows the report (``show``: the table, before anything is
    written, so a full disk cannot take the figures with it), then writes it (raises OutputError)."""
    started = datetime.now(timezone.utc)
    machine_info = machine.describe()
    done = measure(plan, display)
    report = reports.build(plan, done.entries, started, datetime.now(timezone.utc), done.interrupted, machine_info)
    if show is not None:
        show(report)
    path = record(report, plan.runs_dir)
    written: tuple[Path, ...] = ()
    if plan.concurrency_levels and plan.results_dir:
        try:
            written = results.write_all(report, plan.results_dir)
        except OSError as exc:
            raise OutputError(f"cannot write the results files in {plan.results_dir}: {exc.strerror or exc}") from None
    return BenchOutcome(report, path, tuple(written))


def record(report: dict, runs_dir: Path) -> Path:
    """Writes the report and appends its line to ``runs_dir/results.jsonl``; the report's path.
    A failed write is an OutputError naming the file and the reason (nothing half-written stays)."""
    path = reports.write(report, runs_dir)
    try:
        results_log.append(runs_dir, report, path)
    except OSError as exc:
        raise OutputError(f"cannot append to {runs_dir / results_log.FILE_NAME}: {exc.strerror or exc}") from None
    return path


def _bench_connector(plan: RunPlan, spec, display, entries: list[dict]) -> bool:
    """Prep, then one run per concurrency level (one run for all but the write test), each verified
    and with the resources it used; appends the entries; True when interrupted."""
    levels = plan.concurrency_levels or (plan.concurrency,)
    committed: Counter[str] = Counter()  # per operation, since prep: what the tables should hold
    uncounted = 0
    prep_seconds = None
    pids = resource_usage.server_pids(spec, plan.runs_dir, plan.server_pids)
    try:
        if plan.prep:
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

            display.phase(spec, f"opening {level} sessions" if plan.concurrency_levels else "opening")
            counter = server_counters.for_spec(spec)  # a server's own count of committed work, if it has one
            try:
                counted_before = counter.read() if counter else None
                sampler.start()
                result = engine.run(level_plan, spec, on_progress=on_progress)
                server_committed = counter.read() - counted_before if counter else None
            except RunFailed as exc:
                sampler.finish()
                entries.append(reports.failed_entry(spec, str(exc)))
                display.finished(spec, entries[-1])
                return False
            resources = sampler.finish()
            committed.update({op["name"]: op["committed"] for op in result["operations"]})
            uncounted += result["before_window"] + result["after_window"]
            verification = _verify(plan, spec, committed, uncounted)
            entry = reports.connector_entry(spec, result, verification, plan.verify, level_plan)
            entry["prep_seconds"] = None if prep_seconds is None else round(prep_seconds, 3)
            entry["resources"] = resources
            if server_committed is not None:
                entry["server_committed"] = server_committed
            if spec.configuration_id:
                entry["configuration_id"] = spec.configuration_id
            entries.append(entry)
            display.finished(spec, entry)
            if result["interrupted"]:
                return True
            prep_seconds = None  # prepped once, before the first level
    except RunFailed as exc:
        entries.append(reports.failed_entry(spec, str(exc)))
        display.finished(spec, entries[-1])
        return False
    except KeyboardInterrupt:
        entries.append(reports.failed_entry(spec, "interrupted before the run started"))
        return True
    finally:
        if plan.concurrency_levels:
            _teardown(plan, spec)
    return False


def _teardown(plan: RunPlan, spec) -> None:
    try:
        engine.teardown(plan, spec)
    except RunFailed:
        pass  # the results stand; the tables are dropped again by the next prep


def _verify(plan: RunPlan, spec, committed: Counter, uncounted: int) -> dict | None:
    if not plan.verify:
        return None
    try:
        return engine.verify(plan, spec, committed, uncounted)
    except RunFailed as exc:
        return {"passed": False, "error": str(exc)}
