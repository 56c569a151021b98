"""``loadbench services``: per-user state, the real servers it starts (mariadbd, redis-server,
PostgREST, PostgreSQL), and the Docker Compose path on a stand-in ``docker``.

Every command runs with ``LOADBENCH_SERVICES_DIR`` in the test's own directory (the ``cli``
fixture), never the developer's ~/.local/state.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from loadbench import connectors
from loadbench.connectors import compose, local_servers, mariadb_server, postgrest_server, redis_server
from loadbench.settings import Settings
from tests.conftest import Cli
from tests.servers import POSTGREST_BIN


def state(cli: Cli, name: str) -> dict:
    return json.loads((cli.services / f"{name}.json").read_text())


def other_dir(cli: Cli, tmp_path: Path, name: str) -> Cli:
    """A Cli in another working directory that shares ``cli``'s services directory (the same user)."""
    other = Cli((tmp_path / name))
    other.cwd.mkdir()
    other.services = cli.services
    return other


def need(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None and not any(os.access(f"{d}/{program}", os.X_OK) for d in ("/usr/sbin", "/usr/bin")):
            pytest.skip(f"{program} is not installed")


def process_user(pid: int) -> str:
    return pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name


def gone(pid: int, started: int) -> bool:
    return not local_servers.alive(pid, started)


# --- per-user state ------------------------------------------------------------------------------

def test_services_dir_is_per_user_with_an_override():
    assert Settings({"HOME": "/h"}, {}, None).services_dir() == Path("~/.local/state/loadbench/services").expanduser()
    assert Settings({"XDG_STATE_HOME": "/state"}, {}, None).services_dir() == Path("/state/loadbench/services")
    assert Settings({"XDG_STATE_HOME": "relative"}, {}, None).services_dir() == \
        Path("~/.local/state/loadbench/services").expanduser()  # the XDG rule: a relative value is ignored
    assert Settings({"LOADBENCH_SERVICES_DIR": "/mine", "XDG_STATE_HOME": "/state"}, {}, None).services_dir() == Path("/mine")
    assert Settings({"LOADBENCH_SERVICES_DIR": " ", "XDG_STATE_HOME": "/state"}, {}, None).services_dir() == \
        Path("/state/loadbench/services")  # empty counts as unset


def test_a_cluster_started_in_one_directory_is_seen_and_stopped_from_another(cli, tmp_path):
    elsewhere = other_dir(cli, tmp_path, "b")
    up = cli("services", "up", "postgres")
    assert up.returncode == 0, up.stderr
    try:
        status = elsewhere("services", "status")
        assert "local postgres: running at postgresql://postgres@127.0.0.1:" in status.stdout
        assert "postgres: reachable" in status.stdout  # its connector finds it from there too
        assert not (cli.runs / "services").exists()  # nothing kept per working directory
    finally:
        down = elsewhere("services", "down", "postgres")
    assert down.returncode == 0 and down.stdout == "postgres: stopped\n"
    assert "local postgres: not running" in cli("services", "status").stdout
    assert not (cli.services / "postgres.json").exists()


def test_state_an_older_loadbench_kept_in_the_runs_directory_is_moved(cli, tmp_path):
    assert cli("services", "up", "postgres").returncode == 0
    legacy = cli.runs / "services"
    legacy.mkdir(parents=True)
    shutil.move(cli.services / "postgres.json", legacy / "postgres.json")
    try:
        status = cli("services", "status")
        assert "local postgres: running at postgresql://" in status.stdout
        assert status.stderr == f"postgres: moved its state from runs/services to {cli.services} (services state is per user now)\n"
        assert not (legacy / "postgres.json").exists()
    finally:
        assert cli("services", "down", "postgres").stdout == "postgres: stopped\n"


def test_the_runs_dir_flag_is_refused_in_one_line(cli):
    result = cli("services", "status", "--runs-dir", "runs")
    assert result.returncode == 2
    assert result.stderr == ("loadbench: error: services: --runs-dir is gone: services state is per user now "
                             "(--services-dir DIR, env LOADBENCH_SERVICES_DIR)\n")


def test_an_unknown_service_and_a_container_only_one_are_one_line(cli):
    unknown = cli("services", "up", "oracle")
    assert unknown.returncode == 2 and unknown.stderr.startswith("loadbench: error: unknown service 'oracle' (here: postgres, ")
    assert len(unknown.stderr.splitlines()) == 1
    contained = cli("services", "up", "cockroachdb")
    assert contained.returncode == 2
    assert contained.stderr == "loadbench: error: cockroachdb runs in a container only: loadbench services up cockroachdb --docker\n"


def test_local_services_include_the_server_modules_without_their_connectors():
    services = connectors.local_services()
    assert list(services) == ["postgres", "mariadb", "redis", "postgrest"]
    assert services["mariadb"] is mariadb_server.LOCAL_SERVICE and services["mariadb"].connectors == ("mysql",)
    assert services["redis"].connectors == ("redis",) and services["postgrest"].connectors == ("supabase-rest",)


# --- MariaDB -------------------------------------------------------------------------------------

def mariadb(url: str, query: str, *args: str) -> subprocess.CompletedProcess:
    parts = re.fullmatch(r"mysql://(\w+):([^@]+)@127\.0\.0\.1:(\d+)/(\w+)", url)
    assert parts, "the URL has the documented shape"
    user, password, port, database = parts.groups()
    return subprocess.run(["mariadb", "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", port, "-N", "-B",
                           *args, "-e", query, *(["-u", user, database] if not args else [])],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "MYSQL_PWD": password})


