"""Supabase's REST API (kind ``supabase-rest``: PostgREST's rpc endpoint), verified against a real
PostgREST 12.0.2 (Supabase's gateway in front of it, which checks the ``apikey`` header, by a
contract fake only).

Settings: the REST API's URL, ``SUPABASE_ANON_KEY`` (the JWT sent as ``apikey`` and as
``Authorization: Bearer``), and ``SUPABASE_DB_URL`` (prep creates the transfer function and verify
reads the accounts through a PostgreSQL connection). The URL is either

- ``SUPABASE_URL``: the project's URL (``https://<ref>.supabase.co``); ``/rest/v1`` is appended
  unless its path already ends in ``/rest/v1``; or
- ``SUPABASE_REST_URL``: the REST root as it is (PostgREST's own root ``http://127.0.0.1:3000``,
  or a gateway's ``https://<ref>.supabase.co/rest/v1``); it wins over ``SUPABASE_URL``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from loadbench.connectors import postgrest_server
from loadbench.connectors.postgres import check_pg_url
from loadbench.connectors.remote_service import (  # what every remote service connector declares alike
    BASE_PRESET as BASE_PRESET,
    DIALECTS as DIALECTS,
    FAULT_TARGET as FAULT_TARGET,
    FLAGS as FLAGS,
    NO_SERVER as NO_SERVER,
    PRESETS as PRESETS,
    SUPERUSER_CHECK as SUPERUSER_CHECK,
    apply_preset as apply_preset,
    endpoint as endpoint,
    server_pids as server_pids,
)
from loadbench.connectors.spec import Choices, ConnectorSpec, ConnectorType, LocalService
from loadbench.connectors.urls import check_http_url
from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, secrets_of
from loadbench.settings import Settings

KIND = "supabase-rest"
GATEWAY_PREFIX = "/rest/v1"  # where Supabase's gateway serves PostgREST


def rest_root(project_url: str) -> str:
    """The REST root for a project URL (``SUPABASE_URL``): ``GATEWAY_PREFIX`` appended to its path
    (before any query) unless the path already ends in it; a trailing ``/`` is dropped first."""
    parts = urlsplit(project_url)
    path = parts.path.rstrip("/")
    if not path.endswith(GATEWAY_PREFIX):
        path += GATEWAY_PREFIX
    return urlunsplit(parts._replace(path=path))


def _build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
    settings = postgrest_server.with_running_service(settings)  # `services up postgrest`, when nothing is set
    rest, project, key = settings.get("SUPABASE_REST_URL"), settings.get("SUPABASE_URL"), settings.get("SUPABASE_ANON_KEY")
    if (rest is None and project is None) or key is None:
        return None
    remember([key[0]])
    if rest is not None:
        check_http_url(rest[0], f"SUPABASE_REST_URL (from {rest[1]})")
        url = rest[0]
    else:
        assert project is not None
        check_http_url(project[0], f"SUPABASE_URL (from {project[1]})")
        url = rest_root(project[0])
    db = settings.get("SUPABASE_DB_URL")
    if db is None:
        raise ConfigError("supabase-rest: set SUPABASE_DB_URL too (prep creates the transfer function and verify "
                          "reads the accounts through it)")
    check_pg_url(db[0], f"SUPABASE_DB_URL (from {db[1]})")
    return ConnectorSpec(name="supabase-rest", kind=KIND,
                         options={"url": url, "anon_key": key[0], "db_url": db[0]},
                         target=redact(url), settings={"protocol": "postgrest", "database": redact(db[0])},
                         secrets=(key[0], *secrets_of(url), *secrets_of(db[0])))


LOCAL_SERVICE: LocalService | None = postgrest_server.LOCAL_SERVICE  # PostgREST on `services up postgres`

TYPES = (ConnectorType("supabase-rest", "Supabase's REST API (PostgREST rpc), verified on PostgREST 12.0.2",
                       "SUPABASE_URL or SUPABASE_REST_URL, and SUPABASE_ANON_KEY (and SUPABASE_DB_URL), or run "
                       "`loadbench services up postgrest`", _build),)
ENV_VARS = ("SUPABASE_URL", "SUPABASE_REST_URL", "SUPABASE_ANON_KEY", "SUPABASE_DB_URL")
