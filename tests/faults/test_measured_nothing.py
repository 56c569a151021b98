"""A run that measured nothing is a failure, not a pass.

The rule (README, "When a connector failed"): a connector that committed no operation in the
measured window, or whose failed operations exceed ``--max-failure-share`` (default 10 %) of its
operations (the write test does not count ``busy``), is a failed connector: status failed, exit
1, one line naming the counts and the most common error with its example. A window too short to
measure is refused (``--seconds`` >= 0.1); one without a full second (``--operations``) has no
per-second statistics (null, not 0) and is flagged in the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import psutil
import pytest

from loadbench.report import build, store

SHORT = ("--warmup", "0", "--quiet")


def the_entry(cli) -> dict:
    report = cli.only_report()
    store.validate(report)
    (entry,) = report["connectors"]
    return entry


def assert_failed_for_no_commits(cli, result, kind: str, example: str) -> dict:
    """Exit 1, the one line on stderr, a failed report that keeps its figures."""
    assert result.returncode == 1, result.stderr
    entry = the_entry(cli)
    assert entry["status"] == "failed" and cli.only_report()["status"] == "failed"
    assert entry["committed"] == 0 and entry["failed"] > 0
    failure = entry["failure"]
    assert failure["rule"] == "no_commits"
    assert failure["most_common_error"]["kind"] == kind
    assert example in failure["most_common_error"]["example"]
    line = f"loadbench: {entry['error']}"
    assert line in result.stderr.splitlines()
    assert f"0 of {entry['failed'] + entry['rejected']:,} operations committed" in line
    assert f"most common error: {kind} x {entry['errors'][kind]:,}" in line
    return entry


# --- the three cases seen: a full disk, a server out of descriptors, an operation that always fails

@contextlib.contextmanager
def tiny_tmpfs(where: Path, size: str):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_sqlite_on_a_full_disk_is_a_failed_connector(cli, tmp_path):
    with tiny_tmpfs(tmp_path / "disk", "1m") as disk:
        db = disk / "bank.sqlite"
        # The rollback journal: every transaction needs new space, which a full disk refuses.
        env = {"SQLITE_FILE": str(db), "SQLITE_MODE": "default"}
        assert cli("prep", "--connectors", "sqlite", "--accounts", "500", env=env).returncode == 0
        filler = subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=4k"], capture_output=True)
        assert filler.returncode != 0 and shutil.disk_usage(disk).free == 0  # full
        result = cli("bench", "--connectors", "sqlite", "--skip-prep", "--accounts", "500", "--seconds", "0.5",
                     "--concurrency", "2", *SHORT, env=env)
        entry = assert_failed_for_no_commits(cli, result, "other", "database or disk is full")
        assert entry["verification"]["passed"]  # reading needs no space
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT sum(balance), count(*) FROM accounts").fetchone() == (500 * 1000, 500)


def test_an_rpc_server_out_of_descriptors_is_a_failed_connector(cli, rpc_servers, tmp_path):
    db = tmp_path / "server.sqlite"
    assert cli("prep", "--connectors", "sqlite", "--accounts", "200", env={"SQLITE_FILE": str(db)}).returncode == 0
    server = rpc_servers("sqlite", {"SQLITE_FILE": str(db)}, threads=1)
    # Room for the two sessions' sockets and nothing more: the server cannot open its database.
    process = psutil.Process(server.process.pid)
    limit = process.num_fds() + 2
    process.rlimit(psutil.RLIMIT_NOFILE, (limit, limit))
    result = cli("bench", "--connectors", "sqlite-rpc", "--skip-prep", "--no-verify", "--accounts", "200",
                 "--seconds", "0.5", "--concurrency", "2", *SHORT, env={"SQLITE_RPC_URL": server.url})
    assert_failed_for_no_commits(cli, result, "other", "unable to open database file")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT sum(balance) FROM accounts").fetchone() == (200 * 1000,)


FAILING = textwrap.dedent("""\
    name = "always-fails"
    [tables.t]
    sqlite = "CREATE TABLE t (id INTEGER PRIMARY KEY)"
    [seed.t]
    rows = 1
    sql = "INSERT INTO t (id) VALUES (:id)"
    params.id = { generator = "constant", value = 1 }
    [ops.duplicate]
    weight = 1
    sql = "INSERT INTO t (id) VALUES (:id)"
    params.id = { generator = "constant", value = 1 }
