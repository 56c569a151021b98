"""Reports: one JSON file per ``bench`` invocation, described by ``schema/report-v1.schema.json``.

What each figure means (the README repeats this):
- The measured window opens when warmup ends and lasts ``--seconds``; an operation counts when
  it *completes* inside it. ``tps`` = committed operations / measured seconds.
- ``latency`` covers committed and rejected operations (both are complete answers); failed
  operations are counted by kind but not timed. Latency of an operation includes its retries.
- ``histogram`` is the full distribution: every counted operation, 3 significant figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema

from loadbench.config import ConnectorSpec, RunPlan
from loadbench.errors import ConfigError

SCHEMA_VERSION = 1
PERCENTILE_KEYS = ("50", "90", "95", "99", "99.9", "99.99")


@lru_cache(maxsize=1)
def schema() -> dict:
    text = resources.files("loadbench").joinpath("schema/report-v1.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate(report: dict) -> None:
    """Raises jsonschema.ValidationError when ``report`` does not follow the schema."""
    jsonschema.validate(report, schema())


def _ms(ns: float) -> float:
    return round(ns / 1e6, 6)


def _per_second(points: list[dict]) -> tuple[float, float]:
    """Mean and standard deviation of per-second TPS over the full one-second intervals."""
    full = [p["committed"] / p["duration_s"] for p in points if 0.5 <= p["duration_s"] <= 1.5]
    if not full:
        return 0.0, 0.0
    return statistics.fmean(full), statistics.pstdev(full) if len(full) > 1 else 0.0


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
    tps_mean, tps_stddev = _per_second(result["series"])
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
        "series": {"interval_seconds": 1.0, "tps_mean": tps_mean, "tps_stddev": tps_stddev, "points": points},
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
    return entry


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
        "started_at": started_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "finished_at": finished_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "parameters": plan.parameters(),
        "machine": machine,
        "connectors": entries,
    }


def write(report: dict, runs_dir: Path) -> Path:
    """Validates and writes ``runs_dir/<test>-<UTC timestamp>.json`` atomically (temp file + rename)."""
    validate(report)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = runs_dir / f"{report['test']}-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = runs_dir / f"{report['test']}-{stamp}-{n}.json"
    text = json.dumps(report, indent=1, allow_nan=False)
    write_atomic(path, text)
    return path


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` so that readers see the old file, the new one, or none: never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load(path: str | Path) -> dict:
    """Reads and validates one report; a file that is not one is a one-line ConfigError."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"report {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read report {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"report {path} is not JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        validate(report)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise ConfigError(f"report {path} is not a loadbench report ({where}: {exc.message})") from None
    return report
