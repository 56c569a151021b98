"""Latency histograms as stored in reports: read, merge and query them without the native core.

A report stores each histogram sparsely as ``[[lowest_value_ns, count], ...]`` with the layout
(HdrHistogram's: lowest discernible value 1 ns, ``significant_figures``, ``highest_trackable_ns``).
Percentiles here follow the core exactly: nearest rank, reported as the top of its bucket and
clamped to the exact min and max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


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


@dataclass
class Histogram:
    """A mergeable latency histogram (values in nanoseconds)."""

    layout: Layout = field(default_factory=Layout)
    counts: dict[int, int] = field(default_factory=dict)  # bucket's lowest value -> count
    min_ns: int = 0
    max_ns: int = 0
    sum_ns: float = 0.0  # exact mean * count, for merged means

    @classmethod
    def from_report(cls, stored: dict) -> "Histogram":
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
        """The nearest-rank ``p``-th percentile in ns (0 for an empty histogram)."""
        total = self.count
        if total == 0:
            return 0
        rank = min(max(math.ceil(min(max(p, 0.0), 100.0) / 100.0 * total), 1), total)
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= rank:
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
