"""MariaDB and MySQL (kind ``mysql``, InnoDB), through MariaDB Connector/C: sessions on event loops,
server-side prepared statements, one connection per session (the classic protocol has no
pipelining; ``--threads`` below ``--concurrency`` drives many connections from few threads).

Settings: ``MYSQL_URL`` (``mysql://user:password@host:port/database``; unset: the server
``loadbench services up mariadb`` started, if it runs), ``MYSQL_MODE``,
``MYSQL_ISOLATION``, ``MYSQL_LOCK_WAIT_TIMEOUT`` (flags ``--mysql-mode``, ``--isolation``,
``--mysql-lock-wait-timeout`` win).

test-1's transfer runs in one of two modes: ``procedure`` (``CALL transfer(?, ?, ?)``, one round
trip; prep creates the procedure) or ``statements`` (BEGIN; ``SELECT ... FOR UPDATE`` locking both
rows in id order; the two UPDATEs; COMMIT). Deadlocks (1213) and lock wait timeouts (1205) are
retried and counted as retries.

The presets but ``mysql-base-0`` (the server's own settings) set ``innodb_flush_log_at_trx_commit``,
a global server variable (no session may set it): they are server settings, applied with ``SET
GLOBAL`` by each run's connections before load, which needs the SUPER privilege; without it the run
is refused in one line before any load. Each global's value is read before the first check and
put back after the last run (also after a failure, Ctrl-C or SIGTERM; :func:`server_settings_kept`),
so the server is left as it was found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

from loadbench import _core, processes
from loadbench.connectors import mariadb_server, server_restart
from loadbench.connectors.spec import (
    ISOLATION_FLAG,
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
    isolation_name,
    one_of,
)
from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, scrub, secrets_of, userinfo_end
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

KIND = "mysql"
MODES = ("procedure", "statements")
ISOLATIONS = ("read_uncommitted", "read_committed", "repeatable_read", "serializable")
DEFAULT_ISOLATION = "repeatable_read"  # InnoDB's own default
MYSQL = SqlDialect("mysql", placeholder="?", numbered=False)
_SCHEMES = ("mysql", "mariadb")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def transfer_procedure(name: str = "transfer") -> str:
    """The ``CREATE PROCEDURE`` statement of test-1's transfer that prep creates (as ``transfer``),
    under ``name``: ``name(a BIGINT, b BIGINT, amount BIGINT)`` moves ``amount`` from account ``a`` to
    ``b`` when ``a``'s balance covers it, locking both rows in id order, in one transaction; it
    returns no result set (the CALL's status counts 2 or 3 rows when it moved the money, 0 or 1
    when it refused). The text is the connector's own (C++), so another tool can run the same
    server code (``bench/vs_sysbench.py``). Send it whole: it holds ``;`` (a client that splits
    statements at ``;`` needs another delimiter)."""
    return _core.mysql_transfer_procedure(name)


def parse_mysql_url(url: str) -> tuple[str, int]:
    """The host and port of a ``mysql://`` (or ``mariadb://``) URL, read as the core reads it (the
    port defaults to 3306); ValueError (never quoting the URL) when it is not one."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise ValueError("must start with mysql:// (or mariadb://)")
    if "?" in rest or "#" in rest:
        raise ValueError("options after '?' are not supported (and '?' or '#' in a password is written %3F, %23)")
    authority = rest.split("/", 1)[0]
    userinfo, at, hostport = authority.rpartition("@")
    if at and not userinfo.split(":", 1)[0]:
        raise ValueError("names no user before '@'")
    if _BAD_ESCAPE.search(rest):
        raise ValueError("has an invalid %-escape")
    if hostport.startswith("["):
        host, close, after = hostport[1:].partition("]")
        if not close or (after and not after.startswith(":")):
            raise ValueError("has a malformed [IPv6] host")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_or_empty = hostport.partition(":")
        port_text = port_text_or_empty if colon else None
    if not host:
        raise ValueError("names no host")
    if port_text is None:
        return host, 3306
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("has an invalid port")
    return host, int(port_text)


