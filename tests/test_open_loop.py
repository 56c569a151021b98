"""Open loop through the CLI: a fixed rate is met, a stall shows in latency from the intended start
but not in service time, overload is reported (drops under --max-lag, backlog otherwise), retries
are counted, --scatter keeps money conserved, and the .hlog export round-trips."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hdrh.histogram import HdrHistogram

from loadbench.report import store
from loadbench.report.histogram import Histogram, Layout

QUIET = ("--quiet", "--warmup", "0")


def entry_of(cli) -> dict:
    report = cli.only_report()
    store.validate(report)
    return report["connectors"][0]


def test_a_fixed_rate_on_the_null_connector_is_met_within_one_percent(cli):
    result = cli("bench", "--connectors", "null", "--rate", "20000", "--arrival", "regular", "--seconds", "2",
                 "--concurrency", "2", *QUIET)
    assert result.returncode == 0, result.stderr
    entry = entry_of(cli)
    schedule = entry["schedule"]
    assert schedule["target_per_s"] == 20000
    assert schedule["achieved_per_s"] == pytest.approx(20000, rel=0.01)
    assert schedule["sustained"] is True
    assert schedule["scheduled"] == pytest.approx(40000, abs=2)
    assert schedule["lag"]["count"] == entry["samples"]


def test_a_stall_shows_in_latency_but_not_in_service_time(cli):
    stall = {"NULL_DELAY_NS": "5000000", "NULL_STALL_AT_MS": "700", "NULL_STALL_MS": "300"}
    result = cli("bench", "--connectors", "null", "--rate", "1000", "--arrival", "regular", "--seconds", "2",
                 "--concurrency", "8", *QUIET, env=stall)
    assert result.returncode == 0, result.stderr
    entry = entry_of(cli)
    assert entry["latency"]["p99.9"] >= 300  # ms: from the intended start, the freeze is there
    assert entry["schedule"]["service_time"]["p99"] < 20  # ms: from the actual start, it mostly is not
    assert entry["schedule"]["lag"]["max"] > 200


def test_closed_loop_hides_the_same_stall(cli):
    """The contrast the open loop exists for: a closed loop stops sending while the server is frozen."""
    stall = {"NULL_DELAY_NS": "5000000", "NULL_STALL_AT_MS": "700", "NULL_STALL_MS": "300"}
    result = cli("bench", "--connectors", "null", "--seconds", "2", "--concurrency", "8", *QUIET, env=stall)
    assert result.returncode == 0, result.stderr
    entry = entry_of(cli)
    assert entry["schedule"] is None
    assert entry["latency"]["p99"] < 100  # only the operations caught in the freeze saw it


def test_overload_with_max_lag_drops_and_says_so(cli):
    result = cli("bench", "--connectors", "null", "--rate", "2000", "--arrival", "regular", "--max-lag", "0.01",
                 "--seconds", "1", "--concurrency", "1", *QUIET, env={"NULL_DELAY_NS": "2000000"})
    assert result.returncode == 0, result.stderr
    schedule = entry_of(cli)["schedule"]
    assert schedule["dropped"] > 1000
    assert schedule["sustained"] is False
    assert schedule["achieved_per_s"] < 600
    assert "NOT sustained" in result.stdout  # the schedule line under the table says so


def test_overload_without_max_lag_builds_a_backlog(cli):
    result = cli("bench", "--connectors", "null", "--rate", "2000", "--arrival", "regular", "--seconds", "1",
                 "--concurrency", "1", *QUIET, env={"NULL_DELAY_NS": "2000000"})
    assert result.returncode == 0, result.stderr
    schedule = entry_of(cli)["schedule"]
    assert schedule["dropped"] == 0
    assert schedule["unstarted"] > 1000
    assert schedule["sustained"] is False


def test_retries_are_counted_and_money_conserved_in_an_open_loop(cli):
    # SQLite out of the box fails BUSY at once under concurrent writers: the engine retries (and
    # many still fail, beyond the default --max-failure-share: lifted, retries are the point here).
    result = cli("bench", "--rate", "3000", "--seconds", "1.5", "--concurrency", "8", "--alpha", "1.5",
                 "--accounts", "100", *QUIET, "--max-failure-share", "1", env={"SQLITE_MODE": "default"})
    assert result.returncode == 0, result.stderr
    entry = entry_of(cli)
    assert entry["retries"] > 0
    assert entry["retried_errors"].get("busy", 0) > 0
    assert entry["attempts"] == entry["committed"] + entry["rejected"] + entry["failed"] + entry["retries"]
    assert entry["throughput"]["goodput_per_s"] == entry["tps"]
    assert entry["verification"]["passed"]


def test_scatter_moves_the_hot_accounts_and_conserves_money(cli):
    result = cli("bench", "--scatter", "--alpha", "3", "--seconds", "1", "--concurrency", "2", "--accounts", "1000",
                 *QUIET)
    assert result.returncode == 0, result.stderr
    assert entry_of(cli)["verification"]["passed"]
    assert cli.only_report()["parameters"]["scatter"] is True
    with sqlite3.connect(cli.runs / "db" / "loadbench.sqlite") as conn:
        busiest = conn.execute("SELECT id FROM accounts ORDER BY abs(balance - 1000) DESC LIMIT 1").fetchone()[0]
    assert busiest != 1  # at alpha 3 the hottest rank moves the most money; unscattered it is id 1


def test_max_lag_needs_a_rate(cli):
    result = cli("bench", "--max-lag", "0.1", "--seconds", "1")
    assert result.returncode == 2
    assert "--max-lag needs --rate" in result.stderr


def test_hlog_export_round_trips_to_the_same_histogram(cli):
    result = cli("bench", "--connectors", "sqlite,null", "--rate", "4000", "--seconds", "1", "--concurrency", "2",
                 "--accounts", "500", *QUIET)
    assert result.returncode == 0, result.stderr
    (path,) = cli.reports()
    export = cli("export", "--hlog", str(path))
    assert export.returncode == 0, export.stderr
    text = path.with_suffix(".hlog").read_text()
    assert text.startswith("#[Histogram log format version 1.3]")
    report = json.loads(path.read_text())
    intervals = [line for line in text.splitlines() if line.startswith("Tag=")]
    assert [line.split(",")[0] for line in intervals] == ["Tag=sqlite", "Tag=sqlite.service", "Tag=null",
                                                          "Tag=null.service"]
    for line in intervals:
        tag = line.split(",")[0][4:]
        name, _, kind = tag.partition(".")
        entry = next(e for e in report["connectors"] if e["name"] == name)
        stored = entry["schedule"]["service_histogram"] if kind == "service" else entry["histogram"]
        decoded = HdrHistogram.decode(line.split(",", 4)[4])
        assert decoded.get_total_count() == stored["count"]
        buckets = {item.value_iterated_to: item.count_added_in_this_iter_step
                   for item in decoded.get_recorded_iterator()}
        layout = Layout(stored["significant_figures"], stored["highest_trackable_ns"])
        assert {layout.lowest_equivalent(v): c for v, c in buckets.items()} == {v: c for v, c in stored["buckets"]}
        # The same counts give the same percentiles: read back, they are the report's to the nanosecond.
        back = Histogram(layout, {layout.lowest_equivalent(v): c for v, c in buckets.items()},
                         stored["min_ns"], stored["max_ns"])
        summary = entry["schedule"]["service_time"] if kind else entry["latency"]
        for key in store.PERCENTILE_KEYS:
            assert round(back.percentile(float(key)) / 1e6, 6) == summary[f"p{key}"], (tag, key)


def test_export_of_a_bad_report_is_one_line(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = cli("export", "--hlog", str(bad))
    assert result.returncode == 2
    assert "is not a loadbench report" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_trillion_accounts_is_a_key_space_the_engine_handles(cli):
    result = cli("bench", "--connectors", "null", "--accounts", str(10**12), "--alpha", "1.1", "--seconds", "0.5",
                 "--concurrency", "2", "--scatter", *QUIET)
    assert result.returncode == 0, result.stderr
    entry = entry_of(cli)
    assert cli.only_report()["parameters"]["accounts"] == 10**12
    assert entry["committed"] > 10_000
    assert entry["contention"]["exact"] is True
