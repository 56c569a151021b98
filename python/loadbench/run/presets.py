"""Configuration presets: named database configurations to compare (``--config-id``).

A preset changes how a connector talks to its database, nothing else: for SQLite the file and its
pragmas (each preset has a file of its own, ``<db dir>/<id>.db``, so one preset's journal mode
never leaks into another's), for PostgreSQL-protocol connectors session settings run on every
connection. The number in an id only orders them; ``base-0`` is always the out-of-the-box one.
Each connector module declares its presets (``PRESETS``, ``BASE_PRESET``) and how one applies;
this module chooses among them.
"""

from __future__ import annotations

from loadbench import connectors
from loadbench.connectors import ConnectorSpec, Preset
from loadbench.errors import ConfigError
from loadbench.settings import Settings


def _has_presets(spec: ConnectorSpec) -> bool:
    return bool(connectors.module_of(spec.kind).PRESETS)


def select(ids: str | None, specs: tuple[ConnectorSpec, ...], settings: Settings,
           base_by_default: bool) -> tuple[ConnectorSpec, ...]:
    """The connector specs to run: each of ``specs`` under each preset named in ``ids`` that fits
    its kind (``all``: every one that fits); a connector of a kind that has no presets (null) runs
    as configured. Without ``ids``: ``specs`` as they are, or under their kind's base preset when
    ``base_by_default``."""
    known = connectors.presets()
    if ids is None:
        if not base_by_default:
            return specs
        return tuple(apply(known[base], s, settings) if (base := connectors.module_of(s.kind).BASE_PRESET) else s
                     for s in specs)
    if ids.strip() == "all":
        chosen = [p for p in known.values() if any(s.kind == p.kind for s in specs)]
    else:
        names = [n.strip() for n in ids.split(",") if n.strip()]
        if not names:
            raise ConfigError("--config-id is empty")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"unknown configuration preset {unknown[0]!r} (known: {', '.join(known)}, or all)")
        if len(set(names)) != len(names):
            raise ConfigError("--config-id names a preset twice")
        chosen = [known[n] for n in names]
        for p in chosen:
            if not any(s.kind == p.kind for s in specs):
                raise ConfigError(f"preset {p.id!r} configures a {p.kind} connector, and none is selected "
                                  f"(--connectors)")
    unconfigurable = tuple(s for s in specs if not _has_presets(s))
    return tuple(apply(p, s, settings) for p in chosen for s in specs if s.kind == p.kind) + unconfigurable


def apply(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """``spec`` configured by ``preset`` (by its connector module's rule)."""
    return connectors.module_of(spec.kind).apply_preset(preset, spec, settings)
