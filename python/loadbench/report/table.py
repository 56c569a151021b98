"""Reports as tables: flat rows of scalars (one per connector run: ``report --csv``), a pandas
DataFrame of many reports (:func:`load_all`), each entry's unique label, and text made safe to
print (:func:`printable`: files from elsewhere and servers' messages).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from loadbench.errors import ConfigError
from loadbench.report import series
from loadbench.report.histogram import Histogram
from loadbench.report.store import PERCENTILE_KEYS, kind_of, load

if TYPE_CHECKING:
    import pandas

# Characters a terminal acts on or that reorder what it shows: C0 and C1 controls, DEL, line and
# paragraph separators, bidirectional overrides (tab and newline included: a name is one line).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, markup: bool = True) -> str:
    """``text`` safe to print on one line: control characters as ``\\xNN`` (``\\uNNNN``)
    escapes and, for rich (``markup``), its markup brackets escaped so that a name like
    ``[red]x[/]`` shows as written."""
    def escaped(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    text = _CONTROL.sub(escaped, text)
    if markup:
        from rich.markup import escape

        text = escape(text)
    return text


def for_display(value: Any) -> Any:
    """A copy of a report (or any JSON value) with every string, keys included, made
    :func:`printable`: what the tables print of files from elsewhere and of servers' messages."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {for_display(k) if isinstance(k, str) else k: for_display(v) for k, v in value.items()}
    if isinstance(value, list):
        return [for_display(v) for v in value]
    return value


def runs(report: dict[str, Any]) -> Iterator[tuple[dict[str, Any], int, dict[str, Any], dict[str, Any]]]:
    """Every connector run of a report as ``(point values, iteration, parameters, entry)``; a
    single-run report is one point with no values and one iteration."""
    if kind_of(report) == "bench":
        for entry in report["connectors"]:
            yield {}, 0, report["parameters"], entry
        return
    for point in report["points"]:
        for i, iteration in enumerate(point["iterations"]):
            for entry in iteration["connectors"]:
                yield point["values"], i, iteration["parameters"], entry


def _flat(entry: dict[str, Any]) -> dict[str, Any]:
    if "latency" not in entry:  # it could not run: nothing measured
        return {"error": entry["error"]}
    lat = entry["latency"]
    resources_ = entry.get("resources") or {}
    harness, server = resources_.get("harness"), resources_.get("server")
    return {
        "tps": entry["tps"],
        "tps_per_second_mean": entry["series"]["tps_mean"],
        "tps_per_second_stddev": entry["series"]["tps_stddev"],
        "measured_seconds": entry["measured_seconds"],
        "committed": entry["committed"],
        "rejected": entry["rejected"],
        "failed": entry["failed"],
        "retries": entry["retries"],
        "mean_ms": lat["mean"],
        **{f"p{k}_ms": lat[f"p{k}"] for k in PERCENTILE_KEYS},
        "max_ms": lat["max"],
        "collision_rate": entry["collision_rate"],
        "harness_cpu_percent": harness["cpu_percent_mean"] if harness else None,
        "harness_rss_mb": harness["rss_bytes_mean"] / 1e6 if harness else None,
        "server_cpu_percent": server["cpu_percent_mean"] if server else None,
        "server_rss_mb": server["rss_bytes_mean"] / 1e6 if server else None,
        "verified": entry["verification"].get("passed") if entry["verification"]["checked"] else None,
        **({"error": entry["error"]} if entry["status"] == "failed" else {}),  # ran, and failed by the rule
    }


def rows(report: dict[str, Any], path: str | Path = "") -> list[dict[str, Any]]:
    """One flat dict of scalars per connector run (the columns of ``report --csv``)."""
    found = []
    for values, iteration, params, entry in runs(report):
        found.append({
            "report": str(path),
            "kind": kind_of(report),
            "test": report["test"],
            "started_at": report["started_at"],
            "point": ", ".join(f"{k}={v:g}" for k, v in values.items()),
            "iteration": iteration,
            "accounts": params["accounts"],
            "concurrency": params["concurrency"],
            "alpha": params["alpha"],
            "seconds": params["seconds"],
            "seed": params["seed"],
            "connector": entry_label(entry, report),
            "configuration_id": entry.get("configuration_id", ""),
            "settings": settings_text(entry),
            "status": entry["status"],
            **_flat(entry),
        })
    return found


