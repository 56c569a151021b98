"""``bench --fault KIND@T[+D]``: faults injected into a connector's local server on a schedule
during the measured window, and a timeline of each in the report (injected at, failures during it,
time to the first commit after it, recovery time).

Kinds (``T``: seconds into the measured window; ``D``: how long, for freeze and netloss):

- ``terminate``: every loadbench session ended server-side by the client command of the connector
  module's ``FAULT_TARGET`` (PostgreSQL: ``pg_terminate_backend`` through psql; MariaDB: ``KILL
  CONNECTION`` through the mariadb client; Redis: ``CLIENT KILL`` through redis-cli), a child
  process;
- ``restart``: the restart command (the module's default, or ``--server-restart``): a clean
  restart;
- ``kill``: SIGKILL of the server's root processes and every process below them (a crash), then
  the restart command;
- ``freeze``: SIGSTOP of the same processes for ``D``, then SIGCONT;
- ``netloss``: for ``D``, every TCP packet to or from the server's port on loopback dropped, by
  an nftables table of the run's own (``inet loadbench_<pid>_<n>``, output hook: ``tcp dport PORT
  drop``, ``tcp sport PORT drop``), deleted at the end of ``D`` and, whatever happens, when the run
  ends (Ctrl-C, SIGTERM, a failure, exit). Needs root and ``nft``; any connector whose server is
  reached over loopback TCP takes it.

Which connectors take which kinds is declared, not listed here: a connector module's
``FAULT_TARGET`` (:class:`~loadbench.connectors.spec.FaultTarget`; None: netloss only) and its
``endpoint``. Anything refused is refused in one line, exit 2, before any load (:func:`check`,
:meth:`Target.find`).

The target is the server loadbench finds for the connector (the module's ``server_pids``:
``services``, or whatever listens on a loopback URL's port, as root) or ``--server-pid``. The
restart command is ``--server-restart 'CMD'`` (run by ``sh -c``), else the module's.

Faults are driven by the run's progress callback (every ~250 ms, on the engine's monitor thread: no
thread of ours may run during the window), so they start within about 250 ms of ``T``; the report
gives the actual instant. A fault that acts on the server (terminate, restart, kill, freeze) due
while an earlier restart or kill's restart command is still running waits until it is done (its
``detail`` says for how long and for which): killing a postmaster that pg_ctl is still bringing up
through crash recovery (seconds with fsync on: it fsyncs the data directory first) would fail that
restart ("could not start server", exit 1) and hit a server not yet up. Anything slow (a client, a
restart) runs as a child process polled from later callbacks; a frozen server is always continued
and a netloss table always deleted (:meth:`FaultInjector.finish`).

Recovery figures come from the per-second series (1 s resolution): ``first_commit_after_s`` is the
end of the first whole second after the injection with a commit, minus the injection instant (an
upper bound); ``recovery_s`` likewise for the first second whose TPS is at least
:data:`RECOVERED_SHARE` of the mean TPS over the :data:`BASELINE_S` seconds before the injection,
or None: "not recovered" by the window's end, or when the baseline is 0 TPS (nothing to come back
to: with no commit after the fault either, "recovered" would be a wrong number).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from loadbench import _core, connectors, processes
from loadbench.connectors.spec import ConnectorSpec, FaultTarget, ServerRestart
from loadbench.errors import ConfigError

KINDS = ("terminate", "restart", "kill", "freeze", "netloss")
RECOVERED_SHARE = 0.9
BASELINE_S = 5.0
_SPEC = re.compile(r"^(?P<kind>[a-z]+)@(?P<at>\d+(?:\.\d*)?)s?(?:\+(?P<d>\d+(?:\.\d*)?)s?)?$")
_ACTION_TIMEOUT_S = 90.0  # a restart that takes longer is given up on (killed) and reported

RootFinder = Callable[[], list[int]]


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: ``kind`` at ``at_s`` seconds into the window, lasting ``duration_s``
    (freeze, netloss; 0 for the instant kinds)."""

    kind: str
    at_s: float
    duration_s: float
    text: str