def check_mysql_url(url: str, source: str) -> tuple[str, int]:
    """A MariaDB/MySQL URL we can use (its host and port), or a one-line ConfigError that never
    shows the password. It must read the same by the core and by the redaction rule
    (:mod:`loadbench.secrets`): '@', '/', '?' and '#' in a user name or password are
    percent-encoded."""
    remember(secrets_of(url))
    shown = redact(url)
    try:
        found = parse_mysql_url(url)
    except ValueError as exc:
        raise ConfigError(f"{source}: {shown} {exc}") from None
    scheme_end = url.index("://") + 3
    at = url[scheme_end:].split("/", 1)[0].rfind("@")
    if userinfo_end(url) != (scheme_end + at if at >= 0 else None):
        raise ConfigError(f"{source}: {shown} reads two ways: write '@', '/', '?' and '#' in the user name or "
                          "password as %40, %2F, %3F and %23")
    return found


def _build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
    found = mariadb_server.with_running_service(settings).get("MYSQL_URL")  # the user's, else `services up`'s
    if found is None:
        return None
    url, origin = found
    check_mysql_url(url, f"MYSQL_URL (from {origin})")
    mode = one_of(settings, "MYSQL_MODE", choices.get("mysql_mode"), MODES, "procedure", "--mysql-mode")
    isolation = one_of(settings, "MYSQL_ISOLATION", choices.get("isolation"), ISOLATIONS, DEFAULT_ISOLATION,
                       "mysql: --isolation", isolation_name)
    given = choices.get("mysql_lock_wait_timeout")
    options = {"url": url, "mode": mode, "isolation": isolation}
    described = {"mode": mode, "isolation": isolation + (" (InnoDB's default)" if isolation == DEFAULT_ISOLATION else "")}
    if given is not None or settings.get("MYSQL_LOCK_WAIT_TIMEOUT") is not None:
        timeout = given if given is not None else settings.integer("MYSQL_LOCK_WAIT_TIMEOUT", 50, minimum=0)
        if timeout < 0:
            raise ConfigError(f"--mysql-lock-wait-timeout must be >= 0 seconds, got {timeout}")
        options["lock_wait_timeout"] = str(timeout)
        described["lock_wait_timeout_s"] = str(timeout)
    return ConnectorSpec(name="mysql", kind=KIND, options=options, target=redact(url), settings=described,
                         secrets=tuple(secrets_of(url)), dialect=MYSQL)


TYPES = (
    ConnectorType("mysql", "MariaDB / MySQL (InnoDB)", "MYSQL_URL=mysql://user:password@host:port/database "
                  "(or run `loadbench services up mariadb`)", _build),
)
ENV_VARS = ("MYSQL_URL", "MYSQL_MODE", "MYSQL_ISOLATION", "MYSQL_LOCK_WAIT_TIMEOUT")
DIALECTS = (MYSQL,)
FLAGS = (
    Flag("--mysql-mode", "mysql_mode", "MariaDB/MySQL transfer: one CALL of a stored procedure (procedure), or "
         "BEGIN, SELECT ... FOR UPDATE, two UPDATEs, COMMIT (statements) (env MYSQL_MODE; default procedure).",
         choices=MODES),
    ISOLATION_FLAG,
    Flag("--mysql-lock-wait-timeout", "mysql_lock_wait_timeout", "Seconds a MariaDB/MySQL statement waits for a row "
         "lock before failing with 1205, retried (innodb_lock_wait_timeout per session; env MYSQL_LOCK_WAIT_TIMEOUT; "
         "default the server's, 50).", type=int),
)
# SUPER can change the server's settings and FILE read and write its files (SELECT ... INTO
# OUTFILE, LOAD_FILE): a scenario file's DDL is then code with those rights.
SUPERUSER_CHECK: SuperuserCheck | None = SuperuserCheck(
    "SELECT IF(COUNT(*) > 0, 'on', 'off') FROM information_schema.USER_PRIVILEGES "
    "WHERE PRIVILEGE_TYPE IN ('SUPER', 'FILE') AND GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), "
    "'''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
    "change the server's settings and read and write its files (SUPER, FILE: SELECT ... INTO OUTFILE)")
NO_SERVER: str | None = None

