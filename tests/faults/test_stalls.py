"""A stalled server never stalls the harness (issue 12, section 2).

With ``--op-timeout T``, an attempt the server does not answer ends as a ``timeout`` error at most
T + 10 % + 100 ms after it began, for every session, whatever the server does: a SQLite lock held
by another process, a PostgreSQL whose postmaster and backends are stopped (SIGSTOP), an HTTP
server that accepts and never answers, one that answers a byte a second, one whose connections
never complete, a WebSocket server that never answers. Meanwhile the monitor keeps its clock: the
per-second series has every second, the resource samples no gap. When the server comes back, so
does the run (reconnects counted), and money is conserved (checked with psql / sqlite3).

How each bound is measured from the outside: the servers here note when each request arrived and
when the client closed its connection (a timed-out HTTP, WebSocket or PostgreSQL request closes
it); where nothing can be seen (a lock, a connect that never completes) every session runs a
fixed number of operations that all time out, so the measured window is their sum.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from loadbench.connectors.postgres_cluster import PostgresCluster
from tests.conftest import clean_env

T = 1.0  # --op-timeout
BOUND = T * 1.1 + 0.1  # the contract: a timeout fires within 10 % + 100 ms of its value
EARLY = 0.05  # a timeout never fires before T (less how late the observer's thread saw the request)


def only_entry(cli) -> dict:
    (entry,) = cli.only_report()["connectors"]
    return entry


def timeouts(entry: dict) -> int:
    return entry["errors"].get("timeout", 0)


def assert_the_clock_kept_going(entry: dict) -> None:
    """Every second of the window is in the series, and the resource samples have no gap."""
    points = entry["series"]["points"]
    assert points, entry
    for i, p in enumerate(points[:-1]):
        assert p["t_s"] == pytest.approx(i + 1, abs=0.1), points
        assert p["duration_s"] == pytest.approx(1.0, abs=0.1), points
    assert points[-1]["t_s"] == pytest.approx(entry["measured_seconds"], abs=0.1)
    times = [s["t_s"] for s in entry["resources"]["samples"]]
    assert len(times) >= 2, entry["resources"]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= 1.5, times


def bench(cli, *args: str, env: dict[str, str]):
    return cli("bench", "--warmup", "0", "--quiet", "--op-timeout", str(T), *args, env=env, timeout=120)


# --- SQLite -----------------------------------------------------------------------------------------


def sqlite_env(tmp_path: Path, mode: str) -> dict[str, str]:
    return {"SQLITE_FILE": str(tmp_path / "bank.sqlite"), "SQLITE_MODE": mode, "SEED_ACCOUNTS": "200",
            "SEED_INITIAL_BALANCE": "1000"}


def take_exclusive_lock(path: Path, within_s: float) -> sqlite3.Connection:
    """A connection holding SQLite's EXCLUSIVE lock on ``path``, taken by retrying at once: sqlite3's
    own busy handler sleeps between tries (1 ms growing to 100 ms) and loses the lock to sessions
    that write without waiting, for seconds on end (CI once took it only after the window closed).
    Raises AssertionError if it is not taken within ``within_s`` seconds."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    deadline = time.monotonic() + within_s
    while True:
        try:
            holder.execute("BEGIN EXCLUSIVE")
            return holder
        except sqlite3.OperationalError:
            if holder.in_transaction:
                holder.execute("ROLLBACK")
            assert time.monotonic() < deadline, f"EXCLUSIVE lock on {path} not taken within {within_s} s"


def sqlite_money(tmp_path: Path) -> tuple[int, int, int]:
    with sqlite3.connect(tmp_path / "bank.sqlite") as db:
        return db.execute("SELECT count(*), sum(balance), sum(balance < 0) FROM accounts").fetchone()


