"""Reports as one self-contained HTML page (``loadbench report --html``), and the same page fed
live by ``bench --dashboard`` (see :mod:`loadbench.cli.dashboard`).

The page is data-driven: Python reduces each report to a small JSON *model* (:func:`report_model`:
run context, summary table, per-second series, latency spectrum and CDF from the histogram,
failures by kind per second, resources, faults, distributed generators, flamegraph links, sweep
curves) and the page's script draws it with Plotly, whose JavaScript is
inlined (no network request when the file is opened). The live view sends a new model every
second and the same script redraws it.

Needs plotly (``loadbench[analysis]``).
"""

from __future__ import annotations

import html
import json
import math
import os
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from loadbench import outputs, secrets
from loadbench.report import sections, series, store, table
from loadbench.report.histogram import Histogram, rank

# Parameters shown in the run context, in this order (others a report holds are left out: seeds of
# sub-systems, internal limits).
_CONTEXT_PARAMETERS = ("seconds", "warmup_seconds", "operations", "concurrency", "concurrency_levels", "alpha",
                       "accounts", "initial_balance", "rate", "arrival", "max_tries", "op_timeout_seconds", "scatter",
                       "seed", "prep", "verify", "max_failure_share")
# Spectrum resolution: points per decade of 1/(1-q) (HdrHistogram's percentile distribution uses 5
# ticks per half distance; 10 a decade draws as smooth at a tenth of the points).
_SPECTRUM_STEPS_PER_DECADE = 10
_CDF_POINTS = 400


def latency_text(ms: float | None) -> str:
    """A latency for a table, in the unit that suits it: "850 ns", "42.1 µs", "3.90 ms", "1.25 s"."""
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return "-"
    return table.latency_text(ms)


def spectrum(hist: Histogram) -> dict[str, list[float]]:
    """The latency percentile spectrum of ``hist`` on an HdrHistogram-style axis: ``x`` = 1/(1-q)
    (1 = p0, 10 = p90, 100 = p99, ...) up to the total count (the max), ``y`` in ms, ``q`` in %.
    Nearest rank, as :meth:`Histogram.percentile`."""
    total = hist.count
    if not total:
        return {"x": [], "y": [], "q": []}
    decades = math.log10(total)
    steps = int(decades * _SPECTRUM_STEPS_PER_DECADE)
    qs = [100.0 * (1 - 10 ** (-k / _SPECTRUM_STEPS_PER_DECADE)) for k in range(steps + 1)] + [100.0]
    values = sorted(hist.counts)
    xs: list[float] = []
    ys: list[float] = []
    shown: list[float] = []
    i = seen = 0
    for q in qs:
        wanted = rank(q, total)
        while i < len(values) and seen + hist.counts[values[i]] < wanted:
            seen += hist.counts[values[i]]
            i += 1
        ns = hist.max_ns if i >= len(values) else min(max(hist.layout.highest_equivalent(values[i]), hist.min_ns),
                                                      hist.max_ns)
        xs.append(total if q >= 100 else 1 / (1 - q / 100))
        ys.append(ns / 1e6)
        shown.append(q)
    return {"x": xs, "y": ys, "q": shown}


def cdf(hist: Histogram) -> dict[str, list[float]]:
    """The cumulative distribution (x: ms, y: % at or below), thinned to at most ~400 points
    spread evenly on the log latency axis (the last bucket always kept)."""
    if not hist.count:
        return {"x": [], "y": []}
    xs, ys = hist.cdf()
    if len(xs) > _CDF_POINTS:
        lo, hi = math.log(max(xs[0], 1)), math.log(max(xs[-1], 1))
        step = (hi - lo) / _CDF_POINTS or 1.0
        kept, last = [], -math.inf
        for i, x in enumerate(xs):
            bin_ = math.floor((math.log(max(x, 1)) - lo) / step)
            if bin_ > last or i == len(xs) - 1:
                kept.append(i)
                last = bin_
        xs, ys = [xs[i] for i in kept], [ys[i] for i in kept]
    return {"x": [x / 1e6 for x in xs], "y": [100 * y for y in ys]}


