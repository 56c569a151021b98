"""After a measurement: its report shown, written to ``runs/``, its line appended to
``runs/results.jsonl`` and, for the write test, one results file per configuration; and the
command's exit status (0 ok, 1 a connector failed, 99 a ``--threshold`` breached, 130
interrupted; the first that applies, in the order 130, 1, 99).

The report is shown (``show``: the table) before anything is written, so a full disk cannot take
the figures with it. A failed write is an :class:`~loadbench.errors.OutputError` naming the file
and the reason; nothing half-written stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from loadbench.errors import OutputError
from loadbench.report import build, configuration_results as results, results_log, store, thresholds as limits
from loadbench.run.results import BenchRun, SweepRun

EXIT_INTERRUPTED = 130

Report = dict[str, Any]


@dataclass(frozen=True)
class BenchOutcome:
    """A written report (``report``, at ``path``) and the write test's results files."""

    report: Report
    path: Path
    results_paths: tuple[Path, ...] = ()

    @property
    def exit_code(self) -> int:
        if self.report["interrupted"]:
            return EXIT_INTERRUPTED
        if self.report["status"] != "ok":
            return 1
        return limits.EXIT_BREACHED if limits.breached(self.report.get("thresholds", [])) else 0


def judged(report: Report, thresholds: tuple[limits.Threshold, ...]) -> Report:
    """``report`` with its ``thresholds`` verdicts (none given: unchanged)."""
    if thresholds:
        report["thresholds"] = limits.evaluate(report, thresholds)
    return report


def bench(run: BenchRun, show: Callable[[Report], None] | None = None,
          thresholds: tuple[limits.Threshold, ...] = ()) -> BenchOutcome:
    """Builds the report of a ``bench`` run, judges it by ``thresholds`` (stored in it), shows it
    (``show``), writes and records it, and writes the write test's results files (into
    ``plan.results_dir``)."""
    report = judged(build.bench_report(run), thresholds)
    if show is not None:
        show(report)
    plan = run.plan
    path = record(report, plan.runs_dir)
    written: tuple[Path, ...] = ()
    if plan.concurrency_levels and plan.results_dir:
        try:
            written = results.write_all(report, plan.results_dir)
        except OSError as exc:
            raise OutputError(f"cannot write the results files in {plan.results_dir}: {exc.strerror or exc}") from None
    return BenchOutcome(report, path, written)


def sweep(run: SweepRun, show: Callable[[Report], None] | None = None,
          thresholds: tuple[limits.Threshold, ...] = ()) -> BenchOutcome:
    """Builds the report of a sweep, judges it by ``thresholds``, shows it (``show``), writes and
    records it."""
    report = judged(build.sweep_report(run), thresholds)
    if show is not None:
        show(report)
    return BenchOutcome(report, record(report, run.plan.runs_dir))


def record(report: Report, runs_dir: Path) -> Path:
    """Writes the report and appends its line to ``runs_dir/results.jsonl``; the report's path.
    A failed write is an OutputError naming the file and the reason (nothing half-written stays)."""
    path = store.write(report, runs_dir)
    try:
        results_log.append(runs_dir, report, path)
    except OSError as exc:
        raise OutputError(f"cannot append to {runs_dir / results_log.FILE_NAME}: {exc.strerror or exc}") from None
    return path
