"""Resources: every run records what it cost the machine (CPU and memory of the harness and of the
database server), sampled about once a second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from loadbench import _core
from loadbench.connectors import postgres
from loadbench.connectors.spec import ConnectorSpec
from loadbench.report import store
from loadbench.run import resources as resource_usage


def test_a_run_records_the_harness_cost_and_says_why_sqlite_has_no_server(cli):
    report = json.loads(cli.bench("--seconds", "2.2", "--concurrency", "2", "--accounts", "500").read_text())
    store.validate(report)
    resources = report["connectors"][0]["resources"]
    assert resources["harness"]["pids"] != []
    assert resources["harness"]["cpu_percent_mean"] > 20  # two workers transfer money back to back
    assert resources["harness"]["rss_bytes_mean"] > 1_000_000
    assert resources["server"] is None
    assert "embedded" in resources["server_note"]
    # About one sample a second, two of them in the measured window.
    measuring = [s for s in resources["samples"] if s["phase"] == "measuring"]
    assert len(measuring) >= 2
    assert all(0.9 <= s["duration_s"] <= 1.6 for s in measuring)


def test_server_pid_samples_that_process_and_its_children(cli):
    # A "server" whose parent sleeps while its child burns one core: only the children make it busy.
    burner = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'while True: pass'])"
    server = subprocess.Popen([sys.executable, "-c", burner])
    try:
        time.sleep(0.3)  # the child exists
        path = cli.bench("--connectors", "null", "--seconds", "2.2", "--concurrency", "1",
                         "--server-pid", str(server.pid))
    finally:
        for child in psutil.Process(server.pid).children(recursive=True):
            child.kill()
        server.kill()
        server.wait()
    resources = json.loads(path.read_text())["connectors"][0]["resources"]
    assert resources["server"]["pids"] == [server.pid]
    # The parent alone would be ~0 %; its child spins (on two shared cores, beside the run).
    assert resources["server"]["cpu_percent_mean"] > 10
    assert max(s["server_processes"] for s in resources["samples"]) == 2


def test_an_unknown_server_pid_is_bad_input(cli):
    result = cli("bench", "--seconds", "0.2", "--server-pid", "999999999")
    assert result.returncode == 2
    assert result.stderr.strip() == "loadbench: error: --server-pid 999999999: no such process"
    assert cli.reports() == []


def test_server_pids_asks_the_finder_of_the_connector_kind(monkeypatch, tmp_path):
    spec = ConnectorSpec(name="pg", kind="postgres", options={}, target="t")
    assert resource_usage.server_pids(spec, tmp_path) == []
    monkeypatch.setattr(postgres, "server_pids", lambda s, runs: postgres.postmaster_pid(runs / "services" / "data"))
    (tmp_path / "services" / "data").mkdir(parents=True)
    (tmp_path / "services" / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n")
    assert resource_usage.server_pids(spec, tmp_path, extra=(os.getpid(), 13)) == [os.getpid(), 13]


def test_postmaster_pid_reads_the_data_directory(tmp_path):
    assert postgres.postmaster_pid(tmp_path) == []  # not running: no postmaster.pid
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n1700000000\n5432\n")
    assert postgres.postmaster_pid(tmp_path) == [os.getpid()]
    (tmp_path / "postmaster.pid").write_text("999999999\n")
    assert postgres.postmaster_pid(tmp_path) == []  # stale file of a dead server


def progress(phase: _core.Phase) -> _core.Progress:
    return _core.Progress(phase=phase, elapsed_seconds=0.0, committed=0, last_second_tps=0.0,
                          last_second_p99_ns=0, reconnects=0)


def test_the_averages_cover_the_measured_window_weighted_by_interval():
    clock = iter([0.0, 0.5, 1.5, 2.0, 4.0, 4.0]).__next__
    sampler = resource_usage.ResourceSampler("null", [], clock=clock)
    sampler.harness.sample = iter([(0.0, 0, 1), (0.0, 0, 1), (10.0, 100, 1), (30.0, 300, 1)]).__next__
    sampler.start()                                   # t=0, primes
    sampler.on_progress(progress(_core.Phase.warmup))     # t=0.5: sessions open, primes again
    sampler.on_progress(progress(_core.Phase.warmup))     # t=1.5: 1 s later, a warmup sample (10 %)
    sampler.on_progress(progress(_core.Phase.measuring))  # t=2.0: too soon
    sampler.on_progress(progress(_core.Phase.measuring))  # t=4.0: a 2.5 s measuring sample (30 %)
    summary = sampler.finish()                            # t=4.0: nothing left to sample
    assert [s["phase"] for s in summary["samples"]] == ["warmup", "measuring"]
    assert summary["harness"]["cpu_percent_mean"] == pytest.approx(30.0)
    assert summary["harness"]["rss_bytes_max"] == 300
