"""Supabase's REST API (kind ``supabase-rest``: PostgREST's rpc endpoint), contract-tested only.

Settings: ``SUPABASE_URL`` and ``SUPABASE_ANON_KEY``, and ``SUPABASE_DB_URL`` (prep creates the
transfer function and verify reads the accounts through a PostgreSQL connection).
"""

from __future__ import annotations

from pathlib import Path

from loadbench.connectors.postgres import check_pg_url
from loadbench.connectors.spec import Choices, ConnectorSpec, ConnectorType, Flag, LocalService, Preset
from loadbench.connectors.urls import check_http_url, url_endpoint
from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, secrets_of
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

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