def test_mariadb_up_starts_a_throwaway_server_and_never_prints_its_password(cli, tmp_path):
    need("mariadbd", "mariadb-install-db", "mariadb")
    up = cli("services", "up", "mariadb")
    assert up.returncode == 0, up.stderr
    try:
        recorded = state(cli, "mariadb")
        url = recorded["url"]
        password = url.split(":")[2].split("@")[0]
        assert len(password) >= 32 and password not in up.stdout + up.stderr
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert port != 3306
        assert up.stdout.startswith(f"mariadb: running at mysql://loadbench:***@127.0.0.1:{port}/loadbench (data ")
        assert f"settings (with any password) in {cli.services / 'mariadb.env'}" in up.stdout
        for name in ("mariadb.json", "mariadb.env"):
            assert stat.S_IMODE((cli.services / name).stat().st_mode) == 0o600
        assert (cli.services / "mariadb.env").read_text().splitlines()[1] == f"MYSQL_URL='{url}'"
        # The URL works, as the documented user on the documented database.
        done = mariadb(url, "SELECT CURRENT_USER(), DATABASE()")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["loadbench@%", "loadbench"]
        # Root over TCP is not left open without a password.
        root = mariadb(url, "SELECT 1", "-u", "root")
        assert root.returncode == 1 and "Access denied" in root.stderr
        if os.geteuid() == 0:
            assert process_user(recorded["pid"]) in ("mysql", "nobody")
        # up again: the same server, said the same way.
        again = cli("services", "up", "mariadb")
        assert again.returncode == 0 and again.stdout.startswith(f"mariadb: running at mysql://loadbench:***@127.0.0.1:{port}/")
        assert state(cli, "mariadb")["pid"] == recorded["pid"]
        status = other_dir(cli, tmp_path, "b")("services", "status")
        assert f"local mariadb: running at mysql://loadbench:***@127.0.0.1:{port}/loadbench" in status.stdout
        assert password not in status.stdout
    finally:
        down = cli("services", "down", "mariadb")
    assert down.stdout == "mariadb: stopped\n"
    assert gone(recorded["pid"], recorded["started"])
    assert not Path(recorded["base"]).exists()
    assert not (cli.services / "mariadb.json").exists() and not (cli.services / "mariadb.env").exists()
    assert cli("services", "down", "mariadb").stdout == "mariadb: was not running\n"


