"""What the user sees: a live line per connector while it runs (rich, on stderr, only when
stderr is a terminal) and a table per run at the end."""

from __future__ import annotations

import sys
from typing import Any, Callable, Protocol

from rich import box
from rich.console import Console, JustifyMethod
from rich.live import Live
from rich.table import Table

from loadbench import _core
from loadbench._core import Phase
from loadbench.connectors.spec import ConnectorSpec
from loadbench.report import sections
from loadbench.report.build import entry_of
from loadbench.report.table import entry_label, latency_text, verification_verdict
from loadbench.run.config import RunPlan
from loadbench.run.results import ConnectorRun
from loadbench.run.runner import Display


def fmt_ms(ms: float) -> str:
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


class EntryDisplay(Protocol):
    """A display that shows each finished connector by its report entry (:class:`LiveDisplay`, the
    demo's bars); :func:`entries` makes it a runner's :class:`~loadbench.run.runner.Display`."""

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: object) -> object: ...

    def phase(self, spec: ConnectorSpec, phase: str) -> None: ...

    def progress(self, spec: ConnectorSpec, p: _core.Progress) -> None: ...

    def finished(self, spec: ConnectorSpec, entry: dict[str, Any]) -> None: ...


class _Entries:
    def __init__(self, display: EntryDisplay):
        self._display = display

    def __enter__(self) -> object:
        return self._display.__enter__()

    def __exit__(self, *exc: object) -> object:
        return self._display.__exit__(*exc)

    def phase(self, spec: ConnectorSpec, phase: str) -> None:
        self._display.phase(spec, phase)

    def progress(self, spec: ConnectorSpec, progress: _core.Progress) -> None:
        self._display.progress(spec, progress)

    def finished(self, spec: ConnectorSpec, run: ConnectorRun) -> None:
        self._display.finished(spec, entry_of(run))


def entries(display: EntryDisplay) -> Display:
    """``display`` as the runner's display: each finished run shown as its report entry."""
    return _Entries(display)


class CallbackLive:
    """A rich Live table redrawn only when we call :meth:`redraw` (from the run's progress callback,
    on the engine's monitor thread): no refresh thread, since a second thread sharing the file table
    would slow every system call of a one-worker run. Subclasses draw it in ``_render``."""

    def __init__(self, console: Console, enabled: bool):
        self.console = console
        self.live_enabled = enabled
        self._live: Live | None = None

    def _render(self) -> Table:
        raise NotImplementedError

    def __enter__(self) -> CallbackLive:
        if self.live_enabled:
            self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)  # draws it a last time

    def redraw(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)


class LiveDisplay(CallbackLive):
    """Progress of the connectors of one plan, as a live table (terminal) or plain lines."""

    def __init__(self, plan: RunPlan, quiet: bool = False, console: Console | None = None):
        console = console or Console(stderr=True)
        super().__init__(console, enabled=not quiet and console.is_terminal)
        self.plan = plan
        self.quiet = quiet
        self.rows: dict[str, list[str]] = {spec.label: [spec.label, "waiting", "", "", ""] for spec in plan.connectors}

    def _render(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("connector", "left"), ("phase", "left"), ("elapsed", "right"), ("TPS (last s)", "right"),
            ("p99 ms (last s)", "right"))
        for column, justify in columns:
            table.add_column(column, justify=justify)
        for row in self.rows.values():
            table.add_row(*row)
        return table

    def _update(self, spec: ConnectorSpec, phase: str, elapsed: str = "", tps: str = "", p99: str = "") -> None:
        self.rows[spec.label] = [spec.label, phase, elapsed, tps, p99]
        self.redraw()

    def _say(self, text: str) -> None:
        if not self.quiet and not self.live_enabled:
            print(text, file=sys.stderr, flush=True)

    def phase(self, spec: ConnectorSpec, phase: str) -> None:
        self._update(spec, phase)
        self._say(f"{spec.label}: {phase}")

    def progress(self, spec: ConnectorSpec, p: _core.Progress) -> None:
        total = self.plan.warmup_seconds if p.phase == Phase.warmup else self.plan.seconds
        elapsed = ""
        if p.phase in (Phase.warmup, Phase.measuring):
            # A fixed number of operations ends the window, not the clock: no total to show.
            bounded = p.phase == Phase.warmup or not self.plan.operations
            elapsed = f"{min(p.elapsed_seconds, total):.1f}/{total:g} s" if bounded else f"{p.elapsed_seconds:.1f} s"
        tps = f"{p.last_second_tps:,.0f}" if p.phase == Phase.measuring and p.committed else ""
        p99 = fmt_ms(p.last_second_p99_ns / 1e6) if tps else ""
        self._update(spec, p.phase.name, elapsed, tps, p99)

    def finished(self, spec: ConnectorSpec, entry: dict[str, Any]) -> None:
        if entry["status"] == "failed":
            self._update(spec, "failed")
            # A connector that ran and failed by the rule: its error line names it already.
            self._say(entry["error"] if "failure" in entry else f"{spec.label}: failed: {entry['error']}")
            return
        self._update(spec, "done" if entry["status"] == "ok" else entry["status"], f"{entry['measured_seconds']:.1f} s",
                     f"{entry['tps']:,.0f}", fmt_ms(entry["latency"]["p99"]))
        self._say(f"{spec.label}: {entry['status']}, {entry['tps']:,.0f} TPS over {_window(entry['measured_seconds'])}"
                  + (f" at concurrency {entry['sessions']}" if self.plan.concurrency_levels else ""))


