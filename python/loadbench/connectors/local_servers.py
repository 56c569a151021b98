"""What the local services (``loadbench services up NAME``) share: where their state lives, how a
server is spawned so that it outlives the command, found again, and stopped.

State is per user, not per working directory (:meth:`loadbench.settings.Settings.services_dir`):
``<services dir>/<name>.json`` says where a server runs (port, data directory, process id and its
start time, so a reused process id is never taken for the server) and ``<name>.env`` holds the
settings that point a connector at it (``MYSQL_URL=...``), for ``--env-file`` or a shell. Both may
hold a password: they are written whole or not at all, readable by their owner only (0600). What
``services up`` prints never holds one (the URL is shown with its password masked).

When we are root the servers run as an unprivileged user (``mysql``, ``redis``, ``postgres`` or
``nobody``) in a directory of their own under the system temp; otherwise as ourselves, under the
services directory.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from loadbench import outputs
from loadbench.errors import ConfigError, RunFailed
from loadbench.secrets import redact
from loadbench.settings import Settings

STOP_TIMEOUT_S = 30.0  # SIGTERM, then SIGKILL after this long


def check_services_dir(services_dir: Path) -> Path:
    """The services directory, created if needed (0700: its files may hold passwords), or a one-line
    ConfigError."""
    outputs.check_directory(services_dir, "services directory")
    try:
        if services_dir.stat().st_uid == os.geteuid():
            services_dir.chmod(0o700)
    except OSError as exc:
        raise ConfigError(f"services directory {services_dir}: {outputs.reason(exc)}") from None
    return services_dir


def state_file(services_dir: Path, name: str) -> Path:
    return services_dir / f"{name}.json"


def env_file(services_dir: Path, name: str) -> Path:
    return services_dir / f"{name}.env"


def read_state(services_dir: Path, name: str) -> dict[str, Any] | None:
    """The state ``services up NAME`` recorded, or None (none, or unreadable: then not ours to use)."""
    try:
        state = json.loads(state_file(services_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _write_private(path: Path, text: str) -> None:
    old = os.umask(0o077)  # 0600 from the start: never a moment when another user may read it
    try:
        outputs.replace(path, text.encode("utf-8"))
    finally:
        os.umask(old)
    path.chmod(0o600)


def write_state(services_dir: Path, name: str, state: dict[str, Any], env: dict[str, str]) -> None:
    """Records a started server: its state, and its settings as ``NAME='value'`` lines."""
    check_services_dir(services_dir)
    lines = "".join(f"{key}='{value}'\n" for key, value in env.items())
    _write_private(env_file(services_dir, name), f"# loadbench services up {name}: settings that reach it\n{lines}")
    _write_private(state_file(services_dir, name), json.dumps(state, allow_nan=False, indent=1) + "\n")


def clear_state(services_dir: Path, name: str) -> None:
    state_file(services_dir, name).unlink(missing_ok=True)
    env_file(services_dir, name).unlink(missing_ok=True)


def live_state(services_dir: Path, name: str) -> dict[str, Any] | None:
    """The state of a server that :func:`spawn` started for ``services up NAME`` (``pid``,
    ``started``, ``url``, ``env``, ...), when that process still runs; else None."""
    state = read_state(services_dir, name)
    try:
        assert state is not None and alive(int(state["pid"]), int(state["started"]))
    except (AssertionError, KeyError, TypeError, ValueError):
        return None
    return state


def stop_service(services_dir: Path, name: str) -> bool:
    """Stops the server ``services up NAME`` started (SIGTERM: each shuts down cleanly on it) and
    deletes its directory and state; False when none was running."""
    state = read_state(services_dir, name)
    was_running = live_state(services_dir, name) is not None
    if state is not None:
        if was_running:
            stop(int(state["pid"]), int(state["started"]))
        if isinstance(state.get("base"), str):
            remove_dir(Path(state["base"]))
    clear_state(services_dir, name)
    return was_running


def recorded_url(services_dir: Path, name: str) -> str | None:
    """The full URL (a password included) that the running service ``name`` recorded, or None."""
    state = live_state(services_dir, name)
    return str(state["url"]) if state is not None else None


def shown_url(services_dir: Path, name: str) -> str | None:
    """:func:`recorded_url` with any password masked: what ``services`` prints."""
    url = recorded_url(services_dir, name)
    return redact(url) if url is not None else None


def with_running_service(settings: Settings, name: str, needs: tuple[str, ...]) -> Settings:
    """``settings``, with the settings of the running service ``name`` (its ``env``) for the names
    they leave unset, when they set none of ``needs`` (a user's own URL always wins, and is never
    mixed with a service's password)."""
    if any(settings.get(key) is not None for key in needs):
        return settings
    state = live_state(settings.services_dir(), name)
    env = state.get("env") if state is not None else None
    if not isinstance(env, dict):
        return settings
    return settings.with_fallback({str(k): str(v) for k, v in env.items()}, f"loadbench services up {name}")


def running_setting(settings: Settings, name: str, running_url: Callable[[Path], str | None]) -> tuple[str, str] | None:
    """``(url, origin)`` of the local service ``name`` when it runs, as :meth:`Settings.get` gives a
    setting: what a connector's build falls back to when its URL is not set."""
    url = running_url(settings.services_dir())
    return (url, f"loadbench services up {name}") if url is not None else None


# --- processes -----------------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice from the ephemeral range, so never a
    standard service's such as 3306 or 6379)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generated_password() -> str:
    """A fresh random password, 192 bits, of URL-safe letters (no character needs quoting in a URL,
    an SQL string or a config file)."""
    return secrets.token_urlsafe(24)


def server_user(*candidates: str) -> str | None:
    """The unprivileged user to run a server as when we are root (the first of ``candidates`` that
    exists, else ``nobody``); None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in (*candidates, "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RunFailed(f"running as root, and none of the users {', '.join((*candidates, 'nobody'))} exists to run "
                    "the server as")


def server_dir(services_dir: Path, name: str, user: str | None) -> Path:
    """A fresh directory for a server's data, owned by the user it runs as (0700)."""
    if user is None:
        base = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=check_services_dir(services_dir)))
    else:  # the server's user must reach it: not under a root-only directory
        base = Path(tempfile.mkdtemp(prefix=f"loadbench-{name}-"))
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    return base