def test_the_mysql_connector_can_fall_back_to_the_running_mariadb(cli):
    need("mariadbd", "mariadb-install-db")
    assert cli("services", "up", "mariadb").returncode == 0
    try:
        url = state(cli, "mariadb")["url"]
        settings = Settings({"LOADBENCH_SERVICES_DIR": str(cli.services)}, {}, None)
        assert mariadb_server.with_running_service(settings).get("MYSQL_URL") == (url, "loadbench services up mariadb")
        own = Settings({"LOADBENCH_SERVICES_DIR": str(cli.services), "MYSQL_URL": "mysql://me@db/x"}, {}, None)
        assert mariadb_server.with_running_service(own).get("MYSQL_URL") == ("mysql://me@db/x", "environment")
        assert mariadb_server.running_url(cli.services) == url
    finally:
        cli("services", "down", "mariadb")
    assert mariadb_server.running_url(cli.services) is None


# --- Redis ---------------------------------------------------------------------------------------

def redis_cli(port: int, password: str | None, *args: str) -> str:
    env = {**os.environ, **({"REDISCLI_AUTH": password} if password else {})}
    done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=30, env=env)
    return (done.stdout + done.stderr).strip()


def test_redis_up_starts_a_throwaway_server_with_a_password_and_no_persistence(cli, tmp_path):
    need("redis-server", "redis-cli")
    up = cli("services", "up", "redis")
    assert up.returncode == 0, up.stderr
    try:
        recorded = state(cli, "redis")
        url = recorded["url"]
        match = re.fullmatch(r"redis://:([^@]+)@127\.0\.0\.1:(\d+)/0", url)
        assert match
        password, port = match.group(1), int(match.group(2))
        assert port != 6379 and password not in up.stdout + up.stderr
        assert up.stdout.startswith(f"redis: running at redis://:***@127.0.0.1:{port}/0")
        assert redis_cli(port, password, "PING") == "PONG"
        assert "NOAUTH" in redis_cli(port, None, "PING")
        assert redis_cli(port, password, "CONFIG", "GET", "save") == "save"  # and an empty value: no snapshots
        assert redis_cli(port, password, "CONFIG", "GET", "appendonly").splitlines() == ["appendonly", "no"]
        assert redis_cli(port, password, "CONFIG", "GET", "bind").splitlines() == ["bind", "127.0.0.1"]
        # The password is on no command line (`ps` shows those to every user).
        assert password not in Path(f"/proc/{recorded['pid']}/cmdline").read_text()
        if os.geteuid() == 0:
            assert process_user(recorded["pid"]) in ("redis", "nobody")
        again = cli("services", "up", "redis")
        assert again.returncode == 0 and state(cli, "redis")["pid"] == recorded["pid"]
        settings = Settings({"LOADBENCH_SERVICES_DIR": str(cli.services)}, {}, None)
        assert redis_server.with_running_service(settings).get("REDIS_URL") == (url, "loadbench services up redis")
    finally:
        down = other_dir(cli, tmp_path, "b")("services", "down", "redis")
    assert down.stdout == "redis: stopped\n"
    assert gone(recorded["pid"], recorded["started"]) and not Path(recorded["base"]).exists()


def test_a_server_that_fails_to_start_leaves_no_state_and_says_so_in_one_line(cli, tmp_path):
    fake_bin = Path(tempfile.mkdtemp(prefix="loadbench-fake-bin-"))  # reachable by the server's user
    try:
        fake_bin.chmod(0o755)
        script = fake_bin / "redis-server"
        script.write_text("#!/bin/sh\necho 'FATAL: cannot start: out of luck' >&2\nexit 1\n")
        script.chmod(0o755)
        (fake_bin / "redis-cli").symlink_to(shutil.which("redis-cli") or "/usr/bin/redis-cli")
        result = cli("services", "up", "redis", env={"PATH": f"{fake_bin}:{os.environ['PATH']}"})
    finally:
        shutil.rmtree(fake_bin)
    assert result.returncode == 1
    assert re.fullmatch(r"loadbench: error: redis-server exited at start: FATAL: cannot start: out of luck "
                        r"\(log: \S+/server\.log\)\n", result.stderr), result.stderr
    assert not (cli.services / "redis.json").exists() and not (cli.services / "redis.env").exists()
    assert not list(cli.services.glob("redis-*")) and not Path(result.stderr.split("(log: ")[1][:-2]).parent.exists()


