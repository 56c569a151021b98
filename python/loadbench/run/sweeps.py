"""Sweeps: one bench invocation that runs the same load at many points and writes one report
holding them all (``schema/sweep-v1.schema.json``).

A point sets some of accounts, concurrency and alpha; each point runs ``iterations`` times (all
connectors, one after the other, as ``bench`` does), iteration ``i`` with seed ``seed + i`` so the
spread includes the account choice. Every run of the sweep also takes random streams that no
earlier run of the sweep used on that data store (``stream_offset`` in its entries: the sessions of
every earlier run there), and scenario sequences continue from run to run, so runs on the same data
(with ``--skip-prep``) never replay one another. Every run keeps its full connector entry; each point adds
a summary per connector: mean, sample standard deviation, min and max over its iterations (added when
:func:`loadbench.report.build.sweep_report` makes the result a report).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from loadbench.errors import ConfigError
from loadbench.run import capacity, machine, runner
from loadbench.run.config import RunPlan, check_accounts, check_alpha, check_concurrency
from loadbench.run.results import SweepIteration, SweepPoint, SweepRun

MAX_POINTS = 1000
VARIABLES = ("accounts", "concurrency", "alpha")
_CHECKS: dict[str, Callable[[Any, str], float]] = {"accounts": check_accounts, "concurrency": check_concurrency, "alpha": check_alpha}


@dataclass(frozen=True)
class Sweep:
    variables: tuple[str, ...]  # what varies, outermost first
    values: dict[str, list[float]]  # each variable's values, in order
    iterations: int

    @property
    def points(self) -> list[dict[str, float]]:
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


def _values(variable: str, flag: str, values: list[float]) -> list[float]:
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
    values: dict[str, list[float]] = {}
    lists: tuple[Sequence[float], ...] = (accounts, concurrency, alpha)
    for variable, given in zip(VARIABLES, lists):
        if not given:
            raise ConfigError(f"matrix: {variable} needs at least one value")
        values[variable] = _values(variable, f"matrix {variable}", list(given))
    return _check_size(Sweep(VARIABLES, values, _check_iterations(iterations)))


def repeat(iterations: int) -> Sweep:
    """``bench --iterations N`` alone: one point, run N times."""
    return Sweep((), {}, _check_iterations(iterations))


def at_point(plan: RunPlan, values: Mapping[str, float], **changes: Any) -> RunPlan:
    """``plan`` at a sweep point (``values``: accounts and concurrency as integers, alpha as a
    number), with ``changes`` (a seed)."""
    typed: dict[str, Any] = {k: float(v) if k == "alpha" else int(v) for k, v in values.items()}
    return dataclasses.replace(plan, **typed, **changes)


def run(base: RunPlan, sweep: Sweep, make_display: Callable[[RunPlan], runner.Display],
        say: Callable[[str], None]) -> SweepRun:
    """Runs every point ``sweep.iterations`` times. Ctrl-C ends the sweep after the run in hand; the
    result holds what ran (:func:`loadbench.report.build.sweep_report` makes it a report)."""
    started = datetime.now(timezone.utc)
    machine_info = machine.describe()
    points: list[SweepPoint] = []
    all_points = sweep.points
    for values in all_points:  # a point the machine cannot hold is refused before any point runs
        capacity.check(at_point(base, values))
    interrupted = False
    ledger = runner.RunLedger()  # one for the whole sweep: no run replays an earlier one's streams
    for number, values in enumerate(all_points, start=1):
        label = ", ".join(f"{k} {v:g}" for k, v in values.items()) or "the plan"
        point = SweepPoint(values)
        for i in range(sweep.iterations):
            plan = at_point(base, values, seed=(base.seed + i) % 2**64)
            say(f"point {number}/{len(all_points)} ({label}), iteration {i + 1}/{sweep.iterations}")
            begun = datetime.now(timezone.utc)
            try:
                done = runner.measure(plan, make_display(plan), ledger)
            except KeyboardInterrupt:  # before this run measured anything (its checks): keep the points run so far
                interrupted = True
                break
            point.iterations.append(SweepIteration(plan, begun, datetime.now(timezone.utc), done))
            if done.interrupted:
                interrupted = True
                break
        if point.iterations:
            points.append(point)
        if interrupted:
            break
    return SweepRun(base, sweep.variables, sweep.values, sweep.iterations, points, interrupted, started,
                    datetime.now(timezone.utc), machine_info)
