"""Latency histograms as stored in reports: read, merge and query them without the native core.

A report stores each histogram sparsely as ``[[lowest_value_ns, count], ...]`` with the layout
(HdrHistogram's: lowest discernible value 1 ns, ``significant_figures``, ``highest_trackable_ns``).
Percentiles here follow the core exactly (:func:`rank`): nearest rank, reported as the top of its
bucket and clamped to the exact min and max.

A stored histogram read from a file is checked by :func:`check_stored` before any of this code
runs on it: its buckets are what its layout can hold, in order, and add up to its count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# The largest layout a report may declare: values up to 2^53 ns (104 days), exact as doubles. The
# core records up to 3.6 * 10^12 ns (an hour); this bounds what a crafted file can make us allocate.
MAX_HIGHEST_TRACKABLE_NS = 2**53
MAX_COUNT = 2**63 - 1


def rank(p: float, total: int) -> int:
    """The nearest rank of percentile ``p`` among ``total`` values: the smallest rank r (1-based)
    with r >= p/100 * total, i.e. ceil(p/100 * N), at least 1 and at most N. It is the rule of
    HdrHistogram's reference implementation (Java, ``AbstractHistogram.getValueAtPercentile``), so
    that at least p % of the values are at or below the answer. As there, p is first lowered by one
    unit in the last place: 99.9 is stored as 99.90000000000000568, and 99.9/100 * 1000 would come
    to 999.0000000000001 and round up to rank 1000, not 999. HdrHistogram_c and the Python
    ``hdrhistogram`` package round to the nearest rank instead, int(p/100 * N + 0.5), which is one
    rank lower when the fraction of p/100 * N is below one half (see the README). The core
    (cpp/metrics/latency_histogram.cpp) computes the same."""
    if total <= 0:
        return 0
    p = min(max(math.nextafter(p, -math.inf), 0.0), 100.0)
    return min(max(math.ceil(p / 100.0 * total), 1), total)


@dataclass(frozen=True)
class Layout:
    significant_figures: int = 3
    highest_trackable_ns: int = 3_600_000_000_000

    @property
    def sub_bucket_half_count_magnitude(self) -> int:
        return max(math.ceil(math.log2(2 * 10**self.significant_figures)), 1) - 1

    def bucket_width(self, value: int) -> int:
        """Width of the bucket holding ``value`` (1 for small values, then doubling)."""
        mask = (1 << (self.sub_bucket_half_count_magnitude + 1)) - 1
        pow2_ceiling = (value | mask).bit_length()
        return 1 << (pow2_ceiling - (self.sub_bucket_half_count_magnitude + 1))

    def lowest_equivalent(self, value: int) -> int:
        width = self.bucket_width(value)
        return value // width * width

    def highest_equivalent(self, value: int) -> int:
        return self.lowest_equivalent(value) + self.bucket_width(value) - 1

    @property
    def bucket_slots(self) -> int:
        """How many distinct buckets the layout has (HdrHistogram's ``counts_len``): no histogram of
        this layout can have more non-empty ones."""
        sub_bucket_count = 1 << (self.sub_bucket_half_count_magnitude + 1)
        smallest_untrackable, bucket_count = sub_bucket_count, 1
        while smallest_untrackable <= self.highest_trackable_ns:
            smallest_untrackable <<= 1
            bucket_count += 1
        return (bucket_count + 1) * (sub_bucket_count // 2)


@dataclass
class Histogram:
    """A mergeable latency histogram (values in nanoseconds)."""

    layout: Layout = field(default_factory=Layout)
    counts: dict[int, int] = field(default_factory=dict)  # bucket's lowest value -> count
    min_ns: int = 0
    max_ns: int = 0
    sum_ns: float = 0.0  # exact mean * count, for merged means

    @classmethod
    def from_report(cls, stored: dict[str, Any]) -> "Histogram":
        """From a connector entry's ``histogram`` section."""
        layout = Layout(stored["significant_figures"], stored["highest_trackable_ns"])
        counts = {int(v): int(c) for v, c in stored["buckets"]}
        return cls(layout, counts, int(stored["min_ns"]), int(stored["max_ns"]),
                   float(stored["mean_ns"]) * sum(counts.values()))

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    @property
    def mean_ns(self) -> float:
        n = self.count
        return self.sum_ns / n if n else 0.0

    def merge(self, other: "Histogram") -> "Histogram":
        """A new histogram holding both; the layouts must match."""
        if other.layout != self.layout:
            raise ValueError("cannot merge histograms of different layouts")
        counts = dict(self.counts)
        for value, n in other.counts.items():
            counts[value] = counts.get(value, 0) + n
        if not self.count:
            lo, hi = other.min_ns, other.max_ns
        elif not other.count:
            lo, hi = self.min_ns, self.max_ns
        else:
            lo, hi = min(self.min_ns, other.min_ns), max(self.max_ns, other.max_ns)
        return Histogram(self.layout, counts, lo, hi, self.sum_ns + other.sum_ns)

    def percentile(self, p: float) -> int:
        """The ``p``-th percentile in ns by nearest rank (:func:`rank`): the top of the bucket holding
        that rank, clamped to the exact min and max (0 for an empty histogram)."""
        total = self.count
        if total == 0:
            return 0
        wanted = rank(p, total)
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= wanted:
                return min(max(self.layout.highest_equivalent(value), self.min_ns), self.max_ns)
        return self.max_ns

    def cdf(self) -> tuple[list[int], list[float]]:
        """Bucket tops (ns) and the fraction of values at or below each, for plotting."""
        total = self.count
        xs, ys, seen = [], [], 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            xs.append(min(self.layout.highest_equivalent(value), self.max_ns))
            ys.append(seen / total)
        return xs, ys


def check_stored(stored: dict[str, Any]) -> str | None:
    """What is wrong with a stored histogram (a report's ``histogram`` section, already valid
    against the schema), or None: a layout beyond :data:`MAX_HIGHEST_TRACKABLE_NS`, more buckets
    than the layout has, a bucket value that is not the lowest value of a bucket in range, values not
    strictly increasing, counts that do not add up to ``count``, or a min or max outside the first or
    last bucket."""
    for key in ("highest_trackable_ns", "significant_figures", "count", "min_ns", "max_ns", "clamped"):
        if type(stored[key]) is not int:  # JSON Schema calls 2.0 an integer; the bucket arithmetic does not
            return f"{key} {stored[key]!r} is not an integer"
    highest = stored["highest_trackable_ns"]
    if highest > MAX_HIGHEST_TRACKABLE_NS:
        return f"highest_trackable_ns {highest} is above {MAX_HIGHEST_TRACKABLE_NS} (2^53)"
    layout = Layout(stored["significant_figures"], highest)
    buckets = stored["buckets"]
    if len(buckets) > layout.bucket_slots:
        return (f"{len(buckets):,} buckets, more than the {layout.bucket_slots:,} its layout has "
                f"({layout.significant_figures} significant figures up to {highest} ns)")
    previous, total = -1, 0
    for i, (value, count) in enumerate(buckets):
        if type(value) is not int or type(count) is not int:
            return f"buckets/{i}: {[value, count]!r} are not integers"
        if value <= previous:
            return f"buckets/{i}: {value} does not follow {previous} (buckets are strictly increasing)"
        if value > highest:
            return f"buckets/{i}: {value} is above highest_trackable_ns {highest}"
        if layout.lowest_equivalent(value) != value:
            return f"buckets/{i}: {value} is not a bucket's lowest value ({layout.lowest_equivalent(value)} is)"
        previous, total = value, total + count
    if total > MAX_COUNT:
        return f"the buckets count {total} values, more than {MAX_COUNT}"
    if total != stored["count"]:
        return f"the buckets count {total} values, but count is {stored['count']}"
    if total:
        first, last = buckets[0][0], buckets[-1][0]
        if not first <= stored["min_ns"] <= layout.highest_equivalent(first):
            return f"min_ns {stored['min_ns']} is not in the first bucket ({first})"
        if stored["max_ns"] < last or (not stored["clamped"] and stored["max_ns"] > layout.highest_equivalent(last)):
            return f"max_ns {stored['max_ns']} is not in the last bucket ({last})"
    return None
