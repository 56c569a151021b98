"""``bench --audit``: test-1's ledger of every committed transfer against what the client heard,
on real SQLite, PostgreSQL, MariaDB and Redis servers: the identities hold exactly in a plain run
and under contention (each ledger also counted with the server's own client), a PostgreSQL killed
three times on a durable configuration loses no acknowledged commit, one with
synchronous_commit=off reports what it lost with that setting beside it, and a run that cannot be
audited is refused in one line before any load.

The kill tests go through :func:`killed_three_times`, for any connector that has the ``kill``
fault: PostgreSQL (fsync and synchronous_commit on / synchronous_commit off), MariaDB
(``innodb_flush_log_at_trx_commit=1`` / ``0``) and Redis (``appendfsync always`` / ``everysec``).

A run without ``--audit`` needs none of the audit objects on the server: sessions prepare the
audited statements only when the run audits (a database prepped by an older loadbench, used with
``--skip-prep``)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from loadbench.connectors.postgres_cluster import PostgresCluster
from loadbench.report import store
from tests.servers import MariaDbServer, RedisServer, ServerUnavailable

ACCOUNTS, BALANCE = 200, 1000
RUN = ("bench", "--audit", "--quiet", "--warmup", "0.3", "--seconds", "2", "--concurrency", "4",
       "--accounts", str(ACCOUNTS), "--initial-balance", str(BALANCE))
CONTENDED = ("--alpha", "3", "--concurrency", "8")  # most transfers touch the same few accounts


def audited(cli, connector: str, env: dict[str, str], *args: str, ok: bool = True) -> tuple[subprocess.CompletedProcess,
                                                                                          dict]:
    """One audited run of ``connector``: the command's result and its report entry (validated)."""
    before = set(cli.reports())
    result = cli(*RUN, "--connectors", connector, *args, env=env, timeout=300)
    if ok:
        assert result.returncode == 0, result.stderr
    (path,) = set(cli.reports()) - before
    report = json.loads(path.read_text())
    store.validate(report)
    (entry,) = report["connectors"]
    return result, entry


def assert_identities(entry: dict, ledger_rows_on_server: int) -> dict:
    """Every figure of the audit adds up, nothing was lost, and the ledger the server holds (counted
    with its own client) is the one the audit read."""
    a = entry["audit"]
    assert a.get("checked", True) and a["violation"] is None, a
    assert a["client_attempts"] == a["client_committed"] + a["client_rejected"] + a["client_failed"] + a["client_no_answer"]
    assert a["ambiguous_committed"] == a["failed_in_ledger"] + a["no_answer_in_ledger"]
    assert a["ambiguous_not_committed"] == a["client_no_answer"] - a["no_answer_in_ledger"]
    assert a["server_confirmed"] == a["client_committed"] + a["ambiguous_committed"] == a["ledger_rows"]
    assert a["committed_in_ledger"] == a["client_committed"] and a["lost_writes"] == 0
    assert a["rejected_in_ledger"] == a["unknown_in_ledger"] == a["duplicate_ids"] == a["lost_updates"] == 0
    assert a["identity_holds"] and a["passed"]
    assert a["ledger_rows"] + a["ledger_rows_earlier"] == ledger_rows_on_server
    assert a["accounts_checked"] == ACCOUNTS
    # The window's commits are among the client's acknowledged ones (warmup and after add to them).
    assert 0 < entry["committed"] <= a["client_committed"]
    assert entry["verification"]["passed"] is True
    return a


# Balances that the ledger does not explain, counted by the database itself.
UNEXPLAINED = (f"SELECT count(*) FROM accounts a WHERE a.balance <> {BALANCE} "
               "+ coalesce((SELECT sum(amount) FROM audit_ledger WHERE to_id = a.id), 0) "
               "- coalesce((SELECT sum(amount) FROM audit_ledger WHERE from_id = a.id), 0)")


# --- SQLite -------------------------------------------------------------------------------------

