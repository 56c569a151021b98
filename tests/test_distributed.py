"""Distributed runs on Dask: a real scheduler and real workers (``dask scheduler`` / ``dask worker``
subprocesses, or ``loadbench cluster up``) on free loopback ports, and ``loadbench bench --cluster``
as a user runs it. Short windows: the whole file stays within a few minutes."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loadbench.report import store, table
from loadbench.report.histogram import Histogram
from tests.conftest import Cli, clean_env, free_port

distributed = pytest.importorskip("distributed")

DASK = [sys.executable, str(Path(sys.executable).parent / "dask")]


class DaskCluster:
    """A scheduler and workers started as ``dask scheduler`` / ``dask worker`` processes."""

    def __init__(self, tmp: Path, worker_ttl: str = "5s", host: str = "127.0.0.1"):
        self.tmp = tmp
        self.port = free_port()
        self.address = f"tcp://{host}:{self.port}"
        self.procs: list[subprocess.Popen] = []
        # worker_ttl: how long the scheduler keeps a worker whose heartbeats stopped (Dask's default: 5 min).
        self.scheduler = self._start([*DASK, "scheduler", "--host", host, "--port", str(self.port),
                                      "--no-dashboard"], "scheduler", {"DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": worker_ttl})

    def _start(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(argv, env=clean_env(env), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def add_worker(self, env: dict[str, str] | None = None, wait: bool = True, host: str = "127.0.0.1",
                   prefix: tuple[str, ...] = (), scheduler: str | None = None) -> subprocess.Popen:
        """A worker on ``host``, its command line after ``prefix`` (``ip netns exec NS``), joining
        the scheduler at ``scheduler`` (default: its address)."""
        before = len(self.workers())
        proc = self._start([*prefix, *DASK, "worker", scheduler or self.address, "--host", host, "--nthreads", "1",
                            "--no-nanny", "--no-dashboard"], "worker", env)
        if wait:
            deadline = time.monotonic() + 60
            while len(self.workers()) <= before:
                assert time.monotonic() < deadline, "a worker did not join"
                assert proc.poll() is None, "a worker exited"
                time.sleep(0.1)
        return proc

    def client(self):
        return distributed.Client(self.address, timeout="20s", set_as_default=False)

    def workers(self) -> dict:
        with self.client() as c:
            return c.scheduler_info(n_workers=-1)["workers"]

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def dask_cluster(tmp_path: Path):
    cluster = DaskCluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    """``loadbench cluster up --workers 3``, shared by the runs that leave it as they found it."""
    cli = Cli(tmp_path_factory.mktemp("cluster"))
    up = cli("cluster", "up", "--workers", "3", timeout=120)
    assert up.returncode == 0, up.stderr
    address = up.stdout.split("scheduler at ")[1].split(",")[0]
    try:
        yield cli, address
    finally:
        down = cli("cluster", "down")
        assert down.returncode == 0, down.stderr


def _bench(cli: Cli, *args: str, env: dict[str, str] | None = None, code: int = 0) -> tuple[dict, str]:
    before = set(cli.reports())
    result = cli("bench", "--warmup", "0", "--quiet", *args, env=env, timeout=120)
    assert result.returncode == code, result.stderr
    new = set(cli.reports()) - before
    report = json.loads(new.pop().read_text()) if new else {}
    return report, result.stderr


def _check_merge(entry: dict) -> None:
    """The merged entry is exactly the sum of its generators: committed, and every histogram bucket."""
    rows = [g for g in entry["distributed"]["generators"] if g["status"] == "ok"]
    assert entry["committed"] == sum(g["committed"] for g in rows) > 0
    union: dict[int, int] = {}
    for g in rows:
        for value, count in g["histogram"]["buckets"]:
            union[value] = union.get(value, 0) + count
    assert {v: c for v, c in entry["histogram"]["buckets"]} == union
    assert entry["histogram"]["count"] == sum(g["histogram"]["count"] for g in rows)
    assert entry["histogram"]["min_ns"] == min(g["histogram"]["min_ns"] for g in rows)
    assert entry["histogram"]["max_ns"] == max(g["histogram"]["max_ns"] for g in rows)
    assert sum(p["committed"] for p in entry["series"]["points"]) == entry["committed"]


def test_cluster_status_shows_the_local_cluster(local_cluster):
    cli, address = local_cluster
    status = cli("cluster", "status")
    assert status.returncode == 0, status.stderr
    assert f"scheduler at {address}, 3 of 3 workers running" in status.stdout


def test_cluster_up_runs_scheduler_and_workers_with_dasks_sampling_slowed(local_cluster):
    from loadbench.distributed.cluster import QUIET_CONFIG

    cli, address = local_cluster

    def config() -> dict:
        import dask

        return {key: str(dask.config.get(key)) for key in QUIET_CONFIG}

    with distributed.Client(address, timeout="20s", set_as_default=False) as client:
        on_workers = client.run(config)
        on_scheduler = client.run_on_scheduler(config)
    assert len(on_workers) == 3
    assert all(found == QUIET_CONFIG for found in [*on_workers.values(), on_scheduler])


def test_null_run_on_three_generators_is_their_exact_sum(local_cluster):
    cli, address = local_cluster
    report, _ = _bench(cli, "--connectors", "null", "--concurrency", "6", "--seconds", "1", "--seed", "7",
                       "--cluster", address)
    assert report["status"] == "ok"
    (entry,) = report["connectors"]
    d = entry["distributed"]
    assert [g["sessions"] for g in d["generators"]] == [2, 2, 2]
    # Disjoint random streams: each generator's sessions start where the previous one's end.
    assert sorted(g["stream_offset"] for g in d["generators"]) == [0, 2, 4]
    assert len({g["address"] for g in d["generators"]}) == 3
    assert entry["sessions"] == 6
    assert not d["partial"] and d["failed_generators"] == []
    _check_merge(entry)
    for g in d["generators"]:  # p99_ms exact to the ns (a null connector's tens of ns), as its own histogram's
        p99_ns = Histogram.from_report(g["histogram"]).percentile(99)
        assert p99_ns > 0 and g["p99_ms"] == round(p99_ns / 1e6, 6) and round(g["p99_ms"] * 1e6) == p99_ns
    assert d["start_skew_max_ms"] is not None and 0 <= d["start_skew_max_ms"] < 1000
    assert report["parameters"]["cluster"] == {"scheduler": address, "epochs": 1}


def test_sqlite_run_conserves_money_and_commits_the_generators_sum(local_cluster):
    cli, address = local_cluster
    # A path relative to the coordinator's directory (the workers run in another): the generators
    # get it absolute.
    db = cli.cwd / "bank.db"
    report, _ = _bench(cli, "--connectors", "sqlite", "--concurrency", "3", "--seconds", "1", "--accounts", "200",
                       "--cluster", address, env={"SQLITE_FILE": "bank.db"})
    (entry,) = report["connectors"]
    assert entry["status"] == "ok", entry.get("error")
    _check_merge(entry)
    assert entry["verification"]["passed"] is True
    with sqlite3.connect(db) as conn:
        total, count = conn.execute("SELECT SUM(balance), COUNT(*) FROM accounts").fetchone()
    assert count == 200 and total == 200 * entry["verification"]["expected_total"] // 200


def test_postgres_run_conserves_money_checked_with_sql(local_cluster, postgres):
    cli, address = local_cluster
    report, _ = _bench(cli, "--connectors", "postgres", "--concurrency", "6", "--seconds", "1", "--accounts", "500",
                       "--cluster", address, env={"PG_URL": postgres.url})
    (entry,) = report["connectors"]
    assert entry["status"] == "ok", entry.get("error")
    _check_merge(entry)
    assert len(entry["distributed"]["generators"]) == 3
    total, count = postgres.sql("SELECT SUM(balance), COUNT(*) FROM accounts").split("|")
    assert int(count) == 500
    assert int(total) == entry["verification"]["expected_total"]


def _lose_a_generator_mid_run(cluster: DaskCluster, tmp_path: Path, victim: subprocess.Popen, lose,
                              seconds: int = 4) -> tuple[dict, str, str]:
    """A null run on ``cluster``'s two workers; ``lose()`` once both generators' tasks run and the
    window has had time to open. The run must end by itself, exit 1, and name ``victim``'s
    generator as lost and the figures as partial (1 of 2). Its entry, stderr, and the victim's address."""
    with cluster.client() as client:
        victim_address = next(a for a, pid in client.run(os.getpid).items() if pid == victim.pid)
    cli = Cli(tmp_path)
    proc = cli.popen("bench", "--warmup", "0", "--quiet", "--connectors", "null", "--concurrency", "4",
                     "--seconds", str(seconds), "--cluster", cluster.address)
    # Mid-run: once both generators' tasks run and the window has had time to open.
    with cluster.client() as client:
        deadline = time.monotonic() + 60
        while sum(len(t) for t in client.processing().values()) < 2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    time.sleep(1.5)
    lose()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert victim_address in err and "lost" in err and "partial (1 of 2 generators)" in err, err
    (entry,) = cli.only_report()["connectors"]
    d = entry["distributed"]
    assert entry["status"] == "failed" and d["partial"] and d["failed_generators"] == [victim_address]
    (lost,) = [g for g in d["generators"] if g["address"] == victim_address]
    assert lost["status"] == "lost" and "committed" not in lost
    survivors = [g for g in d["generators"] if g["status"] == "ok"]
    assert len(survivors) == 1 and entry["committed"] == survivors[0]["committed"] > 0
    _check_merge(entry)
    return entry, err, victim_address


