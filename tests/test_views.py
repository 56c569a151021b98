"""What the views show of a run beyond its summary: failures by kind each second (engine to report,
schema, DataFrame, HTML page, plot), faults on every view (console table, HTML table and TPS
band, plot), the flamegraphs linked from the HTML page and the ``distributed`` section's schema.
Real runs (SQLite, a PostgreSQL the faults hit), pages opened in headless Chromium."""

from __future__ import annotations

import json
import os

import pytest

from loadbench.connectors.postgres_cluster import PostgresCluster
from loadbench.report import sections, store, table
from tests.browser import visit

# SQLite without a busy timeout: 4 writers on 100 hot accounts fail many transfers with busy.
BUSY_RUN = ("--connectors", "sqlite", "--seconds", "3", "--concurrency", "4", "--accounts", "100", "--alpha", "1.5",
            "--max-failure-share", "1")


@pytest.fixture(scope="module")
def busy_report(tmp_path_factory):
    from tests.conftest import Cli

    cli = Cli(tmp_path_factory.mktemp("busy"))
    path = cli.bench(*BUSY_RUN, env={"SQLITE_MODE": "default"})
    return cli, path


def test_each_second_counts_its_failures_by_kind_and_they_add_up_to_the_totals(busy_report):
    _, path = busy_report
    report = store.load(path)
    (entry,) = report["connectors"]
    points = entry["series"]["points"]
    assert entry["errors"].get("busy", 0) > 0, entry["errors"]
    for p in points:
        assert sum(p["errors"].values()) == p["failed"], p
    summed: dict[str, int] = {}
    for p in points:
        for kind, n in p["errors"].items():
            summed[kind] = summed.get(kind, 0) + n
    assert summed == entry["errors"]
    assert sum(p["failed"] for p in points) == entry["failed"]
    # The DataFrame carries them per second too.
    frame = table.frame([(path, report)])
    rates = frame.loc[0, "failed_series"]
    assert set(rates) == set(entry["errors"])
    assert rates["busy"] == [p["errors"].get("busy", 0) / p["duration_s"] for p in points]


def test_a_report_whose_kinds_do_not_add_up_is_refused_in_one_line(busy_report, tmp_path):
    cli, path = busy_report
    report = json.loads(path.read_text())
    point = next(p for p in report["connectors"][0]["series"]["points"] if p["failed"])
    point["errors"]["busy"] = point["errors"].get("busy", 0) + 1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(report))
    result = cli("report", str(tampered))
    assert result.returncode == 2
    assert "add up to" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_html_page_draws_failures_by_kind_per_second(busy_report, tmp_path):
    cli, path = busy_report
    out = tmp_path / "busy.html"
    assert cli("report", str(path), "--html", str(out)).returncode == 0
    text = out.read_text()
    assert "run totals" not in text  # the old note that kinds were run totals is gone
    with visit(out.as_uri()) as page:
        drawn = page.charts()
        assert drawn["errors"] > 0, drawn
        legend = page.page.text_content("[data-chart=errors] .legend")
        assert "sqlite: busy" in legend, legend
        assert page.page.query_selector("[data-faults]") is None  # no fault, no fault table
        assert page.page.query_selector("[data-audit]") is None  # no --audit, no audit table
        variance = page.screenshot(tmp_path / "busy.png")
        assert page.console_errors == [] and page.external_requests == []
    assert variance > 8


def test_plot_draws_failures_by_kind_when_something_failed(busy_report, tmp_path):
    cli, path = busy_report
    result = cli("plot", str(path), "--format", "svg", "--out", str(tmp_path / "figs"))  # its text searchable
    assert result.returncode == 0, result.stderr
    svg = (tmp_path / "figs" / f"{path.stem}-failures.svg").read_text()
    assert "sqlite: busy" in svg and "Failed operations per second, by kind" in svg


