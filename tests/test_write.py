"""The write test: a fixed total of inserts per concurrency level, in fixed proportions over five
related tables, on SQLite presets and PostgreSQL; results/<configuration-id>.json per preset, valid
against its schema, with every level present and row counts checked after each level."""

from __future__ import annotations

import json

import jsonschema
import pytest

from loadbench.report import configuration_results as results, merge, store, table

# Small seeds and totals: the proportions and checks are the same at any size.
SMALL = ("--set", "users=200", "--set", "posts=200", "--set", "tags=50", "--quiet")
WEIGHTS = {"users": 10, "posts": 40, "tags": 10, "user_posts": 30, "posts_tags": 10}


def write(cli, *args, env=None):
    result = cli("bench", "write", *SMALL, *args, env=env)
    assert result.returncode == 0, result.stderr
    return result


def results_file(cli, config_id: str) -> dict:
    doc = json.loads((cli.cwd / "results" / f"{config_id}.json").read_text())
    results.validate(doc)
    return doc


def test_each_level_runs_the_total_in_exact_proportions_and_the_rows_are_all_there(cli):
    result = write(cli, "--configs", "1,2,4", "--total-writes", "1000", "--config-id", "busy-4")
    report = cli.only_report()
    store.validate(report)
    assert report["test"] == "write" and report["parameters"]["concurrency_levels"] == [1, 2, 4]
    entries = report["connectors"]
    assert [e["sessions"] for e in entries] == [1, 2, 4]
    committed = {name: 0 for name in WEIGHTS}
    for entry in entries:
        assert entry["configuration_id"] == "busy-4"
        by_op = {op["name"]: op for op in entry["operations"]}
        # Every session's share (1000, 500, 250) is a whole number of 100-operation cycles.
        for name, weight in WEIGHTS.items():
            op = by_op[name]
            assert op["committed"] + op["rejected"] + op["failed"] == 1000 * weight // 100, name
            committed[name] += op["committed"]
        assert entry["committed"] + entry["failed"] == 1000
        assert entry["errors"].keys() <= {"constraint"}  # a link inserted twice; busy waits (busy-4)
        # After each level: every table holds its seed plus every insert committed so far.
        checks = {c["name"]: c for c in entry["verification"]["checks"]}
        assert entry["verification"]["passed"], checks
        assert checks["users rows"]["actual"] == 200 + committed["users"]
        assert checks["posts rows"]["actual"] == 200 + committed["posts"]
        assert checks["tags rows"]["actual"] == 50 + committed["tags"]
        assert checks["user_posts rows"]["actual"] == committed["user_posts"]
        assert checks["posts_tags rows"]["actual"] == committed["posts_tags"]
        assert checks["relations reference existing rows"]["actual"] == 0
    assert "results: results/busy-4.json" in result.stdout
    assert "writes/s (failed writes) by configuration and concurrency" in result.stdout


def test_results_file_has_every_level_with_metrics_in_ms(cli):
    write(cli, "--configs", "1,3", "--total-writes", "300", "--config-id", "wal-normal-2")
    doc = results_file(cli, "wal-normal-2")
    entry_by_level = {e["sessions"]: e for e in cli.only_report()["connectors"]}
    assert doc["testName"] == "write" and doc["configurationId"] == "wal-normal-2"
    assert [c["concurrency"] for c in doc["configurations"]] == [1, 3]
    for c in doc["configurations"]:
        e = entry_by_level[c["concurrency"]]
        m = c["metrics"]
        assert c["totalWrites"] == 300
        assert c["successfulWrites"] == e["committed"] and m["errorCount"] == e["failed"]
        assert c["successfulWrites"] + m["errorCount"] == 300
        assert m["minWriteTime"] <= m["avgWriteTime"] <= m["maxWriteTime"]
        assert m["p95"] <= m["p99"] <= m["maxWriteTime"]
        # measured_seconds is stored rounded to 1 us: for a window of a few ms that alone moves
        # committed / measured_seconds by more than 1e-4 (tps is computed from the exact window).
        rounding = 0.5e-6 / e["measured_seconds"]
        assert m["writesPerSecond"] == e["tps"] == pytest.approx(e["committed"] / e["measured_seconds"],
                                                                 rel=1e-4 + rounding)
        assert m["totalDuration"] == pytest.approx(e["measured_seconds"] * 1000, abs=0.01)
        assert c["verified"] is True


def test_results_schema_rejects_a_file_missing_its_metrics(cli):
    write(cli, "--configs", "1", "--total-writes", "100")
    doc = results_file(cli, "base-0")  # the default preset: SQLite out of the box
    del doc["configurations"][0]["metrics"]["p99"]
    with pytest.raises(jsonschema.ValidationError):
        results.validate(doc)


def test_a_sweep_over_presets_writes_one_file_each_on_its_own_database(cli):
    result = write(cli, "--configs", "2", "--total-writes", "200", "--config-id", "all", "--connectors", "sqlite")
    ids = ["base-0", "wal-1", "wal-normal-2", "cache-mmap-3", "busy-4"]
    assert sorted(p.stem for p in (cli.cwd / "results").glob("*.json")) == sorted(ids)
    assert sorted(p.name for p in (cli.cwd / "db").glob("*.db")) == sorted(f"{i}.db" for i in ids)
    entries = cli.only_report()["connectors"]
    assert [e["configuration_id"] for e in entries] == ids
    assert entries[1]["settings"]["journal_mode"] == "WAL"
    for config_id in ids:
        assert f"sqlite {config_id}" in result.stdout  # a row of the comparison table


