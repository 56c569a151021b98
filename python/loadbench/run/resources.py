"""What a run cost the machine: CPU and memory of the harness and of the database server,
sampled about once a second with psutil.

Sampling is driven by the run's progress callback, on the engine's monitor thread: no thread of
ours may be alive during a run (one sharing the file table slows every system call the workers
make). psutil only reads ``/proc``, which the monitor does through its own file table.

Units: CPU in percent of one core (200 = two cores busy), summed over the processes of a side;
memory as resident set size (RSS) in bytes, summed. A side's averages cover the samples taken in
the measured window (all samples when the run was too short to have one there), each weighted by
the length of its interval.

The server's processes are found again when something says they changed, never on a timer: when
the sessions have opened (their backends exist from then), after every reconnect the engine
reports (``reconnects`` in the progress: a new backend, or a restarted server), when a root
process is gone (the server restarted under a new PID: its finder is asked again), and when a
root's own children changed (read at every sample, one small ``/proc`` file per root).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import psutil

from loadbench import _core, connectors
from loadbench.connectors import ConnectorSpec
from loadbench.processes import alive

SAMPLE_INTERVAL_S = 1.0
# The progress callback comes every 250 ms or a little more: a sample is taken at the first one
# within half of that of a full interval, so samples fall about a second apart, not 1.25 s.
_SAMPLE_DUE_S = SAMPLE_INTERVAL_S - 0.125

RootFinder = Callable[[], list[int]]


def server_pids(spec: ConnectorSpec, runs_dir: Path, extra: Sequence[int] = ()) -> list[int]:
    """The server processes to sample for ``spec``: what its kind's finder knows, plus ``extra``
    (``--server-pid``)."""
    found = connectors.module_of(spec.kind).server_pids(spec, runs_dir)
    return list(dict.fromkeys([*found, *extra]))


def server_finder(spec: ConnectorSpec, runs_dir: Path, extra: Sequence[int] = ()) -> RootFinder:
    """A callable giving :func:`server_pids` of ``spec`` each time it is called (a restarted
    server is found under its new PID)."""
    return lambda: server_pids(spec, runs_dir, extra)


def children(pid: int) -> list[int]:
    """The direct children of ``pid``, from ``/proc/PID/task/TID/children`` (one small read per
    thread of ``pid``), not a scan of every process on the machine as ``psutil.Process.children``
    does. [] when ``pid`` is gone. Falls back to psutil where the kernel lacks the file
    (CONFIG_PROC_CHILDREN)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}"):
                return []  # gone meanwhile
            try:  # no children file in this kernel
                return [c.pid for c in psutil.Process(pid).children()]
            except psutil.Error:
                return []
        except OSError:
            continue  # the thread ended meanwhile
    return found


def descendants(roots: Sequence[int]) -> list[int]:
    """``roots`` and every process below them, breadth first, each once."""
    seen: dict[int, None] = {}
    queue = list(roots)
    while queue:
        pid = queue.pop(0)
        if pid in seen:
            continue
        seen[pid] = None
        queue.extend(children(pid))
    return list(seen)


class _Member:
    """One process of a group and its CPU times at the group's previous reading: its own, and for a
    root those of its children it has reaped (what its exited children used, in all)."""

    __slots__ = ("process", "cpu_s", "reaped_s", "root_parent")

    def __init__(self, process: psutil.Process, cpu_s: float, reaped_s: float, root_parent: int | None):
        self.process = process
        self.cpu_s = cpu_s
        self.reaped_s = reaped_s
        self.root_parent = root_parent  # the root it is a direct child of (which reaps it), if any


def _create_time_clock() -> float:
    """Now, on the clock of ``psutil.Process.create_time()`` (boot time + a tick count since boot,
    where boot time is whole seconds): comparing a process's birth with ``time.time()`` instead
    could be off by up to a second."""
    try:
        with open("/proc/uptime", "rb") as f:
            return float(psutil.boot_time()) + float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return time.time()


