"""The pytest plugin (entry point pytest11), run by pytest's own ``pytester``: the ``loadbench``
fixture runs a bench and returns the typed result; ``--loadbench-baseline`` fails a test whose
run is worse than a stored report beyond the measured noise (compare's rule), passes one that
is not, and a baseline that is not a report stops the session with one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from loadbench.report import build, store

pytest_plugins = ["pytester"]

# About three full seconds: per-second values for compare's noise on both sides.
RUN = 'connectors="null", seconds=3.2, warmup=0, concurrency=1'

TEST_FILE = f"""
from loadbench.run.results import BenchRun, MeasuredRun

def test_null_transfers(loadbench):
    result = loadbench({RUN})
    assert isinstance(result.run, BenchRun)
    assert isinstance(result.measured[0], MeasuredRun)
    assert result.exit_code == 0 and result.report["status"] == "ok"
    assert result.tps("null") > 0 and result.p99_ms("null") >= 0
    print("CHANGES", [(c.metric, c.verdict) for c in result.changes])
"""


@pytest.fixture(scope="module")
def measured_report(tmp_path_factory) -> dict:
    """A real report of the run the test files make (null connector, same length)."""
    from tests.conftest import Cli

    cli = Cli(tmp_path_factory.mktemp("baseline"))
    path = cli.bench("--connectors", "null", "--seconds", "3.2", "--concurrency", "1")
    return json.loads(path.read_text())


def scaled(report: dict, factor: float, path: Path) -> Path:
    """``report`` with every committed count (and so TPS, per second and overall) times ``factor``,
    written to ``path``: a baseline that was that much faster (or slower), and still a valid,
    consistent report (store.load checks it)."""
    crafted = copy.deepcopy(report)
    for entry in crafted["connectors"]:
        for point in entry["series"]["points"]:
            point["committed"] = round(point["committed"] * factor)
        for point, shown in zip(entry["series"]["points"], entry["timeSeries"]):
            shown["tps"] = point["committed"] / point["duration_s"] if point["duration_s"] > 0 else 0.0
        entry["committed"] = round(entry["committed"] * factor)
        entry["tps"] = entry["committed"] / entry["measured_seconds"]
    crafted.update(build.keynote_keys(crafted))
    path.write_text(json.dumps(crafted))
    store.load(path)  # a report loadbench itself accepts
    return path


def test_the_fixture_runs_a_bench_and_returns_the_typed_result(pytester):
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    assert "CHANGES []" in result.stdout.str()  # no baseline: nothing compared


def test_a_run_better_than_the_baseline_passes(pytester, measured_report):
    slower = scaled(measured_report, 0.1, pytester.path / "slow-baseline.json")
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("-s", "--loadbench-baseline", str(slower), "--loadbench-metrics", "tps")
    result.assert_outcomes(passed=1)
    assert "CHANGES [('tps', 'BETTER')]" in result.stdout.str()


def test_a_regression_beyond_the_noise_fails_the_test(pytester, measured_report):
    faster = scaled(measured_report, 10, pytester.path / "fast-baseline.json")
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("--loadbench-baseline", str(faster), "--loadbench-metrics", "tps")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"*loadbench: worse than the baseline {faster} beyond the measured noise*",
        "*null tps: * -> * (-*.* %, Welch t -*",  # a drop (about 90 %: the run itself varies)
    ])


def test_a_setup_change_is_named_beside_a_regression(pytester, measured_report):
    faster = copy.deepcopy(measured_report)
    faster["parameters"]["concurrency"] = 8
    faster["concurrency"] = 8
    path = scaled(faster, 10, pytester.path / "other-setup.json")
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("--loadbench-baseline", str(path), "--loadbench-metrics", "tps")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the setups differ, so the change may not be the code's:*",
                                 "*concurrency: A 8, B 1*"])


@pytest.mark.parametrize("content, message", [
    (None, "--loadbench-baseline: report *missing.json does not exist"),
    ("{}", "--loadbench-baseline: report *missing.json is not a loadbench report (top level: *"),
])
def test_a_bad_baseline_stops_the_session_with_one_line(pytester, content, message):
    baseline = pytester.path / "missing.json"
    if content is not None:
        baseline.write_text(content)
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("--loadbench-baseline", str(baseline))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()


def test_unknown_metrics_are_a_usage_error(pytester):
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("--loadbench-metrics", "tps,p99.9_ms")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --loadbench-metrics: p99.9_ms: expected some of tps, p50_ms, p95_ms, p99_ms*"])


def test_a_breached_threshold_or_bad_option_fails_the_test_with_its_line(pytester):
    pytester.makepyfile(f"""
        def test_breach(loadbench):
            loadbench({RUN}, thresholds=["tps>1e12"])

        def test_bad_option(loadbench):
            loadbench({RUN}, sconds=3)

        def test_allowed(loadbench):
            result = loadbench({RUN}, thresholds=["tps>1e12"], allow_failure=True)
            assert result.exit_code == 99
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*loadbench run failed (exit 99)*", "*threshold tps>1e12: BREACHED, null: tps = *",
                                 "*loadbench: loadbench fixture: unknown option 'sconds'*"])