# --- PostgREST -----------------------------------------------------------------------------------

def test_postgrest_up_starts_postgres_for_it_and_serves_it_with_an_anon_key(cli, tmp_path):
    if not POSTGREST_BIN.exists():
        pytest.skip("PostgREST is not installed (scripts/setup --dev)")
    path = {"PATH": f"{POSTGREST_BIN.parent}:{os.environ['PATH']}"}
    up = cli("services", "up", "postgrest", env=path)
    assert up.returncode == 0, up.stderr
    try:
        env = state(cli, "postgrest")["env"]
        url, key, db = env["SUPABASE_REST_URL"], env["SUPABASE_ANON_KEY"], env["SUPABASE_DB_URL"]
        assert up.stdout.startswith(f"postgrest: running at {url} (database {db}; started postgres for it)")
        assert key not in up.stdout + up.stderr
        assert db.startswith("postgresql://postgres@127.0.0.1:") and "local postgres: running at " + db in \
            cli("services", "status").stdout
        # A function prep would create, called as anon with the key, as the supabase-rest connector does.
        subprocess.run(["psql", db, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        "CREATE FUNCTION add_one(n int) RETURNS int LANGUAGE sql AS 'SELECT n + 1'; NOTIFY pgrst, 'reload schema'"],
                       check=True, timeout=60)
        body = None
        for _ in range(100):
            request = urllib.request.Request(f"{url}/rpc/add_one", data=b'{"n": 41}', method="POST",
                                             headers={"Content-Type": "application/json", "apikey": key,
                                                      "Authorization": f"Bearer {key}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    body = response.read()
                break
            except urllib.error.HTTPError as exc:
                assert exc.code == 404  # until the schema cache is reloaded
                time.sleep(0.05)
        assert body == b"42"
        # A token signed with another secret is refused: the key is the server's own.
        forged = postgrest_server.hs256_jwt({"role": "anon"}, "another-secret-of-at-least-32-characters!")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{url}/rpc/add_one", data=b'{"n": 1}', method="POST",
                                                          headers={"Content-Type": "application/json",
                                                                   "Authorization": f"Bearer {forged}"}), timeout=5)
        assert refused.value.code == 401
        settings = Settings({"LOADBENCH_SERVICES_DIR": str(cli.services)}, {}, None)
        layered = postgrest_server.with_running_service(settings)
        assert [layered.get(k) for k in ("SUPABASE_REST_URL", "SUPABASE_ANON_KEY", "SUPABASE_DB_URL")] == \
            [(v, "loadbench services up postgrest") for v in (url, key, db)]
        status = other_dir(cli, tmp_path, "b")("services", "status")
        assert f"local postgrest: running at {url}" in status.stdout and key not in status.stdout
        # The connector itself reaches it through the service's settings (its check calls the function).
        assert f"supabase-rest: reachable ({url})" in status.stdout.splitlines(), status.stdout
        assert status.returncode == 0, status.stdout
    finally:
        down = cli("services", "down", "postgrest")
    assert down.stdout == "postgrest: stopped\n"
    try:
        assert "local postgres: running at" in cli("services", "status").stdout  # left running: it was asked for less
    finally:
        assert cli("services", "down", "postgres").stdout == "postgres: stopped\n"


# --- status checks every configured connector ----------------------------------------------------