def _context(report: dict[str, Any], label: str) -> dict[str, Any]:
    machine = report.get("machine") or {}
    if store.kind_of(report) == "sweep":
        first = report["points"][0]["iterations"][0] if report["points"] and report["points"][0]["iterations"] else {}
        params = dict(first.get("parameters", {}))
        sweep = report["sweep"]
        params["sweep"] = (", ".join(f"{v} = {', '.join(f'{x:g}' for x in sweep['values'][v])}" for v in sweep["variables"])
                           + f"; {sweep['iterations']} iteration(s) per point")
    else:
        params = dict(report.get("parameters", {}))
    # Integers beyond 2**53 (seeds) as text: JavaScript's numbers would round them.
    shown = {k: str(params[k]) if isinstance(params[k], int) and abs(params[k]) > 2**53 else params[k]
             for k in ("sweep", *_CONTEXT_PARAMETERS) if k in params and params[k] not in (None, [], "")}
    # 0 means "none given" for these two: say what it means rather than "0".
    if shown.get("rate") == 0:
        shown["rate"] = "closed loop"  # no arrival schedule: each session starts its next at once
        shown.pop("arrival", None)  # the arrival process of an open loop
    if shown.get("operations") == 0:
        shown["operations"] = "no limit"  # the window's length ends the run
    if "scenario" in params:
        shown["scenario operations"] = ", ".join(o["name"] for o in params["scenario"]["operations"])
    connectors = {}
    for _, _, _, entry in table.runs(report):
        name = table.entry_label(entry, report)
        if name in connectors:
            continue
        settings = dict(entry.get("settings") or {})
        connectors[name] = {"kind": entry.get("kind", ""), "target": secrets.scrub_all(str(entry.get("target", ""))),
                            "settings": settings}
    versions = machine.get("versions") or {}
    machine_shown = {k: machine[k] for k in ("cpu_model", "physical_cores", "logical_cpus", "os", "python") if k in machine}
    if "memory_bytes" in machine:
        machine_shown["memory"] = f"{machine['memory_bytes'] / 2**30:.1f} GiB"
    return {
        "label": label, "test": report["test"], "kind": store.kind_of(report), "status": report.get("status", ""),
        "started_at": report.get("started_at", ""), "finished_at": report.get("finished_at", ""),
        "interrupted": bool(report.get("interrupted")), "parameters": shown, "machine": machine_shown,
        "versions": versions, "connectors": connectors,
    }


SUMMARY_COLUMNS = ("connector", "TPS", "committed", "rejected", "failed", "retries", "p50", "p95", "p99", "p99.9",
                   "max", "collisions", "harness", "server", "verify")


def summary_row(entry: dict[str, Any], label: str) -> list[str]:
    """One row of the summary table (:data:`SUMMARY_COLUMNS`), as text."""
    if "latency" not in entry:
        return [label, *[""] * (len(SUMMARY_COLUMNS) - 2), f"failed: {entry['error']}"]
    lat = entry["latency"]
    v = entry["verification"]
    verdict = table.verification_verdict(v)
    timed = lat["count"] > 0
    resources = entry.get("resources") or {}

    def usage(side: dict[str, Any] | None) -> str:
        return f"{side['cpu_percent_mean']:,.0f}% {side['rss_bytes_mean'] / 1e6:,.0f} MB" if side else "-"

    return [label + (" FAILED" if entry["status"] == "failed" else ""),
            f"{entry['tps']:,.0f}", f"{entry['committed']:,}", f"{entry['rejected']:,}", f"{entry['failed']:,}",
            f"{entry['retries']:,}", *[latency_text(lat[k]) if timed else "-" for k in ("p50", "p95", "p99", "p99.9", "max")],
            f"{100 * entry['collision_rate']:.1f}%", usage(resources.get("harness")), usage(resources.get("server")),
            verdict]


def _sections(report: dict[str, Any], links: str | None) -> dict[str, Any]:
    """The report's optional sections for the page: the fault table, the audit table, the generators of each
    distributed run, the flamegraphs (``links``: the report's directory relative to the page, as
    a URL path; None: the page cannot link them)."""
    distributed = [{"label": label, "header": list(sections.GENERATOR_COLUMNS),
                    "rows": [[row[c] for c in sections.GENERATOR_COLUMNS]
                             for row in map(sections.generator_row, section["generators"])],
                    "notes": sections.distributed_notes(section), "partial": section["partial"]}
                   for label, section in sections.distributed(report)]
    profiles = [{"label": label, "side": side, "svg": svg,
                 "href": None if links is None else (links + "/" if links else "") + urllib.parse.quote(svg)}
                for label, side, svg in sections.profile_links(report)]
    faults = sections.fault_rows(report)
    audits = sections.audit_rows(report)
    return {"faults": {"header": list(sections.FAULT_COLUMNS), "rows": [[r[c] for c in sections.FAULT_COLUMNS]
                                                                         for r in faults]},
            "audit": {"header": list(sections.AUDIT_COLUMNS), "rows": [[r[c] for c in sections.AUDIT_COLUMNS]
                                                                       for r in audits]},
            "distributed": distributed, "profiles": profiles}


