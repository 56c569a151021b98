"""Figures of reports with matplotlib (Agg: no display needed), as PNG, SVG or both.

Each function takes rows of :func:`loadbench.report.table.load_all` (a DataFrame, one row per connector
run) and returns a Figure, so the CLI (``loadbench plot``) and the notebook draw the same ones:

- :func:`tps_by_connector`: committed TPS per connector (bar, with the per-second spread)
- :func:`tps_vs`, :func:`p99_vs`: mean TPS or p99 latency against a swept variable, one line per
  connector (error bars: standard deviation over the iterations)
- :func:`latency_percentiles`: p50 ... p99.99 per connector (log scale)
- :func:`latency_cdf`: the latency distribution from the stored histograms (log scale)
- :func:`tps_timeline`: per-second TPS over the measured window, faults marked (:func:`mark_faults`)
- :func:`failures_timeline`: failed operations per second by kind, faults marked

Needs ``loadbench[analysis]`` (matplotlib, pandas).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

# pandas here rather than at the first table.frame: the drawing processes are forked with it.
import pandas

# Figures on an Agg canvas of their own, not through pyplot: no window, no global backend switched
# (a notebook keeps its inline one), nothing to close.
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, LogFormatter, LogLocator, MaxNLocator, NullLocator

from loadbench import outputs
from loadbench.report import store, table
from loadbench.report.histogram import Histogram

FORMATS = ("png", "svg")  # every format save writes, in the order it writes them
DEFAULT_FORMATS = ("png",)  # of loadbench plot: the vector, interactive view is report --html
DPI = 120  # of the PNG: 960 x 540 pixels for an 8 x 4.5 inch figure
PERCENTILES = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "p99.99_ms")
VARIABLE_LABELS = {"alpha": "Zipf alpha (contention)", "concurrency": "concurrency (workers)", "accounts": "accounts"}


def _count_text(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1 or v == 0 else f"{v:g}"


def latency_tick(ms: float) -> str:
    """A latency in milliseconds as tick text in the unit that suits it: ``100 ns``, ``20 µs``,
    ``5 ms``, ``2 s``."""
    for limit, scale, unit in ((1e-3, 1e6, "ns"), (1.0, 1e3, "µs"), (1e3, 1.0, "ms")):
        if abs(ms) < limit:
            return f"{ms * scale:g} {unit}"
    return f"{ms / 1e3:g} s"


class _PlainLogFormatter(LogFormatter):
    """Log-axis tick labels as plain text through ``text``: matplotlib's default (``10^{-4}``)
    goes through mathtext, which was a third of the time ``loadbench plot`` took. Which ticks get
    a label (decades, and some between them on a short axis) is LogFormatter's choice."""

    def __init__(self, text: Any) -> None:
        super().__init__(labelOnlyBase=False)
        self._text = text

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return str(self._text(x))


