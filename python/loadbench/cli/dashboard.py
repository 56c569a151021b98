"""``bench --dashboard [PORT]``: the HTML report's page served on loopback while a run goes, fed a
new model every second by server-sent events.

It costs the run nothing it would not spend anyway: the numbers are the progress the engine
already hands the console display (about every 250 ms, on its monitor thread), copied under a
lock; the page's model is built on the server's own thread, once a second per open page. The
engine's worker threads run on a file table of their own (engine/run.cpp's unshare), so the
server's sockets do not touch them. The server stops with the run, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loadbench import _core
from loadbench._core import Phase
from loadbench.analysis import html_report
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import ConfigError
from loadbench.report.build import entry_of
from loadbench.report.store import timestamp
from loadbench.run import machine
from loadbench.run.config import RunPlan
from loadbench.run.results import ConnectorRun
from loadbench.run.runner import Display

INTERVAL_SECONDS = 1.0
STOP_GRACE_SECONDS = 0.3  # for open pages to get the last model when the run ends
HOST = "127.0.0.1"


def parse_port(text: str) -> int:
    """``--dashboard``'s PORT: 0 (any free port) to 65535; else a one-line ConfigError."""
    try:
        port = int(text)
    except ValueError:
        raise ConfigError(f"--dashboard {text!r}: expected a port number (0 to 65535; 0: any free port)") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--dashboard {port}: a port is 0 to 65535 (0: any free port)")
    return port


class LiveState:
    """What the page shows of a run in progress: per connector its phase and last-second figures
    and a per-second TPS series (warmup at negative times), and the report entries of the connectors
    that finished. Written by the run's callbacks, read by the server's threads, under one lock."""

    def __init__(self, plan: RunPlan):
        self.plan = plan
        self._lock = threading.Lock()
        self._report: dict[str, Any] = {
            "schema_version": 1, "test": plan.test, "status": "running", "interrupted": False,
            "started_at": timestamp(datetime.now(timezone.utc)), "finished_at": "",
            "parameters": plan.parameters(), "machine": machine.describe(), "connectors": [],
        }
        self._live: dict[str, dict[str, Any]] = {}
        self._status = "starting"
        self._version = 0
        self._cache: tuple[int, str] | None = None

    def _connector(self, spec: ConnectorSpec) -> dict[str, Any]:
        found = self._live.get(spec.label)
        if found is None:
            found = self._live[spec.label] = {"label": spec.label, "phase": "waiting", "elapsed": "", "tps": "", "p99": "",
                                              "committed": "", "warmup_seconds": self.plan.warmup_seconds,
                                              "t": [], "tps_series": [], "_next": None}
        return found

    def phase(self, spec: ConnectorSpec, phase: str) -> None:
        with self._lock:
            self._connector(spec)["phase"] = phase
            self._status = f"{spec.label}: {phase}"
            self._version += 1

    def progress(self, spec: ConnectorSpec, p: _core.Progress) -> None:
        with self._lock:
            c = self._connector(spec)
            c["phase"] = p.phase.name
            if p.phase in (Phase.warmup, Phase.measuring):
                t = p.elapsed_seconds - (self.plan.warmup_seconds if p.phase == Phase.warmup else 0.0)
                c["elapsed"] = f"{t:.1f} s"
                c["tps"] = f"{p.last_second_tps:,.0f}"
                c["p99"] = html_report.latency_text(p.last_second_p99_ns / 1e6) if p.last_second_p99_ns else "-"
                c["committed"] = f"{p.committed:,}"
                # One point a second: the last second's TPS as the engine computed it.
                if c["_next"] is None or t >= c["_next"]:
                    c["t"].append(round(t, 2))
                    c["tps_series"].append(p.last_second_tps)
                    c["_next"] = t + INTERVAL_SECONDS
            self._status = f"{spec.label}: {p.phase.name}"
            self._version += 1

    def finished(self, spec: ConnectorSpec, entry: dict[str, Any]) -> None:
        with self._lock:
            c = self._connector(spec)
            c["phase"] = "done" if entry["status"] == "ok" else entry["status"]
            if "latency" in entry:
                c["tps"], c["p99"] = f"{entry['tps']:,.0f}", html_report.latency_text(entry["latency"]["p99"])
                c["committed"] = f"{entry['committed']:,}"
            c["t"], c["tps_series"] = [], []  # the finished entry's own series replaces the live one
            self._report["connectors"].append(entry)
            self._version += 1

    def ended(self, interrupted: bool) -> None:
        with self._lock:
            self._status = "interrupted" if interrupted else "finished"
            self._report["status"] = self._status
            self._version += 1

    def model_json(self) -> str:
        """The page's model now, as JSON (rebuilt only when something changed)."""
        with self._lock:
            version = self._version
            if self._cache is not None and self._cache[0] == version:
                return self._cache[1]
            report = dict(self._report, connectors=list(self._report["connectors"]))
            connectors = [{k: v for k, v in c.items() if not k.startswith("_")} for c in self._live.values()]
            status = self._status
        live = {
            "status": status, "updated": time.strftime("%H:%M:%S"),
            "connectors": connectors,
            "runs": [{"label": c["label"], "t": c["t"], "tps": c["tps_series"], "warmup_seconds": c["warmup_seconds"]}
                     for c in connectors if c["t"]],
        }
        text = json.dumps(html_report.page_model([(f"{report['test']} (live)", report)], live=live), allow_nan=False)
        with self._lock:
            self._cache = (version, text)
        return text


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the console shows the run, not the page's requests

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/":
            body = self.server.page.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/events":
            self._events()
        elif self.path == "/favicon.ico":  # asked by every browser: none, and no error in its console
            self.send_response(204)
            self.end_headers()
        else:
            self.send_error(404)

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        stopping = self.server.stopping
        done = threading.Event()
        with self.server.streams_lock:
            self.server.streams.append(done)
        try:
            while not stopping.is_set():
                self.wfile.write(f"data: {self.server.state.model_json()}\n\n".encode())
                self.wfile.flush()
                stopping.wait(INTERVAL_SECONDS)
            self.wfile.write(f"event: end\ndata: {self.server.state.model_json()}\n\n".encode())
            self.wfile.flush()
        except OSError:
            pass  # the page was closed
        finally:
            done.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an open page never keeps the process alive
    allow_reuse_address = False  # a port in use is an error, not shared

    def __init__(self, port: int, state: LiveState, page: str):
        self.state = state
        self.page = page
        self.stopping = threading.Event()
        self.streams: list[threading.Event] = []  # one per event stream, set when it has ended
        self.streams_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)


