"""The coordinator of a distributed run: ``loadbench bench ... --cluster tcp://HOST:PORT``, as a
Dask client in the CLI process.

For each connector of the plan, in turn:

1. every worker of the scheduler must run the same loadbench (distribution version) as this
   process, else the run is refused with one line naming the worker (exit 2);
2. prep once, here;
3. per epoch (``--epochs N``, default 1): the sessions (``--concurrency``), ``--rate`` and
   ``--operations`` are split over the enlisted generators (one per worker), each with random
   streams no other generator and no earlier epoch uses (``stream_offset``). Each generator opens
   its sessions and waits at its engine's gate (:mod:`loadbench.distributed.generator`); once all
   are ready the coordinator sets one go: an instant on the coordinator's clock a little ahead
   (:data:`GO_MARGIN_S`), so every generator starts the same warmup and window there. Epoch 1
   enlists the workers there at its start; a worker that joins during epoch k is enlisted from
   epoch k+1 with the share of an epoch-1 generator, so load is raised by adding machines;
4. the generators' results merge into one result per epoch (:mod:`loadbench.distributed.results`:
   exact histogram sums, the per-second series aligned and summed), reported as one entry per
   epoch with one row per generator (host, sessions, committed, TPS, p99, start skew);
5. verify once, here, after the last epoch.

Failure: a generator whose worker leaves the scheduler (killed, cut off, its heartbeats timed out)
or whose task fails marks the epoch failed, naming it; the other generators run to the window's
end, and the merged figures are those of the generators that finished, said to be partial. The
run stops there (no further epoch) and the command exits 1. A generator that is frozen or cut off
is noticed by whichever comes first: the scheduler drops its worker once its heartbeats stop for
``distributed.scheduler.worker-ttl`` (``loadbench cluster up``: 5 s; Dask's default: 5 min), or
the coordinator's own result deadline passes, :data:`GRACE_S` + :data:`RESULT_MARGIN_S` after the
window's planned end (a live generator stops itself at :data:`GRACE_S`), whatever the scheduler's
settings. Either way the coordinator never waits on it longer than that.

Start skew: each generator's first operation against the go, both on the coordinator's clock (each
worker's offset from it measured by the coordinator just before the go: :func:`_clock_offsets`);
the report gives each and the maximum. Ctrl-C or SIGTERM set the run's abort Event: every
generator stops within about a second.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version as distribution_version
from typing import Any, Callable, Iterator

from loadbench.connectors.spec import ConnectorSpec
from loadbench.distributed import generator, require, results as merging
from loadbench.errors import ConfigError, RunFailed
from loadbench.report import build, publish as publishing, thresholds as limits
from loadbench.run import core as engine, machine, runner, server_counters
from loadbench.run.config import RunPlan
from loadbench.run.results import BenchRun, ConnectorRun, FailedRun, MeasuredRun, Measurement

CONNECT_TIMEOUT_S = 5.0
OFFSET_SAMPLES = 5      # round trips per worker for its clock offset (the shortest one counts)
GO_MARGIN_S = 0.25      # the go's instant is this far ahead (plus round trips) of when it is set
POLL_S = 0.1            # the coordinator's look at its generators and the workers
OPEN_TIMEOUT_S = 120.0  # every generator's sessions open within this
GRACE_S = 10.0          # past the window's planned end: generators stop themselves; then they are cut off
RESULT_MARGIN_S = 5.0   # past a generator's own hard deadline: its result is in hand, or it is lost


@dataclass
class GeneratorRow:
    """One generator of one epoch: where it ran, its share and what it measured (``result``:
    None when it failed or was lost; ``error`` then says why)."""

    address: str
    host: str
    sessions: int
    stream_offset: int
    pid: int | None = None
    status: str = "running"  # running | ok | failed | lost
    error: str | None = None
    result: Any = None  # _core.RunResult
    clock_offset_s: float = 0.0  # the coordinator's clock - this generator's, s (measured before the go)
    go_at: float | None = None      # the go, on the coordinator's clock (s since the epoch)
    start_skew_s: float | None = None

    def report_row(self) -> dict[str, Any]:
        """The generator's row in its report entry (``distributed.generators``)."""
        r = self.result
        row: dict[str, Any] = {"address": self.address, "host": self.host, "pid": self.pid, "sessions": self.sessions,
                               "stream_offset": self.stream_offset, "status": self.status, "error": self.error}
        if r is not None:
            row.update(committed=r.counters.committed,
                       tps=round(r.counters.committed / r.measured_seconds, 3) if r.measured_seconds else 0.0,
                       p99_ms=build.ms(r.latency.percentiles_ns["99"]) if r.latency.count else None,
                       measured_seconds=round(r.measured_seconds, 6),
                       clock_offset_ms=round(self.clock_offset_s * 1e3, 3),
                       start_skew_ms=None if self.start_skew_s is None else round(self.start_skew_s * 1e3, 3),
                       histogram=build.stored_histogram(r.latency))
        return row


