"""End to end on SQLite: bench seeds, loads, verifies and writes a report that follows the schema
and whose figures agree with each other and with the database file."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from loadbench.report import store


def balances(db) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*), SUM(balance), SUM(balance < 0) FROM accounts").fetchone()


@pytest.mark.parametrize("concurrency", [1, 16])
@pytest.mark.parametrize("alpha", [0.0, 2.0])
def test_bench_conserves_money_and_writes_a_valid_report(cli, concurrency, alpha):
    result = cli("bench", "--seconds", "1.5", "--warmup", "0.3", "--concurrency", str(concurrency), "--alpha",
                 str(alpha), "--accounts", "2000", "--quiet")
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    store.validate(report)
    assert report["status"] == "ok"
    (entry,) = report["connectors"]
    assert entry["name"] == "sqlite"
    assert entry["verification"] == {"checked": True, "passed": True, "accounts": 2000, "total": 2000 * 1000,
                                     "expected_total": 2000 * 1000, "negative_balances": 0}
    assert balances(cli.runs / "db" / "loadbench.sqlite") == (2000, 2000 * 1000, 0)

    # The figures agree with each other.
    assert entry["committed"] > 0
    assert entry["measured_seconds"] == pytest.approx(1.5, abs=1e-3)
    assert entry["tps"] == pytest.approx(entry["committed"] / entry["measured_seconds"])
    assert entry["samples"] == entry["committed"] + entry["rejected"] == entry["histogram"]["count"]
    assert sum(c for _, c in entry["histogram"]["buckets"]) == entry["samples"]
    assert sum(p["committed"] for p in entry["series"]["points"]) == entry["committed"]
    assert [round(p["tSec"], 3) for p in entry["timeSeries"]] == pytest.approx([1.0, 1.5], abs=0.05)
    lat = entry["latency"]
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    assert entry["p99_ms"] == lat["p99"]
    assert entry["attempts"] == entry["committed"] + entry["rejected"] + entry["failed"] + entry["retries"]
    if concurrency == 1:
        assert entry["collision_ops"] == 0  # nothing else in flight
    if concurrency == 16 and alpha == 2.0:
        assert entry["collision_rate"] > 0.1  # most transfers touch account 1 or 2


def test_json_flag_prints_the_report_it_wrote(cli):
    result = cli("bench", "--seconds", "0.5", "--warmup", "0", "--concurrency", "2", "--accounts", "100", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == cli.only_report()


def test_skip_prep_runs_on_the_existing_data(cli):
    assert cli("prep", "--accounts", "500").returncode == 0
    result = cli("bench", "--skip-prep", "--seconds", "0.5", "--warmup", "0", "--accounts", "500", "--quiet")
    assert result.returncode == 0, result.stderr
    assert cli.only_report()["parameters"]["prep"] is False
    assert cli("verify", "--accounts", "500").returncode == 0


def test_verify_fails_when_money_is_not_conserved(cli):
    assert cli("prep", "--accounts", "100").returncode == 0
    with sqlite3.connect(cli.runs / "db" / "loadbench.sqlite") as conn:
        conn.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 7")
    result = cli("verify", "--accounts", "100")
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "total 100,001" in result.stdout


def test_bench_against_a_corrupted_table_reports_verification_failure(cli):
    """A wrong total after the run makes bench exit non-zero and the report say so."""
    assert cli("prep", "--accounts", "100").returncode == 0
    with sqlite3.connect(cli.runs / "db" / "loadbench.sqlite") as conn:
        conn.execute("UPDATE accounts SET balance = -5 WHERE id = 3")
    result = cli("bench", "--skip-prep", "--seconds", "0.3", "--warmup", "0", "--accounts", "100", "--quiet")
    assert result.returncode == 1
    report = cli.only_report()
    assert report["status"] == "failed"
    assert report["connectors"][0]["status"] == "verification_failed"
    assert "verification failed" in result.stderr


def dump(db) -> str:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_seed_makes_the_transfer_sequence_reproducible(cli):
    def run(seed: int) -> str:
        result = cli("bench", "--seed", str(seed), "--operations", "3000", "--seconds", "60", "--warmup", "0",
                     "--concurrency", "1", "--accounts", "50", "--alpha", "1.1", "--quiet")
        assert result.returncode == 0, result.stderr
        return dump(cli.runs / "db" / "loadbench.sqlite")

    first, again, other = run(42), run(42), run(43)
    assert first == again
    assert first != other
    committed = [json.loads(p.read_text())["connectors"][0] for p in cli.reports()]
    assert all(e["committed"] + e["rejected"] == 3000 for e in committed)


@pytest.mark.parametrize("mode", ["default", "wal", "fast"])
def test_every_sqlite_mode_conserves_money(cli, mode):
    # `default` has no busy timeout: 4 writers fail most transfers with busy, a failed connector by
    # the default --max-failure-share; money must be conserved all the same, which is the point here.
    result = cli("bench", "--seconds", "1", "--warmup", "0", "--concurrency", "4", "--accounts", "100", "--alpha",
                 "1.5", "--quiet", "--max-failure-share", "1", env={"SQLITE_MODE": mode})
    assert result.returncode == 0, result.stderr
    entry = cli.only_report()["connectors"][0]
    assert entry["settings"]["mode"] == mode
    assert entry["verification"]["passed"]


def test_null_connector_measures_the_harness_alone(cli):
    result = cli("bench", "--connectors", "null", "--seconds", "0.5", "--warmup", "0", "--concurrency", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    entry = cli.only_report()["connectors"][0]
    assert entry["name"] == "null"
    assert entry["committed"] > 10_000
    assert entry["failed"] == 0
    assert entry["verification"] == {"checked": False, "reason": "the connector keeps no data"}


def test_reports_do_not_overwrite_each_other(cli):
    for _ in range(2):
        assert cli("bench", "--connectors", "null", "--seconds", "0.2", "--warmup", "0", "--quiet").returncode == 0
    assert len(cli.reports()) == 2
