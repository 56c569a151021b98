"""SQLite: a file, one connection per worker, inside the harness process.

Settings: ``SQLITE_FILE`` (default ``<runs>/db/loadbench.sqlite``), ``SQLITE_MODE`` (default, wal,
fast); presets (``--config-id``) put each configuration in its own file under
``LOADBENCH_DB_DIR`` (default ``db``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from loadbench import outputs
from loadbench.connectors.spec import (
    Choices,
    ConnectorSpec,
    ConnectorType,
    FaultTarget,
    Flag,
    LocalService,
    Preset,
    SuperuserCheck,
    one_of,
)
from loadbench.errors import ConfigError
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

KIND = "sqlite"
MODES = ("default", "wal", "fast")
DEFAULT_MODE = "wal"
DEFAULT_DB_DIR = "db"
DIALECT = SqlDialect("sqlite", placeholder="?")


def _build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec:
    found = settings.get("SQLITE_FILE")
    if found is None:
        file = runs_dir / "db" / "loadbench.sqlite"
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the database directory {file.parent}: {outputs.reason(exc)}") from None
        outputs.check_database_file(file, "SQLite database")
    else:
        file = Path(found[0]).expanduser()
        # A directory, a read-only place or an unwritable file: refused now, not after the load.
        outputs.check_database_file(file, f"SQLITE_FILE={found[0]!r} (from {found[1]})")
    mode = one_of(settings, "SQLITE_MODE", None, MODES, DEFAULT_MODE)
    # The file as an absolute path: a --cluster generator runs in its own working directory.
    return ConnectorSpec(name="sqlite", kind=KIND, options={"file": str(file.absolute()), "mode": mode},
                         target=str(file.resolve()), settings={"mode": mode}, dialect=DIALECT)


TYPES = (ConnectorType("sqlite", "SQLite file, one connection per worker", "SQLITE_FILE (optional)", _build),)
ENV_VARS = ("SQLITE_FILE", "SQLITE_MODE", "LOADBENCH_DB_DIR")
DIALECTS = (DIALECT,)
FLAGS: tuple[Flag, ...] = ()
SUPERUSER_CHECK: SuperuserCheck | None = None
NO_SERVER: str | None = "embedded: SQLite runs inside the harness process, so its cost is in the harness figures"
LOCAL_SERVICE: LocalService | None = None
FAULT_TARGET: FaultTarget | None = None  # no server to act on

_WAL = {"journal_mode": "WAL"}
_WAL_NORMAL = {**_WAL, "synchronous": "NORMAL"}
_CACHE_MMAP = {**_WAL_NORMAL, "cache_size": "-65536", "mmap_size": "268435456"}

# `mode = default` is SQLite as it comes: rollback journal, synchronous=FULL, no busy timeout,
# 2 MiB page cache, no mmap. The others change one thing each, on top of the one before.
PRESETS = (
    Preset("base-0", KIND, "out of the box: rollback journal, synchronous=FULL, no busy timeout",
           {"mode": "default"}),
    Preset("wal-1", KIND, "WAL journal (synchronous=FULL)", {"mode": "default", **_WAL}),
    Preset("wal-normal-2", KIND, "WAL + synchronous=NORMAL", {"mode": "default", **_WAL_NORMAL}),
    Preset("cache-mmap-3", KIND, "WAL + NORMAL + 64 MiB page cache + 256 MiB mmap",
           {"mode": "default", **_CACHE_MMAP}),
    Preset("busy-4", KIND, "WAL + NORMAL + cache/mmap + busy_timeout 5 s",
           {"mode": "default", **_CACHE_MMAP, "busy_timeout_ms": "5000"}),
)
BASE_PRESET: str | None = "base-0"


def db_dir(settings: Settings) -> Path:
    """Where the presets' files go: LOADBENCH_DB_DIR, default ``db`` (relative to the current
    directory)."""
    return settings.path("LOADBENCH_DB_DIR", DEFAULT_DB_DIR)


def apply_preset(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """``spec`` configured by ``preset``, in a file of its own (``<db dir>/<preset id>.db``), so that
    one configuration's journal mode never meets another's file."""
    directory = db_dir(settings)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the database directory {directory}: {exc.strerror}") from None
    file = outputs.check_database_file(directory / f"{preset.id}.db", f"LOADBENCH_DB_DIR={str(directory)!r}")
    return dataclasses.replace(spec, options={**spec.options, **preset.options, "file": str(file.absolute())},
                               target=str(file.resolve()), settings={"preset": preset.id, **preset.options},
                               configuration_id=preset.id)


def server_pids(spec: ConnectorSpec, runs_dir: Path) -> list[int]:
    """None: SQLite runs in the harness process."""
    return []


def endpoint(spec: ConnectorSpec) -> tuple[str, int] | None:
    """None: a file, nothing to reach."""
    return None
