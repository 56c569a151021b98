"""``bench --profile``: flamegraphs of the harness and of the server over the measured window,
recorded by a real perf and drawn by the packaged renderer (skipped, with the reason, where perf may
not sample processes or the renderer is missing)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loadbench.report import store
from loadbench.run import profiling

_WHY_NOT = profiling.unavailable()
needs_perf = pytest.mark.skipif(_WHY_NOT is not None, reason=f"cannot profile here: {_WHY_NOT}")


def _frames(svg: Path) -> set[str]:
    """The function names of an inferno SVG (each frame's <title>NAME (N samples, P%)</title>)."""
    return {m.group(1).strip() for m in re.finditer(r"<title>([^<(]+?)\s*\(", svg.read_text())}


@needs_perf
def test_a_profiled_sqlite_run_draws_the_harness_worker_loop_and_sqlite(cli):
    path = cli.bench("--connectors", "sqlite", "--seconds", "3", "--concurrency", "2", "--accounts", "500",
                     "--profile")
    report = json.loads(path.read_text())
    store.validate(report)
    profile = report["connectors"][0]["profile"]
    assert profile["server"] is None  # SQLite runs inside the harness
    assert profile["harness"]["svg"], profile["notes"]
    svg = path.parent / profile["harness"]["svg"]
    frames = _frames(svg)
    # The engine's blocking worker loop (a thread per SQLite session) and SQLite's own functions.
    assert "loadbench::run_blocking_session" in frames, sorted(frames)[:50]
    assert any(f.startswith("sqlite3") for f in frames), sorted(frames)[:50]


@needs_perf
def test_a_profiled_postgres_run_draws_the_server_executor(cli, postgres):
    if postgres.cluster is None:
        pytest.skip("LOADBENCH_PG_URL points at a server loadbench does not know the processes of")
    path = cli.bench("--connectors", "postgres", "--seconds", "3", "--concurrency", "4", "--accounts", "500",
                     "--profile", "--server-pid", str(postgres.cluster.postmaster_pid()),
                     env={"PG_URL": postgres.url})
    report = json.loads(path.read_text())
    store.validate(report)
    profile = report["connectors"][0]["profile"]
    server = profile["server"]
    assert server["svg"], profile["notes"]
    assert len(server["pids"]) > 1  # the postmaster and its backends
    frames = _frames(path.parent / server["svg"])
    assert frames & {"ExecutorRun", "standard_ExecutorRun", "PortalRun"}, sorted(frames)[:80]
    assert profile["harness"]["svg"] is not None


def test_without_perf_the_run_goes_on_and_says_so_in_one_line(cli, tmp_path):
    # A PATH without perf (nor the renderer): one warning line, the run measured, no profile.
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = cli("bench", "--connectors", "sqlite", "--seconds", "2", "--warmup", "0", "--quiet", "--accounts", "200",
                 "--profile", env={"PATH": str(empty)})
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "--profile" in line]
    assert len(lines) == 1 and "perf not found" in lines[0], result.stderr
    report = cli.only_report()
    assert "profile" not in report["connectors"][0]
    assert report["connectors"][0]["status"] == "ok"


def test_profile_lines_name_each_svg_and_each_note(tmp_path):
    report = {"connectors": [{"name": "pg", "profile": {
        "harness": {"pids": [1], "svg": "a-harness.svg"}, "server": {"pids": [2], "svg": None},
        "notes": ["server: perf recorded nothing: x"]}}, {"name": "null"}]}
    assert profiling.profile_lines(report, tmp_path) == [
        f"profile: pg harness: {tmp_path / 'a-harness.svg'}", "profile: pg server: perf recorded nothing: x"]


def test_stems_are_file_names():
    assert profiling.stem_for("/x/my scenario.toml", "pg/1", "20260101T000000Z", 8) == \
        "my_scenario-20260101T000000Z-pg_1-c8"

