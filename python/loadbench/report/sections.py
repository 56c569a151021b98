"""A report's optional sections as rows of text, for every view (the console after bench and
sweeps, the HTML report, ``loadbench plot``): the fault timeline (``faults``, bench ``--fault``),
the generators of a distributed run (``distributed``, bench ``--cluster``), the flamegraphs
(``profile``, bench ``--profile``) and the audit of acknowledged commits (``audit``, bench
``--audit``). The figures are the report's own; this module only words them (see the report
schema's ``fault``, ``distributed``, ``profile`` and ``audit`` for their definitions).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Iterator

from loadbench.report.histogram import Histogram
from loadbench.report.table import entry_label, latency_text, runs
from loadbench.run.faults import BASELINE_S

FAULT_COLUMNS = ("connector", "fault", "injected", "lasted", "failed during, by kind", "first commit", "recovery")
AUDIT_COLUMNS = ("connector", "audit", "server-confirmed", "client-acknowledged", "lost writes", "ambiguous committed",
                 "ambiguous not committed", "lost updates", "durability")
GENERATOR_COLUMNS = ("host", "pid", "sessions", "committed", "TPS", "p99", "start skew", "clock offset", "status")


def run_label(values: dict[str, Any], iteration: int, entry: dict[str, Any], report: dict[str, Any]) -> str:
    """A connector run's name, with its sweep point and iteration when it has them:
    ``postgres``, ``postgres alpha=0.5``, ``postgres alpha=0.5 #2``."""
    point = "".join(f" {k}={v:g}" for k, v in values.items())
    repeated = any(len(p["iterations"]) > 1 for p in report.get("points", []))
    return entry_label(entry, report) + point + (f" #{iteration + 1}" if repeated else "")


def kinds_text(counts: dict[str, int]) -> str:
    """Failures by kind, most first: ``connection 120, timeout 3``; ``-`` for none."""
    shown = sorted(((n, k) for k, n in counts.items() if n), key=lambda nk: (-nk[0], nk[1]))
    return ", ".join(f"{k} {n:,}" for n, k in shown) or "-"


def fault_lasted_s(fault: dict[str, Any]) -> float | None:
    """How long a fault lasted, s: from its injection to its end, ``ended_at_s - injected_at_s``,
    when it ended (a freeze continued, a netloss table deleted, a restart's command done: cut short
    by an interrupt, or late by up to a progress poll, it is what happened), else its scheduled
    duration D (a freeze, a netloss that never ended); None when neither is known."""
    if fault.get("ended_at_s") is not None and fault.get("injected_at_s") is not None:
        return max(0.0, float(fault["ended_at_s"]) - float(fault["injected_at_s"]))
    if fault.get("duration_s"):
        return float(fault["duration_s"])
    return None


def faults(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every fault of the report as ``(run label, fault entry)``, in run order."""
    for values, iteration, _, entry in runs(report):
        for fault in entry.get("faults") or []:
            yield run_label(values, iteration, entry, report), fault


def fault_row(label: str, fault: dict[str, Any]) -> dict[str, str]:
    """One fault as the cells of :data:`FAULT_COLUMNS`. First commit and recovery are upper
    bounds at the per-second series' resolution (the end of the first whole second with a commit,
    with TPS back to 90 % of the 5 s before)."""
    row = {"connector": label, "fault": fault["spec"]}
    if fault["outcome"] == "not injected":
        return {**row, "injected": "not injected", "lasted": "-", "failed during, by kind": "-",
                "first commit": "-", "recovery": fault.get("detail", "")}
    lasted = fault_lasted_s(fault)
    if "errors_during" in fault:
        kinds = kinds_text(fault["errors_during"])
    else:  # a report from before the per-second kinds
        kinds = f"{fault['failed_during']:,} (kinds not recorded)" if fault["failed_during"] else "-"
    first = fault.get("first_commit_after_s")
    recovery = f"{fault['recovery_s']:.1f} s" if fault.get("recovered") else "not recovered"
    if "baseline_s" in fault and fault["baseline_tps"] is None:
        recovery = "no baseline (injected before the window's first whole second)"
    elif fault.get("baseline_s") is not None and fault["baseline_s"] < BASELINE_S - 0.5:
        # Fewer seconds than the rule's came before it: say what it was measured against.
        recovery += f" (vs {fault['baseline_tps']:,.0f} TPS over {fault['baseline_s']:.0f} s)"
    if fault["outcome"] not in ("done", "running"):
        recovery += f" ({fault['outcome']}" + (f": {fault['detail']}" if fault.get("detail") else "") + ")"
    return {**row, "injected": f"{fault['injected_at_s']:.2f} s",
            "lasted": f"{lasted:.2f} s" if lasted is not None else "-",
            "failed during, by kind": kinds,
            "first commit": f"≤ {first:.1f} s" if first is not None else "none",
            "recovery": recovery}


def fault_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Every fault of the report as :func:`fault_row` cells."""
    return [fault_row(label, fault) for label, fault in faults(report)]