# --- faults -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def victim():
    """A PostgreSQL of this module's own: the fault terminates its sessions."""
    if os.geteuid() != 0:
        pytest.skip("loadbench finds a loopback server's processes by its port only as root")
    cluster = PostgresCluster.create(fsync=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def test_a_fault_is_shown_in_the_console_the_html_page_and_the_plot(cli, victim, tmp_path):
    result = cli("bench", "--connectors", "postgres", "--seconds", "8", "--warmup", "0", "--concurrency", "4",
                 "--accounts", "500", "--fault", "terminate@6s", "--quiet", env={"PG_URL": victim.url,
                                                                                  "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    (path,) = cli.reports()
    report = store.load(path)
    (fault,) = report["connectors"][0]["faults"]
    assert fault["outcome"] == "done", fault
    # Every session's connection was cut: the failures during it are connection failures, by kind.
    assert fault["errors_during"].get("connection", 0) >= 1, fault
    assert sum(fault["errors_during"].values()) == fault["failed_during"]

    # The console: a fault table under the summary, within 100 columns.
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "faults" in line and "test-1" in line)
    shown = "\n".join(lines[start:])
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert "terminate@6s" in shown and "connection" in shown
    recovery = f"{fault['recovery_s']:.1f} s" if fault["recovered"] else "not recovered"
    assert recovery in shown and f"{fault['injected_at_s']:.2f} s" in shown

    # The HTML page: the fault's row, and a band on the TPS chart.
    out = tmp_path / "fault.html"
    assert cli("report", str(path), "--html", str(out)).returncode == 0
    with visit(out.as_uri()) as page:
        cells = [td.inner_text() for td in page.page.query_selector_all("[data-faults] tbody td")]
        assert cells[:3] == ["postgres", "terminate@6s", f"{fault['injected_at_s']:.2f} s"], cells
        assert any("connection" in c for c in cells), cells
        bands = page.page.query_selector_all("[data-chart=tps] .shapelayer path")
        assert len(bands) >= 2  # the band and the line at the injection
        assert "terminate@6s" in page.page.text_content("[data-chart=tps] .annotation")
        variance = page.screenshot(tmp_path / "fault.png")
        assert page.console_errors == [] and page.external_requests == []
    assert variance > 8

    # The plot: the fault marked on the TPS timeline.
    assert cli("plot", str(path), "--format", "svg", "--out", str(tmp_path / "figs")).returncode == 0
    assert "terminate@6s" in (tmp_path / "figs" / f"{path.stem}-timeline.svg").read_text()


def test_a_fault_row_words_the_report_entry():
    fault = {"kind": "freeze", "spec": "freeze@4s+3s", "at_s": 4.0, "duration_s": 3.0, "injected_at_s": 4.012,
             "ended_at_s": 7.02, "outcome": "done", "baseline_tps": 900.0, "failed_during": 5,
             "errors_during": {"timeout": 4, "connection": 1}, "rejected_during": 0, "reconnects_during": 1,
             "first_commit_after_s": 3.988, "recovery_s": None, "recovered": False}
    row = sections.fault_row("postgres", fault)
    # Lasted: from its injection to its end (ended_at_s - injected_at_s), late by the progress poll.
    assert row == {"connector": "postgres", "fault": "freeze@4s+3s", "injected": "4.01 s", "lasted": "3.01 s",
                   "failed during, by kind": "timeout 4, connection 1", "first commit": "≤ 4.0 s",
                   "recovery": "not recovered"}
    # Cut short (an interrupt 0.65 s in): 0.65 s, not the scheduled 3; not ended at all: D.
    assert sections.fault_row("postgres", {**fault, "ended_at_s": 4.662})["lasted"] == "0.65 s"
    assert sections.fault_row("postgres", {**fault, "ended_at_s": None})["lasted"] == "3.00 s"
    assert sections.fault_lasted_s({**fault, "ended_at_s": 4.662}) == pytest.approx(0.65)
    older = {k: v for k, v in fault.items() if k != "errors_during"}
    assert sections.fault_row("postgres", older)["failed during, by kind"] == "5 (kinds not recorded)"


# --- audit ----------------------------------------------------------------------------------------

def test_the_audit_is_shown_in_the_html_page(cli, tmp_path):
    path = cli.bench("--connectors", "sqlite", "--audit", "--seconds", "1", "--concurrency", "2", "--accounts", "100",
                     env={"SQLITE_FILE": str(tmp_path / "audit.sqlite"), "SQLITE_MODE": "wal"})
    report = json.loads(path.read_text())
    a = report["connectors"][0]["audit"]
    assert a["passed"] and a["server_confirmed"] > 0, a
    # The same run as if the server had lost 3 acknowledged commits (a lossy configuration).
    lost = json.loads(path.read_text())
    la = lost["connectors"][0]["audit"]
    la.update(lost_writes=3, committed_in_ledger=a["committed_in_ledger"] - 3, ledger_rows=a["ledger_rows"] - 3,
              passed=False, violation="audit: 3 acknowledged commits missing from the ledger (lost writes) "
              "(journal_mode=wal, synchronous=OFF)", durability={"journal_mode": "wal", "synchronous": "OFF"})
    lost_path = tmp_path / "lost.json"
    lost_path.write_text(json.dumps(lost))

    out = tmp_path / "audit.html"
    assert cli("report", str(path), str(lost_path), "--html", str(out)).returncode == 0
    with visit(out.as_uri()) as page:
        tables = page.page.query_selector_all("[data-audit]")
        assert len(tables) == 2
        header = [th.inner_text() for th in tables[0].query_selector_all("thead th")]
        assert header == list(sections.AUDIT_COLUMNS)
        passed = [td.inner_text() for td in tables[0].query_selector_all("tbody td")]
        assert passed == ["sqlite", "passed", f"{a['server_confirmed']:,}", f"{a['client_committed']:,}", "0",
                          f"{a['ambiguous_committed']:,}", f"{a['ambiguous_not_committed']:,}", "0",
                          "journal_mode=wal, synchronous=NORMAL"], passed
        cells = tables[1].query_selector_all("tbody td")
        failed = [td.inner_text() for td in cells]
        assert failed[1].startswith("FAILED: audit: 3 acknowledged commits missing") and failed[4] == "3", failed
        assert failed[-1] == "journal_mode=wal, synchronous=OFF"
        assert "bad" in (cells[1].get_attribute("class") or "")
        assert "lost writes: acknowledged commits missing from the ledger" in page.page.text_content("body")
        assert page.console_errors == [] and page.external_requests == []


def test_an_audit_row_words_the_report_entry():
    a = {"server_confirmed": 1200, "client_committed": 1195, "ambiguous_committed": 5, "ambiguous_not_committed": 7,
         "lost_writes": 0, "lost_updates": 0, "passed": True, "violation": None, "checked": True,
         "durability": {"synchronous_commit": "on", "fsync": "on"}}
    assert sections.audit_row("postgres", a) == {
        "connector": "postgres", "audit": "passed", "server-confirmed": "1,200", "client-acknowledged": "1,195",
        "lost writes": "0", "ambiguous committed": "5", "ambiguous not committed": "7", "lost updates": "0",
        "durability": "fsync=on, synchronous_commit=on"}
    unread = {"checked": False, "violation": "audit: the ledger could not be read: gone", "durability": {}}
    row = sections.audit_row("postgres", unread)
    assert row["audit"] == "FAILED: audit: the ledger could not be read: gone" and row["lost writes"] == "-"


# --- profiles -------------------------------------------------------------------------------------

def test_the_html_page_links_the_flamegraphs_beside_the_report(cli, tmp_path):
    from loadbench.run import profiling

    why_not = profiling.unavailable()
    if why_not is not None:
        pytest.skip(f"cannot profile here: {why_not}")
    path = cli.bench("--connectors", "sqlite", "--seconds", "2", "--concurrency", "2", "--accounts", "300", "--profile")
    svg = store.load(path)["connectors"][0]["profile"]["harness"]["svg"]
    pages = tmp_path / "pages"
    pages.mkdir()
    out = pages / "profiled.html"  # elsewhere than the report: the link is relative to the page
    assert cli("report", str(path), "--html", str(out)).returncode == 0
    with visit(out.as_uri()) as page:
        link = page.page.query_selector("a[data-profile=harness]")
        assert link is not None and link.inner_text() == svg
        target = (out.parent / link.get_attribute("href")).resolve()
        assert target == (path.parent / svg).resolve() and target.is_file()
        assert page.console_errors == [] and page.external_requests == []


def test_a_profile_name_with_a_directory_in_it_is_never_linked(busy_report):
    _, path = busy_report
    report = json.loads(path.read_text())
    report["connectors"][0]["profile"] = {"tool": "perf", "frequency_hz": 99, "call_graph": "dwarf",
                                          "harness": {"pids": [1], "svg": "../../etc/x.svg"},
                                          "server": {"pids": [2], "svg": "server.svg"}, "notes": []}
    store.validate(report)
    assert sections.profile_links(report) == [("sqlite", "server", "server.svg")]


# --- the distributed section's schema ------------------------------------------------------------

def _with_distributed(report: dict, **changes: object) -> dict:
    generator = {"address": "tcp://127.0.0.1:4001", "host": "127.0.0.1", "pid": 11, "sessions": 2, "stream_offset": 0,
                 "status": "ok", "error": None, "committed": 10, "tps": 10.0, "p99_ms": 1.5, "measured_seconds": 1.0,
                 "clock_offset_ms": 0.1, "start_skew_ms": 0.4}
    section = {"scheduler": "tcp://127.0.0.1:4000", "epoch": 1, "epochs": 1, "generators": [generator],
               "partial": False, "failed_generators": [], "start_skew_max_ms": 0.4,
               "coordination": {"to_go_seconds": 0.7, "window_end_to_result_seconds": 0.2}, "refused_workers": []}
    section.update(changes)
    report["connectors"][0]["distributed"] = section
    return report


@pytest.mark.parametrize("changes, where", [
    ({"epoch": 0}, "distributed/epoch"),
    ({"generators": [{"address": "a"}]}, "distributed/generators/0"),
    ({"partial": "no"}, "distributed/partial"),
    ({"coordination": {"to_go_seconds": 1}}, "distributed/coordination"),
    ({"surprise": 1}, "distributed"),
])
def test_a_malformed_distributed_section_is_refused_on_load(busy_report, tmp_path, changes, where):
    cli, path = busy_report
    store.validate(_with_distributed(json.loads(path.read_text())))  # the well-formed one passes
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with_distributed(json.loads(path.read_text()), **changes)))
    result = cli("report", str(bad))
    assert result.returncode == 2
    assert where in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_sweeps_runs_count_their_failures_by_kind_each_second(cli, tmp_path):
    result = cli("bench", "--contention-tests", "1.5", "1.5", "1", "4", "--connectors", "sqlite", "--seconds", "1.2",
                 "--warmup", "0", "--accounts", "100", "--max-failure-share", "1", "--quiet",
                 env={"SQLITE_MODE": "default"})
    assert result.returncode == 0, result.stderr
    (path,) = cli.reports()
    report = store.load(path)
    entry = report["points"][0]["iterations"][0]["connectors"][0]
    assert entry["errors"].get("busy", 0) > 0, entry["errors"]
    assert all(sum(p["errors"].values()) == p["failed"] for p in entry["series"]["points"])
    # A fault in one of a sweep's runs is named with the run's point in every view.
    entry["faults"] = [{"kind": "restart", "spec": "restart@1s", "at_s": 1.0, "duration_s": 0.0, "outcome": "done",
                        "injected_at_s": 1.0, "ended_at_s": 1.4, "failed_during": 0, "errors_during": {},
                        "first_commit_after_s": None, "recovery_s": None, "recovered": False}]
    store.validate(report)
    assert [(r["connector"], r["fault"], r["lasted"]) for r in sections.fault_rows(report)] == \
        [("sqlite alpha=1.5", "restart@1s", "0.40 s")]



def test_distributed_series_merge_sums_failures_by_kind_exactly():
    from loadbench import _core
    from loadbench.distributed import results

    kind = _core.ErrorKind

    def point(t: float, failed: dict) -> _core.SecondPoint:
        return _core.SecondPoint(t_s=t, duration_s=1.0, committed=10, rejected=0, failed=sum(failed.values()),
                                 p50_ns=1, p95_ns=2, p99_ns=3, max_ns=4, errors=failed)

    a = [point(1, {kind.busy: 3}), point(2, {kind.connection: 5, kind.busy: 1})]
    b = [point(1.01, {kind.busy: 2, kind.timeout: 7}), point(2.01, {}), point(2.5, {kind.other: 1})]
    merged = results.merge_series([a, b])
    assert [p.errors for p in merged] == [{kind.busy: 5, kind.timeout: 7}, {kind.connection: 5, kind.busy: 1},
                                          {kind.other: 1}]
    assert [p.failed for p in merged] == [sum(p.errors.values()) for p in merged]
