"""Ctrl-C landing between a sweep's runs (in the next run's checks, before it measured anything)
keeps the points already measured: the sweep report is written with them and marked interrupted.

The interrupt is injected where it lands (the next run's preflight), the runs are real SQLite runs.
"""

from __future__ import annotations

import json

import pytest

from loadbench.cli import main
from loadbench.run import runner


def test_an_interrupt_in_a_later_points_checks_keeps_the_points_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("SQLITE_FILE", str(tmp_path / "sweep.sqlite"))
    monkeypatch.setenv("LOADBENCH_RUNS_DIR", str(tmp_path / "runs"))
    real_preflight = runner.preflight
    calls = []

    def preflight_interrupted_the_second_time(plan):
        calls.append(plan.concurrency)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_preflight(plan)

    monkeypatch.setattr(runner, "preflight", preflight_interrupted_the_second_time)
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--connectors", "sqlite", "--accounts", "1000", "--warmup", "0",
                  "--seconds", "0.3", "--concurrency-tests", "1", "2", "1", "0.5"])
    assert exited.value.code == 130
    assert calls == [1, 2]
    (report_path,) = (tmp_path / "runs").glob("*.json")
    report = json.loads(report_path.read_text())
    assert report["kind"] == "sweep" and report["status"] == "interrupted"
    (point,) = report["points"]  # the first point, whole; no empty second point
    assert point["values"] == {"concurrency": 1}
    (iteration,) = point["iterations"]
    (entry,) = iteration["connectors"]
    assert entry["status"] == "ok" and entry["committed"] > 0
