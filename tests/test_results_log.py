"""runs/results.jsonl: every bench invocation appends one line with when, which code, what ran and
its headline figures; appends never interleave and a bad line never stops a reader."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

from loadbench.report import results_log


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_each_bench_appends_one_line_with_its_headline_figures(cli):
    first = cli.bench("--connectors", "null", "--seconds", "1.2")
    second = cli.bench("--connectors", "sqlite,null", "--seconds", "0.3", "--accounts", "100")
    lines = cli.results()
    assert [line["report"] for line in lines] == [str(first.relative_to(cli.cwd)), str(second.relative_to(cli.cwd))]
    line = lines[0]
    assert line["git"] is None  # the scratch directory is no git checkout
    assert line["kind"] == "bench" and line["status"] == "ok"
    report = json.loads(first.read_text())
    assert line["parameters"] == report["parameters"]
    (point,) = line["points"]
    (head,) = point["connectors"]
    entry = report["connectors"][0]
    assert (head["name"], head["tps"], head["p99_ms"]) == ("null", entry["tps"], entry["latency"]["p99"])
    assert head["noise"]["source"] == "seconds" and head["noise"]["n"] == 1
    assert [h["name"] for h in lines[1]["points"][0]["connectors"]] == ["sqlite", "null"]


def test_the_line_names_the_git_commit_and_branch_of_the_checkout(cli):
    git(cli.cwd, "init", "-q", "-b", "feature")
    (cli.cwd / "file").write_text("x")
    git(cli.cwd, "add", "file")
    git(cli.cwd, "commit", "-q", "-m", "one")
    cli.bench("--connectors", "null", "--seconds", "0.2")
    (cli.cwd / "file").write_text("changed")
    cli.bench("--connectors", "null", "--seconds", "0.2")
    clean, dirty = cli.results()
    sha = git(cli.cwd, "rev-parse", "HEAD")
    assert clean["git"] == {"sha": sha, "branch": "feature", "dirty": False}
    assert dirty["git"] == {"sha": sha, "branch": "feature", "dirty": True}


def _append_many(runs_dir: str, tag: int) -> None:
    report = {"test": "test-1", "status": "ok", "parameters": {"tag": tag, "padding": "x" * 20_000},
              "connectors": []}
    for _ in range(50):
        results_log.append(Path(runs_dir), report, f"r{tag}.json", git=None)


def test_concurrent_appends_never_interleave_inside_a_line(tmp_path):
    # Lines of 20 kB, larger than a pipe buffer: one O_APPEND write each keeps them whole.
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(tmp_path), tag)) for tag in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 150
    assert sorted(json.loads(line)["parameters"]["tag"] for line in lines) == [0] * 50 + [1] * 50 + [2] * 50


def test_a_corrupt_line_is_skipped_with_a_warning_naming_it(tmp_path):
    path = tmp_path / "results.jsonl"
    good = json.dumps({"timestamp": "t", "points": []})
    path.write_text(f"{good}\n{{\"truncated\": \n[1, 2]\n{good}\n")
    warnings: list[str] = []
    assert len(results_log.read(path, warn=warnings.append)) == 2
    assert warnings == [f"{path}:2: not a results line, skipped", f"{path}:3: not a results line, skipped"]
