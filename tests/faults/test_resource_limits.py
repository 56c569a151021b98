"""A run the machine cannot hold is refused before anything starts: one line saying what it needs
and what the limit is, exit 2, no report, no prep. What it needs comes from the core's estimate
(the real sizes of its structures), which is checked here against the memory a real run takes."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time

import psutil

from loadbench import _core
from loadbench.run import capacity, config as config_defaults
from tests.conftest import clean_env


def needs(concurrency: int, connector: dict, scenario: dict | None = None) -> dict:
    """The core's estimate for test-1 at ``concurrency`` sessions (defaults as the CLI's)."""
    scenario = scenario or {"name": "test-1", "accounts": 1000}
    config = _core.RunConfig(
        concurrency=concurrency, threads=0, open_parallelism=config_defaults.DEFAULT_OPEN_PARALLELISM,
        warmup_seconds=1.0, seconds=config_defaults.DEFAULT_SECONDS, seed=1, stream_offset=0,
        max_tries=config_defaults.DEFAULT_MAX_TRIES, op_timeout_seconds=config_defaults.DEFAULT_OP_TIMEOUT,
        operations=0, rate=0.0, arrival=_core.Arrival.poisson, max_lag_seconds=0.0)
    return _core.resource_needs(config, scenario, connector)


def test_100000_sqlite_sessions_are_refused_up_front(cli, tmp_path):
    db = tmp_path / "never.sqlite"
    began = time.monotonic()
    result = cli("bench", "--connectors", "sqlite", "--concurrency", "100000", "--seconds", "1",
                 env={"SQLITE_FILE": str(db)})
    took = time.monotonic() - began
    assert result.returncode == 2, result.stderr
    assert took < 5  # Python's start and the check: no session, no thread, no memory grown
    (line,) = result.stderr.splitlines()
    assert cli.reports() == [] and not db.exists()  # before prep: nothing written
    expected = needs(100000, {"kind": "sqlite", "options": {"file": str(db), "mode": "wal"}})
    assert expected["threads"] == 100002 and expected["blocking"]
    available, _ = capacity.memory_available()
    if expected["memory_bytes"] > available:  # this machine: about 60 GiB needed, far more than it has
        m = re.fullmatch(r"loadbench: error: sqlite: --concurrency 100000 needs about ([\d.,]+) GiB of memory "
                         r"\(([\d.,]+) KiB per sqlite session\) but ([\d.,]+) GiB is available \((.+)\)", line)
        assert m, line
        assert float(m[1].replace(",", "")) == round(expected["memory_bytes"] / 2**30)
        assert float(m[2].replace(",", "")) == round(expected["bytes_per_session"] / 1024)
        assert abs(float(m[3].replace(",", "")) * 2**30 - available) < 0.15 * available
    else:  # a machine with that much memory still has a thread or mapping limit below 100,002
        assert re.fullmatch(r"loadbench: error: sqlite: --concurrency 100000 needs [\d,]+ (threads|memory mappings) "
                            r".* but .*", line), line


def _limit_descriptors(n: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


def test_a_low_descriptor_limit_refuses_many_network_sessions(cli, tmp_path):
    # Nothing listens on port 1: the refusal must come before any connection is tried.
    url = "postgresql://loadbench@127.0.0.1:1/loadbench"
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "loadbench", "bench", "--connectors", "postgres", "--concurrency",
                           "500", "--seconds", "1"], cwd=tmp_path, env=clean_env({"PG_URL": url}),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          preexec_fn=_limit_descriptors(256))
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - began < 5
    (line,) = proc.stderr.splitlines()
    expected = needs(500, {"kind": "postgres", "options": {"url": url}})
    assert expected["descriptors_per_connection"] == 2
    m = re.fullmatch(r"loadbench: error: postgres: --concurrency 500 needs about ([\d,]+) file descriptors "
                     r"\(2 per connection, 500 connections\) but the limit is 256 \(RLIMIT_NOFILE, (\d+) open; "
                     r"raise it with ulimit -n\)", line)
    assert m, line
    assert int(m[1].replace(",", "")) == expected["descriptors"] >= 1000
    assert 3 <= int(m[2]) < 64  # what Python had open when it checked
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.json"))


def peak_rss_of_bench(cli, concurrency: int, env: dict) -> int:
    """The highest resident size of a short SQLite bench at ``concurrency``, sampled every 20 ms."""
    proc = cli.popen("bench", "--connectors", "sqlite", "--skip-prep", "--accounts", "1000", "--concurrency",
                     str(concurrency), "--seconds", "1.5", "--warmup", "0", "--no-verify", "--quiet", env=env)
    process = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return peak


def test_the_memory_estimate_is_within_a_factor_of_two_of_a_real_run(cli, tmp_path):
    db = tmp_path / "rss.sqlite"
    env = {"SQLITE_FILE": str(db)}
    assert cli("prep", "--connectors", "sqlite", "--accounts", "1000", env=env).returncode == 0
    connector = {"kind": "sqlite", "options": {"file": str(db), "mode": "wal"}}
    grown = peak_rss_of_bench(cli, 2000, env) - peak_rss_of_bench(cli, 1, env)
    estimated = needs(2000, connector)["memory_bytes"] - needs(1, connector)["memory_bytes"]
    assert 0.5 < grown / estimated < 2, f"grown {grown / 2**20:.0f} MiB, estimated {estimated / 2**20:.0f} MiB"


def test_a_sweep_is_refused_before_its_first_point_runs(cli, tmp_path):
    db = tmp_path / "never.sqlite"
    result = cli("bench", "--connectors", "sqlite", "--concurrency-tests", "1", "100001", "100000", "0.5",
                 "--seconds", "0.2", env={"SQLITE_FILE": str(db)})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("loadbench: error: sqlite: --concurrency 100001 needs "), line
    assert cli.reports() == [] and not db.exists()  # not even the first point (1 session) ran
