"""compare: two reports (or the latest results of two git shas) side by side; a change is marked
only when it is beyond the measured noise, and an injected slowdown is caught."""

from __future__ import annotations

import json
import subprocess

import pytest

from loadbench.analysis import compare
from loadbench.errors import ConfigError

NULL_RUN = ("--connectors", "null", "--seconds", "2.2", "--concurrency", "1")  # two full seconds: a noise
SLOW = {"NULL_DELAY_NS": "2000"}  # the null connector spins 2 µs per operation


def changes(cli, a: str, b: str, *flags: str) -> dict[str, dict]:
    result = cli("compare", a, b, "--json", *flags)
    assert result.returncode == 0, result.stderr
    return {c["metric"]: c for c in json.loads(result.stdout)["changes"]}


@pytest.fixture(scope="module")
def fast_and_slow(tmp_path_factory):
    from tests.conftest import Cli

    cli = Cli(tmp_path_factory.mktemp("compare"))
    return cli, cli.bench(*NULL_RUN), cli.bench(*NULL_RUN, env=SLOW)


def test_an_injected_slowdown_is_marked_worse(fast_and_slow):
    cli, fast, slow = fast_and_slow
    found = changes(cli, str(fast), str(slow))
    assert found["tps"]["verdict"] == "WORSE"
    assert found["tps"]["change_percent"] < -50
    assert found["tps"]["t"] < -3
    assert found["p50_ms"]["verdict"] == "WORSE"
    # The other way round it is an improvement.
    assert changes(cli, str(slow), str(fast))["tps"]["verdict"] == "BETTER"


def test_a_run_compared_with_itself_shows_no_change(fast_and_slow):
    cli, fast, _ = fast_and_slow
    found = changes(cli, str(fast), str(fast))
    assert found["tps"]["verdict"] == "within noise" and found["tps"]["change_percent"] == 0
    assert {found[m]["verdict"] for m in ("p50_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms")} == {"same"}


def test_fail_on_regression_exits_1_only_for_a_regression(fast_and_slow):
    cli, fast, slow = fast_and_slow
    assert cli("compare", str(fast), str(slow), "--fail-on-regression").returncode == 1
    assert cli("compare", str(slow), str(fast), "--fail-on-regression").returncode == 0


def test_the_table_shows_both_sides_and_the_change(fast_and_slow):
    cli, fast, slow = fast_and_slow
    out = cli("compare", str(fast), str(slow)).stdout
    assert f"A = {fast}" in out and f"B = {slow}" in out
    assert "TPS" in out and "WORSE" in out and "%" in out


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_compare_finds_the_latest_results_of_two_git_shas_and_skips_a_corrupt_line(cli):
    git(cli.cwd, "init", "-q", "-b", "main")
    git(cli.cwd, "commit", "-q", "--allow-empty", "-m", "before")
    before = git(cli.cwd, "rev-parse", "HEAD")
    cli.bench(*NULL_RUN)
    git(cli.cwd, "commit", "-q", "--allow-empty", "-m", "after")
    after = git(cli.cwd, "rev-parse", "HEAD")
    cli.bench(*NULL_RUN, env=SLOW)
    with (cli.runs / "results.jsonl").open("a") as f:
        f.write('{"timestamp": "cut off\n')
    for a, b in ((before[:8], after[:8]), ("HEAD~1", "main")):
        result = cli("compare", a, b, "--json")
        assert result.returncode == 0, result.stderr
        warnings = result.stderr.splitlines()
        assert warnings[0] == "loadbench: warning: runs/results.jsonl:3: not a results line, skipped"  # read once
        # The results lines keep each run's setup: the slowed null connector is named as a difference.
        assert warnings[1:] == ["loadbench: warning: A and B ran under different setups (1 difference); a change "
                                "below may come from them, not from the code:", "  connector null: delay_ns: A 0, B 2000"]
        compared = json.loads(result.stdout)
        assert compared["a"].startswith(before[:12]) and compared["b"].startswith(after[:12])
        assert {c["metric"]: c["verdict"] for c in compared["changes"]}["tps"] == "WORSE"


