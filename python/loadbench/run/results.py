"""What the runner and sweeps hand on: typed results of measuring, before any report exists.

The run layer measures; :mod:`loadbench.report.build` turns these into report entries and reports
(``report-v1`` / ``sweep-v1``). Nothing here is a figure of the report: the core's result stays as
the core gave it (``CoreResult``, the bound ``_core.RunResult``), next to what the runner
measured around it (verification, resources, the server's own count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

from loadbench import _core
from loadbench.connectors.spec import ConnectorSpec
from loadbench.run.config import RunPlan

# The core's result of one run (``_core.Run.run``): counters, latency histogram summaries in ns,
# the per-second series, per operation type (read-only attributes; see ``_core.pyi``).
CoreResult = _core.RunResult
# A verification's outcome (``loadbench.run.core.verify``, or ``{"checked": False, "reason"}``
# when it did not finish): a JSON object stored as the entry's ``verification``.
Verification = dict[str, Any]
# The resource usage of one run (:meth:`loadbench.run.resources.ResourceSampler.finish`).
ResourceUsage = dict[str, Any]


@dataclass(frozen=True)
class FailedRun:
    """A connector that could not run, or stopped without a result: ``error`` says why in one
    line (connection refused, prep failed, interrupted during prep ...)."""

    spec: ConnectorSpec
    error: str


@dataclass(frozen=True)
class MeasuredRun:
    """One measured run of a connector (at one concurrency level for the write test).

    ``plan`` is the run's own plan (its level, stream and sequence offsets); ``prep_seconds`` the
    prep before it (None when it did not prep: ``--skip-prep``, or a later level);
    ``server_committed`` what the server itself counted as committed over the run (None when it
    keeps no such count), ``server_committed_error`` why that count could not be read."""

    spec: ConnectorSpec
    plan: RunPlan
    result: CoreResult
    verification: Verification | None
    resources: ResourceUsage | None
    prep_seconds: float | None = None
    server_committed: int | None = None
    server_committed_error: str | None = None
    profile: dict[str, Any] | None = None  # bench --profile: the report's profile section (loadbench.run.profiling)
    faults: list[dict[str, Any]] | None = None  # bench --fault: the fault timeline (loadbench.run.faults)
    audit: dict[str, Any] | None = None  # bench --audit: the ledger's audit (loadbench.run.audit)


ConnectorRun = Union[FailedRun, MeasuredRun]


@dataclass(frozen=True)
class Measurement:
    """Every connector of a plan, in turn: one run each (one per level for the write test)."""

    runs: list[ConnectorRun]
    interrupted: bool


@dataclass(frozen=True)
class BenchRun:
    """A ``bench`` invocation's measurement, with when it ran (UTC) and on what machine."""

    plan: RunPlan
    measurement: Measurement
    started_at: datetime
    finished_at: datetime
    machine: dict[str, Any]


@dataclass(frozen=True)
class SweepIteration:
    """One run of every connector at a sweep point."""

    plan: RunPlan
    started_at: datetime
    finished_at: datetime
    measurement: Measurement


@dataclass
class SweepPoint:
    """A sweep point: the swept variables' values and its iterations (those that ran)."""

    values: dict[str, float]
    iterations: list[SweepIteration] = field(default_factory=list)


@dataclass(frozen=True)
class SweepRun:
    """A sweep's measurement: its points in order, up to an interrupt (``interrupted``)."""

    plan: RunPlan
    variables: tuple[str, ...]
    values: dict[str, list[float]]
    iterations: int
    points: list[SweepPoint]
    interrupted: bool
    started_at: datetime
    finished_at: datetime
    machine: dict[str, Any]