def schedule_lines(report: dict[str, Any]) -> list[str]:
    """Open loop: per connector, the rate asked for and achieved, and how late operations started."""
    lines = []
    for e in report["connectors"]:
        schedule = e.get("schedule")
        if not schedule:
            continue
        lag = schedule["lag"]
        service = schedule["service_time"]
        verdict = "sustained" if schedule["sustained"] else "NOT sustained"
        line = (f"{e['name']}: target {schedule['target_per_s']:,.0f}/s ({schedule['arrival']}), achieved "
                f"{schedule['achieved_per_s']:,.0f}/s, {verdict}: {schedule['dropped']:,} dropped, "
                f"{schedule['unstarted']:,} never started")
        if lag:
            line += f"; start lag p50 {fmt_ms(lag['p50'])} ms, p99 {fmt_ms(lag['p99'])} ms, max {fmt_ms(lag['max'])} ms"
        if service:
            line += f"; service time p99 {fmt_ms(service['p99'])} ms (latency above counts from the intended start)"
        lines.append(line)
    return lines


def _usage(side: dict[str, Any] | None) -> str:
    """``CPU %, RSS`` of one side of a run's resources: "97% 45 MB"."""
    if side is None:
        return "-"
    # Non-breaking spaces: a narrow terminal wraps the table between cells, not inside this one.
    return f"{side['cpu_percent_mean']:,.0f}%\u00a0{side['rss_bytes_mean'] / 1e6:,.0f}\u00a0MB"


def resource_cells(entry: dict[str, Any]) -> tuple[str, str]:
    """The harness and server cells of a measured entry (reports from before sampling: blank)."""
    resources = entry.get("resources")
    if resources is None:
        return "", ""
    return _usage(resources["harness"]), _usage(resources["server"])




def _title(report: dict[str, Any]) -> str:
    p = report["parameters"]
    window = (f"{p['operations']:,} operations" if p["operations"] and p["seconds"] >= 86400
              else f"{p['seconds']:g} s (+{p['warmup_seconds']:g} s warmup)")
    if "scenario" in p:
        levels = p.get("concurrency_levels") or [p["concurrency"]]
        ops = ", ".join(o["name"] for o in p["scenario"]["operations"])
        what = f"{window}, concurrency {','.join(map(str, levels))}, operations {ops}"
    else:
        what = f"{window}, concurrency {p['concurrency']}, alpha {p['alpha']:g}, {p['accounts']:,} accounts"
    return f"{report['test']}: {what}" + (" (interrupted)" if report["interrupted"] else "")


def comparison_table(report: dict[str, Any]) -> Table:
    """The write test's comparison: committed writes per second per preset (rows) and concurrency
    level (columns), with the failed writes beside them."""
    levels = report["parameters"].get("concurrency_levels") or [report["parameters"]["concurrency"]]
    title = f"{report['test']}: writes/s (failed writes) by configuration and concurrency"
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("configuration")
    for level in levels:
        table.add_column(f"c={level}", justify="right")
    rows: dict[str, dict[int, str]] = {}
    for e in report["connectors"]:
        label = e["name"] + (f" {e['configuration_id']}" if e.get("configuration_id") else "")
        cells = rows.setdefault(label, {})
        if "latency" in e:  # measured (a level that failed by the rule too, marked)
            cells[e["sessions"]] = (f"{e['tps']:,.0f}" + (f" ({e['failed']:,})" if e["failed"] else "")
                                    + (" FAILED" if e["status"] == "failed" else ""))
    for label, cells in rows.items():
        table.add_row(label, *[cells.get(level, "-") for level in levels])
    return table


