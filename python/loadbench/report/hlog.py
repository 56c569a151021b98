"""HdrHistogram interval logs (``.hlog``) from reports, for the HdrHistogram tools
(HistogramLogProcessor, HdrHistogram plotters, the ``hdrhistogram`` package's log reader) to read.

Each connector run becomes one interval line covering its measured window, in the order the runs
ran, tagged with its label (``Tag=sqlite,...``); in an open loop the service-time histogram follows,
tagged ``<label>.service``; a sweep's runs carry their point and iteration (``sqlite/alpha=0.5/i2``).
The log's ``StartTime`` and ``BaseTime`` are the report's ``started_at``; an interval starts at its
window's ``window_start`` and lasts until ``window_end`` (reports from before those fields: at
``warmup_seconds`` after ``started_at``, lasting ``measured_seconds``), in seconds after the base
time, with ms precision. Values are nanoseconds; the interval's max is written in ms (the format's
default unit ratio of 10^6). The histograms are encoded by the ``hdrhistogram`` package (V2
compressed, base64), with the same layout loadbench records in, so the counts are identical.

Tags are escaped (:func:`tag`): the format ends a tag at a comma and a line at a newline, and its
Java reader splits on spaces, so a label from a report passed around can add no field or line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from loadbench import outputs
from loadbench.report import store
from loadbench.report.table import entry_label

LOG_FORMAT_VERSION = "1.3"
MAX_VALUE_UNIT_RATIO = 1e6  # ns -> ms, the tools' default

# Printable ASCII but the comma (ends a tag), '%' (our escape), '/' (stands for a space) and space.
_TAG_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F)) - {",", "%", "/"}


def tag(label: str) -> str:
    """``label`` as an .hlog tag: spaces become ``/``; commas, ``%``, ``/``, control characters and
    anything outside printable ASCII are percent-encoded (UTF-8), so the tag is one field."""
    out = []
    for char in label:
        if char == " ":
            out.append("/")
        elif char in _TAG_SAFE:
            out.append(char)
        else:
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass")))
    return "".join(out)


def to_hdr(stored: dict[str, Any]) -> HdrHistogram:
    """A report's stored histogram (checked by :func:`loadbench.report.histogram.check_stored`, as
    :func:`loadbench.report.store.load` does) as an HdrHistogram with the same layout and counts."""
    h = HdrHistogram(1, stored["highest_trackable_ns"], stored["significant_figures"])
    for value, count in stored["buckets"]:
        h.record_value(value, count)
    return h


def _interval_line(label: str, start_s: float, length_s: float, stored: dict[str, Any]) -> str:
    encoded = to_hdr(stored).encode().decode("ascii")
    return f"Tag={label},{start_s:.3f},{length_s:.3f},{stored['max_ns'] / MAX_VALUE_UNIT_RATIO:.3f},{encoded}\n"


def _runs(report: dict[str, Any]) -> list[tuple[str, dict[str, Any], float, float]]:
    """Every measured connector run as (label, entry, start of the window in seconds since the
    epoch, length in seconds), in the order they ran."""
    if store.kind_of(report) == "bench":
        located = [(entry_label(e, report), e, report["started_at"]) for e in report["connectors"]]
    else:
        located = [(" ".join([entry_label(e, report), *(f"{k}={v:g}" for k, v in point["values"].items()),
                              f"i{i + 1}"]), e, iteration["started_at"])
                   for point in report["points"] for i, iteration in enumerate(point["iterations"])
                   for e in iteration["connectors"]]
    found = []
    for label, entry, began in located:
        if entry["status"] == "failed" or entry["histogram"]["count"] == 0:
            continue
        if "window_start" in entry and "window_end" in entry:
            start = store.parse_timestamp(entry["window_start"]).timestamp()
            length = store.parse_timestamp(entry["window_end"]).timestamp() - start
        else:  # older reports: the window opened after the warmup; each connector's own start is unknown
            start = store.parse_timestamp(began).timestamp() + entry["warmup_seconds"]
            length = entry["measured_seconds"]
        found.append((label, entry, start, length))
    return found


def render(report: dict[str, Any]) -> str:
    """The .hlog text of one report (single run or sweep)."""
    started = store.parse_timestamp(report["started_at"])
    found = _runs(report)
    # Interval times are seconds after the base time, which the format writes unsigned: the base is
    # the report's start, or an earlier window's if the wall clock stepped back meanwhile.
    base = min([started.timestamp(), *(start for _, _, start, _ in found)])
    lines = [
        f"#[Histogram log format version {LOG_FORMAT_VERSION}]\n",
        f"#[StartTime: {started.timestamp():.3f} (seconds since epoch), {started.isoformat()}]\n",
        f"#[BaseTime: {base:.3f} (seconds since epoch)]\n",
        f"#[loadbench report of {tag(report['test'])}, values in ns; one interval per connector run over its "
        "measured window]\n",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n',
    ]
    for label, entry, start, length in found:
        lines.append(_interval_line(tag(label), start - base, length, entry["histogram"]))
        schedule = entry.get("schedule")
        if schedule and schedule.get("service_histogram") and schedule["service_histogram"]["count"]:
            lines.append(_interval_line(tag(label) + ".service", start - base, length, schedule["service_histogram"]))
    return "".join(lines)


def export(report: dict[str, Any], path: Path) -> Path:
    """Writes the .hlog of ``report`` to ``path`` whole or not at all; raises OSError."""
    outputs.replace(path, render(report).encode("ascii"))
    return path
