"""The PostgreSQL-protocol connectors against a real PostgreSQL (a throwaway cluster the tests start,
or LOADBENCH_PG_URL's): both transfer modes, pipelining, serializable retries, CockroachDB's
connector, connection loss, and bad configuration."""

from __future__ import annotations

import signal
import time

import pytest

from loadbench.report import store

BENCH = ("bench", "--seconds", "1.5", "--warmup", "0.2", "--accounts", "500", "--quiet")


def only_entry(cli) -> dict:
    report = cli.only_report()
    store.validate(report)
    (entry,) = report["connectors"]
    return entry


def money(postgres) -> tuple[int, int, int]:
    count, total, negative = postgres.sql(
        "SELECT count(*), sum(balance), count(*) FILTER (WHERE balance < 0) FROM accounts").split("|")
    return int(count), int(total), int(negative)


@pytest.mark.parametrize("mode", ["function", "statements"])
def test_both_transfer_modes_conserve_money(cli, postgres, mode):
    result = cli(*BENCH, "--connectors", "postgres", "--concurrency", "8", "--alpha", "1.2", "--pg-mode", mode,
                 env={"PG_URL": postgres.url})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["settings"] == {"flavor": "postgres", "mode": mode, "isolation": "read_committed", "inflight": "1"}
    assert entry["committed"] > 100
    assert entry["rejected"] + entry["committed"] == entry["samples"]
    assert entry["errors"] == {}  # locks taken lower id first: no deadlocks
    assert entry["verification"]["passed"]
    assert money(postgres) == (500, 500 * 1000, 0)
    assert entry["connections"] == entry["sessions"] == 8


def test_pipelining_keeps_several_transfers_in_flight_per_connection(cli, postgres):
    result = cli(*BENCH, "--connectors", "postgres", "--concurrency", "2", "--inflight", "8",
                 env={"PG_URL": postgres.url})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert (entry["connections"], entry["sessions"]) == (2, 16)
    assert entry["committed"] > 100
    assert entry["errors"] == {}
    assert entry["verification"]["passed"]
    assert entry["collision_ops"] > 0  # 16 transfers in flight over 500 accounts at alpha 0.5


def test_serializable_under_contention_retries_and_conserves_money(cli, postgres):
    result = cli(*BENCH, "--connectors", "postgres", "--concurrency", "8", "--alpha", "2", "--isolation",
                 "serializable", env={"PG_URL": postgres.url})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["retries"] > 0
    assert entry["retried_errors"].get("serialization", 0) > 0
    assert entry["attempts"] == entry["committed"] + entry["rejected"] + entry["failed"] + entry["retries"]
    assert entry["verification"]["passed"]
    assert money(postgres) == (500, 500 * 1000, 0)


def test_an_isolation_level_the_connector_does_not_offer_is_bad_input_before_any_load(cli):
    """--isolation is shared by the PostgreSQL and MariaDB/MySQL connectors: each checks the level
    against its own, here before anything connects (the URL points nowhere)."""
    result = cli(*BENCH, "--connectors", "postgres", "--isolation", "repeatable_read",
                 env={"PG_URL": "postgresql://nobody@127.0.0.1:9/none"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "loadbench: error: postgres: --isolation must be one of read_committed, serializable, got 'repeatable_read'"]
    assert not cli.reports()


@pytest.mark.parametrize("flags, message", [
    (("--connectors", "sqlite", "--isolation", "serializable"),
     "--isolation applies to postgres, cockroachdb, supabase, planetscale, mysql: none of the selected connectors (sqlite) takes it"),
    (("--connectors", "sqlite", "--inflight", "4"),
     "--inflight applies to postgres, cockroachdb, supabase, planetscale, redis: none of the selected connectors (sqlite) takes it"),
    (("--connectors", "sqlite,null", "--pg-mode", "statements"),
     "--pg-mode applies to postgres, cockroachdb, supabase, planetscale: none of the selected connectors (sqlite, null) takes it"),
])
def test_a_connector_flag_no_selected_connector_takes_is_bad_input(cli, flags, message):
    """It would change nothing, and the report would not say so."""
    result = cli(*BENCH, *flags)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"loadbench: error: {message}"]
    assert not cli.reports()


def test_cockroachdb_connector_runs_serializable_with_client_retries(cli, postgres):
    """PostgreSQL in SERIALIZABLE is the nearest real thing to CockroachDB's retry semantics."""
    result = cli(*BENCH, "--connectors", "cockroachdb", "--concurrency", "8", "--alpha", "1.5",
                 env={"CRDB_URL": postgres.url})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["settings"]["isolation"] == "serializable"
    assert entry["settings"]["mode"] == "statements"
    assert entry["retries"] > 0
    assert entry["verification"]["passed"]


