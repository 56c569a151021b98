"""The connectors: one module per system, and this registry, which only iterates over them.

Each module in this package declares everything the Python side knows about its system (see
:class:`~loadbench.connectors.spec.ConnectorModule`): its connectors (``TYPES``), settings
(``ENV_VARS``), SQL dialects, flags, presets, how to find its server's processes and how to start
a local one. Adding a system is one module here and its line in :data:`MODULES`; nothing else in
the package names a connector (``tests/test_connectors.py`` checks it, and that the kinds equal the
core's).

A connector is *configured* when what it needs is set: SQLite and null always are; a
PostgreSQL-protocol connector when its URL is (``postgres`` also by a cluster that ``loadbench
services up postgres`` started). The default selection is every configured connector except
``null``, which measures the harness itself and is only run when asked for.

The local services (``loadbench services up NAME``) are the connector modules' ``LOCAL_SERVICE``
(each starts its system's server with a module of its own: ``postgres_cluster``,
``mariadb_server``, ``redis_server``, ``postgrest_server``); state is kept per user
(:meth:`Settings.services_dir`).
"""

from __future__ import annotations

from pathlib import Path

from loadbench.connectors import (
    convex,
    mysql,
    null,
    postgres,
    redis,
    rpc,
    spacetimedb,
    sqlite,
    supabase_rest,
)
from loadbench.connectors.spec import Choices, ConnectorModule, ConnectorSpec, ConnectorType, Flag, LocalService, Preset
from loadbench.errors import ConfigError
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

__all__ = ["MODULES", "KINDS", "CONNECTOR_TYPES", "Choices", "ConnectorModule", "ConnectorSpec", "ConnectorType",
           "Flag", "LocalService", "Preset", "configured", "select", "module_of", "flags", "presets",
           "sql_dialects", "local_services", "env_vars"]

# Every connector module, in the order connectors are listed (help, errors, the default selection).
MODULES: tuple[ConnectorModule, ...] = (sqlite, postgres, mysql, redis, rpc, supabase_rest, convex, spacetimedb, null)

KINDS: tuple[str, ...] = tuple(m.KIND for m in MODULES)

# Every connector by name (a dict, so that tests may add one).
CONNECTOR_TYPES: dict[str, ConnectorType] = {t.name: t for m in MODULES for t in m.TYPES}


def module_of(kind: str) -> ConnectorModule:
    """The module of a connector kind (``spec.kind``); KeyError for an unknown one."""
    for module in MODULES:
        if module.KIND == kind:
            return module
    raise KeyError(kind)


def flags() -> tuple[Flag, ...]:
    """Every module's flags, in module order; one that several modules share (``--isolation``)
    once."""
    return tuple({f.option: f for m in reversed(MODULES) for f in reversed(m.FLAGS)}.values())[::-1]


def presets() -> dict[str, Preset]:
    """Every configuration preset (``--config-id``) by id, in module order."""
    return {p.id: p for m in MODULES for p in m.PRESETS}


def sql_dialects() -> dict[str, SqlDialect]:
    """Every SQL dialect a connector speaks, by name, in module order."""
    return {d.name: d for m in MODULES for d in m.DIALECTS}


def local_services() -> dict[str, LocalService]:
    """The servers loadbench can start here (``loadbench services up NAME``), by name, in module
    order (a service several modules declare counts once)."""
    return {m.LOCAL_SERVICE.name: m.LOCAL_SERVICE for m in MODULES if m.LOCAL_SERVICE is not None}


def env_vars() -> tuple[str, ...]:
    """Every environment variable a connector reads."""
    return tuple(dict.fromkeys(v for m in MODULES for v in m.ENV_VARS))


def configured(settings: Settings, runs_dir: Path, choices: Choices | None = None) -> dict[str, ConnectorSpec]:
    """Every connector whose configuration is present, by name."""
    specs = {}
    for name, kind in CONNECTOR_TYPES.items():
        spec = kind.build(settings, runs_dir, choices or {})
        if spec is not None:
            specs[name] = spec
    return specs


def select(settings: Settings, runs_dir: Path, names: str | None,
           choices: Choices | None = None) -> tuple[ConnectorSpec, ...]:
    """The connectors named in ``--connectors a,b`` (or the default selection), in that order."""
    if names is None:
        chosen = [n for n, t in CONNECTOR_TYPES.items() if t.default]
    else:
        chosen = [n.strip() for n in names.split(",") if n.strip()]
        if not chosen:
            raise ConfigError("--connectors is empty")
        unknown = [n for n in chosen if n not in CONNECTOR_TYPES]
        if unknown:
            raise ConfigError(f"unknown connector {unknown[0]!r} (known: {', '.join(CONNECTOR_TYPES)})")
        if len(set(chosen)) != len(chosen):
            raise ConfigError("--connectors names a connector twice")
    specs = []
    for name in chosen:
        spec = CONNECTOR_TYPES[name].build(settings, runs_dir, choices or {})
        if spec is None:
            if names is None:
                continue
            raise ConfigError(f"connector {name!r} is not configured: set {CONNECTOR_TYPES[name].needs}")
        specs.append(spec)
    _check_flags_apply(specs, choices or {})
    return tuple(specs)


def _check_flags_apply(specs: list[ConnectorSpec], choices: Choices) -> None:
    """A connector flag given while no selected connector takes it is bad input: it would change
    nothing, and the report would not say so (``--inflight`` for MariaDB, ``--isolation`` for SQLite)."""
    if not specs:
        return
    for flag in flags():
        if choices.get(flag.dest) is None:
            continue
        takers = [m for m in MODULES if flag in m.FLAGS]
        if not any(module_of(spec.kind) in takers for spec in specs):
            names = [t.name for m in takers for t in m.TYPES]
            raise ConfigError(f"{flag.option} applies to {', '.join(names)}: none of the selected connectors "
                              f"({', '.join(spec.name for spec in specs)}) takes it")
