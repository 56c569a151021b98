"""Reports on disk: their schemas (``schema/report-v1.schema.json`` for a single run,
``schema/sweep-v1.schema.json`` for a sweep), validation, writing (whole or not at all, never
replacing a file) and loading (:func:`load`: validated, within the limits of
:mod:`loadbench.report.untrusted`), and the times they write (ISO 8601, UTC, ms).

Building a report is :mod:`loadbench.report.build`; reading reports as rows or a DataFrame is
:mod:`loadbench.report.table`.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import jsonschema

from loadbench import outputs
from loadbench.errors import ConfigError, OutputError
from loadbench.report import untrusted
from loadbench.report.histogram import check_stored

SCHEMA_VERSION = 1
PERCENTILE_KEYS = ("50", "90", "95", "99", "99.9", "99.99")
SCHEMA_FILES = {"bench": "report-v1.schema.json", "sweep": "sweep-v1.schema.json"}


def _schema_text(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(resources.files("loadbench.report").joinpath(f"schema/{name}").read_text(encoding="utf-8"))
    return doc


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The single-run report's schema."""
    return _schema_text(SCHEMA_FILES["bench"])


@lru_cache(maxsize=None)
def _validator(kind: str) -> jsonschema.protocols.Validator:
    # The sweep schema refers to the single-run schema's definitions by its $id. Long arrays (series,
    # buckets) are checked by functions compiled from their item schemas: same verdicts, ~30x faster.
    docs = {k: (schema() if k == "bench" else _schema_text(name)) for k, name in SCHEMA_FILES.items()}
    return untrusted.fast_validator(jsonschema.Draft202012Validator, docs, kind)


def kind_of(report: dict[str, Any]) -> str:
    """``"sweep"`` for a sweep report, else ``"bench"`` (single-run reports carry no kind)."""
    return "sweep" if isinstance(report, dict) and report.get("kind") == "sweep" else "bench"


def validate(report: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when ``report`` does not follow its schema."""
    error = jsonschema.exceptions.best_match(_validator(kind_of(report)).iter_errors(report))
    if error is not None:
        raise error


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as reports write times."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unix_ns_timestamp(ns: int) -> str:
    """A wall-clock time in ns since the epoch (UTC) as :func:`timestamp` writes it."""
    return timestamp(datetime.fromtimestamp(ns // 10**9, timezone.utc) + timedelta(microseconds=ns % 10**9 // 1000))


def parse_timestamp(text: str) -> datetime:
    """A report's time (ISO 8601, ``Z`` for UTC; UTC when it names no zone) as an aware datetime;
    raises ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)



def write(report: dict[str, Any], runs_dir: Path) -> Path:
    """Validates ``report`` and writes it as ``runs_dir/<test>[-sweep]-<UTC timestamp>.json``,
    whole or not at all, under a name no other file has (``-2``, ``-3``, ... when runs finish in
    the same second; never replacing one: see :func:`loadbench.outputs.claim`). A failed write
    (a full disk) is an :class:`~loadbench.errors.OutputError` naming the path and the reason."""
    validate(report)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    stem = f"{report['test']}-sweep" if kind_of(report) == "sweep" else report["test"]
    try:
        data = json.dumps(report, indent=1, allow_nan=False).encode()
    except ValueError:  # JSON has no NaN or infinity: never written, and named rather than a traceback
        raise OutputError(f"cannot write report {runs_dir / f'{stem}-{stamp}.json'}: {non_finite(report)} is not a "
                          "finite number") from None
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        return outputs.claim(runs_dir, f"{stem}-{stamp}", ".json", data)
    except OSError as exc:
        raise OutputError(f"cannot write report {runs_dir / f'{stem}-{stamp}.json'}: {outputs.reason(exc)}") from None