def test_status_with_mariadb_and_redis_up_lists_them_and_checks_every_configured_connector(cli):
    need("mariadbd", "mariadb-install-db", "redis-server")
    try:
        for name in ("mariadb", "redis"):
            up = cli("services", "up", name)
            assert up.returncode == 0, up.stderr
        status = cli("services", "status")
        assert status.returncode == 0, status.stdout
        assert re.search(r"^local mariadb: running at mysql://loadbench:\*\*\*@127\.0\.0\.1:\d+/loadbench$", status.stdout, re.M)
        assert re.search(r"^local redis: running at redis://:\*\*\*@127\.0\.0\.1:\d+/0$", status.stdout, re.M)
        # The connectors fall back to their services, and status reaches them through them.
        for connector in ("mysql", "redis"):
            assert f"{connector}: reachable" in status.stdout
        # Embedded SQLite has nothing to reach: not listed, and no database directory made here.
        assert not any(line.startswith("sqlite") for line in status.stdout.splitlines())
        assert not (cli.cwd / "runs" / "db").exists()
        # A configured connector that is wrong makes status fail, the services notwithstanding.
        bad = cli("services", "status", env={"PG_URL": "postgresql://u@127.0.0.1:99999/x"})
        assert bad.returncode == 2 and "postgres: NOT usable: PG_URL (from environment)" in bad.stdout
    finally:
        for name in ("mariadb", "redis"):
            cli("services", "down", name)


# --- Docker Compose ------------------------------------------------------------------------------

STAND_IN = textwrap.dedent("""\
    #!{python}
    # A stand-in `docker`: records each call (its arguments and the LOADBENCH_* environment) and
    # answers as docker would; DOCKER_STAND_IN_INFO=fail makes `docker info` fail as with no daemon.
    import json, os, sys
    given = {{k: v for k, v in os.environ.items() if k.startswith("LOADBENCH_") and k != "LOADBENCH_SERVICES_DIR"}}
    with open(os.environ["DOCKER_STAND_IN_LOG"], "a") as log:
        log.write(json.dumps({{"args": sys.argv[1:], "env": given}}) + "\\n")
    if sys.argv[1:2] == ["info"]:
        if os.environ.get("DOCKER_STAND_IN_INFO") == "fail":
            print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", file=sys.stderr)
            sys.exit(1)
        print("27.3.1")
    elif sys.argv[1:3] == ["compose", "version"]:
        print("Docker Compose version v2.29.7")
    elif sys.argv[1:2] == ["compose"]:
        print(" Container loadbench-x-1  Healthy", file=sys.stderr)
    else:
        sys.exit(125)
""")


