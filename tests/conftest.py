"""Shared fixtures: every test runs loadbench as a user would (a subprocess of
``python -m loadbench``) in its own empty directory, with no loadbench settings inherited."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from loadbench.connectors.postgres_cluster import PostgresCluster
from tests.servers import RedisServer, ServerUnavailable

# Settings a developer's shell may carry that would change what the tests run against.
_SETTINGS = ("SQLITE_FILE", "SQLITE_MODE", "SEED_ACCOUNTS", "SEED_INITIAL_BALANCE", "VERIFY", "LOADBENCH_RUNS_DIR",
             "NULL_DELAY_NS", "PG_URL", "CRDB_URL", "SUPABASE_DB_URL", "PLANETSCALE_PG_URL", "PG_MODE", "PG_ISOLATION",
             "MAX_INFLIGHT_PER_WORKER", "LOADBENCH_DB_DIR", "LOADBENCH_RESULTS_DIR", "PG_RPC_URL", "CRDB_RPC_URL",
             "SQLITE_RPC_URL", "PLANETSCALE_RPC_URL", "BUN_URL", "SUPABASE_URL", "SUPABASE_REST_URL", "SUPABASE_ANON_KEY",
             "CONVEX_URL",
             "STDB_URL", "STDB_MODULE", "STDB_TOKEN", "STDB_METRICS_URL", "USE_SPACETIME_METRICS_ENDPOINT",
             "NULL_STALL_AT_MS", "NULL_STALL_MS", "LOADBENCH_SERVICES_DIR", "XDG_STATE_HOME", "MYSQL_URL", "REDIS_URL",
             "REDIS_MODE", "MYSQL_MODE", "MYSQL_ISOLATION", "MYSQL_LOCK_WAIT_TIMEOUT", "LOADBENCH_MYSQL_URL")


# Where loadbench looks for `services` state unless a test says otherwise: nowhere real, so that a
# developer's running services (~/.local/state/loadbench/services) never configure a test's connectors.
NO_SERVICES = str(Path(tempfile.gettempdir()) / f"loadbench-tests-no-services-{os.getpid()}")


@pytest.fixture(autouse=True)
def _no_user_services(monkeypatch):
    """In-process code (Settings.load()) reads no developer's services state either."""
    monkeypatch.setenv("LOADBENCH_SERVICES_DIR", NO_SERVICES)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    env["PYTHONUNBUFFERED"] = "1"
    env["LOADBENCH_SERVICES_DIR"] = NO_SERVICES
    env.update(extra or {})
    return env