@pytest.mark.parametrize("args, message", [
    (["missing.json", "other.json"], "report missing.json does not exist"),
    (["abcdef12", "beefcafe"], "'abcdef12' is neither a report file nor a git sha or ref with results in"),
    (["only-one"], "compare needs A and B"),
    (["a.json", "b.json", "--refs", "x", "y"], "give either A and B or --refs REF1 REF2, not both"),
    (["--refs", "HEAD", "HEAD", "--bench-args", "--seconds '1"], "--bench-args: No closing quotation"),
    (["--refs", "HEAD", "HEAD", "--bench-args", "--json"], "--bench-args: --json is set by compare --refs"),
    (["--refs", "HEAD", "HEAD"], "--repo .: not a git checkout"),
])
def test_bad_compare_input_is_one_line_and_exit_2(cli, args, message):
    result = cli("compare", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("loadbench: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def headline(tps: float, sd: float, n: int, p50: float = 1.0) -> dict:
    return {"name": "x", "status": "ok", "tps": tps, "p50_ms": p50, "p95_ms": p50, "p99_ms": p50, "p99.9_ms": p50,
            "max_ms": p50, "significant_figures": 3,
            "noise": {"source": "seconds", "n": n, "mean": {"tps": tps, "p50_ms": p50, "p95_ms": p50, "p99_ms": p50},
                      "stddev": {"tps": sd, "p50_ms": 0.01, "p95_ms": 0.01, "p99_ms": 0.01}}}


def test_the_rule_is_three_standard_errors_of_the_difference():
    # SE = sqrt(2 * 10^2 / 8) = 5: a change of 14 is noise, 16 is not.
    assert compare.judge(headline(1000, 10, 8), headline(1014, 10, 8), "tps")[2] == compare.NOISE
    assert compare.judge(headline(1000, 10, 8), headline(1016, 10, 8), "tps")[2] == compare.BETTER
    assert compare.judge(headline(1000, 10, 8), headline(984, 10, 8), "tps")[2] == compare.WORSE
    # One full second on a side: no noise measure, no verdict.
    assert compare.judge(headline(1000, 0, 1), headline(500, 0, 1), "tps")[2] == compare.UNKNOWN


def test_latency_within_the_histogram_precision_is_the_same():
    a, b = headline(1000, 10, 8, p50=1.000), headline(1000, 10, 8, p50=1.0015)
    assert compare.judge(a, b, "p50_ms")[2] == compare.SAME  # 0.15 % < 2 x 0.1 %
    assert compare.judge(a, headline(1000, 10, 8, p50=1.1), "p50_ms")[2] == compare.WORSE  # lower is better
    assert compare.judge(a, headline(1000, 10, 8, p50=1.1), "p99.9_ms")[2] == compare.UNKNOWN


def test_sweeps_are_compared_point_by_point_and_need_a_point_in_common():
    def side(alphas):
        return compare.Side("s", [{"values": {"alpha": a}, "connectors": [headline(1000, 10, 8)]} for a in alphas])

    found = compare.compare(side([0.0, 0.5]), side([0.5, 1.0]))
    assert {c.point for c in found} == {"alpha=0.5"}
    with pytest.raises(ConfigError, match="no point in common"):
        compare.compare(side([0.0]), side([1.0]))


def _report(connectors: dict[str, dict], **parameters: object) -> dict:
    return {"kind": "single", "test": "test-1", "machine": {},
            "parameters": {"seconds": 8, "connectors": list(connectors)} | parameters,
            "connectors": [{"name": name, "settings": settings} for name, settings in connectors.items()]}


def test_faults_and_the_audit_are_setup_differences_and_older_reports_have_none():
    # Review finding 6: A ran one fault without --audit, B four with it; only seconds was named.
    a = _report({"postgres": {}}, faults=["restart@3s"], audit=False)
    b = _report({"postgres": {}}, faults=["kill@2s", "freeze@5s+1.5s"], audit=True)
    assert compare.differences(a, b) == [
        {"what": "faults", "a": "restart@3s", "b": "kill@2s, freeze@5s+1.5s"},
        {"what": "audit", "a": None, "b": "on"}]
    older = _report({"postgres": {}})  # from before faults and audit were recorded
    assert [compare.describe_difference(d) for d in compare.differences(older, b)] == [
        "faults: A (none), B kill@2s, freeze@5s+1.5s", "audit: A (none), B on"]
    # No fault and no audit: the same as an older report.
    assert compare.differences(older, _report({"postgres": {}}, faults=[], audit=False)) == []


def test_a_connector_on_one_side_only_is_named_once_not_by_each_setting():
    a = _report({"sqlite": {"journal_mode": "wal"}, "null": {"delay_ns": 0, "sessions": 1}})
    b = _report({"sqlite": {"journal_mode": "delete"}})
    assert [compare.describe_difference(d) for d in compare.differences(a, b)] == [
        "connectors: A sqlite,null, B sqlite", "connector sqlite: journal_mode: A wal, B delete"]


def test_a_report_records_its_faults_and_audit(cli):
    report = json.loads(cli.bench("--connectors", "sqlite", "--seconds", "0.3", "--warmup", "0", "--accounts", "100",
                                  "--audit").read_text())
    assert report["parameters"]["faults"] == [] and report["parameters"]["audit"] is True


def test_the_table_gives_each_latency_in_its_own_unit():
    from rich.console import Console

    from loadbench.cli.display import compare_table

    # Review finding 7: the null connector's latencies showed as "0.000 -> 0.000 ... BETTER".
    rows = [compare.Change("", "null", "p50_ms", 0.000041, 0.00004, -2.3, -4.0, compare.BETTER),
            compare.Change("", "sqlite", "p99_ms", 3.9, 1250.0, 32000.0, 9.0, compare.WORSE)]
    console = Console(width=200, record=True)
    console.print(compare_table(rows, "a.json", "b.json"))
    out = console.export_text()
    assert "0.000" not in out
    null_row = next(line for line in out.splitlines() if "null" in line)
    assert "41 ns" in null_row and "40 ns" in null_row and "BETTER" in null_row
    sqlite_row = next(line for line in out.splitlines() if "sqlite" in line)
    assert "3.90 ms" in sqlite_row and "1.25 s" in sqlite_row and "p99 " in sqlite_row