def write_owned(path: Path, text: str, user: str | None) -> None:
    """A file only the server's user may read (a config file holding a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _as_user(user: str | None) -> Callable[[], None] | None:
    if user is None:
        return None
    entry = pwd.getpwnam(user)

    def drop() -> None:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return drop


def run_as(argv: list[str], user: str | None, log: Path, what: str, timeout: float = 180,
           stdin: str | None = None) -> None:
    """Runs a setup program (``mariadb-install-db``) as ``user`` to completion; RunFailed with the
    last lines of its output when it fails."""
    with open(log, "ab") as out:
        try:
            result = subprocess.run(argv, input=stdin.encode() if stdin is not None else None,
                                    stdin=None if stdin is not None else subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, preexec_fn=_as_user(user), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunFailed(f"{what} did not finish within {timeout:g} s (log: {log})") from None
    if result.returncode != 0:
        raise RunFailed(f"{what} failed: {last_lines(log)} (log: {log})")


def last_lines(log: Path, count: int = 2) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " / ".join(line.strip() for line in lines[-count:]) or "no output"


def spawn(argv: list[str], user: str | None, log: Path, cwd: Path) -> tuple[int, int]:
    """Starts a server that outlives this command (a session of its own, so a Ctrl-C in the
    terminal that ran ``services up`` does not reach it); its ``(pid, start time)``."""
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                   preexec_fn=_as_user(user), start_new_session=True)
    return process.pid, start_time(process.pid) or 0


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/PID/stat`` field 22): with the pid,
    names one process for good (a pid is reused, the pair is not). None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name, in parentheses, may hold blanks
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int, started: int) -> bool:
    """The process ``spawn`` returned is still running (not a zombie, not a later one with its pid)."""
    return pid > 0 and start_time(pid) == started


def stop(pid: int, started: int, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (the servers shut down cleanly on it), then SIGKILL after ``timeout``; returns once
    the process is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        if not alive(pid, started):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and alive(pid, started):
            _reap(pid)
            time.sleep(0.05)
    if alive(pid, started):
        raise RunFailed(f"process {pid} did not exit on SIGKILL")


def _reap(pid: int) -> None:
    # When the server is our own child (started by this process), it stays a zombie until we wait.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_for_port(port: int, pid: int, started: int, limit: float, what: str, log: Path) -> None:
    """Returns once something accepts TCP connections on 127.0.0.1:``port``; RunFailed (with the
    log's last lines) when the process exits first or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, started):
            raise RunFailed(f"{what} exited at start: {last_lines(log)} (log: {log})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RunFailed(f"{what} did not open port {port} within {limit:g} s: {last_lines(log)} (log: {log})")


def remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def find_binary(*names: str, hint: str) -> str:
    """The first of ``names`` on PATH (or in /usr/sbin, where Debian puts daemons); RunFailed with
    ``hint`` (how to install it) when none is."""
    for name in names:
        found = shutil.which(name) or next((f"{d}/{name}" for d in ("/usr/sbin", "/usr/bin")
                                            if os.access(f"{d}/{name}", os.X_OK)), None)
        if found:
            return found
    raise RunFailed(f"{names[0]} is not installed ({hint})")