@pytest.mark.parametrize("contention", [False, True], ids=["plain", "contended"])
def test_sqlite_audit_confirms_every_commit(cli, tmp_path, contention):
    db = tmp_path / "audit.sqlite"
    _, entry = audited(cli, "sqlite", {"SQLITE_FILE": str(db), "SQLITE_MODE": "wal"}, *(CONTENDED if contention else ()))
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT count(*) FROM audit_ledger").fetchone()[0]
        assert c.execute(UNEXPLAINED).fetchone()[0] == 0
    a = assert_identities(entry, rows)
    assert a["durability"] == {"journal_mode": "wal", "synchronous": "NORMAL"}  # SQLITE_MODE=wal's
    if contention:
        assert a["client_rejected"] + a["client_failed"] > 0  # busy retries or refusals: the hot accounts ran dry


# --- PostgreSQL ---------------------------------------------------------------------------------

def _pg_rows(url: str) -> int:
    out = subprocess.run(["psql", url, "-X", "-Atqc", f"SELECT count(*), ({UNEXPLAINED}) FROM audit_ledger"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows, unexplained = out.stdout.strip().split("|")
    assert unexplained == "0"
    return int(rows)


@pytest.mark.parametrize("mode,args", [
    ("function", ()),
    ("statements", ()),
    ("function", CONTENDED + ("--inflight", "4")),
    ("statements", CONTENDED + ("--isolation", "serializable")),
], ids=["function", "statements", "function-pipelined-contended", "statements-serializable-contended"])
def test_postgres_audit_confirms_every_commit(cli, postgres, mode, args):
    _, entry = audited(cli, "postgres", {"PG_URL": postgres.url, "PG_MODE": mode}, *args)
    a = assert_identities(entry, _pg_rows(postgres.url))
    assert set(a["durability"]) == {"fsync", "synchronous_commit"}
    if "serializable" in args:
        # Serialization failures: the server's answer, rolled back; none of them is in the ledger.
        assert a["client_failed"] > 0 and a["failed_in_ledger"] == 0, a


@pytest.fixture(scope="module")
def durable_postgres():
    """A PostgreSQL of these tests' own with fsync on (synchronous_commit=on, the default): they kill it."""
    if os.geteuid() != 0:
        pytest.skip("--fault finds a loopback server's processes by its port only as root")
    cluster = PostgresCluster.create(fsync=True)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


# Three kills in a 14 s window, each with time to recover before the next.
KILLS = ("--seconds", "14", "--fault", "kill@3s", "--fault", "kill@7s", "--fault", "kill@11s")


def killed_three_times(cli, connector: str, env: dict[str, str], ledger_rows: Callable[[], int], *args: str,
                       lossy_setting: str | None = None) -> dict:
    """An audited run of ``connector`` whose server is killed (SIGKILL, restart) three times. On a
    durable configuration (``lossy_setting`` None): no acknowledged commit lost, money conserved,
    the identities exact. Otherwise the run may lose commits; whatever it lost is reported with the
    configuration (``lossy_setting``, e.g. ``synchronous_commit=off``) beside it, and the figures
    stay consistent. Returns the audit."""
    durable = lossy_setting is None
    result, entry = audited(cli, connector, env, *KILLS, *args, ok=durable)
    # Three SIGKILLs, each followed by a restart that succeeded (a kill due while the previous
    # restart is still running waits for it: faults.FaultInjector).
    assert [f["kind"] for f in entry["faults"]] == ["kill"] * 3
    assert all(f["outcome"] == "done" for f in entry["faults"]), entry["faults"]
    rows = ledger_rows()
    a = entry["audit"]
    assert a["durability"], a
    if durable:
        assert_identities(entry, rows)
        assert a["client_no_answer"] >= 1  # the kills cut transfers in flight: their outcome was unknown
        return a
    # Lost writes are acknowledged commits the ledger lacks: the ledger is the rest, exactly.
    assert a["server_confirmed"] - a["lost_writes"] == a["ledger_rows"]
    assert a["ledger_rows"] + a["ledger_rows_earlier"] == rows
    assert a["lost_updates"] == a["rejected_in_ledger"] == a["unknown_in_ledger"] == 0  # whole transactions lost
    if a["lost_writes"]:
        assert result.returncode == 1
        assert entry["status"] == "failed" and "lost writes" in entry["error"], entry["error"]
        assert lossy_setting in entry["error"]
        assert "lost writes" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
    return a


def test_postgres_killed_three_times_with_fsync_and_synchronous_commit_loses_no_acknowledged_commit(cli, durable_postgres):
    url = durable_postgres.url
    a = killed_three_times(cli, "postgres", {"PG_URL": url}, lambda: _pg_rows(url))
    assert a["durability"] == {"fsync": "on", "synchronous_commit": "on"}


def test_postgres_killed_with_synchronous_commit_off_reports_the_lost_count_beside_it(cli, durable_postgres):
    url = durable_postgres.url
    a = killed_three_times(cli, "postgres", {"PG_URL": url}, lambda: _pg_rows(url), "--config-id", "pg-async-commit-1",
                           lossy_setting="synchronous_commit=off")
    assert a["durability"] == {"fsync": "on", "synchronous_commit": "off"}


@pytest.mark.parametrize("mode", ["function", "statements"])
def test_postgres_without_audit_runs_on_a_database_without_the_audit_objects(cli, postgres, mode):
    env = {"PG_URL": postgres.url, "PG_MODE": mode}
    run = ("--connectors", "postgres", "--accounts", str(ACCOUNTS))
    cli.bench(*run, "--seconds", "0.3", env=env)  # prep: creates them
    dropped = subprocess.run(["psql", postgres.url, "-X", "-qc",
                              "DROP FUNCTION transfer_audited(bigint, bigint, bigint, bigint); DROP TABLE audit_ledger"],
                             capture_output=True, text=True, timeout=60)
    assert dropped.returncode == 0, dropped.stderr
    report = json.loads(cli.bench(*run, "--skip-prep", "--seconds", "0.5", env=env).read_text())
    (entry,) = report["connectors"]
    assert entry["status"] == "ok" and entry["committed"] > 0 and "audit" not in entry, entry.get("error")


# --- MariaDB ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def audit_mariadb():
    try:
        server = MariaDbServer.create(durable=False)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.destroy()


@pytest.mark.parametrize("mode,args", [("procedure", ()), ("statements", ()), ("procedure", CONTENDED),
                                       ("statements", CONTENDED)],
                         ids=["procedure", "statements", "procedure-contended", "statements-contended"])
def test_mariadb_audit_confirms_every_commit(cli, audit_mariadb, mode, args):
    if audit_mariadb.owned and not audit_mariadb.running():
        audit_mariadb.start()
    _, entry = audited(cli, "mysql", {"MYSQL_URL": audit_mariadb.url, "MYSQL_MODE": mode}, *args)
    rows, unexplained = audit_mariadb.sql(f"SELECT count(*), ({UNEXPLAINED}) FROM audit_ledger").split()
    assert unexplained == "0"
    a = assert_identities(entry, int(rows))
    assert a["durability"]["innodb_flush_log_at_trx_commit"] == "0"  # the fixture's (durable=False)


@pytest.mark.parametrize("mode", ["procedure", "statements"])
def test_mariadb_without_audit_runs_on_a_database_without_the_audit_objects(cli, audit_mariadb, mode):
    if audit_mariadb.owned and not audit_mariadb.running():
        audit_mariadb.start()
    env = {"MYSQL_URL": audit_mariadb.url, "MYSQL_MODE": mode}
    run = ("--connectors", "mysql", "--accounts", str(ACCOUNTS))
    cli.bench(*run, "--seconds", "0.3", env=env)  # prep: creates them
    audit_mariadb.sql("DROP PROCEDURE transfer_audited; DROP TABLE audit_ledger")
    report = json.loads(cli.bench(*run, "--skip-prep", "--seconds", "0.5", env=env).read_text())
    (entry,) = report["connectors"]
    assert entry["status"] == "ok" and entry["committed"] > 0 and "audit" not in entry, entry.get("error")


def _owned_server(create: Callable[[], Any]) -> Any:
    if os.geteuid() != 0:
        pytest.skip("--fault finds a loopback server's processes by its port only as root")
    try:
        return create()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("durable", [True, False], ids=["flush-at-commit", "flush-each-second"])
def test_mariadb_killed_three_times(cli, durable):
    """innodb_flush_log_at_trx_commit=1: no acknowledged commit lost. =0 (the log written and
    flushed once a second, so a killed mariadbd loses up to a second of commits): the count is
    reported with the setting beside it."""
    server = _owned_server(lambda: MariaDbServer.create(durable=durable))
    try:
        def rows() -> int:
            count, unexplained = server.sql(f"SELECT count(*), ({UNEXPLAINED}) FROM audit_ledger").split()
            assert unexplained == "0"  # whole transactions survive or vanish: balances match the ledger
            return int(count)
        a = killed_three_times(cli, "mysql", {"MYSQL_URL": server.url}, rows,
                               lossy_setting=None if durable else "innodb_flush_log_at_trx_commit=0")
        assert a["durability"]["innodb_flush_log_at_trx_commit"] == ("1" if durable else "0")
        print(f"\nmariadb durable={durable}: {_figures(a)}")
    finally:
        server.destroy()


def _figures(a: dict) -> str:
    return ", ".join(f"{k} {a[k]}" for k in ("client_committed", "server_confirmed", "lost_writes", "ambiguous_committed",
                                             "ambiguous_not_committed", "lost_updates", "durability"))


# --- Redis --------------------------------------------------------------------------------------

def _redis_balances_explained(server: RedisServer) -> None:
    """Every balance equals initial + credits - debits of the ledger list, counted here from
    redis-cli's own reads."""
    expected = [BALANCE] * ACCOUNTS
    for line in server.cli("LRANGE", "audit:ledger", "0", "-1").split("\n"):
        if line.strip():
            _, source, target, amount = map(int, line.split())
            expected[source - 1] -= amount
            expected[target - 1] += amount
    keys = [f"account:{i:012d}" for i in range(ACCOUNTS)]
    assert [int(v) for v in server.cli("MGET", *keys).split()] == expected


@pytest.mark.parametrize("mode,args", [("script", ()), ("watch", ()), ("script", CONTENDED + ("--inflight", "4")),
                                       ("watch", CONTENDED)],
                         ids=["script", "watch", "script-pipelined-contended", "watch-contended"])
def test_redis_audit_confirms_every_commit(cli, redis_server, mode, args):
    _, entry = audited(cli, "redis", {"REDIS_URL": redis_server.url, "REDIS_MODE": mode}, *args)
    _redis_balances_explained(redis_server)
    a = assert_identities(entry, int(redis_server.cli("LLEN", "audit:ledger")))
    assert a["durability"]["appendonly"] == "no"  # the fixture's
    if mode == "watch" and args:
        assert a["client_failed"] > 0 and a["failed_in_ledger"] == 0  # EXEC refused (a watched key changed)


@pytest.mark.parametrize("appendfsync", ["always", "everysec"])
def test_redis_killed_three_times(cli, appendfsync):
    """appendfsync always: no acknowledged commit lost. everysec (a SIGKILL loses what was not yet
    written; the fsync each second matters only when the machine fails): the count, usually 0, is
    reported with the setting beside it."""
    config = f"appendonly yes\nappendfsync {appendfsync}\nsave \"\"\n"
    server = _owned_server(lambda: RedisServer.create(password="audit-pw", config=config))
    try:
        def rows() -> int:
            _redis_balances_explained(server)
            return int(server.cli("LLEN", "audit:ledger"))
        a = killed_three_times(cli, "redis", {"REDIS_URL": server.url}, rows,
                               lossy_setting=None if appendfsync == "always" else "appendfsync=everysec")
        assert a["durability"]["appendonly"] == "yes" and a["durability"]["appendfsync"] == appendfsync
        print(f"\nredis appendfsync={appendfsync}: {_figures(a)}")
    finally:
        server.destroy()


# --- refused before any load --------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (("--connectors", "null"), "--audit: connector 'null' (null) keeps no ledger"),
    (("--connectors", "sqlite", "tpcb"), "--audit applies to test-1"),
    (("--connectors", "sqlite", "--skip-prep"), "--audit needs prep"),
    (("--connectors", "sqlite", "--cluster", "tcp://127.0.0.1:1"), "--audit checks one process's log"),
])
def test_a_run_that_cannot_be_audited_is_refused_in_one_line_before_load(cli, tmp_path, args, message):
    command = list(args)
    scenario = [a for a in command if a == "tpcb"]
    for a in scenario:
        command.remove(a)
    result = cli("bench", *scenario, "--audit", "--seconds", "1", *command,
                 env={"SQLITE_FILE": str(tmp_path / "refused.sqlite")})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not cli.reports() and not Path(tmp_path / "refused.sqlite").exists()
