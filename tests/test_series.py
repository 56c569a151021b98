"""Per-second TPS, computed in one place (loadbench.report.series): a point's TPS, which points are
full seconds, and the statistics over them."""

from __future__ import annotations

import statistics

import pytest

from loadbench.report import series


def point(committed: int, duration_s: float) -> dict[str, float]:
    return {"committed": committed, "duration_s": duration_s}


def test_a_points_tps_is_committed_over_its_duration_and_zero_for_an_empty_interval():
    assert series.tps(point(300, 0.5)) == 600.0
    assert series.tps(point(0, 0.0)) == 0.0


def test_only_full_seconds_enter_the_statistics_and_a_short_last_interval_does_not():
    points = [point(1000, 1.0), point(1200, 1.0), point(90, 0.1)]
    assert series.full_second_tps(points) == [1000.0, 1200.0]
    assert series.per_second_tps(points) == [1000.0, 1200.0, pytest.approx(900.0)]
    mean, stddev, n = series.tps_statistics(points)
    assert (mean, n) == (1100.0, 2)
    assert stddev == statistics.pstdev([1000.0, 1200.0]) == 100.0


def test_no_full_second_has_no_statistics_and_one_has_a_mean_but_no_spread():
    assert series.tps_statistics([point(40, 0.2)]) == (None, None, 0)
    assert series.tps_statistics([point(500, 1.0), point(40, 0.2)]) == (500.0, None, 1)


def test_a_late_wake_up_keeps_both_seconds_and_a_window_under_a_second_has_none():
    # The monitor woke 0.2 s late: the stretched second and the shortened one are both whole
    # seconds of the window; only a last point under 0.9 s is a tail.
    assert series.full_second_tps([point(1200, 1.2), point(800, 0.8), point(1000, 1.0)]) == [1000.0] * 3
    assert series.full_seconds([point(50, 0.5)]) == []  # --seconds 0.5 (review: was a "full second")
    assert series.full_seconds([point(100, 1.0), point(85, 0.85)]) == [point(100, 1.0)]
    assert series.full_seconds([point(100, 1.0), point(95, 0.95)]) == [point(100, 1.0), point(95, 0.95)]
