"""Restarting a server by starting its own command line again (``bench --fault restart`` and
``kill`` on MariaDB and Redis): the default restart command of a server that has no ``pg_ctl``.

:func:`reexec` reads, before any load, what the running server was started with (its argv unless
the caller knows better, its working directory, its user) and gives the command that restarts it:
:func:`main` in a child Python (``python -c``), which

1. stops whatever listens on the server's TCP port, if anything does (SIGCONT, then SIGTERM: a
   clean shutdown; SIGKILL after :data:`STOP_TIMEOUT_S`);
2. starts the same argv in the same directory as the same user, in a session of its own (it
   outlives the run), its output appended to ``loadbench-restart.log`` there;
3. returns once the port accepts connections again (exit 0), or exits 1 with the log's last
   lines after :data:`START_TIMEOUT_S`;
4. when the server was the one ``loadbench services up NAME`` started, records the new process in
   that service's state, so that ``services status``/``down`` and the connectors still find it.
"""

from __future__ import annotations

import argparse
import os
import pwd
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from loadbench import processes
from loadbench.connectors import local_servers
from loadbench.connectors.spec import ServerRestart
from loadbench.errors import ConfigError, RunFailed

STOP_TIMEOUT_S = 60.0
START_TIMEOUT_S = 60.0
LOG_NAME = "loadbench-restart.log"
_ENTRY = "import sys; from loadbench.connectors import server_restart; sys.exit(server_restart.main())"


def reexec(pid: int, port: int, argv: Sequence[str] | None = None,
           service: tuple[Path, str] | None = None) -> ServerRestart:
    """The command restarting the server ``pid`` (listening on ``port``) with ``argv`` (default:
    its ``/proc/PID/cmdline``), in its working directory, as its user; ``service``: the services
    directory and name whose state names it. ConfigError when the process cannot be read."""
    try:
        args = list(argv) if argv is not None else \
            Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
        cwd = os.readlink(f"/proc/{pid}/cwd")
        uid = os.stat(f"/proc/{pid}").st_uid
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--fault: cannot read the server process {pid} ({getattr(exc, 'strerror', exc)}); "
                          "give --server-restart 'CMD'") from None
    if not args or not args[0]:
        raise ConfigError(f"--fault: the server process {pid} shows no command line; give --server-restart 'CMD'")
    if uid != os.geteuid() and os.geteuid() != 0:
        raise ConfigError(f"--fault: the server process {pid} is another user's; loadbench can restart it only as "
                          "root, or give --server-restart 'CMD'")
    # Not `python -m`: the package imports this module (mysql, redis) before runpy would run it again.
    command = [sys.executable, "-c", _ENTRY, "--port", str(port), "--cwd", cwd, "--uid", str(uid)]
    if service is not None:
        command += ["--services-dir", str(service[0]), "--service", service[1]]
    return ServerRestart(tuple(command + ["--", *args]))


def _stop_listener(port: int) -> None:
    for pid in processes.listening_tcp_pid(port):
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while processes.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if processes.alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while processes.alive(pid) and time.monotonic() < deadline + 10:
                time.sleep(0.05)


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadbench.connectors.server_restart")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--services-dir")
    parser.add_argument("--service")
    parser.add_argument("argv", nargs="+")
    o = parser.parse_args(args)
    _stop_listener(o.port)
    user = pwd.getpwuid(o.uid).pw_name if o.uid != os.geteuid() else None
    log = Path(o.cwd) / LOG_NAME
    try:
        pid, started = local_servers.spawn(o.argv, user, log, Path(o.cwd))
        local_servers.wait_for_port(o.port, pid, started, START_TIMEOUT_S, Path(o.argv[0]).name, log)
    except (RunFailed, OSError) as exc:
        print(exc, flush=True)
        return 1
    if o.services_dir and o.service:
        state = local_servers.read_state(Path(o.services_dir), o.service)
        if state is not None and int(state.get("port", 0)) == o.port:
            state.update(pid=pid, started=started)
            local_servers.write_state(Path(o.services_dir), o.service, state, dict(state.get("env", {})))
    print(f"restarted as process {pid}", flush=True)
    return 0