def parse(text: str) -> Fault:
    """``KIND@T[+D]`` (``s`` after a number allowed: ``freeze@4s+3s``); ConfigError otherwise."""
    m = _SPEC.match(text.strip())
    if m is None:
        raise ConfigError(f"--fault {text!r}: expected KIND@T[+D] (e.g. restart@5s, freeze@4s+3s) with KIND one of "
                          f"{', '.join(KINDS)}")
    kind = m["kind"]
    if kind not in KINDS:
        raise ConfigError(f"--fault {text!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    duration = float(m["d"]) if m["d"] is not None else 0.0
    if kind in ("freeze", "netloss") and duration <= 0:
        raise ConfigError(f"--fault {text!r}: {kind} needs a duration, {kind}@T+D (e.g. {kind}@4s+3s)")
    if kind not in ("freeze", "netloss") and m["d"] is not None:
        raise ConfigError(f"--fault {text!r}: {kind} is instant and takes no +D")
    return Fault(kind, float(m["at"]), duration, text.strip())


def parse_all(texts: Sequence[str]) -> tuple[Fault, ...]:
    return tuple(parse(t) for t in texts)


SERVER_KINDS = ("terminate", "restart", "kill", "freeze")  # what a connector's FAULT_TARGET makes possible
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_NFT_TIMEOUT_S = 10.0


def netloss_unavailable() -> str | None:
    """Why this run cannot drop packets (not root, no ``nft``), or None."""
    if os.geteuid() != 0:
        return "needs root (an nftables rule)"
    if shutil.which("nft") is None:
        return "needs nftables (nft), not found (Debian: apt-get install nftables)"
    return None


def check(faults: Sequence[Fault], seconds: float, specs: Sequence[ConnectorSpec]) -> None:
    """What can be checked from the plan alone, before any load (ConfigError, one line): the kinds
    this machine can inject, the times inside the window, connectors that take each kind."""
    if not faults:
        return
    for fault in faults:
        if fault.kind == "netloss":
            why = netloss_unavailable()
            if why is not None:
                raise ConfigError(f"--fault {fault.text}: netloss {why}")
        if fault.at_s + fault.duration_s >= seconds:
            raise ConfigError(f"--fault {fault.text}: ends at {fault.at_s + fault.duration_s:g} s, not inside the "
                              f"{seconds:g} s window")
    if not specs:
        raise ConfigError("--fault: no connector selected; choose one with --connectors")
    kinds = {f.kind for f in faults}
    for spec in specs:
        module = connectors.module_of(spec.kind)
        if module.FAULT_TARGET is None and kinds & set(SERVER_KINDS):
            raise ConfigError(f"--fault: {spec.name} takes no {'/'.join(k for k in SERVER_KINDS if k in kinds)} "
                              "faults: loadbench does not act on its server (only netloss, where its port is "
                              "known); choose others with --connectors")
        if "netloss" in kinds:
            found = module.endpoint(spec)
            if found is None or found[0] not in _LOOPBACK:
                raise ConfigError(f"--fault netloss: {spec.name} is not reached over loopback TCP (its port "
                                  "unknown, or another machine's): netloss drops only this machine's loopback packets")


@dataclass
class Target:
    """The server a run's faults hit: a way to find its root processes, its connection string,
    its fault target (None: netloss only), the restart command, and its loopback TCP port."""

    find_roots: RootFinder
    url: str
    kind: str  # the connector's kind (its module's)
    fault_target: FaultTarget | None = None
    restart: ServerRestart | None = None  # None: no fault of the run restarts it
    port: int | None = None  # for netloss

    @classmethod
    def find(cls, spec: ConnectorSpec, find_roots: RootFinder, restart_cmd: str | None,
             faults: Sequence[Fault]) -> "Target":
        """The target of ``spec``'s faults; ConfigError (before any load) when loadbench does not
        know the server's processes for a kind that needs them, or cannot restart it."""
        module = connectors.module_of(spec.kind)
        kinds = {f.kind for f in faults}
        url = spec.options.get("url", "")
        target = cls(find_roots, url, spec.kind, module.FAULT_TARGET)
        if "netloss" in kinds:
            found = module.endpoint(spec)
            target.port = found[1] if found is not None else None
        if not kinds & {"restart", "kill", "freeze"}:
            return target
        roots = find_roots()
        if not roots:
            raise ConfigError("--fault: loadbench does not know the server's processes (a local server started by "
                              "`loadbench services up`, a loopback URL while root, or --server-pid PID)")
        if kinds & {"restart", "kill"}:
            if restart_cmd is not None:
                target.restart = ServerRestart(("sh", "-c", restart_cmd))
            else:
                assert module.FAULT_TARGET is not None  # check() refused the rest
                target.restart = module.FAULT_TARGET.restart(roots, url)
        return target


@dataclass
class _Action:
    fault: Fault
    injected_mono: float = 0.0
    injected_at_s: float = 0.0
    ended_at_s: float | None = None
    process: subprocess.Popen[bytes] | None = None
    out: Path | None = None
    stopped_pids: list[int] = field(default_factory=list)
    killed_pids: list[int] = field(default_factory=list)  # kill: the restart waits until these are gone
    table: str | None = None  # netloss: its nftables table, until deleted
    outcome: str = "pending"
    detail: str = ""


class FaultInjector:
    """Injects ``faults`` into ``target`` as the window goes. Call :meth:`on_progress` from the
    run's progress callback and :meth:`finish` after the run, always (it continues a frozen
    server and waits for a restart); :meth:`timeline` then gives the report's ``faults``."""

    def __init__(self, faults: Sequence[Fault], target: Target, clock: Callable[[], float] = time.monotonic,
                 window_s: float | None = None):
        self.window_s = window_s  # a fault whose time comes only after it (in the drain) is not injected
        self.pending = sorted(faults, key=lambda f: f.at_s)
        self.target = target
        self.clock = clock
        self.actions: list[_Action] = []
        self.reconnects: list[tuple[float, int]] = []  # (window seconds, engine's reconnect count)
        self._t0: float | None = None
        self._wait = True
        self._deferred: dict[int, str] = {}  # id(pending fault) -> the fault whose restart it waits for
        # 0700 (mkdtemp's): the terminate command's files (a password among them); deleted by finish().
        self._tmp = Path(tempfile.mkdtemp(prefix="loadbench-faults-"))
        # A netloss table outlives nothing of ours: deleted by finish(), or at the latest at exit.
        atexit.register(self._drop_tables)

    def on_progress(self, progress: _core.Progress) -> None:
        if progress.phase != _core.Phase.measuring:
            if progress.phase == _core.Phase.stopping:
                self._poll(final=False)
            return
        now = self.clock()
        if self._t0 is None:
            self._t0 = now - progress.elapsed_seconds
        t = now - self._t0
        self.reconnects.append((t, progress.reconnects))
        self._poll(final=False)  # a restart that has just finished no longer defers what is due
        if self.window_s is not None and t >= self.window_s:
            return  # the window has ended: nothing more is injected (finish() reports the rest)
        for fault in [f for f in self.pending if f.at_s <= t]:
            restarting = self._restarting() if fault.kind in SERVER_KINDS else None
            if restarting is None:
                self.pending.remove(fault)
                self._inject(fault, now, t)
            else:
                self._deferred[id(fault)] = restarting.fault.text
        self._poll(final=False)

    def _restarting(self) -> _Action | None:
        """The restart or kill whose restart command is still running, if any. A fault that acts
        on the server waits for it: killed while pg_ctl waits for its crash recovery, the new
        postmaster would take the restart down with it ("could not start server", exit 1) and
        the fault would hit a server that is not up yet, not the running one it is meant for."""
        return next((a for a in self.actions if a.fault.kind in ("restart", "kill")
                     and a.outcome in ("killed", "running")), None)

    def _inject(self, fault: Fault, now: float, t: float) -> None:
        action = _Action(fault, injected_mono=now, injected_at_s=t)
        self.actions.append(action)
        self._act(action, fault)
        waited_for = self._deferred.pop(id(fault), None)
        if waited_for is not None:
            action.detail = (f"deferred {t - fault.at_s:.2f} s until the restart of {waited_for} was done; "
                             + action.detail)

    def _act(self, action: _Action, fault: Fault) -> None:
        try:
            if fault.kind == "terminate":
                assert self.target.fault_target is not None  # check() refused a connector without one
                command = self.target.fault_target.terminate(self.target.url, self._tmp)
                self._spawn(action, list(command.argv), None, command.env)
            elif fault.kind == "restart":
                assert self.target.restart is not None  # Target.find made it for this schedule
                self._spawn(action, list(self.target.restart.argv), self.target.restart.uid)
            elif fault.kind == "netloss":
                self._netloss(action)
            elif fault.kind == "kill":
                action.killed_pids = self._server_pids()
                for pid in action.killed_pids:
                    _signal(pid, signal.SIGKILL)
                action.detail = f"SIGKILL to {len(action.killed_pids)} processes"
                action.outcome = "killed"  # the restart starts once they are gone (_poll)
            elif fault.kind == "freeze":
                action.stopped_pids = self._server_pids()
                for pid in action.stopped_pids:
                    _signal(pid, signal.SIGSTOP)
                action.detail = f"SIGSTOP to {len(action.stopped_pids)} processes"
                if not action.stopped_pids:  # nothing frozen: not a fault that lasted D
                    action.ended_at_s, action.outcome, action.detail = action.injected_at_s, "error", "no server process found"
        except (OSError, RuntimeError, ValueError, ConfigError) as exc:
            action.outcome, action.detail = "error", f"{fault.kind} could not start: {exc}"

    def _server_pids(self) -> list[int]:
        from loadbench.run.resources import descendants

        return descendants(self.target.find_roots())

    def _netloss(self, action: _Action) -> None:
        port = self.target.port
        assert port is not None  # check() refused a connector without one
        table = f"loadbench_{os.getpid()}_{len(self.actions)}"
        _nft(netloss_table(table, port))
        action.table = table
        action.detail = f"TCP port {port} dropped on loopback (nftables table inet {table})"

    def _drop_tables(self) -> None:
        for action in self.actions:
            if action.table is not None:
                try:
                    _nft(f"delete table inet {action.table}\n")
                except OSError as exc:
                    action.outcome = "error"
                    action.detail += f"; its table could not be deleted: {exc}"
                action.table = None

    def _spawn(self, action: _Action, argv: list[str], user: int | None, env: Mapping[str, str] | None = None) -> None:
        action.out = self._tmp / f"action-{self.actions.index(action)}.out"
        # Opened and closed on this (the monitor's) thread: its file table is its own.
        with open(action.out, "w") as out:
            action.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True, user=user,
                                              env={**os.environ, **env} if env else None)
        action.outcome = "running"

    def _poll(self, final: bool) -> None:
        now = self.clock()
        for action in self.actions:
            t = now - self._t0 if self._t0 is not None else 0.0
            if action.fault.kind == "freeze" and action.ended_at_s is None:
                if final or now - action.injected_mono >= action.fault.duration_s:
                    for pid in action.stopped_pids:
                        _signal(pid, signal.SIGCONT)
                    action.ended_at_s, action.outcome = t, "done"
            if action.fault.kind == "netloss" and action.ended_at_s is None and action.outcome != "error":
                if final or now - action.injected_mono >= action.fault.duration_s:
                    try:
                        if action.table is not None:
                            _nft(f"delete table inet {action.table}\n")
                        action.table = None
                        action.ended_at_s, action.outcome = t, "done"
                    except OSError as exc:
                        action.ended_at_s, action.outcome = t, "error"
                        action.detail += f"; deleting its table failed: {exc}"
            if action.outcome == "killed":
                self._restart_when_gone(action, now, final)
            process = action.process
            if process is None or action.ended_at_s is not None:
                continue
            code = process.poll()
            if code is None and final and not self._wait:
                action.outcome = "running"
                action.detail = f"{action.fault.kind} still running when the run was interrupted (left to finish)"
                continue
            if code is None and final:
                try:
                    code = process.wait(timeout=max(0.1, _ACTION_TIMEOUT_S - (now - action.injected_mono)))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    action.ended_at_s, action.outcome = t, "error"
                    action.detail = f"{action.fault.kind} took over {_ACTION_TIMEOUT_S:g} s and was stopped"
                    continue
                t = self.clock() - self._t0 if self._t0 is not None else 0.0
            if code is None:
                continue
            text = action.out.read_text(errors="replace").strip() if action.out else ""
            last = text.splitlines()[-1] if text else ""
            action.ended_at_s = t
            if code == 0:
                action.outcome = "done"
                if action.fault.kind == "terminate":
                    action.detail = f"{last} sessions terminated"
                elif last:  # the restart command's last word: "server started", "restarted as process N"
                    action.detail = f"{action.detail}; {last}" if action.detail else last
            else:
                action.outcome = "error"
                action.detail = f"{action.fault.kind} exited {code}: {last}"

    def _restart_when_gone(self, action: _Action, now: float, final: bool) -> None:
        # After an interrupt the run must end promptly: a second at most for the processes to go.
        deadline = action.injected_mono + 10.0 if self._wait else min(action.injected_mono + 10.0, self.clock() + 1.0)
        while any(processes.alive(pid) for pid in action.killed_pids):
            if not final and self.clock() < deadline:
                return  # asked again at the next progress call
            if self.clock() >= deadline:
                break  # restart anyway: the command says what is wrong
            time.sleep(0.05)
        restart = self.target.restart
        assert restart is not None  # Target.find made it for this schedule
        try:
            if restart.after_kill is not None:
                restart.after_kill()
            self._spawn(action, list(restart.argv), restart.uid)
        except OSError as exc:
            action.outcome, action.detail = "error", f"the restart after kill could not start: {exc}"
            action.ended_at_s = now - self._t0 if self._t0 is not None else 0.0

    def finish(self, wait: bool = True) -> None:
        """Continues a frozen server and, with ``wait``, waits for restarts still running (at most
        :data:`_ACTION_TIMEOUT_S` each); without it (an interrupted run, which must end promptly)
        they are left to finish on their own. Safe to call more than once."""
        self._wait = wait
        try:
            self._poll(final=True)
        finally:
            self._drop_tables()
            shutil.rmtree(self._tmp, ignore_errors=True)

    def timeline(self, series: Sequence[_core.SecondPoint], window_s: float) -> list[dict[str, Any]]:
        """The report's ``faults``: one entry per fault, scheduled and injected or not."""
        # Each fault's recovery is looked for until the next one is injected.
        horizons = [a.injected_at_s for a in self.actions[1:]] + [None]
        entries = [_entry(a, series, self.reconnects, h) for a, h in zip(self.actions, horizons)]
        entries.extend({"kind": f.kind, "spec": f.text, "at_s": f.at_s, "duration_s": f.duration_s,
                        "outcome": "not injected",
                         "detail": f"the window ended (at {window_s:.3f} s) before the first check after its time: faults are "
                                   f"injected at the run's progress ticks, about every 0.25 s"}
                       for f in self.pending)
        return entries


