"""The PostgreSQL protocol family: postgres, cockroachdb, supabase and planetscale (kind
``postgres``, one libpq connection per worker, pipelined with ``--inflight``).

Settings: the URL of each (``PG_URL``, ``CRDB_URL``, ``SUPABASE_DB_URL``, ``PLANETSCALE_PG_URL``;
``postgres`` also by the cluster ``loadbench services up postgres`` started, found through the
per-user services directory), ``PG_MODE``,
``PG_ISOLATION``, ``MAX_INFLIGHT_PER_WORKER`` (flags ``--pg-mode``, ``--isolation``,
``--inflight`` win). A connection string is a URL or libpq's keyword=value pairs, read with libpq's
own rules (:mod:`loadbench.pg_conninfo`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from loadbench import pg_conninfo, processes
from loadbench.connectors import local_servers
from loadbench.connectors.postgres_cluster import PostgresCluster
from loadbench.connectors.spec import (
    INFLIGHT_FLAG,
    ISOLATION_FLAG,
    Build,
    Choices,
    ClientCommand,
    ConnectorSpec,
    ConnectorType,
    FaultTarget,
    Flag,
    LocalService,
    Preset,
    ServerRestart,
    SuperuserCheck,
    isolation_name,
    one_of,
)
from loadbench.connectors.urls import has_scheme
from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, secrets_of, userinfo_end
from loadbench.settings import Settings
from loadbench.sql_dialect import SqlDialect

KIND = "postgres"
MODES = ("function", "statements")
ISOLATIONS = ("read_committed", "serializable")
POSTGRES = SqlDialect("postgres", placeholder="$")
COCKROACHDB = SqlDialect("cockroachdb", placeholder="$", parent="postgres")
SERVICE = "postgres"


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
    if not uri and has_scheme(url):
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


def _family(name: str, env: str, dialect: SqlDialect) -> Build:
    def build(settings: Settings, runs_dir: Path, choices: Choices) -> ConnectorSpec | None:
        found = settings.get(env)
        if found is None and name == "postgres":
            found = local_servers.running_setting(settings, SERVICE, running_url)
        if found is None:
            return None
        url, origin = found
        check_pg_url(url, f"{env} (from {origin})")
        serializable = dialect is COCKROACHDB  # client retries of serialization failures are its way
        mode = one_of(settings, "PG_MODE", choices.get("pg_mode"), MODES,
                      "statements" if serializable else "function", "--pg-mode")
        isolation = one_of(settings, "PG_ISOLATION", choices.get("isolation"), ISOLATIONS,
                           "serializable" if serializable else "read_committed", f"{name}: --isolation",
                           isolation_name)
        given = choices.get("inflight")
        inflight = given if given is not None else settings.integer("MAX_INFLIGHT_PER_WORKER", 1, minimum=1)
        if inflight < 1:
            raise ConfigError(f"--inflight must be >= 1, got {inflight}")
        if inflight > 1 and mode != "function":
            raise ConfigError(f"{name}: --inflight {inflight} (pipelining) needs --pg-mode function")
        flavor = dialect.name
        options = {"url": url, "flavor": flavor, "mode": mode, "isolation": isolation, "inflight": str(inflight)}
        return ConnectorSpec(name=name, kind=KIND, options=options, target=redact(url),
                             settings={"flavor": flavor, "mode": mode, "isolation": isolation,
                                       "inflight": str(inflight)},
                             secrets=tuple(secrets_of(url)), sessions_per_connection=inflight, dialect=dialect)

    return build


TYPES = (
    ConnectorType("postgres", "PostgreSQL", "PG_URL (or run `loadbench services up postgres`)",
                  _family("postgres", "PG_URL", POSTGRES)),
    ConnectorType("cockroachdb", "CockroachDB (PostgreSQL protocol, serializable, client retries)", "CRDB_URL",
                  _family("cockroachdb", "CRDB_URL", COCKROACHDB)),
    ConnectorType("supabase", "Supabase's PostgreSQL database", "SUPABASE_DB_URL",
                  _family("supabase", "SUPABASE_DB_URL", POSTGRES)),
    ConnectorType("planetscale", "PlanetScale for PostgreSQL", "PLANETSCALE_PG_URL",
                  _family("planetscale", "PLANETSCALE_PG_URL", POSTGRES)),
)
ENV_VARS = ("PG_URL", "CRDB_URL", "SUPABASE_DB_URL", "PLANETSCALE_PG_URL", "PG_MODE", "PG_ISOLATION",
            "MAX_INFLIGHT_PER_WORKER")
DIALECTS = (POSTGRES, COCKROACHDB)
FLAGS = (
    Flag("--pg-mode", "pg_mode", "PostgreSQL-protocol transfer: one function call, or BEGIN/UPDATE/UPDATE/COMMIT "
         "(env PG_MODE; default function, statements for cockroachdb).", choices=MODES),
    ISOLATION_FLAG,
    INFLIGHT_FLAG,
)
# A superuser can run programs on the server (COPY ... TO PROGRAM): a scenario file's DDL is code.
SUPERUSER_CHECK: SuperuserCheck | None = SuperuserCheck("SELECT current_setting('is_superuser')",
                                                        "run programs on the server (COPY ... TO PROGRAM)")
NO_SERVER: str | None = None

PRESETS = (
    Preset("pg-base-0", KIND, "the server's own settings (synchronous_commit=on)", {"session_settings": ""}),
    Preset("pg-async-commit-1", KIND, "synchronous_commit=off: commits return before the WAL is flushed",
           {"session_settings": "synchronous_commit=off"}),
    Preset("pg-local-commit-2", KIND, "synchronous_commit=local: no wait for standbys",
           {"session_settings": "synchronous_commit=local"}),
    Preset("pg-group-commit-3", KIND, "commit_delay=200 us, commit_siblings=2: group commit "
           "(needs a superuser)", {"session_settings": "commit_delay=200;commit_siblings=2"}),
)
BASE_PRESET: str | None = "pg-base-0"


def apply_preset(preset: Preset, spec: ConnectorSpec, settings: Settings) -> ConnectorSpec:
    """``spec`` with the preset's session settings (sent at connect)."""
    described = {**spec.settings, "preset": preset.id, **{k: v for k, v in preset.options.items() if v}}
    return dataclasses.replace(spec, options={**spec.options, **preset.options}, settings=described,
                               configuration_id=preset.id)


