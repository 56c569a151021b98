"""Reports: the schema rejects what is not a report, writes are atomic, reading a bad file is one
clear error, and the Python histogram reader agrees exactly with the core."""

from __future__ import annotations

import copy
import json
import os

import jsonschema
import pytest

from loadbench.errors import ConfigError
from loadbench.report import merge, store
from loadbench.report.histogram import Histogram, Layout


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    from tests.conftest import Cli

    cli = Cli(tmp_path_factory.mktemp("report"))
    result = cli("bench", "--seconds", "1", "--warmup", "0.1", "--concurrency", "2", "--accounts", "200", "--quiet")
    assert result.returncode == 0, result.stderr
    return cli.only_report()


@pytest.mark.parametrize("mutate", [
    lambda r: r.pop("schema_version"),
    lambda r: r.__setitem__("schema_version", 2),
    lambda r: r["connectors"][0].pop("tps"),
    lambda r: r["connectors"][0].__setitem__("committed", -1),
    lambda r: r["connectors"][0]["latency"].__setitem__("unit", "s"),
    lambda r: r["connectors"][0]["errors"].__setitem__("gremlins", 3),
    lambda r: r["connectors"][0]["histogram"]["buckets"].append([5, 0]),
    lambda r: r["connectors"][0]["verification"].pop("passed"),
    lambda r: r["parameters"].__setitem__("concurrency", 0),
    lambda r: r.__setitem__("connectors", []),
])
def test_schema_rejects_what_is_not_a_report(sample_report, mutate):
    broken = copy.deepcopy(sample_report)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        store.validate(broken)


def test_a_failed_connector_needs_only_its_error(sample_report):
    report = copy.deepcopy(sample_report)
    report["connectors"].append({"name": "x", "kind": "sqlite", "target": "t", "settings": {}, "status": "failed",
                                 "error": "cannot open"})
    store.validate(report)
    report["connectors"][-1]["error"] = None
    with pytest.raises(jsonschema.ValidationError):
        store.validate(report)


def test_load_reads_back_what_bench_wrote(sample_report, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(sample_report))
    assert store.load(path) == sample_report


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("{not json", "is not JSON"),
    ('{"schema_version": 1}', "is not a loadbench report"),
])
def test_load_of_a_bad_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        store.load(path)
    assert "\n" not in str(info.value)


def test_write_atomic_leaves_nothing_behind_when_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "report.json"

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        store.write_atomic(target, "{}")
    assert list(tmp_path.iterdir()) == []


def test_python_histogram_percentiles_equal_the_cores(sample_report):
    entry = sample_report["connectors"][0]
    hist = Histogram.from_report(entry["histogram"])
    assert hist.count == entry["samples"]
    for key in store.PERCENTILE_KEYS:
        assert round(hist.percentile(float(key)) / 1e6, 6) == entry["latency"][f"p{key}"], key
    assert hist.mean_ns == pytest.approx(entry["histogram"]["mean_ns"])


def test_merged_histograms_hold_both(sample_report):
    h = Histogram.from_report(sample_report["connectors"][0]["histogram"])
    merged = h.merge(h)
    assert merged.count == 2 * h.count
    assert merged.percentile(50) == h.percentile(50)
    assert merged.min_ns == h.min_ns and merged.max_ns == h.max_ns
    with pytest.raises(ValueError):
        h.merge(Histogram(Layout(2)))


def test_layout_arithmetic_matches_hdrhistogram():
    layout = Layout(3)
    assert layout.lowest_equivalent(2047) == 2047
    assert layout.lowest_equivalent(2049) == 2048
    assert layout.highest_equivalent(2048) == 2049
    assert layout.lowest_equivalent(1_000_000) == 999_936


def test_report_merge_adds_the_histograms_of_several_reports(cli):
    for seconds in ("0.4", "0.6"):
        result = cli("bench", "--connectors", "sqlite,null", "--seconds", seconds, "--warmup", "0", "--concurrency",
                     "2", "--accounts", "200", "--quiet")
        assert result.returncode == 0, result.stderr
    paths = cli.reports()
    loaded = [store.load(p) for p in paths]
    merged = merge.merge_histograms(loaded)
    assert list(merged) == ["sqlite", "null"]
    for name, (runs, h) in merged.items():
        entries = [e for r in loaded for e in r["connectors"] if e["name"] == name]
        assert runs == 2
        assert h.count == sum(e["samples"] for e in entries)
        assert h.max_ns == max(e["histogram"]["max_ns"] for e in entries)
        one = Histogram.from_report(entries[0]["histogram"]).merge(Histogram.from_report(entries[1]["histogram"]))
        assert h.percentile(99.9) == one.percentile(99.9)
    printed = cli("report", "--merge", *map(str, paths))
    assert printed.returncode == 0, printed.stderr
    assert "merged over 2 report(s)" in printed.stdout and "sqlite" in printed.stdout
