"""Building reports: the runner's typed results (:mod:`loadbench.run.results`) as report entries,
and a ``bench`` invocation or a sweep as a report (``schema/report-v1.schema.json``,
``schema/sweep-v1.schema.json``; writing and loading them is :mod:`loadbench.report.store`).

What each figure means (the README repeats this):
- The measured window opens when warmup ends and lasts ``--seconds``; an operation counts when
  it *completes* inside it. ``tps`` = committed operations / measured seconds.
- ``latency`` covers committed and rejected operations (both are complete answers); failed
  operations are counted by kind but not timed. Latency of an operation includes its retries.
- ``histogram`` is the full distribution: every counted operation, 3 significant figures.
- ``series``: the per-second points and their TPS statistics (:mod:`loadbench.report.series`).
"""

from __future__ import annotations

from typing import Any, Mapping, TypeVar

from loadbench import _core
from loadbench.connectors.spec import ConnectorSpec
from loadbench.report import headlines, series
from loadbench.report.store import PERCENTILE_KEYS, SCHEMA_VERSION, timestamp, unix_ns_timestamp
from loadbench.report.table import SKIPPED_VERIFICATION_REASONS, entry_label
from loadbench.run.config import RunPlan
from loadbench.run.results import BenchRun, ConnectorRun, CoreResult, FailedRun, Measurement, SweepRun

_T = TypeVar("_T")


def ms(ns: float) -> float:
    """``ns`` nanoseconds in milliseconds, exact to the nanosecond (rounded to 6 decimals, so a
    whole number of ns reads back exactly: 37 ns is 3.7e-05): the unit of every ``*_ms`` latency
    of the report."""
    return round(ns / 1e6, 6)


_ms = ms


def failure_of(entry: dict[str, Any], max_share: float, expected: tuple[str, ...] = ()) -> dict[str, Any] | None:
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


def describe_failure(label: str, entry: dict[str, Any], failure: dict[str, Any], expected: tuple[str, ...] = ()) -> str:
    """The one line that says why a measured connector failed (the report's ``error``)."""
    ops = failure["operations"]
    if failure["rule"] == "no_commits":
        if ops == 0 and entry["measured_seconds"] == 0:
            line = (f"{label}: interrupted in the warmup: the measured window never opened" if entry["interrupted"]
                    else f"{label}: the measured window never opened")
        elif ops == 0:
            line = f"{label}: no operation completed in the measured window ({entry['measured_seconds']:.2f} s)"
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


def drain_entry(returned: int, returned_max_ns: int, seconds: float, abandoned: int, unfinished: int) -> dict[str, Any]:
    """The report's ``drain`` object, from the core's counts. The core's ``drained`` counts the
    window's operations that returned after the window's end, whatever their outcome, the ones
    interrupted at the drain's end (failed, kind ``unfinished``) included; the abandoned ones never
    returned. Every ``unfinished`` failure comes from the drain (interrupted, or abandoned), so:
    ``in_flight`` (at the window's end) = returned + abandoned, ``operations`` (completed in the
    drain with their own outcome: committed, rejected, or failed of another kind) = in_flight -
    unfinished, ``unfinished`` as in ``errors``; ``max_latency_ms`` is the longest of those that
    returned (ms, from the intended start), the interrupted ones included."""
    in_flight = returned + abandoned
    return {
        "in_flight": in_flight,
        "operations": max(in_flight - unfinished, 0),
        "unfinished": unfinished,
        "max_latency_ms": _ms(returned_max_ns),
        "seconds": round(seconds, 6),
        "abandoned": abandoned,
    }


