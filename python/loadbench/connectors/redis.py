"""Redis and Valkey (kind ``redis``): test-1's transfer as one server-side Lua script (EVALSHA) or
as an optimistic WATCH/MULTI/EXEC transaction, over hiredis on the engine's event loops, pipelined
with ``--inflight``.

Settings: ``REDIS_URL`` (``redis://[[user]:password@]host[:port][/database]``; the ``user:`` form
is Redis 6's ACL user, none is the ``default`` user), ``REDIS_MODE`` (``script`` or ``watch``;
flag ``--redis-mode``), ``MAX_INFLIGHT_PER_WORKER`` (flag ``--inflight``: transfers in flight per
connection, script mode only). Accounts are string keys ``account:<id - 1>`` (12 digits) in the
URL's database. Redis runs no SQL, so no scenario files; it has no presets either: durability
(``appendonly``, ``appendfsync``, ``save``) is the server's configuration, not a session's.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path
from urllib.parse import unquote

from loadbench import _core, processes
from loadbench.connectors import redis_server, server_restart
from loadbench.connectors.spec import (
    INFLIGHT_FLAG,
    Choices,
    ClientCommand,
    ConnectorSpec,
    ConnectorType,
    FaultTarget,
    Flag,
    LocalService,
    Preset,
    ServerRestart,
    SuperuserCheck,
    one_of,
)
from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, secrets_of, userinfo_end
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

KIND = "redis"
MODES = ("script", "watch")
DEFAULT_PORT = 6379
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def parse_redis_url(url: str, source: str) -> tuple[str, int, str, str, int]:
    """``(host, port, user, password, database)`` of a ``redis://`` URL, read as the core reads it
    (user and password %-decoded), or a one-line ConfigError that never shows the password. A
    password must read the same by the core and by the redaction rule (:mod:`loadbench.secrets`):
    write '/', '?' and '#' in it as %2F, %3F and %23."""
    remember(secrets_of(url))
    shown = redact(url)
    if url.startswith("rediss://"):
        raise ConfigError(f"{source}: {shown}: TLS (rediss://) is not supported yet")
    if not url.startswith("redis://"):
        raise ConfigError(f"{source}: {shown} must start with redis://")
    rest = url[len("redis://"):]
    if "?" in rest or "#" in rest:
        raise ConfigError(f"{source}: {shown}: options in the URL (after '?' or '#') are not supported "
                          "(write '?' and '#' in a password as %3F and %23)")
    authority, slash, path = rest.partition("/")
    at = authority.rfind("@")
    if userinfo_end(url) != (len("redis://") + at if at >= 0 else None):
        raise ConfigError(f"{source}: {shown} reads two ways: write '/' in the password as %2F")
    user = password = ""
    if at >= 0:
        userinfo, authority = authority[:at], authority[at + 1:]
        if ":" not in userinfo:  # perhaps a password put where the user goes: not shown
            raise ConfigError(f"{source}: redis://***@{url[len('redis://') + at + 1:]} names a user but no "
                              "password (redis://[user]:password@host)")
        if _PERCENT.search(userinfo):
            raise ConfigError(f"{source}: {shown}: its user or password has an invalid %-escape")
        raw_user, _, raw_password = userinfo.partition(":")
        user, password = unquote(raw_user), unquote(raw_password)
    if authority.startswith("["):
        close = authority.find("]")
        after = authority[close + 1:] if close >= 0 else ""
        if close < 0 or (after and not after.startswith(":")):
            raise ConfigError(f"{source}: {shown} has a malformed [IPv6] host")
        host, has_port, port_text = authority[1:close], bool(after), after[1:]
    else:
        host, colon, port_text = authority.partition(":")
        has_port = bool(colon)
    if not host:
        raise ConfigError(f"{source}: {shown} names no host")
    port = DEFAULT_PORT
    if has_port:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"{source}: {shown} has an invalid port")
        port = int(port_text)
    database = 0
    if slash and path:
        if not path.isdigit():
            raise ConfigError(f"{source}: {shown}: the database must be a number (redis://host:port/0)")
        database = int(path)
    return host, port, user, password, database


def transfer_script() -> str:
    """The Lua source of script mode's transfer, as the connector loads it (``SCRIPT LOAD``;
    ``EVALSHA`` names it by its SHA1): KEYS[1] pays ARGV[1] to KEYS[2] if its balance covers it;
    returns 1 (moved), 0 (refused) or a ``NOACCOUNT`` error. What bench/vs_redis_benchmark.py gives
    redis-benchmark, so that both tools run the very same script."""
    return _core.redis_scripts()["transfer"]


def audited_transfer_script() -> str:
    """``--audit``'s script: :func:`transfer_script`'s text with the ledger step (``RPUSH`` of
    ARGV[2], "op_id from to amount", to KEYS[3]) before its final ``return 1``."""
    return _core.redis_scripts()["audited_transfer"]


def _build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
    settings = redis_server.with_running_service(settings)  # `services up redis`, when REDIS_URL is unset
    found = settings.get("REDIS_URL")
    if found is None:
        return None
    url, origin = found
    parse_redis_url(url, f"REDIS_URL (from {origin})")
    mode = one_of(settings, "REDIS_MODE", choices.get("redis_mode"), MODES, "script", "--redis-mode")
    given = choices.get("inflight")
    inflight = given if given is not None else settings.integer("MAX_INFLIGHT_PER_WORKER", 1, minimum=1)
    if inflight < 1:
        raise ConfigError(f"--inflight must be >= 1, got {inflight}")
    if inflight > 1 and mode != "script":
        raise ConfigError(f"redis: --inflight {inflight} (pipelining) needs --redis-mode script "
                          "(WATCH belongs to the whole connection)")
    options = {"url": url, "mode": mode, "inflight": str(inflight)}
    return ConnectorSpec(name="redis", kind=KIND, options=options, target=redact(url),
                         settings={"mode": mode, "inflight": str(inflight)}, secrets=tuple(secrets_of(url)),
                         sessions_per_connection=inflight)


TYPES = (ConnectorType("redis", "Redis or Valkey (Lua script or WATCH/MULTI/EXEC, pipelined)",
                        "REDIS_URL=redis://[:password@]host:port/db (or run `loadbench services up redis`)", _build),)
ENV_VARS = ("REDIS_URL", "REDIS_MODE", "MAX_INFLIGHT_PER_WORKER")
DIALECTS: tuple[SqlDialect, ...] = ()
# --inflight is shared with the PostgreSQL family (connectors/postgres.py declares it; its value
# reaches every module's build as choices["inflight"]).
FLAGS = (
    Flag("--redis-mode", "redis_mode", "Redis transfer: one EVALSHA of a Lua script (atomic on the server), or "
         "WATCH/MULTI/EXEC with optimistic retries (env REDIS_MODE; default script).", choices=MODES),
    INFLIGHT_FLAG,
)
# Durability (appendonly, appendfsync, save) is the server's configuration: no session can set it.
PRESETS: tuple[Preset, ...] = ()
BASE_PRESET: str | None = None
SUPERUSER_CHECK: SuperuserCheck | None = None
NO_SERVER: str | None = None
LOCAL_SERVICE: LocalService | None = redis_server.LOCAL_SERVICE


def apply_preset(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """Never called: Redis has no presets (its durability is the server's configuration)."""
    raise AssertionError(f"{spec.kind} has no presets")


def _info_server(host: str, port: int, user: str, password: str, timeout: float = 1.0) -> dict[str, str]:
    """redis-server's ``INFO server`` fields (RESP over a plain socket: ``process_id``,
    ``executable``, ``config_file``, ...), or {} when it does not answer (a refused AUTH: after the
    timeout)."""
    def bulk(*args: str) -> bytes:
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            data = a.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(parts)

    request = b""
    if password:
        request += bulk("AUTH", user, password) if user else bulk("AUTH", password)
    request += bulk("INFO", "server")
    body = None
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(request)
            received = b""
            while body is None:  # until INFO's bulk reply is whole
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
                head = re.search(rb"\$(\d+)\r\n", received)
                if head is not None and len(received) - head.end() >= int(head.group(1)):
                    body = received[head.end():head.end() + int(head.group(1))]
    except OSError:
        return {}
    if body is None:
        return {}
    return dict(line.split(":", 1) for line in body.decode(errors="replace").splitlines() if ":" in line)


def _info_process_id(host: str, port: int, user: str, password: str) -> int | None:
    """redis-server's own pid, from ``INFO server``, or None."""
    pid = _info_server(host, port, user, password).get("process_id", "")
    return int(pid) if pid.isdigit() else None


def server_pids(spec: ConnectorSpec, runs_dir: Path) -> list[int]:
    """redis-server's process when the URL points at this machine: the listener on its port, else
    the pid its ``INFO server`` reports (when that process is alive here)."""
    try:
        host, port, user, password, _ = parse_redis_url(spec.options.get("url", ""), "REDIS_URL")
    except ConfigError:
        return []
    if host not in _LOOPBACK:
        return []
    found = processes.listening_tcp_pid(port)
    if found:
        return found
    pid = _info_process_id(host, port, user, password)
    return [pid] if pid is not None and processes.alive(pid) else []


def endpoint(spec: ConnectorSpec) -> tuple[str, int] | None:
    """The host and port of its URL."""
    try:
        host, port, _, _, _ = parse_redis_url(spec.options.get("url", ""), "REDIS_URL")
    except ConfigError:
        return None
    return host, port


# --- faults (bench --fault): how they act on a Redis server ----------------------------------------

# "$@": redis-cli with its host, port and user. CLIENT LIST's lines are "id=N addr=... name=NAME
# ..."; each loadbench client's id becomes a CLIENT KILL ID, one a line on redis-cli's input, which
# answers 1 for each client it killed (an error for one gone meanwhile).
_KILL_SCRIPT = ('set -e; clients=$("$@" CLIENT LIST TYPE normal); '
                'case "$clients" in ERR*|NOAUTH*|WRONGPASS*|NOPERM*|"") echo "CLIENT LIST: ${clients:-no answer}"; exit 1;; esac; '
                'kills=$(printf "%s\\n" "$clients" | sed -n "s/^id=\\([0-9]*\\) .* name=loadbench .*/CLIENT KILL ID \\1/p"); '
                'if [ -z "$kills" ]; then echo 0; exit 0; fi; '
                'printf "%s\\n" "$kills" | "$@" | grep -c "^1$" || true')


def _terminate(url: str, scratch: Path) -> ClientCommand:
    """``CLIENT KILL ID`` of every client named ``loadbench`` (the C++ connector sends ``CLIENT
    SETNAME loadbench`` on connect), found in ``CLIENT LIST``, through ``redis-cli`` (the password
    in its environment, never on a command line)."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli is not installed (Debian: apt-get install redis-tools)")
    host, port, user, password, _ = parse_redis_url(url, "REDIS_URL")
    argv = (cli, "-h", host, "-p", str(port)) + (("--user", user) if user else ())
    return ClientCommand(("sh", "-c", _KILL_SCRIPT, "sh") + argv, {"REDISCLI_AUTH": password} if password else {})


def _restart(roots: list[int], url: str) -> ServerRestart:
    """``redis-server CONFIG_FILE`` again, after a clean shutdown of the running one
    (:mod:`loadbench.connectors.server_restart`). redis-server rewrites its own command line: the
    executable and config file come from ``INFO server``, so a server started without a config
    file (its options on the command line) needs ``--server-restart``."""
    host, port, user, password, _ = parse_redis_url(url, "REDIS_URL")
    info = _info_server(host, port, user, password, timeout=5.0)
    if not info.get("executable") or not info.get("config_file"):
        raise ConfigError("--fault: this redis-server was started without a config file (INFO server shows none), "
                          "so loadbench cannot start it again as it was; give --server-restart 'CMD'")
    services = Settings.load().services_dir()
    state = redis_server.live_state(services)
    service = (services, redis_server.SERVICE) if state is not None and int(state["pid"]) in roots else None
    return server_restart.reexec(roots[0], port, [server_executable(info["executable"]), info["config_file"]], service)


def server_executable(reported: str) -> str:
    """The redis-server to start again, from ``INFO server``'s ``executable``: that path when it
    is a file, else (a server started by its bare name reports ``<its cwd>/redis-server``, a file
    that is not there) ``shutil.which`` of its base name. ConfigError (before any load) when
    neither exists: a restart would leave the server stopped."""
    if os.path.isfile(reported) and os.access(reported, os.X_OK):
        return reported
    found = shutil.which(os.path.basename(reported))
    if found is None:
        raise ConfigError(f"--fault: this redis-server's executable {reported!r} (INFO server) does not exist and "
                          f"{os.path.basename(reported)!r} is not on PATH, so loadbench cannot start it again; "
                          "give --server-restart 'CMD'")
    return os.path.abspath(found)


FAULT_TARGET: FaultTarget | None = FaultTarget(
    "Redis", "CLIENT KILL ID of every client named loadbench (CLIENT LIST)", _terminate, _restart)