def no_per_second_statistics(entry: dict[str, Any]) -> bool:
    """A measured entry whose window had no full second (``series.tps_mean`` null): its TPS is
    committed / a window under a second, with no per-second spread to judge it by."""
    return "series" in entry and entry["series"]["tps_mean"] is None


SHORT_WINDOW_NOTE = "* measured window under 1 s: no per-second statistics (tps_mean, tps_stddev null)"


def _table(title: str, caption: str, wide: bool) -> Table:
    """A final table: compact (no rules between columns, two spaces: 100 columns hold it) unless
    ``wide``. No cell is ever cut short: a long name wraps inside its cell instead. The table is at
    least as wide as its title's and caption's longest line: rich wraps them to the table's width,
    which a narrow table (a 3-digit TPS) would make break a note in two."""
    min_width = max(len(line) for line in f"{title}\n{caption}".splitlines())
    if wide:
        return Table(title=title, title_justify="left", caption=caption, caption_justify="left", min_width=min_width)
    return Table(title=title, title_justify="left", caption=caption, caption_justify="left", box=box.SIMPLE_HEAD,
                 padding=(0, 0, 0, 1), pad_edge=False, show_edge=False, min_width=min_width)


def _add_columns(table: Table, columns: list[str], left: tuple[str, ...]) -> None:
    for c in columns:
        if c == "verify":
            table.add_column(c, justify="left", no_wrap=True, min_width=7)
        elif c in left:  # a long name folds onto a second line, never below 12 columns
            table.add_column(c, justify="left", overflow="fold", min_width=12)
        else:  # figures never wrap or shrink: the names give way
            table.add_column(c, justify="right", no_wrap=True, min_width=len(c))


# Compact: what a first look needs; --wide adds the rest. A threshold or other column is one name
# here and one cell in the row below.
SUMMARY_COLUMNS = ["connector", "TPS", "committed", "rejected", "failed", "retries", "p50", "p95", "p99", "p99.9",
                   "max", "collisions", "harness", "server", "verify"]
COMPACT_SUMMARY_COLUMNS = ["connector", "TPS", "committed", "rejected", "failed", "p50", "p99", "max", "verify"]


def summary_table(report: dict[str, Any], wide: bool = False) -> Table:
    """The final table of a report: one row per connector (and configuration, and level);
    latencies in the unit that suits each (ns, µs, ms, s). Compact (fits 100 columns) unless
    ``wide``: then also retries, p95, p99.9, collisions and the harness's and server's CPU and
    memory."""
    short = any(no_per_second_statistics(e) for e in report["connectors"])
    columns = SUMMARY_COLUMNS if wide else COMPACT_SUMMARY_COLUMNS
    if not wide and any(e.get("retries") for e in report["connectors"]):
        columns = [*columns[:5], "retries", *columns[5:]]  # retries happened: they are shown
    caption = "latency: ns, µs, ms or s as fits" + ("; " + _RESOURCES_CAPTION if wide else "; --wide: every column")
    caption += "\n" + SHORT_WINDOW_NOTE if short else ""
    caption += "".join("\n" + line for line in drain_lines(report))
    table = _table(_title(report), caption, wide)
    _add_columns(table, columns, ("connector", "verify"))
    for e in report["connectors"]:
        if "latency" not in e:  # it could not run
            table.add_row(entry_label(e, report), *[""] * (len(columns) - 2), f"failed: {e['error']}")
            continue
        lat = e["latency"]
        v = e["verification"]
        # The verify cell says what verification found, nothing else: a connector that failed by
        # the failure rule with its money intact is "FAILED" in its own cell (the line after the
        # table says why), "passed" here.
        verdict = verification_verdict(v)
        timed = lat["count"] > 0  # all failed: no latency to show (failed operations are not timed)
        harness, server = resource_cells(e)
        cells = {
            "connector": entry_label(e, report) + (" FAILED" if e["status"] == "failed" else ""),
            "TPS": f"{e['tps']:,.0f}" + ("*" if no_per_second_statistics(e) else ""),
            "committed": f"{e['committed']:,}", "rejected": f"{e['rejected']:,}", "failed": f"{e['failed']:,}",
            "retries": f"{e['retries']:,}",
            **{k: latency_text(lat[k]) if timed else "-" for k in ("p50", "p95", "p99", "p99.9", "max")},
            "collisions": f"{100 * e['collision_rate']:.1f}%", "harness": harness, "server": server, "verify": verdict,
        }
        table.add_row(*[cells[c] for c in columns])
    return table