def audit_row(label: str, a: dict[str, Any]) -> dict[str, str]:
    """One run's audit as the cells of :data:`AUDIT_COLUMNS`: the commits the ledger confirms
    (client-acknowledged + ambiguous committed) beside the client's acknowledged ones, the
    acknowledged commits the ledger lacks (lost writes), the attempts without a clear answer that
    did / did not commit, the balances the ledger does not explain (lost updates), and the server's
    durability settings as it reported them (``name=value``, by name)."""
    if not a.get("checked", True):  # the ledger could not be read: the violation says why
        return {"connector": label, "audit": f"FAILED: {a.get('violation') or 'not checked'}",
                **{c: "-" for c in AUDIT_COLUMNS[2:]}}
    verdict = "passed" if a.get("passed") else "FAILED" + (f": {a['violation']}" if a.get("violation") else "")
    return {"connector": label, "audit": verdict, "server-confirmed": f"{a['server_confirmed']:,}",
            "client-acknowledged": f"{a['client_committed']:,}", "lost writes": f"{a['lost_writes']:,}",
            "ambiguous committed": f"{a['ambiguous_committed']:,}",
            "ambiguous not committed": f"{a['ambiguous_not_committed']:,}", "lost updates": f"{a['lost_updates']:,}",
            "durability": ", ".join(f"{k}={v}" for k, v in sorted((a.get("durability") or {}).items())) or "-"}


def audit_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Every audited run of the report as :func:`audit_row` cells, in run order."""
    return [audit_row(run_label(values, iteration, entry, report), entry["audit"])
            for values, iteration, _, entry in runs(report) if entry.get("audit")]


def distributed(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every distributed section as ``(run label, section)`` (the label names the epoch:
    table.entry_label)."""
    for values, iteration, _, entry in runs(report):
        section = entry.get("distributed")
        if section:
            yield run_label(values, iteration, entry, report), section


def _ms_text(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:,.1f} ms" if abs(ms) >= 1 else f"{ms:.2f} ms"


def _p99_ms(g: dict[str, Any]) -> float:
    """A generator's p99 in ms from its own histogram (nearest rank, as the entry's): reports
    before ``p99_ms`` was stored exact to the ns rounded it to the µs (a null connector's 37 ns
    read 0)."""
    if g.get("histogram") and g["histogram"]["count"]:
        return Histogram.from_report(g["histogram"]).percentile(99) / 1e6
    return float(g["p99_ms"])


def generator_row(g: dict[str, Any]) -> dict[str, str]:
    """One generator as the cells of :data:`GENERATOR_COLUMNS` (``-``: it returned no result)."""
    measured = "committed" in g
    return {
        "host": g["host"], "pid": str(g["pid"]) if g["pid"] is not None else "-", "sessions": f"{g['sessions']:,}",
        "committed": f"{g['committed']:,}" if measured else "-", "TPS": f"{g['tps']:,.0f}" if measured else "-",
        "p99": latency_text(_p99_ms(g)) if measured and g.get("p99_ms") is not None else "-",
        "start skew": _ms_text(g.get("start_skew_ms")), "clock offset": _ms_text(g.get("clock_offset_ms")),
        "status": g["status"],
    }


def distributed_notes(section: dict[str, Any]) -> list[str]:
    """What the generator rows do not say: the largest start skew, coordination times, partial
    figures and the generators that failed (with their errors), workers refused."""
    notes = [f"start skew max {_ms_text(section['start_skew_max_ms'])}; coordination "
             f"{section['coordination']['to_go_seconds']:.2f} s to the go, "
             f"{section['coordination']['window_end_to_result_seconds']:.2f} s from the window's end to the result"]
    if section["partial"]:
        notes.append(f"PARTIAL: the merged figures leave out {len(section['failed_generators'])} of "
                     f"{len(section['generators'])} generators")
    notes += [f"generator {g['address']} ({g['host']}) {g['status']}: {g['error']}"
              for g in section["generators"] if g["status"] in ("failed", "lost")]
    notes += [f"refused: {r}" for r in section["refused_workers"]]
    return notes


def profile_links(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every flamegraph the report lists, as ``(run label, side, SVG file name)``: only plain file
    names ending in ``.svg`` (the report names them in its own directory; a name with a directory
    in it, from a report passed around, is left out)."""
    found = []
    for values, iteration, _, entry in runs(report):
        profile = entry.get("profile")
        for side in ("harness", "server"):
            drawn = (profile or {}).get(side)
            svg = drawn.get("svg") if drawn else None
            if svg and PurePosixPath(svg).name == svg and "\\" not in svg and svg.endswith(".svg") \
                    and not svg.startswith("."):
                found.append((run_label(values, iteration, entry, report), side, svg))
    return found