# --- the local cluster (`loadbench services up postgres`) ---------------------------------------

def running_cluster(services_dir: Path) -> PostgresCluster | None:
    """The cluster ``services up postgres`` started (state in the per-user services directory), if
    it is still running."""
    state = local_servers.read_state(services_dir, SERVICE)
    try:
        assert state is not None
        cluster = PostgresCluster(Path(state["data_dir"]), int(state["port"]), state.get("user"))
    except (AssertionError, ValueError, KeyError, TypeError):
        return None
    return cluster if cluster.is_running() else None


def running_url(services_dir: Path) -> str | None:
    """The URL of the cluster ``services up postgres`` started (trust authentication: it holds no
    password), or None when it is not running."""
    cluster = running_cluster(services_dir)
    return cluster.url if cluster is not None else None


def _up(services_dir: Path) -> str:
    existing = running_cluster(services_dir)
    if existing is not None:
        return f"{existing.url} (data {existing.data_dir})"
    local_servers.check_services_dir(services_dir)
    local_servers.clear_state(services_dir, SERVICE)  # a cluster that is gone
    cluster = PostgresCluster.create(services_dir)
    try:
        cluster.start()
        local_servers.write_state(services_dir, SERVICE,
                                  {"data_dir": str(cluster.data_dir), "port": cluster.port, "user": cluster.user},
                                  {"PG_URL": cluster.url})
    except BaseException:
        cluster.destroy()
        local_servers.clear_state(services_dir, SERVICE)
        raise
    return f"{cluster.url} (data {cluster.data_dir})"


def _down(services_dir: Path) -> bool:
    cluster = running_cluster(services_dir)
    if cluster is not None:
        cluster.destroy()
    local_servers.clear_state(services_dir, SERVICE)
    return cluster is not None


def adopt_legacy_state(legacy_dir: Path, services_dir: Path) -> bool:
    """Moves the state of a cluster that loadbench recorded in ``<runs>/services/postgres.json``
    before services state was per user into ``services_dir``, when that has none and the cluster
    still runs (a relative data directory made absolute: it was relative to where the command ran);
    a record of a cluster that is gone is left alone. True when moved."""
    old = local_servers.read_state(legacy_dir, SERVICE)
    if old is None or local_servers.read_state(services_dir, SERVICE) is not None:
        return False
    try:
        cluster = PostgresCluster(Path(old["data_dir"]).absolute(), int(old["port"]), old.get("user"))
    except (KeyError, TypeError, ValueError):
        return False
    if not cluster.is_running():
        return False
    local_servers.write_state(services_dir, SERVICE,
                              {"data_dir": str(cluster.data_dir), "port": cluster.port, "user": cluster.user},
                              {"PG_URL": cluster.url})
    local_servers.state_file(legacy_dir, SERVICE).unlink(missing_ok=True)
    return True


LOCAL_SERVICE: LocalService | None = LocalService(SERVICE, _up, _down, running_url, connectors=("postgres",))


# --- its server's processes, for resource sampling ----------------------------------------------

def postmaster_pid(data_dir: str | Path) -> list[int]:
    """The PostgreSQL postmaster of a data directory (first line of its ``postmaster.pid``), as a
    root for resource sampling: its backends are its children. ``[]`` when it is not running."""
    try:
        first = (Path(data_dir) / "postmaster.pid").read_text(encoding="ascii").split("\n", 1)[0]
        pid = int(first)
    except (OSError, ValueError):
        return []
    return [pid] if processes.alive(pid) else []


