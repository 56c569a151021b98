"""Report files from elsewhere: every command that reads one (report, report --csv, report --merge,
plot, compare, export) refuses a crafted file with one line and exit 2, within bounded time and
memory, and writes nothing; what a report's strings hold cannot add a field or a line to what
loadbench writes (.hlog tags, CSV) or act on the terminal (tables); results.jsonl lines that are
not whole, finite, shallow JSON of the right shape are skipped by compare with a warning.

The limits are those of loadbench.report.untrusted and loadbench.report.histogram.check_stored (README: Reports)."""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from loadbench.report import build, results_log
from tests.conftest import Cli

# The issue measured more than 120 s for some of these; a refusal must not depend on the size.
BOUND_S = 30


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A scratch directory with two real reports (null and sqlite, 1.2 s windows) to craft from."""
    cli = Cli(tmp_path_factory.mktemp("crafted"))
    good = cli.bench("--connectors", "null", "--seconds", "1.2", "--concurrency", "1")
    other = cli.bench("--connectors", "null", "--seconds", "1.2", "--concurrency", "1")
    return cli, good, other


def _report(made) -> dict:
    return json.loads(made[1].read_text())


def _write(cli: Cli, name: str, text: str) -> Path:
    path = cli.cwd / name
    path.write_text(text)
    return path


def _with(report: dict, change) -> str:
    crafted = copy.deepcopy(report)
    change(crafted["connectors"][0])
    return json.dumps(crafted, indent=1, allow_nan=True)


def _marker(report: dict, key: str, replacement: str) -> str:
    """The report's text with connectors[0][key] replaced by raw JSON text."""
    return _with(report, lambda e: e.__setitem__(key, "@@MARK@@")).replace('"@@MARK@@"', replacement, 1)


