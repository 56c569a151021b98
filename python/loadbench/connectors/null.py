"""null: a connector that does nothing, to measure the harness itself. Never part of the default
selection.

Settings that make it a database of known behaviour, for testing the harness: ``NULL_DELAY_NS``
(a fixed time per operation), and a freeze of ``NULL_STALL_MS`` starting ``NULL_STALL_AT_MS`` in.
"""

from __future__ import annotations

from pathlib import Path

from loadbench.connectors.spec import Choices, ConnectorSpec, ConnectorType, FaultTarget, Flag, LocalService, Preset, SuperuserCheck
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

KIND = "null"
# It accepts scenario files and runs none of their SQL (placeholders as SQLite's, for the core).
DIALECT = SqlDialect("null", placeholder="?", runs_sql=False)


def _build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec:
    options = {
        "delay_ns": str(settings.integer("NULL_DELAY_NS", 0, minimum=0)),
        "stall_at_ms": str(settings.integer("NULL_STALL_AT_MS", -1, minimum=-1)),
        "stall_ms": str(settings.integer("NULL_STALL_MS", 0, minimum=0)),
    }
    return ConnectorSpec(name="null", kind=KIND, options=options, target="none", settings=dict(options),
                         dialect=DIALECT)


TYPES = (ConnectorType("null", "does nothing: measures the harness itself", "nothing", _build, default=False),)
ENV_VARS = ("NULL_DELAY_NS", "NULL_STALL_AT_MS", "NULL_STALL_MS")
DIALECTS = (DIALECT,)
FLAGS: tuple[Flag, ...] = ()
PRESETS: tuple[Preset, ...] = ()
BASE_PRESET: str | None = None
SUPERUSER_CHECK: SuperuserCheck | None = None
NO_SERVER: str | None = "no database: the null connector does no work"
LOCAL_SERVICE: LocalService | None = None
FAULT_TARGET: FaultTarget | None = None  # no server to act on


def apply_preset(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """Never called: it has no presets."""
    raise AssertionError("the null connector has no presets")


def server_pids(spec: ConnectorSpec, runs_dir: Path) -> list[int]:
    """None: there is no server."""
    return []


def endpoint(spec: ConnectorSpec) -> tuple[str, int] | None:
    """None: nothing to reach."""
    return None
