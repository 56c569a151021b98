"""demo: checks the systems, offers to start the ones loadbench can, runs them side by side with
bars growing with live TPS (plain lines when not on a terminal), and writes a normal report."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from rich.console import Console

from loadbench import _core, connectors
from loadbench.cli import demo
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import RunFailed
from loadbench.report import store
from loadbench.run.config import PlanOptions, make_plan
from loadbench.settings import Settings


def test_demo_runs_non_interactively_with_plain_lines(cli):
    result = cli("demo", "--seconds", "1.8", "--concurrency", "3", "--accounts", "200", "--systems", "sqlite,null")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "sqlite: prep" in lines and "null: opening" in lines
    assert any(line.startswith("sqlite: 1 s: ") and line.endswith(" ms") for line in lines)
    assert any(line.startswith("null: done: ") for line in lines)
    report = cli.only_report()
    store.validate(report)
    p = report["parameters"]
    assert (p["concurrency"], p["alpha"], p["connectors"]) == (3, 1.5, ["sqlite", "null"])  # alpha 1.5: hot accounts
    assert report["connectors"][0]["collision_rate"] > 0.05
    assert "report: runs/" in result.stdout


def test_demo_defaults_to_the_configured_systems(cli):
    result = cli("demo", "--seconds", "0.3", "--concurrency", "2", "--accounts", "100", "--no-animation")
    assert result.returncode == 0, result.stderr
    assert cli.only_report()["parameters"]["connectors"] == ["sqlite"]  # null is never a default


def spec(name: str, url: str = "") -> ConnectorSpec:
    # A system reached by URL: the rpc kind's module says where its URL points.
    return ConnectorSpec(name=name, kind="rpc", options={"url": url} if url else {}, target="t")


@pytest.fixture
def ghostdb(monkeypatch):
    """A system in the registry that is not configured until loadbench starts it."""
    state = {"up": False, "started_in": None}

    def start(runs_dir):
        state.update(up=True, started_in=runs_dir)

    kind = connectors.ConnectorType("ghostdb", "a test system", "GHOST_URL",
                                    lambda *args: spec("ghostdb") if state["up"] else None)
    monkeypatch.setitem(connectors.CONNECTOR_TYPES, "ghostdb", kind)
    monkeypatch.setitem(demo.LOCAL_STARTS, "ghostdb", start)
    return state


SERVICES_DIR = Path(tempfile.gettempdir()) / "loadbench-test-demo-no-services"  # never created: none runs
SETTINGS = Settings({"LOADBENCH_SERVICES_DIR": str(SERVICES_DIR)}, {}, None)


def test_a_system_loadbench_can_start_is_offered_and_skipped_when_declined(ghostdb, tmp_path):
    said, asked = [], []
    chosen = demo.choose(SETTINGS, tmp_path, None, ask=lambda q: asked.append(q) or False, say=said.append)
    assert chosen == "sqlite"  # the default selection: every startable or configured system, null never
    assert "ghostdb is not set up. Start one locally?" in asked
    assert "postgres is not set up. Start one locally?" in asked  # PostgreSQL is offered the same way
    assert ("ghostdb: skipped: not configured (set GHOST_URL; or start one with "
            "`loadbench services up ghostdb`)") in said
    assert ghostdb["up"] is False


def test_an_accepted_start_adds_the_system(ghostdb, tmp_path):
    assert demo.choose(SETTINGS, tmp_path, "ghostdb,null", ask=lambda q: True, say=print) == "ghostdb,null"
    assert ghostdb["started_in"] == SERVICES_DIR  # where `services` keeps its state: the settings' one


def test_a_configured_system_that_does_not_answer_is_skipped(monkeypatch, tmp_path):
    kind = connectors.ConnectorType("remote", "a server", "REMOTE_URL",
                                    lambda *args: spec("remote", "postgresql://u:pw@127.0.0.1:1/db"))
    monkeypatch.setitem(connectors.CONNECTOR_TYPES, "remote", kind)
    said = []
    assert demo.choose(SETTINGS, tmp_path, "sqlite,remote", ask=lambda q: True, say=said.append) == "sqlite"
    assert said[0].startswith("remote: skipped: nothing answers at 127.0.0.1:1")
    with pytest.raises(RunFailed, match="no system to run"):
        demo.choose(SETTINGS, tmp_path, "remote", ask=lambda q: True, say=said.append)


def test_the_systems_it_can_start_are_the_connectors_of_the_local_services():
    assert set(demo.LOCAL_STARTS) == {c for s in connectors.local_services().values() for c in s.connectors}
    assert {"postgres", "mysql", "redis", "supabase-rest"} <= set(demo.LOCAL_STARTS)
    assert demo.SERVICE_OF["mysql"] == "mariadb" and demo.SERVICE_OF["supabase-rest"] == "postgrest"


def test_a_start_that_fails_says_why_in_one_line(tmp_path):
    not_a_directory = tmp_path / "services"
    not_a_directory.write_text("")  # `services up` refuses it before starting anything
    for connector, name in demo.SERVICE_OF.items():
        why = demo.LOCAL_STARTS[connector](not_a_directory)
        assert why == (f"`loadbench services up {name}` failed: loadbench: error: services directory "
                       f"{not_a_directory} is not a directory")


def test_bars_grow_with_live_tps_and_end_at_the_final_figure(tmp_path):
    plan = make_plan(SETTINGS, (spec("sqlite"), spec("null")), PlanOptions(runs_dir=tmp_path, seconds=1))
    out = io.StringIO()
    display = demo.BarsDisplay(plan, animate=True, console=Console(file=out, force_terminal=True, width=100))
    with display:
        display.phase(plan.connectors[0], "opening")
        for tps in (100.0, 400.0):
            display.progress(plan.connectors[0], _core.Progress(
                phase=_core.Phase.measuring, elapsed_seconds=1.0, committed=10, last_second_tps=tps,
                last_second_p99_ns=2_000_000, reconnects=0))
        display.finished(plan.connectors[0], {"status": "ok", "tps": 300.0, "latency": {"p99": 2.0}})
    assert demo.bar(300, 300) == "█" * demo.BAR_WIDTH
    assert demo.bar(150, 300) == "█" * (demo.BAR_WIDTH // 2)
    assert demo.bar(1, 300) == "▏"
    assert "400" in out.getvalue() and "300" in out.getvalue() and "█" * 10 in out.getvalue()


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "0"], "--concurrency must be >= 1, got 0"),
    (["--alpha", "-1"], "--alpha must be >= 0"),
    (["--systems", "oracle"], "unknown connector 'oracle'"),
])
def test_bad_demo_input_is_one_line_and_exit_2(cli, args, message):
    result = cli("demo", "--seconds", "0.2", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("loadbench: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert cli.reports() == []
