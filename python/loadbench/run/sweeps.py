"""Sweeps: one bench invocation that runs the same load at many points and writes one report
holding them all (``schema/sweep-v1.schema.json``).

A point sets some of accounts, concurrency and alpha; each point runs ``iterations`` times (all
connectors, one after the other, as ``bench`` does), iteration ``i`` with seed ``seed + i`` so the
spread includes the account choice. Every run of the sweep also takes random streams that no
earlier run of the sweep used on that data store (``stream_offset`` in its entries: the sessions of
every earlier run there), and scenario sequences continue from run to run, so runs on the same data
(with ``--skip-prep``) never replay one another. Every run keeps its full connector entry; each point adds
a summary per connector: mean, sample standard deviation, min and max over its iterations.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from loadbench.errors import ConfigError
from loadbench.report import build as reports
from loadbench.report import headlines
from loadbench.run import capacity, machine, runner
from loadbench.run.config import RunPlan, check_accounts, check_alpha, check_concurrency

MAX_POINTS = 1000
VARIABLES = ("accounts", "concurrency", "alpha")
_CHECKS = {"accounts": check_accounts, "concurrency": check_concurrency, "alpha": check_alpha}


@dataclass(frozen=True)
class Sweep:
    variables: tuple[str, ...]  # what varies, outermost first
    values: dict[str, list[float]]  # each variable's values, in order
    iterations: int

    @property
    def points(self) -> list[dict]:
        """Every combination of the values, the last variable varying fastest."""
        return [dict(zip(self.variables, combo)) for combo in itertools.product(*(self.values[v] for v in self.variables))]


def _check_iterations(iterations: int) -> int:
    if iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {iterations}")
    return iterations


def _check_size(sweep: Sweep) -> Sweep:
    count = math.prod(len(v) for v in sweep.values.values())
    if count > MAX_POINTS:
        raise ConfigError(f"the sweep has {count:,} points, more than {MAX_POINTS:,}")
    return sweep


def inclusive_range(flag: str, start: float, end: float, step: float) -> list[float]:
    """``start, start + step, ...`` up to ``end`` included (within rounding)."""
    for name, value in (("START", start), ("END", end), ("STEP", step)):
        if not math.isfinite(value):
            raise ConfigError(f"{flag}: {name} must be a finite number, got {value}")
    if step <= 0:
        raise ConfigError(f"{flag}: STEP must be > 0, got {step:g}")
    if start > end:
        raise ConfigError(f"{flag}: START ({start:g}) must be <= END ({end:g})")
    count = math.floor((end - start) / step + 1e-9) + 1
    if count > MAX_POINTS:
        raise ConfigError(f"{flag}: {count:,} points, more than {MAX_POINTS:,}")
    # Rounded so that 0.1 steps give 0.3, not 0.30000000000000004, in reports and tables.
    return [round(start + i * step, 12) for i in range(count)]


def _values(variable: str, flag: str, values: list[float]) -> list:
    check = _CHECKS[variable]
    return [check(int(v) if variable != "alpha" else float(v), flag) for v in values]


def contention(start: float, end: float, step: float, concurrency: int, iterations: int) -> tuple[Sweep, int]:
    """``--contention-tests START END STEP CONCURRENCY``: alpha from START to END; the fixed concurrency."""
    flag = "--contention-tests"
    alphas = _values("alpha", flag, inclusive_range(flag, start, end, step))
    return Sweep(("alpha",), {"alpha": alphas}, _check_iterations(iterations)), check_concurrency(concurrency, flag)


def concurrency(start: int, end: int, step: int, alpha: float, iterations: int) -> tuple[Sweep, float]:
    """``--concurrency-tests START END STEP ALPHA``: concurrency from START to END; the fixed alpha."""
    flag = "--concurrency-tests"
    levels = _values("concurrency", flag, inclusive_range(flag, start, end, step))
    return Sweep(("concurrency",), {"concurrency": levels}, _check_iterations(iterations)), check_alpha(alpha, flag)


def grid(accounts: list[int], concurrency: list[int], alpha: list[float], iterations: int) -> Sweep:
    """``loadbench matrix``: every combination of accounts x concurrency x alpha."""
    values = {}
    for variable, given in zip(VARIABLES, (accounts, concurrency, alpha)):
        if not given:
            raise ConfigError(f"matrix: {variable} needs at least one value")
        values[variable] = _values(variable, f"matrix {variable}", list(given))
    return _check_size(Sweep(VARIABLES, values, _check_iterations(iterations)))


def repeat(iterations: int) -> Sweep:
    """``bench --iterations N`` alone: one point, run N times."""
    return Sweep((), {}, _check_iterations(iterations))


def summarize(iterations: list[dict]) -> list[dict]:
    """Per connector, the spread of its headline figures over the iterations that measured."""
    names = list(dict.fromkeys(e["name"] for it in iterations for e in it["connectors"]))
    summary = []
    for name in names:
        entries = [e for it in iterations for e in it["connectors"] if e["name"] == name]
        heads = [headlines.of_entry(e) for e in entries if e["status"] != "failed"]
        row = {"name": name, "runs": len(heads), "failed_runs": len(entries) - len(heads)}
        if heads:
            for key in (*headlines.METRICS, "harness_cpu_percent", "server_cpu_percent"):
                values = [h[key] for h in heads if h[key] is not None]
                row[key] = headlines.spread(values) if values else None
        summary.append(row)
    return summary


def run(base: RunPlan, sweep: Sweep, make_display: Callable[[RunPlan], object],
        say: Callable[[str], None], show: Callable[[dict], None] | None = None) -> runner.BenchOutcome:
    """Runs every point ``sweep.iterations`` times, then shows (``show``, before anything is
    written), writes and records one report. Ctrl-C ends the sweep after the run in hand; the report
    holds what ran."""
    started = datetime.now(timezone.utc)
    machine_info = machine.describe()
    points: list[dict] = []
    all_points = sweep.points
    for values in all_points:  # a point the machine cannot hold is refused before any point runs
        capacity.check(dataclasses.replace(base, **values))
    interrupted = False
    ledger = runner.RunLedger()  # one for the whole sweep: no run replays an earlier one's streams
    for number, values in enumerate(all_points, start=1):
        label = ", ".join(f"{k} {v:g}" for k, v in values.items()) or "the plan"
        point = {"values": values, "iterations": []}
        for i in range(sweep.iterations):
            plan = dataclasses.replace(base, **values, seed=(base.seed + i) % 2**64)
            say(f"point {number}/{len(all_points)} ({label}), iteration {i + 1}/{sweep.iterations}")
            begun = datetime.now(timezone.utc)
            try:
                done = runner.measure(plan, make_display(plan), ledger)
            except KeyboardInterrupt:  # before this run measured anything (its checks): keep the points run so far
                interrupted = True
                break
            point["iterations"].append({
                "parameters": plan.parameters(),
                "started_at": reports.timestamp(begun),
                "finished_at": reports.timestamp(datetime.now(timezone.utc)),
                "interrupted": done.interrupted,
                "connectors": done.entries,
            })
            if done.interrupted:
                interrupted = True
                break
        if point["iterations"]:
            point["summary"] = summarize(point["iterations"])
            points.append(point)
        if interrupted:
            break
    failed = any(e["status"] != "ok" for p in points for it in p["iterations"] for e in it["connectors"])
    report = {
        "schema_version": reports.SCHEMA_VERSION,
        "kind": "sweep",
        "test": base.test,
        "status": "interrupted" if interrupted else ("failed" if failed else "ok"),
        "interrupted": interrupted,
        "started_at": reports.timestamp(started),
        "finished_at": reports.timestamp(datetime.now(timezone.utc)),
        "sweep": {"variables": list(sweep.variables), "values": sweep.values, "iterations": sweep.iterations},
        "machine": machine_info,
        "points": points,
    }
    if show is not None:
        show(report)
    return runner.BenchOutcome(report, runner.record(report, base.runs_dir))