def test_sqlite_sessions_waiting_for_a_lock_time_out_within_the_bound(cli, tmp_path):
    # WAL: the mode's busy_timeout is 5 s, and SQLite sits in its busy handler, which
    # sqlite3_interrupt alone does not end. Another process holds the write lock throughout: each
    # of the 4 sessions runs 2 operations, each of which must end as a timeout at T.
    env = sqlite_env(tmp_path, "wal")
    assert cli("prep", "--connectors", "sqlite", env=env).returncode == 0
    holder = sqlite3.connect(tmp_path / "bank.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = bench(cli, "--connectors", "sqlite", "--concurrency", "4", "--operations", "8", "--seconds", "30",
                       "--skip-prep", env=env)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode in (0, 1), result.stderr
    entry = only_entry(cli)
    assert entry["errors"] == {"timeout": 8}
    assert entry["committed"] == 0 and entry["retries"] == 0
    assert "timed out waiting for a lock" in entry["error_examples"]["timeout"]
    # The window closed with the last of each session's two operations: 2 T plus two lateness.
    assert 2 * T - EARLY <= entry["measured_seconds"] <= 2 * BOUND
    assert_the_clock_kept_going(entry)
    assert sqlite_money(tmp_path) == (200, 200 * 1000, 0)


def test_sqlite_default_mode_reports_a_held_lock_as_busy_at_once_and_resumes(cli, tmp_path):
    # SQLite out of the box has no busy handler: nothing waits, so nothing needs a timeout; every
    # attempt while the lock is held fails BUSY (retried up to --max-tries), and the load resumes
    # when it is released.
    env = sqlite_env(tmp_path, "default")
    proc = cli.popen("bench", "--warmup", "0", "--quiet", "--op-timeout", str(T), "--connectors", "sqlite",
                     "--concurrency", "4", "--seconds", "4", env=env)
    try:
        changed = 0
        deadline = time.monotonic() + 60
        while changed == 0 and time.monotonic() < deadline:  # the window is open once money moves
            time.sleep(0.05)
            try:
                with sqlite3.connect(tmp_path / "bank.sqlite", timeout=5) as db:
                    changed = db.execute("SELECT count(*) FROM accounts WHERE balance <> 1000").fetchone()[0]
            except sqlite3.Error:
                pass
        assert changed > 0
        holder = take_exclusive_lock(tmp_path / "bank.sqlite", within_s=2.0)
        time.sleep(1.5)
        holder.execute("ROLLBACK")
        holder.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 1), err  # (1 if failures above the documented share fail a connector)
    entry = only_entry(cli)
    assert entry["errors"].get("busy", 0) > 0
    assert timeouts(entry) == 0
    assert entry["series"]["points"][-1]["committed"] > 0  # back after the release
    assert_the_clock_kept_going(entry)
    assert sqlite_money(tmp_path) == (200, 200 * 1000, 0)


# --- PostgreSQL under SIGSTOP ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen_pg():
    """A throwaway cluster of this module's own: freezing it disturbs no other test."""
    cluster = PostgresCluster.create(fsync=False)
    try:
        cluster.start()
        yield cluster
    finally:
        for proc in server_processes(cluster):  # never leave it stopped, whatever happened
            try:
                proc.send_signal(signal.SIGCONT)
            except psutil.Error:
                pass
        cluster.destroy()


def server_processes(cluster: PostgresCluster) -> list[psutil.Process]:
    pid_file = cluster.data_dir / "postmaster.pid"
    if not pid_file.exists():
        return []
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


@contextmanager
def frozen(cluster: PostgresCluster):
    """SIGSTOP the postmaster (first: it forks nothing more) and every backend; SIGCONT after."""
    stopped: list[psutil.Process] = []
    try:
        for proc in server_processes(cluster):
            proc.send_signal(signal.SIGSTOP)
            stopped.append(proc)
        yield
    finally:
        for proc in stopped:
            try:
                proc.send_signal(signal.SIGCONT)
            except psutil.Error:
                pass


def psql(cluster: PostgresCluster, query: str) -> str:
    result = subprocess.run(["psql", cluster.url, "-X", "-Atqc", query], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class TimingProxy:
    """Forwards loopback TCP connections to PostgreSQL, noting per connection when the client sent
    each chunk, when the server last answered and when the client closed: a request the server
    never answered, then a close, is a timeout that abandoned its connection, and close - sent is
    how long the attempt took."""

    TERMINATE = b"X\x00\x00\x00\x04"  # libpq's goodbye before it closes

    def __init__(self, port: int):
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open = 0
        self.requests = 0
        self.abandoned: list[list[float]] = []  # per closed connection: times of its unanswered chunks
        self.closed_at: list[float] = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        server = socket.create_connection(self.target)
        with self.lock:
            self.open += 1
        unanswered: list[float] = []
        client_closed = False
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 0.5)
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        client_closed = True
                        break
                    if data != self.TERMINATE:
                        unanswered.append(time.monotonic())
                        with self.lock:
                            self.requests += 1
                    server.sendall(data)
                if server in ready:
                    data = server.recv(65536)
                    if not data:
                        return
                    unanswered.clear()
                    client.sendall(data)
        except OSError:
            return
        finally:
            closed = time.monotonic()
            with self.lock:
                self.open -= 1
                if unanswered and client_closed:  # (a cancel request is closed by the server)
                    self.abandoned.append(unanswered)
                    self.closed_at.append(closed)
            client.close()
            server.close()

    def close(self) -> None:
        self.stopping = True
        self.listener.close()


