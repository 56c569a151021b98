"""Keynote-style JSON RPC application servers over HTTP (kind ``rpc``): ``POST <url>/rpc`` with
``{"name": ..., "args": {...}}``. One connector per server, each configured by its own URL
variable; ``loadbench rpc-server`` is one such server.
"""

from __future__ import annotations

from pathlib import Path

from loadbench.connectors.remote_service import (  # what every remote service connector declares alike
    BASE_PRESET as BASE_PRESET,
    DIALECTS as DIALECTS,
    FAULT_TARGET as FAULT_TARGET,
    FLAGS as FLAGS,
    LOCAL_SERVICE as LOCAL_SERVICE,
    NO_SERVER as NO_SERVER,
    PRESETS as PRESETS,
    SUPERUSER_CHECK as SUPERUSER_CHECK,
    apply_preset as apply_preset,
    endpoint as endpoint,
    server_pids as server_pids,
)
from loadbench.connectors.spec import Build, Choices, ConnectorSpec, ConnectorType
from loadbench.connectors.urls import check_http_url
from loadbench.secrets import redact, secrets_of
from loadbench.settings import Settings

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
