"""Keynote-style JSON RPC application servers over HTTP (kind ``rpc``): ``POST <url>/rpc`` with
``{"name": ..., "args": {...}}``. One connector per server, each configured by its own URL
variable; ``loadbench rpc-server`` is one such server.
"""

from __future__ import annotations

from pathlib import Path

from loadbench.connectors.spec import Build, Choices, ConnectorSpec, ConnectorType, Flag, LocalService, Preset
from loadbench.connectors.urls import check_http_url, url_endpoint
from loadbench.secrets import redact, secrets_of
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

KIND = "rpc"

# Application servers speaking the rpc protocol, by the variable that configures each.
SERVERS = {
    "PG_RPC_URL": "postgres-rpc",
    "CRDB_RPC_URL": "cockroachdb-rpc",
    "SQLITE_RPC_URL": "sqlite-rpc",
    "PLANETSCALE_RPC_URL": "planetscale-rpc",
    "BUN_URL": "bun",
}


def _server(env: str) -> Build:
    """A server at ``env``'s URL."""

    def build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
        found = settings.get(env)
        if found is None:
            return None
        url, origin = found
        check_http_url(url, f"{env} (from {origin})")
        return ConnectorSpec(name=SERVERS[env], kind=KIND, options={"url": url}, target=redact(url),
                             settings={"protocol": "rpc", "env": env}, secrets=tuple(secrets_of(url)))

    return build


TYPES = tuple(ConnectorType(name, "JSON RPC application server over HTTP (keynote protocol)", env, _server(env))
              for env, name in SERVERS.items())
ENV_VARS = tuple(SERVERS)
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
