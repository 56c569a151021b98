"""Which connectors exist, how each is configured, and how it is described in reports.

A connector is *configured* when what it needs is set: SQLite and null always are; a PostgreSQL-
protocol connector when its URL is (``postgres`` also by a cluster that ``loadbench services up
postgres`` started). The default selection is every configured connector except ``null``, which
measures the harness itself and is only run when asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from loadbench import outputs
from loadbench import pg_conninfo
from loadbench.cli import services
from loadbench.run.config import ConnectorSpec, Settings
from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, secrets_of, userinfo_end

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
SQLITE_MODES = ("default", "wal", "fast")
DEFAULT_SQLITE_MODE = "wal"
PG_MODES = ("function", "statements")
ISOLATIONS = ("read_committed", "serializable")


@dataclass(frozen=True)
class Choices:
    """Flags that shape connectors (None: from the environment, else the connector's default)."""

    pg_mode: str | None = None
    isolation: str | None = None
    inflight: int | None = None


@dataclass(frozen=True)
class ConnectorType:
    name: str
    summary: str
    needs: str  # what to set to configure it, for error messages
    build: Callable[[Settings, Path, Choices], ConnectorSpec | None]  # None: not configured
    default: bool = True  # part of the default selection when configured


def _sqlite(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec:
    found = settings.get("SQLITE_FILE")
    if found is None:
        file = runs_dir / "db" / "loadbench.sqlite"
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the database directory {file.parent}: {outputs.reason(exc)}") from None
        outputs.check_database_file(file, "SQLite database")
    else:
        file = Path(found[0]).expanduser()
        # A directory, a read-only place or an unwritable file: refused now, not after the load.
        outputs.check_database_file(file, f"SQLITE_FILE={found[0]!r} (from {found[1]})")
    mode = _one_of(settings, "SQLITE_MODE", None, SQLITE_MODES, DEFAULT_SQLITE_MODE)
    return ConnectorSpec(name="sqlite", kind="sqlite", options={"file": str(file), "mode": mode},
                         target=str(file.resolve()), settings={"mode": mode}, dialect="sqlite")


def _null(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec:
    # Knobs that make the null connector a database of known behaviour, for testing the harness:
    # a fixed time per operation, and a freeze of NULL_STALL_MS starting NULL_STALL_AT_MS in.
    options = {
        "delay_ns": str(settings.integer("NULL_DELAY_NS", 0, minimum=0)),
        "stall_at_ms": str(settings.integer("NULL_STALL_AT_MS", -1, minimum=-1)),
        "stall_ms": str(settings.integer("NULL_STALL_MS", 0, minimum=0)),
    }
    return ConnectorSpec(name="null", kind="null", options=options, target="none", settings=dict(options),
                         dialect="null")


def _one_of(settings: Settings, env: str, flag_value: str | None, allowed: tuple[str, ...], default: str,
            flag: str | None = None) -> str:
    if flag_value is not None:
        if flag_value not in allowed:
            raise ConfigError(f"{flag} must be one of {', '.join(allowed)}, got {flag_value!r}")
        return flag_value
    found = settings.get(env)
    if found is None:
        return default
    if found[0] not in allowed:
        raise ConfigError(f"{env}={found[0]!r} (from {found[1]}) must be one of {', '.join(allowed)}")
    return found[0]


def check_pg_url(url: str, source: str) -> None:
    """A PostgreSQL connection string we can use, or a one-line ConfigError (that never shows a
    secret): a ``postgresql://`` (or ``postgres://``) URL, or libpq's keyword=value pairs
    (``host=... user=... password=... dbname=...``), read with libpq's own rules
    (:mod:`loadbench.pg_conninfo`). It must name a host (a directory for a Unix socket), every port
    must be a number in [1, 65535], and a URL must read the same by libpq and by the redaction rule
    (:mod:`loadbench.secrets`): an '@' or '/' written raw in a password, or an '@' in a path or query
    after ``user:`` or ``host:port``, must be percent-encoded."""
    remember(secrets_of(url))
    shown = redact(url)
    uri = pg_conninfo.is_uri(url)
    if not uri and _has_scheme(url):
        raise ConfigError(f"{source}: {shown} must start with postgresql:// or postgres://")
    if not uri and "=" not in url:  # it may be a password put in the wrong place: not shown
        raise ConfigError(f"{source} is neither a postgresql:// URL nor a keyword=value connection string "
                          "(host=... user=... password=... dbname=...)")
    what = "URL" if uri else "connection string"
    try:
        parsed = pg_conninfo.parse(url)
        libpq_at = parsed.userinfo_end if parsed.userinfo_end >= 0 else None
        if uri and userinfo_end(url) != libpq_at:  # e.g. a raw '@' or '/' in the password
            raise pg_conninfo.ConninfoError(
                "libpq would read it another way: write '@' and '/' in the user name or password, and '@' "
                "in the database name or a parameter, as %40 and %2F")
        pg_conninfo.check_after_secrets(parsed)
        ports = pg_conninfo.ports(parsed.options)
    except pg_conninfo.ConninfoError as exc:
        raise ConfigError(f"{source}: {shown} is not a valid {what}: {exc}") from None
    hosts = (parsed.options.get("hostaddr") or parsed.options.get("host") or "").split(",")
    if not any(hosts):
        raise ConfigError(f"{source}: {shown} names no host")
    if len(ports) > 1 and len(ports) != len(hosts):
        raise ConfigError(f"{source}: {shown} gives {len(ports)} ports for {len(hosts)} hosts")


def pg_endpoint(url: str) -> tuple[str, int] | None:
    """The first host and port libpq connects to for a PostgreSQL connection string (either form;
    a host starting with '/' is a Unix socket directory), or None when it does not parse."""
    try:
        return pg_conninfo.host_and_port(pg_conninfo.parse(url).options)
    except pg_conninfo.ConninfoError:
        return None


def _has_scheme(text: str) -> bool:
    return _SCHEME.match(text) is not None


def _pg_family(name: str, env: str, flavor: str) -> Callable[[Settings, Path, Choices], ConnectorSpec | None]:
    def build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
        found = settings.get(env)
        if found is None and name == "postgres":
            cluster = services.running_postgres(runs_dir)
            found = (cluster.url, "loadbench services") if cluster is not None else None
        if found is None:
            return None
        url, origin = found
        check_pg_url(url, f"{env} (from {origin})")
        cockroach = flavor == "cockroachdb"
        mode = _one_of(settings, "PG_MODE", choices.pg_mode, PG_MODES, "statements" if cockroach else "function",
                       "--pg-mode")
        isolation = _one_of(settings, "PG_ISOLATION", choices.isolation, ISOLATIONS,
                            "serializable" if cockroach else "read_committed", "--isolation")
        inflight = choices.inflight if choices.inflight is not None else settings.integer(
            "MAX_INFLIGHT_PER_WORKER", 1, minimum=1)
        if inflight < 1:
            raise ConfigError(f"--inflight must be >= 1, got {inflight}")
        if inflight > 1 and mode != "function":
            raise ConfigError(f"{name}: --inflight {inflight} (pipelining) needs --pg-mode function")
        options = {"url": url, "flavor": flavor, "mode": mode, "isolation": isolation, "inflight": str(inflight)}
        return ConnectorSpec(name=name, kind="postgres", options=options, target=redact(url),
                             settings={"flavor": flavor, "mode": mode, "isolation": isolation,
                                       "inflight": str(inflight)},
                             secrets=tuple(secrets_of(url)), sessions_per_connection=inflight, dialect=flavor)

    return build


def check_http_url(url: str, source: str, tls: bool = True) -> None:
    """An http:// (or, with ``tls``, https://) URL of a server, or a one-line ConfigError (that never
    shows a secret). User information is refused (keys go in their own settings), and so is any
    '@' that the redaction rule (:mod:`loadbench.secrets`) could read as ending one: write an '@'
    in a path or query as %40."""
    remember(secrets_of(url))
    shown = redact(url)
    scheme = url.partition("://")[0].lower() if _has_scheme(url) else ""
    if scheme == "https" and not tls:
        raise ConfigError(f"{source}: {shown}: TLS is not supported for this connector yet (plain http:// only)")
    if scheme not in (("http", "https") if tls else ("http",)):
        raise ConfigError(f"{source}: {shown} must start with {'http:// or https://' if tls else 'http://'}")
    if userinfo_end(url) is not None:
        raise ConfigError(f"{source}: {shown}: credentials in the URL are not supported (keys go in their own "
                          "setting; write an '@' in a path or query as %40)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its text may quote the URL: not shown
        raise ConfigError(f"{source}: {shown} is not a valid URL (its host or port)") from None
    if not parts.hostname:
        raise ConfigError(f"{source}: {shown} names no host")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{source}: {shown} has an invalid port")


def _rpc(env: str) -> Callable[[Settings, Path, Choices], ConnectorSpec | None]:
    """A keynote-style JSON RPC application server at ``env``'s URL (POST <url>/rpc)."""

    def build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
        found = settings.get(env)
        if found is None:
            return None
        url, origin = found
        check_http_url(url, f"{env} (from {origin})")
        name = RPC_SERVERS[env]
        return ConnectorSpec(name=name, kind="rpc", options={"url": url}, target=redact(url),
                             settings={"protocol": "rpc", "env": env}, secrets=tuple(secrets_of(url)))

    return build


def _supabase_rest(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
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
    return ConnectorSpec(name="supabase-rest", kind="supabase-rest",
                         options={"url": url[0], "anon_key": key[0], "db_url": db[0]},
                         target=redact(url[0]), settings={"protocol": "postgrest", "database": redact(db[0])},
                         secrets=(key[0], *secrets_of(url[0]), *secrets_of(db[0])))


def _convex(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
    found = settings.get("CONVEX_URL")
    if found is None:
        return None
    check_http_url(found[0], f"CONVEX_URL (from {found[1]})")
    return ConnectorSpec(name="convex", kind="convex", options={"url": found[0]}, target=redact(found[0]),
                         settings={"protocol": "convex-http", "mutation": "transfer:transfer"},
                         secrets=tuple(secrets_of(found[0])))


def _spacetimedb(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
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
    return ConnectorSpec(name="spacetimedb", kind="spacetimedb", options=options, target=redact(url[0]),
                         settings=info, secrets=secrets)


# Application servers speaking the rpc protocol, by the variable that configures each.
RPC_SERVERS = {
    "PG_RPC_URL": "postgres-rpc",
    "CRDB_RPC_URL": "cockroachdb-rpc",
    "SQLITE_RPC_URL": "sqlite-rpc",
    "PLANETSCALE_RPC_URL": "planetscale-rpc",
    "BUN_URL": "bun",
}

CONNECTOR_TYPES: dict[str, ConnectorType] = {
    t.name: t
    for t in (
        ConnectorType("sqlite", "SQLite file, one connection per worker", "SQLITE_FILE (optional)", _sqlite),
        ConnectorType("postgres", "PostgreSQL", "PG_URL (or run `loadbench services up postgres`)",
                      _pg_family("postgres", "PG_URL", "postgres")),
        ConnectorType("cockroachdb", "CockroachDB (PostgreSQL protocol, serializable, client retries)", "CRDB_URL",
                      _pg_family("cockroachdb", "CRDB_URL", "cockroachdb")),
        ConnectorType("supabase", "Supabase's PostgreSQL database", "SUPABASE_DB_URL",
                      _pg_family("supabase", "SUPABASE_DB_URL", "postgres")),
        ConnectorType("planetscale", "PlanetScale for PostgreSQL", "PLANETSCALE_PG_URL",
                      _pg_family("planetscale", "PLANETSCALE_PG_URL", "postgres")),
        *(ConnectorType(name, "JSON RPC application server over HTTP (keynote protocol)", env, _rpc(env))
          for env, name in RPC_SERVERS.items()),
        ConnectorType("supabase-rest", "Supabase's REST API (PostgREST rpc), contract-tested only",
                      "SUPABASE_URL and SUPABASE_ANON_KEY (and SUPABASE_DB_URL)", _supabase_rest),
        ConnectorType("convex", "Convex's HTTP API (mutation), contract-tested only", "CONVEX_URL", _convex),
        ConnectorType("spacetimedb", "SpacetimeDB's WebSocket protocol (transfer reducer), contract-tested only",
                      "STDB_URL and STDB_MODULE", _spacetimedb),
        ConnectorType("null", "does nothing: measures the harness itself", "nothing", _null, default=False),
    )
}


def configured(settings: Settings, runs_dir: Path, choices: Choices = Choices()) -> dict[str, ConnectorSpec]:
    """Every connector whose configuration is present, by name."""
    specs = {}
    for name, kind in CONNECTOR_TYPES.items():
        spec = kind.build(settings, runs_dir, choices)
        if spec is not None:
            specs[name] = spec
    return specs


def select(settings: Settings, runs_dir: Path, names: str | None,
           choices: Choices = Choices()) -> tuple[ConnectorSpec, ...]:
    """The connectors named in ``--connectors a,b`` (or the default selection), in that order."""
    if names is None:
        chosen = [n for n, t in CONNECTOR_TYPES.items() if t.default]
    else:
        chosen = [n.strip() for n in names.split(",") if n.strip()]
        if not chosen:
            raise ConfigError("--connectors is empty")
        unknown = [n for n in chosen if n not in CONNECTOR_TYPES]
        if unknown:
            raise ConfigError(f"unknown connector {unknown[0]!r} (known: {', '.join(CONNECTOR_TYPES)})")
        if len(set(chosen)) != len(chosen):
            raise ConfigError("--connectors names a connector twice")
    specs = []
    for name in chosen:
        spec = CONNECTOR_TYPES[name].build(settings, runs_dir, choices)
        if spec is None:
            if names is None:
                continue
            raise ConfigError(f"connector {name!r} is not configured: set {CONNECTOR_TYPES[name].needs}")
        specs.append(spec)
    return tuple(specs)