""")


def test_a_scenario_operation_that_always_fails_is_a_failed_connector(cli):
    (cli.cwd / "fails.toml").write_text(FAILING)
    result = cli("bench", "fails.toml", "--connectors", "sqlite", "--seconds", "0.3", "--concurrency", "2", "--wide",
                 *SHORT)
    entry = assert_failed_for_no_commits(cli, result, "constraint", "UNIQUE constraint failed: t.id")
    assert entry["errors"] == {"constraint": entry["failed"]}
    # The table (--wide: every column, ruled): the connector cell says it failed; the verify cell
    # says only what verification found; no latency is shown for operations that were never timed.
    (row,) = [line for line in result.stdout.splitlines() if "sqlite" in line and line.startswith("│")]  # not the drain line
    cells = [c.strip() for c in row.strip("│┃ ").split("│")]
    v = entry["verification"]
    assert cells[0] == "sqlite FAILED"
    assert cells[-1] == (("passed" if v["passed"] else "FAILED") if v["checked"] else "skipped")
    assert cells[6:11] == ["-"] * 5, cells


HALF_FAILS = textwrap.dedent("""\
    name = "half-fails"
    mix = "exact"
    [tables.t]
    sqlite = "CREATE TABLE t (id INTEGER PRIMARY KEY)"
    [seed.t]
    rows = 1
    sql = "INSERT INTO t (id) VALUES (:id)"
    params.id = { generator = "constant", value = 1 }
    [ops.duplicate]
    weight = 1
    sql = "INSERT INTO t (id) VALUES (:id)"
    params.id = { generator = "constant", value = 1 }
    [ops.fresh]
    weight = 1
    sql = "INSERT INTO t (id) VALUES (:id)"
    params.id = { generator = "sequence", start = 2 }
