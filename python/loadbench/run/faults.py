"""``bench --fault KIND@T[+D]``: faults injected into a local PostgreSQL on a schedule during the
measured window, and a timeline of each in the report (injected at, failures during it, time to
the first commit after it, recovery time).

Kinds (``T``: seconds into the measured window; ``D``: how long, for freeze):

- ``terminate``: ``pg_terminate_backend`` of every session whose ``application_name`` is
  ``loadbench`` (the connector sets it), run by ``psql`` with the connector's connection string;
- ``restart``: the restart command (a clean ``pg_ctl restart -m fast``);
- ``kill``: SIGKILL of the postmaster and every process below it (a crash), then the restart
  command;
- ``freeze``: SIGSTOP of the postmaster and every process below it for ``D``, then SIGCONT;
- ``netloss``: needs root and nftables (``nft``) to drop the port's packets; refused in one line
  otherwise. (Not implemented beyond that refusal: see the README.)

The target is the server loadbench finds for the connector (the connector module's
``server_pids``: ``services``, or whatever listens on a loopback URL's port, as root) or
``--server-pid``. The restart command is ``--server-restart 'CMD'`` (run by ``sh -c``), else
``pg_ctl -D DATA -m fast -w -t 60 restart`` with ``pg_ctl`` beside the postmaster's binary and
``DATA`` its working directory, run as the data directory's owner (pg_ctl restart reuses the
server's original options, ``postmaster.opts``).

Faults are driven by the run's progress callback (every ~250 ms, on the engine's monitor thread:
no thread of ours may run during the window), so they start within about 250 ms of ``T``; the
report gives the actual instant. Anything slow (psql, pg_ctl) runs as a child process polled from
later callbacks; a frozen server is always continued (:meth:`FaultInjector.finish`).

Recovery figures come from the per-second series (1 s resolution): ``first_commit_after_s`` is the
end of the first whole second after the injection with a commit, minus the injection instant (an
upper bound); ``recovery_s`` likewise for the first second whose TPS is at least
:data:`RECOVERED_SHARE` of the mean TPS over the :data:`BASELINE_S` seconds before the injection,
or None: "not recovered" by the window's end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from loadbench import _core, processes
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


def check(faults: Sequence[Fault], seconds: float, connector_kinds: Sequence[str]) -> None:
    """What can be checked from the plan alone, before any load (ConfigError, one line): the kinds
    this machine can inject, the times inside the window, a PostgreSQL connector."""
    if not faults:
        return
    for fault in faults:
        if fault.kind == "netloss":
            why = "needs root" if os.geteuid() != 0 else "needs nftables (nft), not found" if shutil.which(
                "nft") is None else "is not implemented yet in this version"
            raise ConfigError(f"--fault {fault.text}: netloss {why}")
        if fault.at_s + fault.duration_s >= seconds:
            raise ConfigError(f"--fault {fault.text}: ends at {fault.at_s + fault.duration_s:g} s, not inside the "
                              f"{seconds:g} s window")
    others = sorted({k for k in connector_kinds if k != "postgres"})
    if others or not connector_kinds:
        raise ConfigError(f"--fault: only PostgreSQL connectors take faults (here: {', '.join(others) or 'none'}); "
                          "choose them with --connectors")


@dataclass
class Target:
    """The server a run's faults hit: a way to find its root processes, its connection string,
    and the restart command (argv)."""

    find_roots: RootFinder
    url: str
    restart: list[str]
    restart_user: int | None  # uid to run the restart as (None: ourselves)
    data_dir: Path | None = None  # the postmaster's, when loadbench made the restart command

    @classmethod
    def find(cls, find_roots: RootFinder, url: str, restart_cmd: str | None) -> "Target":
        """The target behind ``find_roots``; ConfigError (before any load) when there is none, or
        no restart command can be made for it."""
        roots = find_roots()
        if not roots:
            raise ConfigError("--fault: loadbench does not know the server's processes (a local server started by "
                              "`loadbench services up`, a loopback URL while root, or --server-pid PID)")
        if restart_cmd is not None:
            return cls(find_roots, url, ["sh", "-c", restart_cmd], None)
        pid = roots[0]
        try:
            exe = Path(os.readlink(f"/proc/{pid}/exe"))
            data = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError as exc:
            raise ConfigError(f"--fault: cannot read the server process {pid} ({exc.strerror}); "
                              "give --server-restart 'CMD'") from None
        pg_ctl = exe.parent / "pg_ctl"
        if exe.name not in ("postgres", "postmaster") or not pg_ctl.is_file() or not (data / "PG_VERSION").is_file():
            raise ConfigError(f"--fault: process {pid} is not a PostgreSQL postmaster loadbench can restart; "
                              "give --server-restart 'CMD'")
        owner = data.stat().st_uid
        argv = [str(pg_ctl), "-D", str(data), "-l", str(data / "loadbench-restart.log"), "-m", "fast", "-w", "-t", "60",
                "restart"]
        return cls(find_roots, url, argv, owner if os.geteuid() == 0 and owner != os.geteuid() else None, data)

    def clear_stale_pid_file(self) -> None:
        """After a kill: a postmaster.pid naming a dead process (or a zombie no one has reaped yet,
        which pg_ctl would take for a live server) is removed, so pg_ctl restart starts the server
        with its recorded options (postmaster.opts) instead of waiting for it to stop."""
        if self.data_dir is None:
            return
        lock = self.data_dir / "postmaster.pid"
        try:
            # Lines: PID, data directory, start time, port, first socket directory, ...
            fields = lock.read_text(encoding="ascii").split("\n")
            pid = int(fields[0])
        except (OSError, ValueError):
            return
        if processes.alive(pid):
            return
        if len(fields) > 4 and fields[3].strip().isdigit() and fields[4].strip():
            # The Unix socket's lock file names the dead postmaster too, and would stop the new one.
            _unlink_if_names(Path(fields[4].strip()) / f".s.PGSQL.{fields[3].strip()}.lock", pid)
        _unlink_if_names(lock, pid)


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
    outcome: str = "pending"
    detail: str = ""


class FaultInjector:
    """Injects ``faults`` into ``target`` as the window goes. Call :meth:`on_progress` from the
    run's progress callback and :meth:`finish` after the run, always (it continues a frozen
    server and waits for a restart); :meth:`timeline` then gives the report's ``faults``."""

    def __init__(self, faults: Sequence[Fault], target: Target, clock: Callable[[], float] = time.monotonic):
        self.pending = sorted(faults, key=lambda f: f.at_s)
        self.target = target
        self.clock = clock
        self.actions: list[_Action] = []
        self.reconnects: list[tuple[float, int]] = []  # (window seconds, engine's reconnect count)
        self._t0: float | None = None
        self._wait = True
        self._tmp = Path(tempfile.mkdtemp(prefix="loadbench-faults-"))

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
        while self.pending and self.pending[0].at_s <= t:
            self._inject(self.pending.pop(0), now, t)
        self._poll(final=False)

    def _inject(self, fault: Fault, now: float, t: float) -> None:
        action = _Action(fault, injected_mono=now, injected_at_s=t)
        self.actions.append(action)
        try:
            if fault.kind == "terminate":
                self._spawn(action, self._terminate_argv(), None)
            elif fault.kind == "restart":
                self._spawn(action, self.target.restart, self.target.restart_user)
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
        except OSError as exc:
            action.outcome, action.detail = "error", f"{fault.kind} could not start: {exc}"

    def _server_pids(self) -> list[int]:
        from loadbench.run.resources import descendants

        return descendants(self.target.find_roots())

    def _terminate_argv(self) -> list[str]:
        # The connection string (it may hold a password) goes to psql in a service file readable by
        # us only, never on a command line.
        from loadbench import pg_conninfo

        service = self._tmp / "pg_service.conf"
        params = pg_conninfo.parse(self.target.url).options
        fd = os.open(service, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("[loadbench]\n" + "".join(f"{k}={v}\n" for k, v in params.items()))
        psql = shutil.which("psql") or str(Path(os.readlink(f"/proc/{self.target.find_roots()[0]}/exe")).parent / "psql")
        return ["env", f"PGSERVICEFILE={service}", "PGSERVICE=loadbench", "PGCONNECT_TIMEOUT=5", psql, "-X", "-Atq",
                "-v", "ON_ERROR_STOP=1",
                "-c", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      "WHERE application_name = 'loadbench' AND pid <> pg_backend_pid()"]

    def _spawn(self, action: _Action, argv: list[str], user: int | None) -> None:
        action.out = self._tmp / f"action-{self.actions.index(action)}.out"
        # Opened and closed on this (the monitor's) thread: its file table is its own.
        with open(action.out, "w") as out:
            action.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True, user=user)
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
        try:
            self.target.clear_stale_pid_file()
            self._spawn(action, self.target.restart, self.target.restart_user)
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
            shutil.rmtree(self._tmp, ignore_errors=True)

    def timeline(self, series: Sequence[_core.SecondPoint], window_s: float) -> list[dict[str, Any]]:
        """The report's ``faults``: one entry per fault, scheduled and injected or not."""
        # Each fault's recovery is looked for until the next one is injected.
        horizons = [a.injected_at_s for a in self.actions[1:]] + [None]
        entries = [_entry(a, series, self.reconnects, h) for a, h in zip(self.actions, horizons)]
        entries.extend({"kind": f.kind, "spec": f.text, "at_s": f.at_s, "duration_s": f.duration_s,
                        "outcome": "not injected", "detail": f"the window ended at {window_s:.3f} s"}
                       for f in self.pending)
        return entries


def _unlink_if_names(lock: Path, pid: int) -> None:
    try:
        if int(lock.read_text(encoding="ascii").split("\n", 1)[0]) == pid:
            lock.unlink()
    except (OSError, ValueError):
        pass


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
    baseline = (sum(p.committed for p in before) / sum(p.duration_s for p in before)) if before else None
    after = [p for p in series if p.t_s - p.duration_s >= inj - 1e-9 and p.duration_s >= 0.5]
    first_commit = next((p for p in after if p.committed > 0), None)
    recovered = None
    if baseline is not None:
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
        "failed_during": sum(p.failed for p in during),
        "errors_during": _errors_by_kind(during),
        "rejected_during": sum(p.rejected for p in during),
        "reconnects_during": max(0, (max(seen) if seen else 0) - at_injection),
        "first_commit_after_s": None if first_commit is None else round(first_commit.t_s - inj, 3),
        "recovery_s": None if recovered is None else round(recovered.t_s - inj, 3),
        "recovered": recovered is not None,
        **({"recovery_horizon_s": round(horizon, 3)} if horizon is not None else {}),
    }
