"""Runs that finish at once into one runs/ keep every report and every results line, and each line
points at the report of its own run: report names are claimed atomically (link(2), never
overwriting) and results.jsonl is appended under a lock."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import clean_env

RUNS = 8


def test_eight_runs_at_once_leave_eight_reports_and_eight_lines_each_pointing_at_its_own(tmp_path):
    # The null connector, a short window and no warmup: the eight finish within a second or two of
    # each other, so their reports are named in the same second and must take suffixes.
    procs = [subprocess.Popen([sys.executable, "-m", "loadbench", "bench", "--connectors", "null", "--seconds", "0.3",
                               "--warmup", "0", "--concurrency", "1", "--seed", str(1000 + i), "--quiet"],
                              cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(RUNS)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0] * RUNS, [err for _, err in outs]
    runs = tmp_path / "runs"
    reports = sorted(runs.glob("*.json"))
    assert len(reports) == RUNS
    assert not [p.name for p in runs.iterdir() if p.name.endswith(".tmp")]
    lines = [json.loads(line) for line in (runs / "results.jsonl").read_text().splitlines()]
    assert len(lines) == RUNS
    assert len({line["report"] for line in lines}) == RUNS
    seeds = []
    for line in lines:
        report = json.loads((tmp_path / line["report"]).read_text())
        assert report["parameters"]["seed"] == line["parameters"]["seed"]  # the line's own run's data
        assert report["connectors"][0]["tps"] == line["points"][0]["connectors"][0]["tps"]
        seeds.append(report["parameters"]["seed"])
    assert sorted(seeds) == [1000 + i for i in range(RUNS)]
    # Each printed its own report's name.
    printed = sorted(out.strip().splitlines()[-1].removeprefix("report: ") for out, _ in outs)
    assert printed == sorted(line["report"] for line in lines)