def run_through_a_freeze(cli, cluster: PostgresCluster, connections: int, *flags: str
                         ) -> tuple[subprocess.CompletedProcess, TimingProxy]:
    """test-1 on `connections` connections for 7 s; 1 s into the window the server is frozen for 3 s."""
    proxy = TimingProxy(cluster.port)
    env = {"PG_URL": proxy.url(), "SEED_ACCOUNTS": "1000", "SEED_INITIAL_BALANCE": "1000"}
    proc = cli.popen("bench", "--warmup", "0", "--quiet", "--op-timeout", str(T), "--connectors", "postgres",
                     "--concurrency", str(connections), "--seconds", "7", *flags, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the sessions are open and transferring
            with proxy.lock:
                if proxy.open >= connections and proxy.requests > 200:
                    break
            time.sleep(0.02)
        time.sleep(1.0)
        with frozen(cluster):
            time.sleep(3.0)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proxy.close()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proxy


def assert_money_conserved(cluster: PostgresCluster) -> None:
    # Straight to the server (not through loadbench): a timed-out transfer may or may not have
    # committed, but a transfer is all or nothing.
    assert psql(cluster, "SELECT count(*), sum(balance), count(*) FILTER (WHERE balance < 0) FROM accounts") == \
        "1000|1000000|0"


def test_postgres_sigstop_times_out_every_session_and_the_run_comes_back(cli, frozen_pg):
    result, proxy = run_through_a_freeze(cli, frozen_pg, 8)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    # Every session's request caught in the freeze was given up at T: its connection closed with
    # the request unanswered, within the bound.
    assert len(proxy.abandoned) == 8
    for sent, closed in zip(proxy.abandoned, proxy.closed_at):
        assert len(sent) == 1  # one request in flight per connection
        assert T - EARLY <= closed - sent[0] <= BOUND
    # Then the sessions' next attempts timed out waiting for the reconnect, each alone: 2 or 3
    # timeouts per session in a 3 s freeze.
    assert 8 * 2 <= timeouts(entry) <= 8 * 3
    assert entry["errors"] == {"timeout": timeouts(entry)}
    assert entry["retries"] == 0
    assert entry["reconnects"] == 8
    assert entry["series"]["points"][-1]["committed"] > 0  # back after SIGCONT
    assert_the_clock_kept_going(entry)
    assert_money_conserved(frozen_pg)


def test_postgres_sigstop_with_pipelined_sessions(cli, frozen_pg):
    # 2 connections of 4 pipelined sessions each (--concurrency counts connections). The first
    # request on a connection to time out gives the connection up, and the others in flight on it
    # fail with it: as timeouts when their own deadline had passed too (closed-loop sessions send
    # together, so here nearly all), as connection errors otherwise. Neither is retried: either
    # may have committed.
    result, proxy = run_through_a_freeze(cli, frozen_pg, 2, "--inflight", "4")
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert (entry["sessions"], entry["connections"]) == (8, 2)
    assert len(proxy.abandoned) == 2
    for sent, closed in zip(proxy.abandoned, proxy.closed_at):
        assert 1 <= len(sent) <= 4
        assert closed - min(sent) <= BOUND
    failed = timeouts(entry) + entry["errors"].get("connection", 0)
    assert set(entry["errors"]) <= {"timeout", "connection"}
    assert 8 * 2 <= failed <= 8 * 3
    assert entry["errors"].get("connection", 0) <= 2 * 3
    assert entry["retries"] == 0
    assert entry["reconnects"] == 8  # each session counts its connection's reopen
    assert entry["series"]["points"][-1]["committed"] > 0
    assert_the_clock_kept_going(entry)
    assert_money_conserved(frozen_pg)


# --- HTTP and WebSocket -----------------------------------------------------------------------------


class StallingHttpServer:
    """An rpc server on a loopback port that answers ``health`` (so the preflight passes) and
    stalls every transfer, as ``mode`` says:

    - ``silent``: accepts the request and never answers;
    - ``trickle``: answers one byte a second (a slow trickle must not keep the attempt alive);
    - ``unreachable``: closes the connection, then lets no new one complete (it stops accepting
      and fills its accept queue: the kernel drops the SYNs, a connect waits until TCP gives up).

    ``stalls`` holds (arrived, closed) per stalled request: closed is when the client hung up.
    """

    HEALTH = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n{"ok":true,"result":{}}\n'

    def __init__(self, mode: str):
        self.mode = mode
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8 if mode == "unreachable" else 128)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.stalls: list[tuple[float, float]] = []
        self.closed_by_us = 0
        self.refusing = threading.Event()
        self.queue_full = threading.Event()
        self.stopping = False
        self.fillers: list[socket.socket] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.stopping and not self.refusing.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buffer += data
        head, rest = buffer.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            data = conn.recv(65536)
            if not data:
                return None, b""
            rest += data
        return rest[:length], rest[length:]

    @staticmethod
    def _closed(conn: socket.socket, wait: float) -> bool:
        """Waits up to ``wait`` s for the client to hang up; True when it did."""
        ready, _, _ = select.select([conn], [], [], wait)
        if not ready:
            return False
        try:
            return conn.recv(65536) == b""
        except OSError:
            return True

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while not self.stopping:
                try:
                    body, buffer = self._read_request(conn, buffer)
                except OSError:
                    return
                if body is None:
                    return
                if b'"health"' in body:
                    conn.sendall(self.HEALTH)
                    continue
                arrived = time.monotonic()
                if self.mode == "unreachable":
                    self._refuse_from_now_on()
                    with self.lock:
                        self.closed_by_us += 1
                    return
                reply = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
                sent = 0
                while not self.stopping:
                    if self.mode == "trickle" and sent < len(reply):
                        try:
                            conn.sendall(reply[sent:sent + 1])
                        except OSError:
                            break
                        sent += 1
                    if self._closed(conn, 1.0 if self.mode == "trickle" else 0.05):
                        break
                with self.lock:
                    self.stalls.append((arrived, time.monotonic()))
                return

    def _refuse_from_now_on(self) -> None:
        with self.lock:
            first = not self.refusing.is_set()
            self.refusing.set()
        if not first:
            self.queue_full.wait(5)
            return
        self.acceptor.join()
        # Connections the kernel completed but we had not accepted yet are sessions' too.
        self.listener.setblocking(False)
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                break
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        # Connections of our own fill the accept queue (a backlog of 8 holds 9): from here on the
        # kernel drops every SYN, and a client's connect hangs.
        for _ in range(12):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(s)
        time.sleep(0.05)
        self.queue_full.set()

    def __enter__(self) -> "StallingHttpServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stopping = True
        self.refusing.set()
        self.listener.close()
        for s in self.fillers:
            s.close()