def netloss_table(table: str, port: int) -> str:
    """The nft script of a netloss table: TCP port ``port`` dropped both ways on loopback."""
    return (f"add table inet {table}\n"
            f"add chain inet {table} output {{ type filter hook output priority 0; policy accept; }}\n"
            f"add rule inet {table} output oifname \"lo\" tcp dport {port} drop\n"
            f"add rule inet {table} output oifname \"lo\" tcp sport {port} drop\n")


def _nft(script: str) -> None:
    """Runs an nftables script (``nft -f -``); OSError with nft's message when it fails."""
    try:
        done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=_NFT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise OSError(f"nft did not answer within {_NFT_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        raise OSError(f"nft exited {done.returncode}: {(done.stderr.strip().splitlines() or ['no output'])[0]}")


def _nft_out(*args: str) -> str:
    """``nft ARGS``'s standard output; "" when nft cannot be run or fails."""
    try:
        done = subprocess.run(["nft", *args], capture_output=True, text=True, timeout=_NFT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _tables() -> list[tuple[str, int]]:
    """Every netloss table on this machine as ``(name, pid of the run that made it)``; [] when
    this process cannot list them (not root, no ``nft``: checked first, without a child process)."""
    if os.geteuid() != 0 or shutil.which("nft") is None:
        return []
    listed = _nft_out("list", "tables", "inet")
    return [(name, int(pid)) for name, pid in re.findall(r"^table inet (loadbench_(\d+)_\d+)$", listed, re.M)]


def drop_stale_tables() -> list[str]:
    """Deletes the netloss tables of runs that are gone (SIGKILLed before they could delete
    theirs), and returns one line per table deleted or left (deletion failed). Called before
    anything connects, on every run: such a table drops the server's port, so a connection would
    hang on the kernel's SYN retries. Costs nothing but a ``which`` when not root or no ``nft``."""
    lines = []
    for name, pid in _tables():
        if processes.alive(pid):
            continue  # a run still going: its table is its own
        try:
            _nft(f"delete table inet {name}\n")
            lines.append(f"deleted the nftables table inet {name} left by a netloss run (process {pid}, gone): "
                         "it dropped a server's port")
        except OSError as exc:
            lines.append(f"could not delete the nftables table inet {name} left by a netloss run (process {pid}, "
                         f"gone): {exc}; delete it with: nft delete table inet {name}")
    return lines


def tables_dropping(port: int) -> list[str]:
    """The netloss tables (any run's) whose rules drop TCP ``port``, as ``inet NAME``: what a
    connection error names, since such a table makes a server look unreachable."""
    found = []
    for name, _ in _tables():
        rules = _nft_out("list", "table", "inet", name)
        if re.search(rf"\b[sd]port {port} drop\b", rules):
            found.append(f"inet {name}")
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # gone meanwhile


def _errors_by_kind(points: Sequence[_core.SecondPoint]) -> dict[str, int]:
    """The failures of ``points`` by kind (the report's kind names; kinds with none left out)."""
    found: dict[str, int] = {}
    for p in points:
        for kind, n in p.errors.items():
            found[kind.name] = found.get(kind.name, 0) + n
    return found


def _entry(action: _Action, series: Sequence[_core.SecondPoint], reconnects: list[tuple[float, int]],
           horizon: float | None) -> dict[str, Any]:
    inj = action.injected_at_s
    if horizon is not None:
        series = [p for p in series if p.t_s <= horizon + 1e-9]
    before = [p for p in series if p.t_s <= inj + 1e-9 and p.t_s - p.duration_s >= inj - BASELINE_S - 1e-9]
    baseline_s = sum(p.duration_s for p in before)
    baseline = (sum(p.committed for p in before) / baseline_s) if before else None
    after = [p for p in series if p.t_s - p.duration_s >= inj - 1e-9 and p.duration_s >= 0.5]
    first_commit = next((p for p in after if p.committed > 0), None)
    recovered = None
    if baseline:  # None or 0 TPS before it: nothing to come back to, so never "recovered"
        recovered = next((p for p in after if p.committed / p.duration_s >= RECOVERED_SHARE * baseline), None)
    until = recovered.t_s if recovered is not None else (series[-1].t_s if series else inj)
    during = [p for p in series if p.t_s > inj and p.t_s - p.duration_s < until]
    seen = [r for t, r in reconnects if t <= until + 1e-9]
    at_injection = max((r for t, r in reconnects if t <= inj + 1e-9), default=0)
    return {
        "kind": action.fault.kind,
        "spec": action.fault.text,
        "at_s": action.fault.at_s,
        "duration_s": action.fault.duration_s,
        "injected_at_s": round(inj, 3),
        "ended_at_s": None if action.ended_at_s is None else round(action.ended_at_s, 3),
        "outcome": action.outcome,
        "detail": action.detail,
        "baseline_tps": None if baseline is None else round(baseline, 1),
        "baseline_s": None if baseline is None else round(baseline_s, 3),
        "failed_during": sum(p.failed for p in during),
        "errors_during": _errors_by_kind(during),
        "rejected_during": sum(p.rejected for p in during),
        "reconnects_during": max(0, (max(seen) if seen else 0) - at_injection),
        "first_commit_after_s": None if first_commit is None else round(first_commit.t_s - inj, 3),
        "recovery_s": None if recovered is None else round(recovered.t_s - inj, 3),
        "recovered": recovered is not None,
        **({"recovery_horizon_s": round(horizon, 3)} if horizon is not None else {}),
    }
