"""Gates for CI and compatibility: --threshold (exit 99 on a breach, 2 when malformed, 1 still
for a failed run), keynote-2's keys read by a reader that does what keynote-2's scripts do,
compare naming what differs between two setups, and a server whose errors carry no kind."""

from __future__ import annotations

import copy
import json
import math
import statistics

import pytest

from loadbench.analysis import compare
from loadbench.errors import ConfigError
from loadbench.report import build, store, thresholds
from tests.fakes import keynote_rpc
from tests.fakes.server import FakeServer

NULL = ("--connectors", "null", "--seconds", "1.2", "--concurrency", "1")
RPC_BENCH = ("bench", "--connectors", "sqlite-rpc", "--seconds", "1", "--warmup", "0", "--accounts", "100",
             "--concurrency", "4", "--quiet")


# --- thresholds: parsing -------------------------------------------------------------------------

@pytest.mark.parametrize("text, connector, metric, op, limit", [
    ("p99_ms<50", None, "p99_ms", "<", 50.0),
    (" tps >= 1_000 ", None, "tps", ">=", 1000.0),
    ("postgres:p99_ms<20", "postgres", "p99_ms", "<", 20.0),
    ("sqlite wal-1: p99.9_ms <= 2.5", "sqlite wal-1", "p999_ms", "<=", 2.5),
    ("error_rate<0.01", None, "error_rate", "<", 0.01),
    ("max_ms>1e-3", None, "max_ms", ">", 0.001),
])
def test_a_threshold_parses_into_connector_metric_operator_and_limit(text, connector, metric, op, limit):
    t = thresholds.parse(text)
    assert (t.connector, t.metric, t.operator, t.limit) == (connector, metric, op, limit)


@pytest.mark.parametrize("text, message", [
    ("p99<50", "unknown metric 'p99'"),
    ("p99_ms=50", "expected [CONNECTOR:]METRIC OP NUMBER"),
    ("p99_ms<<50", "expected [CONNECTOR:]METRIC OP NUMBER"),
    ("p99_ms<", "expected [CONNECTOR:]METRIC OP NUMBER"),
    ("p99_ms<fast", "'fast' is not a finite number"),
    ("tps>inf", "'inf' is not a finite number"),
    ("", "expected [CONNECTOR:]METRIC OP NUMBER"),
])
def test_a_malformed_threshold_is_one_line_of_bad_input(text, message):
    with pytest.raises(ConfigError, match="--threshold") as caught:
        thresholds.parse(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_error_rate_is_failed_over_every_operation_and_rejections_are_not_errors():
    entry = {"latency": {"count": 90}, "committed": 60, "rejected": 30, "failed": 10, "tps": 6.0}
    assert thresholds.value_of(entry, "error_rate") == pytest.approx(0.1)
    assert thresholds.value_of({**entry, "failed": 0}, "error_rate") == 0
    # Nothing timed: no latency to judge (never a passing 0 ms); a connector that could not run has no value.
    assert thresholds.value_of({**entry, "latency": {"count": 0, "p99": 0.0}}, "p99_ms") is None
    assert thresholds.value_of({"name": "x", "status": "failed", "error": "refused"}, "tps") is None


# --- thresholds: bench, report, sweeps -----------------------------------------------------------

def test_thresholds_that_hold_exit_0_and_are_in_the_table_and_the_report(cli):
    result = cli("bench", "--warmup", "0", "--quiet", *NULL, "--threshold", "p99_ms<10000", "--threshold", "tps>1",
                 "--threshold", "null:error_rate<=0")
    assert result.returncode == 0, result.stderr
    assert "threshold p99_ms<10000: passed, null: p99_ms = " in result.stdout
    assert "threshold null:error_rate<=0: passed, null: error_rate = 0" in result.stdout
    report = cli.only_report()
    judged = {t["expression"]: t for t in report["thresholds"]}
    assert judged["tps>1"]["passed"] is True
    (row,) = judged["tps>1"]["results"]
    assert row["connector"] == "null" and row["actual"] == report["connectors"][0]["tps"]
    assert judged["null:error_rate<=0"]["connector"] == "null"


def test_a_breached_threshold_exits_99_and_says_which(cli):
    result = cli("bench", "--warmup", "0", "--quiet", *NULL, "--threshold", "tps>1e12", "--threshold", "p99_ms<10000")
    assert result.returncode == 99, result.stderr
    assert "threshold tps>1e12: BREACHED, null: tps = " in result.stdout
    assert "loadbench: threshold breached: tps>1e12" in result.stderr
    report = cli.only_report()
    assert report["status"] == "ok"  # the run itself went well: 99 is the gate's, not a failure
    assert [t["passed"] for t in report["thresholds"]] == [False, True]
    # --json prints the report with its verdicts, and exits 99 as well.
    as_json = cli("bench", "--warmup", "0", "--json", *NULL, "--threshold", "tps>1e12")
    assert as_json.returncode == 99 and json.loads(as_json.stdout)["thresholds"][0]["passed"] is False


@pytest.mark.parametrize("threshold, message", [
    ("p99_ms<fast", "the limit 'fast' is not a finite number"),
    ("postgres:p99_ms<20", "no connector 'postgres' in this run (connectors: null)"),
])
def test_a_malformed_threshold_exits_2_before_any_load(cli, threshold, message):
    result = cli("bench", "--warmup", "0", "--quiet", *NULL, "--threshold", threshold)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"loadbench: error: --threshold {threshold!r}: {message}"]
    assert cli.reports() == []


