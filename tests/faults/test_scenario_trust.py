"""Scenario files: a file under a Unicode name runs under that name, and a file is code, as a
pgbench script is. The check before load executes its [tables] DDL (in a transaction rolled back
on PostgreSQL), so a superuser role is warned of, once, before anything runs."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from loadbench.report import store

INSERTS = textwrap.dedent("""\
    [tables.notes]
    sqlite = "CREATE TABLE notes (id INTEGER PRIMARY KEY)"
    postgres = "CREATE TABLE notes (id bigint PRIMARY KEY)"
    [ops.note]
    sql = "INSERT INTO notes (id) VALUES (:id)"
    params.id = { generator = "sequence" }
""")
RUN = ("--seconds", "0.2", "--warmup", "0", "--concurrency", "1", "--quiet")


def test_a_file_under_a_unicode_name_runs_under_that_name(cli):
    (cli.cwd / "überweisung_ε.toml").write_text(INSERTS)
    result = cli("bench", "überweisung_ε.toml", "--connectors", "sqlite", *RUN)
    assert result.returncode == 0, result.stderr
    (path,) = cli.reports()
    assert path.name.startswith("überweisung_ε-")
    assert store.load(path)["test"] == "überweisung_ε"


def test_a_file_name_that_cannot_name_a_report_says_the_name_comes_from_it(cli):
    (cli.cwd / "my notes.toml").write_text(INSERTS)
    result = cli("bench", "my notes.toml", "--connectors", "sqlite", *RUN)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "loadbench: error: my notes.toml: the scenario's name is taken from the file name, and 'my notes' cannot "
        "be one: it must be letters or digits (any script), '_', '-' or '.', not starting with '.', at most 200 "
        "bytes in UTF-8 (it names the report file); add name = \"...\" to the file"]
    (cli.cwd / "named.toml").write_text('name = "my notes"\n' + INSERTS)
    result = cli("bench", "named.toml", "--connectors", "sqlite", *RUN)
    assert result.returncode == 2 and "named.toml: name: must be letters or digits" in result.stderr


WARNING = "the role is a superuser, and {file} is code run with its rights"


def test_a_superuser_is_warned_before_the_check_runs_the_files_ddl(cli, postgres):
    if postgres.cluster is None:
        pytest.skip("COPY ... TO PROGRAM would run on someone else's server")
    # A directory the server's OS user can write to: the program runs there, as that user.
    marks = Path(tempfile.mkdtemp(prefix="loadbench-trust-"))
    os.chmod(marks, 0o777)
    try:
        ddl = f"CREATE TABLE notes (id bigint PRIMARY KEY); COPY (SELECT 1) TO PROGRAM 'touch {marks}/ran'"
        # The operation does not prepare: the check refuses the file, after running its DDL.
        (cli.cwd / "code.toml").write_text(INSERTS.replace('postgres = "CREATE TABLE notes (id bigint PRIMARY KEY)"',
                                                           f'postgres = "{ddl}"')
                                           .replace("INSERT INTO notes (id)", "INSERT INTO notes (nope)"))
        result = cli("bench", "code.toml", "--connectors", "postgres", *RUN, env={"PG_URL": postgres.url})
        assert result.returncode == 2
        warning, error = result.stderr.splitlines()
        assert warning.startswith("loadbench: warning: postgres: " + WARNING.format(file="code.toml"))
        assert "COPY ... TO PROGRAM" in warning
        assert error.startswith("loadbench: error: code.toml: ops.note.sql: does not prepare on postgres")
        assert (marks / "ran").exists()  # the check executed the DDL, as the README says
        # ... in a transaction it rolled back: no table is left.
        assert postgres.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'notes'") == "0"
        assert cli.reports() == []
    finally:
        shutil.rmtree(marks, ignore_errors=True)


def test_no_warning_for_a_role_that_is_not_a_superuser_or_a_shipped_file(cli, postgres):
    if postgres.cluster is None:
        pytest.skip("needs a cluster of our own to create a role")
    drop = "DROP OWNED BY lb_plain CASCADE; DROP ROLE lb_plain"
    if postgres.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'lb_plain'") == "1":
        postgres.sql(drop)  # left by an interrupted run
    postgres.sql("CREATE ROLE lb_plain LOGIN; GRANT CREATE ON DATABASE postgres TO lb_plain; "
                 "GRANT CREATE ON SCHEMA public TO lb_plain")
    plain = f"postgresql://lb_plain@127.0.0.1:{postgres.cluster.port}/postgres"
    (cli.cwd / "notes.toml").write_text(INSERTS)
    result = cli("bench", "notes.toml", "--connectors", "postgres", *RUN, env={"PG_URL": plain})
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    result = cli("bench", "test-1.toml", "--set", "accounts=100", "--connectors", "postgres", *RUN,
                 env={"PG_URL": postgres.url})  # a superuser, but a file that ships with loadbench
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    postgres.sql(drop)