class Cli:
    """Runs ``python -m loadbench`` in a scratch directory."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.runs = cwd / "runs"
        # `services` state is per user: the test's own, never the developer's (~/.local/state).
        self.services = cwd / "services-state"

    def _env(self, env: dict[str, str] | None) -> dict[str, str]:
        return clean_env({"LOADBENCH_SERVICES_DIR": str(self.services), **(env or {})})

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180):
        # No standard input, as in CI: nothing may wait for an answer. Its own process group, so that
        # a command that times out is killed with everything it started (compare --refs's builds),
        # which would otherwise go on loading the machine under the tests that follow.
        with subprocess.Popen([sys.executable, "-m", "loadbench", *args], cwd=self.cwd, env=self._env(env),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) as proc:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        # SIGINT back to its default in the child: a test run started in the background (`cmd &` in a
        # script) inherits SIGINT ignored, which Python then keeps, and the Ctrl-C the tests send
        # would never arrive.
        return subprocess.Popen([sys.executable, "-m", "loadbench", *args], cwd=self.cwd, env=self._env(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def reports(self) -> list[Path]:
        return sorted(self.runs.glob("*.json")) if self.runs.is_dir() else []

    def results(self) -> list[dict]:
        """The lines of runs/results.jsonl."""
        path = self.runs / "results.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def bench(self, *args: str, env: dict[str, str] | None = None) -> Path:
        """A short bench (no warmup, quiet) that must succeed; the report it wrote."""
        before = set(self.reports())
        result = self("bench", "--warmup", "0", "--quiet", *args, env=env)
        assert result.returncode == 0, result.stderr
        (path,) = set(self.reports()) - before
        return path

    def only_report(self) -> dict:
        found = self.reports()
        assert len(found) == 1, found
        return json.loads(found[0].read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RpcServer:
    """``loadbench rpc-server`` as a subprocess on a fixed loopback port (restartable on it)."""

    def __init__(self, cwd: Path, backend: str, env: dict[str, str], threads: int = 2):
        self.cwd, self.backend, self.env, self.threads = cwd, backend, env, threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RpcServer":
        deadline = time.monotonic() + 30
        while True:  # the port may linger a moment after a kill
            self.process = subprocess.Popen(
                [sys.executable, "-m", "loadbench", "rpc-server", "--backend", self.backend, "--port", str(self.port),
                 "--threads", str(self.threads)],
                cwd=self.cwd, env=clean_env(self.env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            line = self.process.stdout.readline()
            if f":{self.port}" in line:
                return self
            self.process.wait(timeout=10)
            if time.monotonic() > deadline:
                raise AssertionError(f"rpc-server did not start: {line!r} {self.process.stderr.read()}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, as a user's Ctrl-C would; the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=10)


@pytest.fixture
def rpc_servers(tmp_path: Path):
    """Starts rpc servers (``start(backend, env)``) and kills whatever is left at the end."""
    started: list[RpcServer] = []

    def start(backend: str, env: dict[str, str] | None = None, threads: int = 2) -> RpcServer:
        server = RpcServer(tmp_path, backend, env or {}, threads).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


class Postgres:
    """The PostgreSQL the tests use: LOADBENCH_PG_URL's, or a throwaway cluster of our own."""

    def __init__(self, url: str, cluster: PostgresCluster | None):
        self.url = url
        self.cluster = cluster  # None when LOADBENCH_PG_URL points at someone else's server

    def sql(self, query: str) -> str:
        result = subprocess.run(["psql", self.url, "-X", "-Atqc", query], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def require_password(self, role: str, password: str) -> str:
        """Creates `role` with `password`, makes the server ask it for the password, returns its URL."""
        assert self.cluster is not None
        self.sql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'")
        hba = self.cluster.data_dir / "pg_hba.conf"
        rules = hba.read_text()
        line = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
        if line not in rules:
            hba.write_text(line + rules)
            self.sql("SELECT pg_reload_conf()")
        return f"postgresql://{role}:{password}@127.0.0.1:{self.cluster.port}/postgres"


@pytest.fixture(scope="session")
def postgres():
    url = os.environ.get("LOADBENCH_PG_URL")
    if url:
        yield Postgres(url, None)
        return
    cluster = PostgresCluster.create(fsync=False)  # the tests check correctness, not durability
    try:
        cluster.start()
        yield Postgres(cluster.url, cluster)
    finally:
        cluster.destroy()


@pytest.fixture
def own_redis():
    """A factory of redis-servers of the test's own (they may be killed, frozen, or ask for a
    password): ``own_redis(password=None) -> RedisServer``, each destroyed after the test."""
    created: list[RedisServer] = []

    def make(password: str | None = None) -> RedisServer:
        try:
            server = RedisServer.create(password=password if password is not None else "")
        except ServerUnavailable as e:
            pytest.skip(str(e))
        created.append(server)
        return server

    yield make
    for server in created:
        server.destroy()


@pytest.fixture(scope="session")
def redis_server():
    """One throwaway redis-server for the session (``--save '' --appendonly no``: the tests check
    correctness, not durability), or the one LOADBENCH_REDIS_URL names; skips without redis-server.
    Tests that kill, restart or reconfigure a server start one of their own."""
    try:
        server = RedisServer.create()
    except ServerUnavailable as e:
        pytest.skip(str(e))
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def sample_runs(tmp_path_factory) -> Cli:
    """A runs directory with a single run (sqlite and null) and a contention sweep (two points,
    two iterations each): what plot, report and the notebook read."""
    cli = Cli(tmp_path_factory.mktemp("sample-runs"))
    cli.bench("--connectors", "sqlite,null", "--seconds", "2.1", "--concurrency", "2", "--accounts", "300")
    result = cli("bench", "--contention-tests", "0", "1.2", "1.2", "2", "--iterations", "2", "--connectors",
                 "sqlite,null", "--seconds", "0.3", "--warmup", "0", "--accounts", "300", "--quiet")
    assert result.returncode == 0, result.stderr
    return cli