def test_a_failed_run_exits_1_even_when_a_threshold_is_breached_too(cli):
    # Every transfer fails: nothing committed, a failed connector; error_rate 1 breaches the threshold too.
    with FakeServer(keynote_rpc.make_app(fail_every=1)) as fake:
        result = cli(*RPC_BENCH, "--threshold", "error_rate<0.01", env={"SQLITE_RPC_URL": fake.url})
    assert result.returncode == 1, result.stderr
    report = cli.only_report()
    assert report["status"] == "failed" and report["thresholds"][0]["passed"] is False


def test_report_judges_a_stored_report_by_new_thresholds(cli):
    path = cli.bench(*NULL)
    held = cli("report", str(path), "--threshold", "tps>0")
    assert held.returncode == 0 and "threshold tps>0: passed" in held.stdout
    breached = cli("report", str(path), "--threshold", "p50_ms<0")
    assert breached.returncode == 99 and "threshold p50_ms<0: BREACHED" in breached.stdout
    bad = cli("report", str(path), "--threshold", "sqlite:tps>0")
    assert bad.returncode == 2 and "no connector 'sqlite'" in bad.stderr
    assert cli("report", str(path), "--csv", "--threshold", "tps>0").returncode == 2


def test_a_sweep_judges_every_run_of_every_point(cli):
    result = cli("bench", "--warmup", "0", "--quiet", "--connectors", "null", "--seconds", "0.3",
                 "--concurrency-tests", "1", "2", "1", "0.5", "--threshold", "tps>1")
    assert result.returncode == 0, result.stderr
    (judged,) = cli.only_report()["thresholds"]
    assert [r["point"] for r in judged["results"]] == ["concurrency=1", "concurrency=2"]
    assert judged["passed"] is True
    assert "threshold tps>1: passed, null at concurrency=2" in result.stdout


def test_stored_verdicts_must_be_what_the_figures_say(cli, tmp_path):
    report = json.loads(cli.bench(*NULL, "--threshold", "tps>1").read_text())
    tampered = copy.deepcopy(report)
    tampered["thresholds"][0]["passed"] = False
    tampered["thresholds"][0]["results"][0]["passed"] = False
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered))
    with pytest.raises(ConfigError, match="thresholds/0: its verdicts are not what the figures say"):
        store.load(path)


# --- keynote-2's keys ----------------------------------------------------------------------------

