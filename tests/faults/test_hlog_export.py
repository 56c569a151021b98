"""The .hlog export, read back with the ``hdrhistogram`` package's own log reader: each connector's
interval lies at its own measured window (wall clock, UTC), in the order the connectors ran, with
the counts identical; and the percentile rank rules: the report's percentiles are loadbench's rule
(nearest rank, ceil(p/100 * N)) applied to the buckets read back from the .hlog, and hdrh's own
answer is its documented rule (count rounded to nearest, int(p/100 * N + 0.5)), at 5, 383 and
10^6 values."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from loadbench.report import hlog, store
from loadbench.report.histogram import Histogram, Layout, rank

HIGHEST = 3_600_000_000_000


def read_back(path) -> list[HdrHistogram]:
    reader = HistogramLogReader(str(path), HdrHistogram(1, HIGHEST, 3))
    found = []
    while (h := reader.get_next_interval_histogram()) is not None:
        found.append(h)
    return found


def epoch_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def test_each_connectors_interval_is_its_own_window_in_the_order_they_ran(cli):
    path = cli.bench("--connectors", "null,sqlite", "--seconds", "0.5", "--warmup", "0.2", "--accounts", "200")
    report = json.loads(path.read_text())
    assert cli("export", str(path), "--hlog").returncode == 0
    intervals = read_back(path.with_suffix(".hlog"))
    entries = report["connectors"]
    assert [h.get_tag() for h in intervals] == ["null", "sqlite"]
    for h, entry in zip(intervals, entries):
        # the window on the wall clock, to the ms the report and the log both keep
        assert h.get_start_time_stamp() == pytest.approx(epoch_ms(entry["window_start"]), abs=1)
        assert h.get_end_time_stamp() == pytest.approx(epoch_ms(entry["window_end"]), abs=1)
        assert entry["window_end"] > entry["window_start"] >= report["started_at"]
        assert h.get_total_count() == entry["histogram"]["count"] == entry["samples"]
    # one after the other: sqlite's window opened after null's closed (and its prep and warmup)
    assert intervals[1].get_start_time_stamp() >= intervals[0].get_end_time_stamp() + 200
    # "--out -" is standard output, the same bytes, never a file named "-"
    to_stdout = cli("export", str(path), "--hlog", "--out", "-")
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout == path.with_suffix(".hlog").read_text()
    assert not (cli.cwd / "-").exists()


def buckets_of(h: HdrHistogram) -> dict[int, int]:
    """``{lowest value of the bucket: count}`` of a histogram read back."""
    return {h.get_lowest_equivalent_value(item.value_iterated_to): item.count_at_value_iterated_to
            for item in h.get_recorded_iterator()}


def hdrh_rule(buckets: dict[int, int], p: float, layout: Layout) -> int:
    """HdrHistogram's documented rule (HdrHistogram_c and the Python package): the count rounded
    to nearest, int(p/100 * N + 0.5), at least 1; the value is the top of the bucket reaching it."""
    total = sum(buckets.values())
    wanted = max(int(p / 100 * total + 0.5), 1)
    seen = 0
    for value in sorted(buckets):
        seen += buckets[value]
        if seen >= wanted:
            return layout.highest_equivalent(value)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("operations", [5, 383, 1_000_000])
def test_the_reports_percentiles_are_loadbench_rule_on_the_buckets_read_back(cli, operations):
    path = cli.bench("--connectors", "null", "--operations", str(operations), "--concurrency", "1")
    report = json.loads(path.read_text())
    entry = report["connectors"][0]
    assert entry["histogram"]["count"] == operations
    assert cli("export", str(path), "--hlog").returncode == 0
    (h,) = read_back(path.with_suffix(".hlog"))
    buckets = buckets_of(h)
    assert buckets == {v: c for v, c in entry["histogram"]["buckets"]}  # the counts identical
    layout = Layout(3, entry["histogram"]["highest_trackable_ns"])
    ours = Histogram(layout, buckets, entry["histogram"]["min_ns"], entry["histogram"]["max_ns"])
    for key in store.PERCENTILE_KEYS:
        p = float(key)
        assert round(ours.percentile(p) / 1e6, 6) == entry["latency"][f"p{key}"], key
        assert h.get_value_at_percentile(p) == hdrh_rule(buckets, p, layout), key


def synthetic(values: list[int]) -> dict:
    """A stored histogram of ``values`` (each in a bucket of its own below 2048 ns)."""
    return {"unit": "ns", "layout": "hdr-log-linear", "lowest_discernible_ns": 1, "highest_trackable_ns": HIGHEST,
            "significant_figures": 3, "count": len(values), "min_ns": min(values), "max_ns": max(values),
            "mean_ns": sum(values) / len(values), "stddev_ns": 0.0, "clamped": 0,
            "buckets": [[v, 1] for v in values]}


@pytest.mark.parametrize("n, p, ours, theirs", [
    (383, 99.0, 380, 379),      # the case: 379.17 -> nearest rank 380, rounded 379
    (1999, 99.95, 1999, 1998),  # 1998.0005
    (5, 50.0, 3, 3),            # 2.5: a fraction of one half or more rounds up, so both agree
    (5, 90.0, 5, 5),            # 4.5
    (5, 99.0, 5, 5),            # 4.95
    (1000, 99.9, 999, 999),     # exactly 999 (the double 99.9 is a little above 99.9: no rank past it)
    (1000, 99.99, 1000, 1000),  # 999.9
])
def test_the_two_rules_on_distinct_values_through_the_hlog_codec(n, p, ours, theirs):
    # Values 1..n ns, each in a bucket of its own (buckets are 1 ns wide below 2048 ns): a value is its rank.
    stored = synthetic(list(range(1, n + 1)))
    decoded = HdrHistogram.decode(hlog.to_hdr(stored).encode())
    assert decoded.get_total_count() == n
    assert decoded.get_value_at_percentile(p) == theirs
    assert Histogram.from_report(stored).percentile(p) == ours


@pytest.mark.parametrize("n, p, ours, theirs", [
    *[(1_000_000, float(k), int(float(k) * 10_000), int(float(k) * 10_000)) for k in store.PERCENTILE_KEYS],
    (1_000_070, 99.0, 990_070, 990_069),  # 990,069.3
    (1_000_001, 99.9, 999_001, 999_001),  # 999,000.999
])
def test_the_two_rules_at_a_million_values(n, p, ours, theirs):
    assert rank(p, n) == ours
    assert max(int(p / 100 * n + 0.5), 1) == theirs


def test_a_sweep_exports_every_run_tagged_with_its_point_and_iteration(cli):
    result = cli("bench", "--contention-tests", "0", "1", "1", "1", "--iterations", "2", "--connectors", "null",
                 "--seconds", "0.2", "--warmup", "0", "--quiet")
    assert result.returncode == 0, result.stderr
    (path,) = cli.reports()
    assert cli("export", str(path), "--hlog").returncode == 0
    intervals = read_back(path.with_suffix(".hlog"))
    assert [h.get_tag() for h in intervals] == ["null/alpha=0/i1", "null/alpha=0/i2", "null/alpha=1/i1", "null/alpha=1/i2"]
    starts = [h.get_start_time_stamp() for h in intervals]
    ends = [h.get_end_time_stamp() for h in intervals]
    assert all(ends[i] <= starts[i + 1] for i in range(3))  # in the order they ran, one after the other
    report = json.loads(path.read_text())
    entries = [e for p in report["points"] for it in p["iterations"] for e in it["connectors"]]
    assert [h.get_total_count() for h in intervals] == [e["histogram"]["count"] for e in entries]
