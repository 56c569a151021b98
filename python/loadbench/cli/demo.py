"""``loadbench demo``: the systems available here, side by side at high contention.

The demo takes its systems from the connector registry (``connectors.CONNECTOR_TYPES``: the
default selection, or ``--systems``). One that is not configured but that loadbench can start
locally (``LOCAL_STARTS``) is offered a start; one that is configured must be reachable. Then it
runs ``bench`` with the demo's defaults and draws one bar per system that grows with its live TPS,
redrawn from the run's progress callback (no refresh thread: see display.py).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from rich.console import Console, JustifyMethod
from rich.table import Table

from loadbench import _core, connectors
from loadbench.cli.display import CallbackLive, fmt_ms
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import RunFailed
from loadbench.run.config import RunPlan
from loadbench.settings import Settings

BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def _reachable(spec: ConnectorSpec) -> str | None:
    """None when a TCP connection to the host and port of the connector's URL opens within 1 s (or
    it has no URL: embedded, or nothing to check), else why not."""
    endpoint = connectors.module_of(spec.kind).endpoint(spec)
    if endpoint is None:
        return None  # embedded, a Unix socket, or the run will say what is wrong
    host, port = endpoint
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({exc.strerror or exc})"
    return None


def _services_up(name: str) -> Callable[[Path], str | None]:
    """Starts the service ``name`` with ``loadbench services up NAME`` (its state in the services
    directory given); None when it started, else why not."""

    def start(services_dir: Path) -> str | None:
        done = subprocess.run([sys.executable, "-m", "loadbench", "services", "up", name, "--services-dir",
                               str(services_dir)], capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
            return f"`loadbench services up {name}` failed: {lines[-1]}"
        return None

    return start


# By connector name: the systems loadbench can start locally (a local service, which configures
# the connectors it names). Every configured one is checked with _reachable before it runs.
SERVICE_OF: dict[str, str] = {connector: name for name, service in connectors.local_services().items()
                               for connector in service.connectors}
LOCAL_STARTS: dict[str, Callable[[Path], str | None]] = {connector: _services_up(name) for connector, name in SERVICE_OF.items()}


def choose(settings: Settings, runs_dir: Path, names: str | None, ask: Callable[[str], bool],
           say: Callable[[str], None]) -> str:
    """The ``--connectors`` list of the systems to show: those named (default: the registry's default
    selection) that are configured, after offering (``ask``) to start the ones loadbench can start,
    and reachable. What is left out is said (``say``) with the reason."""
    wanted = ([n.strip() for n in names.split(",") if n.strip()] if names is not None
              else [n for n, t in connectors.CONNECTOR_TYPES.items() if t.default])
    present = connectors.configured(settings, runs_dir)
    for name in wanted:
        if (name not in present and name in LOCAL_STARTS and name in connectors.CONNECTOR_TYPES
                and ask(f"{name} is not set up. Start one locally?")):
            failure = LOCAL_STARTS[name](settings.services_dir())
            if failure:
                say(f"{name}: cannot start: {failure}")
    present = connectors.configured(settings, runs_dir)  # a started service configures its connector
    ready = []
    for name in wanted:
        if name not in connectors.CONNECTOR_TYPES:
            ready.append(name)  # select() says it is unknown
        elif name not in present:
            start = (f"; or start one with `loadbench services up {SERVICE_OF.get(name, name)}`"
                     if name in LOCAL_STARTS else "")
            say(f"{name}: skipped: not configured (set {connectors.CONNECTOR_TYPES[name].needs}{start})")
        elif (why := _reachable(present[name])) is not None:
            say(f"{name}: skipped: {why}")
        else:
            ready.append(name)
    if not ready:
        raise RunFailed("no system to run: none of " + ", ".join(wanted) + " is set up and reachable")
    return ",".join(ready)


def bar(value: float, scale: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``value / scale`` of ``width`` cells, in eighths of a cell."""
    if scale <= 0 or value <= 0:
        return ""
    eighths = round(min(value / scale, 1.0) * width * 8)
    return "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")


class BarsDisplay(CallbackLive):
    """One bar per system growing with its TPS of the last second (final TPS when done), redrawn
    from the progress callback; or, without animation, a plain line per phase and per second."""

    def __init__(self, plan: RunPlan, animate: bool, console: Console | None = None):
        super().__init__(console or Console(), enabled=animate)
        self.plan = plan
        self.rows: dict[str, dict[str, Any]] = {s.name: {"phase": "waiting", "tps": 0.0, "p99_ms": None}
                                                for s in plan.connectors}
        self._said_second: dict[str, int] = {}

    def _render(self) -> Table:
        scale = max((r["tps"] for r in self.rows.values()), default=0.0)
        table = Table(title=f"alpha {self.plan.alpha:g}, {self.plan.concurrency} workers, {self.plan.seconds:g} s",
                      title_justify="left", box=None)
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("system", "left"), ("phase", "left"), ("TPS", "left"), ("", "right"), ("p99 ms", "right"))
        for column, justify in columns:
            table.add_column(column, justify=justify, min_width=BAR_WIDTH if column == "TPS" else None)
        for name, r in self.rows.items():
            table.add_row(name, r["phase"], f"[green]{bar(r['tps'], scale)}[/]", f"{r['tps']:,.0f}" if r["tps"] else "",
                          fmt_ms(r["p99_ms"]) if r["p99_ms"] is not None else "")
        return table

    def _say(self, text: str) -> None:
        if not self.live_enabled:
            self.console.print(text, highlight=False)

    def phase(self, spec: ConnectorSpec, phase: str) -> None:
        self.rows[spec.name].update(phase=phase)
        self.redraw()
        self._say(f"{spec.name}: {phase}")

    def progress(self, spec: ConnectorSpec, p: _core.Progress) -> None:
        row = self.rows[spec.name]
        row["phase"] = p.phase.name
        if p.phase == _core.Phase.measuring and p.committed:
            row.update(tps=p.last_second_tps, p99_ms=p.last_second_p99_ns / 1e6)
            second = int(p.elapsed_seconds)
            if second > self._said_second.get(spec.name, 0):
                self._said_second[spec.name] = second
                self._say(f"{spec.name}: {second} s: {row['tps']:,.0f} TPS, p99 {fmt_ms(row['p99_ms'])} ms")
        self.redraw()

    def finished(self, spec: ConnectorSpec, entry: dict[str, Any]) -> None:
        row = self.rows[spec.name]
        if entry["status"] == "failed":
            row.update(phase="failed", tps=0.0, p99_ms=None)
            self._say(f"{spec.name}: failed: {entry['error']}")
        else:
            row.update(phase="done", tps=entry["tps"], p99_ms=entry["latency"]["p99"])
            self._say(f"{spec.name}: done: {entry['tps']:,.0f} TPS, p99 {fmt_ms(entry['latency']['p99'])} ms")
        self.redraw()