def server_pids(spec: ConnectorSpec, runs_dir: Path) -> list[int]:
    """PostgreSQL's postmaster (its backends are its children): whatever listens on the connection
    string's port (either libpq form) when it points at this machine, by TCP or by a Unix socket
    directory (the cluster `services up` started among them)."""
    found = pg_endpoint(spec.options.get("url", ""))
    if found is None:
        return []
    host, port = found
    if host.startswith("/"):
        return processes.listening_unix_pid(str(Path(host) / f".s.PGSQL.{port}"))
    return processes.listening_tcp_pid(port) if host in ("localhost", "127.0.0.1", "::1") else []


def endpoint(spec: ConnectorSpec) -> tuple[str, int] | None:
    """The host and port to reach (None for a Unix socket, or a string the run will refuse)."""
    found = pg_endpoint(spec.options["url"])
    if found is None or not found[0] or found[0].startswith("/"):
        return None
    return found


# --- faults (bench --fault): how they act on a PostgreSQL server ---------------------------------

def _terminate(url: str, scratch: Path) -> ClientCommand:
    """``pg_terminate_backend`` of every session whose ``application_name`` is ``loadbench`` (the
    C++ connector sets it) but this one, through ``psql``. The connection string (it may hold a
    password) goes to psql in a service file only we may read, never on a command line."""
    psql = shutil.which("psql")
    if psql is None:
        raise RuntimeError("psql is not installed (Debian: apt-get install postgresql-client)")
    service = scratch / "pg_service.conf"
    fd = os.open(service, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("[loadbench]\n" + "".join(f"{k}={v}\n" for k, v in pg_conninfo.parse(url).options.items()))
    return ClientCommand(
        (psql, "-X", "-Atq", "-v", "ON_ERROR_STOP=1",
         "-c", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
               "WHERE application_name = 'loadbench' AND pid <> pg_backend_pid()"),
        {"PGSERVICEFILE": str(service), "PGSERVICE": "loadbench", "PGCONNECT_TIMEOUT": "5"})


def _restart(roots: list[int], url: str) -> ServerRestart:
    """``pg_ctl -D DATA -m fast -w -t 60 restart``, with ``pg_ctl`` beside the postmaster's binary
    and ``DATA`` its working directory, as the data directory's owner (pg_ctl restart reuses the
    server's original options, ``postmaster.opts``); after a kill, a stale ``postmaster.pid`` is
    removed first."""
    pid = roots[0]
    try:
        exe = Path(os.readlink(f"/proc/{pid}/exe"))
        data = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError as exc:
        raise ConfigError(f"--fault: cannot read the server process {pid} ({exc.strerror}); "
                          "give --server-restart 'CMD'") from None
    pg_ctl = exe.parent / "pg_ctl"
    if exe.name not in ("postgres", "postmaster") or not pg_ctl.is_file() or not (data / "PG_VERSION").is_file():
        raise ConfigError(f"--fault: process {pid} is not a PostgreSQL postmaster loadbench can restart; "
                          "give --server-restart 'CMD'")
    owner = data.stat().st_uid
    argv = (str(pg_ctl), "-D", str(data), "-l", str(data / "loadbench-restart.log"), "-m", "fast", "-w", "-t", "60",
            "restart")
    return ServerRestart(argv, owner if os.geteuid() == 0 and owner != os.geteuid() else None,
                         lambda: clear_stale_pid_file(data))


def clear_stale_pid_file(data_dir: Path) -> None:
    """After a kill: a postmaster.pid naming a dead process (or a zombie no one has reaped yet,
    which pg_ctl would take for a live server) is removed, so pg_ctl restart starts the server
    with its recorded options (postmaster.opts) instead of waiting for it to stop."""
    lock = data_dir / "postmaster.pid"
    try:
        # Lines: PID, data directory, start time, port, first socket directory, ...
        fields = lock.read_text(encoding="ascii").split("\n")
        pid = int(fields[0])
    except (OSError, ValueError):
        return
    if processes.alive(pid):
        return
    if len(fields) > 4 and fields[3].strip().isdigit() and fields[4].strip():
        # The Unix socket's lock file names the dead postmaster too, and would stop the new one.
        _unlink_if_names(Path(fields[4].strip()) / f".s.PGSQL.{fields[3].strip()}.lock", pid)
    _unlink_if_names(lock, pid)


def _unlink_if_names(lock: Path, pid: int) -> None:
    try:
        if int(lock.read_text(encoding="ascii").split("\n", 1)[0]) == pid:
            lock.unlink()
    except (OSError, ValueError):
        pass


FAULT_TARGET: FaultTarget | None = FaultTarget(
    "PostgreSQL", "pg_terminate_backend of every session whose application_name is loadbench",
    _terminate, _restart)