@dataclass
class Epoch:
    """One epoch of one connector: its generators and how long the coordination took."""

    number: int
    generators: list[GeneratorRow]
    to_go_s: float = 0.0        # from the epoch's start (tasks submitted) to the go's instant
    end_to_result_s: float = 0.0  # from the window's planned end to every result in hand (merged)
    refused: list[str] = field(default_factory=list)  # workers not enlisted, and why

    def failed(self) -> list[GeneratorRow]:
        """The generators that failed or were lost (not those an interrupt stopped)."""
        return [g for g in self.generators if g.status in ("failed", "lost")]

    def distributed_entry(self, epochs: int, address: str) -> dict[str, Any]:
        skews = [g.start_skew_s for g in self.generators if g.start_skew_s is not None]
        failed = self.failed()
        return {
            "scheduler": address,
            "epoch": self.number,
            "epochs": epochs,
            "generators": [g.report_row() for g in self.generators],
            "partial": bool(failed),
            "failed_generators": [g.address for g in failed],
            "start_skew_max_ms": round(max(skews) * 1e3, 3) if skews else None,
            "coordination": {"to_go_seconds": round(self.to_go_s, 3),
                             "window_end_to_result_seconds": round(self.end_to_result_s, 3)},
            "refused_workers": self.refused,
        }


@dataclass
class DistributedBench:
    """A distributed bench: the measurement (one run per connector and epoch) and, for each run in
    order, its epoch (None for a connector that failed before any epoch)."""

    bench: BenchRun
    epochs: list[Epoch | None]
    address: str
    epoch_count: int

    def report(self) -> dict[str, Any]:
        """The report (``report-v1``): each entry with its ``distributed`` section; an epoch with a
        failed generator is a failed entry naming it (its merged figures kept, marked partial)."""
        report = build.bench_report(self.bench)
        report["parameters"]["cluster"] = {"scheduler": self.address, "epochs": self.epoch_count}
        for entry, epoch in zip(report["connectors"], self.epochs):
            if epoch is None:
                continue
            entry["distributed"] = epoch.distributed_entry(self.epoch_count, self.address)
            if entry.get("resources", 0) is None:
                del entry["resources"]  # sampled on one machine only; the generators' are not (yet)
            failed = epoch.failed()
            if failed:
                entry["status"] = "failed"
                done = len(epoch.generators) - len(failed)
                named = "; ".join(f"generator {g.address} ({g.host}) {g.error or g.status}" for g in failed)
                entry["error"] = (f"epoch {epoch.number}: {named}; the merged figures are partial ({done} of "
                                  f"{len(epoch.generators)} generators)")
        if not report["interrupted"]:
            report["status"] = "failed" if any(e["status"] != "ok" for e in report["connectors"]) else "ok"
        return report


def publish(done: DistributedBench, show: Callable[[dict[str, Any]], None] | None = None,
            thresholds: tuple[limits.Threshold, ...] = ()) -> publishing.BenchOutcome:
    """Builds the report of a distributed bench, judges it by ``thresholds`` (stored in it), shows
    it (``show``), writes and records it."""
    report = publishing.judged(done.report(), thresholds)
    if show is not None:
        show(report)
    return publishing.BenchOutcome(report, publishing.record(report, done.bench.plan.runs_dir))


