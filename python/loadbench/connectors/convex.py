"""Convex's HTTP API (kind ``convex``: the ``transfer:transfer`` mutation), contract-tested only.
Setting: ``CONVEX_URL``.
"""

from __future__ import annotations

from pathlib import Path

from loadbench.connectors.spec import Choices, ConnectorSpec, ConnectorType, Flag, LocalService, Preset
from loadbench.connectors.urls import check_http_url, url_endpoint
from loadbench.secrets import redact, secrets_of
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

KIND = "convex"


def _build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
    found = settings.get("CONVEX_URL")
    if found is None:
        return None
    check_http_url(found[0], f"CONVEX_URL (from {found[1]})")
    return ConnectorSpec(name="convex", kind=KIND, options={"url": found[0]}, target=redact(found[0]),
                         settings={"protocol": "convex-http", "mutation": "transfer:transfer"},
                         secrets=tuple(secrets_of(found[0])))


TYPES = (ConnectorType("convex", "Convex's HTTP API (mutation), contract-tested only", "CONVEX_URL", _build),)
ENV_VARS = ("CONVEX_URL",)
DIALECTS: tuple[SqlDialect, ...] = ()
FLAGS: tuple[Flag, ...] = ()
PRESETS: tuple[Preset, ...] = ()
BASE_PRESET: str | None = None
SUPERUSER_QUERY: str | None = None
NO_SERVER: str | None = None
LOCAL_SERVICE: LocalService | None = None


def apply_preset(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """Never called: it has no presets."""
    raise AssertionError(f"{KIND} has no presets")


def server_pids(spec: ConnectorSpec, runs_dir: Path) -> list[int]:
    """None known: its server may be anywhere (``--server-pid`` names it)."""
    return []


def endpoint(spec: ConnectorSpec) -> tuple[str, int] | None:
    """The host and port of its URL."""
    return url_endpoint(spec.options.get("url", ""))
