"""``loadbench report --html``: one self-contained page, opened in a real browser (headless
Chromium through Playwright) with every non-local request refused."""

from __future__ import annotations

import json
import re

import pytest

from loadbench.report import build
from loadbench.report.histogram import Histogram
from tests.browser import visit

BENCH_CHARTS = {"tps", "spectrum", "cdf", "errors", "resources"}


def single_and_sweep(cli):
    reports = cli.reports()
    return next(p for p in reports if "sweep" not in json.loads(p.read_text()).get("kind", "")), \
        next(p for p in reports if json.loads(p.read_text()).get("kind") == "sweep")


def test_the_html_report_is_one_file_that_loads_no_script_or_style_from_elsewhere(sample_runs, tmp_path):
    single, _ = single_and_sweep(sample_runs)
    out = tmp_path / "report.html"
    result = sample_runs("report", str(single), "--html", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out}"
    text = out.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)
    assert "Plotly" in text and len(text) > 1_000_000  # plotly.js inlined


def test_a_run_opens_in_chromium_offline_with_every_chart_drawn(cli, tmp_path):
    result = cli("bench", "--connectors", "sqlite,null", "--seconds", "2.1", "--warmup", "0.5", "--concurrency", "2",
                 "--accounts", "300", "--quiet")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "run.html"
    assert cli("report", str(cli.reports()[0]), "--html", str(out)).returncode == 0
    with visit(out.as_uri()) as page:
        drawn = page.charts()
        assert set(drawn) == BENCH_CHARTS
        report = json.loads(cli.reports()[0].read_text())
        if any(entry["failed"] for entry in report["connectors"]):
            assert all(paths > 0 for paths in drawn.values()), drawn
        else:  # nothing failed: the failures chart says so and draws no line at 0
            assert drawn.pop("errors") == 0 and all(paths > 0 for paths in drawn.values()), drawn
            assert "no failed operations" in page.page.text_content("[data-chart=errors] .annotation")
        # The summary: both connectors, adaptive latency units (the null connector in ns or µs).
        rows = page.page.query_selector_all("table.summary tbody tr")
        cells = [[td.inner_text() for td in r.query_selector_all("td")] for r in rows]
        assert [c[0] for c in cells] == ["sqlite", "null"]
        assert re.fullmatch(r"[\d.,]+ (ns|µs)", cells[1][6]), cells[1]
        context = page.page.inner_text("[data-context]")
        assert "concurrency" in context and "mode=wal" in context and "versions:" in context
        assert page.page.query_selector("[data-chart=tps] .shapelayer path")  # the warmup band
        variance = page.screenshot(tmp_path / "run.png")
        assert page.console_errors == [] and page.external_requests == []
    assert variance > 8, variance


def test_several_reports_show_side_by_side_and_a_sweep_as_curves(sample_runs, tmp_path):
    single, sweep = single_and_sweep(sample_runs)
    out = tmp_path / "both.html"
    assert sample_runs("report", str(single), str(sweep), "--html", str(out)).returncode == 0
    with visit(out.as_uri()) as page:
        assert len(page.page.query_selector_all("[data-context]")) == 2
        assert len(page.page.query_selector_all("table.summary")) == 2
        drawn = page.charts()
        assert {"sweep-tps", "sweep-p99", "spectrum", "cdf", "tps"} <= set(drawn)
        # The failures chart of runs where nothing failed draws no line (it says so).
        failed = sum(e["failed"] for e in json.loads(single.read_text())["connectors"])
        assert all(paths > 0 for name, paths in drawn.items() if name != "errors" or failed), drawn
        legend = page.page.text_content("[data-chart=cdf] .legend")
        assert f"{single.name}: sqlite" in legend and f"{sweep.name}: sqlite alpha=1.2" in legend
        sweep_table = page.page.query_selector_all("table.summary")[1]
        header = [th.inner_text() for th in sweep_table.query_selector_all("th")]
        assert {"failed", "rejected", "verify"} <= set(header)
        variance = page.screenshot(tmp_path / "both.png")
        assert page.console_errors == [] and page.external_requests == []
    assert variance > 8, variance