def keynote_reader(path) -> dict:
    """What keynote-2's scripts/bench-stats.py and scripts/plot-bench.py read of a results file,
    read the same way (plain json, plain key access, no loadbench code): the run's seconds,
    concurrency, accounts and alpha, and per result its system and label, TPS, samples, the
    latency percentiles, the collision figures and the per-second series for plotting."""
    with open(path) as f:
        data = json.load(f)
    out = {"seconds": data["seconds"], "concurrency": data["concurrency"], "accounts": data["accounts"],
           "alpha": data["alpha"], "systems": []}
    for result in data["results"]:
        res = result["res"]
        series = res["timeSeries"]
        out["systems"].append({
            "system": result.get("system", result["file"].replace(".ts", "")), "label": result["label"],
            "file": result["file"].replace(".ts", ""), "tps": float(res["tps"]),
            "samples": int(res["samples"]), "p50": res["p50_ms"], "p95": res["p95_ms"], "p99": res["p99_ms"],
            "collision_rate": res["collision_rate"], "collision_ops": res["collision_ops"],
            "collision_count": res["collision_count"],
            "t": [p["tSec"] for p in series], "tps_series": [p["tps"] for p in series],
            "p99_series": [p["p99_ms"] for p in series], "mean_tps": statistics.fmean(p["tps"] for p in series),
            # bench-stats.py's window statistics: samples per point, and p50/p99 where it had samples
            "point_samples": [p["samples"] for p in series],
            "p50_series": [p["p50_ms"] for p in series if p["samples"] > 0],
            "p95_series": [p["p95_ms"] for p in series],
        })
    return out


def test_keynote_scripts_read_a_loadbench_report_from_the_same_data(cli):
    path = cli.bench("--connectors", "null,sqlite", "--seconds", "1.2", "--concurrency", "2", "--alpha", "1.1",
                     "--accounts", "500")
    report = json.loads(path.read_text())
    read = keynote_reader(path)
    assert (read["seconds"], read["concurrency"], read["accounts"], read["alpha"]) == (1.2, 2, 500, 1.1)
    assert [s["system"] for s in read["systems"]] == ["null", "sqlite"]
    assert [s["file"] for s in read["systems"]] == ["null", "sqlite"]
    assert path.name.startswith("test-1-")  # the scripts glob runs/test-1-*.json
    for system, entry in zip(read["systems"], report["connectors"]):
        assert system["tps"] == entry["tps"] > 0
        assert system["samples"] == entry["committed"] + entry["rejected"]
        assert (system["p50"], system["p95"], system["p99"]) == (entry["p50_ms"], entry["p95_ms"], entry["p99_ms"])
        assert system["p99"] == pytest.approx(entry["latency"]["p99"])
        assert system["collision_rate"] == entry["contention"]["collision_rate"]
        assert len(system["t"]) == len(entry["series"]["points"]) >= 1
        assert math.isfinite(system["mean_tps"])
        assert sum(system["point_samples"]) == sum(p["committed"] + p["rejected"] for p in entry["series"]["points"])


def test_a_connector_that_could_not_run_has_no_keynote_result(cli):
    with FakeServer(keynote_rpc.make_app(seed_fails=True)) as fake:  # prep fails: no figures
        cli("bench", "--warmup", "0", "--quiet", "--connectors", "null,sqlite-rpc", "--seconds", "0.5",
            env={"SQLITE_RPC_URL": fake.url})
    report = cli.only_report()
    assert [e["status"] for e in report["connectors"]] == ["ok", "failed"]
    assert [r["system"] for r in report["results"]] == ["null"]


@pytest.mark.parametrize("mutate, where", [
    (lambda r: r.update(concurrency=r["concurrency"] + 1), "concurrency"),
    (lambda r: r["results"][0]["res"].update(tps=r["results"][0]["res"]["tps"] * 2), "results/0/res/tps"),
    (lambda r: r["results"][0]["res"]["timeSeries"].pop(), "results/0/res/timeSeries"),
    (lambda r: r["results"][0].update(system="postgres"), "results/0/system"),
    (lambda r: r["results"].append(copy.deepcopy(r["results"][0])), "results"),
    (lambda r: r.pop("alpha"), "top level"),
])
def test_load_refuses_keynote_keys_that_disagree_with_the_report(cli, tmp_path, mutate, where):
    report = json.loads(cli.bench(*NULL).read_text())
    mutate(report)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    with pytest.raises(ConfigError, match=f"\\({where}: "):
        store.load(path)


def test_a_report_from_before_the_keynote_keys_still_loads(cli, tmp_path):
    report = json.loads(cli.bench(*NULL).read_text())
    for key in store.KEYNOTE_TOP:
        del report[key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(report))
    assert store.load(path)["connectors"][0]["name"] == "null"


# --- compare names what differs ------------------------------------------------------------------

