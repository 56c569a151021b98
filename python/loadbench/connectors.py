"""Which connectors exist, how each is configured, and how it is described in reports.

A connector is *configured* when what it needs is set (SQLite and null always are). The default
selection is every configured connector except ``null``, which measures the harness itself and
is only run when asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from loadbench.config import ConnectorSpec, Settings
from loadbench.errors import ConfigError

SQLITE_MODES = ("default", "wal", "fast")
DEFAULT_SQLITE_MODE = "wal"


@dataclass(frozen=True)
class ConnectorType:
    name: str
    summary: str
    needs: str  # what to set to configure it, for error messages
    build: Callable[[Settings, Path], ConnectorSpec | None]  # None: not configured
    default: bool = True  # part of the default selection when configured


def _sqlite(settings: Settings, runs_dir: Path) -> ConnectorSpec:
    found = settings.get("SQLITE_FILE")
    if found is None:
        file = runs_dir / "db" / "loadbench.sqlite"
        file.parent.mkdir(parents=True, exist_ok=True)
    else:
        file = Path(found[0]).expanduser()
        directory = file.parent
        if not directory.is_dir():
            raise ConfigError(f"SQLITE_FILE={found[0]!r} (from {found[1]}): directory {directory} does not exist")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ConfigError(f"SQLITE_FILE={found[0]!r} (from {found[1]}): directory {directory} is not writable")
    mode = settings.string("SQLITE_MODE", DEFAULT_SQLITE_MODE)
    if mode not in SQLITE_MODES:
        origin = settings.get("SQLITE_MODE")[1]  # type: ignore[index]
        raise ConfigError(f"SQLITE_MODE={mode!r} (from {origin}) must be one of {', '.join(SQLITE_MODES)}")
    return ConnectorSpec(
        name="sqlite",
        kind="sqlite",
        options={"file": str(file), "mode": mode},
        target=str(file.resolve()),
        settings={"mode": mode},
    )


def _null(settings: Settings, runs_dir: Path) -> ConnectorSpec:
    delay = settings.integer("NULL_DELAY_NS", 0, minimum=0)
    options = {"delay_ns": str(delay)} if delay else {}
    return ConnectorSpec(name="null", kind="null", options=options, target="none",
                         settings={"delay_ns": str(delay)})


CONNECTOR_TYPES: dict[str, ConnectorType] = {
    t.name: t
    for t in (
        ConnectorType("sqlite", "SQLite file, one connection per worker", "SQLITE_FILE (optional)", _sqlite),
        ConnectorType("null", "does nothing: measures the harness itself", "nothing", _null, default=False),
    )
}


def configured(settings: Settings, runs_dir: Path) -> dict[str, ConnectorSpec]:
    """Every connector whose configuration is present, by name."""
    specs = {}
    for name, kind in CONNECTOR_TYPES.items():
        spec = kind.build(settings, runs_dir)
        if spec is not None:
            specs[name] = spec
    return specs


def select(settings: Settings, runs_dir: Path, names: str | None) -> tuple[ConnectorSpec, ...]:
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
        spec = CONNECTOR_TYPES[name].build(settings, runs_dir)
        if spec is None:
            if names is None:
                continue
            raise ConfigError(f"connector {name!r} is not configured: set {CONNECTOR_TYPES[name].needs}")
        specs.append(spec)
    return tuple(specs)