def test_a_worker_killed_mid_run_fails_the_run_naming_its_generator(dask_cluster, tmp_path):
    dask_cluster.add_worker()
    victim = dask_cluster.add_worker()
    entry, err, _ = _lose_a_generator_mid_run(dask_cluster, tmp_path, victim,
                                              lambda: os.kill(victim.pid, signal.SIGKILL))
    assert "its worker left the scheduler" in entry["error"]


def test_a_frozen_worker_is_dropped_by_the_scheduler_and_fails_the_run(dask_cluster, tmp_path):
    # SIGSTOP, never continued: no heartbeat; the scheduler (worker-ttl 5 s) drops the worker.
    dask_cluster.add_worker()
    victim = dask_cluster.add_worker()
    entry, err, _ = _lose_a_generator_mid_run(dask_cluster, tmp_path, victim,
                                              lambda: os.kill(victim.pid, signal.SIGSTOP))
    assert "its worker left the scheduler" in entry["error"]
    assert victim.poll() is None  # still there, frozen: the run did not wait for it to die


def test_a_frozen_worker_the_scheduler_keeps_is_cut_off_at_the_result_deadline(tmp_path):
    # Dask's default worker-ttl (5 min): the scheduler still counts the frozen worker, so the
    # coordinator's own deadline (GRACE_S + RESULT_MARGIN_S past the window's end) ends the run.
    from loadbench.distributed.coordinator import GRACE_S, RESULT_MARGIN_S

    cluster = DaskCluster(tmp_path, worker_ttl="300s")
    try:
        cluster.add_worker()
        victim = cluster.add_worker()
        entry, err, address = _lose_a_generator_mid_run(cluster, tmp_path, victim,
                                                        lambda: os.kill(victim.pid, signal.SIGSTOP), seconds=2)
        assert f"no result within {GRACE_S + RESULT_MARGIN_S:g} s of the window's planned end" in entry["error"]
        assert entry["distributed"]["coordination"]["window_end_to_result_seconds"] >= GRACE_S + RESULT_MARGIN_S
        assert address in cluster.workers()  # the scheduler never noticed
    finally:
        cluster.stop()