def rpc_env(server: StallingHttpServer) -> dict[str, str]:
    return {"SQLITE_RPC_URL": server.url}


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_http_server_that_does_not_answer_times_out_every_request_within_the_bound(cli, mode):
    # 4 sessions, 2 operations each: every request stalls, each attempt ends at T (the connection
    # is closed and reopened, counted), and the window closes with the last of them.
    with StallingHttpServer(mode) as server:
        result = bench(cli, "--connectors", "sqlite-rpc", "--concurrency", "4", "--operations", "8", "--seconds", "30",
                       "--skip-prep", "--no-verify", env=rpc_env(server))
        time.sleep(0.2)  # the last closes reach the server
        stalls = list(server.stalls)
    assert result.returncode in (0, 1), result.stderr
    entry = only_entry(cli)
    assert entry["errors"] == {"timeout": 8}
    assert entry["error_examples"]["timeout"] == "timed out waiting for the reply"
    assert len(stalls) == 8
    for arrived, closed in stalls:
        assert T - EARLY <= closed - arrived <= BOUND
    assert 2 * T - EARLY <= entry["measured_seconds"] <= 2 * BOUND
    assert entry["reconnects"] >= 4
    assert_the_clock_kept_going(entry)


def test_http_connect_that_never_completes_times_out_every_attempt_within_the_bound(cli):
    # The first transfer of each session finds its connection closed (a connection error: it may
    # have been applied); the reconnect's SYN is dropped, so the next two attempts wait for a
    # connection that never comes, and must each end at T.
    with StallingHttpServer("unreachable") as server:
        result = bench(cli, "--connectors", "sqlite-rpc", "--concurrency", "4", "--operations", "12", "--seconds",
                       "30", "--skip-prep", "--no-verify", env=rpc_env(server))
        closed_by_us = server.closed_by_us
    assert result.returncode in (0, 1), result.stderr
    entry = only_entry(cli)
    assert (closed_by_us, entry["errors"]) == (4, {"connection": 4, "timeout": 8}), entry["error_examples"]
    assert entry["error_examples"]["timeout"].startswith("timed out waiting for a connection")
    assert 2 * T - EARLY <= entry["measured_seconds"] <= 2 * BOUND + 0.1  # (+ the first, failed at once)
    assert_the_clock_kept_going(entry)