def connector_entry(spec: ConnectorSpec, result: CoreResult, verification: dict[str, Any] | None, verify_requested: bool,
                    plan: RunPlan | None = None) -> dict[str, Any]:
    """A connector's section of the report, from the core's result."""
    counters = result.counters
    seconds = result.measured_seconds
    lat = result.latency
    pct = lat.percentiles_ns  # for the flat fields
    samples = counters.committed + counters.rejected
    operations = samples + counters.failed
    tps = counters.committed / seconds if seconds > 0 else 0.0
    points: list[dict[str, Any]] = [
        {
            "t_s": round(p.t_s, 6),
            "duration_s": round(p.duration_s, 6),
            "committed": p.committed,
            "rejected": p.rejected,
            "failed": p.failed,
            "p50_ms": _ms(p.p50_ns),
            "p95_ms": _ms(p.p95_ns),
            "p99_ms": _ms(p.p99_ns),
            "max_ms": _ms(p.max_ns),
            "errors": by_name(p.errors),
        }
        for p in result.series
    ]
    # The statistics from the unrounded intervals (as the core measured them).
    tps_mean, tps_stddev, full = series.tps_statistics(
        [{"committed": p.committed, "duration_s": p.duration_s} for p in result.series])
    collision_rate = counters.collision_ops / operations if operations else 0.0
    if verification is None:
        verification_entry = {
            "checked": False,
            "reason": SKIPPED_VERIFICATION_REASONS[0 if not verify_requested else 1],
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
        "sessions": result.sessions,
        "connections": result.sessions // spec.sessions_per_connection,
        "threads": result.threads,
        "reconnects": counters.reconnects,
        "client_cpu": {
            "seconds": round(result.cpu_seconds, 6),
            "per_operation_us": round(result.cpu_seconds / operations * 1e6, 3) if operations else 0.0,
        },
        "warmup_seconds": round(result.warmup_seconds, 6),
        "measured_seconds": round(seconds, 6),
        **window_times(result),
        "interrupted": result.interrupted,
        "committed": counters.committed,
        "rejected": counters.rejected,
        "failed": counters.failed,
        "attempts": counters.attempts,
        "retries": counters.retries,
        "errors": by_name(counters.errors),
        "retried_errors": by_name(counters.retried_errors),
        "error_examples": by_name(result.error_examples),
        "operations_before_window": counters.before_window,
        "operations_after_window": counters.after_window,
        "drain": drain_entry(counters.drained, counters.drained_max_ns, result.drain_seconds, result.abandoned,
                             by_name(counters.errors).get("unfinished", 0)),
        "throughput": {
            "committed_per_s": tps,
            "goodput_per_s": tps,
            "attempts_per_s": counters.attempts / seconds if seconds > 0 else 0.0,
            "operations_per_s": operations / seconds if seconds > 0 else 0.0,
            "rejected_per_s": counters.rejected / seconds if seconds > 0 else 0.0,
            "failed_per_s": counters.failed / seconds if seconds > 0 else 0.0,
        },
        "latency": latency_summary(lat),
        "histogram": stored_histogram(lat),
        "series": {"interval_seconds": 1.0, "tps_mean": tps_mean, "tps_stddev": tps_stddev, "full_seconds": full,
                   "points": points},
        "schedule": schedule_entry(plan, result) if plan is not None else None,
        # Workloads with several operation types: each one's counts and latency.
        "operations": [
            {
                "name": op.name,
                "committed": op.committed,
                "rejected": op.rejected,
                "failed": op.failed,
                "retries": op.retries,
                "latency": latency_summary(op.latency),
                "histogram": stored_histogram(op.latency),
            }
            for op in result.operations
        ],
        "contention": {
            "collision_ops": counters.collision_ops,
            "collision_count": counters.collision_count,
            "collision_rate": collision_rate,
            "exact": result.collisions_exact,
        },
        "verification": verification_entry,
        # The seed harness's flat fields, so existing scripts read loadbench reports unchanged.
        "tps": tps,
        "samples": samples,
        "p50_ms": _ms(pct["50"]),
        "p95_ms": _ms(pct["95"]),
        "p99_ms": _ms(pct["99"]),
        "collision_ops": counters.collision_ops,
        "collision_count": counters.collision_count,
        "collision_rate": collision_rate,
        "timeSeries": [
            {
                "tSec": p["t_s"],
                "tps": series.tps(p),
                "p50_ms": p["p50_ms"],
                "p95_ms": p["p95_ms"],
                "p99_ms": p["p99_ms"],
                "samples": p["committed"] + p["rejected"],
            }
            for p in points
        ],
    }
    unkinded = errors_without_kind(entry)
    if unkinded is not None:
        entry["errors_without_kind"] = unkinded
    if plan is not None:
        entry["stream_offset"] = plan.stream_offset
        failure = failure_of(entry, plan.max_failure_share, plan.expected_failures)
        label = spec.label + (f" c={result.sessions}" if plan.concurrency_levels else "")
        if failure is not None:
            entry.update(status="failed", error=describe_failure(label, entry, failure, plan.expected_failures),
                         failure=failure)
        elif verification is not None and not verification_entry["checked"] and not result.interrupted:
            # The verification could not run (loadbench.run.runner._verify): the run cannot pass
            # unverified, nor be called a failed verification.
            entry.update(status="failed", error=f"{label}: {verification_entry['reason']}")
    return entry


# The kinds a failure gets from the server's own answer (an error code, an HTTP status, a "kind"
# field); connection, timeout and protocol are the client's own findings, whatever the server says.
SERVER_KINDS = ("busy", "serialization", "deadlock", "constraint", "other")


