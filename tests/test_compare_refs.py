"""compare --refs builds two git refs of a loadbench checkout, each in its own worktree and virtual
environment, benches each, and compares them (about 40 s: two builds of the C++ core)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.slow
def test_compare_refs_builds_benches_and_compares_two_commits(cli):
    # A clone of this checkout's HEAD with one more commit: two refs, and worktrees that never
    # touch the developer's repository.
    clone = cli.cwd / "clone"
    git(cli.cwd, "clone", "-q", str(REPO), str(clone))
    git(clone, "checkout", "-q", "--detach", git(REPO, "rev-parse", "HEAD"))
    git(clone, "commit", "-q", "--allow-empty", "-m", "second")
    first, second = git(clone, "rev-parse", "HEAD~1"), git(clone, "rev-parse", "HEAD")

    result = cli("compare", "--refs", "HEAD~1", "HEAD", "--repo", "clone", "--json",
                 "--bench-args", "--connectors null --seconds 1.2 --warmup 0 --concurrency 1", timeout=900)
    assert result.returncode == 0, result.stderr
    compared = json.loads(result.stdout)
    assert [c["metric"] for c in compared["changes"]] == ["tps", "p50_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms"]
    copies = sorted((cli.runs / "refs").glob("*.json"))
    assert sorted(p.name[:12] for p in copies) == sorted([first[:12], second[:12]])
    assert compared["a"].startswith(f"runs/refs/{first[:12]}") and compared["b"].startswith(f"runs/refs/{second[:12]}")
    # Each ref's run is in results.jsonl under its sha, so compare finds it again by sha.
    assert [line["git"]["sha"] for line in cli.results()] == [first, second]
    assert cli("compare", first[:10], second[:10]).returncode == 0
    # Nothing is left behind in the checkout.
    assert git(clone, "worktree", "list").count("\n") == 0