class Dashboard:
    """The live page's server: :meth:`start` binds it (before any load) and returns its URL,
    :meth:`display` wraps the run's display to feed it, :meth:`stop` ends it."""

    def __init__(self, plan: RunPlan, port: int):
        self.interrupted = False  # set by the caller: the page says how the run ended
        self.state = LiveState(plan)
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        page = html_report.render(json.loads(self.state.model_json()), f"loadbench: {self.state.plan.test} (live)",
                                  events_url="/events")
        try:
            self._server = _Server(self.port, self.state, page)
        except OSError as exc:
            why = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise ConfigError(f"--dashboard: cannot listen on {HOST}:{self.port}: {why}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="loadbench-dashboard", daemon=True)
        self._thread.start()
        return f"http://{HOST}:{self._server.server_address[1]}/"

    def display(self, inner: Display) -> Display:
        return _Feeding(inner, self.state)

    def stop(self) -> None:
        if self._server is None:
            return
        self.state.ended(self.interrupted)
        self._server.stopping.set()  # each open page gets the last model and its stream ends
        deadline = time.monotonic() + STOP_GRACE_SECONDS  # a page that does not read is not waited for
        with self._server.streams_lock:
            streams = list(self._server.streams)
        for ended in streams:
            ended.wait(max(0.0, deadline - time.monotonic()))
        self._server.shutdown()
        self._server.server_close()
        self._server = None


class _Feeding:
    """A run's display that also feeds the dashboard's state."""

    def __init__(self, inner: Display, state: LiveState):
        self._inner, self._state = inner, state

    def __enter__(self) -> object:
        return self._inner.__enter__()

    def __exit__(self, *exc: object) -> object:
        return self._inner.__exit__(*exc)

    def phase(self, spec: ConnectorSpec, phase: str) -> None:
        self._inner.phase(spec, phase)
        self._state.phase(spec, phase)

    def progress(self, spec: ConnectorSpec, progress: _core.Progress) -> None:
        self._inner.progress(spec, progress)
        self._state.progress(spec, progress)

    def finished(self, spec: ConnectorSpec, run: ConnectorRun) -> None:
        self._inner.finished(spec, run)
        self._state.finished(spec, entry_of(run))
