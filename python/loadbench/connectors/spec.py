"""What every connector module declares, and the configured connector it builds.

A connector module (``loadbench/connectors/<system>.py``) is the one place that knows a system on
the Python side: its settings and environment variables, URL checks, presets, SQL dialects, flags,
how to find its server's processes and how to start a local one. It satisfies
:class:`ConnectorModule`; :mod:`loadbench.connectors` lists the modules and everything else reads
them through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Mapping, Protocol, Union

from loadbench.errors import ConfigError
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

# The values of the connector flags (--pg-mode, --inflight, ...) by their parameter name (``dest``);
# None: not given, so from the environment, else the connector's default.
Choices = Mapping[str, Any]


@dataclass(frozen=True)
class ConnectorSpec:
    """One configured connector, ready for the native core.

    ``options`` go to the C++ connector; ``target`` and ``settings`` describe it in reports with
    secrets removed; ``secrets`` are scrubbed from every message that mentions it.
    """

    name: str
    kind: str
    options: Mapping[str, str]
    target: str
    settings: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    sessions_per_connection: int = 1  # transfers in flight per connection (pipelining)
    dialect: SqlDialect | None = None  # for scenario files; None: it runs none (it speaks no SQL)
    configuration_id: str | None = None  # the preset it runs under (--config-id)
    # What wraps every use of it in an invocation (entered before its first check, left after its
    # last run, on failure, Ctrl-C and SIGTERM too): mysql's puts back the server settings its
    # presets change. None: nothing to do.
    run_scope: Callable[["ConnectorSpec"], ContextManager[None]] | None = None

    @property
    def label(self) -> str:
        """How tables and messages name it: the connector, and its preset when it has one."""
        return f"{self.name} {self.configuration_id}" if self.configuration_id else self.name

    def core_dict(self) -> dict[str, Any]:
        """The core's connector dict: ``{kind, options}``."""
        return {"kind": self.kind, "options": dict(self.options)}


Build = Callable[[Settings, Path, Choices], Union[ConnectorSpec, None]]


@dataclass(frozen=True)
class ConnectorType:
    """A connector the user can name in ``--connectors``; several may share a module (the
    PostgreSQL family: postgres, cockroachdb, supabase, planetscale)."""

    name: str
    summary: str
    needs: str  # what to set to configure it, for error messages
    build: Build  # None: not configured
    default: bool = True  # part of the default selection when configured


@dataclass(frozen=True)
class Flag:
    """A command-line flag of ``bench``, ``prep``, ``verify`` and ``matrix`` that shapes a
    connector: its value reaches the module's ``build`` in ``choices[dest]``."""

    option: str  # --pg-mode
    dest: str    # pg_mode
    help: str
    choices: tuple[str, ...] | None = None
    type: type = str


# Flags more than one system takes: the modules that read them list the same object in their FLAGS
# (listed once), and each checks the value against what its system offers, in one line.
ISOLATION_FLAG = Flag(
    "--isolation", "isolation", "Transaction isolation level, per session: read_uncommitted, read_committed, "
    "repeatable_read or serializable, as far as the system offers it (PostgreSQL protocol: read_committed "
    "or serializable, env PG_ISOLATION, default read_committed, serializable for cockroachdb; MariaDB/MySQL: "
    "all four, env MYSQL_ISOLATION, default repeatable_read, InnoDB's own).")
INFLIGHT_FLAG = Flag(
    "--inflight", "inflight", "Transfers in flight per connection, pipelined (PostgreSQL protocol, and Redis "
    "in script mode; env MAX_INFLIGHT_PER_WORKER; default 1).", type=int)


@dataclass(frozen=True)
class SuperuserCheck:
    """How to tell that a connector's role has rights over the server itself, beyond its tables:
    then a scenario file's SQL (its DDL runs in the check before load) is code with those rights."""

    query: str   # SQL answering 'on' or 'off'
    powers: str  # what such a role can do, for the warning: "run programs on the server (COPY ... TO PROGRAM)"


@dataclass(frozen=True)
class Preset:
    """A named configuration (``--config-id``) of the connectors of one kind."""

    id: str
    kind: str
    summary: str
    options: Mapping[str, str]


@dataclass(frozen=True)
class LocalService:
    """A server loadbench can start on this machine (``loadbench services up NAME``).

    Each callable takes the services directory (:meth:`Settings.services_dir`: per user), where
    the service keeps its state (:mod:`loadbench.connectors.local_servers`). ``up`` and
    ``running`` give its URL with any password masked: the full one is in the state and env files
    only, and the connectors named in ``connectors`` find it there when their URL is not set."""

    name: str
    up: Callable[[Path], str]                # starts it (or finds it running); where: '<url> (data <dir>)'
    down: Callable[[Path], bool]             # stops it; False when none was running
    running: Callable[[Path], Union[str, None]]  # its URL (password masked) when it is running
    connectors: tuple[str, ...] = ()         # the connectors it configures (the demo offers to start it for them)