_FLUSH = "innodb_flush_log_at_trx_commit"
PRESETS = (
    Preset("mysql-base-0", KIND, "the server's own settings (MariaDB's default: innodb_flush_log_at_trx_commit=1, "
           "the log written and flushed at every commit)", {"server_settings": ""}),
    Preset("mysql-lazy-flush-1", KIND, f"{_FLUSH}=0: the log written and flushed about once a second; a server "
           "crash may lose the last second (server setting: SET GLOBAL, needs SUPER)", {"server_settings": f"{_FLUSH}=0"}),
    Preset("mysql-os-flush-2", KIND, f"{_FLUSH}=2: written at commit, flushed about once a second; an OS crash may "
           "lose the last second (server setting: SET GLOBAL, needs SUPER)", {"server_settings": f"{_FLUSH}=2"}),
    Preset("mysql-durable-3", KIND, f"{_FLUSH}=1 set explicitly: flushed at every commit (MariaDB's default; puts it "
           "back after the others; server setting: SET GLOBAL, needs SUPER)", {"server_settings": f"{_FLUSH}=1"}),
)
BASE_PRESET: str | None = "mysql-base-0"


def apply_preset(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """``spec`` with the preset's server settings (applied by each connection before load, and put
    back at the end: :func:`server_settings_kept`)."""
    described = {**spec.settings, "preset": preset.id, **{k: v for k, v in preset.options.items() if v}}
    return dataclasses.replace(spec, options={**spec.options, **preset.options}, settings=described,
                               configuration_id=preset.id,
                               run_scope=server_settings_kept if preset.options.get("server_settings") else None)


_SETTING_NAME = re.compile(r"[a-z0-9_]+")
_RESTORE_SECONDS = 2.0  # after Ctrl-C the whole command has 2 s: a stalled server gets no more
_PLAIN_VALUE = re.compile(r"-?[0-9]+(\.[0-9]+)?|[A-Za-z0-9_]+")  # a number or a word: SQL as it is


@contextlib.contextmanager
def server_settings_kept(spec: ConnectorSpec) -> Iterator[None]:
    """Reads the global values ``spec``'s server settings (``name=value;...``) will change, and
    sets them back when the block ends, however it ends (an exception, KeyboardInterrupt: Ctrl-C,
    and SIGTERM, which loadbench turns into one). A value that cannot be read (the server is not
    reachable yet) is left alone: the check then fails in one line before any load. A restore that
    fails (the server stopped answering: 2 s at most) is one warning line on stderr."""
    names = [item.split("=", 1)[0].strip().lower() for item in spec.options.get("server_settings", "").split(";")]
    previous: dict[str, str] = {}
    for name in dict.fromkeys(n for n in names if _SETTING_NAME.fullmatch(n)):
        try:
            rows = _core.sql_query(spec.core_dict(), f"SELECT @@GLOBAL.{name}", 10.0)
        except Exception:  # noqa: BLE001 - unreachable or unknown: the check says so, in one line
            continue
        if rows and rows[0] and rows[0][0] is not None:
            previous[name] = rows[0][0]
    try:
        yield
    finally:
        if previous:
            _put_back(spec, previous)


def _put_back(spec: ConnectorSpec, previous: dict[str, str]) -> None:
    """Sets each global in ``previous`` back where it now differs (an account that could not set
    it changed nothing, and needs nothing put back), within 2 s in all."""
    deadline = time.monotonic() + _RESTORE_SECONDS
    try:
        changed = {}
        for name, value in previous.items():
            rows = _core.sql_query(spec.core_dict(), f"SELECT @@GLOBAL.{name}", max(deadline - time.monotonic(), 0.01))
            if not rows or not rows[0] or rows[0][0] != value:
                changed[name] = value
        if changed:
            statements = [f"SET GLOBAL {name} = " + (value if _PLAIN_VALUE.fullmatch(value) else
                                                     "'" + value.replace("\\", "\\\\").replace("'", "''") + "'")
                          for name, value in changed.items()]
            _core.sql_execute(spec.core_dict(), statements, max(deadline - time.monotonic(), 0.01))
    except Exception as exc:  # noqa: BLE001 - the run's result stands; the server setting is reported
        kept = ", ".join(f"{n}={v}" for n, v in previous.items())
        print(f"loadbench: warning: {spec.label}: could not put the server settings back ({kept}): "
              f"{scrub(str(exc), spec.secrets)}", file=sys.stderr, flush=True)


LOCAL_SERVICE: LocalService | None = mariadb_server.LOCAL_SERVICE


def server_pids(spec: ConnectorSpec, runs_dir: Path) -> list[int]:
    """mariadbd (one process; its connections are threads): whatever listens on the URL's port,
    when the URL points at this machine."""
    found = endpoint(spec)
    if found is None or found[0] not in LOOPBACK:
        return []
    return processes.listening_tcp_pid(found[1])


def endpoint(spec: ConnectorSpec) -> tuple[str, int] | None:
    """The host and port to reach (None for a URL the run will refuse)."""
    try:
        return parse_mysql_url(spec.options["url"])
    except ValueError:
        return None


# --- faults (bench --fault): how they act on a MariaDB/MySQL server -----------------------------

# loadbench's sessions: the connections of the URL's user other than the killer's own, and where
# performance_schema is on, only those whose connect attribute program_name is loadbench (the C++
# connector sets it). Without performance_schema (MariaDB's default) the server records nothing
# else about a connection's client: give the benchmark an account of its own.
_KILLS = ("SELECT CONCAT('KILL CONNECTION ', ID, ';') FROM information_schema.PROCESSLIST "
          "WHERE USER = SUBSTRING_INDEX(USER(), '@', 1) AND ID <> CONNECTION_ID() "
          "AND COMMAND NOT IN ('Daemon', 'Binlog Dump') "
          "AND (@@performance_schema = 0 OR ID IN (SELECT PROCESSLIST_ID FROM performance_schema.session_connect_attrs "
          "WHERE ATTR_NAME = 'program_name' AND ATTR_VALUE = 'loadbench'))")
# $1: option file, $2: the query above, $3: where the KILLs' errors go. One client lists the
# KILLs, a second runs them (--force: a session gone meanwhile answers 1094, unknown thread id, and
# the rest still run); the count is the KILLs less their errors.
_KILL_SCRIPT = ('set -e; client=$4; rm -f "$3"; kills=$("$client" --defaults-file="$1" -N -B -e "$2"); '
                'n=$(printf "%s\\n" "$kills" | grep -c "^KILL" || true); '
                'if [ "$n" -gt 0 ]; then printf "%s\\n" "$kills" | "$client" --defaults-file="$1" -N -B --force 2>"$3" || true; fi; '
                'e=$(grep -c "^ERROR" "$3" 2>/dev/null || true); echo $((n - ${e:-0}))')


def _terminate(url: str, scratch: Path) -> ClientCommand:
    """``KILL CONNECTION`` of every loadbench session (:data:`_KILLS`), through the ``mariadb``
    client (the password in an option file only we may read)."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise RuntimeError("the mariadb client is not installed (Debian: apt-get install mariadb-client)")
    host, port = parse_mysql_url(url)
    userinfo = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    options = scratch / "mariadb-client.cnf"
    fd = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        # Option files take a value in double quotes with backslash escapes.
        quoted = unquote(password).replace("\\", "\\\\").replace('"', '\\"')
        f.write(f'[client]\nuser="{unquote(user)}"\npassword="{quoted}"\nhost={host}\nport={port}\n'
                "protocol=TCP\nconnect-timeout=5\n")
    return ClientCommand(("sh", "-c", _KILL_SCRIPT, "sh", str(options), _KILLS, str(scratch / "mariadb-kill.err"),
                          client))


def _restart(roots: list[int], url: str) -> ServerRestart:
    """mariadbd's own command line again, after a clean shutdown of the running one
    (:mod:`loadbench.connectors.server_restart`)."""
    _, port = parse_mysql_url(url)
    services = Settings.load().services_dir()
    state = mariadb_server.live_state(services)
    service = (services, mariadb_server.SERVICE) if state is not None and int(state["pid"]) in roots else None
    return server_restart.reexec(roots[0], port, service=service)


FAULT_TARGET: FaultTarget | None = FaultTarget(
    "MariaDB", "KILL CONNECTION of the URL's user's connections but the killer's own (with performance_schema on: "
    "only those whose connect attribute program_name is loadbench)", _terminate, _restart)