class NetnsWorker:
    """A network namespace joined to this host by a veth pair (``10.R.S.1`` here, ``10.R.S.2``
    there), and an nft table of its own that drops everything through the pair once :meth:`cut`:
    a generator whose network is lost, silently (no reset, no unreachable), as a pulled cable."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            pytest.skip("network loss needs root (a network namespace and an nft rule)")
        for tool in ("ip", "nft"):
            if shutil.which(tool) is None:
                pytest.skip(f"network loss needs `{tool}`, not found")
        tag = f"{os.getpid() % 1000}{random.randrange(1000)}"
        self.ns, self.here, self.there, self.table = f"lbtest{tag}", f"lbh{tag}", f"lbn{tag}", f"lbtest{tag}"
        net = f"10.{random.randrange(200, 250)}.{random.randrange(1, 255)}"
        self.host_ip, self.ns_ip = f"{net}.1", f"{net}.2"
        self.done: list[list[str]] = []
        try:
            self._sh("ip", "netns", "add", self.ns, undo=["ip", "netns", "del", self.ns])
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"network namespaces do not work here: {exc.stderr.strip()}")
        try:
            self._sh("ip", "link", "add", self.here, "type", "veth", "peer", "name", self.there,
                     undo=["ip", "link", "del", self.here])
            self._sh("ip", "link", "set", self.there, "netns", self.ns)
            self._sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.here)
            self._sh("ip", "link", "set", self.here, "up")
            self._sh("ip", "-n", self.ns, "addr", "add", f"{self.ns_ip}/30", "dev", self.there)
            self._sh("ip", "-n", self.ns, "link", "set", self.there, "up")
            self._sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def _sh(self, *argv: str, undo: list[str] | None = None) -> None:
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)
        if undo:
            self.done.append(undo)

    @property
    def prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns)

    def cut(self) -> None:
        t = self.table
        self._sh("nft", "add", "table", "inet", t, undo=["nft", "delete", "table", "inet", t])
        self._sh("nft", "add", "chain", "inet", t, "in", "{ type filter hook input priority -10 ; }")
        self._sh("nft", "add", "chain", "inet", t, "out", "{ type filter hook output priority -10 ; }")
        self._sh("nft", "add", "rule", "inet", t, "in", "iifname", self.here, "drop")
        self._sh("nft", "add", "rule", "inet", t, "out", "oifname", self.here, "drop")

    def close(self) -> None:
        for undo in reversed(self.done):
            subprocess.run(undo, capture_output=True, timeout=30)
        self.done.clear()


def test_a_generator_whose_network_is_lost_fails_the_run(tmp_path):
    netns = NetnsWorker()
    try:
        # The scheduler on the host's end of the pair: reached locally from here, through the pair from there.
        cluster = DaskCluster(tmp_path, host=netns.host_ip)
        try:
            cluster.add_worker()
            victim = cluster.add_worker(host=netns.ns_ip, prefix=netns.prefix)
            entry, err, address = _lose_a_generator_mid_run(cluster, tmp_path, victim, netns.cut)
            assert netns.ns_ip in address
            assert "its worker left the scheduler" in entry["error"]
        finally:
            cluster.stop()
    finally:
        netns.close()


def test_a_worker_that_joins_during_epoch_1_is_used_in_epoch_2(dask_cluster, tmp_path):
    dask_cluster.add_worker()
    cli = Cli(tmp_path)
    proc = cli.popen("bench", "--warmup", "0", "--quiet", "--connectors", "null", "--concurrency", "2",
                     "--seconds", "3", "--epochs", "2", "--cluster", dask_cluster.address)
    with dask_cluster.client() as client:
        deadline = time.monotonic() + 60
        while sum(len(t) for t in client.processing().values()) < 1:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    late = dask_cluster.add_worker()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    report = cli.only_report()
    first, second = report["connectors"]
    assert [first["distributed"]["epoch"], second["distributed"]["epoch"]] == [1, 2]
    assert [table.entry_label(e, report) for e in (first, second)] == ["null epoch 1", "null epoch 2"]
    assert len(first["distributed"]["generators"]) == 1
    assert len(second["distributed"]["generators"]) == 2
    assert second["sessions"] == 4  # the late generator brought an epoch-1 generator's share
    with dask_cluster.client() as client:
        late_address = next(a for a, pid in client.run(os.getpid).items() if pid == late.pid)
    assert late_address in {g["address"] for g in second["distributed"]["generators"]}
    # Streams stay disjoint across epochs: epoch 2 starts after epoch 1's sessions.
    assert min(g["stream_offset"] for g in second["distributed"]["generators"]) == 2
    for entry in (first, second):
        _check_merge(entry)


def test_a_worker_of_another_loadbench_version_is_refused_in_one_line(dask_cluster, tmp_path):
    # Another install: a loadbench distribution of version 0.0.1 first on the worker's path.
    other = tmp_path / "other-install"
    (other / "loadbench-0.0.1.dist-info").mkdir(parents=True)
    (other / "loadbench-0.0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: loadbench\nVersion: 0.0.1\n")
    dask_cluster.add_worker(env={"PYTHONPATH": str(other)})
    cli = Cli(tmp_path / "cwd")
    cli.cwd.mkdir()
    result = cli("bench", "--connectors", "null", "--seconds", "1", "--cluster", dask_cluster.address)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "loadbench 0.0.1" in lines[0] and "Traceback" not in result.stderr
    assert cli.reports() == []


def test_an_unreachable_scheduler_is_one_line_and_exit_2(cli):
    result = cli("bench", "--connectors", "null", "--cluster", f"tcp://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0]


@pytest.mark.parametrize("answer", [b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", None])
def test_a_server_that_is_not_a_dask_scheduler_is_one_line_and_exit_2_within_the_timeout(cli, answer):
    # An HTTP server answers Dask's handshake with text (once read as a frame of exabytes, or
    # waited on for a minute); a silent one never answers.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            if answer is not None:
                conn.recv(65536)
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        began = time.monotonic()
        result = cli("bench", "--connectors", "null", "--cluster", f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        took = time.monotonic() - began
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadbench: error: --cluster: "), result.stderr
    assert ("is not a Dask scheduler (it answered in another protocol)" if answer else "no answer within 5 s") in lines[0]
    assert took < 5 + 10  # the coordinator's 5 s, and the interpreter's start on a loaded machine


def test_a_malformed_cluster_address_is_one_line_and_exit_2(cli):
    result = cli("bench", "--connectors", "null", "--cluster", "127.0.0.1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "loadbench: error: --cluster must be a Dask scheduler address tcp://HOST:PORT, got '127.0.0.1'"]


def test_without_dask_cluster_names_the_extra(cli, tmp_path):
    # Dask absent: a `distributed` that cannot be imported, first on the path.
    hidden = tmp_path / "no-dask"
    (hidden / "distributed").mkdir(parents=True)
    (hidden / "distributed" / "__init__.py").write_text("raise ImportError('no dask here')\n")
    result = cli("bench", "--connectors", "null", "--cluster", "tcp://127.0.0.1:1", env={"PYTHONPATH": str(hidden)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "loadbench[distributed]" in lines[0]


def test_the_generators_show_in_the_console_and_in_the_html_page(local_cluster, tmp_path):
    from tests.browser import visit

    cli, address = local_cluster
    before = set(cli.reports())
    result = cli("bench", "--warmup", "0", "--quiet", "--connectors", "null", "--concurrency", "6", "--seconds", "1",
                 "--cluster", address, env={"COLUMNS": "100"}, timeout=120)
    assert result.returncode == 0, result.stderr
    (path,) = set(cli.reports()) - before
    report = store.load(path)  # the distributed section is part of the schema, checked on load
    generators = report["connectors"][0]["distributed"]["generators"]
    lines = result.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    start = next(i for i, line in enumerate(lines) if line.startswith("null: 3 generators"))
    rows = lines[start:]
    for g in generators:  # one row each: host, pid, sessions, committed, TPS, p99, skew, clock offset
        row = next(line for line in rows if f" {g['pid']} " in line)
        assert g["host"] in row and f"{g['committed']:,}" in row and f"{g['tps']:,.0f}" in row, row
        # p99 from its own histogram: the null connector's tens of ns, not its p99_ms rounded to 0.
        p99 = Histogram.from_report(g["histogram"]).percentile(99) / 1e6
        assert p99 > 0 and f"  {table.latency_text(p99)}  " in row, row
    assert any(line.strip().startswith("start skew max") for line in rows), rows

    out = tmp_path / "cluster.html"
    assert cli("report", str(path), "--html", str(out)).returncode == 0
    with visit(out.as_uri()) as page:
        cells = [[td.inner_text() for td in tr.query_selector_all("td")]
                 for tr in page.page.query_selector_all("[data-generators] tbody tr")]
        assert sorted(c[1] for c in cells) == sorted(str(g["pid"]) for g in generators)
        assert sorted(c[3] for c in cells) == sorted(f"{g['committed']:,}" for g in generators)
        assert page.console_errors == [] and page.external_requests == []