def test_out_of_the_box_sqlite_counts_busy_writes_instead_of_dropping_them(cli):
    """No busy timeout: concurrent writers get SQLITE_BUSY; what the retries cannot save is
    counted as failed, and the tables still hold exactly what was committed."""
    write(cli, "--configs", "8", "--total-writes", "800", "--max-tries", "1")
    (entry,) = cli.only_report()["connectors"]
    assert entry["errors"].get("busy", 0) > 0
    assert entry["committed"] + entry["failed"] == 800
    assert entry["verification"]["passed"]
    doc = results_file(cli, "base-0")
    assert doc["configurations"][0]["metrics"]["errorCount"] == entry["failed"]
    assert doc["configurations"][0]["errorsByKind"]["busy"] == entry["errors"]["busy"]


def test_the_tables_are_dropped_at_the_end(cli):
    import sqlite3

    write(cli, "--configs", "1", "--total-writes", "100")
    with sqlite3.connect(cli.cwd / "db" / "base-0.db") as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone() == (0,)


def test_write_on_postgres_under_its_presets(cli, postgres):
    env = {"PG_URL": postgres.url}
    write(cli, "--connectors", "postgres", "--configs", "1,4", "--total-writes", "400",
          "--config-id", "pg-base-0,pg-async-commit-1", env=env)
    report = cli.only_report()
    assert [(e["configuration_id"], e["sessions"]) for e in report["connectors"]] == [
        ("pg-base-0", 1), ("pg-base-0", 4), ("pg-async-commit-1", 1), ("pg-async-commit-1", 4)]
    assert all(e["verification"]["passed"] for e in report["connectors"])
    assert report["connectors"][2]["settings"]["session_settings"] == "synchronous_commit=off"
    for config_id in ("pg-base-0", "pg-async-commit-1"):
        doc = results_file(cli, config_id)
        assert [c["concurrency"] for c in doc["configurations"]] == [1, 4]
        assert all(c["successfulWrites"] + c["metrics"]["errorCount"] == 400 for c in doc["configurations"])
    assert postgres.sql("SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'posts')") == "0"


@pytest.mark.parametrize("args, message", [
    (["--configs", "1,x"], "--configs must be comma-separated concurrency levels"),
    (["--configs", "0"], "every concurrency level must be >= 1"),
    (["--configs", "2,2"], "--configs names a concurrency level twice"),
    (["--total-writes", "0"], "--total-writes must be >= 1"),
    (["--configs", "1", "--concurrency", "2"], "give --configs (the write test's concurrency levels) or --concurrency"),
    (["--config-id", "turbo-9"], "unknown configuration preset 'turbo-9'"),
    (["--config-id", "pg-base-0", "--connectors", "sqlite"], "preset 'pg-base-0' configures a postgres connector"),
    (["--set", "userz=5"], "--set userz: "),
])
def test_bad_write_options_are_one_line_and_exit_2(cli, args, message):
    result = cli("bench", "write", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("loadbench: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cli.reports() == [] and not (cli.cwd / "results").exists()


def test_write_options_belong_to_the_write_test(cli):
    result = cli("bench", "test-1", "--total-writes", "10")
    assert result.returncode == 2 and "--total-writes applies to the write test only" in result.stderr


def test_presets_configure_any_test_and_leave_unconfigurable_connectors_as_they_are(cli):
    # base-0 has no busy timeout: two writers fail some transfers with busy, which fails test-1's
    # connector beyond the default --max-failure-share; lifted here, where the presets are the point.
    result = cli("bench", "test-1", "--config-id", "base-0,busy-4", "--connectors", "sqlite,null", "--seconds", "0.5",
                 "--warmup", "0", "--concurrency", "2", "--accounts", "300", "--quiet", "--max-failure-share", "1")
    assert result.returncode == 0, result.stderr
    entries = cli.only_report()["connectors"]
    assert [(e["name"], e.get("configuration_id")) for e in entries] == [
        ("sqlite", "base-0"), ("sqlite", "busy-4"), ("null", None)]
    assert entries[0]["settings"] == {"preset": "base-0", "mode": "default"}
    assert entries[1]["settings"]["busy_timeout_ms"] == "5000"
    assert all(e["verification"]["passed"] for e in entries[:2])
    assert {p.name for p in (cli.cwd / "db").glob("*.db")} == {"base-0.db", "busy-4.db"}
    assert not (cli.cwd / "results").exists()  # results files are the write test's


def test_report_merge_compare_and_hlog_keep_each_preset_and_level_apart(cli):
    write(cli, "--configs", "1,2", "--total-writes", "200", "--config-id", "base-0,wal-1", "--connectors", "sqlite")
    path = next((cli.cwd / "runs").glob("write-*.json"))
    labels = ["sqlite base-0 c=1", "sqlite base-0 c=2", "sqlite wal-1 c=1", "sqlite wal-1 c=2"]
    report = store.load(path)
    assert [table.entry_label(e, report) for e in report["connectors"]] == labels
    merged = merge.merge_histograms([report])
    assert list(merged) == labels and all(runs == 1 for runs, _ in merged.values())
    compared = json.loads(cli("compare", str(path), str(path), "--json").stdout)
    assert list(dict.fromkeys(c["connector"] for c in compared["changes"])) == labels
    hlog = cli("export", str(path), "--hlog")
    assert hlog.returncode == 0, hlog.stderr
    tags = [line.split(",")[0] for line in path.with_suffix(".hlog").read_text().splitlines() if line.startswith("Tag=")]
    assert tags == [f"Tag={label.replace(' ', '/')}" for label in labels]
