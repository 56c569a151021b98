"""Reports: one JSON file per ``bench`` invocation, described by ``schema/report-v1.schema.json``
(a single run) or ``schema/sweep-v1.schema.json`` (a sweep: many runs, see :mod:`loadbench.run.sweeps`).

What each figure means (the README repeats this):
- The measured window opens when warmup ends and lasts ``--seconds``; an operation counts when
  it *completes* inside it. ``tps`` = committed operations / measured seconds.
- ``latency`` covers committed and rejected operations (both are complete answers); failed
  operations are counted by kind but not timed. Latency of an operation includes its retries.
- ``histogram`` is the full distribution: every counted operation, 3 significant figures.

Reading them back: :func:`load` (one report, validated), :func:`rows` (flat rows, one per connector
run) and :func:`load_all` (every report of a directory as a pandas DataFrame).
"""

from __future__ import annotations

import json
import math
import re
import statistics
import warnings
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import jsonschema

from loadbench import outputs
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import ConfigError, OutputError
from loadbench.report import untrusted
from loadbench.report.histogram import Histogram, check_stored
from loadbench.run.config import RunPlan

if TYPE_CHECKING:
    import pandas

SCHEMA_VERSION = 1
PERCENTILE_KEYS = ("50", "90", "95", "99", "99.9", "99.99")
SCHEMA_FILES = {"bench": "report-v1.schema.json", "sweep": "sweep-v1.schema.json"}


