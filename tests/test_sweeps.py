"""Sweeps and the matrix: one report per invocation holding every point, each with the full
statistics of every run and the mean and spread over its iterations."""

from __future__ import annotations

import json
import signal
import time

import pytest

from loadbench.errors import ConfigError
from loadbench.report import store
from loadbench.run import sweeps

SHORT = ("--seconds", "0.3", "--warmup", "0", "--quiet")


def test_contention_sweep_holds_every_alpha_with_full_statistics(cli):
    result = cli("bench", "--contention-tests", "0", "1", "0.5", "3", "--accounts", "300",
                 "--connectors", "sqlite,null", *SHORT)
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    store.validate(report)
    assert report["kind"] == "sweep"
    assert report["sweep"] == {"variables": ["alpha"], "values": {"alpha": [0.0, 0.5, 1.0]}, "iterations": 1}
    assert [p["values"] for p in report["points"]] == [{"alpha": 0.0}, {"alpha": 0.5}, {"alpha": 1.0}]
    for point in report["points"]:
        (iteration,) = point["iterations"]
        assert iteration["parameters"]["alpha"] == point["values"]["alpha"]
        assert iteration["parameters"]["concurrency"] == 3
        sqlite, null = iteration["connectors"]
        assert sqlite["committed"] > 0 and sqlite["histogram"]["count"] == sqlite["samples"]
        assert sqlite["verification"]["passed"]
        assert null["name"] == "null" and null["resources"]["harness"]["cpu_percent_mean"] >= 0
        summary = {s["name"]: s for s in point["summary"]}
        assert summary["sqlite"]["tps"]["mean"] == sqlite["tps"]
        assert summary["sqlite"]["tps"]["stddev"] is None  # one iteration: no spread
    (line,) = cli.results()
    assert line["kind"] == "sweep" and len(line["points"]) == 3


def test_concurrency_sweep_repeats_each_point_and_reports_mean_and_spread(cli):
    result = cli("bench", "--concurrency-tests", "1", "3", "2", "0.8", "--iterations", "3", "--connectors", "null",
                 *SHORT)
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    store.validate(report)
    assert [p["values"] for p in report["points"]] == [{"concurrency": 1}, {"concurrency": 3}]
    for point in report["points"]:
        runs = [it["connectors"][0] for it in point["iterations"]]
        assert len(runs) == 3
        assert [it["parameters"]["alpha"] for it in point["iterations"]] == [0.8] * 3
        # Iteration i draws from seed + i, so the spread covers the account choice too.
        seeds = [it["parameters"]["seed"] for it in point["iterations"]]
        assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]
        (summary,) = point["summary"]
        tps = [r["tps"] for r in runs]
        assert summary["runs"] == 3
        assert summary["tps"]["mean"] == pytest.approx(sum(tps) / 3)
        assert (summary["tps"]["min"], summary["tps"]["max"]) == (min(tps), max(tps))
        assert summary["tps"]["stddev"] > 0
    assert "concurrency" in result.stdout and "±" in result.stdout


def test_iterations_alone_repeat_the_single_point(cli):
    result = cli("bench", "--iterations", "2", "--connectors", "null", *SHORT)
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    assert report["sweep"]["variables"] == []
    (point,) = report["points"]
    assert len(point["iterations"]) == 2


def test_matrix_from_a_toml_file_runs_the_whole_grid_and_flags_win(cli):
    (cli.cwd / "grid.toml").write_text('accounts = [100, 200]\nconcurrency = [1, 2]\nalpha = [0.0, 9.0]\n'
                                       'seconds = 5\nwarmup = 0\nconnectors = ["sqlite"]\n')
    result = cli("matrix", "grid.toml", "--alpha", "1.2", "--seconds", "0.2", "--quiet")
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    store.validate(report)
    assert report["sweep"]["variables"] == ["accounts", "concurrency", "alpha"]
    assert [tuple(p["values"].values()) for p in report["points"]] == [
        (100, 1, 1.2), (100, 2, 1.2), (200, 1, 1.2), (200, 2, 1.2)]
    for point in report["points"]:
        (iteration,) = point["iterations"]
        assert iteration["parameters"]["seconds"] == 0.2
        (entry,) = iteration["connectors"]
        # Each accounts value is seeded before its runs.
        assert entry["verification"]["accounts"] == point["values"]["accounts"]


