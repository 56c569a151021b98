"""``loadbench demo``: the systems available here, side by side at high contention.

The demo picks the configured connectors (``connectors.CONNECTOR_TYPES``), checks that each one's
system is reachable and, where loadbench can start it locally (``LOCAL_SYSTEMS``), offers to; then
it runs ``bench`` with the demo's defaults and draws one bar per system that grows with its live
TPS. The bars are redrawn from the run's progress callback (no refresh thread: see display.py).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadbench.config import ConnectorSpec, RunPlan
from loadbench.display import fmt_ms
from loadbench.errors import RunFailed

BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass(frozen=True)
class LocalSystem:
    """How the demo checks a system, and starts it when loadbench can."""

    reachable: Callable[[ConnectorSpec], str | None]  # None when reachable, else why not
    start: Callable[[], str | None] | None = None  # None when started, else why not; no start: nothing to start


def _in_process(spec: ConnectorSpec) -> str | None:
    return None  # embedded (SQLite) or no database (null): nothing to reach


def _tcp(default_port: int) -> Callable[[ConnectorSpec], str | None]:
    """Reachable when a TCP connection to the host and port of the connector's URL opens in 1 s."""

    def check(spec: ConnectorSpec) -> str | None:
        url = next((v for v in spec.options.values() if "://" in v), None)
        if url is None:
            return None  # no URL to check: the run will say what is wrong
        parts = urlsplit(url)
        host, port = parts.hostname or "localhost", parts.port or default_port
        try:
            socket.create_connection((host, port), timeout=1.0).close()
        except OSError as exc:
            return f"nothing answers at {host}:{port} ({exc.strerror or exc})"
        return None

    return check


def _services_up(name: str) -> Callable[[], str | None]:
    def start() -> str | None:
        from loadbench.cli import cli  # the command table, to know whether this build has `services`

        if "services" not in cli.commands:
            return "not available in this build (no `loadbench services` command)"
        done = subprocess.run([sys.executable, "-m", "loadbench", "services", "up", name], capture_output=True,
                              text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
            return f"`loadbench services up {name}` failed: {lines[-1]}"
        return None

    return start


# By connector kind; a kind not listed is not checked (its run says what is wrong).
LOCAL_SYSTEMS: dict[str, LocalSystem] = {
    "sqlite": LocalSystem(_in_process),
    "null": LocalSystem(_in_process),
    "postgres": LocalSystem(_tcp(5432), _services_up("postgres")),
}


def available(specs: tuple[ConnectorSpec, ...], ask: Callable[[str], bool],
              say: Callable[[str], None]) -> tuple[ConnectorSpec, ...]:
    """The systems of ``specs`` that are reachable, after offering (``ask``) to start those that
    loadbench can start."""
    ready = []
    for spec in specs:
        system = LOCAL_SYSTEMS.get(spec.kind, LocalSystem(_in_process))
        why = system.reachable(spec)
        if why and system.start is not None and ask(f"{spec.name} is not reachable: {why}. Start it locally?"):
            why = system.start() or system.reachable(spec)
        if why:
            say(f"{spec.name}: skipped: {why}")
            continue
        ready.append(spec)
    if not ready:
        raise RunFailed("no system to run: none of " + ", ".join(s.name for s in specs) + " is reachable")
    return tuple(ready)


def bar(value: float, scale: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``value / scale`` of ``width`` cells, in eighths of a cell."""
    if scale <= 0 or value <= 0:
        return ""
    eighths = round(min(value / scale, 1.0) * width * 8)
    return "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")


class BarsDisplay:
    """One bar per system growing with its TPS of the last second (final TPS when done), redrawn
    from the progress callback; or, without animation, a plain line per phase and per second."""

    def __init__(self, plan: RunPlan, animate: bool, console: Console | None = None):
        self.plan = plan
        self.console = console or Console()
        self.animate = animate
        self.rows = {s.name: {"phase": "waiting", "tps": 0.0, "p99_ms": None} for s in plan.connectors}
        self._live: Live | None = None
        self._said_second: dict[str, int] = {}

    def __enter__(self) -> "BarsDisplay":
        if self.animate:
            self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.__exit__(*exc)

    def _render(self) -> Table:
        scale = max((r["tps"] for r in self.rows.values()), default=0.0)
        table = Table(title=f"alpha {self.plan.alpha:g}, {self.plan.concurrency} workers, {self.plan.seconds:g} s",
                      title_justify="left", box=None)
        for column, justify in (("system", "left"), ("phase", "left"), ("TPS", "left"), ("", "right"),
                                ("p99 ms", "right")):
            table.add_column(column, justify=justify, min_width=BAR_WIDTH if column == "TPS" else None)
        for name, r in self.rows.items():
            table.add_row(name, r["phase"], f"[green]{bar(r['tps'], scale)}[/]", f"{r['tps']:,.0f}" if r["tps"] else "",
                          fmt_ms(r["p99_ms"]) if r["p99_ms"] is not None else "")
        return table

    def _redraw(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)

    def _say(self, text: str) -> None:
        if not self.animate:
            self.console.print(text, highlight=False)

    def phase(self, spec: ConnectorSpec, phase: str) -> None:
        self.rows[spec.name].update(phase=phase)
        self._redraw()
        self._say(f"{spec.name}: {phase}")

    def progress(self, spec: ConnectorSpec, p: dict) -> None:
        row = self.rows[spec.name]
        row["phase"] = p["phase"]
        if p["phase"] == "measuring" and p["committed"]:
            row.update(tps=p["last_second_tps"], p99_ms=p["last_second_p99_ns"] / 1e6)
            second = int(p["elapsed_s"])
            if second > self._said_second.get(spec.name, 0):
                self._said_second[spec.name] = second
                self._say(f"{spec.name}: {second} s: {row['tps']:,.0f} TPS, p99 {fmt_ms(row['p99_ms'])} ms")
        self._redraw()

    def finished(self, spec: ConnectorSpec, entry: dict) -> None:
        row = self.rows[spec.name]
        if entry["status"] == "failed":
            row.update(phase="failed", tps=0.0, p99_ms=None)
            self._say(f"{spec.name}: failed: {entry['error']}")
        else:
            row.update(phase="done", tps=entry["tps"], p99_ms=entry["latency"]["p99"])
            self._say(f"{spec.name}: done: {entry['tps']:,.0f} TPS, p99 {fmt_ms(entry['latency']['p99'])} ms")
        self._redraw()
