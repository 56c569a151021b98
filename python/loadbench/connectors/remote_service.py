"""What a connector to a remote service over HTTP or WebSocket declares alike (rpc, Convex,
Supabase REST, SpacetimeDB): no SQL dialect, flags or presets, no local server, no server process
loadbench can find (``--server-pid`` names one), and the host and port of its ``url`` option as
its endpoint. Such a module re-exports these names as its own (see
:class:`~loadbench.connectors.spec.ConnectorModule`)."""

from __future__ import annotations

from pathlib import Path

from loadbench.connectors.spec import ConnectorSpec, FaultTarget, Flag, LocalService, Preset, SuperuserCheck
from loadbench.connectors.urls import url_endpoint
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

DIALECTS: tuple[SqlDialect, ...] = ()
FLAGS: tuple[Flag, ...] = ()
PRESETS: tuple[Preset, ...] = ()
BASE_PRESET: str | None = None
SUPERUSER_CHECK: SuperuserCheck | None = None
NO_SERVER: str | None = None
LOCAL_SERVICE: LocalService | None = None
# Its server is not loadbench's to end sessions on, restart or stop (netloss still applies: its port is known).
FAULT_TARGET: FaultTarget | None = None


def apply_preset(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """Never called: a remote service connector has no presets."""
    raise AssertionError(f"{spec.kind} has no presets")


def server_pids(spec: ConnectorSpec, runs_dir: Path) -> list[int]:
    """None known: its server may be anywhere (``--server-pid`` names it)."""
    return []


def endpoint(spec: ConnectorSpec) -> tuple[str, int] | None:
    """The host and port of its URL."""
    return url_endpoint(spec.options.get("url", ""))
