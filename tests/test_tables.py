"""The final tables fit 100 columns without cutting a cell ("…"); --wide shows every column;
latencies carry the unit that suits them."""

from __future__ import annotations

import json

import pytest

COLUMNS_100 = {"COLUMNS": "100"}


def _assert_fits(text: str, width: int = 100) -> None:
    assert "…" not in text, text
    assert max(len(line) for line in text.splitlines()) <= width, text


def test_a_run_table_fits_100_columns_with_adaptive_latency_units(cli):
    result = cli("bench", "--connectors", "sqlite,null", "--config-id", "wal-1", "--seconds", "1.2", "--warmup", "0",
                 "--concurrency", "2", "--accounts", "300", "--max-failure-share", "1", "--quiet", env=COLUMNS_100)
    assert result.returncode == 0, result.stderr
    _assert_fits(result.stdout)
    null_row = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("null"))
    assert " ns" in null_row or " µs" in null_row  # not "0.000 ms"
    assert "0.000" not in result.stdout


def test_wide_shows_every_column_and_still_cuts_no_cell(cli):
    path = cli.bench("--connectors", "sqlite,null", "--seconds", "1.2", "--concurrency", "2", "--accounts", "300")
    compact = cli("report", str(path), env=COLUMNS_100)
    wide = cli("report", str(path), "--wide", env=COLUMNS_100)
    assert compact.returncode == wide.returncode == 0
    _assert_fits(compact.stdout)
    assert "…" not in wide.stdout
    header = next(line for line in wide.stdout.splitlines() if "collisions" in line)
    for column in ("retries", "p95", "p99.9", "collisions", "harness", "server"):
        assert column in header
        assert column not in compact.stdout.split("\n", 3)[2]


def test_a_sweep_table_shows_failed_rejected_and_verify_and_spread_with_iterations(sample_runs):
    sweep = next(p for p in sample_runs.reports() if json.loads(p.read_text()).get("kind") == "sweep")
    result = sample_runs("report", str(sweep), env=COLUMNS_100)
    assert result.returncode == 0
    _assert_fits(result.stdout)
    header = next(line for line in result.stdout.splitlines() if "connector" in line)
    assert {"failed", "rejected", "verify"} <= set(header.split())
    assert "±" in result.stdout  # two iterations per point


@pytest.mark.parametrize("iterations, spread", [("1", False), ("2", True)])
def test_matrix_shows_a_spread_only_when_there_are_iterations(cli, iterations, spread):
    result = cli("matrix", "--concurrency", "1,2", "--connectors", "null", "--seconds", "0.3", "--warmup", "0",
                 "--iterations", iterations, "--quiet", env=COLUMNS_100)
    assert result.returncode == 0, result.stderr
    _assert_fits(result.stdout)
    assert ("±" in result.stdout) == spread


def test_the_table_says_which_window_operations_completed_after_the_window_and_which_never_did():
    from loadbench.cli.display import drain_lines

    def entry(name: str, drained: int, longest_ms: float, unfinished: int) -> dict:
        return {"name": name, "errors": {"unfinished": unfinished} if unfinished else {},
                "drain": {"operations": drained, "max_latency_ms": longest_ms, "seconds": 0.0, "abandoned": 0}}

    report = {"parameters": {}, "connectors": [
        entry("redis", 4, 2013.5, 0), entry("postgres", 0, 0.0, 3), entry("sqlite", 0, 0.0, 0),
        {"name": "old", "errors": {}}]}  # a report from before the drain was recorded
    assert drain_lines(report) == [
        "redis: 4 window operations completed after the window (longest 2.01 s)",
        "postgres: 3 never completed (failed: unfinished)"]
