"""Scenarios in TOML files: every shipped file runs and verifies on SQLite and PostgreSQL, each
operation of the mix gets its own statistics, vars can be overridden, and a malformed file is one
line naming the file, the key and what is wrong, before any load starts."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import jsonschema
import pytest

from loadbench import connectors
from loadbench.errors import ConfigError
from loadbench.report import store
from loadbench.scenarios import files as scenario_files

SHIPPED = ["test-1", "write", "tpcb"]
# Small, but with key space enough that write's links rarely collide: a collision is a failed
# operation, and failures above --max-failure-share (10 %) fail the connector.
SMALL = {"test-1": ["--set", "accounts=500"],
         "write": ["--set", "users=1000", "--set", "posts=1000", "--set", "tags=100"],
         "tpcb": ["--set", "accounts=1000"]}


def only_entry(cli) -> dict:
    report = cli.only_report()
    store.validate(report)
    (entry,) = report["connectors"]
    return entry


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_file_runs_and_verifies_on_sqlite(cli, name):
    result = cli("bench", f"{name}.toml", *SMALL[name], "--seconds", "1", "--warmup", "0.2", "--concurrency", "3",
                 "--quiet")
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    assert report["parameters"]["scenario"]["file"].endswith(f"scenarios/{name}.toml")
    entry = only_entry(cli)
    assert entry["committed"] > 50
    assert entry["verification"]["checked"] and entry["verification"]["passed"], entry["verification"]
    assert {op["name"] for op in entry["operations"]} == set(scenario_files.load(
        scenario_files.builtin_dir() / f"{name}.toml", connectors.sql_dialects()).operation_names())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_file_runs_and_verifies_on_postgres(cli, postgres, name):
    result = cli("bench", f"{name}.toml", *SMALL[name], "--connectors", "postgres", "--seconds", "1", "--warmup",
                 "0.2", "--concurrency", "3", "--quiet", env={"PG_URL": postgres.url})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50
    assert entry["verification"]["passed"], entry["verification"]


def test_each_operation_of_the_mix_has_its_own_counts_and_latency(cli):
    result = cli("bench", "write.toml", *SMALL["write"], "--operations", "2000", "--seconds", "60", "--warmup", "0",
                 "--concurrency", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    ops = {op["name"]: op for op in entry["operations"]}
    assert list(ops) == ["users", "posts", "tags", "user_posts", "posts_tags"]
    assert sum(op["committed"] for op in ops.values()) == entry["committed"]
    assert sum(op["failed"] for op in ops.values()) == entry["failed"]
    for op in ops.values():
        assert op["latency"]["count"] == op["committed"] + op["rejected"] == op["histogram"]["count"]
    # Inserting a post (title and a paragraph of body) takes longer than a link row, at the median.
    assert ops["posts"]["latency"]["mean"] > 0 and ops["user_posts"]["latency"]["mean"] > 0


def test_file_defined_test1_makes_the_same_transfers_as_the_builtin_one(cli):
    """Same statements, same draws from the same seed: the two leave identical balances."""
    def balances(*args) -> list:
        result = cli("bench", *args, "--seed", "7", "--operations", "3000", "--seconds", "60", "--warmup", "0",
                     "--concurrency", "1", "--quiet")
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(cli.runs / "db" / "loadbench.sqlite") as conn:
            return conn.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()

    builtin = balances("test-1", "--accounts", "300", "--alpha", "1.1")
    toml = cli.cwd / "t1.toml"
    toml.write_text((scenario_files.builtin_dir() / "test-1.toml").read_text().replace("alpha = 0.5", "alpha = 1.1"))
    assert balances(str(toml), "--set", "accounts=300") == builtin


def test_vars_are_overridden_and_derived_vars_follow(cli):
    result = cli("prep", "tpcb", "--set", "scale=2", "--set", "accounts=100")
    assert result.returncode == 0, result.stderr
    assert "2 pgbench_branches, 20 pgbench_tellers, 100 pgbench_accounts" in result.stdout
    with sqlite3.connect(cli.runs / "db" / "loadbench.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM pgbench_tellers").fetchone() == (20,)


def test_the_null_connector_runs_a_file_scenario_without_sql(cli):
    result = cli("bench", "tpcb", "--connectors", "null", "--seconds", "0.3", "--warmup", "0", "--quiet")
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 10_000
    assert entry["verification"] == {"checked": False, "reason": "the connector keeps no data"}


def test_a_failed_verification_names_the_check(cli, tmp_path):
    scenario = tmp_path / "count.toml"
    scenario.write_text(textwrap.dedent("""
        [tables.t]
        sqlite = "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v INTEGER)"
        [ops.add]
        sql = "INSERT INTO t (v) VALUES (:v)"
        params.v = { generator = "uniform", min = 1, max = 9 }
        [[verify]]
        name = "one row per insert, plus one"
        sql = "SELECT count(*) FROM t"
        expect = "committed(add) + 1"
    """))
    result = cli("bench", str(scenario), "--operations", "50", "--seconds", "30", "--warmup", "0", "--concurrency",
                 "1", "--quiet")
    assert result.returncode == 1
    assert "verification failed: one row per insert, plus one: got 50, expected 51" in result.stderr
    check = only_entry(cli)["verification"]["checks"][0]
    assert (check["actual"], check["expected"], check["passed"]) == (50, 51, False)


VALID = """
[tables.accounts]
sqlite = "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"
[ops.transfer]
sql = "UPDATE accounts SET balance = balance - :amount WHERE id = :from"
params.amount = { generator = "uniform", min = 1, max = 100 }
params.from = { generator = "zipf", n = 100, alpha = 0.5 }
"""

MALFORMED = {
    "bad toml": ("[ops.transfer\n", "invalid TOML: Expected ']' at the end of a table declaration (at line 1"),
    "unknown generator": (VALID.replace('generator = "uniform"', 'generator = "gaussian"'),
                          "ops.transfer.params.amount: unknown generator 'gaussian'"),
    "missing parameter": (VALID.replace("params.from = { generator = \"zipf\", n = 100, alpha = 0.5 }\n", ""),
                          "ops.transfer.sql: parameter :from is not declared in ops.transfer.params"),
    "unused parameter": (VALID + 'params.extra = { generator = "constant", value = 1 }\n',
                         "ops.transfer.params.extra: is declared but no statement uses it"),
    "sql that does not prepare": (VALID.replace("balance - :amount", "balanse - :amount"),
                                  "ops.transfer.sql: does not prepare on sqlite: no such column: balanse"),
    "ddl that does not run": (VALID.replace("INTEGER NOT NULL)", "INTEGER NOT NULL"),
                              "tables.accounts: does not prepare on sqlite: incomplete input"),
    "no ddl for the dialect": (VALID.replace("sqlite = ", "postgres = "), "tables.accounts: no DDL for sqlite"),
    "zero weight": (VALID.replace("[ops.transfer]\n", "[ops.transfer]\nweight = 0\n"),
                    "ops.transfer.weight: must be > 0"),
    "negative alpha": (VALID.replace("alpha = 0.5", "alpha = -1"), "ops.transfer.params.from.alpha: must be a finite number >= 0"),
    "min above max": (VALID.replace("max = 100", "max = 0"), "ops.transfer.params.amount: min 1 > max 0"),
    "unknown var": (VALID.replace("n = 100", 'n = "accountz"'), "ops.transfer.params.from.n: unknown var 'accountz'"),
    "unknown pool": (VALID.replace('generator = "uniform", min = 1, max = 100', 'generator = "pool", pool = "names"'),
                     "ops.transfer.params.amount.pool: unknown pool 'names'"),
    "unknown faker provider": (VALID + '[pools.names]\nfaker = "not_a_provider"\n',
                               "pools.names.faker: unknown Faker provider 'not_a_provider'"),
    "unknown key": (VALID + "[ops.transfer.retry]\n", "ops.transfer.retry: unknown key"),
    "no operation": ('[tables.t]\nsqlite = "CREATE TABLE t (id INTEGER)"\n', "ops: no operation"),
    "bad expectation": (VALID + '[[verify]]\nsql = "SELECT 1"\nexpect = "committed(withdraw)"\n',
                        "verify[0].expect: 'committed(withdraw)': no operation 'withdraw'"),
    "exact mix with fractional weights": ('mix = "exact"\n' + VALID.replace("[ops.transfer]\n", "[ops.transfer]\nweight = 0.5\n"),
                                          "ops.transfer.weight: an exact mix needs integer weights"),
    "distinct from a later parameter": (VALID.replace("alpha = 0.5 }", 'alpha = 0.5, distinct_from = "to" }'),
                                        "ops.transfer.params.from.distinct_from: must name an earlier parameter"),
    # What only the schema states (the loader ignores distinct_from on a named generator).
    "against the schema": (VALID + '[generators.g]\ngenerator = "uniform"\nmin = 1\nmax = 2\ndistinct_from = 5\n',
                           "generators.g.distinct_from: 5 is not of type 'string' (schema/scenario-v1.schema.json)"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_file_gets_its_specific_error_before_any_load(cli, case):
    text, message = MALFORMED[case]
    (cli.cwd / "broken.toml").write_text(text)
    result = cli("bench", "broken.toml", "--seconds", "1")
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("loadbench: error: broken.toml: ")
    assert message in lines[0]
    assert cli.reports() == []
    assert not (cli.runs / "db" / "loadbench.sqlite").exists()  # nothing touched the database


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_file_follows_the_schema(name):
    path = scenario_files.builtin_dir() / f"{name}.toml"
    jsonschema.validate(scenario_files.tomllib.loads(path.read_text()), scenario_files.schema(),
                        cls=jsonschema.Draft202012Validator)


# The loader's own rules name these first (MALFORMED); the schema states them too.
@pytest.mark.parametrize("case, where", [
    ("unknown generator", "ops.transfer.params.amount.generator: 'gaussian' is not one of"),
    ("zero weight", "ops.transfer.weight: 0 is less than or equal to the minimum of 0"),
    ("negative alpha", "ops.transfer.params.from.alpha: -1 is less than the minimum of 0"),
    ("unknown key", "ops.transfer: Additional properties are not allowed ('retry' was unexpected)"),
    ("no operation", "top level: 'ops' is a required property"),
])
def test_the_schema_refuses_the_structural_mistakes_the_loader_refuses(case, where):
    doc = scenario_files.tomllib.loads(MALFORMED[case][0])
    with pytest.raises(ConfigError) as refused:
        scenario_files.check_schema(Path("broken.toml"), doc)
    assert str(refused.value).startswith(f"broken.toml: {where}")
    assert "\n" not in str(refused.value)


def test_sql_that_postgres_refuses_is_reported_with_its_message(cli, postgres):
    (cli.cwd / "broken.toml").write_text(VALID.replace("sqlite = ", "postgres = ").replace("INTEGER", "bigint")
                                         .replace("balance - :amount", "balanse - :amount"))
    result = cli("bench", "broken.toml", "--connectors", "postgres", env={"PG_URL": postgres.url})
    assert result.returncode == 2
    assert ('broken.toml: ops.transfer.sql: does not prepare on postgres: column "balanse" does not exist'
            in result.stderr)
    assert postgres.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'loadbench_check'") == "0"


def test_a_missing_file_and_an_unknown_test_are_clear(cli):
    result = cli("bench", "nowhere/else.toml")
    assert result.returncode == 2 and "nowhere/else.toml: no such scenario file" in result.stderr
    result = cli("bench", "test-9")
    assert result.returncode == 2 and "unknown test 'test-9' (known: test-1, write, tpcb" in result.stderr


def test_test1_flags_do_not_apply_to_files(cli):
    result = cli("bench", "tpcb", "--alpha", "1")
    assert result.returncode == 2
    assert "--alpha applies to test-1 only" in result.stderr


def test_placeholders_skip_literals_comments_and_casts():
    sql = "SELECT ':no', \":nor\", x::bigint, :a -- :c\n + :b /* :d */ + :a"
    assert scenario_files.to_positional(sql, "$") == (
        "SELECT ':no', \":nor\", x::bigint, $1 -- :c\n + $2 /* :d */ + $1", ["a", "b"])
    assert scenario_files.to_positional("VALUES (:x, :y)", "?") == ("VALUES (?1, ?2)", ["x", "y"])
