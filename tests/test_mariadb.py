"""The ``mysql`` connector against a real MariaDB (a throwaway ``mariadbd`` the session starts, or
LOADBENCH_MYSQL_URL's): prep, bench and verify in both transfer modes with the money counted by
the ``mariadb`` client, retries under contention, more sessions than threads, the server killed
and restarted mid-run, isolation levels, the shipped scenario files, the write test's presets,
and bad configuration (a wrong password, a malformed URL) as one line before any load."""

from __future__ import annotations

import hashlib
import signal
import textwrap
import time
import urllib.parse

import pytest

from loadbench.connectors import mysql
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import ConfigError
from loadbench.report import store
from loadbench.scenarios import files as scenario_files
from tests.servers import MariaDbServer, ServerUnavailable

BENCH = ("bench", "--seconds", "1.5", "--warmup", "0.2", "--accounts", "500", "--quiet")
SMALL = {"test-1": ["--set", "accounts=500"],
         "write": ["--set", "users=1000", "--set", "posts=1000", "--set", "tags=100"],
         "tpcb": ["--set", "accounts=1000"]}


@pytest.fixture(scope="session")
def mariadb():
    try:
        server = MariaDbServer.create(durable=False)  # correctness is tested here, not durability
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def env(mariadb) -> dict[str, str]:
    if mariadb.owned and not mariadb.running():
        mariadb.start()
    return {"MYSQL_URL": mariadb.url}


def only_entry(cli) -> dict:
    report = cli.only_report()
    store.validate(report)
    (entry,) = report["connectors"]
    return entry


def money(mariadb) -> tuple[int, int, int]:
    """Accounts, their total and how many are negative, read with the mariadb client."""
    count, total, negative = mariadb.sql("SELECT COUNT(*), SUM(balance), SUM(balance < 0) FROM accounts").split("\t")
    return int(count), int(total), int(negative)


# --- without a server --------------------------------------------------------------------------

def test_mysql_placeholders_are_one_question_mark_per_use():
    sql = "UPDATE t SET b = b - :amount WHERE id = :id AND b >= :amount AND note <> ':x' -- :y"
    assert scenario_files.to_positional(sql, "?", numbered=False) == (
        "UPDATE t SET b = b - ? WHERE id = ? AND b >= ? AND note <> ':x' -- :y", ["amount", "id", "amount"])
    assert scenario_files.to_positional("SELECT `a:b`, :v", "?", numbered=False) == ("SELECT `a:b`, ?", ["v"])


@pytest.mark.parametrize("url, message", [
    ("postgres://u:s3cret-pw@h/db", "must start with mysql://"),
    ("mysql://u:s3cret-pw@h:99999/db", "has an invalid port"),
    ("mysql://u:s3cret-pw@/db", "names no host"),
    ("mysql://u:s3cret-pw@h/db?ssl=1", "options after '?' are not supported"),
    ("mysql://u:s3cret%zz@h/db", "has an invalid %-escape"),
])
def test_a_malformed_url_is_one_line_that_never_shows_the_password(url, message):
    with pytest.raises(ConfigError) as raised:
        mysql.check_mysql_url(url, "MYSQL_URL")
    assert message in str(raised.value)
    assert "s3cret" not in str(raised.value) and "\n" not in str(raised.value)


def test_the_url_names_host_and_port_as_the_core_reads_them():
    assert mysql.parse_mysql_url("mysql://u:p%40ss@db.example:3307/bench") == ("db.example", 3307)
    assert mysql.parse_mysql_url("mariadb://[::1]/bench") == ("::1", 3306)


