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


def test_the_drain_line_says_what_became_of_each_operation_in_flight_at_the_windows_end():
    from loadbench.cli.display import drain_lines

    def entry(name: str, in_flight: int, longest_ms: float, unfinished: int, abandoned: int = 0) -> dict:
        return {"name": name, "errors": {"unfinished": unfinished} if unfinished else {},
                "drain": {"in_flight": in_flight, "operations": in_flight - unfinished, "unfinished": unfinished,
                          "max_latency_ms": longest_ms, "seconds": 0.4, "abandoned": abandoned}}

    # Review finding 10: 4 in flight, all 4 interrupted (failed: unfinished) after up to 567 ms;
    # the line once read as 8 operations, 4 of them "completed".
    old_postgres = {"name": "old-postgres", "errors": {"unfinished": 4},
                    "drain": {"operations": 4, "max_latency_ms": 566.9, "seconds": 0.2, "abandoned": 0}}
    report = {"parameters": {}, "connectors": [
        entry("redis", 4, 2013.5, 0), entry("postgres", 4, 566.9, 4), entry("mysql", 5, 30.0, 2),
        entry("sqlite", 3, 0.0, 3, abandoned=3), entry("rpc", 6, 12.5, 3, abandoned=1), entry("null", 0, 0.0, 0),
        old_postgres, {"name": "old", "errors": {}}]}  # the last: from before the drain was recorded
    # Op timeouts in the drain (failed, kind timeout): longer than any timed (committed) latency.
    timeouts = entry("mariadb", 4, 30_000.0, 0) | {"latency": {"max": 14.2}, "errors": {"timeout": 4}}
    assert drain_lines({"parameters": {}, "connectors": [timeouts]}) == [
        "mariadb: 4 in flight at the window's end: 4 completed after it (longest 30.0 s, a failed one)"]
    assert drain_lines(report) == [
        "redis: 4 in flight at the window's end: 4 completed after it (longest 2.01 s)",
        "postgres: 4 in flight at the window's end: 4 failed (unfinished) after up to 567 ms",
        "mysql: 5 in flight at the window's end: 3 completed after it, 2 failed (unfinished); "
        "the longest that returned took 30.0 ms",
        "sqlite: 3 in flight at the window's end: 3 failed (unfinished) (3 abandoned when the drain ended after 0.40 s)",
        "rpc: 6 in flight at the window's end: 3 completed after it, 3 failed (unfinished) (1 abandoned when the "
        "drain ended after 0.40 s); the longest that returned took 12.5 ms",
        "old-postgres: 4 in flight at the window's end: 4 failed (unfinished) after up to 567 ms"]


def test_the_drain_object_counts_each_operation_in_flight_once():
    from loadbench.report.build import drain_entry

    # 4 returned after the window, all of them interrupted at the drain's end (unfinished).
    assert drain_entry(4, 566_900_000, 0.2, 0, 4) == {
        "in_flight": 4, "operations": 0, "unfinished": 4, "max_latency_ms": 566.9, "seconds": 0.2, "abandoned": 0}
    # 4 completed in the drain, none unfinished.
    assert drain_entry(4, 2_001_000_000, 1.26, 0, 0)["operations"] == 4
    # 2 returned (1 of them interrupted), 1 abandoned: 3 in flight, 2 unfinished, 1 completed.
    assert drain_entry(2, 1_000_000, 0.4, 1, 2) == {
        "in_flight": 3, "operations": 1, "unfinished": 2, "max_latency_ms": 1.0, "seconds": 0.4, "abandoned": 1}
