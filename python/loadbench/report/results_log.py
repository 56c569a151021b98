"""``runs/results.jsonl``: one line per bench invocation, for regression tracking.

Each line is a JSON object: when (``timestamp``, UTC), which code (``git``: ``sha``, ``branch``
and ``dirty`` of the git checkout the command ran in, null outside one), what ran (``kind``:
bench or sweep, ``test``, ``parameters``, the ``report`` file), the headline figures
(``points``, see :mod:`loadbench.report.headlines`) and the ``setup`` they ran under
(:func:`loadbench.report.headlines.setup`).

Appending (:func:`append`) holds an exclusive ``fcntl`` lock on the file and writes the line with
a single ``write()`` on a descriptor opened ``O_APPEND``, so runs that finish at once never
interleave inside a line. A write that comes up short (a full disk) is cut back off under the
lock, so no half line stays; when the file does not end with a newline (a line torn by something
else), the new line starts on a fresh one. Reading (:func:`read`) skips a line that does not parse
(or is beyond the limits of :mod:`loadbench.report.untrusted`) with a one-line warning naming it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, cast

from loadbench.report import headlines, store, untrusted

FILE_NAME = "results.jsonl"


def git_output(args: list[str], cwd: Path | None = None) -> str | None:
    """What ``git ARGS`` prints (stripped), or None when git is missing or fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(cwd: Path | None = None) -> dict[str, Any] | None:
    """``{sha, branch, dirty}`` of the git working tree at ``cwd`` (default: the current directory),
    or None outside one. ``branch`` is None on a detached HEAD."""
    sha = git_output(["rev-parse", "HEAD"], cwd)
    if not sha:
        return None
    branch = git_output(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    status = git_output(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"sha": sha, "branch": None if branch in (None, "HEAD") else branch, "dirty": bool(status)}


def line_for(report: dict[str, Any], report_path: Path, git: dict[str, Any] | None) -> dict[str, Any]:
    """What results.jsonl keeps of one report."""
    sweep = report.get("kind") == "sweep"
    return {
        "timestamp": store.timestamp(datetime.now(timezone.utc)),
        "git": git,
        "kind": "sweep" if sweep else "bench",
        "test": report["test"],
        "status": report["status"],
        "report": str(report_path),
        "parameters": report["sweep"] if sweep else report["parameters"],
        "points": headlines.points(report),
        # What the runs ran under (parameters, connector settings, machine, versions), for compare's
        # differences; absent from older lines.
        "setup": headlines.setup(report),
    }


def append(runs_dir: Path, report: dict[str, Any], report_path: Path, git: dict[str, Any] | None | bool = True) -> Path:
    """Appends the line of ``report`` to ``runs_dir/results.jsonl`` (see the module's docstring);
    ``git=True`` reads the state of the current directory's checkout. Raises OSError when the line
    could not be written whole (the file is then as it was)."""
    line = line_for(report, report_path, git_state() if git is True else git or None)
    data = (json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n").encode()
    path = runs_dir / FILE_NAME
    append_line(path, data)
    return path


def append_line(path: Path, data: bytes) -> None:
    """Appends ``data`` (one line, ending in a newline) to ``path`` whole or not at all, under an
    exclusive lock; created with the umask's mode (0666 & ~umask) as every loadbench file. Once the
    lock is held, Ctrl-C and SIGTERM wait until the line is written or cut back off (they are
    blocked for the few system calls that takes)."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    blocked = None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)  # the whole file; released when fd closes, or the process dies
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn line before ours stays a line of its own, skipped by readers
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (wrote {written} of {len(data)} bytes)")
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # no half line stays
            raise
    finally:
        os.close(fd)
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _number(value: object) -> bool:
    return type(value) in (int, float)  # finite: untrusted.parse refuses the others


def check_line(line: object) -> str | None:
    """What makes ``line`` unusable as a results line (the fields compare reads, by type), or None."""
    if not isinstance(line, dict) or not isinstance(line.get("points"), list):
        return "no points"
    git = line.get("git")
    if git is not None and (not isinstance(git, dict) or not isinstance(git.get("sha", ""), str)):
        return "git is not {sha, branch, dirty}"
    if not isinstance(line.get("timestamp", ""), str) or not isinstance(line.get("kind", ""), str):
        return "timestamp or kind is not a string"
    for point in line["points"]:
        if not isinstance(point, dict) or not isinstance(point.get("values"), dict) \
                or not isinstance(point.get("connectors"), list):
            return "a point without values and connectors"
        if not all(isinstance(k, str) and _number(v) for k, v in point["values"].items()):
            return "a point's values are not numbers"
        for head in point["connectors"]:
            if not isinstance(head, dict) or not isinstance(head.get("name"), str) \
                    or not isinstance(head.get("status"), str):
                return "a connector without name and status"
            if head["status"] == "failed":
                continue
            if not all(_number(head.get(m)) for m in headlines.METRICS) \
                    or type(head.get("significant_figures")) is not int or not 1 <= head["significant_figures"] <= 5:
                return f"{head['name']}: its figures are not numbers"
            noise = head.get("noise")
            if not isinstance(noise, dict) or type(noise.get("n")) is not int or not all(
                    isinstance(noise.get(k), dict) and all(noise[k].get(m) is None or _number(noise[k].get(m))
                                                           for m in headlines.PER_SECOND)
                    for k in ("mean", "stddev")):
                return f"{head['name']}: its noise is not {{n, mean, stddev}}"
    return None


def _warn(message: str) -> None:
    print(f"loadbench: warning: {message}", file=sys.stderr)


def _lines(f: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """The lines of a binary file, each at most ``limit`` bytes; None for a longer one (its rest is
    read and dropped in pieces, so memory stays bounded)."""
    while True:
        raw = f.readline(limit + 1)
        if not raw:
            return
        if len(raw) > limit and not raw.endswith(b"\n"):
            while True:
                rest = f.readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield raw


def read(path: Path, warn: Callable[[str], None] = _warn) -> list[dict[str, Any]]:
    """Every results line that parses, in file order; the others (torn, not JSON, beyond the limits
    of :mod:`loadbench.report.untrusted`) are skipped with a warning naming the line. A file that exists
    but cannot be read is a ConfigError."""
    from loadbench.errors import ConfigError

    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = []
    with f:
        with contextlib.suppress(OSError):  # a shared lock: no line half-appended as we read
            fcntl.lockf(f.fileno(), fcntl.LOCK_SH)
        try:
            for number, raw in enumerate(_lines(f, untrusted.MAX_LINE_BYTES), start=1):
                if raw is not None and not raw.strip():
                    continue
                line = None
                if raw is not None:
                    try:
                        line = untrusted.parse(raw.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError):  # JSONDecodeError and Refused are ValueErrors
                        line = None
                if check_line(line) is not None:
                    warn(f"{path}:{number}: not a results line, skipped")
                    continue
                lines.append(cast(dict[str, Any], line))  # check_line passed: a results line
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return lines
