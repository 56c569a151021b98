"""The rpc connector against the bundled rpc server (``loadbench rpc-server``) over SQLite and
PostgreSQL: prep through seed, bench, verify through verify, money conserved; thousands of
sessions from one process; a server restart in the middle of a run is survived and counted."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from loadbench.report import store

BENCH = ("bench", "--warmup", "0", "--accounts", "1000", "--quiet")


def only_entry(cli) -> dict:
    report = cli.only_report()
    store.validate(report)
    (entry,) = report["connectors"]
    return entry


def sqlite_server(rpc_servers, tmp_path, threads: int = 2):
    return rpc_servers("sqlite", {"SQLITE_FILE": str(tmp_path / "server.sqlite")}, threads=threads)


def test_rpc_over_sqlite_seeds_transfers_and_conserves_money(cli, rpc_servers, tmp_path):
    server = sqlite_server(rpc_servers, tmp_path)
    result = cli(*BENCH, "--seconds", "1.5", "--concurrency", "32", "--alpha", "1.0", "--connectors", "sqlite-rpc",
                 env={"SQLITE_RPC_URL": server.url})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["name"] == "sqlite-rpc"
    assert entry["committed"] > 200
    assert entry["errors"] == {}
    assert entry["sessions"] == 32
    assert entry["verification"]["passed"]
    assert entry["verification"]["total"] == 1000 * 1000


def rpc_call(url: str, body: dict) -> tuple[int, dict]:
    """One POST /rpc as keynote-2's scripts send it: (HTTP status, the JSON answer)."""
    request = urllib.request.Request(f"{url}/rpc", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_bare_verify_checks_what_the_server_seeded(cli, rpc_servers, tmp_path):
    server = sqlite_server(rpc_servers, tmp_path)
    status, refused = rpc_call(server.url, {"name": "verify", "args": {}})
    assert status == 400 and "seeded nothing yet: give accounts and initialBalance" in refused["error"]
    result = cli(*BENCH, "--seconds", "1", "--concurrency", "8", "--alpha", "1.0", "--accounts", "300",
                 "--initial-balance", "70", "--connectors", "sqlite-rpc", env={"SQLITE_RPC_URL": server.url})
    assert result.returncode == 0, result.stderr
    status, verified = rpc_call(server.url, {"name": "verify", "args": {}})
    assert status == 200, verified
    assert verified["result"]["accounts"] == 300 and verified["result"]["expected"] == 300 * 70
    assert verified["result"]["passed"] and verified["result"]["changed"] > 0  # transfers moved money


def test_rpc_over_postgres_conserves_money(cli, rpc_servers, postgres):
    server = rpc_servers("postgres", {"PG_URL": postgres.url})
    result = cli(*BENCH, "--seconds", "1.5", "--concurrency", "32", "--alpha", "1.0", "--connectors", "postgres-rpc",
                 env={"PG_RPC_URL": server.url})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 200
    assert entry["errors"] == {}
    assert entry["verification"]["passed"]
    assert postgres.sql("SELECT count(*), sum(balance) FROM accounts") == f"1000|{1000 * 1000}"


def test_two_thousand_sessions_from_one_process(cli, rpc_servers, tmp_path):
    server = sqlite_server(rpc_servers, tmp_path)
    result = cli(*BENCH, "--seconds", "2", "--concurrency", "2000", "--threads", "2", "--connectors", "sqlite-rpc",
                 env={"SQLITE_RPC_URL": server.url})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["sessions"] == entry["connections"] == 2000
    assert entry["threads"] == 2  # 1,000 sessions per event-loop thread
    assert entry["committed"] > 2000
    assert entry["failed"] == 0
    assert entry["verification"]["passed"]


def test_server_restart_mid_run_is_survived_and_counted(cli, rpc_servers, tmp_path):
    server = sqlite_server(rpc_servers, tmp_path)
    bench = cli.popen(*BENCH, "--seconds", "5", "--concurrency", "16", "--op-timeout", "2", "--connectors",
                      "sqlite-rpc", env={"SQLITE_RPC_URL": server.url})
    time.sleep(2.0)
    server.kill()
    time.sleep(0.5)
    server.start()  # same port, same file
    _, stderr = bench.communicate(timeout=60)
    assert bench.returncode == 0, stderr
    entry = only_entry(cli)
    assert entry["reconnects"] > 0
    assert entry["committed"] > 100
    assert set(entry["errors"]) <= {"connection", "timeout"}
    assert entry["verification"]["passed"]  # SQLite rolled back whatever the kill cut short


def test_server_stops_cleanly_on_sigterm(rpc_servers, tmp_path):
    server = sqlite_server(rpc_servers, tmp_path)
    assert server.stop() == 0


def test_unreachable_rpc_server_is_one_line(cli):
    result = cli(*BENCH, "--seconds", "1", "--connectors", "sqlite-rpc", env={"SQLITE_RPC_URL": "http://127.0.0.1:1"})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "sqlite-rpc" in result.stderr


def test_credentials_in_the_url_are_bad_input_and_never_shown(cli):
    result = cli(*BENCH, "--connectors", "postgres-rpc", env={"PG_RPC_URL": "https://user:hunter2@example.com"})
    assert result.returncode == 2
    assert "not supported" in result.stderr
    assert "hunter2" not in result.stderr


def test_open_parallelism_must_be_positive(cli):
    result = cli(*BENCH, "--open-parallelism", "0", "--connectors", "sqlite-rpc",
                 env={"SQLITE_RPC_URL": "http://127.0.0.1:1"})
    assert result.returncode == 2
    assert "--open-parallelism must be >= 1" in result.stderr
