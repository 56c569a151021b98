"""Configuration presets: named database configurations to compare (``--config-id``).

A preset changes how a connector talks to its database, nothing else: for SQLite the file and its
pragmas (each preset has a file of its own, ``<db dir>/<id>.db``, so one preset's journal mode
never leaks into another's), for PostgreSQL-protocol connectors session settings run on every
connection. The number in an id only orders them; ``base-0`` is always the out-of-the-box one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from loadbench import outputs
from loadbench.run.config import ConnectorSpec, Settings
from loadbench.errors import ConfigError

DEFAULT_DB_DIR = "db"


@dataclass(frozen=True)
class Preset:
    id: str
    kind: str      # the connector kind it configures: sqlite | postgres
    summary: str
    options: Mapping[str, str]


_SQLITE_WAL = {"journal_mode": "WAL"}
_SQLITE_WAL_NORMAL = {**_SQLITE_WAL, "synchronous": "NORMAL"}
_SQLITE_CACHE_MMAP = {**_SQLITE_WAL_NORMAL, "cache_size": "-65536", "mmap_size": "268435456"}

PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        # `mode = default` is SQLite as it comes: rollback journal, synchronous=FULL, no busy timeout,
        # 2 MiB page cache, no mmap. The others change one thing each, on top of the one before.
        Preset("base-0", "sqlite", "out of the box: rollback journal, synchronous=FULL, no busy timeout",
               {"mode": "default"}),
        Preset("wal-1", "sqlite", "WAL journal (synchronous=FULL)", {"mode": "default", **_SQLITE_WAL}),
        Preset("wal-normal-2", "sqlite", "WAL + synchronous=NORMAL", {"mode": "default", **_SQLITE_WAL_NORMAL}),
        Preset("cache-mmap-3", "sqlite", "WAL + NORMAL + 64 MiB page cache + 256 MiB mmap",
               {"mode": "default", **_SQLITE_CACHE_MMAP}),
        Preset("busy-4", "sqlite", "WAL + NORMAL + cache/mmap + busy_timeout 5 s",
               {"mode": "default", **_SQLITE_CACHE_MMAP, "busy_timeout_ms": "5000"}),
        Preset("pg-base-0", "postgres", "the server's own settings (synchronous_commit=on)", {"session_settings": ""}),
        Preset("pg-async-commit-1", "postgres", "synchronous_commit=off: commits return before the WAL is flushed",
               {"session_settings": "synchronous_commit=off"}),
        Preset("pg-local-commit-2", "postgres", "synchronous_commit=local: no wait for standbys",
               {"session_settings": "synchronous_commit=local"}),
        Preset("pg-group-commit-3", "postgres", "commit_delay=200 us, commit_siblings=2: group commit "
               "(needs a superuser)", {"session_settings": "commit_delay=200;commit_siblings=2"}),
    )
}

BASE = {"sqlite": "base-0", "postgres": "pg-base-0"}


def db_dir(settings: Settings) -> Path:
    """Where the SQLite presets' files go: LOADBENCH_DB_DIR, default ``db`` (relative to the
    current directory)."""
    return Path(settings.string("LOADBENCH_DB_DIR", DEFAULT_DB_DIR) or DEFAULT_DB_DIR).expanduser()


def select(ids: str | None, specs: tuple[ConnectorSpec, ...], settings: Settings,
           base_by_default: bool) -> tuple[ConnectorSpec, ...]:
    """The connector specs to run: each of ``specs`` under each preset named in ``ids`` that fits
    its kind (``all``: every one that fits); a connector of a kind that has no presets (null) runs
    as configured. Without ``ids``: ``specs`` as they are, or under their kind's base preset when
    ``base_by_default``."""
    if ids is None:
        if not base_by_default:
            return specs
        return tuple(apply(PRESETS[BASE[s.kind]], s, settings) if s.kind in BASE else s for s in specs)
    if ids.strip() == "all":
        chosen = [p for p in PRESETS.values() if any(s.kind == p.kind for s in specs)]
    else:
        names = [n.strip() for n in ids.split(",") if n.strip()]
        if not names:
            raise ConfigError("--config-id is empty")
        unknown = [n for n in names if n not in PRESETS]
        if unknown:
            raise ConfigError(f"unknown configuration preset {unknown[0]!r} (known: {', '.join(PRESETS)}, or all)")
        if len(set(names)) != len(names):
            raise ConfigError("--config-id names a preset twice")
        chosen = [PRESETS[n] for n in names]
        for p in chosen:
            if not any(s.kind == p.kind for s in specs):
                raise ConfigError(f"preset {p.id!r} configures a {p.kind} connector, and none is selected "
                                  f"(--connectors)")
    unconfigurable = tuple(s for s in specs if s.kind not in BASE)
    return tuple(apply(p, s, settings) for p in chosen for s in specs if s.kind == p.kind) + unconfigurable


def apply(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """``spec`` configured by ``preset``."""
    options = {**spec.options, **preset.options}
    described = {**spec.settings, "preset": preset.id}
    target = spec.target
    if preset.kind == "sqlite":
        directory = db_dir(settings)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the database directory {directory}: {exc.strerror}") from None
        file = outputs.check_database_file(directory / f"{preset.id}.db", f"LOADBENCH_DB_DIR={str(directory)!r}")
        options["file"] = str(file)
        target = str(file.resolve())
        described = {"preset": preset.id, **{k: v for k, v in preset.options.items()}}
    else:
        described.update({k: v for k, v in preset.options.items() if v})
    return dataclasses.replace(spec, options=options, target=target, settings=described, configuration_id=preset.id)
