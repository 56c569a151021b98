"""A server whose metrics endpoint stalls after the run (SpacetimeDB's /v1/metrics, read before the
sessions open and after they close for ``server_committed``) costs the cross-check, never the
window's figures, and never holds up an interrupted run: after Ctrl-C or SIGTERM the second read
waits at most 1 s, and the command still exits within 2 s."""

from __future__ import annotations

import signal
import time

import pytest

from loadbench.report import store
from tests.faults.test_signals import assert_ended_promptly, signal_and_time, wait_for_line

pytest.importorskip("aiohttp")

from tests.fakes import spacetimedb  # noqa: E402
from tests.fakes.server import FakeServer  # noqa: E402


def env_for(fake) -> dict[str, str]:
    return {"STDB_URL": fake.url, "STDB_MODULE": "loadbench-test1", "USE_SPACETIME_METRICS_ENDPOINT": "1"}


def test_a_stalled_metrics_read_after_the_run_keeps_the_windows_figures(cli):
    with FakeServer(spacetimedb.make_app(metrics_answers=1)) as fake:
        result = cli("bench", "--connectors", "spacetimedb", "--seconds", "1", "--warmup", "0", "--accounts", "500",
                     "--concurrency", "2", "--quiet", env=env_for(fake))
    assert result.returncode == 0, result.stderr
    report = cli.only_report()
    store.validate(report)
    (entry,) = report["connectors"]
    assert entry["status"] == "ok" and entry["committed"] > 0 and entry["verification"]["passed"]
    assert "server_committed" not in entry
    assert entry["server_committed_error"].startswith("cannot read the server's metrics at ")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_does_not_wait_for_a_stalled_metrics_endpoint(cli, sig):
    with FakeServer(spacetimedb.make_app(metrics_answers=1)) as fake:
        proc = cli.popen("bench", "--connectors", "spacetimedb", "--seconds", "60", "--warmup", "0",
                         "--accounts", "500", "--concurrency", "2", env=env_for(fake))
        try:
            wait_for_line(proc, "spacetimedb: opening")
            time.sleep(1.0)  # transfers commit
            took, _, err = signal_and_time(proc, sig)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert_ended_promptly(took, proc, err)
    report = cli.only_report()
    (entry,) = report["connectors"]
    assert report["interrupted"] is True and entry["committed"] > 0
    assert "server_committed_error" in entry
