"""``bench --audit``: test-1's ledger of every committed transfer, checked against what the client
heard back.

Each attempt at a transfer carries an operation id (the session's random stream in bits 62..32,
the attempt's number + 1 in bits 31..0: unique across sessions, warmup and window, the runs of an
invocation and a cluster's generators). A connector that audits (its capability ``audit``:
sqlite, postgres, mysql, redis) writes ``(op_id, from, to, amount)`` in the transfer's own
transaction: a table ``audit_ledger`` (SQLite, PostgreSQL in both ``--pg-mode``, MariaDB in both
``--mysql-mode``), the list ``audit:ledger`` inside the script or MULTI (Redis). Prep creates or
empties it; a refused transfer writes nothing. The client keeps one byte per attempt: committed,
rejected, failed with the server's answer, or no answer (connection lost, timeout, interrupt, or
still in flight at the end).

After the run, :func:`audit` reads the ledger, every balance and the server's durability settings
and counts (``scenarios/transfer_audit.hpp`` in the core):

- ``lost_writes``: acknowledged commits missing from the ledger (0 on a durable configuration);
- ``ambiguous_committed``: ledger rows of attempts the client counted as failed or never heard
  back about (they committed); ``ambiguous_not_committed``: attempts without an answer and
  without a row (they did not);
- ``lost_updates``: accounts whose balance is not initial + credits - debits of the whole ledger;
- ``server_confirmed`` = client committed + ambiguous_committed, which must equal the ledger's rows
  of this run exactly (``identity_holds``).

Any violation fails the connector (exit 1) with one line (:func:`violation`).
"""

from __future__ import annotations

from typing import Any, Sequence

from loadbench import _core
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import ConfigError

Audit = dict[str, Any]


def supports(kind: str) -> bool:
    """Whether connectors of ``kind`` keep a ledger (the core's capability ``audit``)."""
    return bool(_core.connector_capabilities().get(kind, {}).get("audit", False))


def check(test: str, connectors: Sequence[ConnectorSpec], prep: bool) -> None:
    """``--audit`` is possible for this run, or one ConfigError line (exit 2, before any load)."""
    if test != "test-1":
        raise ConfigError("--audit applies to test-1 (the built-in transfer), whose commits it checks against a ledger")
    if not prep:
        raise ConfigError("--audit needs prep (no --skip-prep): the ledger must hold every transfer since the "
                          "accounts were seeded")
    for spec in connectors:
        if not supports(spec.kind):
            audited = ", ".join(k for k in _core.connector_kinds() if supports(k))
            raise ConfigError(f"--audit: connector {spec.name!r} ({spec.kind}) keeps no ledger (audited: {audited})")


def audit(plan: Any, spec: ConnectorSpec, log: dict[int, bytes], timeout_s: float | None = None) -> Audit:
    """The audit of one run (``plan``: its RunPlan, with the run's ``stream_offset``; ``log``:
    ``_core.Run.audit_log()``): the core's counts, ``durability`` {setting: value} as the server
    reports it, and ``violation`` (None, or the one line that fails the run). Raises RunFailed or
    ConfigError as the other control-plane calls do, TimeoutError after ``timeout_s``."""
    from loadbench.run import core as engine

    found = engine.audit(plan, spec, log, timeout_s)
    found["violation"] = violation(found)
    return found


def violation(a: Audit) -> str | None:
    """The one line saying what the audit found lost or wrong; None when it passed."""
    problems = []
    if a["lost_writes"]:
        problems.append(f"{a['lost_writes']:,} acknowledged commits missing from the ledger (lost writes)")
    if a["lost_updates"]:
        problems.append(f"{a['lost_updates']:,} accounts whose balance is not initial + credits - debits of the "
                        "ledger (lost updates)")
    if a["rejected_in_ledger"]:
        problems.append(f"{a['rejected_in_ledger']:,} refused transfers in the ledger")
    if a["unknown_in_ledger"]:
        problems.append(f"{a['unknown_in_ledger']:,} ledger rows of no attempt of this run")
    if a["duplicate_ids"]:
        problems.append(f"{a['duplicate_ids']:,} duplicate operation ids in the ledger")
    if not problems and not a["identity_holds"]:
        problems.append(f"client committed + ambiguous ({a['server_confirmed']:,}) != ledger rows ({a['ledger_rows']:,})")
    if not problems:
        return None
    settings = ", ".join(f"{k}={v}" for k, v in sorted(a.get("durability", {}).items()))
    return "audit: " + "; ".join(problems) + (f" ({settings})" if settings else "")


def line(label: str, a: Audit) -> str:
    """One line for under the final table: the server-confirmed count beside the client's."""
    settings = ", ".join(f"{k}={v}" for k, v in sorted(a.get("durability", {}).items()))
    verdict = "passed" if a.get("passed") else "FAILED"
    return (f"{label}: audit {verdict}: {a['server_confirmed']:,} commits confirmed by the ledger "
            f"(client acknowledged {a['client_committed']:,} + ambiguous {a['ambiguous_committed']:,}), "
            f"lost writes {a['lost_writes']:,}, lost updates {a['lost_updates']:,}, "
            f"no answer and not committed {a['ambiguous_not_committed']:,}"
            + (f"; {settings}" if settings else ""))
