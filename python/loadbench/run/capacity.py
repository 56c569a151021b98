"""Whether a run fits the machine, checked before anything starts (no connection, no prep): memory,
threads and file descriptors. What a run needs comes from the core (``_core.resource_needs``: the
real sizes of the engine's histograms, metrics and session slots, and the connector's footprint
per connection); the limits come from the kernel and the cgroup this process runs in. A run that
cannot fit is refused with one line saying what it needs and what the limit is (ConfigError, exit
2), instead of growing until the machine gives out.

Checked, for each connector at its largest concurrency:

- memory: the estimate against ``MemAvailable`` (/proc/meminfo) and, when the cgroup (or one of its
  ancestors) sets ``memory.max``, what is left under it;
- threads (one per blocking session, one per event loop, the monitor and the interrupter): against
  ``kernel.threads-max`` and ``kernel.pid_max`` less the tasks running now, the cgroup's
  ``pids.max``, ``RLIMIT_NPROC`` (not for root, which it does not bind), and ``vm.max_map_count``
  (each thread's stack and its guard page are two mappings);
- file descriptors: against ``RLIMIT_NOFILE`` (the CLI has raised the soft limit to the hard one)
  less those open now, and the system's ``fs.file-max``.
"""

from __future__ import annotations

import dataclasses
import os
import resource
from pathlib import Path
from typing import Any

from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import ConfigError
from loadbench.run import core as engine
from loadbench.run.config import RunPlan

KIB = 1024
MAPS_PER_THREAD = 2  # its stack and the guard page below it


def check(plan: RunPlan) -> None:
    """Raises ConfigError (one line) when a connector of ``plan`` cannot run on this machine
    (nothing, with ``--skip-capacity-check``)."""
    if not plan.capacity_check:
        return
    level = max(plan.concurrency_levels or (plan.concurrency,))
    sized = dataclasses.replace(plan, concurrency=level)
    flag = f"--configs level {level}" if plan.concurrency_levels else f"--concurrency {level}"
    for spec in plan.connectors:
        try:
            needs = engine.resource_needs(sized, spec)
        except MemoryError:  # the estimate's own structures do not fit: neither would the run
            raise ConfigError(f"{spec.name}: {flag} needs more memory than this process can get") from None
        problem = shortfall(needs, spec)
        if problem:
            raise ConfigError(f"{spec.name}: {flag} {problem}")


def shortfall(needs: dict[str, Any], spec: ConnectorSpec | None = None) -> str | None:
    """What does not fit, as the end of a sentence ("needs about ... but ..."), or None. Memory
    first, then threads, then descriptors: the order in which they are hard to raise."""
    what = f"per {spec.label} session" if spec is not None else "per session"
    available, source = memory_available()
    if available is not None and needs["memory_bytes"] > available:
        return (f"needs about {_bytes(needs['memory_bytes'])} of memory ({_bytes(needs['bytes_per_session'])} {what}) "
                f"but {_bytes(available)} is available ({source})")
    threads = needs["threads"]
    room, source = threads_available()
    if room is not None and threads > room:
        per = "one per session" if needs["blocking"] else "event loops"
        return f"needs {threads:,} threads ({per}, the monitor and the interrupter) but {source}"
    maps_room, source = mappings_available()
    if maps_room is not None and MAPS_PER_THREAD * threads > maps_room:
        return (f"needs {MAPS_PER_THREAD * threads:,} memory mappings ({MAPS_PER_THREAD} per thread, {threads:,} "
                f"threads) but {source}")
    descriptors = needs["descriptors"]
    room, source = descriptors_available()
    if room is not None and descriptors > room:
        per = needs["descriptors_per_connection"]
        return (f"needs about {descriptors:,} file descriptors ({per} per connection, {needs['connections']:,} "
                f"connections) but {source}")
    return None


# --- the limits ------------------------------------------------------------------------------------

