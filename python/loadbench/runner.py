"""The bench command's work: for each connector in turn, prep, run, verify; then one report,
recorded in ``runs/`` and summed up in ``runs/results.jsonl``.

Connectors run one after another, never at once, so they do not compete for the machine.
A connector that fails is recorded as failed and the others still run; Ctrl-C (or SIGTERM) ends
the current run early, skips the rest, and still writes the report (marked interrupted).

A display is anything with ``phase(spec, text)``, ``progress(spec, dict)``, ``finished(spec,
entry)`` and a context manager's enter and exit (:class:`~loadbench.display.LiveDisplay`, the
demo's bars). Its ``progress`` is called on the engine's monitor thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from loadbench import engine, machine, reports, resource_usage, results_log, server_counters
from loadbench.config import RunPlan
from loadbench.errors import RunFailed

EXIT_INTERRUPTED = 130


@dataclass
class BenchOutcome:
    report: dict
    path: Path

    @property
    def exit_code(self) -> int:
        if self.report["interrupted"]:
            return EXIT_INTERRUPTED
        return 0 if self.report["status"] == "ok" else 1


def preflight(plan: RunPlan) -> None:
    """Every connector can be reached with its configuration, before anything runs or is written:
    a wrong password or a malformed URL is bad input (exit 2), an unreachable server a failure."""
    for spec in plan.connectors:
        engine.check(spec)


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
            prep_seconds = None
            sampler = resource_usage.ResourceSampler(spec.kind, resource_usage.server_pids(spec, plan.runs_dir, plan.server_pids))

            def on_progress(p: dict, spec=spec) -> None:
                sampler.on_progress(p)
                display.progress(spec, p)

            try:
                if plan.prep:
                    display.phase(spec, "prep")
                    began = time.monotonic()
                    engine.prep(plan, spec)
                    prep_seconds = time.monotonic() - began
                display.phase(spec, "opening")
                counter = server_counters.for_spec(spec)
                counted_before = counter.read() if counter else None
                sampler.start()
                result = engine.run(plan, spec, on_progress=on_progress)
                server_committed = counter.read() - counted_before if counter else None
            except RunFailed as exc:
                entries.append(reports.failed_entry(spec, str(exc)))
                display.finished(spec, entries[-1])
                continue
            except KeyboardInterrupt:
                entries.append(reports.failed_entry(spec, "interrupted before the run started"))
                return Measurement(entries, interrupted=True)
            entry = reports.connector_entry(spec, result, _verify(plan, spec), plan.verify, plan)
            entry["prep_seconds"] = None if prep_seconds is None else round(prep_seconds, 3)
            entry["resources"] = sampler.finish()
            if server_committed is not None:
                entry["server_committed"] = server_committed
            entries.append(entry)
            display.finished(spec, entry)
            if result["interrupted"]:
                return Measurement(entries, interrupted=True)
    return Measurement(entries, interrupted=False)


def bench(plan: RunPlan, display) -> BenchOutcome:
    started = datetime.now(timezone.utc)
    machine_info = machine.describe()
    done = measure(plan, display)
    report = reports.build(plan, done.entries, started, datetime.now(timezone.utc), done.interrupted, machine_info)
    return BenchOutcome(report, record(report, plan.runs_dir))


def record(report: dict, runs_dir: Path) -> Path:
    """Writes the report and appends its line to ``runs_dir/results.jsonl``; the report's path."""
    path = reports.write(report, runs_dir)
    results_log.append(runs_dir, report, path)
    return path


def _verify(plan: RunPlan, spec) -> dict | None:
    if not plan.verify:
        return None
    try:
        return engine.verify(plan, spec)
    except RunFailed as exc:
        return {"passed": False, "error": str(exc)}
