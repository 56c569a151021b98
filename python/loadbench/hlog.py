"""HdrHistogram interval logs (``.hlog``) from reports, for the HdrHistogram tools
(HistogramLogProcessor, HdrHistogram plotters) to read.

Each connector's histogram becomes one interval line covering the measured window, tagged with
the connector's name (``Tag=sqlite,...``); in an open loop the service-time histogram follows,
tagged ``<name>.service``. Values are nanoseconds; the interval's max is written in ms (the
format's default unit ratio of 10^6). The histograms are encoded by the ``hdrhistogram`` package
(V2 compressed, base64), with the same layout loadbench records in, so the counts are identical.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hdrh.histogram import HdrHistogram

from loadbench import reports
from loadbench.reports import write_atomic

LOG_FORMAT_VERSION = "1.3"
MAX_VALUE_UNIT_RATIO = 1e6  # ns -> ms, the tools' default


def to_hdr(stored: dict) -> HdrHistogram:
    """A report's stored histogram as an HdrHistogram with the same layout and counts."""
    h = HdrHistogram(1, stored["highest_trackable_ns"], stored["significant_figures"])
    for value, count in stored["buckets"]:
        h.record_value(value, count)
    return h


def _interval_line(tag: str, start_s: float, length_s: float, stored: dict) -> str:
    encoded = to_hdr(stored).encode().decode("ascii")
    return f"Tag={tag},{start_s:.3f},{length_s:.3f},{stored['max_ns'] / MAX_VALUE_UNIT_RATIO:.3f},{encoded}\n"


def render(report: dict) -> str:
    """The .hlog text of one report."""
    started = datetime.fromisoformat(report["started_at"].replace("Z", "+00:00"))
    lines = [
        f"#[Histogram log format version {LOG_FORMAT_VERSION}]\n",
        f"#[StartTime: {started.timestamp():.3f} (seconds since epoch), {started.isoformat()}]\n",
        f"#[loadbench {report['test']} report, values in ns; one interval per connector over its measured window]\n",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n',
    ]
    for entry in report["connectors"]:
        if entry["status"] == "failed" or entry["histogram"]["count"] == 0:
            continue
        start, length = entry["warmup_seconds"], entry["measured_seconds"]
        tag = reports.entry_label(entry, report).replace(" ", "/")  # a tag ends at a comma; no spaces either
        lines.append(_interval_line(tag, start, length, entry["histogram"]))
        schedule = entry.get("schedule")
        if schedule and schedule["service_histogram"] and schedule["service_histogram"]["count"]:
            lines.append(_interval_line(f"{tag}.service", start, length, schedule["service_histogram"]))
    return "".join(lines)


def export(report: dict, path: Path) -> Path:
    write_atomic(path, render(report))
    return path
