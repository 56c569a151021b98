"""Per-second figures, computed here and nowhere else.

A per-second point (the core's series, or a report's ``series.points``) covers one interval of the
measured window: ``t_s`` (its end, s since the window opened), ``duration_s`` (1 s, the last one of
a window may be shorter) and the operations that completed in it (``committed``, ``rejected``,
``failed``, and ``errors``: the failed ones by kind, in reports since the series counted kinds). Its
TPS is committed / duration_s. The *full seconds* are every point but a last one
shorter than ``FULL_SECOND_S``; only they enter per-second statistics, so a short last interval
(or a window under a second) does not skew them.
"""

from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

Point = Mapping[str, Any]


def tps(point: Point) -> float:
    """Committed operations per second over one point's interval; 0 for an empty interval."""
    return point["committed"] / point["duration_s"] if point["duration_s"] > 0 else 0.0


FULL_SECOND_S = 0.9  # a last point this long is a second of its own (a window of 2 s ends on one)


def full_seconds(points: Sequence[Point]) -> list[Point]:
    """The points that cover a full second: every point but a last one shorter than
    ``FULL_SECOND_S`` (the window's tail, or a window under a second). Points end when the monitor
    wakes at a second boundary, so one may run a little long and the next a little short; both
    are whole seconds of the window, kept."""
    if not points:
        return []
    *body, last = points
    return [*body, last] if last["duration_s"] >= FULL_SECOND_S else body


def per_second_tps(points: Sequence[Point]) -> list[float]:
    """Every point's TPS, in order (short intervals included): what plots and DataFrames show."""
    return [tps(p) for p in points]


def full_second_tps(points: Sequence[Point]) -> list[float]:
    """The TPS of each full second, in order: the samples of per-second statistics."""
    return [tps(p) for p in full_seconds(points)]


def tps_statistics(points: Sequence[Point]) -> tuple[float | None, float | None, int]:
    """Mean and (population) standard deviation of per-second TPS over the full seconds, and how
    many there are. A window without a full second has no per-second statistics (None, None, 0),
    which is not the same as a mean of 0; one full second has a mean but no spread (None, not 0:
    one value says nothing about how much the seconds vary)."""
    full = full_second_tps(points)
    if not full:
        return None, None, 0
    return statistics.fmean(full), statistics.pstdev(full) if len(full) > 1 else None, len(full)


def per_second_failed_by_kind(points: Sequence[Point]) -> dict[str, list[float]]:
    """Failed operations per second by kind over every point, in order: ``{kind: [rate, ...]}``
    for each kind that failed at all (the report's kind names). A report from before the series
    counted kinds has its failures under ``"all kinds"``; none failed: ``{}``."""
    def rate(n: int, p: Point) -> float:
        return n / p["duration_s"] if p["duration_s"] > 0 else 0.0

    if not all("errors" in p for p in points):
        if not any(p["failed"] for p in points):
            return {}
        return {"all kinds": [rate(p["failed"], p) for p in points]}
    kinds = sorted({k for p in points for k, n in p["errors"].items() if n})
    return {k: [rate(p["errors"].get(k, 0), p) for p in points] for k in kinds}
