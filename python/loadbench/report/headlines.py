"""The headline figures of a report and how noisy each one is: what ``runs/results.jsonl`` keeps
of every run and what ``loadbench compare`` compares.

A report becomes a list of *points* (one for a single run, one per point of a sweep), each with the
values of the swept variables and one *headline* per connector: TPS, latency percentiles (ms), the
CPU of the harness and of the server, and the noise to judge a change by. The noise is the mean,
sample standard deviation and count of either the per-second figures over the measured window's
full seconds (``source: "seconds"``) or, when a sweep point ran two or more iterations, of the
iterations' own figures (``source: "iterations"``), which is the better measure of run-to-run noise.
"""

from __future__ import annotations

import statistics
from typing import Any

from loadbench.report import series
from loadbench.report.table import entry_label

METRICS = ("tps", "p50_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms")
# The metrics whose per-second values the report holds (series.points), so that have a noise.
PER_SECOND = ("tps", "p50_ms", "p95_ms", "p99_ms")
HIGHER_IS_BETTER = {"tps"}
# What a sweep point's summary gives the spread of, per connector.
SUMMARY_KEYS = (*METRICS, "harness_cpu_percent", "server_cpu_percent")


def spread(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (None for one value), min and max."""
    return {
        "mean": statistics.fmean(values),
        "stddev": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
    }


def _noise(source: str, samples: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "source": source,
        "n": min(len(v) for v in samples.values()),
        "mean": {k: statistics.fmean(v) if v else None for k, v in samples.items()},
        "stddev": {k: statistics.stdev(v) if len(v) > 1 else None for k, v in samples.items()},
    }


def of_entry(entry: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The headline of one connector entry of a report, under ``name`` (default: the entry's)."""
    name = name or entry["name"]
    if entry["status"] == "failed":
        return {"name": name, "status": "failed", "error": entry["error"]}
    lat = entry["latency"]
    resources = entry.get("resources")
    points = entry["series"]["points"]
    per_second = {m: series.full_second_tps(points) if m == "tps" else [p[m] for p in series.full_seconds(points)]
                  for m in PER_SECOND}
    return {
        "name": name,
        "status": entry["status"],
        "runs": 1,
        "tps": entry["tps"],
        "p50_ms": lat["p50"],
        "p95_ms": lat["p95"],
        "p99_ms": lat["p99"],
        "p99.9_ms": lat["p99.9"],
        "max_ms": lat["max"],
        "significant_figures": entry["histogram"]["significant_figures"],
        "harness_cpu_percent": resources["harness"]["cpu_percent_mean"] if resources else None,
        "server_cpu_percent": resources["server"]["cpu_percent_mean"] if resources and resources["server"] else None,
        "noise": _noise("seconds", per_second),
    }


def of_summary(row: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline of one connector at a sweep point, from the point's summary ``row`` (see
    :func:`loadbench.report.build.summarize`) and its ``entries`` over the iterations: the means, with the
    iterations' spread as noise when two or more measured, else the one run's own headline."""
    measured = [e for e in entries if e["status"] != "failed"]
    if row["runs"] < 2:
        return of_entry(measured[0] if measured else entries[-1])
    head = {"name": row["name"], "status": "ok" if all(e["status"] == "ok" for e in measured) else "verification_failed",
            "runs": row["runs"], "significant_figures": measured[0]["histogram"]["significant_figures"]}
    for key in SUMMARY_KEYS:
        head[key] = row[key]["mean"] if row[key] is not None else None
    head["noise"] = {"source": "iterations", "n": row["runs"], "mean": {m: row[m]["mean"] for m in PER_SECOND},
                     "stddev": {m: row[m]["stddev"] for m in PER_SECOND}}
    return head


def points(report: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"values": {variable: value}, "connectors": [headline, ...]}]`` for any report."""
    if report.get("kind") != "sweep":
        return [{"values": {}, "connectors": [of_entry(e, entry_label(e, report)) for e in report["connectors"]]}]
    return [
        {
            "values": point["values"],
            "connectors": [of_summary(row, [e for it in point["iterations"] for e in it["connectors"]
                                            if e["name"] == row["name"]])
                           for row in point["summary"]],
        }
        for point in report["points"]
    ]


# What of a run's parameters is its setup (not its outcome), for `compare`'s differences. The
# seed is left out: each run draws its own unless told, and its choice is no change of setup.
SETUP_PARAMETERS = ("test", "seconds", "warmup_seconds", "concurrency", "alpha", "accounts", "initial_balance",
                    "max_amount", "operations", "max_tries", "op_timeout_seconds", "threads", "open_parallelism",
                    "rate", "arrival", "max_lag_seconds", "scatter", "prep", "verify", "max_failure_share",
                    "concurrency_levels", "connectors")
# Of the machine, what describes it (versions are listed on their own).
SETUP_MACHINE = ("cpu_model", "physical_cores", "logical_cpus", "memory_bytes", "os", "kernel")


def setup(report: dict[str, Any]) -> dict[str, Any]:
    """What a report's runs ran under, flat (``{"seconds": 10, "mode": "closed loop",
    "connector sqlite: journal_mode": "wal", "machine: cpu_model": ..., "version: sqlite": ...}``):
    what ``loadbench compare`` sets side by side. A sweep's swept variables are left out (compare
    matches points by them); its other parameters are its first iteration's."""
    if report.get("kind") == "sweep":
        params = dict(report["points"][0]["iterations"][0]["parameters"])
        for variable in report["sweep"]["variables"]:
            params.pop(variable, None)
        entries = [e for p in report["points"] for it in p["iterations"] for e in it["connectors"]]
    else:
        params = report["parameters"]
        entries = report["connectors"]
    flat: dict[str, Any] = {"test": report["test"]}
    flat["mode"] = (f"open loop ({params.get('arrival', 'exponential')})" if params.get("rate")
                    else "closed loop")
    for key in SETUP_PARAMETERS[1:]:
        if key in params:
            flat[key] = params[key]
    # A fault or the audit's ledger changes the figures (README: --audit costs 1.39x CPU per
    # operation); absent when not used, so a report from before they were recorded matches.
    if params.get("faults"):
        flat["faults"] = ", ".join(params["faults"])
    if params.get("audit"):
        flat["audit"] = "on"
    if "scenario" in params:
        flat["scenario"] = f"{params['scenario'].get('path')} (sha256 {str(params['scenario'].get('sha256', ''))[:12]})"
    for entry in entries:
        label = entry_label(entry, report)
        for key, value in (entry.get("settings") or {}).items():
            flat.setdefault(f"connector {label}: {key}", value)
    machine = report.get("machine") or {}
    for key in SETUP_MACHINE:
        if key in machine:
            flat[f"machine: {key}"] = machine[key]
    if "python" in machine:
        flat["version: python"] = machine["python"]
    for key, value in (machine.get("versions") or {}).items():
        flat[f"version: {key}"] = value
    return flat