def memory_available() -> tuple[int | None, str]:
    """Bytes this process may still use: the least of MemAvailable and what every enclosing
    cgroup's memory.max leaves; and where that figure comes from."""
    best: tuple[int | None, str] = (None, "")
    meminfo = _read("/proc/meminfo")
    for line in (meminfo or "").splitlines():
        if line.startswith("MemAvailable:"):
            best = (int(line.split()[1]) * KIB, "MemAvailable")
    for directory in _cgroup_dirs():
        limit, used = _read_int(directory / "memory.max"), _read_int(directory / "memory.current")
        if limit is not None and used is not None and (best[0] is None or limit - used < best[0]):
            best = (max(limit - used, 0), f"under the cgroup's memory.max of {_bytes(limit)}")
    return best


def threads_available() -> tuple[int | None, str]:
    """How many more threads this process may start, and the limit that says so (a clause)."""
    tasks = _tasks_running()
    candidates: list[tuple[int, str]] = []
    for name in ("threads-max", "pid_max"):
        limit = _read_int(Path("/proc/sys/kernel") / name)
        if limit is not None and tasks is not None:
            candidates.append((limit - tasks, f"only {max(limit - tasks, 0):,} more can start "
                                              f"(kernel.{name} {limit:,}, {tasks:,} in use)"))
    for directory in _cgroup_dirs():
        limit, used = _read_int(directory / "pids.max"), _read_int(directory / "pids.current")
        if limit is not None and used is not None:
            candidates.append((limit - used, f"only {max(limit - used, 0):,} more can start "
                                             f"(the cgroup's pids.max {limit:,}, {used:,} in use)"))
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if os.geteuid() != 0 and soft != resource.RLIM_INFINITY:
        used = _user_tasks()
        if used is not None:
            candidates.append((soft - used, f"only {max(soft - used, 0):,} more can start "
                                            f"(RLIMIT_NPROC {soft:,}, {used:,} in use by this user; ulimit -u)"))
    return min(candidates) if candidates else (None, "")


def mappings_available() -> tuple[int | None, str]:
    limit = _read_int("/proc/sys/vm/max_map_count")
    maps = _read("/proc/self/maps")
    if limit is None or maps is None:
        return None, ""
    used = maps.count("\n")
    return limit - used, f"vm.max_map_count allows {limit:,} ({used:,} in use)"


def descriptors_available() -> tuple[int | None, str]:
    """How many more descriptors this process may open, and the limit that says so (a clause)."""
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        return None, ""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    candidates: list[tuple[int, str]] = []
    if soft != resource.RLIM_INFINITY:
        candidates.append((soft - used, f"the limit is {soft:,} (RLIMIT_NOFILE, {used:,} open; raise it with ulimit -n)"))
    file_max, file_nr = _read_int("/proc/sys/fs/file-max"), _read("/proc/sys/fs/file-nr")
    if file_max is not None and file_nr:
        allocated = int(file_nr.split()[0])
        candidates.append((file_max - allocated, f"the system allows {file_max - allocated:,} more "
                                                  f"(fs.file-max {file_max:,}, {allocated:,} in use)"))
    return min(candidates) if candidates else (None, "")


def _tasks_running() -> int | None:
    """Threads and processes on the system now (the 4th field of /proc/loadavg: running/total)."""
    text = _read("/proc/loadavg")
    try:
        return int(text.split()[3].split("/")[1]) if text else None
    except (IndexError, ValueError):
        return None


def _user_tasks() -> int | None:
    """Threads of this process's real user (what RLIMIT_NPROC counts)."""
    uid, total = os.getuid(), 0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        status = _read(f"/proc/{pid}/status") or ""
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields["Threads"])
        except (KeyError, ValueError, IndexError):
            continue
    return total


def _cgroup_dirs() -> list[Path]:
    """This process's cgroup (v2) and its ancestors, innermost first; empty when none is mounted."""
    text = _read("/proc/self/cgroup") or ""
    for line in text.splitlines():
        hierarchy, _, path = line.partition("::")
        if hierarchy == "0":
            root = Path("/sys/fs/cgroup")
            current = root / path.lstrip("/")
            dirs = []
            while True:
                dirs.append(current)
                if current == root:
                    return dirs
                current = current.parent
    return []


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _read_int(path: str | Path) -> int | None:
    text = _read(path)
    try:
        return int(text.split()[0]) if text else None  # "max" (no limit) is None too
    except ValueError:
        return None


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{n} bytes"