def _log_axis(ax: Axes, which: str, text: Any) -> None:
    """A log scale on ``ax``'s ``which`` axis ("x" or "y") whose tick labels are ``text(value)``."""
    if which == "x":
        ax.set_xscale("log")
    else:
        ax.set_yscale("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    # Minor ticks at 2x and 5x only: the default 2x...9x are eight tick objects (mark, grid line,
    # label) a decade, and a latency axis spans up to ten decades.
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    axis.set_major_formatter(_PlainLogFormatter(text))
    axis.set_minor_formatter(_PlainLogFormatter(text))


def _spans_decades(values: Any) -> bool:
    """Whether the positive values span more than 20x: a linear axis would flatten the small ones."""
    values = [v for v in values if v > 0]
    return bool(values) and max(values) > 20 * min(values)


def _tps_axis(ax: Axes, values: Any) -> None:
    """Thousands separators; a log scale when the values span more than 20x (a null connector
    beside a database), so that every bar or line stays visible."""
    if _spans_decades(values):
        _log_axis(ax, "y", _count_text)
    else:
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(lambda v, _: _count_text(v))


def _figure(title: str, width: float = 8.0) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    # y=1.0 is where matplotlib's automatic placement puts a title when no tick labels are on top;
    # given, it spares that placement measuring the axes on every draw (a tenth of each).
    ax.set_title(title, y=1.0)
    ax.grid(True, axis="y", alpha=0.3)
    return fig, ax


def measured(runs: "pandas.DataFrame") -> "pandas.DataFrame":
    """The rows of runs that measured (not failed)."""
    return runs[runs["status"] != "failed"]


def drawable(runs: "pandas.DataFrame") -> "pandas.DataFrame":
    """The rows of runs with measurements to draw: those that measured, and those that failed after
    measuring (a fault run whose audit found the server down: its ``histogram`` is kept, see
    :func:`loadbench.report.table.frame`). :func:`labels` marks the failed ones."""
    return runs[(runs["status"] != "failed") | runs["histogram"].notna()]


def _failed(runs: "pandas.DataFrame") -> list[bool]:
    return [status == "failed" for status in runs["status"]]


def _legend(ax: Axes, **kwargs: Any) -> None:
    """A legend when something drawn has a label (matplotlib warns of an empty one otherwise)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _say_if_empty(ax: Axes, runs: "pandas.DataFrame") -> None:
    """When nothing is drawn on ``ax``, says why in its middle: which runs failed before they
    measured, or that there was nothing to draw."""
    if ax.lines or ax.patches or ax.collections:
        return
    failed = [c for c, f in zip(runs["connector"], _failed(runs)) if f] if len(runs) else []
    text = "\n".join(f"{c}: failed before measuring, nothing drawn" for c in failed) or "nothing measured to draw"
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="tab:red")


def labels(runs: "pandas.DataFrame") -> list[str]:
    """One label per row: the connector, with what tells rows of the same connector apart."""
    several_reports = runs["report"].nunique() > 1
    repeated = runs["iteration"].max() > 0 if len(runs) else False
    found = []
    for r in runs.itertuples():
        parts = [f"{r.connector} (failed)" if r.status == "failed" else r.connector]
        if several_reports:
            parts.append(r.started_at[:19])
        if r.point:
            parts.append(r.point)
        if repeated:
            parts.append(f"iteration {r.iteration + 1}")
        found.append("\n".join(parts))
    return found


def tps_by_connector(runs: "pandas.DataFrame", title: str = "Throughput per connector") -> Figure:
    """Committed TPS per run as bars (a run that failed after measuring: hatched, labelled failed)."""
    everything, runs = runs, drawable(runs)
    fig, ax = _figure(title)
    # A window under one second has no per-second spread (null): no error bar, not a bar of 0.
    spread = runs["tps_per_second_stddev"].astype(float).fillna(0)
    names = labels(runs)
    bars = ax.bar(names, runs["tps"], yerr=spread, capsize=4, color="tab:blue")
    for bar, failed in zip(bars, _failed(runs)):
        if failed:
            bar.set_hatch("//")
            bar.set_facecolor("tab:red")
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in runs["tps"]], padding=3)
    _slant_if_crowded(ax, names)
    _tps_axis(ax, runs["tps"])
    # Room above the tallest bar for its value label, which would otherwise cross the frame.
    top = max((t + e for t, e in zip(runs["tps"], spread)), default=0)
    if top > 0:
        ax.set_ylim(top=top * (3 if ax.get_yscale() == "log" else 1.12))
    ax.set_ylabel("committed transactions per second (TPS)")
    ax.set_xlabel("connector (error bar: standard deviation of per-second TPS)")
    _say_if_empty(ax, everything)
    return fig


def _figure_width(ax: Axes) -> float:
    fig = ax.get_figure(root=True)
    return float(fig.get_figwidth()) if fig is not None else 8.0


def _slant_if_crowded(ax: Axes, names: list[str]) -> None:
    """Category labels that would touch (their widest line over the room each has, at about 7
    points a character) slant 30 degrees, anchored at their right end, so they never overlap."""
    widest = max((len(line) for name in names for line in name.split("\n")), default=0)
    if names and widest * 7 > 0.8 * _figure_width(ax) * 72 / len(names):
        for label in ax.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")


def _mean_vs(runs: "pandas.DataFrame", variable: str, column: str, ylabel: str, title: str) -> Figure:
    runs = measured(runs)
    others = [v for v in VARIABLE_LABELS if v != variable and runs[v].nunique() > 1]
    fig, ax = _figure(title)
    means = []
    for key, group in runs.groupby(["connector", *others], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        stats = group.groupby(variable)[column].agg(["mean", "std"]).reset_index()
        label = ", ".join([str(key[0]), *(f"{o}={v:g}" for o, v in zip(others, key[1:]))])
        ax.errorbar(stats[variable], stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=4, label=label)
        means += list(stats["mean"])
    ax.set_xlabel(VARIABLE_LABELS[variable])
    if variable in ("concurrency", "accounts"):  # whole numbers of workers or rows
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    if column == "tps":
        _tps_axis(ax, means)
    elif _spans_decades(means):  # a null connector's nanoseconds beside a database's milliseconds
        _log_axis(ax, "y", latency_tick)
        ax.set_ylabel(ylabel.replace("(ms, ", "(log scale, "))
    else:
        ax.set_ylim(bottom=0)
    _legend(ax, fontsize="small")
    _say_if_empty(ax, runs)
    return fig


def tps_vs(runs: "pandas.DataFrame", variable: str) -> Figure:
    """Mean TPS over the iterations at each value of ``variable``; one line per connector and
    setting of the other variables that change."""
    return _mean_vs(runs, variable, "tps", "committed TPS (mean over iterations)",
                    f"Throughput vs {VARIABLE_LABELS[variable]}")


def p99_vs(runs: "pandas.DataFrame", variable: str) -> Figure:
    """Mean p99 latency over the iterations at each value of ``variable``, as :func:`tps_vs`."""
    return _mean_vs(runs, variable, "p99_ms", "p99 latency (ms, mean over iterations)",
                    f"p99 latency vs {VARIABLE_LABELS[variable]}")


def latency_percentiles(runs: "pandas.DataFrame", title: str = "Latency percentiles") -> Figure:
    """p50 ... p99.99 per run on HdrHistogram's percentile axis: x = 1/(1-q) on a log scale
    (90 %, 99 %, 99.9 %, ... evenly spaced), so the tail is not squashed above p95."""
    everything, runs = runs, drawable(runs)
    fig, ax = _figure(title)
    qs = [float(p.removeprefix("p").removesuffix("_ms")) for p in PERCENTILES]
    xs = [1 / (1 - q / 100) for q in qs]
    for label, values, failed in zip(labels(runs), runs[list(PERCENTILES)].to_numpy(), _failed(runs)):
        ax.plot(xs, values, marker="o", linestyle="--" if failed else "-", label=label.replace("\n", " "))
    ax.set_xscale("log")
    ticks = [2, 10, 20, 100, 1000, 10000]  # p50, p90, p95, p99, p99.9, p99.99
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(lambda x, _: f"{100 * (1 - 1 / x):g}%")
    ax.set_xlim(1.5, 15000)
    _log_axis(ax, "y", latency_tick)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_xlabel("percentile (HdrHistogram axis: 1/(1-q), log)")
    ax.set_ylabel("latency (log scale)")
    _legend(ax, fontsize="small")
    _say_if_empty(ax, everything)
    return fig


def latency_cdf(histograms: Mapping[str, Histogram], title: str = "Latency distribution") -> Figure:
    """The cumulative distribution of each histogram, from its buckets."""
    fig, ax = _figure(title)
    for label, hist in histograms.items():
        if not hist.count:
            continue
        xs, ys = hist.cdf()
        ax.step([x / 1e6 for x in xs], [100 * y for y in ys], where="post", label=label.replace("\n", " "))
    _log_axis(ax, "x", latency_tick)
    ax.set_ylim(0, 100.5)
    ax.grid(True, axis="x", which="both", alpha=0.2)
    ax.set_xlabel("latency (log scale)")
    ax.set_ylabel("operations at or below (%)")
    _legend(ax, fontsize="small", loc="lower right")
    if not ax.lines:
        ax.text(0.5, 0.5, "no operations measured, nothing drawn", transform=ax.transAxes, ha="center",
                va="center", color="tab:red")
    return fig


def tps_timeline(runs: "pandas.DataFrame", title: str = "Throughput over the measured window") -> Figure:
    """Per-second TPS of each run (a run that failed after measuring: dashed, labelled failed),
    with the faults marked."""
    everything, runs = runs, drawable(runs)
    fig, ax = _figure(title)
    for label, series, failed in zip(labels(runs), runs["tps_series"], _failed(runs)):
        ax.plot(range(1, len(series) + 1), series, marker=".", linestyle="--" if failed else "-",
                label=label.replace("\n", " "))
    longest = max((len(series) for series in runs["tps_series"]), default=1)
    ax.set_xlim(0.5, longest + 0.5)  # a one-second window still gets a whole-second axis
    # min_n_ticks=1: with one whole second in view, MaxNLocator would otherwise fall back to 0.1 steps.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("second of the measured window (s)")
    ax.set_ylabel("committed TPS in that second")
    values = [v for series in runs["tps_series"] for v in series]
    _tps_axis(ax, values)
    if ax.get_yscale() == "linear" and max(values, default=0) > 0:
        # Room above the highest second: the y limits were fixed from the lines alone (a margin of
        # 5 % of their spread, none when steady), which left a steady run's line on the frame.
        ax.set_ylim(0, 1.05 * max(values))
    _say_if_empty(ax, everything)
    mark_faults(ax, everything)
    _legend(ax, fontsize="small")
    return fig


def mark_faults(ax: Axes, runs: "pandas.DataFrame") -> None:
    """Each injected fault of ``runs`` (their ``faults``, bench ``--fault``) on a per-second axis:
    a red band from its injection for as long as it lasted (a sliver for an instant one), a dotted
    line at the injection and its spec at the top. Nothing when there are none."""
    from loadbench.report.sections import fault_lasted_s

    for faults in runs.get("faults", []):
        for f in faults:
            at = f["injected_at_s"]
            ax.axvspan(at, at + max(fault_lasted_s(f) or 0.0, 0.15), color="tab:red", alpha=0.15, linewidth=0)
            ax.axvline(at, color="tab:red", linestyle=":", linewidth=1.2)
            ax.annotate(f["spec"], (at, 1), xycoords=("data", "axes fraction"), xytext=(3, -3),
                        textcoords="offset points", va="top", fontsize="small", color="tab:red")


def failures_timeline(runs: "pandas.DataFrame", title: str = "Failed operations per second, by kind") -> Figure:
    """Failed operations per second of each run and kind over the measured window (a report from
    before the series counted kinds: all kinds together), with the faults marked. Runs that failed
    after measuring are drawn too (labelled failed)."""
    everything, runs = runs, drawable(runs)
    fig, ax = _figure(title)
    longest = 1
    for label, by_kind in zip(labels(runs), runs["failed_series"]):
        for kind, rates in by_kind.items():
            ax.plot(range(1, len(rates) + 1), rates, marker=".", label=f"{label.replace(chr(10), ' ')}: {kind}")
            longest = max(longest, len(rates))
    ax.set_xlim(0.5, longest + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # as tps_timeline's
    ax.set_ylim(bottom=0)
    ax.set_xlabel("second of the measured window (s)")
    ax.set_ylabel("failed operations in that second")
    _say_if_empty(ax, everything)
    mark_faults(ax, everything)
    _legend(ax, fontsize="small")
    return fig


def merged_histograms(runs: "pandas.DataFrame", by: list[str]) -> dict[str, Histogram]:
    """One histogram per group of rows (e.g. per connector, settings and point): the merge of its
    runs'. Labels join the group's values: a number as ``column=value``, text (connector,
    settings) as it is, empty text left out: ``sqlite, mode=wal, concurrency=10``."""
    runs = measured(runs)
    merged = {}
    for key, group in runs.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        parts = [str(k) if isinstance(k, str) else f"{column}={k:g}" for column, k in zip(by, key)]
        merged[", ".join(p for p in parts if p)] = functools.reduce(Histogram.merge, group["histogram"])
    return merged


def save(fig: Figure, out_dir: Path, name: str, formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """Writes ``name.<format>`` atomically for each of ``formats`` (some of :data:`FORMATS`, each
    drawn once, in that order): PNG at ``DPI`` pixels an inch, SVG in points. Returns the paths
    written. Raises ValueError for a format not in :data:`FORMATS` (before writing anything) and
    OSError when a file cannot be written.

    Each format is a draw of the whole figure (50 to 100 ms of CPU). With two, the first draw works
    out where things go and the second keeps it: the constrained layout (it measures every text, as
    costly as a draw), each axis label's distance from its tick labels and the legend's "best" place
    (see :func:`_keep_positions`); the figure keeps its layout engine, and its axis labels and
    legend stay where the first draw put them. SVG text is written as text (``svg.fonttype: none``)
    rather than as glyph outlines: smaller, searchable and quicker."""
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"figure formats {list(formats)!r}: each must be one of {', '.join(FORMATS)}")
    ordered = [fmt for fmt in FORMATS if fmt in formats]
    written: list[Path] = []
    engine = fig.get_layout_engine()
    dpi = fig.get_dpi()
    fig.set_dpi(DPI)  # the positions kept are read from this draw's pixels
    try:
        for fmt in ordered:
            path = out_dir / f"{name}.{fmt}"
            with outputs.replacing(path) as tmp, rc_context({"svg.fonttype": "none"}):
                fig.savefig(tmp, format=fmt, dpi=DPI)
            written.append(path)
            if len(written) == 1 < len(ordered):  # another draw follows: it keeps this one's places
                fig.set_layout_engine("none")
                _keep_positions(fig)
    finally:
        fig.set_layout_engine(engine)
        fig.set_dpi(dpi)
    return written


def _keep_positions(fig: Figure) -> None:
    """Fixes each axis label and legend where the last draw put them, in axes coordinates (the same
    at any resolution), so that the next draw does not work them out again: placing an axis label
    measures every tick label of its axis, and a legend at ``loc="best"`` is tried against every
    point drawn."""
    for ax in fig.axes:
        to_axes = ax.transAxes.inverted()
        for axis in (ax.xaxis, ax.yaxis):
            label = axis.label
            x, y = to_axes.transform(label.get_transform().transform(label.get_position()))
            axis.set_label_coords(x, y)
        legend = ax.get_legend()
        if legend is not None:
            corner = legend.get_window_extent()
            legend.set_loc(tuple(to_axes.transform((corner.x0, corner.y0))))


def context_title(report: dict[str, Any]) -> str:
    """One line of run context for a figure: test, window, concurrency, alpha, when."""
    if store.kind_of(report) == "sweep":
        sweep = report["sweep"]
        what = f"sweep over {', '.join(sweep['variables']) or 'repeated runs'}, {sweep['iterations']} iteration(s)"
    else:
        p = report["parameters"]
        what = f"{p['seconds']:g} s, concurrency {p['concurrency']}, alpha {p['alpha']:g}, {p['accounts']:,} accounts"
    return f"{report['test']}: {what}, {report['started_at'][:16].replace('T', ' ')} UTC"


def figures(runs: "pandas.DataFrame", report: dict[str, Any]) -> dict[str, Figure]:
    """The figures of one report, by file name suffix, each titled with the run's context."""
    return {name: _titled(draw(), report) for name, draw in _figure_makers(runs, report).items()}


def _titled(fig: Figure, report: dict[str, Any]) -> Figure:
    fig.suptitle(context_title(report), fontsize="small", color="0.35")
    return fig


def _figure_makers(runs: "pandas.DataFrame", report: dict[str, Any]) -> dict[str, Callable[[], Figure]]:
    """The figures of one report, by file name suffix, each as the function that draws it: the
    names are known before any figure is drawn, and a process can draw one alone."""
    if store.kind_of(report) == "bench":
        ok = drawable(runs)
        return {
            "tps": functools.partial(tps_by_connector, runs),
            "latency-percentiles": functools.partial(latency_percentiles, runs),
            "latency-cdf": lambda: latency_cdf(dict(zip(labels(ok), ok["histogram"]))),
            "timeline": functools.partial(tps_timeline, runs),
            # Only when something failed: the figure would be empty otherwise.
            **({"failures": functools.partial(failures_timeline, runs)} if any(ok["failed_series"]) else {}),
        }
    variables = [v for v in report["sweep"]["variables"] if len(report["sweep"]["values"][v]) > 1]
    found: dict[str, Callable[[], Figure]] = {}
    for v in variables:
        found[f"tps-vs-{v}"] = functools.partial(tps_vs, runs, v)
        found[f"p99-vs-{v}"] = functools.partial(p99_vs, runs, v)
    if not variables:  # --iterations alone: the runs side by side
        found["tps"] = functools.partial(tps_by_connector, runs, "Throughput per connector and iteration")
    found["latency-cdf"] = lambda: latency_cdf(merged_histograms(runs, ["connector", *variables]),
                                               "Latency distribution (iterations merged)")
    return found


def plot_report(path: Path, report: dict[str, Any], out_dir: Path,
                formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """Writes every figure of ``report`` (read from ``path``) to ``out_dir`` as
    ``<report stem>-<figure>.<format>``, one file per format of ``formats`` (see :func:`save`)."""
    runs = table.frame([(path, report)])
    return [file for name in _figure_makers(runs, report)
            for file in _plot_figure(path, report, runs, out_dir, name, formats)]


def _plot_figure(path: Path, report: dict[str, Any], runs: "pandas.DataFrame", out_dir: Path, name: str,
                 formats: Sequence[str]) -> list[Path]:
    fig = _titled(_figure_makers(runs, report)[name](), report)
    out_dir.mkdir(parents=True, exist_ok=True)
    return save(fig, out_dir, f"{path.stem}-{name}", formats)


# A drawing process's jobs, their rows and the formats, given once, when it starts.
_jobs: Sequence[tuple[Path, dict[str, Any], Path]] = ()
_rows: Sequence["pandas.DataFrame"] = ()
_formats: Sequence[str] = DEFAULT_FORMATS


def _start_worker(jobs: Sequence[tuple[Path, dict[str, Any], Path]], rows: Sequence["pandas.DataFrame"],
                  formats: Sequence[str]) -> None:
    global _jobs, _rows, _formats
    _jobs, _rows, _formats = jobs, rows, formats
    _worker_signals()


def _draw_in_worker(job: int, name: str) -> list[Path]:
    path, report, out_dir = _jobs[job]
    return _plot_figure(path, report, _rows[job], out_dir, name, _formats)


def _worker_signals() -> None:
    # Ctrl-C reaches the whole process group: the parent alone handles it (and leaves no traceback
    # behind); SIGTERM ends a worker at once when the parent's pool ends it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def drawing(jobs: Sequence[tuple[Path, dict[str, Any], Path]],
            formats: Sequence[str] = DEFAULT_FORMATS) -> Iterator[list[Callable[[], list[Path]]]]:
    """:func:`plot_report` of each ``(path, report, out_dir)`` job in ``formats``, as one callable
    per job (in order) that returns the files written or raises what plot_report raised (OSError,
    ValueError).

    The figures are drawn in parallel, one figure a task, in up to one process per core (a figure
    takes matplotlib 0.1 to 0.3 s of CPU; the processes share nothing): a single report's four
    figures as well as many reports'. With one core, or one figure in all, they are drawn in this
    process, a report when its callable is called. Leaving the block early (an error, Ctrl-C)
    cancels the figures not yet begun and waits for those being drawn (their files are written
    whole, see :func:`save`)."""
    rows = [table.frame([(path, report)]) for path, report, _ in jobs]
    tasks = [[(job, name) for name in _figure_makers(rows[job], report)] for job, (_, report, _) in enumerate(jobs)]
    workers = min(sum(map(len, tasks)), _cores())
    if workers < 2:
        yield [functools.partial(plot_report, *job, formats) for job in jobs]
        return
    # fork on Linux: a worker starts with matplotlib and pandas already imported (a spawned one
    # would import them again, a second or more) and with the jobs and rows as they are here, not
    # pickled; the plot command has no thread of its own running at this point.
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(jobs, rows, tuple(formats))) as pool:
        futures = [[pool.submit(_draw_in_worker, *task) for task in report_tasks] for report_tasks in tasks]
        try:
            yield [functools.partial(_files_written, report_futures) for report_futures in futures]
        finally:
            pool.shutdown(cancel_futures=True)


def _files_written(futures: list["Future[list[Path]]"]) -> list[Path]:
    return [file for future in futures for file in future.result()]


def _cores() -> int:
    """The cores this process may run on (its affinity mask, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