def errors_without_kind(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Whether the server's errors carry no kind: ``{"count", "example"}`` when every failure
    that came from the server's answer (kinds :data:`SERVER_KINDS`, final and retried alike) is of
    kind ``other``, and there is at least one; else None.

    Such a server answers every failure the same way (keynote's PostgreSQL server: HTTP 500
    "internal server error", serialization failures included), so loadbench cannot tell a
    serialization failure from a bug, cannot retry the retryable ones, and counts them all as
    ``other``: the report says so rather than only counting. ``count`` is the failures (final
    plus retried attempts) of kind other, ``example`` one of their messages."""
    final, retried = entry["errors"], entry["retried_errors"]
    from_server = {k: final.get(k, 0) + retried.get(k, 0) for k in SERVER_KINDS}
    others = from_server["other"]
    if others == 0 or any(n for k, n in from_server.items() if k != "other"):
        return None
    return {"count": others, "example": entry["error_examples"].get("other", "")}


def keynote_keys(report: dict[str, Any]) -> dict[str, Any]:
    """The keys keynote-2's post-processing scripts (``scripts/bench-stats.py``,
    ``scripts/plot-bench.py``) read, from the report's own data: top-level ``seconds``,
    ``concurrency``, ``accounts``, ``alpha`` (the parameters) and ``results``, one per measured
    connector entry in order: ``{"system": name, "label": its unique label, "res": {tps, samples,
    p50_ms, p95_ms, p99_ms, collision_ops, collision_count, collision_rate, timeSeries}}``, the
    entry's flat fields. Single-run reports only (a sweep has no one value of each parameter)."""
    params = report["parameters"]
    return {
        "seconds": params["seconds"],
        "concurrency": params["concurrency"],
        "accounts": params["accounts"],
        "alpha": params["alpha"],
        "results": [
            # plot-bench.py names a run by "file" (keynote's connector file, "postgres_rpc.ts"): the label.
            {"system": e["name"], "label": entry_label(e, report), "file": entry_label(e, report),
             "res": {k: e[k] for k in KEYNOTE_RES}}
            for e in report["connectors"] if "latency" in e
        ],
    }


KEYNOTE_RES = ("tps", "samples", "p50_ms", "p95_ms", "p99_ms", "collision_ops", "collision_count", "collision_rate",
               "timeSeries")


def window_times(result: CoreResult) -> dict[str, Any]:
    """``window_start`` and ``window_end``: the measured window on the wall clock (UTC, ms), from
    the core's result; none when the window never opened."""
    start, end = result.window_start_unix_ns, result.window_end_unix_ns
    if start <= 0 or end < start:
        return {}
    return {"window_start": unix_ns_timestamp(start), "window_end": unix_ns_timestamp(end)}


def by_name(by_kind: Mapping[_core.ErrorKind, _T]) -> dict[str, _T]:
    """Per error kind, keyed by the kind's name (the report's keys: ``busy``, ``timeout`` ...)."""
    return {kind.name: value for kind, value in by_kind.items()}


def latency_summary(h: _core.HistogramSummary) -> dict[str, Any]:
    """A core histogram summary as the report's statistics in ms."""
    return {
        "unit": "ms",
        "count": h.count,
        "min": _ms(h.min_ns),
        "mean": _ms(h.mean_ns),
        "stddev": _ms(h.stddev_ns),
        "max": _ms(h.max_ns),
        **{f"p{k}": _ms(h.percentiles_ns[k]) for k in PERCENTILE_KEYS},
    }


def stored_histogram(h: _core.HistogramSummary) -> dict[str, Any]:
    """A core histogram summary as stored in the report: layout, exact statistics, sparse buckets."""
    return {
        "unit": "ns",
        "layout": "hdr-log-linear",
        "lowest_discernible_ns": 1,
        "highest_trackable_ns": h.highest_trackable_ns,
        "significant_figures": h.significant_figures,
        "count": h.count,
        "min_ns": h.min_ns,
        "max_ns": h.max_ns,
        "mean_ns": h.mean_ns,
        "stddev_ns": h.stddev_ns,
        "clamped": h.clamped,
        "buckets": [list(b) for b in h.buckets],
    }