def test_a_lost_connection_is_reestablished_and_counted(cli, postgres):
    proc = cli.popen("bench", "--connectors", "postgres", "--seconds", "4", "--warmup", "0", "--concurrency", "6",
                     "--accounts", "500", "--quiet", env={"PG_URL": postgres.url})
    deadline = time.monotonic() + 30
    while int(postgres.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loadbench'")) < 6:
        assert time.monotonic() < deadline, "the sessions never connected"
        time.sleep(0.05)
    time.sleep(1.0)
    killed = int(postgres.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name = 'loadbench'"))
    assert killed == 6
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    entry = only_entry(cli)
    assert entry["reconnects"] >= 6
    assert 1 <= entry["errors"].get("connection", 0) <= 6  # at most the transfer each session had in flight
    assert entry["committed"] > 100
    assert entry["verification"]["passed"]
    assert "FATAL" not in err


def test_prep_resets_the_accounts(cli, postgres):
    env = {"PG_URL": postgres.url}
    assert cli("prep", "--connectors", "postgres", "--accounts", "300", env=env).returncode == 0
    postgres.sql("UPDATE accounts SET balance = 7 WHERE id <= 10")
    assert cli("prep", "--connectors", "postgres", "--accounts", "300", env=env).returncode == 0
    assert postgres.sql("SELECT count(*) FROM accounts WHERE balance <> 1000") == "0"
    assert money(postgres) == (300, 300_000, 0)


def test_verify_fails_when_money_is_not_conserved(cli, postgres):
    env = {"PG_URL": postgres.url}
    assert cli("prep", "--connectors", "postgres", "--accounts", "100", env=env).returncode == 0
    postgres.sql("UPDATE accounts SET balance = balance - 1 WHERE id = 1")
    result = cli("verify", "--connectors", "postgres", "--accounts", "100", env=env)
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "total 99,999" in result.stdout


def test_wrong_password_is_bad_input_and_the_password_is_never_printed(cli, postgres):
    if postgres.cluster is None:
        pytest.skip("needs a cluster of our own to make it ask for passwords")
    url = postgres.require_password("lb_pw_user", "right-horse")
    wrong = url.replace("right-horse", "hunter2-wrong")
    result = cli(*BENCH, "--connectors", "postgres", env={"PG_URL": wrong})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadbench: error: postgres:")
    assert "password authentication failed" in lines[0]
    assert "hunter2-wrong" not in result.stderr + result.stdout
    assert cli.reports() == []
    # ...and the right one works.
    assert cli(*BENCH, "--connectors", "postgres", env={"PG_URL": url}).returncode == 0


@pytest.mark.parametrize("url, message", [
    ("postgresql://u:sekrit@127.0.0.1:notaport/db", "is not a valid URL"),
    ("mysql://u:sekrit@127.0.0.1/db", "must start with postgresql://"),
    ("postgresql://u:sekrit@127.0.0.1/db?no_such_option=1", "invalid connection URL"),
])
def test_malformed_url_is_bad_input(cli, url, message):
    result = cli(*BENCH, "--connectors", "postgres", env={"PG_URL": url})
    assert result.returncode == 2
    assert message in result.stderr
    assert "sekrit" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_server_fails_before_anything_runs(cli):
    from loadbench.connectors.postgres_cluster import free_port

    result = cli(*BENCH, "--connectors", "postgres", env={"PG_URL": f"postgresql://u:sekrit@127.0.0.1:{free_port()}/db"})
    assert result.returncode == 1
    assert result.stderr.startswith("loadbench: error: postgres: unreachable: cannot connect")
    assert "sekrit" not in result.stderr
    assert cli.reports() == []


def test_postgres_needs_a_url(cli):
    result = cli(*BENCH, "--connectors", "postgres")
    assert result.returncode == 2
    assert "connector 'postgres' is not configured: set PG_URL" in result.stderr


def test_services_start_a_cluster_the_postgres_connector_uses(cli):
    up = cli("services", "up", "postgres")  # state in cli.services (LOADBENCH_SERVICES_DIR)
    assert up.returncode == 0, up.stderr
    try:
        status = cli("services", "status")
        assert "local postgres: running at postgresql://" in status.stdout
        assert "postgres: reachable" in status.stdout
        result = cli(*BENCH, "--connectors", "postgres")  # no PG_URL: the local cluster
        assert result.returncode == 0, result.stderr
        assert only_entry(cli)["verification"]["passed"]
    finally:
        down = cli("services", "down", "postgres")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert "not running" in cli("services", "status").stdout


def test_ctrl_c_during_a_postgres_run_writes_an_interrupted_report(cli, postgres):
    proc = cli.popen("bench", "--connectors", "postgres", "--seconds", "60", "--warmup", "0", "--concurrency", "4",
                     "--accounts", "200", env={"PG_URL": postgres.url})
    for line in proc.stderr:
        if "opening" in line:
            break
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    entry = only_entry(cli)
    assert entry["interrupted"] and entry["verification"]["passed"]


def test_the_local_server_process_is_sampled(cli, postgres):
    if postgres.cluster is None:
        pytest.skip("needs a cluster of our own to know its postmaster")
    result = cli(*BENCH, "--connectors", "postgres", "--concurrency", "4", env={"PG_URL": postgres.url})
    assert result.returncode == 0, result.stderr
    resources = only_entry(cli)["resources"]
    assert resources["server"] is not None
    assert resources["server"]["pids"] == [postgres.cluster.postmaster_pid()]
    assert resources["server"]["cpu_percent_mean"] > 0  # the backends (the postmaster's children) worked
