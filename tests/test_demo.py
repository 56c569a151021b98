"""demo: checks the systems, offers to start the ones loadbench can, runs them side by side with
bars growing with live TPS (plain lines when not on a terminal), and writes a normal report."""

from __future__ import annotations

import io

from rich.console import Console

from loadbench import demo, reports
from loadbench.config import ConnectorSpec, Settings, make_plan


def test_demo_runs_non_interactively_with_plain_lines(cli):
    result = cli("demo", "--seconds", "1.2", "--concurrency", "3", "--accounts", "200", "--systems", "sqlite,null")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "sqlite: prep" in lines and "null: opening" in lines
    assert any(line.startswith("sqlite: 1 s: ") and line.endswith(" ms") for line in lines)
    assert any(line.startswith("null: done: ") for line in lines)
    report = cli.only_report()
    reports.validate(report)
    p = report["parameters"]
    assert (p["concurrency"], p["alpha"], p["connectors"]) == (3, 1.5, ["sqlite", "null"])  # alpha 1.5: hot accounts
    assert report["connectors"][0]["collision_rate"] > 0.05
    assert "report: runs/" in result.stdout


def test_demo_defaults_to_the_configured_systems(cli):
    result = cli("demo", "--seconds", "0.3", "--concurrency", "2", "--accounts", "100", "--no-animation")
    assert result.returncode == 0, result.stderr
    assert cli.only_report()["parameters"]["connectors"] == ["sqlite"]  # null is never a default


def spec(kind: str, url: str = "") -> ConnectorSpec:
    return ConnectorSpec(name=kind, kind=kind, options={"url": url} if url else {}, target="t")


def test_an_unreachable_system_is_offered_a_start_and_skipped_when_declined(monkeypatch):
    started = []
    monkeypatch.setitem(demo.LOCAL_SYSTEMS, "pg", demo.LocalSystem(lambda s: "refused", lambda: started.append(1)))
    said, asked = [], []
    ready = demo.available((spec("sqlite"), spec("pg")), ask=lambda q: asked.append(q) or False, say=said.append)
    assert [s.name for s in ready] == ["sqlite"]
    assert asked == ["pg is not reachable: refused. Start it locally?"] and started == []
    assert said == ["pg: skipped: refused"]


def test_an_accepted_start_that_works_keeps_the_system(monkeypatch):
    state = {"up": False}
    system = demo.LocalSystem(lambda s: None if state["up"] else "down", lambda: state.update(up=True))
    monkeypatch.setitem(demo.LOCAL_SYSTEMS, "pg", system)
    assert [s.name for s in demo.available((spec("pg"),), ask=lambda q: True, say=print)] == ["pg"]


def test_starting_postgres_without_the_services_command_says_so(monkeypatch):
    from loadbench.cli import cli

    monkeypatch.delitem(cli.commands, "services", raising=False)  # never start a real server here
    assert demo.LOCAL_SYSTEMS["postgres"].start() == "not available in this build (no `loadbench services` command)"


def test_tcp_reachability_reads_the_connector_url():
    check = demo.LOCAL_SYSTEMS["postgres"].reachable
    assert "nothing answers at 127.0.0.1:1" in check(spec("postgres", "postgresql://u:pw@127.0.0.1:1/db"))


def test_bars_grow_with_live_tps_and_end_at_the_final_figure(tmp_path):
    settings = Settings({}, {}, None)
    plan = make_plan(settings, (spec("sqlite"), spec("null")), runs_dir=tmp_path, seconds=1)
    out = io.StringIO()
    display = demo.BarsDisplay(plan, animate=True, console=Console(file=out, force_terminal=True, width=100))
    with display:
        display.phase(plan.connectors[0], "opening")
        for tps in (100.0, 400.0):
            display.progress(plan.connectors[0], {"phase": "measuring", "elapsed_s": 1.0, "committed": 10,
                                                  "last_second_tps": tps, "last_second_p99_ns": 2e6})
        display.finished(plan.connectors[0], {"status": "ok", "tps": 300.0, "latency": {"p99": 2.0}})
    assert demo.bar(300, 300) == "█" * demo.BAR_WIDTH
    assert demo.bar(150, 300) == "█" * (demo.BAR_WIDTH // 2)
    assert demo.bar(1, 300) == "▏"
    assert "400" in out.getvalue() and "300" in out.getvalue() and "█" * 10 in out.getvalue()
