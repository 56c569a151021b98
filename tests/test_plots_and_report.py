"""plot draws every figure of a report as a valid PNG image (SVG or both when asked); report prints a report's
tables again or a flat CSV of it; bad input is one line and exit 2."""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import xml.etree.ElementTree as ElementTree

import pytest
from PIL import Image

from loadbench.report.histogram import Histogram

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def single_and_sweep(cli):
    single, sweep = sorted(cli.reports(), key=lambda p: "sweep" in p.name)
    return single, sweep


def assert_valid_images(paths):
    for path in paths:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data.startswith(PNG_MAGIC), path
            with Image.open(path) as image:
                image.verify()
                assert image.size[0] >= 600 and image.size[1] >= 300
        else:
            root = ElementTree.fromstring(data)
            assert root.tag.endswith("svg"), path
            assert len(data) > 5000  # axes, labels and data, not an empty canvas


SINGLE_FIGURES = ("tps", "latency-percentiles", "latency-cdf", "timeline")


def test_plot_writes_every_figure_of_a_single_run_and_a_sweep(sample_runs, tmp_path):
    single, sweep = single_and_sweep(sample_runs)
    result = sample_runs("plot", str(single), str(sweep), "--out", str(tmp_path / "figs"))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "figs").iterdir())
    expected = [f"{single.stem}-{name}.png" for name in SINGLE_FIGURES]
    expected += [f"{sweep.stem}-{name}.png" for name in ("tps-vs-alpha", "p99-vs-alpha", "latency-cdf")]
    assert written == sorted(expected)  # PNG alone by default
    assert result.stdout.split() == [str(tmp_path / "figs" / name) for name in expected]
    assert_valid_images((tmp_path / "figs").iterdir())


def test_plot_writes_svg_or_both_formats_when_asked(sample_runs, tmp_path):
    single, _ = single_and_sweep(sample_runs)
    runs = {fmt: sample_runs("plot", str(single), "--format", fmt, "--out", str(tmp_path / fmt))
            for fmt in ("png", "svg", "both")}
    for fmt, result in runs.items():
        assert result.returncode == 0, result.stderr
        expected = [f"{single.stem}-{name}.{suffix}" for name in SINGLE_FIGURES
                    for suffix in (("png", "svg") if fmt == "both" else (fmt,))]
        assert sorted(p.name for p in (tmp_path / fmt).iterdir()) == sorted(expected)
        assert result.stdout.split() == [str(tmp_path / fmt / name) for name in expected]
        assert_valid_images((tmp_path / fmt).iterdir())
    for name in SINGLE_FIGURES:
        # The PNG is drawn first either way: the same file; the SVG alone lays itself out, as the
        # SVG of both keeps the PNG's layout: the same elements and text.
        png = f"{single.stem}-{name}.png"
        assert (tmp_path / "both" / png).read_bytes() == (tmp_path / "png" / png).read_bytes(), png
        svg = f"{single.stem}-{name}.svg"
        texts = [sorted(t.text or "" for t in ElementTree.parse(tmp_path / fmt / svg).iter() if t.tag.endswith("text"))
                 for fmt in ("svg", "both")]
        assert texts[0] == texts[1] and len(texts[0]) > 5, svg


