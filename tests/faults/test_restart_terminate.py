"""PostgreSQL restarted, or every session's backend terminated, in the middle of a run: the run goes
on (each session reconnects, and the reconnects are counted), money is conserved (checked with
psql), and the server's CPU is still measured: its processes are found when the sessions open,
after every reconnect, and under the restarted server's new postmaster.

The restart and the terminations use a cluster of their own (they would disturb the shared one).
"""

from __future__ import annotations

import json
import subprocess
import time

import psutil
import pytest

from loadbench.connectors.postgres_cluster import PostgresCluster
from loadbench.report import store

ACCOUNTS, BALANCE, SESSIONS = 1000, 1000, 4


def psql(url: str, query: str) -> str:
    result = subprocess.run(["psql", url, "-X", "-Atqc", query], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def own_cluster():
    cluster = PostgresCluster.create(fsync=False)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def run_and_disturb(cli, url: str, seconds: float, disturb) -> tuple[subprocess.CompletedProcess, dict]:
    """A bench of ``seconds`` on ``url``; ``disturb()`` 1.5 s after its sessions began opening."""
    proc = cli.popen("bench", "--connectors", "postgres", "--seconds", str(seconds), "--warmup", "0",
                     "--concurrency", str(SESSIONS), "--accounts", str(ACCOUNTS), env={"PG_URL": url})
    for line in proc.stderr:  # plain progress lines: stderr is not a terminal
        if "opening" in line:
            break
    time.sleep(1.5)
    disturb()
    out, err = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    report = cli.only_report()
    store.validate(report)
    return result, report["connectors"][0]


def assert_run_survived(result, entry: dict, url: str) -> None:
    assert result.returncode == 0, result.stderr
    assert entry["status"] == "ok" and entry["verification"]["passed"]
    # One reconnect per session; what was in flight when its backend went failed as a connection error.
    assert entry["reconnects"] == SESSIONS
    assert set(entry["errors"]) == {"connection"} and 1 <= entry["failed"] <= SESSIONS
    assert entry["committed"] > 100
    assert psql(url, "SELECT sum(balance), count(*), count(*) FILTER (WHERE balance < 0) FROM accounts") == \
        f"{ACCOUNTS * BALANCE}|{ACCOUNTS}|0"


def at_rest(postmaster: int) -> int:
    """The postmaster's children with no session open: its own workers (checkpointer, WAL writer...)."""
    return len(psutil.Process(postmaster).children())


def with_sessions(sample: dict, rest: int) -> bool:
    """A sample that counts the sessions' backends: the postmaster, its workers and one backend per
    session (one worker fewer tolerated: an autovacuum worker that came and went)."""
    return sample["server_processes"] >= rest + SESSIONS


def shown(samples: list[dict]) -> list[tuple]:
    return [(s["t_s"], s["server_cpu_percent"], s["server_processes"], s.get("server_root_pids")) for s in samples]


def measuring(entry: dict) -> list[dict]:
    # The short tail sample at the window's end is left out: it may cover a few ms.
    return [s for s in entry["resources"]["samples"] if s["phase"] == "measuring" and s["duration_s"] >= 0.5]


def in_run(entry: dict) -> list[dict]:
    """The measuring samples taken while the run was going: not the tail sample, which is taken once
    the run has returned, when the sessions may have closed (its CPU covers the window's last
    moments; its process count does not)."""
    tail = entry["resources"]["samples"][-1]
    return [s for s in measuring(entry) if s is not tail]


def test_a_three_second_run_measures_the_server_from_its_first_sample(cli, postgres):
    if postgres.cluster is None:
        pytest.skip("needs a cluster of our own to know its postmaster")
    rest = at_rest(postgres.cluster.postmaster_pid())
    result = cli("bench", "--connectors", "postgres", "--seconds", "3", "--warmup", "0", "--concurrency",
                 str(SESSIONS), "--accounts", str(ACCOUNTS), "--quiet", env={"PG_URL": postgres.url})
    assert result.returncode == 0, result.stderr
    entry = json.loads(cli.reports()[0].read_text())["connectors"][0]
    server = entry["resources"]["server"]
    assert server["pids"] == [postgres.cluster.postmaster_pid()]
    assert server["cpu_percent_mean"] > 0
    samples = measuring(entry)
    assert len(samples) >= 2
    # The server's CPU, and every session's backend, from the first sample on.
    assert all(s["server_cpu_percent"] > 0 for s in samples), shown(samples)
    assert all(with_sessions(s, rest) for s in in_run(entry)), (rest, shown(samples))


def test_a_server_restart_mid_run_is_survived_and_still_measured(cli, own_cluster):
    before = own_cluster.postmaster_pid()
    rest = at_rest(before)

    def restart() -> None:
        own_cluster.stop()  # pg_ctl stop -m fast, then start: a restart under a new postmaster
        own_cluster.start()

    result, entry = run_and_disturb(cli, own_cluster.url, 5, restart)
    after = own_cluster.postmaster_pid()
    assert after != before
    assert_run_survived(result, entry, own_cluster.url)
    server = entry["resources"]["server"]
    assert server["pids"] == [before, after]
    samples = measuring(entry)
    assert with_sessions(samples[0], rest), (rest, shown(samples))
    # The roots changed once, or twice when a sample fell while no server ran ([], then the new one).
    changes = [(i, s["server_root_pids"]) for i, s in enumerate(samples) if "server_root_pids" in s]
    assert [roots for _, roots in changes] in ([[after]], [[], [after]]), shown(samples)
    # Measured under the new postmaster from then on, its new backends found at their reconnect.
    since = samples[changes[-1][0]:]
    assert len(since) >= 2 and all(s["server_cpu_percent"] > 0 for s in since), shown(samples)
    assert with_sessions([s for s in since if s in in_run(entry)][-1], rest), (rest, shown(samples))


def test_terminating_every_session_mid_run_is_survived_and_still_measured(cli, own_cluster):
    terminated = []
    rest = at_rest(own_cluster.postmaster_pid())

    def terminate() -> None:
        terminated.append(psql(own_cluster.url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                                 "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"))

    result, entry = run_and_disturb(cli, own_cluster.url, 4, terminate)
    assert terminated == [str(SESSIONS)]
    assert_run_survived(result, entry, own_cluster.url)
    assert entry["resources"]["server"]["pids"] == [own_cluster.postmaster_pid()]
    samples = measuring(entry)
    assert len(samples) >= 3 and all(s["server_cpu_percent"] > 0 for s in samples), shown(samples)
    # The backends before, and their successors found at their reconnect.
    assert with_sessions(samples[0], rest) and with_sessions(in_run(entry)[-1], rest), (rest, shown(samples))