def drain_lines(report: dict[str, Any]) -> list[str]:
    """One line per connector whose window ended with operations in flight, saying what became
    of them: "4 in flight at the window's end: 4 completed after it (longest 2.01 s)", "4 in
    flight at the window's end: 4 failed (unfinished) after up to 567 ms", or both counts ("the
    longest that returned took ..."); the abandoned ones are named, they never returned. Each
    operation is counted once (``drain.in_flight`` = completed + unfinished). A report from
    before ``drain.in_flight`` counted the interrupted ones in ``drain.operations``; its in-flight
    count is ``operations + abandoned``. None for connectors without a drain."""
    lines = []
    for e in report["connectors"]:
        drain = e.get("drain")
        if drain is None:
            continue
        unfinished = e.get("errors", {}).get("unfinished", 0)
        in_flight = drain.get("in_flight", drain["operations"] + drain["abandoned"])
        if in_flight == 0 and unfinished == 0:
            continue
        completed = max(in_flight - unfinished, 0)
        returned = in_flight - drain["abandoned"]  # those the max latency covers
        longest = latency_text(drain["max_latency_ms"])
        abandoned = (f" ({drain['abandoned']:,} abandoned when the drain ended after {drain['seconds']:.2f} s)"
                     if drain["abandoned"] else "")
        # The table's latency covers committed and rejected operations: a longer drain latency was
        # a failure's (a timeout, say), which "completed" must not pass off as a result.
        timed_max = e.get("latency", {}).get("max")
        failed_longest = ", a failed one" if timed_max is not None and drain["max_latency_ms"] > timed_max else ""
        if unfinished == 0:
            text = f"{completed:,} completed after it (longest {longest}{failed_longest})"
        elif completed == 0:
            text = f"{unfinished:,} failed (unfinished)" + (f" after up to {longest}" if returned else "") + abandoned
        else:
            text = (f"{completed:,} completed after it, {unfinished:,} failed (unfinished){abandoned}; "
                    f"the longest that returned took {longest}")
        lines.append(f"{entry_label(e, report)}: {in_flight:,} in flight at the window's end: {text}")
    return lines


_RESOURCES_CAPTION = "harness, server: mean CPU (% of one core) and RSS over the measured window; - = no server process"


def _spread(s: dict[str, Any] | None, fmt: Callable[[float], str], relative: bool = False) -> str:
    """``mean ± sd`` (``relative``: the sd as % of the mean, narrower); the mean alone when there
    is no spread (one iteration)."""
    if s is None:
        return "-"
    if s["stddev"] is None:
        return fmt(s["mean"])
    if relative:
        return fmt(s["mean"]) + (f" ±{100 * s['stddev'] / s['mean']:.0f}%" if s["mean"] else " ±0%")
    return fmt(s["mean"]) + f" ± {fmt(s['stddev'])}"


def sweep_table(report: dict[str, Any], wide: bool = False) -> Table:
    """The final table of a sweep: one row per point and connector, means (± standard deviation
    over the iterations, when there are several), the failed and rejected operations and what
    verification found over the point's runs; ``wide`` adds p95 and CPU."""
    sweep = report["sweep"]
    variables = sweep["variables"]
    title = (f"{report['test']} sweep over {', '.join(variables) or 'repeated runs'}, {sweep['iterations']} "
             f"iteration(s) per point" + (" (interrupted)" if report["interrupted"] else ""))
    caption = ((f"± = sample standard deviation over the iterations{'' if wide else ', % of the mean'}; ")
               if sweep["iterations"] > 1 else "") + \
        ("CPU in % of one core, mean over the measured window" if wide else "--wide: p95 and CPU")
    table = _table(title, caption, wide)
    columns = [*variables, "connector", "runs", "TPS", "p50", *(["p95"] if wide else []), "p99", "failed", "rejected",
               "verify", *(["harness CPU", "server CPU"] if wide else [])]
    _add_columns(table, columns, ("connector", "verify"))
    for point in report["points"]:
        values = {v: f"{point['values'][v]:g}" for v in variables}
        for s in point["summary"]:
            entries = [e for it in point["iterations"] for e in it["connectors"] if e["name"] == s["name"]]
            measured = [e for e in entries if "latency" in e]
            checked = [e["verification"] for e in measured if e["verification"]["checked"]]
            cells = dict(values, connector=s["name"], failed=f"{sum(e['failed'] for e in measured):,}",
                         rejected=f"{sum(e['rejected'] for e in measured):,}",
                         verify=("FAILED" if any(not c["passed"] for c in checked) else "passed") if checked else "skipped")
            if not s["runs"]:
                cells.update(runs=f"0 of {s['failed_runs']}", TPS="failed")
            else:
                cells.update(
                    runs=f"{s['runs']}" + (f" of {s['runs'] + s['failed_runs']}" if s["failed_runs"] else ""),
                    TPS=_spread(s["tps"], lambda x: f"{x:,.0f}", not wide),
                    p50=_spread(s["p50_ms"], latency_text, not wide), p95=_spread(s.get("p95_ms"), latency_text),
                    p99=_spread(s["p99_ms"], latency_text, not wide),
                    **{"harness CPU": _spread(s["harness_cpu_percent"], lambda x: f"{x:,.0f}%"),
                       "server CPU": _spread(s["server_cpu_percent"], lambda x: f"{x:,.0f}%")})
            table.add_row(*[cells.get(c, "") for c in columns])
    return table


