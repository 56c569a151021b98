"""``loadbench cluster up --workers N | down | status``: a Dask scheduler and N worker processes
on loopback, to try distributed runs on one machine.

The processes outlive the command (a session of their own, as ``loadbench services`` starts its
servers) and their state is kept per user in the services directory (``dask-cluster.json``, see
:meth:`loadbench.settings.Settings.services_dir`), so ``down`` and ``status`` find them from any
directory. Each worker runs one task thread (a generator needs one) without a nanny, so a worker
killed stays dead, as a machine that failed would. The scheduler drops a worker whose heartbeats
stop after :data:`WORKER_TTL` (Dask's default is minutes). Scheduler and workers run with
:data:`QUIET_CONFIG`, which takes Dask's own periodic sampling off the cores the generators use.

On real machines use Dask's own commands instead (README: "Distributed runs").
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from loadbench.connectors import local_servers
from loadbench.distributed import require
from loadbench.errors import ConfigError, RunFailed

NAME = "dask-cluster"
WORKER_TTL = "5s"
START_TIMEOUT_S = 60.0

# Dask's periodic work that a generator does not need, slowed down or off. Each wakes the process
# and takes the GIL on the worker's (and the scheduler's) event loop, beside the engine's threads;
# the worker's heartbeat (the clock offset, the TTL) is left as it is. Measured on the 2-core
# development VM, an idle cluster (one scheduler, one worker, no nanny; process CPU over 10 s and
# over 30 s, two loads): the worker 3.1 % and 1.4 % of a core with Dask's defaults, 0.2 % and
# 0.4 % with these; the scheduler 1.5 % and 1.0 %, 0.3 % and 0.3 %.
QUIET_CONFIG: dict[str, str] = {
    "distributed.worker.profile.enabled": "False",          # a stack sample of the task thread every 10 ms
    "distributed.admin.tick.interval": "1s",                # the event loop's health check, every 20 ms
    "distributed.admin.system-monitor.interval": "5s",      # psutil's CPU, memory, network, disk, every 0.5 s
    "distributed.worker.memory.monitor-interval": "1s",     # the worker's memory check, every 0.1 s
}


def quiet_env() -> dict[str, str]:
    """:data:`QUIET_CONFIG` as Dask's environment variables (``DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=1s``,
    ...), for a ``dask scheduler`` or ``dask worker`` command."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): value for key, value in QUIET_CONFIG.items()}


def _env() -> dict[str, str]:
    env = {**os.environ, **quiet_env()}
    env["DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL"] = WORKER_TTL
    return env


def scheduler_argv(port: int) -> list[str]:
    """The scheduler's command line: on 127.0.0.1:``port``, no dashboard."""
    return [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
            "--no-dashboard"]


def worker_argv(address: str, name: str) -> list[str]:
    """A worker's command line: one task thread, no nanny, no dashboard, on 127.0.0.1."""
    return [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads", "1",
            "--no-nanny", "--no-dashboard", "--name", name]


def _spawn(argv: list[str], log: Path, cwd: Path) -> tuple[int, int]:
    import subprocess

    with open(log, "ab") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                   env=_env(), start_new_session=True)
    return process.pid, local_servers.start_time(process.pid) or 0


def status(services_dir: Path) -> dict[str, Any] | None:
    """The running cluster's state (``address``, ``scheduler``, ``workers``: ``{pid, started}``
    each, with ``alive``), or None when none runs."""
    state = local_servers.live_state(services_dir, NAME)
    if state is None:
        return None
    for w in state.get("workers", []):
        w["alive"] = local_servers.alive(int(w["pid"]), int(w["started"]))
    return state


def up(services_dir: Path, workers: int) -> dict[str, Any]:
    """Starts a scheduler and ``workers`` workers on loopback and waits until every worker has
    joined; its state. ConfigError when one already runs or ``workers`` < 1; RunFailed (nothing
    left running) when a process does not start."""
    distributed = require()
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    running = status(services_dir)
    if running is not None:
        raise ConfigError(f"a cluster already runs ({running['address']}): loadbench cluster down first")
    local_servers.check_services_dir(services_dir)
    base = services_dir / NAME
    base.mkdir(exist_ok=True)
    port = local_servers.free_port()
    address = f"tcp://127.0.0.1:{port}"
    started: list[tuple[int, int]] = []
    try:
        log = base / "scheduler.log"
        pid, when = _spawn(scheduler_argv(port), log, base)
        started.append((pid, when))
        local_servers.wait_for_port(port, pid, when, START_TIMEOUT_S, "the Dask scheduler", log)
        for i in range(workers):
            started.append(_spawn(worker_argv(address, f"loadbench-{i + 1}"), base / f"worker-{i + 1}.log", base))
        with distributed.Client(address, timeout="10s", set_as_default=False) as client:
            try:
                client.wait_for_workers(workers, timeout=START_TIMEOUT_S)
            except TimeoutError:
                raise RunFailed(f"only {len(client.scheduler_info(n_workers=-1)['workers'])} of {workers} Dask workers "
                                f"joined within {START_TIMEOUT_S:g} s (logs: {base})") from None
    except BaseException:
        for pid, when in reversed(started):
            local_servers.stop(pid, when)
        raise
    state = {"address": address, "port": port, "base": str(base),
             "pid": started[0][0], "started": started[0][1],  # the scheduler: what live_state checks
             "scheduler": {"pid": started[0][0], "started": started[0][1]},
             "workers": [{"pid": p, "started": s} for p, s in started[1:]], "created": time.time()}
    local_servers.write_state(services_dir, NAME, state, {"LOADBENCH_CLUSTER": address})
    return state


def down(services_dir: Path) -> bool:
    """Stops the workers, then the scheduler, and forgets them; False when none ran."""
    state = local_servers.read_state(services_dir, NAME)
    if state is None:
        return False
    was_running = local_servers.live_state(services_dir, NAME) is not None
    for w in state.get("workers", []):
        try:
            local_servers.stop(int(w["pid"]), int(w["started"]))
        except (KeyError, TypeError, ValueError):
            pass
    if was_running:
        local_servers.stop(int(state["pid"]), int(state["started"]))
    local_servers.clear_state(services_dir, NAME)
    return was_running
