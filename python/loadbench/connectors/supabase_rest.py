"""Supabase's REST API (kind ``supabase-rest``: PostgREST's rpc endpoint), contract-tested only.

Settings: ``SUPABASE_URL`` and ``SUPABASE_ANON_KEY``, and ``SUPABASE_DB_URL`` (prep creates the
transfer function and verify reads the accounts through a PostgreSQL connection).
"""

from __future__ import annotations

from pathlib import Path

from loadbench.connectors.postgres import check_pg_url
from loadbench.connectors.remote_service import (  # what every remote service connector declares alike
    BASE_PRESET as BASE_PRESET,
    DIALECTS as DIALECTS,
    FLAGS as FLAGS,
    LOCAL_SERVICE as LOCAL_SERVICE,
    NO_SERVER as NO_SERVER,
    PRESETS as PRESETS,
    SUPERUSER_QUERY as SUPERUSER_QUERY,
    apply_preset as apply_preset,
    endpoint as endpoint,
    server_pids as server_pids,
)
from loadbench.connectors.spec import Choices, ConnectorSpec, ConnectorType
from loadbench.connectors.urls import check_http_url
from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, secrets_of
from loadbench.settings import Settings

KIND = "supabase-rest"


def _build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
    url, key = settings.get("SUPABASE_URL"), settings.get("SUPABASE_ANON_KEY")
    if url is None or key is None:
        return None
    remember([key[0]])
    check_http_url(url[0], f"SUPABASE_URL (from {url[1]})")
    db = settings.get("SUPABASE_DB_URL")
    if db is None:
        raise ConfigError("supabase-rest: set SUPABASE_DB_URL too (prep creates the transfer function and verify "
                          "reads the accounts through it)")
    check_pg_url(db[0], f"SUPABASE_DB_URL (from {db[1]})")
    return ConnectorSpec(name="supabase-rest", kind=KIND,
                         options={"url": url[0], "anon_key": key[0], "db_url": db[0]},
                         target=redact(url[0]), settings={"protocol": "postgrest", "database": redact(db[0])},
                         secrets=(key[0], *secrets_of(url[0]), *secrets_of(db[0])))


TYPES = (ConnectorType("supabase-rest", "Supabase's REST API (PostgREST rpc), contract-tested only",
                       "SUPABASE_URL and SUPABASE_ANON_KEY (and SUPABASE_DB_URL)", _build),)
ENV_VARS = ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_DB_URL")