def _metric_value(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    # A latency in the unit that suits each value ("42 ns", "3.90 ms"), as the final table has it:
    # a fixed ms column showed the null connector's 40 ns as "0.000".
    return f"{value:,.0f}" if metric == "tps" else latency_text(value)


def compare_table(changes: list[Any], a_label: str, b_label: str) -> Table:
    """``loadbench compare``'s table: one row per point, connector and metric (see compare.py)."""
    table = Table(title=f"A = {a_label}\nB = {b_label}", title_justify="left",
                  caption="BETTER/WORSE: |Welch t| >= 3 on the per-second values (or iterations); "
                          "same: within the histogram's precision", caption_justify="left")
    with_points = any(c.point for c in changes)
    for column in (["point"] if with_points else []) + ["connector", "metric", "A", "B", "change", "t", "verdict"]:
        table.add_column(column, justify="right" if column in ("A", "B", "change", "t") else "left")
    styles = {"BETTER": "bold green", "WORSE": "bold red"}
    for c in changes:
        metric = "TPS" if c.metric == "tps" else c.metric.removesuffix("_ms")  # the unit is the value's
        table.add_row(
            *([c.point] if with_points else []), c.connector, metric, _metric_value(c.metric, c.a),
            _metric_value(c.metric, c.b), f"{c.change_percent:+.1f}%" if c.change_percent is not None else "",
            f"{c.t:+.1f}" if c.t is not None else "", f"[{styles[c.verdict]}]{c.verdict}[/]" if c.verdict in styles
            else c.verdict,
        )
    return table


def merged_table(merged: dict[str, Any], reports_read: int) -> Table:
    """Latency of each connector over every run in several reports, from their merged histograms."""
    table = Table(title=f"latency merged over {reports_read} report(s), ms", title_justify="left")
    for c in ("connector", "runs", "operations", "min", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"):
        table.add_column(c, justify="left" if c == "connector" else "right")
    for name, (runs, h) in merged.items():
        pct = [fmt_ms(h.percentile(p) / 1e6) for p in (50, 90, 99, 99.9, 99.99)]
        table.add_row(name, str(runs), f"{h.count:,}", fmt_ms(h.min_ns / 1e6), *pct, fmt_ms(h.max_ns / 1e6),
                      fmt_ms(h.mean_ns / 1e6))
    return table


def _window(seconds: float) -> str:
    """A window's length for a progress line: "3.0 s", or "3.6 ms" under a tenth of a second."""
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def fault_table(report: dict[str, Any], wide: bool = False) -> Table | None:
    """The faults injected in a bench or sweep (``--fault``), one row each: when, how long, the
    failures by kind it caused, the first commit after it and the recovery time. None without
    faults."""
    rows = sections.fault_rows(report)
    if not rows:
        return None
    caption = ("injected: s since the window opened; failed during: from the injection to recovery (or window end)\n"
               "first commit, recovery: upper bounds at 1 s; recovery: TPS back to >= 90% of up to 5 s before it")
    table = _table(f"{report['test']}: faults", caption, wide)
    _add_columns(table, list(sections.FAULT_COLUMNS), ("connector", "fault", "failed during, by kind", "recovery"))
    for row in rows:
        table.add_row(*[row[c] for c in sections.FAULT_COLUMNS])
    return table


def generator_tables(report: dict[str, Any], wide: bool = False) -> list[Table]:
    """After a ``--cluster`` run: one table per connector (and epoch) with a row per generator,
    and what the rows do not say (skew, coordination, partial figures) as its caption."""
    tables = []
    for label, section in sections.distributed(report):
        count = len(section["generators"])
        title = f"{label}: {count} generator{'s' if count != 1 else ''}" + (" (PARTIAL)" if section["partial"] else "")
        table = _table(title, "\n".join(sections.distributed_notes(section)), wide)
        _add_columns(table, list(sections.GENERATOR_COLUMNS), ("host", "status"))
        for g in section["generators"]:
            row = sections.generator_row(g)
            table.add_row(*[row[c] for c in sections.GENERATOR_COLUMNS])
        tables.append(table)
    return tables