@pytest.mark.parametrize("value", ["pdf", "PNG", ""])
def test_a_bad_figure_format_is_one_line_and_exit_2_and_nothing_is_written(sample_runs, tmp_path, value):
    single, _ = single_and_sweep(sample_runs)
    result = sample_runs("plot", str(single), "--format", value, "--out", str(tmp_path / "figs"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"loadbench: error: Invalid value for '--format': {value!r} is not one of 'png', 'svg', 'both'."]
    assert not (tmp_path / "figs").exists()


def test_save_refuses_a_format_it_does_not_write_before_writing_anything(sample_runs, tmp_path):
    from loadbench.analysis import plots
    from loadbench.report import table

    single, _ = single_and_sweep(sample_runs)
    fig = plots.tps_by_connector(table.load_all([single]))
    for formats in (("png", "pdf"), ()):
        with pytest.raises(ValueError, match="each must be one of png, svg"):
            plots.save(fig, tmp_path, "figure", formats)
    assert list(tmp_path.iterdir()) == []


def test_plot_titles_and_axes_carry_units(sample_runs):
    from loadbench.analysis import plots
    from loadbench.report import table

    single, sweep = single_and_sweep(sample_runs)
    runs = table.load_all([single, sweep])
    sweep_runs = runs[runs["kind"] == "sweep"]
    for fig in (plots.tps_by_connector(runs[runs["kind"] == "bench"]), plots.tps_vs(sweep_runs, "alpha"),
                plots.tps_timeline(runs[runs["kind"] == "bench"])):
        ax = fig.axes[0]
        assert ax.get_title() and "TPS" in ax.get_ylabel() and ax.get_xlabel()
    # Latency axes: log scale, each tick label a number with the unit that suits it (no 10^-4 ms).
    cdf = plots.latency_cdf(plots.merged_histograms(runs, ["connector"]))
    percentiles = plots.latency_percentiles(runs)
    for fig, axis in ((cdf, "x"), (percentiles, "y")):
        ax = fig.axes[0]
        assert getattr(ax, f"get_{axis}label")() == "latency (log scale)"
        assert getattr(ax, f"get_{axis}scale")() == "log"
        fig.canvas.draw()
        ticks = [t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")() if t.get_text()]
        assert len(ticks) >= 2 and all(re.fullmatch(r"\d+(\.\d+)? (ns|µs|ms|s)", t) for t in ticks), ticks
    assert cdf.axes[0].get_ylabel() == "operations at or below (%)"
    # The percentile axis names p50 ... p99.99 where they lie.
    names = [t.get_text() for t in percentiles.axes[0].get_xticklabels()]
    assert names == ["50%", "90%", "95%", "99%", "99.9%", "99.99%"], names
    assert [plots.latency_tick(ms) for ms in (0.00004, 0.02, 5, 2000)] == ["40 ns", "20 µs", "5 ms", "2 s"]
    # sqlite and null differ by more than 20x: a log axis keeps both visible.
    assert plots.tps_vs(sweep_runs, "alpha").axes[0].get_yscale() == "log"



def test_a_one_second_timeline_has_a_whole_second_tick(sample_runs):
    from loadbench.analysis import plots
    from loadbench.report import table

    single, _ = single_and_sweep(sample_runs)
    runs = table.load_all([single])
    fig = plots.tps_timeline(runs.assign(tps_series=[series[:1] for series in runs["tps_series"]]))
    fig.canvas.draw()
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert [t for t in ax.get_xticks() if low <= t <= high] == [1]


def test_a_steady_timeline_leaves_room_above_its_line(sample_runs):
    from loadbench.analysis import plots
    from loadbench.report import table

    single, _ = single_and_sweep(sample_runs)
    runs = table.load_all([single])
    sqlite = runs[runs["connector"] == "sqlite"]
    fig = plots.tps_timeline(sqlite.assign(tps_series=[[1000.0, 1000.0, 1000.0]]))
    assert fig.axes[0].get_ylim() == (0, 1050)  # not the line on the frame at 1,000


def test_a_saved_figure_keeps_its_axis_labels_and_legend_where_its_first_draw_put_them(sample_runs, tmp_path):
    # save draws the SVG with the positions the PNG's draw found (not measured again): drawn once
    # more with them, the PNG is the same to the pixel.
    from loadbench.analysis import plots
    from loadbench.report import table

    single, sweep = single_and_sweep(sample_runs)
    runs = table.load_all([single, sweep])
    for fig in (plots.latency_percentiles(runs[runs["kind"] == "bench"]),  # legend at "best"
                plots.tps_by_connector(runs[runs["kind"] == "sweep"])):  # slanted labels
        alone = plots.save(fig, tmp_path, "alone")  # one draw: nothing to keep, the figure left as it was
        assert [p.name for p in alone] == ["alone.png"]
        assert fig.axes[0].yaxis.label.get_transform() != fig.axes[0].transAxes
        png, _ = plots.save(fig, tmp_path, "figure", plots.FORMATS)
        again = io.BytesIO()
        fig.savefig(again, format="png", dpi=plots.DPI)
        with Image.open(png) as first, Image.open(again) as second:
            assert first.tobytes() == second.tobytes()
        ax = fig.axes[0]  # kept, not found again: labels in axes coordinates, the legend's corner given
        assert ax.xaxis.label.get_transform() == ax.transAxes and ax.yaxis.label.get_transform() == ax.transAxes
        assert ax.get_legend() is None or isinstance(ax.get_legend()._loc, tuple)


def test_drawing_in_one_process_or_in_several_writes_the_same_figures(sample_runs, tmp_path, monkeypatch):
    from loadbench.analysis import plots
    from loadbench.report import store

    jobs = [(path, store.load(path), tmp_path / "several") for path in single_and_sweep(sample_runs)]
    with plots.drawing(jobs, plots.FORMATS) as results:
        several = [result() for result in results]
    monkeypatch.setattr(plots, "_cores", lambda: 1)
    with plots.drawing([(path, report, tmp_path / "one") for path, report, _ in jobs], plots.FORMATS) as results:
        one = [result() for result in results]
    assert [[p.name for p in files] for files in several] == [[p.name for p in files] for files in one]
    assert {p.suffix for p in sum(several, [])} == {".png", ".svg"}
    for a, b in zip(sum(several, []), sum(one, [])):
        if a.suffix == ".png":
            assert a.read_bytes() == b.read_bytes(), a.name


def test_plot_defaults_to_a_plots_directory_beside_the_report(cli):
    report = cli.bench("--connectors", "null", "--seconds", "0.3")
    result = cli("plot", str(report))
    assert result.returncode == 0, result.stderr
    assert len(list((cli.runs / "plots").glob("*.png"))) == 4
    assert list((cli.runs / "plots").glob("*.svg")) == []


@pytest.mark.parametrize("content, message", [
    (None, "report nope.json does not exist"),
    ("{", "report nope.json is not JSON"),
    ('{"schema_version": 1, "test": "x"}', "report nope.json is not a loadbench report"),
])
@pytest.mark.parametrize("command", ["plot", "report"])
def test_a_bad_report_is_one_line_and_exit_2_and_nothing_is_written(cli, command, content, message):
    if content is not None:
        (cli.cwd / "nope.json").write_text(content)
    result = cli(command, "nope.json", *(["--out", "figs"] if command == "plot" else []))
    assert result.returncode == 2
    assert result.stderr.startswith("loadbench: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not (cli.cwd / "figs").exists()


def test_report_prints_the_tables_again(sample_runs):
    single, sweep = single_and_sweep(sample_runs)
    entries = json.loads(single.read_text())["connectors"]
    out = sample_runs("report", str(single)).stdout
    for e in entries:
        assert f"{e['tps']:,.0f}" in out and e["name"] in out
    out = sample_runs("report", str(sweep)).stdout
    assert "sweep over alpha" in out and "1.2" in out and "±" in out


def test_report_csv_has_one_flat_row_per_connector_run(sample_runs):
    single, sweep = single_and_sweep(sample_runs)
    result = sample_runs("report", str(sweep), "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    report = json.loads(sweep.read_text())
    runs = [(p["values"]["alpha"], i, e) for p in report["points"] for i, it in enumerate(p["iterations"])
            for e in it["connectors"]]
    assert len(rows) == len(runs) == 2 * 2 * 2
    for row, (alpha, iteration, entry) in zip(rows, runs):
        assert float(row["alpha"]) == alpha and int(row["iteration"]) == iteration
        assert row["connector"] == entry["name"]
        assert float(row["tps"]) == pytest.approx(entry["tps"])
        assert float(row["p99_ms"]) == entry["latency"]["p99"]
        assert row["settings"] == ", ".join(f"{k}={v}" for k, v in sorted(entry["settings"].items()))
    single_rows = list(csv.DictReader(io.StringIO(sample_runs("report", str(single), "--csv").stdout)))
    assert [r["connector"] for r in single_rows] == ["sqlite", "null"]
    assert single_rows[0]["verified"] == "True" and single_rows[1]["verified"] == ""


def test_load_all_reads_a_directory_and_skips_what_is_not_a_report(sample_runs, tmp_path):
    from loadbench.report import table

    (tmp_path / "junk.json").write_text("{}")
    for path in sample_runs.reports():
        (tmp_path / path.name).write_text(path.read_text())
    with pytest.warns(UserWarning, match="junk.json is not a loadbench report"):
        runs = table.load_all(tmp_path)
    assert len(runs) == 2 + 8
    assert set(runs["kind"]) == {"bench", "sweep"}
    sqlite = runs[(runs["connector"] == "sqlite") & (runs["kind"] == "sweep")]
    total = functools.reduce(Histogram.merge, sqlite["histogram"])
    assert total.count == sqlite["committed"].sum() + sqlite["rejected"].sum()


def test_runs_of_one_connector_with_different_settings_are_never_merged(sample_runs, tmp_path):
    # Two copies of one report, the second as if run with another setting (--pg-mode, --inflight,
    # a journal mode...): grouped by connector and settings, each keeps its own histogram.
    from loadbench.analysis import plots
    from loadbench.report import table

    single, _ = single_and_sweep(sample_runs)
    report = json.loads(single.read_text())
    (tmp_path / "a.json").write_text(json.dumps(report))
    sqlite = next(e for e in report["connectors"] if e["name"] == "sqlite")
    sqlite["settings"] = {**sqlite["settings"], "mode": "other-mode", "inflight": "4"}
    (tmp_path / "b.json").write_text(json.dumps(report))
    runs = table.load_all(tmp_path)
    merged = plots.merged_histograms(runs, ["connector", "settings", "concurrency", "alpha"])
    sqlite_groups = sorted(label for label in merged if label.startswith("sqlite"))
    assert len(sqlite_groups) == 2, merged.keys()
    assert any("inflight=4, mode=other-mode" in label for label in sqlite_groups), sqlite_groups
    (null_group,) = [label for label in merged if label.startswith("null")]  # same settings: merged
    null_runs = runs[runs["connector"] == "null"]
    assert merged[null_group].count == null_runs["committed"].sum() + null_runs["rejected"].sum()
    for label in sqlite_groups:  # one run each, not both
        assert merged[label].count == sqlite["committed"] + sqlite["rejected"]


def test_a_run_that_failed_before_measuring_says_so_on_its_figures(sample_runs):
    import warnings

    from loadbench.analysis import plots
    from loadbench.report import table

    single, _ = single_and_sweep(sample_runs)
    runs = table.load_all([single]).head(1).copy()
    runs["status"], runs["histogram"], runs["tps_series"] = "failed", None, [[]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plots.tps_timeline(runs).axes[0]
    assert ax.get_legend() is None and not ax.get_lines()
    assert [t.get_text() for t in ax.texts] == [f"{runs['connector'].iloc[0]}: failed before measuring, nothing drawn"]