def test_malformed_url_is_bad_input_before_any_load(cli):
    result = cli(*BENCH, "--connectors", "mysql", env={"MYSQL_URL": "mysql://bench:s3cret-pw@127.0.0.1:0/bench"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "loadbench: error: MYSQL_URL (from environment): mysql://bench:***@127.0.0.1:0/bench has an invalid port"]
    assert "s3cret" not in result.stdout + result.stderr


def test_mysql_needs_a_url(cli):
    result = cli(*BENCH, "--connectors", "mysql")
    assert result.returncode == 2 and "set MYSQL_URL=mysql://" in result.stderr


# --- against the server --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["procedure", "statements"])
def test_both_transfer_modes_conserve_money(cli, mariadb, env, mode):
    result = cli(*BENCH, "--connectors", "mysql", "--concurrency", "8", "--alpha", "1.2", "--mysql-mode", mode, env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["settings"] == {"mode": mode, "isolation": "repeatable_read (InnoDB's default)"}
    assert entry["committed"] > 100
    assert entry["rejected"] + entry["committed"] == entry["samples"]
    assert entry["errors"] == {}  # rows locked lower id first: no deadlocks
    assert entry["verification"]["passed"]
    assert money(mariadb) == (500, 500 * 1000, 0)
    assert entry["connections"] == entry["sessions"] == 8
    assert mariadb.sql("SELECT COUNT(*) FROM information_schema.INNODB_TRX") == "0"  # nothing left open


def test_prep_seeds_a_million_accounts_and_verify_counts_them(cli, mariadb, env):
    result = cli("prep", "--connectors", "mysql", "--accounts", "1000000", env=env)
    assert result.returncode == 0, result.stderr
    assert money(mariadb) == (1_000_000, 1_000_000_000, 0)
    assert mariadb.sql("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                       "AND TABLE_NAME = 'accounts'") == "InnoDB"
    mariadb.sql("UPDATE accounts SET balance = balance - 1 WHERE id = 1")
    result = cli("verify", "--connectors", "mysql", "--accounts", "1000000", env=env)
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "total 999,999,999" in result.stdout


def test_the_transfer_procedure_another_tool_is_given_is_the_one_prep_creates(cli, mariadb, env):
    # bench/vs_sysbench.py creates mysql.transfer_procedure() for sysbench: the same server code.
    result = cli("prep", "--connectors", "mysql", "--accounts", "500", env=env)
    assert result.returncode == 0, result.stderr
    text = mysql.transfer_procedure("transfer_quiet")
    assert text.startswith("CREATE PROCEDURE transfer_quiet(a BIGINT, b BIGINT, amount BIGINT)")
    body = text[text.index("BEGIN"):]
    created = mariadb.sql("SELECT MD5(ROUTINE_DEFINITION) FROM information_schema.ROUTINES "
                          "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'transfer'")
    assert created == hashlib.md5(body.encode()).hexdigest()


def test_many_sessions_share_one_event_loop_thread(cli, mariadb, env):
    result = cli(*BENCH, "--connectors", "mysql", "--concurrency", "16", "--threads", "1", env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["connections"] == entry["sessions"] == 16
    assert entry["committed"] > 100
    assert entry["verification"]["passed"]
    assert money(mariadb) == (500, 500 * 1000, 0)


@pytest.mark.parametrize("mode", ["procedure", "statements"])
def test_lock_waits_under_contention_are_retried_and_counted(cli, mariadb, env, mode):
    """innodb_lock_wait_timeout 0: a transfer that finds a row locked fails at once with 1205;
    with alpha 2 over 500 accounts most transfers touch the same few rows."""
    result = cli(*BENCH, "--connectors", "mysql", "--concurrency", "8", "--alpha", "2", "--mysql-mode", mode,
                 "--mysql-lock-wait-timeout", "0", "--max-tries", "50", env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["settings"]["lock_wait_timeout_s"] == "0"
    assert entry["retries"] > 0
    assert entry["retried_errors"].get("busy", 0) > 0
    assert entry["attempts"] == entry["committed"] + entry["rejected"] + entry["failed"] + entry["retries"]
    assert entry["verification"]["passed"]
    assert money(mariadb) == (500, 500 * 1000, 0)


def test_deadlocks_of_a_scenario_file_are_retried_and_counted(cli, mariadb, env):
    """test-1.toml debits before it credits, whatever the ids: two opposite transfers deadlock, and
    InnoDB rolls one back (1213), which is retried."""
    result = cli("bench", "test-1.toml", "--set", "accounts=20", "--connectors", "mysql", "--concurrency", "16",
                 "--seconds", "2", "--warmup", "0", "--max-tries", "50", "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["retried_errors"].get("deadlock", 0) > 0
    assert entry["verification"]["passed"], entry["verification"]
    assert money(mariadb) == (20, 20 * 1000, 0)


def test_the_server_killed_and_restarted_mid_run_is_survived_and_reconnects_are_counted(cli, mariadb, env):
    if not mariadb.owned:
        pytest.skip("needs a server of our own to kill")
    proc = cli.popen("bench", "--connectors", "mysql", "--seconds", "8", "--warmup", "0", "--concurrency", "6",
                     "--accounts", "500", "--quiet", env=env)
    deadline = time.monotonic() + 30
    while int(mariadb.admin_sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                f"WHERE USER = '{mariadb.user_name}'")) < 6:
        assert time.monotonic() < deadline, "the sessions never connected"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(1.0)
    mariadb.kill()
    mariadb.start()
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    entry = only_entry(cli)
    assert entry["reconnects"] >= 6
    assert 1 <= entry["errors"].get("connection", 0) <= 6  # at most the transfer each session had in flight
    assert entry["committed"] > 100
    assert entry["verification"]["passed"]
    assert money(mariadb) == (500, 500 * 1000, 0)


def test_wrong_password_is_bad_input_and_the_password_is_never_printed(cli, mariadb, env):
    if not mariadb.owned:
        pytest.skip("needs a server of our own to create an account on")
    password = "r!ght:h@rse/#?'%"
    quoted = password.replace("'", "''")
    mariadb.admin_sql(f"DROP USER IF EXISTS 'odd'@'%'; CREATE USER 'odd'@'%' IDENTIFIED BY '{quoted}'; "
                      f"GRANT ALL ON {mariadb.database}.* TO 'odd'@'%'")

    def url(pw: str) -> str:
        return f"mysql://odd:{urllib.parse.quote(pw, safe='')}@127.0.0.1:{mariadb.port}/{mariadb.database}"

    wrong = "hunter2:w@rong/#'"
    result = cli(*BENCH, "--connectors", "mysql", env={"MYSQL_URL": url(wrong)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadbench: error: mysql:"), lines
    assert "Access denied" in lines[0]
    output = result.stdout + result.stderr
    assert "hunter2" not in output and urllib.parse.quote(wrong, safe="") not in output
    assert cli.reports() == []
    # ...and the right one works.
    result = cli(*BENCH, "--connectors", "mysql", env={"MYSQL_URL": url(password)})
    assert result.returncode == 0, result.stderr
    assert "r!ght" not in result.stdout + result.stderr


# Each level as people write it (SQL's words, hyphens, any case): loadbench's name in the report.
@pytest.mark.parametrize("written, level, server_name", [("READ UNCOMMITTED", "read_uncommitted", "READ-UNCOMMITTED"),
                                                         ("read-committed", "read_committed", "READ-COMMITTED"),
                                                         ("Repeatable_Read", "repeatable_read", "REPEATABLE-READ"),
                                                         ("serializable", "serializable", "SERIALIZABLE")])
def test_each_isolation_level_is_what_the_sessions_run_at(cli, mariadb, env, written, level, server_name):
    (cli.cwd / "iso.toml").write_text(textwrap.dedent("""\
        name = "iso"
        [tables.iso]
        mysql = "CREATE TABLE iso (id BIGINT AUTO_INCREMENT PRIMARY KEY, level VARCHAR(32) NOT NULL) ENGINE=InnoDB"
        [ops.note]
        keys = []
        sql = "INSERT INTO iso (level) VALUES (@@SESSION.tx_isolation)"
        [[verify]]
        name = "one row per note"
        sql = "SELECT count(*) FROM iso"
        expect = "committed(note)"
        """))
    result = cli("bench", "iso.toml", "--connectors", "mysql", "--isolation", written, "--operations", "60",
                 "--seconds", "30", "--warmup", "0", "--concurrency", "3", "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["settings"]["isolation"].startswith(level)
    assert entry["verification"]["passed"], entry["verification"]
    assert mariadb.sql("SELECT GROUP_CONCAT(DISTINCT level) FROM iso") == server_name


def test_the_isolation_flag_applies_to_mysql_too(cli, mariadb, env):
    result = cli(*BENCH, "--connectors", "mysql", "--isolation", "serializable", "--concurrency", "4", env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["settings"]["isolation"] == "serializable"
    assert entry["verification"]["passed"]


@pytest.mark.parametrize("name", ["test-1", "write", "tpcb"])
def test_every_shipped_scenario_file_runs_and_verifies_on_mariadb(cli, mariadb, env, name):
    result = cli("bench", f"{name}.toml", *SMALL[name], "--connectors", "mysql", "--seconds", "1", "--warmup",
                 "0.2", "--concurrency", "3", "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50
    assert entry["verification"]["checked"] and entry["verification"]["passed"], entry["verification"]


def test_sql_that_mariadb_refuses_is_reported_with_its_message(cli, mariadb, env):
    (cli.cwd / "broken.toml").write_text(textwrap.dedent("""\
        name = "broken"
        [tables.accounts]
        mysql = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)"
        [ops.transfer]
        keys = []
        sql = "UPDATE accounts SET balance = balanse - :amount WHERE id = :id"
        params.id = { generator = "uniform", min = 1, max = 10 }
        params.amount = { generator = "uniform", min = 1, max = 10 }
        """))
    result = cli("bench", "broken.toml", "--connectors", "mysql", env=env)
    assert result.returncode == 2
    assert "broken.toml: ops.transfer.sql: does not prepare on mysql: ERROR 1054 (42S22): Unknown column 'balanse'" \
        in result.stderr
    assert mariadb.sql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'loadbench_check%'") == "0"


def test_write_under_the_flush_presets_sets_the_server_variable(cli, mariadb, env):
    mariadb.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
    try:
        result = cli("bench", "write", "--set", "users=500", "--set", "posts=500", "--set", "tags=50",
                     "--connectors", "mysql", "--configs", "1,4", "--total-writes", "400",
                     "--config-id", "mysql-base-0,mysql-os-flush-2", env=env)
        assert result.returncode == 0, result.stderr
        report = cli.only_report()
        assert [(e["configuration_id"], e["sessions"]) for e in report["connectors"]] == [
            ("mysql-base-0", 1), ("mysql-base-0", 4), ("mysql-os-flush-2", 1), ("mysql-os-flush-2", 4)]
        assert all(e["verification"]["passed"] for e in report["connectors"])
        assert "server_settings" not in report["connectors"][0]["settings"]
        assert report["connectors"][2]["settings"]["server_settings"] == "innodb_flush_log_at_trx_commit=2"
        # The presets' SET GLOBAL is undone at the end: the server is left as it was found.
        assert mariadb.sql("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit") == "1"
        assert mariadb.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                           "AND TABLE_NAME IN ('users', 'posts')") == "0"
    finally:
        mariadb.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 0")  # the fixture's (durable=False)


FLUSH = "SELECT @@GLOBAL.innodb_flush_log_at_trx_commit"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_preset_s_server_setting_is_put_back_after_ctrl_c_and_sigterm(cli, mariadb, env, sig):
    mariadb.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
    try:
        proc = cli.popen("bench", "write", "--set", "users=500", "--set", "posts=500", "--set", "tags=50",
                         "--connectors", "mysql", "--configs", "2", "--total-writes", "100000000",
                         "--config-id", "mysql-lazy-flush-1", env=env)
        deadline = time.monotonic() + 60
        while mariadb.sql(FLUSH) != "0":  # the preset applied: the run is under way
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert mariadb.sql(FLUSH) == "1"
    finally:
        mariadb.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 0")  # the fixture's (durable=False)


def test_server_settings_are_put_back_when_the_runs_fail(mariadb, env):
    # What wraps the runs (runner.kept_for_the_runs), with an error raised inside it.
    mariadb.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
    try:
        spec = ConnectorSpec("mysql", "mysql", {"url": env["MYSQL_URL"],
                                               "server_settings": "innodb_flush_log_at_trx_commit=2"}, "target")
        with pytest.raises(RuntimeError, match="the run failed"):
            with mysql.server_settings_kept(spec):
                mariadb.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 2")  # as the run's connections do
                raise RuntimeError("the run failed")
        assert mariadb.sql(FLUSH) == "1"
    finally:
        mariadb.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 0")


def test_a_preset_is_refused_before_load_for_an_account_that_may_not_set_it(cli, mariadb, env):
    if not mariadb.owned:
        pytest.skip("needs a server of our own to create an account on")
    mariadb.admin_sql("DROP USER IF EXISTS 'plain'@'%'; CREATE USER 'plain'@'%' IDENTIFIED BY 'plain-pw'; "
                      f"GRANT ALL ON {mariadb.database}.* TO 'plain'@'%'")
    url = f"mysql://plain:plain-pw@127.0.0.1:{mariadb.port}/{mariadb.database}"
    result = cli("bench", "write", "--connectors", "mysql", "--configs", "1", "--total-writes", "100",
                 "--config-id", "mysql-lazy-flush-1", env={"MYSQL_URL": url})
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "innodb_flush_log_at_trx_commit=0" in line and "SUPER" in line
    assert cli.reports() == []


def test_the_local_server_process_is_sampled(cli, mariadb, env):
    if not mariadb.owned:
        pytest.skip("needs a server of our own")
    result = cli(*BENCH, "--connectors", "mysql", "--concurrency", "2", env=env)
    assert result.returncode == 0, result.stderr
    resources = only_entry(cli)["resources"]
    assert resources["server"] is not None
    assert resources["server"]["pids"] == [mariadb.process.pid]
    assert resources["server"]["cpu_percent_mean"] > 0


def test_a_scenario_file_run_with_server_rights_is_warned_about_and_without_them_is_not(cli, mariadb, env):
    """SUPER or FILE lets a scenario file's SQL act on the server beyond its tables (settings,
    files): a file that is not one of ours, run with such an account, gets one warning line."""
    if not mariadb.owned:
        pytest.skip("needs a server of our own to create accounts on")
    accounts = {"files": "FILE", "tables": None}
    for user, privilege in accounts.items():
        extra = f"; GRANT {privilege} ON *.* TO '{user}'@'%'" if privilege else ""
        mariadb.admin_sql(f"DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'; "
                          f"GRANT ALL ON {mariadb.database}.* TO '{user}'@'%'{extra}")
    (cli.cwd / "mine.toml").write_text((scenario_files.builtin_dir() / "test-1.toml").read_text())
    for user, privilege in accounts.items():
        url = f"mysql://{user}:pw-{user}@127.0.0.1:{mariadb.port}/{mariadb.database}"
        result = cli("bench", "mine.toml", *SMALL["test-1"], "--connectors", "mysql", "--seconds", "0.5", "--warmup",
                     "0", "--concurrency", "2", "--quiet", env={"MYSQL_URL": url})
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "is code run with its rights" in line]
        if privilege:
            assert warnings == ["loadbench: warning: mysql: the role is a superuser, and mine.toml is code run with "
                                "its rights: its [tables] DDL runs in the check before load and can change the "
                                "server's settings and read and write its files (SUPER, FILE: SELECT ... INTO "
                                "OUTFILE); run files you did not write as a role that is not a superuser"]
        else:
            assert warnings == []
