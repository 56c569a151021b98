"""A generator: one share of a distributed run, run as a Dask task in a worker process.

The task (:func:`run_share`) runs loadbench's native engine in the worker with the GIL released
(the run's threads are native; this task thread only waits in the engine's GIL-free calls and
polls a Dask Event a few times a second), so the worker's heartbeats keep flowing. In order:

1. its sessions open (at most ``--open-parallelism`` at once), and the engine waits at its gate
   (``_core.Run.open`` / ``wait_held``): no operation runs yet;
2. it says so on the run's ready queue, and waits for the go Event;
3. the go carries an instant on the coordinator's clock; the engine starts its clock there (turned
   into this worker's clock with the offset the coordinator measured just before the go), so
   every generator runs the same warmup and window from one go;
4. until the run ends it polls the run's abort Event, and holds its own hard deadline (the window's
   end plus a grace), so a coordinator that vanished never leaves it running: either one stops
   the engine, whose bounded stop returns within about a second.

A Dask task cannot be cancelled once it runs, hence the Event and the deadline. What comes back is
plain data (:mod:`loadbench.distributed.results`), secrets scrubbed from every message.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from loadbench import _core
from loadbench.connectors.spec import ConnectorSpec
from loadbench.distributed import results as wire
from loadbench.errors import LoadbenchError
from loadbench.run import core as engine
from loadbench.run.config import RunPlan
from loadbench.secrets import scrub

POLL_S = 0.1  # how often a waiting generator looks at the abort Event (and its deadlines)


@dataclass(frozen=True)
class Share:
    """One generator's part of one epoch of a run: its own plan (its sessions, rate, operations and
    stream offset), the connector, the names of the run's Dask Events and queue, and how long it
    may wait for each step before it gives up on its own."""

    plan: RunPlan
    spec: ConnectorSpec
    run_id: str
    open_timeout_s: float  # from the task's start to every session open
    go_timeout_s: float    # from ready to the go
    grace_s: float         # past the window's planned end: the hard deadline

    @property
    def ready_queue(self) -> str:
        return f"{self.run_id}-ready"

    @property
    def go_event(self) -> str:
        return f"{self.run_id}-go"

    @property
    def go_at_variable(self) -> str:
        return f"{self.run_id}-go-at"

    @property
    def abort_event(self) -> str:
        return f"{self.run_id}-abort"


def _is_set(event: Any) -> bool:
    """The abort Event, read; a scheduler that cannot be reached counts as not set (the hard
    deadline still ends the run)."""
    try:
        return bool(event.is_set())
    except Exception:  # noqa: BLE001 - a lost scheduler connection, whatever Dask raises for it
        return False


def run_share(share: Share) -> dict[str, Any]:
    """Runs one generator's share (see the module's doc) and returns what it measured:
    ``{"address", "host", "pid", "sessions", "clock_offset_s", "go_at", "result" (wire) |
    None, "error" (one line) | None, "phase"}``; never raises for a run that failed."""
    from distributed import Event, Queue, Variable, get_worker

    worker = get_worker()
    spec, plan = share.spec, share.plan
    out: dict[str, Any] = {"address": worker.address, "host": socket.gethostname(), "pid": os.getpid(),
                           "sessions": plan.concurrency * spec.sessions_per_connection, "clock_offset_s": 0.0,
                           "go_at": None, "result": None, "error": None, "phase": "opening"}
    abort = Event(share.abort_event)
    try:
        native = engine._native_call(spec, "start", _core.Run, plan.core_config(spec), plan.core_scenario(spec),
                                     spec.core_dict())
    except LoadbenchError as exc:
        out["error"] = str(exc)
        return out
    native.open()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            native.stop()
            stopped = True

    # 1. Sessions open, up to the gate.
    deadline = time.monotonic() + share.open_timeout_s
    while not native.wait_held(POLL_S):
        if native.wait(0):
            break  # ended without reaching the gate: a session could not open
        if _is_set(abort) or time.monotonic() > deadline:
            stop()
            break
    # 2. Ready; the go.
    if not stopped and not native.wait(0):
        out["phase"] = "ready"
        Queue(share.ready_queue).put(worker.address)
        go = Event(share.go_event)
        deadline = time.monotonic() + share.go_timeout_s
        while not _wait_event(go, POLL_S):
            if _is_set(abort) or time.monotonic() > deadline:
                stop()
                break
    if not stopped and not native.wait(0):
        # 3. The engine's clock starts at the go's instant, on this worker's clock.
        go = Variable(share.go_at_variable).get(timeout=10)
        go_at = float(go["go_at"])  # on the coordinator's clock
        delay = -float(go["offsets"].get(worker.address, 0.0))  # the coordinator's clock - this clock
        out.update(go_at=go_at, clock_offset_s=delay, phase="running")
        local_at = go_at - delay
        native.release(int(local_at * 1e9))
        hard_deadline = time.monotonic() + max(local_at - time.time(), 0.0) + plan.warmup_seconds + plan.seconds + share.grace_s
        # 4. Abort and the hard deadline.
        while not native.wait(POLL_S):
            if _is_set(abort):
                stop()
            elif time.monotonic() > hard_deadline:
                out["error"] = f"the hard deadline passed ({share.grace_s:g} s after the window's planned end)"
                stop()
    while not native.wait(1.0):
        pass  # the engine's stop is bounded (about a second)
    result = native.result()
    out["phase"] = "done"
    if result.error:
        out["error"] = scrub(result.error, spec.secrets) if not stopped else (out["error"] or "called off before the go")
        return out
    scrubbed = result.with_error_examples({k: scrub(v, spec.secrets) for k, v in result.error_examples.items()})
    out["result"] = wire.to_wire(scrubbed)
    return out


def _wait_event(event: Any, timeout_s: float) -> bool:
    try:
        return bool(event.wait(timeout=timeout_s))
    except Exception:  # noqa: BLE001 - a lost scheduler connection: keep waiting until a deadline
        time.sleep(timeout_s)
        return False


def identity() -> dict[str, Any]:
    """This worker's process, for the coordinator's table and tests: host, pid, loadbench's version."""
    from importlib.metadata import version

    return {"host": socket.gethostname(), "pid": os.getpid(), "version": version("loadbench")}