@dataclass(frozen=True)
class ServerRestart:
    """How to restart a connector's server (``bench --fault restart`` and ``kill``): ``argv`` run
    as a child process (as the user ``uid``; None: as ourselves), done when it exits 0; ``after_kill``
    (or None) tidies what a SIGKILL leaves behind before it runs (PostgreSQL's postmaster.pid)."""

    argv: tuple[str, ...]
    uid: int | None = None
    after_kill: Callable[[], None] | None = None


@dataclass(frozen=True)
class ClientCommand:
    """A client program run as a child process of the run (``argv`` with ``env`` added to ours):
    exit 0 and its last line of output the answer, else the reason."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultTarget:
    """How ``bench --fault`` (:mod:`loadbench.run.faults`) acts on a connector's server, which
    loadbench finds with the module's ``server_pids`` (or ``--server-pid``).

    ``terminate(url, scratch)`` is the client command that ends every loadbench session
    server-side and prints how many as its last line; it runs at once as a child of the run (no
    Python to start: it lands within milliseconds of the injection), and may keep files holding a
    password in ``scratch`` (a directory only we may read, deleted after the run).
    ``restart(roots, url)`` is the default restart command of the server whose root processes are
    ``roots`` (``--server-restart`` replaces it); ConfigError (one line, before any load) when
    loadbench cannot make one. ``kill`` and ``freeze`` signal the roots and every process below them."""

    system: str                                   # "MariaDB", in messages
    sessions: str                                 # how terminate finds loadbench's sessions
    terminate: Callable[[str, Path], ClientCommand]
    restart: Callable[[list[int], str], ServerRestart]


class ConnectorModule(Protocol):
    """What a connector module declares (module-level names)."""

    # Read-only (properties), so that a module's narrower tuple types satisfy them.
    @property
    def KIND(self) -> str: ...  # the core's kind (``_core.connector_kinds()``)
    @property
    def TYPES(self) -> tuple[ConnectorType, ...]: ...  # the connectors it provides, in the order listed
    @property
    def ENV_VARS(self) -> tuple[str, ...]: ...  # every environment variable it reads
    @property
    def DIALECTS(self) -> tuple[SqlDialect, ...]: ...  # SQL dialects of its connectors (none: no scenario files)
    @property
    def FLAGS(self) -> tuple[Flag, ...]: ...
    @property
    def PRESETS(self) -> tuple[Preset, ...]: ...
    @property
    def BASE_PRESET(self) -> str | None: ...  # the preset of the write test when none is named
    @property
    def SUPERUSER_CHECK(self) -> SuperuserCheck | None: ...  # whether the role has rights over the server itself
    @property
    def NO_SERVER(self) -> str | None: ...  # why it has no server process to sample (its cost is the harness's)
    @property
    def LOCAL_SERVICE(self) -> LocalService | None: ...
    @property
    def FAULT_TARGET(self) -> FaultTarget | None: ...  # how faults act on its server; None: it takes none but netloss

    def apply_preset(self, preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec: ...

    def server_pids(self, spec: ConnectorSpec, runs_dir: Path) -> list[int]: ...

    def endpoint(self, spec: ConnectorSpec) -> tuple[str, int] | None: ...


def one_of(settings: Settings, env: str, flag_value: str | None, allowed: tuple[str, ...], default: str,
           flag: str | None = None, spelling: Callable[[str], str] = str) -> str:
    """A setting that takes one of ``allowed``: the flag's value, else ``env``'s, else ``default``;
    ``spelling`` maps what the user wrote to the name it is checked as (``isolation_name``)."""
    if flag_value is not None:
        if spelling(flag_value) not in allowed:
            raise ConfigError(f"{flag} must be one of {', '.join(allowed)}, got {flag_value!r}")
        return spelling(flag_value)
    found = settings.get(env)
    if found is None:
        return default
    if spelling(found[0]) not in allowed:
        raise ConfigError(f"{env}={found[0]!r} (from {found[1]}) must be one of {', '.join(allowed)}")
    return spelling(found[0])


def isolation_name(written: str) -> str:
    """An isolation level as loadbench names it (``read_committed``) from any of the ways people
    write it: SQL's ``READ COMMITTED`` (SET TRANSACTION ISOLATION LEVEL), ``read-committed``, any case."""
    return "_".join(written.lower().replace("-", " ").replace("_", " ").split())
