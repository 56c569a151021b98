"""Generators' results: sent from a Dask worker to the coordinator as plain data, and merged into
one result of the engine's type (``_core.RunResult``), which the report is built from as for a
single process.

What merging keeps exact, and what it cannot:

- counts (committed, rejected, failed, attempts, errors by kind, ...) are sums;
- the latency histograms (all operations, per operation type, service and lag of an open loop)
  add bucket by bucket: the merged histogram is exactly the union of the generators' values (same
  layout: the engine's, on every generator), its mean and standard deviation the pooled ones, its
  percentiles read from the merged buckets;
- the per-second series are aligned on the common start (second k of every generator's window
  is second k of the merged one: every generator opened its window at the one go, see
  :mod:`loadbench.distributed.generator`) and their counts summed; a second's p50/p95/p99 are the
  highest of the generators' (a bound: a merged percentile of one second needs that second's
  buckets, which the series does not keep), its max the max;
- the window is the union of the generators' windows on the coordinator's clock (each generator's
  placed there with its own clock offset), so TPS over it never overstates;
- collisions are counted within each generator (keys held by another generator's sessions are
  not seen).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from loadbench import _core
from loadbench.report.histogram import Histogram, Layout

Wire = dict[str, Any]

_COUNTER_FIELDS = ("committed", "rejected", "failed", "attempts", "retries", "collision_ops", "collision_count",
                   "before_window", "after_window", "reconnects", "scheduled", "dropped", "unstarted", "drained")
_POINT_FIELDS = ("t_s", "duration_s", "committed", "rejected", "failed", "p50_ns", "p95_ns", "p99_ns", "max_ns")


def _histogram_wire(h: _core.HistogramSummary) -> Wire:
    return {"count": h.count, "min_ns": h.min_ns, "max_ns": h.max_ns, "mean_ns": h.mean_ns, "stddev_ns": h.stddev_ns,
            "clamped": h.clamped, "percentiles_ns": dict(h.percentiles_ns), "significant_figures": h.significant_figures,
            "highest_trackable_ns": h.highest_trackable_ns, "buckets": [list(b) for b in h.buckets]}


def _histogram(w: Wire) -> _core.HistogramSummary:
    return _core.HistogramSummary(count=w["count"], min_ns=w["min_ns"], max_ns=w["max_ns"], mean_ns=w["mean_ns"],
                                  stddev_ns=w["stddev_ns"], clamped=w["clamped"], percentiles_ns=w["percentiles_ns"],
                                  significant_figures=w["significant_figures"],
                                  highest_trackable_ns=w["highest_trackable_ns"],
                                  buckets=[(int(v), int(c)) for v, c in w["buckets"]])


def _kinds(by_kind: dict[_core.ErrorKind, int]) -> dict[str, int]:
    return {kind.name: n for kind, n in by_kind.items()}


def _by_kind(by_name: dict[str, int]) -> dict[_core.ErrorKind, int]:
    return {_core.ErrorKind.__members__[name]: n for name, n in by_name.items()}


def to_wire(r: _core.RunResult) -> Wire:
    """A result as plain data (dicts, lists, numbers, strings) for the trip to the coordinator."""
    c = r.counters
    return {
        "error": r.error, "interrupted": r.interrupted, "warmup_seconds": r.warmup_seconds,
        "measured_seconds": r.measured_seconds, "window_start_unix_ns": r.window_start_unix_ns,
        "window_end_unix_ns": r.window_end_unix_ns, "go_unix_ns": r.go_unix_ns,
        "first_start_unix_ns": r.first_start_unix_ns, "sessions": r.sessions, "threads": r.threads,
        "cpu_seconds": r.cpu_seconds,
        "counters": {**{f: getattr(c, f) for f in _COUNTER_FIELDS}, "drained_max_ns": c.drained_max_ns,
                     "errors": _kinds(c.errors),
                     "retried_errors": _kinds(c.retried_errors)},
        "error_examples": {kind.name: text for kind, text in r.error_examples.items()},
        "collisions_exact": r.collisions_exact, "abandoned": r.abandoned, "drain_seconds": r.drain_seconds,
        "latency": _histogram_wire(r.latency),
        "service": _histogram_wire(r.service) if r.service is not None else None,
        "lag": _histogram_wire(r.lag) if r.lag is not None else None,
        "operations": [{"name": o.name, "committed": o.committed, "rejected": o.rejected, "failed": o.failed,
                        "retries": o.retries, "latency": _histogram_wire(o.latency)} for o in r.operations],
        "series": [{**{f: getattr(p, f) for f in _POINT_FIELDS}, "errors": _kinds(p.errors)} for p in r.series],
    }


def from_wire(w: Wire) -> _core.RunResult:
    """The result :func:`to_wire` sent, as the engine's type again."""
    c = w["counters"]
    counters = _core.Counters(**{f: c[f] for f in _COUNTER_FIELDS}, drained_max_ns=c["drained_max_ns"],
                              errors=_by_kind(c["errors"]), retried_errors=_by_kind(c["retried_errors"]))
    return _core.RunResult(
        error=w["error"], interrupted=w["interrupted"], warmup_seconds=w["warmup_seconds"],
        measured_seconds=w["measured_seconds"], window_start_unix_ns=w["window_start_unix_ns"],
        window_end_unix_ns=w["window_end_unix_ns"], sessions=w["sessions"], threads=w["threads"],
        cpu_seconds=w["cpu_seconds"], counters=counters,
        error_examples={_core.ErrorKind.__members__[k]: v for k, v in w["error_examples"].items()},
        collisions_exact=w["collisions_exact"], abandoned=w["abandoned"], latency=_histogram(w["latency"]),
        service=_histogram(w["service"]) if w["service"] is not None else None,
        lag=_histogram(w["lag"]) if w["lag"] is not None else None,
        operations=[_core.OperationResult(name=o["name"], committed=o["committed"], rejected=o["rejected"],
                                          failed=o["failed"], retries=o["retries"], latency=_histogram(o["latency"]))
                    for o in w["operations"]],
        series=[_core.SecondPoint(**{f: p[f] for f in _POINT_FIELDS}, errors=_by_kind(p["errors"])) for p in w["series"]],
        go_unix_ns=w["go_unix_ns"], first_start_unix_ns=w["first_start_unix_ns"], drain_seconds=w["drain_seconds"])