def _run_model(entry: dict[str, Any], label: str) -> dict[str, Any]:
    """What the charts draw of one connector run."""
    run: dict[str, Any] = {"label": label, "status": entry["status"]}
    if "latency" not in entry:
        run["error"] = entry.get("error", "")
        return run
    points = entry["series"]["points"]
    run["warmup_seconds"] = entry.get("warmup_seconds", 0) or 0
    run["series"] = {
        "t": [p["t_s"] for p in points],
        "tps": [p["committed"] / p["duration_s"] if p["duration_s"] > 0 else 0 for p in points],
        "p99_ms": [p.get("p99_ms") for p in points],
        "failed": [p["failed"] / p["duration_s"] if p["duration_s"] > 0 else 0 for p in points],
        "failed_by_kind": series.per_second_failed_by_kind(points),
    }
    run["faults"] = [{"kind": f["kind"], "spec": f["spec"], "at": f["injected_at_s"],
                      "lasted": sections.fault_lasted_s(f) or 0.0}
                     for f in entry.get("faults") or [] if f["outcome"] != "not injected"]
    hist = Histogram.from_report(entry["histogram"])
    run["spectrum"] = spectrum(hist)
    run["cdf"] = cdf(hist)
    samples = (entry.get("resources") or {}).get("samples") or []
    run["resources"] = {
        "t": [s["t_s"] for s in samples], "phase": [s["phase"] for s in samples],
        "harness_cpu": [s.get("harness_cpu_percent") for s in samples],
        "server_cpu": [s.get("server_cpu_percent") for s in samples],
        "harness_rss_mb": [s["harness_rss_bytes"] / 1e6 if s.get("harness_rss_bytes") else None for s in samples],
        "server_rss_mb": [s["server_rss_bytes"] / 1e6 if s.get("server_rss_bytes") else None for s in samples],
    }
    return run


def _sweep_model(report: dict[str, Any]) -> dict[str, Any]:
    """Sweep curves: per connector, mean TPS and p99 (± standard deviation over the iterations) at
    each point, against the first swept variable with more than one value."""
    sweep = report["sweep"]
    varying = [v for v in sweep["variables"] if len(sweep["values"][v]) > 1]
    variable = varying[0] if varying else None
    curves: dict[str, dict[str, list[Any]]] = {}
    for point in report["points"]:
        others = ", ".join(f"{v}={point['values'][v]:g}" for v in varying[1:])
        x = point["values"][variable] if variable else len(next(iter(curves.values()), {"x": []})["x"]) + 1
        for s in point["summary"]:
            name = s["name"] + (f" ({others})" if others else "")
            c = curves.setdefault(name, {"x": [], "tps": [], "tps_sd": [], "p99": [], "p99_sd": []})
            c["x"].append(x)
            for key, out in (("tps", "tps"), ("p99_ms", "p99")):
                spread = s.get(key) if s["runs"] else None
                c[out].append(spread["mean"] if spread else None)
                c[out + "_sd"].append(spread["stddev"] if spread and spread["stddev"] is not None else 0)
    return {"variable": variable or "point", "curves": curves}


def _sweep_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    variables = report["sweep"]["variables"]
    header = [*variables, "connector", "runs", "TPS", "p50", "p99", "failed", "rejected", "verify"]
    rows = []
    for point in report["points"]:
        values = [f"{point['values'][v]:g}" for v in variables]
        for s in point["summary"]:
            entries = [e for it in point["iterations"] for e in it["connectors"] if e["name"] == s["name"]]
            measured = [e for e in entries if "latency" in e]
            failed = sum(e["failed"] for e in measured)
            rejected = sum(e["rejected"] for e in measured)
            checked = [e["verification"] for e in measured if e["verification"]["checked"]]
            verify = ("FAILED" if any(not c["passed"] for c in checked) else "passed") if checked else "skipped"
            if not s["runs"]:
                rows.append([*values, s["name"], f"0 of {s['failed_runs']}", "failed", "", "", "", "", ""])
                continue

            def spread(v: dict[str, Any] | None, fmt: Callable[[float], str]) -> str:
                if v is None:
                    return "-"
                return fmt(v["mean"]) + (f" ± {fmt(v['stddev'])}" if v["stddev"] is not None else "")

            runs = f"{s['runs']}" + (f" of {s['runs'] + s['failed_runs']}" if s["failed_runs"] else "")
            rows.append([*values, s["name"], runs, spread(s["tps"], lambda x: f"{x:,.0f}"),
                         spread(s["p50_ms"], latency_text), spread(s["p99_ms"], latency_text),
                         f"{failed:,}", f"{rejected:,}", verify])
    return header, rows


