"""A throwaway MariaDB for benchmarking: ``loadbench services up|down|status mariadb``.

``mariadb-install-db`` into a fresh directory, then ``mariadbd`` on a free loopback port (never
3306) as an unprivileged user when we are root, with a database ``loadbench`` and a user
``loadbench`` whose password is generated (192 bits) and every privilege on every database but GRANT OPTION (so that presets may set
globals such as ``innodb_flush_log_at_trx_commit``). Root has no password but is reachable only
through the server's Unix socket, in a directory only the server's user may enter; the root
accounts for TCP that ``mariadb-install-db`` creates are dropped.

The URL, ``mysql://loadbench:PASSWORD@127.0.0.1:PORT/loadbench``, is written to the state and env
files (0600, :mod:`loadbench.connectors.local_servers`); ``services up`` prints it with the
password masked. The ``mysql`` connector uses it when ``MYSQL_URL`` is not set
(:func:`with_running_service`).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from loadbench.connectors import local_servers
from loadbench.connectors.spec import LocalService
from loadbench.secrets import redact, remember
from loadbench.settings import Settings

SERVICE = "mariadb"
ENV = "MYSQL_URL"
DATABASE = "loadbench"
USER = "loadbench"
_HINT = "Debian: apt-get install mariadb-server mariadb-client"


def running_url(services_dir: Path) -> str | None:
    """The full URL (with its password) of the server ``services up mariadb`` started, or None."""
    return local_servers.recorded_url(services_dir, SERVICE)


def live_state(services_dir: Path) -> dict[str, Any] | None:
    """The state of the server ``services up mariadb`` started (``pid``, ``port``, ...), when it runs."""
    return local_servers.live_state(services_dir, SERVICE)


def with_running_service(settings: Settings) -> Settings:
    """``settings`` with ``MYSQL_URL`` from the running service when it is not set."""
    return local_servers.with_running_service(settings, SERVICE, (ENV,))


def _shown(services_dir: Path) -> str | None:
    return local_servers.shown_url(services_dir, SERVICE)


def _client(socket_path: Path, sql: str, log: Path, user: str | None) -> None:
    # SQL on standard input, never on the command line: it holds the password (`ps` shows argv).
    client = local_servers.find_binary("mariadb", "mysql", hint=_HINT)
    local_servers.run_as([client, "--no-defaults", f"--socket={socket_path}", "-uroot", "-N", "-B"], user, log,
                         "mariadb client", timeout=60, stdin=sql)


def _up(services_dir: Path) -> str:
    shown = _shown(services_dir)
    if shown is not None:
        return shown
    local_servers.check_services_dir(services_dir)
    local_servers.stop_service(services_dir, SERVICE)  # what is left of one that died
    installer = local_servers.find_binary("mariadb-install-db", "mysql_install_db", hint=_HINT)
    daemon = local_servers.find_binary("mariadbd", "mysqld", hint=_HINT)
    local_servers.find_binary("mariadb", "mysql", hint=_HINT)
    user = local_servers.server_user("mysql")
    base = local_servers.server_dir(services_dir, SERVICE, user)
    port = local_servers.free_port()
    password = local_servers.generated_password()
    remember([password])
    url = f"mysql://{USER}:{password}@127.0.0.1:{port}/{DATABASE}"
    sock = base / "mariadbd.sock"
    pid = started = 0
    try:
        local_servers.run_as([installer, "--no-defaults", f"--datadir={base / 'data'}", "--auth-root-authentication-method=normal",
                              "--skip-test-db", "--skip-name-resolve"], user, base / "install.log", "mariadb-install-db")
        pid, started = local_servers.spawn(
            [daemon, "--no-defaults", f"--datadir={base / 'data'}", f"--port={port}", "--bind-address=127.0.0.1",
             f"--socket={sock}", f"--pid-file={base / 'mariadbd.pid'}", f"--log-error={base / 'error.log'}",
             "--skip-name-resolve", "--max-connections=1000", "--innodb-buffer-pool-size=256M"],
            user, base / "server.log", base)
        local_servers.write_state(services_dir, SERVICE, {"pid": pid, "started": started, "port": port, "base": str(base),
                                                          "user": user, "url": url, "env": {ENV: url}}, {ENV: url})
        local_servers.wait_for_port(port, pid, started, 120, "mariadbd", base / "error.log")
        # Root over TCP would need no password: only root over the socket is left. The user name is a
        # constant and the password URL-safe letters, so neither needs escaping in SQL.
        hosts = ", ".join(f"'root'@'{h}', ''@'{h}'" for h in ("127.0.0.1", "::1", socket.gethostname()))
        _client(sock, f"DROP USER IF EXISTS {hosts}, ''@'localhost';\n"
                      f"CREATE DATABASE {DATABASE};\n"
                      f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{password}';\n"
                      f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%';\n", base / "setup.log", user)
    except BaseException:
        if pid:
            local_servers.stop(pid, started)
        local_servers.remove_dir(base)
        local_servers.clear_state(services_dir, SERVICE)
        raise
    return f"{redact(url)} (data {base / 'data'})"


def _down(services_dir: Path) -> bool:
    return local_servers.stop_service(services_dir, SERVICE)


def socket_path(services_dir: Path) -> Path | None:
    """The running server's Unix socket (for the ``mariadb`` client as root), or None."""
    state = local_servers.live_state(services_dir, SERVICE)
    return Path(state["base"]) / "mariadbd.sock" if state is not None else None


LOCAL_SERVICE = LocalService(SERVICE, _up, _down, _shown, connectors=("mysql",))