def test_compare_names_what_differs_between_the_setups(cli):
    a = cli.bench(*NULL)
    b = cli.bench("--connectors", "null", "--seconds", "1.4", "--concurrency", "2", env={"NULL_DELAY_NS": "100"})
    result = cli("compare", str(a), str(b), "--json")
    assert result.returncode == 0, result.stderr
    differ = {d["what"]: (d["a"], d["b"]) for d in json.loads(result.stdout)["differences"]}
    assert differ["seconds"] == (1.2, 1.4)
    assert differ["concurrency"] == (1, 2)
    assert [k for k in differ if k.startswith("connector null:")], differ  # the null connector's delay setting
    assert not [k for k in differ if k.startswith(("machine:", "version:"))]  # same machine, same build
    assert "loadbench: warning: A and B ran under different setups" in result.stderr
    assert "  seconds: A 1.2, B 1.4" in result.stderr


def test_compare_of_the_same_setup_warns_of_nothing(cli):
    a, b = cli.bench(*NULL), cli.bench(*NULL)
    result = cli("compare", str(a), str(b), "--json")
    assert json.loads(result.stdout)["differences"] == []
    assert "warning" not in result.stderr


def test_setup_differences_cover_mode_machine_and_versions(cli):
    report = json.loads(cli.bench(*NULL).read_text())
    other = copy.deepcopy(report)
    other["parameters"].update(rate=500.0, arrival="constant")
    other["machine"]["cpu_model"] = "Another CPU"
    other["machine"]["versions"]["sqlite"] = "0.0.1"
    differ = {d["what"]: (d["a"], d["b"]) for d in compare.differences(report, other)}
    assert differ["mode"] == ("closed loop", "open loop (constant)")
    assert differ["machine: cpu_model"][1] == "Another CPU"
    assert differ["version: sqlite"][1] == "0.0.1"
    assert differ["rate"] == (report["parameters"]["rate"], 500.0)


# --- errors without a kind -----------------------------------------------------------------------

def _entry(errors: dict, retried: dict | None = None) -> dict:
    return {"errors": errors, "retried_errors": retried or {}, "error_examples": {"other": "HTTP 500: oops"}}


def test_the_rule_for_errors_without_a_kind():
    assert build.errors_without_kind(_entry({"other": 7})) == {"count": 7, "example": "HTTP 500: oops"}
    # The client's own findings do not make the server's answers any more telling.
    assert build.errors_without_kind(_entry({"other": 7, "timeout": 2, "connection": 1})) == {
        "count": 7, "example": "HTTP 500: oops"}
    assert build.errors_without_kind(_entry({"other": 3}, {"other": 4}))["count"] == 7
    # One answer with a kind, final or retried: the server does tell them apart.
    assert build.errors_without_kind(_entry({"other": 7, "serialization": 1})) is None
    assert build.errors_without_kind(_entry({"other": 7}, {"busy": 1})) is None
    assert build.errors_without_kind(_entry({})) is None
    assert build.errors_without_kind(_entry({"timeout": 3})) is None


def test_a_server_whose_errors_carry_no_kind_is_named_in_the_report_and_table(cli):
    with FakeServer(keynote_rpc.make_app(fail_every=2)) as fake:
        result = cli(*RPC_BENCH, "--max-failure-share", "1", env={"SQLITE_RPC_URL": fake.url})
    assert result.returncode == 0, result.stderr
    (entry,) = cli.only_report()["connectors"]
    assert entry["errors_without_kind"] == {"count": entry["errors"]["other"], "example": "internal server error"}
    assert entry["errors"]["other"] > 0 and entry["retries"] == 0
    assert (f"sqlite-rpc: the server's errors carry no kind: its {entry['errors']['other']:,} failures all came back "
            "as 'other' (e.g. 'internal server error')") in result.stdout
    shown = cli("report", str(cli.reports()[0]))
    assert "the server's errors carry no kind" in shown.stdout


def test_a_server_that_says_what_failed_is_not_flagged(cli):
    with FakeServer(keynote_rpc.make_app(fail_every=2, kind="serialization")) as fake:
        result = cli(*RPC_BENCH, "--max-failure-share", "1", env={"SQLITE_RPC_URL": fake.url})
    assert result.returncode == 0, result.stderr
    (entry,) = cli.only_report()["connectors"]
    assert entry["retried_errors"].get("serialization", 0) > 0
    assert "errors_without_kind" not in entry
    assert "carry no kind" not in result.stdout
