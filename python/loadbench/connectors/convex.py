"""Convex's HTTP API (kind ``convex``: the ``transfer:transfer`` mutation), contract-tested only.
Setting: ``CONVEX_URL``.
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
from loadbench.secrets import redact, secrets_of
from loadbench.settings import Settings

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