def non_finite(value: Any, where: str = "") -> str | None:
    """The path of the first NaN or infinity in a JSON value (``connectors/0/tps``), or None."""
    stack = [(where, value)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where or "the top level"
        if isinstance(value, dict):
            stack.extend((f"{where}/{k}".lstrip("/"), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((f"{where}/{i}".lstrip("/"), v) for i, v in reversed(list(enumerate(value))))
    return None


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` whole or not at all (:func:`loadbench.outputs.replace`); raises
    OSError."""
    outputs.replace(path, text.encode("utf-8"))


def load(path: str | Path) -> dict[str, Any]:
    """Reads and validates one report, within the limits of :mod:`loadbench.report.untrusted` (size,
    depth, finite numbers) and with its histograms checked (:func:`~loadbench.report.histogram.check_stored`)
    and its series no longer than its window; a file that is not such a report is a one-line
    ConfigError."""
    path = Path(path)
    text = untrusted.read_limited(path, "report")
    try:
        report = untrusted.parse(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"report {path} is not JSON (line {exc.lineno}: {exc.msg})") from None
    except untrusted.Refused as exc:
        raise ConfigError(f"report {path} {exc}") from None
    try:
        validate(report)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise ConfigError(f"report {path} is not a loadbench report ({where}: {exc.message})") from None
    for where, problem in _consistency(report):
        raise ConfigError(f"report {path} is not a loadbench report ({where}: {problem})")
    loaded: dict[str, Any] = report
    return loaded


# One per-second point per started second of the window, and a short last one.
def _series_bound(entry: dict[str, Any]) -> int:
    return math.ceil(float(entry["measured_seconds"])) + 1


def _consistency(report: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """What the schema cannot say: tps is committed / measured_seconds, every stored histogram is
    one its layout can hold, a series has no more points than its window has seconds, and a
    point's failures by kind add up to its failed."""
    times = [("started_at", report["started_at"]), ("finished_at", report["finished_at"])]
    if kind_of(report) == "bench":
        located = [(f"connectors/{i}", e) for i, e in enumerate(report["connectors"])]
    else:
        located = [(f"points/{p}/iterations/{i}/connectors/{c}", e)
                   for p, point in enumerate(report["points"])
                   for i, iteration in enumerate(point["iterations"])
                   for c, e in enumerate(iteration["connectors"])]
        times += [(f"points/{p}/iterations/{i}/{key}", iteration[key])
                  for p, point in enumerate(report["points"]) for i, iteration in enumerate(point["iterations"])
                  for key in ("started_at", "finished_at")]
        variables = report["sweep"]["variables"]
        if set(report["sweep"]["values"]) != set(variables):
            yield "sweep/values", f"does not hold the values of exactly the variables {variables}"
        from loadbench.report import headlines

        for p, point in enumerate(report["points"]):
            if list(point["values"]) != list(variables):
                yield f"points/{p}/values", f"does not set exactly the variables {variables}, in order"
            entries = [e for it in point["iterations"] for e in it["connectors"]]
            for r, row in enumerate(point["summary"]):
                mine = [e for e in entries if e["name"] == row["name"]]
                measured = sum(e["status"] != "failed" for e in mine)
                if (row["runs"], row["failed_runs"]) != (measured, len(mine) - measured):
                    yield (f"points/{p}/summary/{r}", f"runs {row['runs']} and failed_runs {row['failed_runs']} are "
                           f"not what the iterations hold ({measured} and {len(mine) - measured})")
                missing = [k for k in headlines.SUMMARY_KEYS if k not in row]
                if measured and missing:
                    yield f"points/{p}/summary/{r}", f"lacks {', '.join(missing)}"
    times += [(f"{where}/{key}", entry[key]) for where, entry in located
              for key in ("window_start", "window_end") if key in entry]
    parsed = {}
    for where, text in times:
        try:
            parsed[where] = parse_timestamp(text).astimezone(timezone.utc)
        except (ValueError, OverflowError):
            yield where, f"{text[:40]!r} is not an ISO 8601 time"
    for where, entry in located:
        start, end = parsed.get(f"{where}/window_start"), parsed.get(f"{where}/window_end")
        if start is not None and end is not None and start > end:
            yield f"{where}/window_end", "is before window_start"
        if entry["status"] == "failed":
            continue
        # The derived figures must be what their parts say (a tampered one would go into compare).
        # measured_seconds is stored rounded to the microsecond; tps was computed before rounding.
        seconds, committed = entry["measured_seconds"], entry["committed"]
        low = committed / (seconds + 5e-7) if seconds > 0 else 0.0
        high = committed / (seconds - 5e-7) if seconds > 5e-7 else math.inf if committed else 0.0
        if not low * (1 - 1e-9) - 1e-9 <= entry["tps"] <= high * (1 + 1e-9) + 1e-9:
            expected = committed / seconds if seconds > 0 else 0.0
            yield f"{where}/tps", f"{entry['tps']:g} is not committed / measured_seconds ({expected:g})"
        histograms = [("histogram", entry["histogram"])]
        if entry.get("schedule") and entry["schedule"].get("service_histogram"):
            histograms.append(("schedule/service_histogram", entry["schedule"]["service_histogram"]))
        histograms += [(f"operations/{k}/histogram", op["histogram"]) for k, op in enumerate(entry["operations"])]
        for name, stored in histograms:
            problem = check_stored(stored)
            if problem:
                yield f"{where}/{name}", problem
        bound = _series_bound(entry)
        for name, series in (("series/points", entry["series"]["points"]), ("timeSeries", entry["timeSeries"])):
            if len(series) > bound:
                yield (f"{where}/{name}", f"{len(series):,} per-second points for a window of "
                       f"{entry['measured_seconds']:g} s (at most {bound:,})")
        for k, point in enumerate(entry["series"]["points"]):
            if "errors" in point and sum(point["errors"].values()) != point["failed"]:
                yield (f"{where}/series/points/{k}/errors", f"add up to {sum(point['errors'].values()):,}, not to "
                       f"the point's failed ({point['failed']:,})")
    # Last: a problem of the primary data is the one to name, not the derived keys it makes disagree.
    yield from _derived_consistency(report, located)


KEYNOTE_TOP = ("seconds", "concurrency", "accounts", "alpha", "results")


def _derived_consistency(report: dict[str, Any], located: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, str]]:
    """Keys derived from the report's own data must say what that data says: keynote-2's keys
    (all of them or none: reports before them have none), each entry's ``errors_without_kind``
    and the ``thresholds`` verdicts (each recomputed from the figures)."""
    from loadbench.report import build, thresholds

    if kind_of(report) == "bench":
        present = [k for k in KEYNOTE_TOP if k in report]
        if present and len(present) != len(KEYNOTE_TOP):
            missing = [k for k in KEYNOTE_TOP if k not in report]
            yield "top level", f"has keynote-2's {', '.join(present)} but not {', '.join(missing)}"
        elif present:
            expected = build.keynote_keys(report)
            for key in KEYNOTE_TOP[:4]:
                if report[key] != expected[key]:
                    yield key, f"{report[key]!r} is not parameters/{key} ({expected[key]!r})"
            if len(report["results"]) != len(expected["results"]):
                yield "results", (f"holds {len(report['results'])} entries for {len(expected['results'])} measured "
                                  "connectors")
            else:
                for i, (got, want) in enumerate(zip(report["results"], expected["results"])):
                    for key in ("system", "label", "file"):
                        if got.get(key) != want[key]:
                            yield f"results/{i}/{key}", f"{got.get(key)!r} is not the connector's ({want[key]!r})"
                    for key, value in want["res"].items():
                        if got["res"].get(key) != value:
                            yield f"results/{i}/res/{key}", "is not the connector entry's own figure"
    for where, entry in located:
        if entry["status"] == "failed" and "latency" not in entry:
            continue
        if "errors_without_kind" in entry and entry["errors_without_kind"] != build.errors_without_kind(entry):
            yield f"{where}/errors_without_kind", "is not what the entry's error counts say"
    if "thresholds" in report:
        recomputed = thresholds.evaluate(report, thresholds.stored(report))
        for i, (got, want) in enumerate(zip(report["thresholds"], recomputed)):
            if thresholds.parse(got["expression"]) != thresholds.stored({"thresholds": [got]})[0]:
                yield f"thresholds/{i}", f"its parts are not those of {got['expression']!r}"
            elif got != want:
                yield f"thresholds/{i}", "its verdicts are not what the figures say"