def _check_address(address: str) -> str:
    scheme, sep, rest = address.partition("://")
    host, colon, port = rest.rpartition(":")
    if not sep or scheme not in ("tcp", "tls") or not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--cluster must be a Dask scheduler address tcp://HOST:PORT, got {address!r}")
    return address


def _identify(address: str, timeout_s: float) -> Any:
    """What the server at ``address`` says it is, asked with Dask's own ``identity`` message, the
    whole exchange within ``timeout_s``. Asked before a Client is made: a Client pointed at a
    server that is not Dask's (an HTTP port) waits up to a minute, or reads its answer as a frame
    length of exabytes."""
    import asyncio

    from distributed.comm.core import connect as comm_connect

    async def ask() -> Any:
        comm = await comm_connect(address, timeout=timeout_s)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            await comm.close()

    return asyncio.run(asyncio.wait_for(ask(), timeout_s))


def connect(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A Dask client of the scheduler at ``address``. Raises ConfigError (one line) when nothing
    answers there within ``timeout_s``, or something that is not a Dask scheduler does."""
    distributed = require()
    _check_address(address)
    try:
        identity = _identify(address, timeout_s)
    except Exception as exc:  # noqa: BLE001 - whatever a wrong server makes Dask's comm raise
        detail = str(exc).splitlines()[0] if str(exc) else ""
        if "Stream is closed" in detail:  # Dask's words for a peer that hung up on its handshake
            raise ConfigError(f"--cluster: {address} is not a Dask scheduler (it closed the connection)") from None
        if isinstance(exc, (OSError, TimeoutError)):
            raise ConfigError(f"--cluster: cannot reach the Dask scheduler at {address}: "
                              f"{detail or f'no answer within {timeout_s:g} s'}") from None
        # Its reply read as a Dask frame (a MemoryError for exabytes, ...): no internals shown.
        raise ConfigError(f"--cluster: {address} is not a Dask scheduler (it answered in another protocol)") from None
    if not isinstance(identity, dict) or identity.get("type") != "Scheduler":
        raise ConfigError(f"--cluster: {address} is not a Dask scheduler (it says it is "
                          f"{identity.get('type') if isinstance(identity, dict) else type(identity).__name__})")
    try:
        return distributed.Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"--cluster: cannot reach the Dask scheduler at {address}: "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def workers_of(client: Any) -> dict[str, dict[str, Any]]:
    """The scheduler's workers now: address -> Dask's identity of it (host, last_seen, ...)."""
    info: dict[str, dict[str, Any]] = client.scheduler_info(n_workers=-1)["workers"]
    return info


def check_versions(client: Any, addresses: list[str]) -> tuple[list[str], list[str]]:
    """The workers among ``addresses`` that run this loadbench version, and one line for each that
    does not (or cannot say)."""
    ours = distribution_version("loadbench")
    if not addresses:
        return [], []
    found = client.run(distribution_version, "loadbench", workers=addresses, on_error="return")
    ok, refused = [], []
    for address in addresses:
        theirs = found.get(address)
        if isinstance(theirs, str) and theirs == ours:
            ok.append(address)
        elif isinstance(theirs, str):
            refused.append(f"worker {address} runs loadbench {theirs}, this coordinator {ours}")
        else:
            refused.append(f"worker {address} cannot tell its loadbench version: {theirs!r}"[:300])
    return ok, refused


def _clock_offsets(client: Any, addresses: list[str], samples: int = OFFSET_SAMPLES) -> dict[str, float]:
    """Each worker's clock minus the coordinator's, s: NTP's estimate (the worker's reading against
    the midpoint of the round trip) from the sample with the shortest round trip of ``samples``,
    so the error is at most half that round trip (a few ms on loopback under load, where Dask's own
    per-heartbeat offset, ``Worker.scheduler_delay``, was seen 27 ms off on one machine)."""
    best: dict[str, tuple[float, float]] = {}  # address -> (round trip, offset)
    for _ in range(samples):
        before = time.time()
        readings = client.run(time.time, workers=addresses)
        after = time.time()
        for address, theirs in readings.items():
            if address not in best or after - before < best[address][0]:
                best[address] = (after - before, float(theirs) - (before + after) / 2)
    return {address: offset for address, (_, offset) in best.items()}


def split(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` shares differing by at most one, largest first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _refuse_plan(plan: RunPlan) -> None:
    if plan.concurrency_levels:
        raise ConfigError("--cluster does not run the write test (its levels run one after another in one process)")
    if plan.scenario is not None and any(n for n in plan.scenario.sequence_uses_per_operation().values()):
        raise ConfigError("--cluster does not run scenario files with sequences yet: generators would draw the same "
                          "sequence values")


def bench(plan: RunPlan, address: str, epochs: int, display: runner.Display) -> DistributedBench:
    """Measures every connector of ``plan`` on the generators of the scheduler at ``address``
    (see the module's doc). Raises ConfigError before any load for bad input: an unreachable
    scheduler, no workers, a worker of another loadbench version, a plan it cannot split."""
    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {epochs}")
    _refuse_plan(plan)
    client = connect(address)
    try:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise ConfigError(f"--cluster: the Dask scheduler at {address} has no workers") from None
        addresses = sorted(workers_of(client))
        ok, refused = check_versions(client, addresses)
        if refused:
            raise ConfigError(f"--cluster: {refused[0]}" + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""))
        if plan.concurrency < len(ok) and plan.concurrency * max(s.sessions_per_connection for s in plan.connectors) < len(ok):
            ok = ok[:plan.concurrency]  # fewer sessions than workers: one session each
        runner.preflight(plan)
        started = datetime.now(timezone.utc)
        runs: list[ConnectorRun] = []
        epoch_list: list[Epoch | None] = []
        interrupted = False
        with display:
            for spec in plan.connectors:
                interrupted = _bench_connector(client, plan, spec, ok, epochs, display, runs, epoch_list)
                if interrupted:
                    break
        done = BenchRun(plan, Measurement(runs, interrupted), started, datetime.now(timezone.utc), machine.describe())
        return DistributedBench(done, epoch_list, address, epochs)
    finally:
        client.close(timeout=5)


def _bench_connector(client: Any, plan: RunPlan, spec: ConnectorSpec, enlisted: list[str], epochs: int,
                     display: runner.Display, runs: list[ConnectorRun], epoch_list: list[Epoch | None]) -> bool:
    """Prep, the epochs, verify: appends one run per epoch; True when interrupted."""
    prep_seconds = None
    try:
        if plan.prep:
            display.phase(spec, "prep")
            began = time.monotonic()
            engine.prep(plan, spec)
            prep_seconds = time.monotonic() - began
    except RunFailed as exc:
        runs.append(FailedRun(spec, str(exc)))
        epoch_list.append(None)
        display.finished(spec, runs[-1])
        return False
    except KeyboardInterrupt:
        runs.append(FailedRun(spec, "interrupted during prep"))
        epoch_list.append(None)
        return True
    counter = server_counters.for_spec(spec)
    committed: Counter[str] = Counter()
    uncounted = 0
    stream_offset = 0
    share_of = dict(zip(enlisted, split(plan.concurrency, len(enlisted))))
    late_share = min(share_of.values())  # a late generator's connections: an epoch-1 generator's
    known = set(enlisted)
    interrupted = False
    pending: list[tuple[MeasuredRun, Epoch]] = []
    for number in range(1, epochs + 1):
        refused: list[str] = []
        if number > 1:
            alive = set(workers_of(client))
            enlisted = [a for a in enlisted if a in alive]
            joined = sorted(alive - known)
            known |= set(joined)
            ok, refused = check_versions(client, joined)
            enlisted += ok
            share_of.update({a: late_share for a in ok})
            if not enlisted:
                runs.append(FailedRun(spec, f"epoch {number}: no generator left"))
                epoch_list.append(None)
                break
        display.phase(spec, f"epoch {number}: opening on {len(enlisted)} generators")
        before = _read(counter)
        epoch = _run_epoch(client, plan, spec, enlisted, [share_of[a] for a in enlisted], stream_offset, number)
        epoch.refused = refused
        stream_offset += sum(g.sessions for g in epoch.generators)
        after = _read(counter)
        measured = [g for g in epoch.generators if g.result is not None]
        interrupted = interrupted or any(g.status == "interrupted" for g in epoch.generators)
        if interrupted and not epoch.failed() and not measured:
            runs.append(FailedRun(spec, f"interrupted in epoch {number} before the window opened"))
            epoch_list.append(epoch)
            break
        if not measured:
            errors = "; ".join(f"generator {g.address} ({g.host}): {g.error}" for g in epoch.generators)
            runs.append(FailedRun(spec, f"epoch {number}: no generator measured: {errors}"))
            epoch_list.append(epoch)
            display.finished(spec, runs[-1])
            break
        merged = merging.merge([g.result for g in measured], [g.clock_offset_s for g in measured])
        for g in measured:
            r = g.result
            committed.update({op.name: op.committed for op in r.operations})
            uncounted += runner.uncertain_operations(r.counters)
        share_plan = dataclasses.replace(plan, concurrency=sum(g.sessions for g in epoch.generators) //
                                         max(spec.sessions_per_connection, 1), stream_offset=stream_offset)
        server_committed = None if before is None or after is None else after - before
        pending.append((MeasuredRun(spec, share_plan, merged, None, None, prep_seconds if number == 1 else None,
                                    server_committed), epoch))
        if epoch.failed() or merged.interrupted or interrupted:
            interrupted = interrupted or merged.interrupted
            break
    # Verify once, after the last epoch, with what every generator committed since prep.
    verification = None
    if pending and plan.verify:
        display.phase(spec, "verify")
        verification, stopped = runner._verify(plan, spec, committed, uncounted, interrupted)
        interrupted = interrupted or stopped
    for i, (run, epoch) in enumerate(pending):
        run = dataclasses.replace(run, verification=verification if i == len(pending) - 1 else None)
        runs.append(run)
        epoch_list.append(epoch)
        display.finished(spec, run)
    return interrupted


def _read(counter: server_counters.ServerCounter | None) -> int | None:
    if counter is None:
        return None
    try:
        return counter.read()
    except RunFailed:
        return None


def _run_epoch(client: Any, plan: RunPlan, spec: ConnectorSpec, addresses: list[str], shares: list[int],
               stream_offset: int, number: int) -> Epoch:
    """One epoch on the generators at ``addresses`` (``shares[i]`` connections each): submit, wait
    for every generator at its gate, go, watch, collect."""
    from distributed import Event, Queue, Variable

    began = time.monotonic()
    run_id = f"loadbench-{uuid.uuid4().hex[:12]}-e{number}"
    total = sum(shares)
    per_session = spec.sessions_per_connection
    rows: list[GeneratorRow] = []
    futures = {}
    offset = stream_offset
    info = workers_of(client)
    for address, connections, operations in zip(addresses, shares, _split_operations(plan.operations, shares)):
        share_plan = dataclasses.replace(plan, concurrency=connections, stream_offset=offset,
                                         rate=plan.rate * connections / total if plan.rate else 0.0,
                                         operations=operations)
        share = generator.Share(share_plan, spec, run_id, OPEN_TIMEOUT_S, OPEN_TIMEOUT_S, GRACE_S)
        host = str(info.get(address, {}).get("host", address))
        rows.append(GeneratorRow(address, host, connections * per_session, offset))
        futures[address] = client.submit(generator.run_share, share, key=f"{run_id}-{address}", workers=[address],
                                         allow_other_workers=False, pure=False, retries=0)
        offset += connections * per_session
    epoch = Epoch(number, rows)
    by_address = {g.address: g for g in rows}
    abort, go, ready = Event(run_id + "-abort", client=client), Event(run_id + "-go", client=client), \
        Queue(run_id + "-ready", client=client)
    try:
        # Every generator at its gate (or done: a session that could not open).
        waiting = set(addresses)
        deadline = time.monotonic() + OPEN_TIMEOUT_S + 10
        while waiting and time.monotonic() < deadline:
            _collect(client, futures, by_address)
            _mark_lost(workers_of(client), rows, futures)
            waiting = {a for a in waiting if by_address[a].status == "running"}
            try:
                waiting.discard(ready.get(timeout=POLL_S))
            except TimeoutError:
                pass
            except Exception:  # noqa: BLE001 - Dask raises its own timeout types across versions
                pass
        if any(g.status != "running" for g in rows) or waiting:
            abort.set()  # a generator failed to open: call the epoch off
            for address in waiting:
                by_address[address].status, by_address[address].error = "failed", "its sessions did not open in time"
        else:
            offsets = _clock_offsets(client, addresses)
            go_at = time.time() + GO_MARGIN_S  # on the coordinator's clock
            Variable(run_id + "-go-at", client=client).set({"go_at": go_at, "offsets": offsets})
            go.set()
            epoch.to_go_s = go_at - time.time() + (time.monotonic() - began)
            window_end = time.monotonic() + (go_at - time.time()) + plan.warmup_seconds + plan.seconds
        # Watch: generators finish; a worker that leaves the scheduler is a lost generator, and so
        # is one without a result by the result deadline (frozen, or cut off while the scheduler
        # still counts its worker).
        if "window_end" in locals():
            cut_off = window_end + GRACE_S + RESULT_MARGIN_S
            late = (f"was lost mid-run: no result within {GRACE_S + RESULT_MARGIN_S:g} s of the window's planned end "
                    f"(frozen or cut off; its worker still counted by the scheduler)")
        else:
            cut_off = time.monotonic() + 2 * GRACE_S
            late = "did not return a result in time (the run was called off before the go)"
        while any(g.status == "running" for g in rows):
            _collect(client, futures, by_address)
            _mark_lost(workers_of(client), rows, futures)
            if time.monotonic() > cut_off:
                for g in rows:
                    if g.status == "running":
                        g.status, g.error = "lost", late
                        futures[g.address].cancel()
                break
            time.sleep(POLL_S)
        if "window_end" in locals():
            epoch.end_to_result_s = max(time.monotonic() - window_end, 0.0)
    except KeyboardInterrupt:
        abort.set()
        stop_by = time.monotonic() + 3
        while any(g.status == "running" for g in rows) and time.monotonic() < stop_by:
            _collect(client, futures, by_address)
            time.sleep(POLL_S)
        for g in rows:
            if g.status == "running":
                g.status, g.error = "interrupted", "interrupted"
    for g in rows:
        if g.result is not None and g.result.first_start_unix_ns and g.go_at is not None:
            g.start_skew_s = g.result.first_start_unix_ns / 1e9 + g.clock_offset_s - g.go_at
    for name in ("-go", "-abort"):
        try:
            Event(run_id + name, client=client).clear()
        except Exception:  # noqa: BLE001 - tidying only
            pass
    return epoch


def _mark_lost(alive: dict[str, Any], rows: list[GeneratorRow], futures: dict[str, Any]) -> None:
    """A running generator whose worker is no longer among the scheduler's is lost."""
    for g in rows:
        if g.status == "running" and g.address not in alive:
            g.status, g.error = "lost", ("was lost mid-run: its worker left the scheduler (killed, cut off, or its "
                                         "heartbeats timed out)")
            futures[g.address].cancel()


def _collect(client: Any, futures: dict[str, Any], rows: dict[str, GeneratorRow]) -> None:
    """Takes in the results of generators whose task ended."""
    for address, future in futures.items():
        g = rows[address]
        if g.status != "running" or not future.done():
            continue
        try:
            out = future.result(timeout=5)
        except Exception as exc:  # noqa: BLE001 - a task that raised, or a worker Dask gave up on
            g.status, g.error = "failed", f"its task failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            continue
        g.host, g.pid, g.clock_offset_s = out["host"], out["pid"], out["clock_offset_s"]
        g.go_at = out["go_at"]
        if out["result"] is not None:
            g.result = merging.from_wire(out["result"])
            g.status = "interrupted" if g.result.interrupted and not out["error"] else "ok"
            if out["error"]:
                g.status, g.error = "failed", out["error"]
        else:
            g.status, g.error = "failed", out["error"] or "no result"


def _split_operations(operations: int, shares: list[int]) -> Iterator[int]:
    if not operations:
        yield from (0 for _ in shares)
        return
    total = sum(shares)
    given = 0
    for i, s in enumerate(shares):
        n = operations - given if i == len(shares) - 1 else operations * s // total
        given += n
        yield max(n, 1)