def _schema_text(name: str) -> dict:
    return json.loads(resources.files("loadbench.report").joinpath(f"schema/{name}").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def schema() -> dict:
    """The single-run report's schema."""
    return _schema_text(SCHEMA_FILES["bench"])


@lru_cache(maxsize=None)
def _validator(kind: str) -> jsonschema.protocols.Validator:
    # The sweep schema refers to the single-run schema's definitions by its $id. Long arrays (series,
    # buckets) are checked by functions compiled from their item schemas: same verdicts, ~30x faster.
    docs = {k: (schema() if k == "bench" else _schema_text(name)) for k, name in SCHEMA_FILES.items()}
    return untrusted.fast_validator(jsonschema.Draft202012Validator, docs, kind)


def kind_of(report: dict) -> str:
    """``"sweep"`` for a sweep report, else ``"bench"`` (single-run reports carry no kind)."""
    return "sweep" if isinstance(report, dict) and report.get("kind") == "sweep" else "bench"


def validate(report: dict) -> None:
    """Raises jsonschema.ValidationError when ``report`` does not follow its schema."""
    error = jsonschema.exceptions.best_match(_validator(kind_of(report)).iter_errors(report))
    if error is not None:
        raise error


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as reports write times."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unix_ns_timestamp(ns: int) -> str:
    """A wall-clock time in ns since the epoch (UTC) as :func:`timestamp` writes it."""
    return timestamp(datetime.fromtimestamp(ns // 10**9, timezone.utc) + timedelta(microseconds=ns % 10**9 // 1000))


def parse_timestamp(text: str) -> datetime:
    """A report's time (ISO 8601, ``Z`` for UTC; UTC when it names no zone) as an aware datetime;
    raises ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def full_seconds(points: list[dict]) -> list[dict]:
    """The per-second points that cover a full second: every point but a last one shorter than
    ``FULL_SECOND_S`` (the window's tail, or a window under a second). Points end when the monitor
    wakes at a second boundary, so one may run a little long and the next a little short; both
    are whole seconds of the window, kept."""
    if not points:
        return []
    *body, last = points
    return [*body, last] if last["duration_s"] >= FULL_SECOND_S else body


FULL_SECOND_S = 0.9  # a last point this long is a second of its own (a window of 2 s ends on one)


def _ms(ns: float) -> float:
    return round(ns / 1e6, 6)


def _per_second(points: list[dict]) -> tuple[float | None, float | None, int]:
    """Mean and standard deviation of per-second TPS over the full one-second intervals, and how
    many there are; a window without a full second has no per-second statistics (None, None, 0),
    which is not the same as a mean of 0, and one full second has a mean but no spread (None, not
    0: one value says nothing about how much the seconds vary)."""
    full = [p["committed"] / p["duration_s"] for p in full_seconds(points)]
    if not full:
        return None, None, 0
    return statistics.fmean(full), statistics.pstdev(full) if len(full) > 1 else None, len(full)


def failure_of(entry: dict, max_share: float, expected: tuple[str, ...] = ()) -> dict | None:
    """Why a measured connector entry is a failed connector, or None when it is not.

    The rule (README, "When a connector failed"): it committed no operation in the measured
    window, or its failed operations exceed ``max_share`` of its operations (committed + rejected
    + failed), not counting failures of the ``expected`` kinds (the write test's ``busy``: its
    answer, not a fault). Returns ``{"rule": "no_commits" | "failure_share", "operations",
    "failed", "counted_failures", "failed_share", "max_failure_share", "most_common_error":
    {"kind", "count", "example"} | None}``; shares are fractions in [0, 1].
    """
    operations = entry["committed"] + entry["rejected"] + entry["failed"]
    counted = entry["failed"] - sum(entry["errors"].get(kind, 0) for kind in expected)
    share = counted / operations if operations else 0.0
    if entry["committed"] > 0 and share <= max_share:
        return None
    errors = {k: n for k, n in entry["errors"].items() if n}
    if entry["committed"] > 0:  # failed by the share: name a kind that counted against it
        errors = {k: n for k, n in errors.items() if k not in expected}
    top = max(errors, key=lambda k: errors[k]) if errors else None
    return {
        "rule": "no_commits" if entry["committed"] == 0 else "failure_share",
        "operations": operations,
        "failed": entry["failed"],
        "counted_failures": counted,
        "failed_share": share,
        "max_failure_share": max_share,
        "most_common_error": None if top is None else {
            "kind": top, "count": errors[top], "example": entry["error_examples"].get(top, "")},
    }


def describe_failure(label: str, entry: dict, failure: dict, expected: tuple[str, ...] = ()) -> str:
    """The one line that says why a measured connector failed (the report's ``error``)."""
    ops = failure["operations"]
    if failure["rule"] == "no_commits":
        if ops == 0:
            line = f"{label}: no operation completed in the measured window ({entry['measured_seconds']:g} s)"
        else:
            line = (f"{label}: 0 of {ops:,} operations committed ({entry['rejected']:,} rejected, "
                    f"{entry['failed']:,} failed)")
    else:
        excluded = failure["failed"] - failure["counted_failures"]
        line = (f"{label}: {failure['counted_failures']:,} of {ops:,} operations failed "
                f"({100 * failure['failed_share']:.1f} %), above --max-failure-share "
                f"{100 * failure['max_failure_share']:g} %"
                + (f" ({excluded:,} {'/'.join(expected)} failures not counted)" if excluded else ""))
    top = failure["most_common_error"]
    if top is not None:
        example = " ".join(top["example"].split())
        if len(example) > 160:
            example = example[:157] + "..."
        line += f"; most common error: {top['kind']} x {top['count']:,}" + (f", e.g. {example!r}" if example else "")
    return line


def connector_entry(spec: ConnectorSpec, result: dict, verification: dict | None, verify_requested: bool,
                    plan: RunPlan | None = None) -> dict:
    """A connector's section of the report, from the core's result."""
    seconds = result["measured_s"]
    lat = result["latency"]
    pct = lat["percentiles_ns"]  # for the flat fields
    samples = result["committed"] + result["rejected"]
    operations = samples + result["failed"]
    tps = result["committed"] / seconds if seconds > 0 else 0.0
    points = [
        {
            "t_s": round(p["t_s"], 6),
            "duration_s": round(p["duration_s"], 6),
            "committed": p["committed"],
            "rejected": p["rejected"],
            "failed": p["failed"],
            "p50_ms": _ms(p["p50_ns"]),
            "p95_ms": _ms(p["p95_ns"]),
            "p99_ms": _ms(p["p99_ns"]),
            "max_ms": _ms(p["max_ns"]),
        }
        for p in result["series"]
    ]
    tps_mean, tps_stddev, full = _per_second(result["series"])
    collision_rate = result["collision_ops"] / operations if operations else 0.0
    if verification is None:
        verification_entry = {
            "checked": False,
            "reason": "verification was not requested" if not verify_requested else "the connector keeps no data",
        }
    else:
        verification_entry = {"checked": True, **verification}
    entry = {
        "name": spec.name,
        "kind": spec.kind,
        "target": spec.target,
        "settings": dict(spec.settings),
        "status": "ok" if verification_entry.get("passed", True) else "verification_failed",
        "error": None,
        "sessions": result["sessions"],
        "connections": result["sessions"] // spec.sessions_per_connection,
        "threads": result["threads"],
        "reconnects": result["reconnects"],
        "client_cpu": {
            "seconds": round(result["cpu_s"], 6),
            "per_operation_us": round(result["cpu_s"] / operations * 1e6, 3) if operations else 0.0,
        },
        "warmup_seconds": round(result["warmup_s"], 6),
        "measured_seconds": round(seconds, 6),
        **window_times(result),
        "interrupted": result["interrupted"],
        "committed": result["committed"],
        "rejected": result["rejected"],
        "failed": result["failed"],
        "attempts": result["attempts"],
        "retries": result["retries"],
        "errors": result["errors"],
        "retried_errors": result["retried_errors"],
        "error_examples": result["error_examples"],
        "operations_before_window": result["before_window"],
        "operations_after_window": result["after_window"],
        "throughput": {
            "committed_per_s": tps,
            "goodput_per_s": tps,
            "attempts_per_s": result["attempts"] / seconds if seconds > 0 else 0.0,
            "operations_per_s": operations / seconds if seconds > 0 else 0.0,
            "rejected_per_s": result["rejected"] / seconds if seconds > 0 else 0.0,
            "failed_per_s": result["failed"] / seconds if seconds > 0 else 0.0,
        },
        "latency": latency_summary(lat),
        "histogram": stored_histogram(lat),
        "series": {"interval_seconds": 1.0, "tps_mean": tps_mean, "tps_stddev": tps_stddev, "full_seconds": full,
                   "points": points},
        "schedule": schedule_entry(plan, result) if plan is not None else None,
        # Workloads with several operation types: each one's counts and latency.
        "operations": [
            {
                "name": op["name"],
                "committed": op["committed"],
                "rejected": op["rejected"],
                "failed": op["failed"],
                "retries": op["retries"],
                "latency": latency_summary(op["latency"]),
                "histogram": stored_histogram(op["latency"]),
            }
            for op in result["operations"]
        ],
        "contention": {
            "collision_ops": result["collision_ops"],
            "collision_count": result["collision_count"],
            "collision_rate": collision_rate,
            "exact": result["collisions_exact"],
        },
        "verification": verification_entry,
        # The seed harness's flat fields, so existing scripts read loadbench reports unchanged.
        "tps": tps,
        "samples": samples,
        "p50_ms": _ms(pct["50"]),
        "p95_ms": _ms(pct["95"]),
        "p99_ms": _ms(pct["99"]),
        "collision_ops": result["collision_ops"],
        "collision_count": result["collision_count"],
        "collision_rate": collision_rate,
        "timeSeries": [
            {
                "tSec": p["t_s"],
                "tps": p["committed"] / p["duration_s"] if p["duration_s"] > 0 else 0.0,
                "p50_ms": p["p50_ms"],
                "p95_ms": p["p95_ms"],
                "p99_ms": p["p99_ms"],
                "samples": p["committed"] + p["rejected"],
            }
            for p in points
        ],
    }
    if plan is not None:
        entry["stream_offset"] = plan.stream_offset
        failure = failure_of(entry, plan.max_failure_share, plan.expected_failures)
        if failure is not None:
            label = spec.label + (f" c={result['sessions']}" if plan.concurrency_levels else "")
            entry.update(status="failed", error=describe_failure(label, entry, failure, plan.expected_failures),
                         failure=failure)
    return entry


def window_times(result: dict) -> dict:
    """``window_start`` and ``window_end``: the measured window on the wall clock (UTC, ms), from
    the core's result; none when the window never opened."""
    start, end = result.get("window_start_unix_ns", 0), result.get("window_end_unix_ns", 0)
    if start <= 0 or end < start:
        return {}
    return {"window_start": unix_ns_timestamp(start), "window_end": unix_ns_timestamp(end)}


def latency_summary(h: dict) -> dict:
    """A core histogram dict as the report's statistics in ms."""
    return {
        "unit": "ms",
        "count": h["count"],
        "min": _ms(h["min_ns"]),
        "mean": _ms(h["mean_ns"]),
        "stddev": _ms(h["stddev_ns"]),
        "max": _ms(h["max_ns"]),
        **{f"p{k}": _ms(h["percentiles_ns"][k]) for k in PERCENTILE_KEYS},
    }


def stored_histogram(h: dict) -> dict:
    """A core histogram dict as stored in the report: layout, exact statistics, sparse buckets."""
    return {
        "unit": "ns",
        "layout": "hdr-log-linear",
        "lowest_discernible_ns": 1,
        "highest_trackable_ns": h["highest_trackable_ns"],
        "significant_figures": h["significant_figures"],
        "count": h["count"],
        "min_ns": h["min_ns"],
        "max_ns": h["max_ns"],
        "mean_ns": h["mean_ns"],
        "stddev_ns": h["stddev_ns"],
        "clamped": h["clamped"],
        "buckets": [list(b) for b in h["buckets"]],
    }


def schedule_entry(plan: RunPlan, result: dict) -> dict | None:
    """Open loop: the schedule asked for, what was achieved, and how late operations started."""
    if plan.rate == 0:
        return None
    seconds = result["measured_s"]
    operations = result["committed"] + result["rejected"] + result["failed"]
    achieved = operations / seconds if seconds > 0 else 0.0
    entry = {
        "target_per_s": plan.rate,
        "arrival": plan.arrival,
        "max_lag_seconds": plan.max_lag,
        "scheduled": result["scheduled"],
        "dropped": result["dropped"],
        "unstarted": result["unstarted"],
        "achieved_per_s": achieved,
        # Kept up: nothing skipped, and at most 1 % of the schedule (or one per session) still
        # waiting when the window closed: a momentary hiccup is not a failure to keep up.
        "sustained": result["dropped"] == 0
        and result["unstarted"] <= max(result["sessions"], result["scheduled"] // 100),
        "lag": latency_summary(result["lag"]) if result["lag"] else None,
        "service_time": latency_summary(result["service"]) if result["service"] else None,
        "service_histogram": stored_histogram(result["service"]) if result["service"] else None,
    }
    return entry


def failed_entry(spec: ConnectorSpec, error: str) -> dict:
    """A connector that could not run (connection refused, prep failed...)."""
    return {
        "name": spec.name,
        "kind": spec.kind,
        "target": spec.target,
        "settings": dict(spec.settings),
        "status": "failed",
        "error": error,
    }


def build(plan: RunPlan, entries: list[dict], started_at: datetime, finished_at: datetime, interrupted: bool,
          machine: dict) -> dict:
    failed = any(e["status"] != "ok" for e in entries)
    return {
        "schema_version": SCHEMA_VERSION,
        "test": plan.test,
        "status": "interrupted" if interrupted else ("failed" if failed else "ok"),
        "interrupted": interrupted,
        "started_at": timestamp(started_at),
        "finished_at": timestamp(finished_at),
        "parameters": plan.parameters(),
        "machine": machine,
        "connectors": entries,
    }


def write(report: dict, runs_dir: Path) -> Path:
    """Validates ``report`` and writes it as ``runs_dir/<test>[-sweep]-<UTC timestamp>.json``,
    whole or not at all, under a name no other file has (``-2``, ``-3``, ... when runs finish in
    the same second; never replacing one: see :func:`loadbench.outputs.claim`). A failed write
    (a full disk) is an :class:`~loadbench.errors.OutputError` naming the path and the reason."""
    validate(report)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    stem = f"{report['test']}-sweep" if kind_of(report) == "sweep" else report["test"]
    try:
        data = json.dumps(report, indent=1, allow_nan=False).encode()
    except ValueError:  # JSON has no NaN or infinity: never written, and named rather than a traceback
        raise OutputError(f"cannot write report {runs_dir / f'{stem}-{stamp}.json'}: {non_finite(report)} is not a "
                          "finite number") from None
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        return outputs.claim(runs_dir, f"{stem}-{stamp}", ".json", data)
    except OSError as exc:
        raise OutputError(f"cannot write report {runs_dir / f'{stem}-{stamp}.json'}: {outputs.reason(exc)}") from None


def non_finite(value: Any, where: str = "") -> str | None:
    """The path of the first NaN or infinity in a JSON value (``connectors/0/tps``), or None."""
    stack = [(where, value)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where or "the top level"
        if isinstance(value, dict):
            stack.extend((f"{where}/{k}".lstrip("/"), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((f"{where}/{i}".lstrip("/"), v) for i, v in reversed(list(enumerate(value))))
    return None


# Kept here for the modules that import them from reports.
replacing = outputs.replacing


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` whole or not at all (:func:`loadbench.outputs.replace`); raises
    OSError."""
    outputs.replace(path, text.encode("utf-8"))


def load(path: str | Path) -> dict:
    """Reads and validates one report, within the limits of :mod:`loadbench.report.untrusted` (size,
    depth, finite numbers) and with its histograms checked (:func:`~loadbench.report.histogram.check_stored`)
    and its series no longer than its window; a file that is not such a report is a one-line
    ConfigError."""
    path = Path(path)
    text = untrusted.read_limited(path, "report")
    try:
        report = untrusted.parse(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"report {path} is not JSON (line {exc.lineno}: {exc.msg})") from None
    except untrusted.Refused as exc:
        raise ConfigError(f"report {path} {exc}") from None
    try:
        validate(report)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise ConfigError(f"report {path} is not a loadbench report ({where}: {exc.message})") from None
    for where, problem in _consistency(report):
        raise ConfigError(f"report {path} is not a loadbench report ({where}: {problem})")
    return report


# One per-second point per started second of the window, and a short last one.
def _series_bound(entry: dict) -> int:
    return math.ceil(entry["measured_seconds"]) + 1


def _consistency(report: dict) -> Iterator[tuple[str, str]]:
    """What the schema cannot say: tps is committed / measured_seconds, every stored histogram is
    one its layout can hold, and a series has no more points than its window has seconds."""
    times = [("started_at", report["started_at"]), ("finished_at", report["finished_at"])]
    if kind_of(report) == "bench":
        located = [(f"connectors/{i}", e) for i, e in enumerate(report["connectors"])]
    else:
        located = [(f"points/{p}/iterations/{i}/connectors/{c}", e)
                   for p, point in enumerate(report["points"])
                   for i, iteration in enumerate(point["iterations"])
                   for c, e in enumerate(iteration["connectors"])]
        times += [(f"points/{p}/iterations/{i}/{key}", iteration[key])
                  for p, point in enumerate(report["points"]) for i, iteration in enumerate(point["iterations"])
                  for key in ("started_at", "finished_at")]
        variables = report["sweep"]["variables"]
        if set(report["sweep"]["values"]) != set(variables):
            yield "sweep/values", f"does not hold the values of exactly the variables {variables}"
        from loadbench.report import headlines

        for p, point in enumerate(report["points"]):
            if list(point["values"]) != list(variables):
                yield f"points/{p}/values", f"does not set exactly the variables {variables}, in order"
            entries = [e for it in point["iterations"] for e in it["connectors"]]
            for r, row in enumerate(point["summary"]):
                mine = [e for e in entries if e["name"] == row["name"]]
                measured = sum(e["status"] != "failed" for e in mine)
                if (row["runs"], row["failed_runs"]) != (measured, len(mine) - measured):
                    yield (f"points/{p}/summary/{r}", f"runs {row['runs']} and failed_runs {row['failed_runs']} are "
                           f"not what the iterations hold ({measured} and {len(mine) - measured})")
                missing = [k for k in (*headlines.METRICS, "harness_cpu_percent", "server_cpu_percent") if k not in row]
                if measured and missing:
                    yield f"points/{p}/summary/{r}", f"lacks {', '.join(missing)}"
    times += [(f"{where}/{key}", entry[key]) for where, entry in located
              for key in ("window_start", "window_end") if key in entry]
    parsed = {}
    for where, text in times:
        try:
            parsed[where] = parse_timestamp(text).astimezone(timezone.utc)
        except (ValueError, OverflowError):
            yield where, f"{text[:40]!r} is not an ISO 8601 time"
    for where, entry in located:
        start, end = parsed.get(f"{where}/window_start"), parsed.get(f"{where}/window_end")
        if start is not None and end is not None and start > end:
            yield f"{where}/window_end", "is before window_start"
        if entry["status"] == "failed":
            continue
        # The derived figures must be what their parts say (a tampered one would go into compare).
        seconds = entry["measured_seconds"]
        expected_tps = entry["committed"] / seconds if seconds > 0 else 0.0
        if not math.isclose(entry["tps"], expected_tps, rel_tol=1e-5, abs_tol=1e-6):
            yield f"{where}/tps", f"{entry['tps']:g} is not committed / measured_seconds ({expected_tps:g})"
        histograms = [("histogram", entry["histogram"])]
        if entry.get("schedule") and entry["schedule"].get("service_histogram"):
            histograms.append(("schedule/service_histogram", entry["schedule"]["service_histogram"]))
        histograms += [(f"operations/{k}/histogram", op["histogram"]) for k, op in enumerate(entry["operations"])]
        for name, stored in histograms:
            problem = check_stored(stored)
            if problem:
                yield f"{where}/{name}", problem
        bound = _series_bound(entry)
        for name, series in (("series/points", entry["series"]["points"]), ("timeSeries", entry["timeSeries"])):
            if len(series) > bound:
                yield (f"{where}/{name}", f"{len(series):,} per-second points for a window of "
                       f"{entry['measured_seconds']:g} s (at most {bound:,})")


# Characters a terminal acts on or that reorder what it shows: C0 and C1 controls, DEL, line and
# paragraph separators, bidirectional overrides (tab and newline included: a name is one line).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, markup: bool = True) -> str:
    """``text`` safe to print on one line: control characters as ``\\xNN`` (``\\uNNNN``)
    escapes and, for rich (``markup``), its markup brackets escaped so that a name like
    ``[red]x[/]`` shows as written."""
    def escaped(m: re.Match) -> str:
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


def runs(report: dict) -> Iterator[tuple[dict, int, dict, dict]]:
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


def _flat(entry: dict) -> dict:
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


def rows(report: dict, path: str | Path = "") -> list[dict]:
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
            "status": entry["status"],
            **_flat(entry),
        })
    return found


def frame(loaded: Iterable[tuple[str | Path, dict]]) -> "pandas.DataFrame":
    """Reports already read, as ``(path, report)``, as the DataFrame of :func:`load_all`."""
    import pandas as pd

    records = []
    for path, report in loaded:
        for row, (_, _, _, entry) in zip(rows(report, path), runs(report)):
            measured = entry["status"] != "failed"
            row["histogram"] = Histogram.from_report(entry["histogram"]) if measured else None
            row["tps_series"] = ([p["committed"] / p["duration_s"] if p["duration_s"] > 0 else 0.0
                                  for p in entry["series"]["points"]] if measured else [])
            records.append(row)
    return pd.DataFrame.from_records(records)


def load_all(source: str | Path | Iterable[str | Path]) -> "pandas.DataFrame":
    """Every report of a directory (its ``*.json``; files that are not reports are skipped with a
    warning), or of a list of files, as a DataFrame with one row per connector run: the columns of
    :func:`rows` plus ``histogram`` (a mergeable :class:`~loadbench.report.histogram.Histogram`) and
    ``tps_series`` (per-second TPS over the window). Needs pandas (``loadbench[analysis]``)."""
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


def entry_label(entry: dict, report: dict) -> str:
    """A connector entry's name, unique within its report: with its configuration preset, and its
    concurrency level when the report ran several (the write test)."""
    label = entry["name"]
    if entry.get("configuration_id"):
        label += f" {entry['configuration_id']}"
    if report.get("parameters", {}).get("concurrency_levels") and entry.get("sessions") is not None:
        label += f" c={entry['sessions']}"
    return label


def merge_histograms(loaded: list[dict]) -> dict[str, tuple[int, "Histogram"]]:
    """Every measured run of each connector across reports (single runs and sweep points), its
    latency histograms merged: ``{name: (runs, histogram)}``, in first-seen order."""
    from loadbench.report.histogram import Histogram

    merged: dict[str, tuple[int, Histogram]] = {}
    for report in loaded:
        for _, _, _, entry in runs(report):
            if entry["status"] == "failed" or not entry["histogram"]["count"]:
                continue
            h = Histogram.from_report(entry["histogram"])
            label = entry_label(entry, report)
            if label in merged:
                count, so_far = merged[label]
                try:
                    merged[label] = (count + 1, so_far.merge(h))
                except ValueError:
                    raise ConfigError(f"cannot merge the runs of {printable(label, markup=False)}: their histograms "
                                      "have different layouts (significant figures, highest trackable value)") from None
            else:
                merged[label] = (1, h)
    return merged