def test_an_interrupted_sweep_keeps_the_points_that_ran(cli):
    proc = cli.popen("bench", "--contention-tests", "0", "2", "1", "2", "--connectors", "null", "--seconds", "2",
                     "--warmup", "0")
    for line in proc.stderr:
        if "point 2/3" in line:
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    report = cli.only_report()
    store.validate(report)
    assert report["interrupted"] is True and report["status"] == "interrupted"
    assert [p["values"]["alpha"] for p in report["points"]] == [0.0, 1.0]
    assert report["points"][1]["iterations"][0]["interrupted"] is True


@pytest.mark.parametrize("args, message", [
    (["bench", "--contention-tests", "2", "1", "0.5", "4"], "--contention-tests: START (2) must be <= END (1)"),
    (["bench", "--contention-tests", "0", "1", "0", "4"], "--contention-tests: STEP must be > 0, got 0"),
    (["bench", "--contention-tests", "0", "1", "-1", "4"], "--contention-tests: STEP must be > 0, got -1"),
    (["bench", "--contention-tests", "-1", "1", "1", "4"], "--contention-tests must be >= 0, got -1"),
    (["bench", "--contention-tests", "0", "1", "0.5", "0"], "--contention-tests must be >= 1, got 0"),
    (["bench", "--contention-tests", "0", "1", "x", "4"], "'x' is not a valid float"),
    (["bench", "--concurrency-tests", "0", "4", "2", "1.0"], "--concurrency-tests must be >= 1, got 0"),
    (["bench", "--concurrency-tests", "8", "4", "2", "1.0"], "--concurrency-tests: START (8) must be <= END (4)"),
    (["bench", "--concurrency-tests", "1", "4", "1", "1.0", "--alpha", "2"],
     "--alpha cannot be combined with --concurrency-tests"),
    (["bench", "--contention-tests", "0", "1", "1", "2", "--concurrency-tests", "1", "2", "1", "0"],
     "use one of --contention-tests and --concurrency-tests"),
    (["bench", "--iterations", "0"], "--iterations must be >= 1, got 0"),
    (["bench", "--contention-tests", "0", "1000", "0.5", "2"], "2,001 points, more than 1,000"),
    (["matrix", "--alpha", "0,fast"], "--alpha '0,fast': every value must be a number"),
    (["matrix", "--concurrency", "1,0"], "matrix concurrency must be >= 1, got 0"),
    (["matrix", "--accounts", "100,200", "--skip-prep"], "--skip-prep cannot be used with more than one accounts"),
    (["matrix", "missing.toml"], "matrix file missing.toml does not exist"),
])
def test_bad_sweep_input_is_one_line_and_exit_2(cli, args, message):
    result = cli(*args, "--seconds", "0.2")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("loadbench: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert cli.reports() == []


@pytest.mark.parametrize("toml, message", [
    ("alpha = [0.5\n", "bad.toml is not TOML"),
    ("alpah = [0.5]\n", "bad.toml: unknown key 'alpah'"),
    ('concurrency = ["many"]\n', "bad.toml: concurrency must be an integer, got 'many'"),
    ("concurrency = [true]\n", "bad.toml: concurrency must be an integer, got True"),
    ("alpha = []\n", "bad.toml: alpha is an empty list"),
    ("connectors = [1]\n", "bad.toml: connectors must be a list of names"),
])
def test_a_bad_matrix_file_is_one_line_and_exit_2(cli, toml, message):
    (cli.cwd / "bad.toml").write_text(toml)
    result = cli("matrix", "bad.toml")
    assert result.returncode == 2
    assert result.stderr.startswith("loadbench: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert cli.reports() == []


def test_inclusive_range_reaches_the_end_without_float_drift():
    assert sweeps.inclusive_range("f", 0, 0.3, 0.1) == [0.0, 0.1, 0.2, 0.3]
    assert sweeps.inclusive_range("f", 1, 10, 4) == [1, 5, 9]
    with pytest.raises(ConfigError):
        sweeps.inclusive_range("f", 0, float("inf"), 1)


def test_a_report_of_one_kind_does_not_pass_for_the_other(cli):
    cli.bench("--connectors", "null", "--seconds", "0.2")
    single = cli.only_report()
    single["kind"] = "sweep"
    with pytest.raises(Exception):
        store.validate(single)
    (path,) = cli.reports()
    path.write_text(json.dumps({**json.loads(path.read_text()), "kind": "sweep"}))
    with pytest.raises(ConfigError, match="is not a loadbench report"):
        store.load(path)