def _cpu_times(process: psutil.Process) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of its reaped children)."""
    t = process.cpu_times()
    return t.user + t.system, t.children_user + t.children_system


class ProcessGroup:
    """Some root processes and, optionally, all their descendants, summed.

    The roots come from ``roots``: fixed PIDs, or a finder asked again when one of them is gone.
    :meth:`discover` finds the descendants (one ``/proc/PID/task/TID/children`` read per process of
    the group, not a scan of every process): 0.31 ms for a postmaster with 20 backends (26
    processes), 1.25 ms with 100, against 2.4 and 6.7 ms for psutil's ``children(recursive=True)``
    on a machine of 155 and 315 processes; a sample of the group takes 0.73 and 2.8 ms
    (``bench/process_discovery.py``, on the 2-core development VM). The runner's sampler calls it
    when the sessions have opened and after every reconnect, and :meth:`sample` calls it when a root
    is gone or a root's direct children changed.

    CPU comes from each process's CPU time, as differences between readings. A process found
    during an interval counts all its CPU time when it was born in that interval (the backend of
    a reconnect), else from when it was found. A root's direct children that exit are not lost:
    once the root reaps them (a postmaster reaps its backends at once) their CPU time is in the
    root's children times, of which the part not already counted is added. What a root itself
    leaves when it exits (a restarted server's old postmaster and its last backends) since the
    previous sample is lost.
    """

    def __init__(self, roots: Sequence[int] | RootFinder, descendants: bool,
                 clock: Callable[[], float] = time.monotonic):
        self._find = roots if callable(roots) else (lambda fixed=list(roots): list(fixed))
        self.descendants = descendants
        self.clock = clock
        self.roots: list[int] = []
        self.known_roots: list[int] = []  # every root found, in order (a restart adds the new one)
        self._root_children: dict[int, list[int]] = {}
        self._members: dict[int, _Member] = {}
        # Per root: CPU seconds of its exited direct children already counted while they lived,
        # to take off the root's reaped-children time when it grows by their whole lives.
        self._counted_of_reaped: dict[int, float] = {}
        self._last_t: float | None = None
        self._last_birth_clock = _create_time_clock()
        self.discoveries = 0
        self._find_roots()

    def _find_roots(self) -> None:
        self.roots = list(self._find())
        for pid in self.roots:
            if pid not in self.known_roots:
                self.known_roots.append(pid)

    def _roots_alive(self) -> bool:
        return bool(self.roots) and all(pid in self._members and alive(pid) for pid in self.roots)

    def _gone(self, member: _Member) -> None:
        """A member exited: what it used while counted comes back in its root's reaped time."""
        if member.root_parent in self.roots:
            self._counted_of_reaped[member.root_parent] = (
                self._counted_of_reaped.get(member.root_parent, 0.0) + member.cpu_s)

    def discover(self) -> None:
        """Finds the group's processes again (the roots too, when one is gone); processes already
        known keep their CPU readings, new ones get theirs."""
        self.discoveries += 1
        if not self.roots or not all(alive(pid) for pid in self.roots):
            self._find_roots()
            self._counted_of_reaped = {pid: n for pid, n in self._counted_of_reaped.items() if pid in self.roots}
        pids = descendants(self.roots) if self.descendants else list(self.roots)
        self._root_children = {pid: children(pid) for pid in self.roots} if self.descendants else {}
        parent_root = {child: root for root, kids in self._root_children.items() for child in kids}
        members = {}
        for pid in pids:
            known = self._members.pop(pid, None)
            try:
                process = psutil.Process(pid)
                if known is not None and known.process == process:  # == : the same process, not a reused PID
                    members[pid] = known
                    continue
                # Born since the previous sample: all its CPU time is this interval's.
                born_since = process.create_time() >= self._last_birth_clock
                own, reaped = (0.0, 0.0) if born_since else _cpu_times(process)
                members[pid] = _Member(process, own, reaped, parent_root.get(pid))
            except psutil.Error:
                continue  # gone meanwhile
        for left in self._members.values():
            self._gone(left)
        self._members = members

    def _changed(self) -> bool:
        """A root is gone, or a root's direct children are not those of the last discovery."""
        if not self._roots_alive():
            return True
        return self.descendants and any(children(pid) != kids for pid, kids in self._root_children.items())

    def sample(self) -> tuple[float, int, int]:
        """``(cpu %, rss bytes, processes)`` since the previous sample (the first one primes: 0 %)."""
        now = self.clock()
        if self._last_t is None or self._changed():
            self.discover()
        interval = now - self._last_t if self._last_t is not None else 0.0
        cpu_s, rss, count = 0.0, 0, 0
        # Roots last: the children that exited are known by then.
        order = sorted(self._members.items(), key=lambda item: item[0] in self.roots)
        for pid, member in order:
            try:
                with member.process.oneshot():
                    own, reaped = _cpu_times(member.process)
                    rss += member.process.memory_info().rss
            except psutil.Error:  # exited since it was found
                del self._members[pid]
                self._gone(member)
                continue
            cpu_s += max(own - member.cpu_s, 0.0)
            member.cpu_s = own
            if pid in self.roots and self.descendants:
                grown = reaped - member.reaped_s - self._counted_of_reaped.pop(pid, 0.0)
                if grown < 0:  # a child gone but not reaped yet: take it off when it is
                    self._counted_of_reaped[pid] = -grown
                cpu_s += max(grown, 0.0)
                member.reaped_s = reaped
            count += 1
        self._last_t = now
        self._last_birth_clock = _create_time_clock()
        return (100.0 * cpu_s / interval if interval > 0 else 0.0), rss, count


class ResourceSampler:
    """Samples the harness (this process) and the server (the roots ``server_roots`` gives, and
    their descendants) while one connector runs. Call :meth:`start` before the run,
    :meth:`on_progress` from its progress callback, :meth:`finish` after it.

    ``server_roots`` is a list of PIDs or a finder (see :func:`server_finder`); a finder that finds
    nothing at the start means no server side."""

    def __init__(self, kind: str, server_roots: Sequence[int] | RootFinder | None,
                 clock: Callable[[], float] = time.monotonic):
        self.kind = kind
        self.harness = ProcessGroup([psutil.Process().pid], descendants=False)
        self.server = None
        if server_roots is not None:
            group = ProcessGroup(server_roots, descendants=True)
            self.server = group if group.roots else None
        self.clock = clock
        self.samples: list[dict[str, Any]] = []
        self._t0 = self._last = 0.0
        self._phase = "opening"
        self._primed_after_open = False
        self._reconnects = 0
        self._server_roots_noted: list[int] = []

    def _prime(self, now: float) -> None:
        # A CPU reading needs an earlier one to compare with.
        self.harness.sample()
        if self.server is not None:
            self.server.sample()
        self._last = now

    def start(self) -> None:
        self._t0 = self.clock()
        self._prime(self._t0)
        if self.server is not None:
            self._server_roots_noted = list(self.server.roots)

    def on_progress(self, progress: _core.Progress) -> None:
        self._phase = progress.phase.name
        now = self.clock()
        reconnects = progress.reconnects
        if not self._primed_after_open:
            # The first call comes when every session is open: their backends exist from now,
            # and measuring from here leaves connecting out.
            self._primed_after_open = True
            self._reconnects = reconnects
            if self.server is not None:
                self.server.discover()
            self._prime(now)
            return
        if reconnects != self._reconnects and self.server is not None:
            # A reconnect is a new backend, perhaps of a restarted server: find them now, so the
            # interval in hand counts them.
            self._reconnects = reconnects
            self.server.discover()
        if now - self._last >= _SAMPLE_DUE_S:
            self._record(now)

    def _record(self, now: float) -> None:
        cpu, rss, _ = self.harness.sample()
        sample = {
            "t_s": round(now - self._t0, 3),
            "duration_s": round(now - self._last, 3),
            "phase": self._phase,
            "harness_cpu_percent": round(cpu, 1),
            "harness_rss_bytes": rss,
            "server_cpu_percent": None,
            "server_rss_bytes": None,
            "server_processes": None,
        }
        if self.server is not None:
            cpu, rss, count = self.server.sample()
            sample.update(server_cpu_percent=round(cpu, 1), server_rss_bytes=rss, server_processes=count)
            if self.server.roots != self._server_roots_noted:
                # The server's root processes changed (a restart): which ones, from this sample on.
                self._server_roots_noted = list(self.server.roots)
                sample["server_root_pids"] = list(self.server.roots)
        self.samples.append(sample)
        self._last = now

    def finish(self) -> dict[str, Any]:
        """The report's ``resources`` section: the samples and each side's averages."""
        now = self.clock()
        if not self.samples or now - self._last >= 0.2:
            self._record(now)  # the tail of the run, or the only sample of a short one
        measured = [s for s in self.samples if s["phase"] == "measuring"] or self.samples
        summary = {
            "interval_seconds": SAMPLE_INTERVAL_S,
            "cpu_unit": "percent of one core",
            "harness": _side(measured, "harness", self.harness.known_roots),
            "server": None,
            "server_note": None,
            "samples": self.samples,
        }
        if self.server is not None:
            summary["server"] = _side(measured, "server", self.server.known_roots)
        else:
            # A kind without a server of its own says why; for the others it is unknown here.
            note = connectors.module_of(self.kind).NO_SERVER if self.kind in connectors.KINDS else None
            summary["server_note"] = note or "no server process known: pass --server-pid PID to sample it"
        return summary


def _side(samples: list[dict[str, Any]], side: str, pids: list[int]) -> dict[str, Any]:
    weights = [max(s["duration_s"], 1e-9) for s in samples]
    total = sum(weights)

    def mean(key: str) -> float:
        return float(sum(w * s[key] for w, s in zip(weights, samples)) / total)

    return {
        "pids": pids,
        "cpu_percent_mean": round(mean(f"{side}_cpu_percent"), 1),
        "cpu_percent_max": max(s[f"{side}_cpu_percent"] for s in samples),
        "rss_bytes_mean": round(mean(f"{side}_rss_bytes")),
        "rss_bytes_max": max(s[f"{side}_rss_bytes"] for s in samples),
    }
