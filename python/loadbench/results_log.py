"""``runs/results.jsonl``: one line per bench invocation, for regression tracking.

Each line is a JSON object: when (``timestamp``, UTC), which code (``git``: ``sha``, ``branch``
and ``dirty`` of the git checkout the command ran in, null outside one), what ran (``kind``:
bench or sweep, ``test``, ``parameters``, the ``report`` file) and the headline figures
(``points``, see :mod:`loadbench.headlines`). A line is appended with a single ``write()`` on a
file opened with ``O_APPEND``, so runs that finish at once never interleave inside a line; a line
that does not parse is skipped when reading, with a one-line warning naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from loadbench import headlines, reports

FILE_NAME = "results.jsonl"


def git_output(args: list[str], cwd: Path | None = None) -> str | None:
    """What ``git ARGS`` prints (stripped), or None when git is missing or fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(cwd: Path | None = None) -> dict | None:
    """``{sha, branch, dirty}`` of the git working tree at ``cwd`` (default: the current directory),
    or None outside one. ``branch`` is None on a detached HEAD."""
    sha = git_output(["rev-parse", "HEAD"], cwd)
    if not sha:
        return None
    branch = git_output(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    status = git_output(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"sha": sha, "branch": None if branch in (None, "HEAD") else branch, "dirty": bool(status)}


def line_for(report: dict, report_path: Path, git: dict | None) -> dict:
    """What results.jsonl keeps of one report."""
    sweep = report.get("kind") == "sweep"
    return {
        "timestamp": reports.timestamp(datetime.now(timezone.utc)),
        "git": git,
        "kind": "sweep" if sweep else "bench",
        "test": report["test"],
        "status": report["status"],
        "report": str(report_path),
        "parameters": report["sweep"] if sweep else report["parameters"],
        "points": headlines.points(report),
    }


def append(runs_dir: Path, report: dict, report_path: Path, git: dict | None | bool = True) -> Path:
    """Appends the line of ``report`` to ``runs_dir/results.jsonl``; ``git=True`` reads the state of
    the current directory's checkout."""
    line = line_for(report, report_path, git_state() if git is True else git or None)
    data = (json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n").encode()
    path = runs_dir / FILE_NAME
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
    finally:
        os.close(fd)
    if written != len(data):  # a full disk: say so rather than leave a silent half line
        raise OSError(f"{path}: short write ({written} of {len(data)} bytes)")
    return path


def _warn(message: str) -> None:
    print(f"loadbench: warning: {message}", file=sys.stderr)


def read(path: Path, warn: Callable[[str], None] = _warn) -> list[dict]:
    """Every line that parses, in file order; the others are skipped with a warning."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            line = None
        if not isinstance(line, dict) or not isinstance(line.get("points"), list):
            warn(f"{path}:{number}: not a results line, skipped")
            continue
        lines.append(line)
    return lines