def crafted_files(made) -> dict[str, tuple[Path, str]]:
    cli = made[0]
    report = _report(made)
    point = json.dumps(report["connectors"][0]["series"]["points"][0])
    cases = {
        "nan": (_with(report, lambda e: e.__setitem__("tps", math.nan)), "holds NaN, which is not a JSON number"),
        "infinity": (_with(report, lambda e: e["latency"].__setitem__("p99", math.inf)),
                     "holds Infinity, which is not a JSON number"),
        "overflow": (_marker(report, "tps", "1e999"), "holds the number 1e999, beyond the range of a double"),
        "long number": (_marker(report, "committed", "9" * 40), "holds a number of more than 20 digits"),
        "deep": (_marker(report, "settings", "[" * 200_000 + "]" * 200_000),
                 "nests arrays and objects deeper than 64 levels"),
        "two million buckets": (
            _marker(report, "histogram", json.dumps({**report["connectors"][0]["histogram"], "buckets": "@@B@@"})
                    ).replace('"@@B@@"', "[" + ",".join(f"[{v},1]" for v in range(2_000_000)) + "]"),
            "values, more than the 5,000,000 loadbench reads"),
        "111 MB series": (_marker(report, "timeSeries", "[" + ",".join([point] * (111_000_000 // len(point))) + "]"),
                          "is larger than 64 MiB, the most loadbench reads"),
        "buckets beyond the layout": (
            _marker(report, "histogram", json.dumps({**report["connectors"][0]["histogram"], "buckets": "@@B@@"})
                    ).replace('"@@B@@"', "[" + ",".join(f"[{v},1]" for v in range(40_000)) + "]"),
            "connectors/0/histogram: 40,000 buckets, more than the 33,792 its layout has"),
        "long series": (_with(report, lambda e: e["series"].__setitem__("points", [json.loads(point)] * 100_000)),
                        "connectors/0/series/points: 100,000 per-second points for a window of 1."),
    }
    return {name: (_write(cli, f"{name.replace(' ', '-')}.json", text), message)
            for name, (text, message) in cases.items()}


def bucket_cases(report: dict) -> dict[str, tuple[str, str]]:
    h = report["connectors"][0]["histogram"]
    buckets = h["buckets"]
    assert len(buckets) >= 3, "the sample run needs a few distinct latencies"

    def hist(**changes):
        return _with(report, lambda e: e["histogram"].update(changes))

    return {
        "unsorted": (hist(buckets=[buckets[1], buckets[0], *buckets[2:]]), "buckets/1: "),
        "not a bucket's lowest value": (hist(buckets=[[3000001, h["count"]]], min_ns=3000001, max_ns=3000001),
                                        "buckets/0: 3000001 is not a bucket's lowest value (2998272 is)"),
        "above the layout": (hist(buckets=[[2**62, h["count"]]], highest_trackable_ns=2**62),
                             f"highest_trackable_ns {2**62} is above {2**53} (2^53)"),
        "beyond highest trackable": (hist(buckets=[[4_000_000, h["count"]]], highest_trackable_ns=1_000_000),
                                     "buckets/0: 4000000 is above highest_trackable_ns 1000000"),
        "counts that do not add up": (hist(count=h["count"] + 1), f"but count is {h['count'] + 1}"),
        "min outside the first bucket": (hist(min_ns=h["max_ns"]), "min_ns"),
        "window end before its start": (_with(report, lambda e: e.update(window_end="2000-01-01T00:00:00.000Z")),
                                        "window_end: is before window_start"),
        "not a time": (_with(report, lambda e: e.update(window_start="yesterday")),
                       "window_start: 'yesterday' is not an ISO 8601 time"),
        # Found by review: a doubled or huge tps went into compare as if measured.
        "tps not committed per second": (_with(report, lambda e: e.update(tps=e["tps"] * 2)),
                                         "is not committed / measured_seconds"),
        "tps near the float limit": (_with(report, lambda e: e.update(tps=1.7e308)),
                                     "is not committed / measured_seconds"),
    }


COMMANDS = {
    "report": lambda p, o: ["report", str(p)],
    "report --csv": lambda p, o: ["report", "--csv", str(p)],
    "report --merge": lambda p, o: ["report", "--merge", str(p), str(o)],
    "plot": lambda p, o: ["plot", str(p), "--out", "figs"],
    "compare": lambda p, o: ["compare", str(o), str(p)],
    "export": lambda p, o: ["export", str(p), "--hlog", "--out", "out.hlog"],
}


def _refused(cli: Cli, args: list[str], path: Path, message: str) -> str | None:
    """None when the command gave exactly one line naming the file and the problem, exit 2, in
    bounded time, and wrote nothing; else what went wrong."""
    began = time.monotonic()
    result = cli(*args, timeout=120)
    took = time.monotonic() - began
    lines = result.stderr.strip().splitlines()
    if result.returncode != 2 or len(lines) != 1 or not lines[0].startswith(f"loadbench: error: report {path}") \
            or message not in lines[0]:
        return f"{args}: exit {result.returncode}, stderr {result.stderr[-600:]!r}"
    if took > BOUND_S:
        return f"{args}: took {took:.1f} s"
    if (cli.cwd / "figs").exists() or (cli.cwd / "out.hlog").exists():
        return f"{args}: wrote output"
    return None


# The cases go through every reading command; the others (the same loading code) through two.
IN_EVERY_COMMAND = ("nan", "infinity", "deep", "two million buckets", "111 MB series")


def test_crafted_reports_are_refused_by_every_reading_command(made):
    cli, good, _ = made
    cases = crafted_files(made)
    jobs = [(COMMANDS[command](path, good), path, message) for name, (path, message) in cases.items()
            for command in (COMMANDS if name in IN_EVERY_COMMAND else ("report --csv", "export"))]
    assert len(jobs) == 5 * 6 + 4 * 2
    with ThreadPoolExecutor(max_workers=3) as pool:
        failures = [f for f in pool.map(lambda job: _refused(cli, *job), jobs) if f]
    assert failures == []


def test_histograms_that_their_layout_cannot_hold_are_refused(made):
    cli, good, _ = made
    report = _report(made)
    jobs = []
    for name, (text, message) in bucket_cases(report).items():
        path = _write(cli, f"bucket-{name.replace(' ', '-')}.json", text)
        jobs += [(COMMANDS[command](path, good), path, message) for command in ("report", "export")]
    with ThreadPoolExecutor(max_workers=3) as pool:
        failures = [f for f in pool.map(lambda job: _refused(cli, *job), jobs) if f]
    assert failures == []


EVIL = 'evil, "name"\nTag=forged,0.000,1.000,0.000,HISTFAAAAB\x1b[31m [red]x[/] 100%/'


def test_a_name_cannot_add_a_field_or_a_line_to_the_hlog(made):
    cli, _, _ = made
    report = _report(made)
    report["test"] = "t\n#[StartTime: 0 (forged)]"
    report["connectors"][0]["name"] = EVIL
    report.update(build.keynote_keys(report))  # as bench writes them for such a name
    path = _write(cli, "evil.json", json.dumps(report))
    result = cli("export", str(path), "--hlog", "--out", "evil.hlog")
    assert result.returncode == 0, result.stderr
    text = (cli.cwd / "evil.hlog").read_text()
    lines = text.splitlines()
    assert len(lines) == 6 and lines[5].startswith("Tag=") and not any(l.startswith("Tag=forged") for l in lines)
    assert [l for l in lines if "StartTime" in l][0].startswith("#[StartTime: 1")  # the forged one is escaped
    reader = HistogramLogReader(str(cli.cwd / "evil.hlog"), HdrHistogram(1, 3_600_000_000_000, 3))
    read = []
    while (h := reader.get_next_interval_histogram()) is not None:
        read.append((h.get_tag(), h.get_total_count()))
    assert len(read) == 1
    tag, count = read[0]
    assert urllib.parse.unquote(tag.replace("/", " ")) == EVIL
    assert count == report["connectors"][0]["histogram"]["count"]


def test_a_name_cannot_add_a_field_or_a_row_to_the_csv(made):
    cli, _, _ = made
    report = _report(made)
    report["connectors"][0]["name"] = EVIL
    report.update(build.keynote_keys(report))  # as bench writes them for such a name
    path = _write(cli, "evil-csv.json", json.dumps(report))
    result = cli("report", "--csv", str(path))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1 and rows[0]["connector"] == EVIL and rows[0]["status"] == "ok"


def test_a_name_cannot_act_on_the_terminal_or_break_the_table(made):
    cli, good, _ = made
    report = _report(made)
    report["connectors"][0]["name"] = "e\x1b[31m[red]x[/]\n"  # a colour escape, rich markup (and "[/]"), a newline
    report.update(build.keynote_keys(report))
    path = _write(cli, "evil-table.json", json.dumps(report))
    for args in (["report", str(path)], ["report", "--merge", str(path)], ["compare", str(good), str(path)]):
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "\x1b" not in result.stdout, args
        assert "e\\x1b" in result.stdout, args  # shown escaped, not acted on (a wide table may cut the rest)
    merged = cli("report", "--merge", str(path))
    assert "e\\x1b[31m[red]x[/]\\x0a" in merged.stdout  # markup shown as written


def test_a_report_at_the_edges_of_the_limits_is_read(made):
    cli, good, _ = made
    report = _report(made)
    report["parameters"]["seed"] = 2**64 - 1  # the largest seed: 20 digits
    report["connectors"][0]["settings"] = {"nested": json.loads("[" * 50 + "]" * 50)}  # 55 levels in all
    report["connectors"][0]["client_cpu"]["seconds"] = 1e308
    path = _write(cli, "edges.json", json.dumps(report))
    for args in (["report", str(path)], ["report", "--csv", str(path)], ["export", str(path), "--hlog", "--out", "e.hlog"],
                 ["compare", str(good), str(path)]):
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)
    assert str(2**64 - 1) in cli("report", "--csv", str(path)).stdout


# --- results.jsonl lines read by compare ------------------------------------------------------------

def test_compare_skips_results_lines_that_are_not_whole_finite_json_of_the_right_shape(made):
    cli, good, other = made
    runs = cli.cwd / "lines"
    runs.mkdir()
    log = runs / "results.jsonl"
    sha_a, sha_b = "a" * 40, "b" * 40
    line_a = results_log.line_for(json.loads(good.read_text()), good, {"sha": sha_a, "branch": None, "dirty": False})
    line_b = results_log.line_for(json.loads(other.read_text()), other, {"sha": sha_b, "branch": None, "dirty": False})
    text = json.dumps(line_a)
    crafted = [
        text.replace('"tps": ', '"tps": NaN, "x": ', 1),  # NaN
        text.replace('"points": ', '"deep": ' + "[" * 5000 + "]" * 5000 + ', "points": ', 1),  # deep
        text.replace('"tps": ', '"tps": "fast", "x": ', 1),  # a string where compare needs a number
        text.replace(f'"sha": "{sha_a}"', '"sha": 7', 1),  # not a string: compare could not match it
        '{"padding": "' + "x" * (17 * 1024 * 1024) + '", ' + text[1:],  # longer than a line may be
        text[: len(text) // 2],  # torn
    ]
    assert all(c != text for c in crafted)
    log.write_text("\n".join([text, json.dumps(line_b), *crafted]) + "\n")
    began = time.monotonic()
    result = cli("compare", "aaaa", "bbbb", "--json", "--runs-dir", str(runs))  # the log is read once
    assert time.monotonic() - began < BOUND_S
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"loadbench: warning: {log}:{n}: not a results line, skipped"
                                          for n in range(3, 3 + len(crafted))]
    out = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} in compare --json"))
    assert out["a"].startswith("aaaaaaaaaaaa (bench at ") and out["a"].endswith(f"{line_a['timestamp']})")
    tps = [c for c in out["changes"] if c["metric"] == "tps"]
    assert len(tps) == 1 and tps[0]["a"] == line_a["points"][0]["connectors"][0]["tps"]


def test_compare_refuses_a_non_finite_report_instead_of_calling_it_noise(made):
    cli, good, _ = made
    nan = _write(cli, "nan-compare.json", _with(_report(made), lambda e: e.__setitem__("tps", math.nan)))
    for extra in ([], ["--json"], ["--fail-on-regression"]):
        result = cli("compare", str(good), str(nan), *extra)
        assert result.returncode == 2 and "nan" not in result.stdout.lower(), extra
        assert result.stderr.strip() == (f"loadbench: error: report {nan} holds NaN, which is not a JSON number "
                                         "(only finite numbers are)")


def test_the_fast_item_check_never_accepts_what_the_schema_refuses(made):
    # Long arrays are checked by functions generated from their item schemas (loadbench.report.untrusted);
    # jsonschema has the last word on what they refuse, so they must never accept more than it.
    import jsonschema

    from loadbench.report import store, untrusted

    report = _report(made)
    entry = report["connectors"][0]
    schema = store.schema()
    defs = schema["$defs"]
    items = {
        "series point": (defs["measured_connector"]["properties"]["series"]["properties"]["points"]["items"],
                         entry["series"]["points"][0]),
        "timeSeries point": (defs["measured_connector"]["properties"]["timeSeries"]["items"], entry["timeSeries"][0]),
        "bucket": (defs["stored_histogram"]["properties"]["buckets"]["items"], entry["histogram"]["buckets"][0]),
        "resource sample": (defs["resources"]["properties"]["samples"]["items"], entry["resources"]["samples"][0]),
    }
    values = [None, True, False, 0, -1, 1, 2.0, 2.5, -0.5, 1e300, "", "x", [], {}, [1, 2], [1, 2, 3], [-1, 1], [1, 0]]
    checked = 0
    for name, (item_schema, item) in items.items():
        ok = untrusted._Generator(lambda ref: untrusted._pointer(schema, ref.partition("#")[2])).function(item_schema)
        validator = jsonschema.Draft202012Validator({**item_schema, "$defs": defs})  # its $refs are to #/$defs
        variants = [item, *values]
        if isinstance(item, dict):
            variants += [{**item, key: v} for key in item for v in values]
            variants += [{k: v for k, v in item.items() if k != key} for key in item]
        for variant in variants:
            assert ok(variant) == validator.is_valid(variant), (name, variant)
            checked += 1
    assert checked > 400
