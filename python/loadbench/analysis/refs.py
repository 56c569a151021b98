"""``loadbench compare --refs REF1 REF2``: build two git refs of a loadbench checkout and bench each.

Each ref, one after the other (so they never compete for the machine): ``git worktree add
--detach`` into a temporary directory, a virtual environment of its own, ``pip install`` of the
worktree (this compiles the C++ core: about a minute a ref), then ``python -m loadbench bench
ARGS`` in the worktree. Its report is copied to ``runs/refs/`` and gets a results.jsonl line with
the ref's sha, so that ``loadbench compare SHA1 SHA2`` finds it again. Worktrees and environments
are removed afterwards, on failure and Ctrl-C too.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from loadbench.errors import ConfigError, RunFailed
from loadbench.report import results_log, store


def _run(cmd: list[str], cwd: Path, what: str, bench: bool = False) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode == 0 or (bench and done.returncode == 1):  # 1: a connector failed; its report says how
        return
    last = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[-1]
    if bench and done.returncode == 2:
        raise ConfigError(f"{what}: {last.removeprefix('loadbench: error: ')}")
    if bench and done.returncode == 130:
        raise KeyboardInterrupt
    raise RunFailed(f"{what} failed: {last}")


def parse_bench_args(text: str) -> list[str]:
    try:
        args = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"--bench-args: {exc}") from None
    for flag in ("--runs-dir", "--json", "--contention-tests", "--concurrency-tests", "--iterations"):
        if any(a == flag or a.startswith(flag + "=") for a in args):
            raise ConfigError(f"--bench-args: {flag} is set by compare --refs or not supported there")
    return args


def resolve_refs(repo: Path, refs: tuple[str, str]) -> tuple[Path, list[str]]:
    """The checkout's top directory and each ref's commit sha; a bad repo or ref is a ConfigError."""
    top = results_log.git_output(["rev-parse", "--show-toplevel"], repo)
    if not top:
        raise ConfigError(f"--repo {repo}: not a git checkout")
    shas = []
    for ref in refs:
        sha = results_log.git_output(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], Path(top))
        if not sha:
            raise ConfigError(f"--refs: {ref!r} is not a commit of {top}")
        shas.append(sha)
    return Path(top), shas


def bench_refs(repo: Path, refs: tuple[str, str], bench_args: list[str], runs_dir: Path,
               say: Callable[[str], None]) -> list[Path]:
    """Builds and benches each ref; the copies of their reports in ``runs_dir/refs``."""
    top, shas = resolve_refs(repo, refs)
    copies = []
    with tempfile.TemporaryDirectory(prefix="loadbench-refs-") as tmp:
        work = Path(tmp)
        for index, (ref, sha) in enumerate(zip(refs, shas)):
            tree, venv, runs = work / f"tree-{index}", work / f"venv-{index}", work / f"runs-{index}"
            say(f"{ref} ({sha[:12]}): checking out")
            _run(["git", "worktree", "add", "--detach", str(tree), sha], top, f"git worktree add {ref}")
            try:
                say(f"{ref}: building in a fresh virtual environment")
                _run([sys.executable, "-m", "venv", str(venv)], work, "python -m venv")
                python = str(venv / "bin" / "python")
                _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(tree)], work,
                     f"pip install {ref}")
                say(f"{ref}: bench {shlex.join(bench_args)}")
                _run([python, "-m", "loadbench", "bench", *bench_args, "--quiet", "--runs-dir", str(runs)], tree,
                     f"bench at {ref}", bench=True)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=top, capture_output=True)
                subprocess.run(["git", "worktree", "prune"], cwd=top, capture_output=True)
            found = sorted(runs.glob("*.json"))
            if len(found) != 1:
                raise RunFailed(f"bench at {ref} wrote {len(found)} reports, expected 1")
            report = store.load(found[0])
            copy = runs_dir / "refs" / f"{sha[:12]}-{found[0].name}"
            copy.parent.mkdir(parents=True, exist_ok=True)
            store.write_atomic(copy, json.dumps(report, indent=1, allow_nan=False))
            results_log.append(runs_dir, report, copy, git={"sha": sha, "branch": None, "dirty": False, "ref": ref})
            copies.append(copy)
    return copies
