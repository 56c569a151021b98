"""What a run cost the machine: CPU and memory of the harness and of the database server,
sampled about once a second with psutil.

Sampling is driven by the run's progress callback, on the engine's monitor thread: no thread of
ours may be alive during a run (one sharing the file table slows every system call the workers
make). psutil only reads ``/proc``, which the monitor does through its own file table.

Units: CPU in percent of one core (200 = two cores busy), summed over the processes of a side;
memory as resident set size (RSS) in bytes, summed. A side's averages cover the samples taken in
the measured window (all samples when the run was too short to have one there), each weighted by
the length of its interval.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import psutil

from loadbench.config import ConnectorSpec

SAMPLE_INTERVAL_S = 1.0

# Connector kind -> the PIDs of its local server (a PostgreSQL postmaster, say), given the spec and
# the runs directory (where `loadbench services` keeps its state); descendants of each are found at
# every sample. None is registered yet: a connector or `services` adds its own.
SERVER_PID_FINDERS: dict[str, Callable[[ConnectorSpec, Path], list[int]]] = {}

# Why a kind has no server process of its own: its cost is the harness's.
NO_SERVER = {
    "sqlite": "embedded: SQLite runs inside the harness process, so its cost is in the harness figures",
    "null": "no database: the null connector does no work",
}


def server_pids(spec: ConnectorSpec, runs_dir: Path, extra: Sequence[int] = ()) -> list[int]:
    """The server processes to sample for ``spec``: what its kind's finder knows, plus ``extra``
    (``--server-pid``)."""
    finder = SERVER_PID_FINDERS.get(spec.kind)
    found = finder(spec, runs_dir) if finder is not None else []
    return list(dict.fromkeys([*found, *extra]))


def postmaster_pid(data_dir: str | Path) -> list[int]:
    """The PostgreSQL postmaster of a data directory (first line of its ``postmaster.pid``), as a
    root for :func:`server_pids`: its backends are its children. ``[]`` when it is not running."""
    try:
        first = (Path(data_dir) / "postmaster.pid").read_text(encoding="ascii").split("\n", 1)[0]
        pid = int(first)
    except (OSError, ValueError):
        return []
    return [pid] if psutil.pid_exists(pid) else []


class ProcessGroup:
    """Some root processes and, optionally, all their descendants, summed.

    Finding descendants reads every process's stat file, so it is done on the first sample and then
    every ``REDISCOVER_EVERY`` samples: often enough for backends that come and go, rarely enough
    for the monitor thread. (On the development VM, where a /proc read takes about 60 µs, a sample
    of the harness alone takes 0.3 ms; a tree of 74 processes 23 ms, 38 ms rediscovering each time.)
    """

    REDISCOVER_EVERY = 5

    def __init__(self, roots: Sequence[int], descendants: bool):
        self.roots = list(roots)
        self.descendants = descendants
        # cpu_percent() measures since the previous call on the same object: keep one per process.
        self._members: dict[int, psutil.Process] = {}
        self._samples = 0

    def _discover(self) -> None:
        found: list[psutil.Process] = []
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                found.append(root)
                if self.descendants:
                    found.extend(root.children(recursive=True))
            except psutil.Error:
                continue  # gone (a server restart): found again if it comes back under that PID
        members = {}
        for fresh in found:
            known = self._members.get(fresh.pid)
            members[fresh.pid] = known if known is not None and known == fresh else fresh  # == : not a reused PID
        self._members = members

    def sample(self) -> tuple[float, int, int]:
        """``(cpu %, rss bytes, processes)`` since the previous sample."""
        if self._samples % self.REDISCOVER_EVERY == 0 or not self._members:
            self._discover()
        self._samples += 1
        cpu, rss, count = 0.0, 0, 0
        for pid, proc in list(self._members.items()):
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                count += 1
            except psutil.Error:
                del self._members[pid]  # exited since it was found
        return cpu, rss, count


class ResourceSampler:
    """Samples the harness (this process) and the server (``server_roots`` and descendants) while
    one connector runs. Call :meth:`start` before the run, :meth:`on_progress` from its progress
    callback, :meth:`finish` after it."""

    def __init__(self, kind: str, server_roots: Sequence[int], clock: Callable[[], float] = time.monotonic):
        self.kind = kind
        self.harness = ProcessGroup([psutil.Process().pid], descendants=False)
        self.server = ProcessGroup(server_roots, descendants=True) if server_roots else None
        self.clock = clock
        self.samples: list[dict] = []
        self._t0 = self._last = 0.0
        self._phase = "opening"
        self._primed_after_open = False

    def _prime(self, now: float) -> None:
        # The first cpu_percent() of a process has nothing to compare with.
        self.harness.sample()
        if self.server is not None:
            self.server.sample()
        self._last = now

    def start(self) -> None:
        self._t0 = self.clock()
        self._prime(self._t0)

    def on_progress(self, progress: dict) -> None:
        self._phase = progress["phase"]
        now = self.clock()
        if not self._primed_after_open:
            # The first call comes when every session is open: measure from here, so that the
            # sessions' own processes (server backends) exist and connecting is not counted.
            self._primed_after_open = True
            self._prime(now)
        elif now - self._last >= SAMPLE_INTERVAL_S:
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
        self.samples.append(sample)
        self._last = now

    def finish(self) -> dict:
        """The report's ``resources`` section: the samples and each side's averages."""
        now = self.clock()
        if not self.samples or now - self._last >= 0.2:
            self._record(now)  # the tail of the run, or the only sample of a short one
        measured = [s for s in self.samples if s["phase"] == "measuring"] or self.samples
        summary = {
            "interval_seconds": SAMPLE_INTERVAL_S,
            "cpu_unit": "percent of one core",
            "harness": _side(measured, "harness", self.harness.roots),
            "server": None,
            "server_note": None,
            "samples": self.samples,
        }
        if self.server is not None:
            summary["server"] = _side(measured, "server", self.server.roots)
        else:
            summary["server_note"] = NO_SERVER.get(
                self.kind, "no server process known: pass --server-pid PID to sample it")
        return summary


def _side(samples: list[dict], side: str, pids: list[int]) -> dict:
    weights = [max(s["duration_s"], 1e-9) for s in samples]
    total = sum(weights)

    def mean(key: str) -> float:
        return sum(w * s[key] for w, s in zip(weights, samples)) / total

    return {
        "pids": pids,
        "cpu_percent_mean": round(mean(f"{side}_cpu_percent"), 1),
        "cpu_percent_max": max(s[f"{side}_cpu_percent"] for s in samples),
        "rss_bytes_mean": round(mean(f"{side}_rss_bytes")),
        "rss_bytes_max": max(s[f"{side}_rss_bytes"] for s in samples),
    }


def _listening_pid(port: int) -> list[int]:
    """The process listening on a loopback TCP port (needs the right to see it: root, or its owner)."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return [conn.pid]
    except (psutil.AccessDenied, OSError):
        pass
    return []


def _postgres_server(spec: ConnectorSpec, runs_dir: Path) -> list[int]:
    """PostgreSQL's postmaster (its backends are its children): the cluster `services up` started,
    or whatever listens on the URL's port when the URL points at this machine."""
    from urllib.parse import urlsplit

    from loadbench import services

    url = spec.options.get("url", "")
    cluster = services.running_postgres(runs_dir)
    if cluster is not None and cluster.url == url:
        return postmaster_pid(cluster.data_dir)
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 5432
    except ValueError:
        return []
    return _listening_pid(port) if host in ("localhost", "127.0.0.1", "::1") else []


SERVER_PID_FINDERS["postgres"] = _postgres_server
