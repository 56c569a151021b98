"""SpacetimeDB's WebSocket protocol (kind ``spacetimedb``: the ``transfer`` reducer,
``v1.json.spacetimedb``), contract-tested only.

Settings: ``STDB_URL`` (ws:// or wss://), ``STDB_MODULE`` (the database the module was published
as), ``STDB_TOKEN``; with ``USE_SPACETIME_METRICS_ENDPOINT``, the server's committed-transaction
counter is read from ``STDB_METRICS_URL`` (default ``<url>/v1/metrics``).
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
from loadbench.connectors.spec import Choices, ConnectorSpec, ConnectorType
from loadbench.connectors.urls import check_http_url
from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, secrets_of
from loadbench.settings import Settings

KIND = "spacetimedb"


def _build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
    url, module = settings.get("STDB_URL"), settings.get("STDB_MODULE")
    if url is None:
        return None
    if module is None:
        raise ConfigError("spacetimedb: set STDB_MODULE too (the database the module was published as)")
    shown = url[0]
    for ws, http in (("ws://", "http://"), ("wss://", "https://")):
        if shown.startswith(ws):
            shown = http + shown[len(ws):]
    check_http_url(shown, f"STDB_URL (from {url[1]})")
    options = {"url": url[0], "module": module[0]}
    secrets: tuple[str, ...] = tuple(secrets_of(url[0]))
    token = settings.get("STDB_TOKEN")
    if token is not None:
        remember([token[0]])
        options["token"] = token[0]
        secrets += (token[0],)
    info = {"protocol": "v1.json.spacetimedb", "module": module[0]}
    if settings.boolean("USE_SPACETIME_METRICS_ENDPOINT", False):
        metrics = settings.string("STDB_METRICS_URL") or shown.rstrip("/") + "/v1/metrics"
        check_http_url(metrics, "STDB_METRICS_URL")
        options["metrics_url"] = metrics  # the URL read (server_counters); reports show it redacted
        info["metrics_url"] = redact(metrics)
        secrets += tuple(secrets_of(metrics))
    return ConnectorSpec(name="spacetimedb", kind=KIND, options=options, target=redact(url[0]),
                         settings=info, secrets=secrets)


TYPES = (ConnectorType("spacetimedb", "SpacetimeDB's WebSocket protocol (transfer reducer), contract-tested only",
                       "STDB_URL and STDB_MODULE", _build),)
ENV_VARS = ("STDB_URL", "STDB_MODULE", "STDB_TOKEN", "STDB_METRICS_URL", "USE_SPACETIME_METRICS_ENDPOINT")