def test_names_from_a_report_are_shown_as_text_never_as_markup(sample_runs, tmp_path):
    single, _ = single_and_sweep(sample_runs)
    report = json.loads(single.read_text())
    report["connectors"][0]["name"] = "</script><img src=x onerror=alert(1)>"
    report.update(build.keynote_keys(report))  # as bench writes them for such a name
    crafted = tmp_path / "crafted.json"
    crafted.write_text(json.dumps(report))
    out = tmp_path / "crafted.html"
    result = sample_runs("report", str(crafted), "--html", str(out))
    assert result.returncode == 0, result.stderr
    with visit(out.as_uri()) as page:
        assert page.page.query_selector("img") is None
        assert "</script><img" in page.page.inner_text("table.summary")
        assert page.console_errors == [] and page.external_requests == []


@pytest.mark.parametrize("args, message", [
    (["missing.json", "--html", "out.html"], "missing.json"),
    (["{report}", "--html", "no-such-dir/out.html"], "no-such-dir does not exist"),
    (["{report}", "--html", "."], "is a directory"),
    (["{report}", "--html", "out.html", "--csv"], "cannot be combined"),
])
def test_a_bad_report_or_output_path_is_one_line_and_exit_2(sample_runs, args, message):
    single, _ = single_and_sweep(sample_runs)
    result = sample_runs("report", *[a.replace("{report}", str(single)) for a in args])
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (sample_runs.cwd / "out.html").exists()


def test_the_percentile_spectrum_uses_the_hdrhistogram_axis_and_nearest_rank(sample_runs):
    from loadbench.analysis import html_report

    single, _ = single_and_sweep(sample_runs)
    entry = json.loads(single.read_text())["connectors"][0]
    hist = Histogram.from_report(entry["histogram"])
    s = html_report.spectrum(hist)
    # x = 1/(1-q): 10 is p90, 100 is p99; the last point is the max at x = count.
    at = dict(zip(s["q"], s["y"]))
    assert at[90.0] == pytest.approx(hist.percentile(90) / 1e6)
    assert at[99.0] == pytest.approx(hist.percentile(99) / 1e6)
    assert s["x"][s["q"].index(99.0)] == pytest.approx(100)
    assert s["x"][-1] == hist.count and s["y"][-1] == hist.max_ns / 1e6
    assert s["y"] == sorted(s["y"])


def test_chart_titles_axis_titles_legends_and_the_run_context_do_not_overlap_or_read_as_zero(sample_runs, tmp_path):
    single, sweep = single_and_sweep(sample_runs)
    out = tmp_path / "both.html"
    assert sample_runs("report", str(single), str(sweep), "--html", str(out)).returncode == 0
    with visit(out.as_uri()) as page:
        boxes = page.page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map((c) =>
            [c.dataset.chart, Object.fromEntries(['.g-xtitle', '.legend', '.gtitle', '.modebar'].map((s) => {
                const n = c.querySelector(s); if (!n) return [s, null];
                const r = n.getBoundingClientRect(); return [s, [r.left, r.top, r.right, r.bottom]];
            }))]))""")
        context = page.page.text_content("[data-context]")
    assert {"spectrum", "cdf", "tps"} <= set(boxes)

    def overlap(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    for name, box in boxes.items():
        if box[".legend"] is not None:  # the x-axis title above the legend, never over it
            assert not overlap(box[".g-xtitle"], box[".legend"]) and box[".g-xtitle"][3] <= box[".legend"][1], (name, box)
        assert box[".modebar"] is not None and not overlap(box[".gtitle"], box[".modebar"]), (name, box)
    # A closed loop without an operation limit: said so, not "rate 0" and "operations 0".
    assert "rateclosed loop" in context and "operationsno limit" in context, context
