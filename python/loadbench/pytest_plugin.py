"""loadbench as a pytest plugin (entry point ``pytest11``): benchmarks as regression tests in CI.

The ``loadbench`` fixture runs a bench in the test's process and returns a :class:`BenchResult`::

    def test_transfers_stay_fast(loadbench):
        result = loadbench(connectors="sqlite", seconds=3, concurrency=4, thresholds=["p99_ms<50"])
        assert result.tps("sqlite") > 100

Keyword arguments are bench's options by their Python names (:class:`loadbench.run.config.PlanOptions`:
``seconds``, ``warmup``, ``concurrency``, ``alpha``, ``accounts``, ``rate``, ``test`` for a scenario
...), plus ``connectors`` (``"sqlite,postgres"``), ``config_id``, each connector's own flags by
their destination (``pg_mode``, ``isolation``, ...), ``thresholds`` (``--threshold``
expressions), ``env_file`` and ``runs_dir`` (default: the test's ``tmp_path``, so a SQLite file
and the report stay with the test).

The test fails when the bench cannot run (bad input: the one line bench would print), when a
connector fails (exit 1) or a threshold is breached (exit 99), unless ``allow_failure=True``; and,
with ``--loadbench-baseline REPORT``, when the run is WORSE than that stored report by
``loadbench compare``'s rule (:mod:`loadbench.analysis.compare`: Welch's t of the per-second values
beyond 3, latency beyond the histogram's precision) in a metric of ``--loadbench-metrics``
(default: tps, p50_ms, p95_ms, p99_ms). The message names each regression and what differs
between the baseline's setup and this run's (a regression on another machine is not the code's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from loadbench import connectors
from loadbench.analysis import compare as comparison
from loadbench.errors import LoadbenchError
from loadbench.report import headlines, publish, store, thresholds as limits
from loadbench.run import presets, runner
from loadbench.run.config import PlanOptions, make_plan
from loadbench.run.results import BenchRun, MeasuredRun
from loadbench.settings import Settings

_BASELINE = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("loadbench", "loadbench benchmarks")
    group.addoption("--loadbench-baseline", metavar="REPORT", default=None,
                    help="Compare every run of the loadbench fixture with this stored report (bench's JSON) and "
                         "fail a test whose run is worse beyond the measured noise (loadbench compare's rule).")
    group.addoption("--loadbench-metrics", metavar="M,M", default=",".join(headlines.PER_SECOND),
                    help="Metrics the baseline check judges, comma-separated (default: %(default)s).")


def pytest_configure(config: pytest.Config) -> None:
    """Reads the baseline once, before any test: a path that is not a loadbench report stops the
    session with one line (pytest's usage error, exit 4)."""
    path = config.getoption("loadbench_baseline", None)
    metrics = [m.strip() for m in str(config.getoption("loadbench_metrics", "") or "").split(",") if m.strip()]
    unknown = [m for m in metrics if m not in headlines.PER_SECOND]
    if unknown or not metrics:
        raise pytest.UsageError(f"--loadbench-metrics: {', '.join(unknown) or 'empty'}: expected some of "
                                f"{', '.join(headlines.PER_SECOND)} (the metrics with a measured noise)")
    if path is None:
        return
    try:
        report = store.load(Path(path))
    except LoadbenchError as exc:
        raise pytest.UsageError(f"--loadbench-baseline: {exc}") from None
    config.stash[_BASELINE] = {"path": str(path), "report": report, "metrics": tuple(metrics)}


@dataclass(frozen=True)
class BenchResult:
    """One bench run by the fixture: ``run`` the typed measurement (:mod:`loadbench.run.results`),
    ``report`` the report-v1 as written at ``path``, ``exit_code`` what ``loadbench bench`` would
    exit with (0, 1, 99, 130), ``changes`` its comparison with the baseline (empty without one)
    and ``differences`` what differs between the baseline's setup and this run's."""

    run: BenchRun
    report: dict[str, Any]
    path: Path
    exit_code: int
    changes: list[comparison.Change] = field(default_factory=list)
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def measured(self) -> list[MeasuredRun]:
        return [r for r in self.run.measurement.runs if isinstance(r, MeasuredRun)]

    def headline(self, connector: str) -> dict[str, Any]:
        """The headline figures of ``connector`` (its name, or its label with a preset):
        ``tps``, ``p50_ms`` ... ``max_ms`` (see :mod:`loadbench.report.headlines`). KeyError when
        the run has no such connector."""
        for head in headlines.points(self.report)[0]["connectors"]:
            if head["name"] == connector or head["name"].split(" ")[0] == connector:
                found: dict[str, Any] = head
                return found
        raise KeyError(connector)

    def tps(self, connector: str) -> float:
        """Committed operations per second of ``connector`` over its measured window."""
        return float(self.headline(connector)["tps"])

    def p99_ms(self, connector: str) -> float:
        """p99 latency of ``connector``, ms."""
        return float(self.headline(connector)["p99_ms"])

    @property
    def regressions(self) -> list[comparison.Change]:
        return [c for c in self.changes if c.verdict == comparison.WORSE]


def run_bench(*, connectors_: str | None = None, config_id: str | None = None, thresholds: tuple[str, ...] = (),
              env_file: Path | None = None, runs_dir: Path, **options: Any) -> tuple[BenchRun, publish.BenchOutcome]:
    """A bench as ``loadbench bench`` runs it (quietly), its report written to ``runs_dir``;
    bad input raises :class:`~loadbench.errors.ConfigError` before any load."""
    judged = limits.parse_all(thresholds)
    settings = Settings.load(env_file)
    choices = {f.dest: options.pop(f.dest, None) for f in connectors.flags()}
    specs = connectors.select(settings, runs_dir, connectors_, choices)
    specs = presets.select(config_id, specs, settings, base_by_default=options.get("test") == "write")
    unknown = sorted(set(options) - set(PlanOptions.__dataclass_fields__))
    if unknown:
        from loadbench.errors import ConfigError

        raise ConfigError(f"loadbench fixture: unknown option {unknown[0]!r} (bench's options by their Python names: "
                          f"{', '.join(PlanOptions.__dataclass_fields__)})")
    options.setdefault("results_dir", runs_dir / "results")
    plan = make_plan(settings, specs, PlanOptions(runs_dir=runs_dir, **options))
    limits.check_connectors(judged, [(s.name, s.label) for s in plan.connectors])
    from loadbench.cli.display import LiveDisplay, entries

    done = runner.bench(plan, entries(LiveDisplay(plan, quiet=True)))
    return done, publish.bench(done, thresholds=judged)


def _failure_message(result: BenchResult) -> str:
    lines = [f"loadbench run failed (exit {result.exit_code}), report {result.path}"]
    for entry in result.report["connectors"]:
        if entry["status"] == "failed":
            lines.append(f"  {entry['error']}")
        elif entry["status"] == "verification_failed":
            lines.append(f"  {entry['name']}: verification failed")
    lines += [f"  {line}" for line in limits.lines(result.report.get("thresholds", [])) if "BREACHED" in line]
    return "\n".join(lines)


def _regression_message(result: BenchResult, baseline: str) -> str:
    lines = [f"loadbench: worse than the baseline {baseline} beyond the measured noise (report {result.path}):"]
    for c in result.regressions:
        lines.append(f"  {c.connector} {c.metric}: {c.a:g} -> {c.b:g} ({c.change_percent:+.1f} %, Welch t {c.t:+.1f})"
                     if c.change_percent is not None and c.t is not None and c.a is not None and c.b is not None
                     else f"  {c.connector} {c.metric}: WORSE")
    if result.differences:
        lines.append("  note: the setups differ, so the change may not be the code's:")
        lines += [f"    {comparison.describe_difference(d)}" for d in result.differences]
    return "\n".join(lines)


@pytest.fixture
def loadbench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., BenchResult]]:
    """Runs a bench with keyword arguments (see the module's docstring) and returns its
    :class:`BenchResult`; fails the test on a failed run, a breached threshold or (with
    ``--loadbench-baseline``) a regression."""
    baseline = request.config.stash.get(_BASELINE, None)

    def bench(*, connectors: str | None = None, allow_failure: bool = False, runs_dir: Path | str | None = None,
              thresholds: tuple[str, ...] | list[str] = (), **options: Any) -> BenchResult:
        where = Path(runs_dir) if runs_dir is not None else tmp_path / "runs"
        try:
            done, outcome = run_bench(connectors_=connectors, thresholds=tuple(thresholds), runs_dir=where, **options)
        except LoadbenchError as exc:
            pytest.fail(f"loadbench: {exc}", pytrace=False)
        result = BenchResult(done, outcome.report, outcome.path, outcome.exit_code)
        if baseline is not None:
            side_a = comparison.Side(baseline["path"], headlines.points(baseline["report"]))
            side_b = comparison.Side(str(outcome.path), headlines.points(outcome.report))
            try:
                changes = comparison.compare(side_a, side_b)
            except LoadbenchError as exc:
                pytest.fail(f"loadbench: --loadbench-baseline: {exc}", pytrace=False)
            judged = [c for c in changes if c.metric in baseline["metrics"]]
            result = BenchResult(done, outcome.report, outcome.path, outcome.exit_code, judged,
                                 comparison.differences(baseline["report"], outcome.report))
        if result.exit_code != 0 and not allow_failure:
            pytest.fail(_failure_message(result), pytrace=False)
        if result.regressions:
            pytest.fail(_regression_message(result, baseline["path"] if baseline else ""), pytrace=False)
        return result

    yield bench
