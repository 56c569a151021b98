"""``loadbench compare A B``: two runs side by side, per connector and metric, with the change
and whether it is beyond the measured noise.

A side is a report file, or the latest line of ``runs/results.jsonl`` whose git sha starts with the
given prefix (or whose sha a git ref names). Both become headline points (:mod:`loadbench.report.headlines`).

The rule, for TPS and the p50/p95/p99 latencies (the metrics with a per-second series):
Welch's t = (mean_B - mean_A) / sqrt(sd_A^2 / n_A + sd_B^2 / n_B), over the per-second values of the
measured window (or over the iterations of a sweep point that ran two or more); a change is
*significant* when |t| >= 3. A latency change is first compared with the histogram's precision:
values are stored as the top of a bucket 10^-sf wide (0.1 % at 3 significant figures), so two
values within 2 x 10^-sf of each other are the same. p99.9 and max have no per-second series,
so no noise measure: their change is shown, never marked.

Before the figures, compare names what differs between the two sides' setups (:func:`differences`:
test, mode, seconds, concurrency and the other parameters, connector settings, machine, versions;
from :func:`loadbench.report.headlines.setup`), so that a change is not blamed on the code when
the setup changed. A results.jsonl line written before lines held a setup has none to compare.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadbench.errors import ConfigError
from loadbench.report import headlines, results_log, store

K_SIGMA = 3.0
SAME = "same"  # within the histogram's precision
NOISE = "within noise"
UNKNOWN = "no noise measure"
BETTER, WORSE = "BETTER", "WORSE"


@dataclass(frozen=True)
class Side:
    label: str  # what the user named, for the table's header
    points: list[dict[str, Any]]
    setup: dict[str, Any] | None = None  # headlines.setup() of the run; None when unknown


@dataclass(frozen=True)
class Change:
    point: str  # "alpha=0.5, concurrency=10"; "" for single runs
    connector: str
    metric: str
    a: float | None
    b: float | None
    change_percent: float | None
    t: float | None
    verdict: str


def _is_report(arg: str) -> bool:
    path = Path(arg)
    return path.is_file() or path.suffix == ".json" or "/" in arg


def resolve_both(a: str, b: str, runs_dir: Path) -> tuple[Side, Side]:
    """:func:`resolve` of both sides, reading results.jsonl at most once (its warnings once)."""
    log = runs_dir / results_log.FILE_NAME
    lines = None if _is_report(a) and _is_report(b) else results_log.read(log)
    return resolve(a, runs_dir, lines), resolve(b, runs_dir, lines)


def resolve(arg: str, runs_dir: Path, log_lines: list[dict[str, Any]] | None = None) -> Side:
    """A report file, or the latest results.jsonl line of a git sha prefix or ref (from
    ``log_lines`` when given, else read from ``runs_dir``)."""
    path = Path(arg)
    if _is_report(arg):
        report = store.load(path)
        return Side(str(path), headlines.points(report), headlines.setup(report))
    log = runs_dir / results_log.FILE_NAME
    if log_lines is None:
        log_lines = results_log.read(log)
    lines = [line for line in log_lines if isinstance(line.get("git"), dict) and line["git"].get("sha")]
    matches = []
    if re.fullmatch(r"[0-9a-fA-F]{4,40}", arg):
        matches = [line for line in lines if line["git"]["sha"].startswith(arg.lower())]
    if not matches:
        sha = results_log.git_output(["rev-parse", "--verify", "--quiet", f"{arg}^{{commit}}"], None)
        matches = [line for line in lines if line["git"]["sha"] == sha] if sha else []
    if not matches:
        raise ConfigError(f"{arg!r} is neither a report file nor a git sha or ref with results in {log}")
    shas = sorted({line["git"]["sha"] for line in matches})
    if len(shas) > 1:
        raise ConfigError(f"git sha prefix {arg!r} is ambiguous in {log}: {', '.join(s[:12] for s in shas)}")
    latest = matches[-1]
    dirty = " +uncommitted" if latest["git"].get("dirty") else ""
    setup = latest.get("setup") if isinstance(latest.get("setup"), dict) else None
    return Side(f"{shas[0][:12]}{dirty} ({latest['kind']} at {latest['timestamp']})", latest["points"], setup)


def welch_t(a: dict[str, Any], b: dict[str, Any], metric: str) -> float | None:
    """Welch's t of ``metric`` from the two headlines' noise; None when either lacks two samples."""
    na, nb = a["noise"]["n"], b["noise"]["n"]
    sa, sb = a["noise"]["stddev"].get(metric), b["noise"]["stddev"].get(metric)
    ma, mb = a["noise"]["mean"].get(metric), b["noise"]["mean"].get(metric)
    if na < 2 or nb < 2 or None in (sa, sb, ma, mb):
        return None
    se = math.sqrt(sa * sa / na + sb * sb / nb)
    if not math.isfinite(se) or not math.isfinite(mb - ma):  # figures beyond a double's range
        return None
    if se == 0:
        return 0.0 if mb == ma else math.copysign(math.inf, mb - ma)
    return float((mb - ma) / se)


def judge(a: dict[str, Any], b: dict[str, Any], metric: str) -> tuple[float | None, float | None, str]:
    """``(change %, t, verdict)`` of ``metric`` from headline ``a`` to headline ``b``."""
    va, vb = a[metric], b[metric]
    change = (vb - va) / va * 100 if va else None
    if change is not None and not math.isfinite(change):
        change = None
    if metric != "tps":
        precision = 2 * 10.0 ** -min(a["significant_figures"], b["significant_figures"])
        if abs(vb - va) <= precision * max(va, vb):
            return change, None, SAME
    if metric not in headlines.PER_SECOND:
        return change, None, UNKNOWN
    t = welch_t(a, b, metric)
    if t is None:
        return change, None, UNKNOWN
    if abs(t) < K_SIGMA:
        return change, t, NOISE
    higher_is_better = metric in headlines.HIGHER_IS_BETTER
    return change, t, BETTER if (vb > va) == higher_is_better else WORSE


def _key(values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(values.items()))


def compare(a: Side, b: Side) -> list[Change]:
    """Every metric of every connector at every point the two sides share."""
    b_points = {_key(p["values"]): p for p in b.points}
    common = [p for p in a.points if _key(p["values"]) in b_points]
    if not common:
        raise ConfigError(f"{a.label} and {b.label} have no point in common (a sweep's points are its swept values)")
    changes = []
    for pa in common:
        pb = b_points[_key(pa["values"])]
        label = ", ".join(f"{k}={v:g}" for k, v in pa["values"].items())
        heads_b = {h["name"]: h for h in pb["connectors"]}
        names = list(dict.fromkeys([h["name"] for h in pa["connectors"]] + list(heads_b)))
        heads_a = {h["name"]: h for h in pa["connectors"]}
        for name in names:
            ha, hb = heads_a.get(name), heads_b.get(name)
            missing = ("only in B" if ha is None else "only in A" if hb is None
                       else "failed in A" if ha["status"] == "failed" else "failed in B" if hb["status"] == "failed"
                       else None)
            for metric in headlines.METRICS:
                if ha is None or hb is None or missing:
                    changes.append(Change(label, name, metric, None, None, None, None, missing or ""))
                    continue
                change, t, verdict = judge(ha, hb, metric)
                changes.append(Change(label, name, metric, ha[metric], hb[metric], change, t, verdict))
    return changes


def as_dicts(changes: list[Change]) -> list[dict[str, Any]]:
    """For JSON: an infinite t (no spread at all on either side) becomes None."""
    return [{**asdict(c), "t": c.t if c.t is None or math.isfinite(c.t) else None} for c in changes]


def regressed(changes: list[Change]) -> bool:
    return any(c.verdict == WORSE for c in changes)


def setup_differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What differs between two setups (:func:`loadbench.report.headlines.setup`), in a stable
    order: ``[{"what", "a", "b"}]``, a value None on the side that does not have it. Empty when
    either setup is unknown. The settings of a connector that ran on one side only are left out:
    ``connectors`` already names it."""
    if a is None or b is None:
        return []

    def connector_of(key: str) -> str | None:
        return key[len("connector "):].rpartition(": ")[0] if key.startswith("connector ") else None

    one_sided = {connector_of(k) for k in a} ^ {connector_of(k) for k in b}
    keys = [k for k in dict.fromkeys([*a, *b]) if connector_of(k) is None or connector_of(k) not in one_sided]
    return [{"what": k, "a": a.get(k), "b": b.get(k)} for k in keys if a.get(k) != b.get(k)]


def differences(report_a: dict[str, Any], report_b: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`setup_differences` of two reports."""
    return setup_differences(headlines.setup(report_a), headlines.setup(report_b))


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def describe_difference(d: dict[str, Any]) -> str:
    """One difference as a line: ``seconds: A 10, B 5``."""
    return f"{d['what']}: A {_shown(d['a'])}, B {_shown(d['b'])}"