def merge_histograms(parts: Sequence[_core.HistogramSummary]) -> _core.HistogramSummary:
    """The exact union of histograms of one layout: buckets summed, min/max/clamped combined, the
    pooled mean and population standard deviation, the reported percentiles read from the sum."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    layout = (first.significant_figures, first.highest_trackable_ns)
    buckets: dict[int, int] = {}
    for h in parts:
        if (h.significant_figures, h.highest_trackable_ns) != layout:
            raise ValueError("cannot merge histograms of different layouts")
        for value, count in h.buckets:
            buckets[value] = buckets.get(value, 0) + count
    counted = [h for h in parts if h.count]
    total = sum(h.count for h in counted)
    if total == 0:
        return _core.HistogramSummary(count=0, min_ns=0, max_ns=0, mean_ns=0.0, stddev_ns=0.0, clamped=0,
                                      percentiles_ns={_key(p): 0 for p in _core.reported_percentiles()},
                                      significant_figures=layout[0], highest_trackable_ns=layout[1], buckets=[])
    mean = sum(h.mean_ns * h.count for h in counted) / total
    second_moment = sum((h.stddev_ns ** 2 + h.mean_ns ** 2) * h.count for h in counted) / total
    stddev = math.sqrt(max(second_moment - mean * mean, 0.0))
    lo, hi = min(h.min_ns for h in counted), max(h.max_ns for h in counted)
    merged = Histogram(Layout(layout[0], layout[1]), dict(buckets), lo, hi, mean * total)
    return _core.HistogramSummary(count=total, min_ns=lo, max_ns=hi, mean_ns=mean, stddev_ns=stddev,
                                  clamped=sum(h.clamped for h in parts),
                                  percentiles_ns={_key(p): merged.percentile(p) for p in _core.reported_percentiles()},
                                  significant_figures=layout[0], highest_trackable_ns=layout[1],
                                  buckets=sorted(buckets.items()))


def _key(p: float) -> str:
    return f"{p:g}"


def _sum_kinds(dicts: Iterable[dict[_core.ErrorKind, int]]) -> dict[_core.ErrorKind, int]:
    out: dict[_core.ErrorKind, int] = {}
    for d in dicts:
        for kind, n in d.items():
            out[kind] = out.get(kind, 0) + n
    return out


def merge_series(parts: Sequence[Sequence[_core.SecondPoint]]) -> list[_core.SecondPoint]:
    """Per-second series aligned on the common start (point k with point k) and summed (counts
    and failures by kind exactly); a point's length and end are the longest of the generators' at
    k, its latency figures the highest."""
    merged = []
    for k in range(max((len(p) for p in parts), default=0)):
        at = [p[k] for p in parts if k < len(p)]
        merged.append(_core.SecondPoint(
            t_s=max(p.t_s for p in at), duration_s=max(p.duration_s for p in at),
            committed=sum(p.committed for p in at), rejected=sum(p.rejected for p in at),
            failed=sum(p.failed for p in at), p50_ns=max(p.p50_ns for p in at), p95_ns=max(p.p95_ns for p in at),
            p99_ns=max(p.p99_ns for p in at), max_ns=max(p.max_ns for p in at),
            errors=_sum_kinds(p.errors for p in at)))
    return merged


def merge(parts: Sequence[_core.RunResult], offsets_s: Sequence[float]) -> _core.RunResult:
    """One result from the generators' (``parts``, each measured on its own clock, which is
    ``offsets_s[i]`` seconds behind the scheduler's: scheduler time = local time + offset)."""
    if not parts:
        raise ValueError("nothing to merge")

    def shifted(ns: int, offset_s: float) -> int:
        return ns + round(offset_s * 1e9) if ns else 0

    starts = [shifted(r.window_start_unix_ns, o) for r, o in zip(parts, offsets_s) if r.window_start_unix_ns]
    ends = [shifted(r.window_end_unix_ns, o) for r, o in zip(parts, offsets_s) if r.window_end_unix_ns]
    start, end = (min(starts), max(ends)) if starts and ends else (0, 0)
    gos = [shifted(r.go_unix_ns, o) for r, o in zip(parts, offsets_s) if r.go_unix_ns]
    firsts = [shifted(r.first_start_unix_ns, o) for r, o in zip(parts, offsets_s) if r.first_start_unix_ns]
    counters = _core.Counters(
        **{f: sum(getattr(r.counters, f) for r in parts) for f in _COUNTER_FIELDS},
        drained_max_ns=max(r.counters.drained_max_ns for r in parts),
        errors=_sum_kinds(r.counters.errors for r in parts),
        retried_errors=_sum_kinds(r.counters.retried_errors for r in parts))
    examples: dict[_core.ErrorKind, str] = {}
    for r in parts:
        for kind, text in r.error_examples.items():
            examples.setdefault(kind, text)
    operations = []
    for name in dict.fromkeys(o.name for r in parts for o in r.operations):
        ops = [o for r in parts for o in r.operations if o.name == name]
        operations.append(_core.OperationResult(
            name=name, committed=sum(o.committed for o in ops), rejected=sum(o.rejected for o in ops),
            failed=sum(o.failed for o in ops), retries=sum(o.retries for o in ops),
            latency=merge_histograms([o.latency for o in ops])))
    services = [r.service for r in parts if r.service is not None]
    lags = [r.lag for r in parts if r.lag is not None]
    return _core.RunResult(
        error="", interrupted=any(r.interrupted for r in parts),
        warmup_seconds=max(r.warmup_seconds for r in parts),
        measured_seconds=(end - start) / 1e9 if end > start else max(r.measured_seconds for r in parts),
        window_start_unix_ns=start, window_end_unix_ns=end, sessions=sum(r.sessions for r in parts),
        threads=sum(r.threads for r in parts), cpu_seconds=sum(r.cpu_seconds for r in parts), counters=counters,
        error_examples=examples, collisions_exact=all(r.collisions_exact for r in parts),
        abandoned=sum(r.abandoned for r in parts), latency=merge_histograms([r.latency for r in parts]),
        service=merge_histograms(services) if services else None, lag=merge_histograms(lags) if lags else None,
        operations=operations, series=merge_series([r.series for r in parts]),
        go_unix_ns=min(gos) if gos else 0, first_start_unix_ns=min(firsts) if firsts else 0,
        drain_seconds=max(r.drain_seconds for r in parts))
