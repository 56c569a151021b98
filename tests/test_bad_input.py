"""Bad input: one clear line on stderr, exit code 2, no traceback and no report."""

from __future__ import annotations

import pytest

CASES = {
    "unknown test": (["bench", "test-9"], {}, "unknown test 'test-9'"),
    "unknown connector": (["bench", "--connectors", "oracle"], {}, "unknown connector 'oracle'"),
    "negative alpha": (["bench", "--alpha", "-0.5"], {}, "--alpha must be >= 0"),
    "nan alpha": (["bench", "--alpha", "nan"], {}, "--alpha must be a finite number"),
    "zero concurrency": (["bench", "--concurrency", "0"], {}, "--concurrency must be >= 1"),
    "zero seconds": (["bench", "--seconds", "0"], {}, "--seconds must be >= 0.1"),
    "negative seconds": (["bench", "--seconds", "-3"], {}, "--seconds must be >= 0.1"),
    "a window too short to measure": (["bench", "--seconds", "0.001"], {}, "--seconds must be >= 0.1"),
    "failure share above one": (["bench", "--max-failure-share", "1.5"], {}, "--max-failure-share must be in [0, 1]"),
    "negative warmup": (["bench", "--warmup", "-1"], {}, "--warmup must be >= 0"),
    "text concurrency": (["bench", "--concurrency", "many"], {}, "'many' is not a valid integer"),
    "unknown flag": (["bench", "--turbo"], {}, "No such option '--turbo'"),
    "one account": (["bench", "--accounts", "1"], {}, "--accounts must be in [2, 2^53]"),
    "zero max tries": (["bench", "--max-tries", "0"], {}, "--max-tries must be >= 1"),
    "missing sqlite dir": (["bench"], {"SQLITE_FILE": "/nonexistent/dir/x.db"}, "directory /nonexistent/dir does not exist"),
    "bad sqlite mode": (["bench"], {"SQLITE_MODE": "turbo"}, "SQLITE_MODE='turbo' (from environment) must be one of"),
    "bad accounts env": (["bench"], {"SEED_ACCOUNTS": "lots"}, "SEED_ACCOUNTS='lots' (from environment) must be an integer"),
    "bad verify env": (["bench"], {"VERIFY": "maybe"}, "VERIFY='maybe' (from environment) must be true or false"),
    "missing env file": (["bench", "--env-file", "nope.env"], {}, "env file nope.env does not exist"),
    "env file a directory": (["bench", "--env-file", "."], {}, "env file . is a directory"),
    "sessions beyond any process": (["bench", "--connectors", "null", "--concurrency", "100000000"], {},
                                    "--concurrency must be at most 1,048,576 sessions"),
    "a window beyond the clock": (["bench", "--connectors", "null", "--seconds", "1e10"], {},
                                  "--seconds must be at most 31,536,000 s"),
    "a warmup beyond the clock": (["bench", "--connectors", "null", "--warmup", "1e12"], {},
                                  "--warmup must be at most 31,536,000 s"),
    "rate above the clock": (["bench", "--connectors", "null", "--rate", "1e300"], {}, "--rate must be at most 1e+09"),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_and_exit_2(cli, name):
    args, env, message = CASES[name]
    extra = [] if "--seconds" in args else ["--seconds", "1"]
    result = cli(*args, *extra, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("loadbench: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert cli.reports() == []


@pytest.mark.parametrize("dotenv, message", [
    ("SEED_ACCOUNTS=abc\n", "SEED_ACCOUNTS='abc' (from .env) must be an integer"),
    ("SQLITE_MODE=wal\nthis line is not a setting\n", ".env:2: cannot parse this line (expected NAME=VALUE)"),
    ("SEED_INITIAL_BALANCE=-4\n", "SEED_INITIAL_BALANCE='-4' (from .env) must be an integer >= 0"),
])
def test_malformed_dotenv_is_one_line_and_exit_2(cli, dotenv, message):
    (cli.cwd / ".env").write_text(dotenv)
    result = cli("bench", "--seconds", "1")
    assert result.returncode == 2
    assert result.stderr.startswith("loadbench: error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cli.reports() == []


def test_dotenv_values_apply_and_environment_wins(cli):
    (cli.cwd / ".env").write_text("SEED_ACCOUNTS=300\nSEED_INITIAL_BALANCE=7\n")
    result = cli("bench", "--connectors", "null", "--seconds", "0.2", "--warmup", "0", "--quiet",
                 env={"SEED_INITIAL_BALANCE": "9"})
    assert result.returncode == 0, result.stderr
    params = cli.only_report()["parameters"]
    assert params["accounts"] == 300
    assert params["initial_balance"] == 9


def test_flags_win_over_environment(cli):
    result = cli("bench", "--connectors", "null", "--seconds", "0.2", "--warmup", "0", "--accounts", "64", "--quiet",
                 env={"SEED_ACCOUNTS": "1000"})
    assert result.returncode == 0, result.stderr
    assert cli.only_report()["parameters"]["accounts"] == 64


def test_a_runs_dir_that_cannot_be_created_is_bad_input(cli):
    (cli.cwd / "blocker").write_text("a file where a directory should be")
    result = cli("bench", "--connectors", "null", "--seconds", "0.2", "--runs-dir", "blocker/runs")
    assert result.returncode == 2
    assert result.stderr.startswith("loadbench: error: cannot create runs directory blocker/runs")
    assert len(result.stderr.strip().splitlines()) == 1
