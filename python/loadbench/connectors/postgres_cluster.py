"""A throwaway PostgreSQL cluster, for benchmarking (`loadbench services up postgres`) and for tests.

``PostgresCluster`` is a throwaway PostgreSQL: ``initdb`` into a fresh directory, ``pg_ctl start``
on a free loopback port with trust authentication, ``pg_ctl stop`` and delete. PostgreSQL refuses
to run as root, so when we are root the server runs as the ``postgres`` user (or ``nobody``) in a
directory that user owns. ``loadbench services up/down/status`` keep the cluster's whereabouts in
``postgres.json`` in the per-user services directory (``Settings.services_dir``); the ``postgres``
connector uses that cluster when ``PG_URL`` is not set.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loadbench.errors import RunFailed

# Settings for a benchmarking server on a small machine: enough connections for high concurrency,
# loopback only, durability as PostgreSQL ships it (fsync on) unless the caller asks otherwise.
_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",
    "shared_buffers": "'256MB'",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


def find_pg_binary(name: str) -> str:
    """``initdb``, ``pg_ctl``... from PATH, else from the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (bindir / name).exists():
            return str(bindir / name)
    raise RunFailed(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice, so never a standard service's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The unprivileged user to run the server as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RunFailed("running as root, and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass
class PostgresCluster:
    data_dir: Path
    port: int
    user: str | None  # OS user the server runs as (None: ourselves)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls, parent: Path | None = None, port: int | None = None, fsync: bool = True) -> "PostgresCluster":
        """initdb a new cluster in a fresh directory under ``parent`` (a temp dir when None)."""
        user = _server_user()
        if user is not None or parent is None:
            # The server's user must own the directory and reach it: a root-only parent (0700) would
            # not do, so as root the cluster lives in a directory of its own under the system temp.
            base = Path(tempfile.mkdtemp(prefix="loadbench-postgres-"))
        else:
            parent.mkdir(parents=True, exist_ok=True)
            base = Path(tempfile.mkdtemp(prefix="postgres-", dir=parent))
        data_dir = base / "data"
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        cluster = cls(data_dir, port or free_port(), user)
        cluster._run([find_pg_binary("initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--no-sync"], "initdb")
        settings = dict(_SERVER_SETTINGS, port=str(cluster.port), unix_socket_directories=f"'{data_dir}'")
        if not fsync:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        with open(data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# loadbench\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        return cluster

    def _run(self, argv: list[str], what: str) -> None:
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise RunFailed(f"PostgreSQL {what} failed: {detail[-1] if detail else 'exit ' + str(result.returncode)}")

    def start(self) -> None:
        log = self.data_dir.parent / "server.log"
        self._run([find_pg_binary("pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-w", "-t", "60", "start"],
                  f"start (log: {log})")

    def stop(self) -> None:
        if self.data_dir.exists():
            self._run([find_pg_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], "stop")

    def destroy(self) -> None:
        """Stops the server if it runs and deletes its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def is_running(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