@pytest.fixture
def stand_in_docker(tmp_path):
    """PATH and settings under which `docker` is the stand-in; ``calls()`` what it was asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(STAND_IN.format(python=sys.executable))
    (bin_dir / "docker").chmod(0o755)
    log = tmp_path / "docker-calls.jsonl"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "DOCKER_STAND_IN_LOG": str(log)}

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return env, calls


COMPOSE = ["compose", "-f", str(compose.COMPOSE_FILE), "-p", "loadbench"]
CHECKS = [["info", "--format", "{{.ServerVersion}}"], ["compose", "version"]]


def test_docker_up_runs_compose_with_wait_and_prints_the_url(cli, stand_in_docker):
    env, calls = stand_in_docker
    up = cli("services", "up", "cockroachdb", "--docker", env=env)
    assert up.returncode == 0, up.stderr
    assert [c["args"] for c in calls()] == [*CHECKS, [*COMPOSE, "up", "-d", "--wait", "--wait-timeout", "300", "cockroachdb"]]
    assert up.stdout.splitlines() == [
        "cockroachdb: healthy at postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable (docker compose project loadbench)",
        f"cockroachdb: settings (with any password) in {cli.services / 'docker-cockroachdb.env'}: "
        f"bench --env-file {cli.services / 'docker-cockroachdb.env'}"]
    assert "CRDB_URL='postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable'" in \
        (cli.services / "docker-cockroachdb.env").read_text()
    assert "docker cockroachdb: started at postgresql://root@127.0.0.1:26257/" in cli("services", "status", env=env).stdout
    down = cli("services", "down", "cockroachdb", "--docker", env=env)
    assert down.returncode == 0 and down.stdout == "cockroachdb: removed\n"
    assert calls()[-1]["args"] == [*COMPOSE, "rm", "--stop", "--force", "--volumes", "cockroachdb"]
    assert not (cli.services / "docker-cockroachdb.json").exists()


def test_docker_supabase_gets_generated_secrets_in_its_environment_never_its_arguments_or_output(cli, stand_in_docker):
    env, calls = stand_in_docker
    first = cli("services", "up", "supabase", "--docker", env=env)
    assert first.returncode == 0, first.stderr
    up_call = calls()[-1]
    assert up_call["args"] == [*COMPOSE, "up", "-d", "--wait", "--wait-timeout", "300", "supabase-kong"]
    given = up_call["env"]
    secret_names = {"LOADBENCH_SUPABASE_DB_PASSWORD", "LOADBENCH_SUPABASE_JWT_SECRET", "LOADBENCH_SUPABASE_ANON_KEY"}
    assert secret_names <= set(given) and given["LOADBENCH_CONVEX_INSTANCE_SECRET"] == "unused"
    secrets = [given[k] for k in secret_names]
    assert all(len(s) >= 32 for s in secrets)
    jwt_secret = given["LOADBENCH_SUPABASE_JWT_SECRET"]
    assert given["LOADBENCH_SUPABASE_ANON_KEY"] == postgrest_server.hs256_jwt({"role": "anon"}, jwt_secret)
    assert not any(s in " ".join(up_call["args"]) or s in first.stdout + first.stderr for s in secrets)
    assert first.stdout.startswith("supabase: healthy at http://127.0.0.1:54321/rest/v1 ")
    # A second up reuses them: the database volume keeps the password it was created with.
    assert cli("services", "up", "supabase", "--docker", env=env).returncode == 0
    assert {k: calls()[-1]["env"][k] for k in secret_names} == {k: given[k] for k in secret_names}
    down = cli("services", "down", "supabase", "--docker", env=env)
    assert down.returncode == 0
    assert calls()[-1]["args"] == [*COMPOSE, "rm", "--stop", "--force", "--volumes", "supabase-db", "supabase-rest",
                                   "supabase-kong"]


def test_docker_without_an_engine_is_one_line(cli, stand_in_docker, tmp_path):
    env, calls = stand_in_docker
    no_daemon = cli("services", "up", "convex", "--docker", env={**env, "DOCKER_STAND_IN_INFO": "fail"})
    assert no_daemon.returncode == 1
    assert no_daemon.stderr == ("loadbench: error: no Docker engine here: `docker info` failed: Cannot connect to the "
                                "Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")
    assert [c["args"] for c in calls()] == CHECKS[:1]
    empty = tmp_path / "empty"
    empty.mkdir()
    no_docker = cli("services", "up", "spacetimedb", "--docker", env={"PATH": str(empty)})
    assert no_docker.returncode == 1
    assert no_docker.stderr == "loadbench: error: no Docker engine here: `docker` is not on PATH\n"
    assert not list(cli.services.glob("docker-*")) if cli.services.exists() else True


def test_the_shipped_compose_file_has_a_health_check_per_service_and_every_docker_service():
    assert compose.COMPOSE_FILE.is_file()  # package data: found where the package is installed
    text = compose.COMPOSE_FILE.read_text()
    spec = yaml.safe_load(text)
    services = spec["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), name  # loopback only
    for docker_service in compose.DOCKER_SERVICES.values():
        assert set(docker_service.compose_services) <= set(services)
    # Every variable the file requires is one loadbench generates (or fills in).
    required = set(re.findall(r"\$\{(LOADBENCH_[A-Z_]+):\?", text))
    assert required == set(compose._placeholders())
