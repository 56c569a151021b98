"""Merging runs: the latency histograms of every run of each connector across reports add
bucket by bucket (exact), for ``report --merge``.
"""

from __future__ import annotations

from typing import Any

from loadbench.errors import ConfigError
from loadbench.report.histogram import Histogram
from loadbench.report.table import entry_label, printable, runs


def merge_histograms(loaded: list[dict[str, Any]]) -> dict[str, tuple[int, Histogram]]:
    """Every measured run of each connector across reports (single runs and sweep points), its
    latency histograms merged: ``{name: (runs, histogram)}``, in first-seen order."""
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

