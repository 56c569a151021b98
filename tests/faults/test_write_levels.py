"""Runs that follow one another on the same data never replay each other: the write test's levels
(and a sweep's runs) take random streams no earlier run used, and scenario sequences continue from
run to run, so a fresh schema with enough key space fails no write at any level."""

from __future__ import annotations

import json
import sqlite3
import textwrap

from loadbench.report import store

LEVELS = ["--configs", "1,2,4,8", "--total-writes", "400", "--seed", "7"]


def write_entries(cli, *args: str, env: dict[str, str] | None = None) -> list[dict]:
    result = cli("bench", "write", *LEVELS, "--quiet", *args, env=env)
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    store.validate(report)
    return report["connectors"]


def assert_no_write_failed(cli, entries: list[dict]) -> None:
    assert [e["sessions"] for e in entries] == [1, 2, 4, 8]
    # Each level's sessions start after every earlier level's: 0, 1, 1+2, 1+2+4.
    assert [e["stream_offset"] for e in entries] == [0, 1, 3, 7]
    for e in entries:
        assert (e["status"], e["committed"], e["failed"], e["errors"]) == ("ok", 400, 0, {}), e["error_examples"]
        assert e["verification"]["passed"], e["verification"]
    (results,) = (cli.cwd / "results").glob("*.json")
    levels = json.loads(results.read_text())["configurations"]
    assert [(c["concurrency"], c["metrics"]["errorCount"]) for c in levels] == [(1, 0), (2, 0), (4, 0), (8, 0)]


def test_write_levels_on_sqlite_fail_no_write(cli):
    # busy-4: a busy timeout, so that the only failures left would be re-inserted links.
    assert_no_write_failed(cli, write_entries(cli, "--connectors", "sqlite", "--config-id", "busy-4"))


def test_write_levels_on_postgres_fail_no_write(cli, postgres):
    assert_no_write_failed(cli, write_entries(cli, "--connectors", "postgres", env={"PG_URL": postgres.url}))


SEQUENCES = textwrap.dedent("""\
    name = "sequences"
    [tables.a]
    sqlite = "CREATE TABLE a (id INTEGER PRIMARY KEY)"
    [tables.b]
    sqlite = "CREATE TABLE b (id INTEGER PRIMARY KEY)"
    [generators.a_id]
    generator = "sequence"
    start = 1
    [generators.b_id]
    generator = "sequence"
    scope = "global"
    start = 10
    step = 3
    [seed.a]
    rows = 50
    sql = "INSERT INTO a (id) VALUES (:id)"
    params.id = "a_id"
    [ops.insert_a]
    sql = "INSERT INTO a (id) VALUES (:id)"
    params.id = "a_id"
    [ops.insert_b]
    sql = "INSERT INTO b (id) VALUES (:id)"
    params.id = "b_id"
    [[verify]]
    name = "a: the seed and every insert"
    sql = "SELECT count(*) FROM a"
    expect = "seeded(a) + committed(insert_a)"
    [[verify]]
    name = "b: every insert"
    sql = "SELECT count(*) FROM b"
    expect = "committed(insert_b)"
""")


def test_sequences_continue_after_the_seed_and_from_run_to_run(cli):
    (cli.cwd / "seq.toml").write_text(SEQUENCES)
    db = cli.cwd / "seq.db"
    env = {"SQLITE_FILE": str(db), "SQLITE_MODE": "wal"}
    assert cli("prep", "seq.toml", "--connectors", "sqlite", env=env).returncode == 0
    # Three runs on the prepped tables (--skip-prep): each would re-insert the keys of the one
    # before (and the first the seed's) if sequences restarted with each run. Each run's
    # verification expects what every run so far committed.
    result = cli("bench", "seq.toml", "--connectors", "sqlite", "--skip-prep", "--iterations", "3",
                 "--concurrency", "2", "--seconds", "0.3", "--warmup", "0.1", "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    entries = [e for p in report["points"] for it in p["iterations"] for e in it["connectors"]]
    assert [e["stream_offset"] for e in entries] == [0, 2, 4]
    for e in entries:
        assert e["failed"] == 0 and e["committed"] > 0, (e["errors"], e["error_examples"])
        assert e["verification"]["passed"], e["verification"]
    inserted = {name: sum(op["committed"] for e in entries for op in e["operations"] if op["name"] == name)
                for name in ("insert_a", "insert_b")}
    outside = sum(e["operations_before_window"] + e["operations_after_window"] for e in entries)
    with sqlite3.connect(db) as conn:
        (a_rows, a_min), = conn.execute("SELECT count(*), min(id) FROM a").fetchall()
        (b_rows, b_odd), = conn.execute("SELECT count(*), sum((id - 10) % 3 != 0) FROM b").fetchall()
    # Every committed insert is a row of its own (warmup and window-edge inserts committed too).
    assert inserted["insert_a"] + 50 <= a_rows <= inserted["insert_a"] + 50 + outside
    assert inserted["insert_b"] <= b_rows <= inserted["insert_b"] + outside
    assert a_min == 1 and b_odd == 0  # the seed's 1..50 kept, b on its own step
