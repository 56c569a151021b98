"""k6-style pass/fail thresholds on a report's figures: ``--threshold 'p99_ms<50'``.

An expression is ``[CONNECTOR:]METRIC OP LIMIT``: ``OP`` one of ``<``, ``<=``, ``>``, ``>=``;
``LIMIT`` a finite number; ``CONNECTOR`` a connector's name (``postgres``) or its label with its
configuration preset (``sqlite wal-1``); without it the threshold holds for every connector.
The metrics, per connector run, over its measured window:

- ``tps``: committed operations per second (the entry's ``tps``);
- ``p50_ms``, ``p95_ms``, ``p99_ms``, ``p999_ms`` (also spelled ``p99.9_ms``), ``max_ms``,
  ``mean_ms``: latency of committed and rejected operations, ms (the entry's ``latency``);
- ``error_rate``: failed / (committed + rejected + failed), a fraction in [0, 1]. Rejections
  (a transfer refused for lack of funds) are complete answers, not errors; retries that ended
  committed are not failures. It counts every failure kind, ``--max-failure-share``'s excluded
  ones too.

Thresholds are evaluated when the report is built (:func:`evaluate`) and stored in it
(``thresholds``): every connector run they name, of every point and iteration of a sweep, must
pass. A run that measured nothing (it could not run, or timed no operation) has no value: its
result is ``passed: null``, and the run is a failed one already (exit 1, which outranks a breach).
A breach makes the command exit :data:`EXIT_BREACHED` (99, k6's code).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from loadbench.errors import ConfigError
from loadbench.report.table import entry_label, runs

EXIT_BREACHED = 99

# metric -> (unit shown, how to read it from a measured entry; None when it has no value)
_LATENCY = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99", "p999_ms": "p99.9", "max_ms": "max", "mean_ms": "mean"}
METRICS = ("tps", "error_rate", *_LATENCY)
_ALIASES = {"p99.9_ms": "p999_ms"}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_EXPRESSION = re.compile(r"\s*(?:(?P<connector>[^:<>=]+?)\s*:)?\s*(?P<metric>[A-Za-z0-9_.]+)\s*"
                         r"(?P<op><=|>=|<|>)\s*(?P<limit>[^\s<>=]+)\s*")


@dataclass(frozen=True)
class Threshold:
    """One parsed ``--threshold``: ``connector`` None for every connector."""

    expression: str
    connector: str | None
    metric: str
    operator: str
    limit: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.operator](value, self.limit)


def parse(expression: str) -> Threshold:
    """A ``--threshold`` expression; a malformed one is a one-line ConfigError (bad input)."""
    match = _EXPRESSION.fullmatch(expression)
    if match is None:
        raise ConfigError(f"--threshold {expression!r}: expected [CONNECTOR:]METRIC OP NUMBER with OP one of "
                          f"<, <=, >, >= (e.g. 'p99_ms<50', 'postgres:tps>=1000')")
    metric = _ALIASES.get(match["metric"], match["metric"])
    if metric not in METRICS:
        raise ConfigError(f"--threshold {expression!r}: unknown metric {match['metric']!r} "
                          f"(one of {', '.join(METRICS)})")
    try:
        limit = float(match["limit"].replace("_", ""))
    except ValueError:
        limit = math.nan
    if not math.isfinite(limit):
        raise ConfigError(f"--threshold {expression!r}: the limit {match['limit']!r} is not a finite number")
    connector = match["connector"].strip() if match["connector"] else None
    return Threshold(expression.strip(), connector, metric, match["op"], limit)


def parse_all(expressions: Iterable[str]) -> tuple[Threshold, ...]:
    return tuple(parse(e) for e in expressions)


def check_connectors(thresholds: Iterable[Threshold], names: Iterable[tuple[str, str]]) -> None:
    """Every connector a threshold names is one of the run's ``(name, label)`` pairs; else bad input."""
    known = [n for pair in names for n in pair]
    for t in thresholds:
        if t.connector is not None and t.connector not in known:
            raise ConfigError(f"--threshold {t.expression!r}: no connector {t.connector!r} in this run "
                              f"(connectors: {', '.join(dict.fromkeys(known))})")


def value_of(entry: dict[str, Any], metric: str) -> float | None:
    """``metric`` of a connector entry, or None when the entry measured nothing it can give."""
    if "latency" not in entry:  # it could not run
        return None
    if metric == "tps":
        return float(entry["tps"])
    if metric == "error_rate":
        operations = entry["committed"] + entry["rejected"] + entry["failed"]
        return entry["failed"] / operations if operations else None
    if entry["latency"]["count"] == 0:  # nothing timed: no latency, not 0 ms
        return None
    return float(entry["latency"][_LATENCY[metric]])


def _applies(t: Threshold, entry: dict[str, Any], report: dict[str, Any]) -> bool:
    if t.connector is None:
        return True
    label = entry["name"] + (f" {entry['configuration_id']}" if entry.get("configuration_id") else "")
    return t.connector in (entry["name"], label)


def evaluate(report: dict[str, Any], thresholds: Iterable[Threshold]) -> list[dict[str, Any]]:
    """The report's ``thresholds``: per threshold, its parts, one result per connector run it
    applies to (``{"connector", "point", "iteration", "actual", "passed"}``; ``point`` "" for a
    single run) and ``passed``: false when any run breached it, null when no run had a value,
    else true."""
    out = []
    for t in thresholds:
        results = []
        for values, iteration, _, entry in runs(report):
            if not _applies(t, entry, report):
                continue
            actual = value_of(entry, t.metric)
            results.append({
                "connector": entry_label(entry, report),
                "point": ", ".join(f"{k}={v:g}" for k, v in values.items()),
                "iteration": iteration,
                "actual": actual,
                "passed": None if actual is None else t.holds(actual),
            })
        verdicts = [r["passed"] for r in results if r["passed"] is not None]
        out.append({
            "expression": t.expression,
            "connector": t.connector,
            "metric": t.metric,
            "operator": t.operator,
            "limit": t.limit,
            "passed": None if not verdicts else all(verdicts),
            "results": results,
        })
    return out


def stored(report: dict[str, Any]) -> tuple[Threshold, ...]:
    """The thresholds a report was judged by (none when it was given none)."""
    return tuple(Threshold(t["expression"], t["connector"], t["metric"], t["operator"], t["limit"])
                 for t in report.get("thresholds", []))


def breached(evaluated: Iterable[dict[str, Any]]) -> bool:
    return any(t["passed"] is False for t in evaluated)


def _figure(metric: str, value: float | None) -> str:
    if value is None:
        return "no value"
    if metric == "tps":
        return f"{value:,.0f}"
    if metric == "error_rate":
        return f"{value:.4g}"
    return f"{value:.3f} ms" if value < 100 else f"{value:,.1f} ms"


def lines(evaluated: list[dict[str, Any]]) -> list[str]:
    """One line per threshold and connector run, for under the final table (each well within
    100 columns unless a name is long): ``passed   p99_ms<50   sqlite   p99_ms 12.300 ms``."""
    out = []
    for t in evaluated:
        if not t["results"]:
            out.append(f"threshold {t['expression']}: no connector run to judge")
        for r in t["results"]:
            verdict = {True: "passed", False: "BREACHED", None: "not judged"}[r["passed"]]
            where = r["connector"] + (f" at {r['point']}" if r["point"] else "") + (
                f" #{r['iteration'] + 1}" if r["iteration"] else "")
            out.append(f"threshold {t['expression']}: {verdict}, {where}: {t['metric']} = {_figure(t['metric'], r['actual'])}")
    return out
