"""The bench command's work: for each connector in turn, prep, run, verify; then one report.

Connectors run one after another, never at once, so they do not compete for the machine.
A connector that fails is recorded as failed and the others still run; Ctrl-C (or SIGTERM) ends
the current run early, skips the rest, and still writes the report (marked interrupted).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from loadbench import engine, machine, reports
from loadbench.config import RunPlan
from loadbench.display import LiveDisplay
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


def bench(plan: RunPlan, display: LiveDisplay) -> BenchOutcome:
    preflight(plan)
    started = datetime.now(timezone.utc)
    machine_info = machine.describe()
    entries: list[dict] = []
    interrupted = False
    with display:
        for spec in plan.connectors:
            prep_seconds = None
            try:
                if plan.prep:
                    display.phase(spec, "prep")
                    began = time.monotonic()
                    engine.prep(plan, spec)
                    prep_seconds = time.monotonic() - began
                display.phase(spec, "opening")
                result = engine.run(plan, spec, on_progress=lambda p, spec=spec: display.progress(spec, p))
            except RunFailed as exc:
                entries.append(reports.failed_entry(spec, str(exc)))
                display.finished(spec, entries[-1])
                continue
            except KeyboardInterrupt:
                entries.append(reports.failed_entry(spec, "interrupted before the run started"))
                interrupted = True
                break
            entry = reports.connector_entry(spec, result, _verify(plan, spec), plan.verify, plan)
            entry["prep_seconds"] = None if prep_seconds is None else round(prep_seconds, 3)
            entries.append(entry)
            display.finished(spec, entry)
            if result["interrupted"]:
                interrupted = True
                break
    report = reports.build(plan, entries, started, datetime.now(timezone.utc), interrupted, machine_info)
    return BenchOutcome(report, reports.write(report, plan.runs_dir))


def _verify(plan: RunPlan, spec) -> dict | None:
    if not plan.verify:
        return None
    try:
        return engine.verify(plan, spec)
    except RunFailed as exc:
        return {"passed": False, "error": str(exc)}