def settings_text(entry: dict[str, Any]) -> str:
    """A connector run's settings (its report entry's ``settings``: SQLite's journal mode,
    PostgreSQL's mode, isolation and in-flight transfers...) as one ``key=value, ...`` string,
    keys sorted: runs with the same text ran the same connector the same way, so grouping by
    ``connector`` and ``settings`` never merges e.g. PostgreSQL runs with different
    ``--pg-mode`` or ``--inflight``. Empty when the entry records none."""
    settings = entry.get("settings") or {}
    return ", ".join(f"{k}={settings[k]}" for k in sorted(settings))


def frame(loaded: Iterable[tuple[str | Path, dict[str, Any]]]) -> "pandas.DataFrame":
    """Reports already read, as ``(path, report)``, as the DataFrame of :func:`load_all`."""
    import pandas as pd

    records = []
    for path, report in loaded:
        for row, (_, _, _, entry) in zip(rows(report, path), runs(report)):
            # A run that failed after measuring (a fault run whose audit found the server down) keeps
            # its histogram and series; one that failed before measuring has none.
            ran = "histogram" in entry
            row["histogram"] = Histogram.from_report(entry["histogram"]) if ran else None
            row["tps_series"] = series.per_second_tps(entry["series"]["points"]) if ran else []
            row["failed_series"] = series.per_second_failed_by_kind(entry["series"]["points"]) if ran else {}
            row["faults"] = [f for f in entry.get("faults") or [] if f["outcome"] != "not injected"]
            records.append(row)
    return pd.DataFrame.from_records(records)


def load_all(source: str | Path | Iterable[str | Path]) -> "pandas.DataFrame":
    """Every report of a directory (its ``*.json``; files that are not reports are skipped with a
    warning), or of a list of files, as a DataFrame with one row per connector run: the columns of
    :func:`rows` plus ``histogram`` (a mergeable :class:`~loadbench.report.histogram.Histogram`;
    None for a run that failed before it measured: a run that failed after has its data here too),
    ``tps_series`` (per-second TPS over the window), ``failed_series`` (failed operations per
    second by kind, :func:`~loadbench.report.series.per_second_failed_by_kind`) and ``faults`` (the
    injected faults' entries, bench ``--fault``). Needs pandas (``loadbench[analysis]``)."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        paths, lenient = sorted(Path(source).glob("*.json")), True
    else:
        paths, lenient = ([Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]), False
    loaded = []
    for path in paths:
        try:
            loaded.append((path, load(path)))
        except ConfigError as exc:
            if not lenient:
                raise
            warnings.warn(str(exc), stacklevel=2)
    return frame(loaded)


def entry_label(entry: dict[str, Any], report: dict[str, Any]) -> str:
    """A connector entry's name, unique within its report: with its configuration preset, its
    concurrency level when the report ran several (the write test), and its epoch when a
    ``--cluster`` run had several (``--epochs``)."""
    label = str(entry["name"])
    if entry.get("configuration_id"):
        label += f" {entry['configuration_id']}"
    if report.get("parameters", {}).get("concurrency_levels") and entry.get("sessions") is not None:
        label += f" c={entry['sessions']}"
    distributed = entry.get("distributed") or {}
    if distributed.get("epochs", 1) > 1:
        label += f" epoch {distributed['epoch']}"
    return label



def latency_text(ms: float) -> str:
    """A latency in the unit that suits it, three significant figures or more: "850 ns",
    "42.1 µs", "3.90 ms", "1.25 s" (0: "0 ns"); a table of several runs stays readable when one
    takes nanoseconds (the null connector) and another seconds."""
    ns = ms * 1e6
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            value = ns / scale
            break
    else:
        return f"{ns:,.0f} ns"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"


# The reasons a verification was not checked by choice (report.build.connector_entry), not because it
# could not run.
SKIPPED_VERIFICATION_REASONS = ("verification was not requested", "the connector keeps no data")


def verification_verdict(verification: dict[str, Any]) -> str:
    """The verify cell of a connector entry's ``verification``: "passed", "FAILED" (the check ran
    and found the data wrong), "skipped" (not requested, or the connector keeps no data) or "not
    checked" (it could not run, or a signal cut it short: nothing is known about the data)."""
    if verification["checked"]:
        return "passed" if verification["passed"] else "FAILED"
    return "skipped" if verification.get("reason") in SKIPPED_VERIFICATION_REASONS else "not checked"