def test_websocket_server_that_never_answers_times_out_every_request_within_the_bound(cli):
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    from tests.fakes.server import FakeServer

    stalls: list[tuple[float, float]] = []

    async def schema(request):
        return web.json_response({"typespace": {"types": []}, "tables": [], "reducers": []})

    async def subscribe(request):
        # The handshake and the greeting as SpacetimeDB's, then silence.
        ws = web.WebSocketResponse(protocols=("v1.json.spacetimedb",))
        await ws.prepare(request)
        await ws.send_str(json.dumps({"IdentityToken": {"identity": {"__identity__": "0x1"}, "token": "t",
                                                        "connection_id": {"__connection_id__": 1}}}))
        arrivals = []
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                arrivals.append(time.monotonic())
        closed = time.monotonic()
        stalls.extend((a, closed) for a in arrivals)
        return ws

    app = web.Application()
    app.router.add_get("/v1/database/{name}/schema", schema)
    app.router.add_get("/v1/database/{name}/subscribe", subscribe)
    with FakeServer(app) as fake:
        env = {"STDB_URL": fake.url, "STDB_MODULE": "stalled"}
        result = bench(cli, "--connectors", "spacetimedb", "--concurrency", "4", "--operations", "8", "--seconds",
                       "30", "--skip-prep", "--no-verify", env=env)
        time.sleep(0.2)
    assert result.returncode in (0, 1), result.stderr
    entry = only_entry(cli)
    assert entry["errors"] == {"timeout": 8}
    assert len(stalls) == 8
    for arrived, closed in stalls:
        assert T - EARLY <= closed - arrived <= BOUND
    assert 2 * T - EARLY <= entry["measured_seconds"] <= 2 * BOUND
    assert entry["reconnects"] >= 4
    assert_the_clock_kept_going(entry)


# --- running out of descriptors ---------------------------------------------------------------------


@pytest.mark.parametrize("connector", ["sqlite", "sqlite-rpc"])
def test_running_out_of_descriptors_says_so(cli, tmp_path, connector):
    prep = [] if connector == "sqlite" else ["--skip-prep"]  # (the stalling server knows no seed)
    # The CLI raises its soft limit to the hard one: both are lowered, to 64, and 40 of them are
    # taken by descriptors the process inherits, as a process that already holds many would. The
    # check before the run would refuse it (test_resource_limits.py): skipped, to run out for real.
    limit = 64
    fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(40)]

    def lower_the_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    with StallingHttpServer("silent") as server:
        env = clean_env({**sqlite_env(tmp_path, "wal"), **rpc_env(server)})
        try:
            result = subprocess.run(
                [sys.executable, "-m", "loadbench", "bench", "--connectors", connector, "--concurrency", "24",
                 "--seconds", "1", "--warmup", "0", "--quiet", "--no-verify", "--skip-capacity-check", *prep],
                cwd=cli.cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                pass_fds=fillers, preexec_fn=lower_the_limit)
        finally:
            for fd in fillers:
                os.close(fd)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"too many open files (EMFILE): raise the limit with ulimit -n, now {limit}" in output, output
    assert "Operation canceled" not in output
