"""A throwaway Redis for benchmarking: ``loadbench services up|down|status redis``.

``redis-server`` on a free loopback port (never 6379), bound to 127.0.0.1, with no persistence
(``save ''``, ``appendonly no``: a benchmark's data is thrown away) and a generated
``requirepass`` (192 bits), as an unprivileged user when we are root. The password goes in the
server's config file (0600, its user's), not on its command line, which ``ps`` shows to everyone.

The URL, ``redis://:PASSWORD@127.0.0.1:PORT/0``, is written to the state and env files (0600,
:mod:`loadbench.connectors.local_servers`); ``services up`` prints it with the password masked.
The ``redis`` connector uses it when ``REDIS_URL`` is not set (:func:`with_running_service`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from loadbench.connectors import local_servers
from loadbench.connectors.spec import LocalService
from loadbench.errors import RunFailed
from loadbench.secrets import redact, remember
from loadbench.settings import Settings

SERVICE = "redis"
ENV = "REDIS_URL"
_HINT = "Debian: apt-get install redis-server redis-tools"


def running_url(services_dir: Path) -> str | None:
    """The full URL (with its password) of the server ``services up redis`` started, or None."""
    return local_servers.recorded_url(services_dir, SERVICE)


def live_state(services_dir: Path) -> dict[str, Any] | None:
    """The state of the server ``services up redis`` started (``pid``, ``port``, ...), when it runs."""
    return local_servers.live_state(services_dir, SERVICE)


def with_running_service(settings: Settings) -> Settings:
    """``settings`` with ``REDIS_URL`` from the running service when it is not set."""
    return local_servers.with_running_service(settings, SERVICE, (ENV,))


def _shown(services_dir: Path) -> str | None:
    return local_servers.shown_url(services_dir, SERVICE)


def _ping(port: int, password: str) -> None:
    """PING with the password (from the environment: never an argument): the server is up and the
    password is the one it wants."""
    cli = local_servers.find_binary("redis-cli", hint=_HINT)
    done = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(port), "PING"], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "REDISCLI_AUTH": password})
    if done.stdout.strip() != "PONG":
        raise RunFailed(f"redis-server on port {port} did not answer PING: "
                        f"{(done.stdout + done.stderr).strip().splitlines()[-1:] or ['no answer']}")


def _up(services_dir: Path) -> str:
    shown = _shown(services_dir)
    if shown is not None:
        return shown
    local_servers.check_services_dir(services_dir)
    local_servers.stop_service(services_dir, SERVICE)  # what is left of one that died
    server = local_servers.find_binary("redis-server", hint=_HINT)
    local_servers.find_binary("redis-cli", hint=_HINT)
    user = local_servers.server_user("redis")
    base = local_servers.server_dir(services_dir, SERVICE, user)
    port = local_servers.free_port()
    password = local_servers.generated_password()
    remember([password])
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    pid = started = 0
    try:
        config = base / "redis.conf"
        local_servers.write_owned(config, f"port {port}\nbind 127.0.0.1\nprotected-mode yes\nsave \"\"\n"
                                          f"appendonly no\ndaemonize no\ndir {base}\nrequirepass {password}\n"
                                          "maxclients 10000\n", user)
        pid, started = local_servers.spawn([server, str(config)], user, base / "server.log", base)
        local_servers.write_state(services_dir, SERVICE, {"pid": pid, "started": started, "port": port, "base": str(base),
                                                          "user": user, "url": url, "env": {ENV: url}}, {ENV: url})
        local_servers.wait_for_port(port, pid, started, 30, "redis-server", base / "server.log")
        _ping(port, password)
    except BaseException:
        if pid:
            local_servers.stop(pid, started)
        local_servers.remove_dir(base)
        local_servers.clear_state(services_dir, SERVICE)
        raise
    return f"{redact(url)} (no persistence; directory {base})"


def _down(services_dir: Path) -> bool:
    return local_servers.stop_service(services_dir, SERVICE)


LOCAL_SERVICE = LocalService(SERVICE, _up, _down, _shown, connectors=("redis",))