def report_model(report: dict[str, Any], label: str, links: str | None = None) -> dict[str, Any]:
    """A report as the page's model (JSON-ready): ``context``, ``summary`` (``header``, ``rows``),
    ``runs`` (one per connector run, with the charts' data), ``sections`` (faults, distributed
    generators, flamegraph links relative to ``links``, see :func:`_sections`) and, for a sweep,
    ``sweep`` curves."""
    context = _context(report, label)
    extra = _sections(report, links)
    runs = []
    if store.kind_of(report) == "sweep":
        header, rows = _sweep_rows(report)
        # Spectrum and CDF per connector and point, the iterations' histograms merged.
        merged: dict[str, tuple[dict[str, Any], Histogram | None]] = {}
        for values, _, _, entry in table.runs(report):
            name = entry["name"] + "".join(f" {k}={v:g}" for k, v in values.items())
            if "latency" not in entry:
                merged.setdefault(name, (entry, None))
                continue
            h = Histogram.from_report(entry["histogram"])
            prior = merged.get(name)
            merged[name] = (entry, prior[1].merge(h) if prior and prior[1] is not None else h)
        for name, (entry, hist) in merged.items():
            run: dict[str, Any] = {"label": name, "status": entry["status"]}
            if hist is not None:
                run["spectrum"], run["cdf"] = spectrum(hist), cdf(hist)
            runs.append(run)
        return {"context": context, "summary": {"header": header, "rows": rows}, "runs": runs,
                "sections": extra, "sweep": _sweep_model(report)}
    rows = []
    for entry in report["connectors"]:
        name = table.entry_label(entry, report)
        rows.append(summary_row(entry, name))
        runs.append(_run_model(entry, name))
    return {"context": context, "summary": {"header": list(SUMMARY_COLUMNS), "rows": rows}, "runs": runs,
            "sections": extra}


def page_model(reports: Iterable[tuple[str, dict[str, Any]]], live: dict[str, Any] | None = None,
               links: Sequence[str | None] | None = None) -> dict[str, Any]:
    """The model of a page of one report or several side by side (``(label, report)`` pairs).
    ``live``: the state of a run in progress (see :mod:`loadbench.cli.dashboard`). ``links``: per
    report, its directory relative to the page (see :func:`relative_dir`), for its flamegraphs."""
    reports = list(reports)
    found = list(links) if links is not None else [None] * len(reports)
    return {"reports": [report_model(r, label, link) for (label, r), link in zip(reports, found)], "live": live}


def relative_dir(report_path: Path, page_path: Path) -> str:
    """The directory of ``report_path`` relative to that of ``page_path``, as a URL path (``""``:
    the same directory): where the page finds the files a report names beside itself."""
    rel = os.path.relpath(report_path.resolve().parent, page_path.resolve().parent)
    return "" if rel == "." else "/".join(urllib.parse.quote(part) for part in Path(rel).parts)


def _script_json(value: Any) -> str:
    """JSON safe inside <script>: no "</script>", "<!--" or line separators can end or bend it."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def plotly_js() -> str:
    """Plotly's JavaScript bundle, to inline (plotly's own copy: no CDN)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        from loadbench.errors import ConfigError

        raise ConfigError("the HTML report needs plotly: pip install 'loadbench[analysis]'") from None
    return str(get_plotlyjs())


def render(model: dict[str, Any], title: str, events_url: str | None = None) -> str:
    """The page: inlined style, Plotly and the drawing script, the model as JSON. With
    ``events_url`` the page also listens there (server-sent events) and redraws each model sent."""
    page = (Path(__file__).with_name("html_page.js")).read_text(encoding="utf-8")
    style = (Path(__file__).with_name("html_page.css")).read_text(encoding="utf-8")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{style}</style>"
        f"<script>{plotly_js()}</script></head><body><div id=\"page\"></div>"
        f"<script>const LOADBENCH_MODEL = {_script_json(model)};\n"
        f"const LOADBENCH_EVENTS = {_script_json(events_url)};\n{page}</script></body></html>\n"
    )


def write(path: Path, reports: Sequence[tuple[str, dict[str, Any]]], sources: Sequence[Path] | None = None) -> None:
    """Writes the page of ``reports`` (``(label, report)``) to ``path`` atomically; ``sources``:
    the reports' files, so the page links the flamegraphs beside them."""
    title = "loadbench: " + ", ".join(label for label, _ in reports)
    links = [relative_dir(source, path) for source in sources] if sources is not None else None
    text = render(page_model(reports, links=links), title)
    with outputs.replacing(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