def schedule_entry(plan: RunPlan, result: CoreResult) -> dict[str, Any] | None:
    """Open loop: the schedule asked for, what was achieved, and how late operations started."""
    if plan.rate == 0:
        return None
    counters = result.counters
    seconds = result.measured_seconds
    operations = counters.committed + counters.rejected + counters.failed
    achieved = operations / seconds if seconds > 0 else 0.0
    entry = {
        "target_per_s": plan.rate,
        "arrival": plan.arrival,
        "max_lag_seconds": plan.max_lag_seconds,
        "scheduled": counters.scheduled,
        "dropped": counters.dropped,
        "unstarted": counters.unstarted,
        "achieved_per_s": achieved,
        # Kept up: nothing skipped, and at most 1 % of the schedule (or one per session) still
        # waiting when the window closed: a momentary hiccup is not a failure to keep up.
        "sustained": counters.dropped == 0
        and counters.unstarted <= max(result.sessions, counters.scheduled // 100),
        "lag": latency_summary(result.lag) if result.lag is not None else None,
        "service_time": latency_summary(result.service) if result.service is not None else None,
        "service_histogram": stored_histogram(result.service) if result.service is not None else None,
    }
    return entry


def failed_entry(spec: ConnectorSpec, error: str) -> dict[str, Any]:
    """A connector that could not run (connection refused, prep failed...)."""
    return {
        "name": spec.name,
        "kind": spec.kind,
        "target": spec.target,
        "settings": dict(spec.settings),
        "status": "failed",
        "error": error,
    }


def entry_of(run: ConnectorRun) -> dict[str, Any]:
    """A connector run's section of the report: a failed one's name and error, or a measured one's
    figures (:func:`connector_entry`) with its prep time, resources, the server's own count and its
    configuration preset."""
    if isinstance(run, FailedRun):
        return failed_entry(run.spec, run.error)
    spec = run.spec
    entry = connector_entry(spec, run.result, run.verification, run.plan.verify, run.plan)
    entry["prep_seconds"] = None if run.prep_seconds is None else round(run.prep_seconds, 3)
    entry["resources"] = run.resources
    if run.server_committed is not None:
        entry["server_committed"] = run.server_committed
    if run.server_committed_error is not None:
        entry["server_committed_error"] = run.server_committed_error
    if spec.configuration_id:
        entry["configuration_id"] = spec.configuration_id
    if run.profile is not None:
        entry["profile"] = run.profile
    if run.faults is not None:
        entry["faults"] = run.faults
    if run.audit is not None:
        entry["audit"] = dict(run.audit)
        violation = run.audit.get("violation")
        if violation and entry["status"] != "failed":  # a lost commit fails the run (exit 1), in one line
            entry.update(status="failed", error=f"{spec.label}: {violation}")
    return entry


def _status(interrupted: bool, entries: list[dict[str, Any]]) -> str:
    return "interrupted" if interrupted else ("failed" if any(e["status"] != "ok" for e in entries) else "ok")


def bench_report(run: BenchRun) -> dict[str, Any]:
    """The report of a ``bench`` invocation (``report-v1``)."""
    entries = entries_of(run.measurement)
    report = {
        "schema_version": SCHEMA_VERSION,
        "test": run.plan.test,
        "status": _status(run.measurement.interrupted, entries),
        "interrupted": run.measurement.interrupted,
        "started_at": timestamp(run.started_at),
        "finished_at": timestamp(run.finished_at),
        "parameters": run.plan.parameters(),
        "machine": run.machine,
        "connectors": entries,
    }
    # keynote-2's scripts read these (and crash on a report without them).
    report.update(keynote_keys(report))
    return report


def entries_of(measurement: Measurement) -> list[dict[str, Any]]:
    """The report entries of every run of a measurement, in order."""
    return [entry_of(r) for r in measurement.runs]


def summarize(iterations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per connector, the spread of its headline figures over the iterations (a sweep point's, as
    the report holds them) that measured: ``[{"name", "runs", "failed_runs", <metric>: spread |
    None}]`` (see :func:`loadbench.report.headlines.spread`)."""
    names = list(dict.fromkeys(e["name"] for it in iterations for e in it["connectors"]))
    summary = []
    for name in names:
        entries = [e for it in iterations for e in it["connectors"] if e["name"] == name]
        heads = [headlines.of_entry(e) for e in entries if e["status"] != "failed"]
        row: dict[str, Any] = {"name": name, "runs": len(heads), "failed_runs": len(entries) - len(heads)}
        if heads:
            for key in headlines.SUMMARY_KEYS:
                values = [h[key] for h in heads if h[key] is not None]
                row[key] = headlines.spread(values) if values else None
        summary.append(row)
    return summary


def sweep_report(run: SweepRun) -> dict[str, Any]:
    """The report of a sweep (``sweep-v1``): every point's iterations with their full entries, and
    per point a summary per connector (:func:`summarize`)."""
    points: list[dict[str, Any]] = []
    for point in run.points:
        iterations = [{
            "parameters": it.plan.parameters(),
            "started_at": timestamp(it.started_at),
            "finished_at": timestamp(it.finished_at),
            "interrupted": it.measurement.interrupted,
            "connectors": entries_of(it.measurement),
        } for it in point.iterations]
        points.append({"values": point.values, "iterations": iterations, "summary": summarize(iterations)})
    entries = [e for p in points for it in p["iterations"] for e in it["connectors"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "sweep",
        "test": run.plan.test,
        "status": _status(run.interrupted, entries),
        "interrupted": run.interrupted,
        "started_at": timestamp(run.started_at),
        "finished_at": timestamp(run.finished_at),
        "sweep": {"variables": list(run.variables), "values": run.values, "iterations": run.iterations},
        "machine": run.machine,
        "points": points,
    }