""")


def test_failures_above_the_share_fail_the_connector_and_the_flag_sets_the_share(cli):
    (cli.cwd / "half.toml").write_text(HALF_FAILS)
    args = ("bench", "half.toml", "--connectors", "sqlite", "--seconds", "0.3", "--concurrency", "2", *SHORT)
    result = cli(*args)
    assert result.returncode == 1, result.stderr
    entry = the_entry(cli)
    failure = entry["failure"]
    assert entry["status"] == "failed" and failure["rule"] == "failure_share"
    assert entry["committed"] > 0 and failure["failed_share"] == pytest.approx(0.5, abs=0.01)  # an exact 1:1 mix
    line = (f"loadbench: sqlite: {entry['failed']:,} of {failure['operations']:,} operations failed "
            f"({100 * failure['failed_share']:.1f} %), above --max-failure-share 10 %; most common error: "
            f"constraint x {entry['failed']:,}")
    assert any(l.startswith(line) for l in result.stderr.splitlines()), result.stderr
    for path in cli.reports():
        path.unlink()
    result = cli(*args, "--max-failure-share", "0.6")
    assert result.returncode == 0, result.stderr
    entry = the_entry(cli)
    assert entry["status"] == "ok" and "failure" not in entry
    assert cli.only_report()["parameters"]["max_failure_share"] == 0.6


def test_the_write_test_does_not_count_busy_against_the_share():
    entry = {"committed": 100, "rejected": 0, "failed": 900, "errors": {"busy": 880, "constraint": 20},
             "error_examples": {"busy": "database is locked", "constraint": "UNIQUE"}}
    assert build.failure_of(entry, 0.1, ("busy",)) is None  # 20 of 1,000 counted: 2 %
    failure = build.failure_of(entry, 0.1)
    assert failure["rule"] == "failure_share" and failure["failed_share"] == 0.9
    assert failure["most_common_error"] == {"kind": "busy", "count": 880, "example": "database is locked"}
    assert build.failure_of(entry, 0.01, ("busy",))["most_common_error"]["kind"] == "constraint"
    nothing = {**entry, "committed": 0}  # no commit fails whatever the share and the kinds
    assert build.failure_of(nothing, 1.0, ("busy",))["rule"] == "no_commits"


# --- windows too short to measure

def test_a_window_too_short_to_measure_is_refused_before_any_load(cli):
    result = cli("bench", "--connectors", "sqlite", "--seconds", "0.001", *SHORT)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "loadbench: error: --seconds must be >= 0.1 (a shorter window measures the workers' start, not the "
        "database), got 0.001"]
    assert cli.reports() == [] and not (cli.cwd / "runs" / "db" / "loadbench.sqlite").exists()  # nothing ran


@pytest.mark.parametrize("seconds", ["0.5", "0.85"])
def test_a_window_under_a_second_has_no_per_second_statistics(cli, seconds):
    # SQLite, not null: the null connector's 8-digit TPS makes today's table too wide for the
    # console, and rich elides its rows (the table's width is issue 16's).
    result = cli("bench", "--connectors", "sqlite", "--accounts", "100", "--seconds", seconds, "--warmup", "0",
                 "--quiet")
    assert result.returncode == 0, result.stderr
    entry = the_entry(cli)
    assert entry["series"]["full_seconds"] == 0
    assert entry["series"]["tps_mean"] is None and entry["series"]["tps_stddev"] is None
    assert f"{entry['tps']:,.0f}*" in result.stdout


def test_a_window_with_one_full_second_has_a_mean_but_no_spread(cli):
    result = cli("bench", "--connectors", "sqlite", "--seconds", "1.2", "--accounts", "100", "--concurrency", "1",
                 "--warmup", "0", "--quiet")
    assert result.returncode == 0, result.stderr
    series = the_entry(cli)["series"]
    assert series["full_seconds"] == 1
    first = series["points"][0]
    assert series["tps_mean"] == pytest.approx(first["committed"] / first["duration_s"], rel=1e-5)
    assert series["tps_stddev"] is None  # one value: no spread to speak of (0 would claim a steady rate)


def test_a_window_without_a_full_second_has_no_per_second_statistics(cli):
    result = cli("bench", "--connectors", "sqlite", "--operations", "1", "--accounts", "100", "--concurrency", "1",
                 "--warmup", "0")
    assert result.returncode == 0, result.stderr
    entry = the_entry(cli)
    assert entry["committed"] + entry["rejected"] == 1 and entry["measured_seconds"] < 1
    assert entry["series"]["tps_mean"] is None and entry["series"]["tps_stddev"] is None
    assert entry["series"]["full_seconds"] == 0
    note = "* measured window under 1 s: no per-second statistics (tps_mean, tps_stddev null)"
    assert f"{entry['tps']:,.0f}*" in result.stdout and note in result.stdout
    (path,) = cli.reports()
    # Every reader of the figure takes the null: the table again, CSV, compare, plots.
    again = cli("report", str(path))
    assert again.returncode == 0 and note in again.stdout
    csv = cli("report", str(path), "--csv")
    assert csv.returncode == 0
    header, row = csv.stdout.splitlines()
    assert dict(zip(header.split(","), row.split(",")))["tps_per_second_mean"] == ""
    compared = cli("compare", str(path), str(path), "--json")
    assert compared.returncode == 0, compared.stderr
    tps = next(c for c in json.loads(compared.stdout)["changes"] if c["metric"] == "tps")
    assert tps["verdict"] == "no noise measure"
    plotted = cli("plot", str(path), "--out", str(cli.cwd / "plots"))
    assert plotted.returncode == 0, plotted.stderr
