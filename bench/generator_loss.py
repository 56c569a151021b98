"""How long a distributed run takes to end after losing one generator mid-run, by kind of loss:
``kill`` (SIGKILL of its ``dask worker``), ``stop`` (SIGSTOP, never continued; the scheduler's
``worker-ttl`` 5 s, as ``loadbench cluster up`` sets), ``stop-ttl300`` (SIGSTOP under Dask's
default ``worker-ttl`` of 5 min: the coordinator's own result deadline ends it) and ``net`` (the
worker in a network namespace joined by a veth pair, its traffic then dropped by an nft rule;
root, ``ip`` and ``nft`` only, else left out with its reason).

    .venv/bin/python bench/generator_loss.py [--rounds 3] [--seconds 4] [--kinds kill,stop,stop-ttl300,net]

Each round: a fresh ``dask scheduler`` and two ``dask worker`` processes (one task thread, no
nanny) on loopback, ``loadbench bench --connectors null --concurrency 4 --warmup 0 --seconds S
--cluster ...``; once both generators' tasks run, 1.5 s later, one is lost. Printed per kind (the
median over rounds, with the min and max): the report's ``window_end_to_result_seconds`` (from the
window's planned end to every generator's result in hand or given up), the command's exit after
the loss, and its exit status (every round must exit 1 with the run ``partial``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

DASK = [sys.executable, str(Path(sys.executable).parent / "dask")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)


class Netns:
    """A namespace joined by a veth pair; :meth:`cut` drops everything through the pair."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 1000}{random.randrange(1000)}"
        self.ns, self.here, self.table = f"lbbench{tag}", f"lbh{tag}", f"lbbench{tag}"
        net = f"10.{random.randrange(200, 250)}.{random.randrange(1, 255)}"
        self.host_ip, self.ns_ip = f"{net}.1", f"{net}.2"
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.here, "type", "veth", "peer", "name", f"lbn{tag}")
        sh("ip", "link", "set", f"lbn{tag}", "netns", self.ns)
        sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.here)
        sh("ip", "link", "set", self.here, "up")
        sh("ip", "-n", self.ns, "addr", "add", f"{self.ns_ip}/30", "dev", f"lbn{tag}")
        sh("ip", "-n", self.ns, "link", "set", f"lbn{tag}", "up")
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")

    def cut(self) -> None:
        t = self.table
        sh("nft", "add", "table", "inet", t)
        sh("nft", "add", "chain", "inet", t, "in", "{ type filter hook input priority -10 ; }")
        sh("nft", "add", "chain", "inet", t, "out", "{ type filter hook output priority -10 ; }")
        sh("nft", "add", "rule", "inet", t, "in", "iifname", self.here, "drop")
        sh("nft", "add", "rule", "inet", t, "out", "oifname", self.here, "drop")

    def close(self) -> None:
        for argv in (["nft", "delete", "table", "inet", self.table], ["ip", "link", "del", self.here],
                     ["ip", "netns", "del", self.ns]):
            subprocess.run(argv, capture_output=True, timeout=30)


def round_of(kind: str, seconds: float, tmp: Path) -> tuple[float, float, int, str]:
    """One run losing one generator by ``kind``: (window end to result s, loss to exit s, exit status, error)."""
    import distributed

    netns = Netns() if kind == "net" else None
    host = netns.host_ip if netns else "127.0.0.1"
    port = free_port()
    address = f"tcp://{host}:{port}"
    ttl = "300s" if kind == "stop-ttl300" else "5s"
    logs = open(tmp / f"{kind}.log", "ab")
    procs = [subprocess.Popen([*DASK, "scheduler", "--host", host, "--port", str(port), "--no-dashboard"],
                              stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
                              env={**os.environ, "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": ttl})]
    try:
        time.sleep(1.0)
        for prefix, wh in (((), "127.0.0.1"), (("ip", "netns", "exec", netns.ns) if netns else (),
                                               netns.ns_ip if netns else "127.0.0.1")):
            procs.append(subprocess.Popen([*prefix, *DASK, "worker", address, "--host", wh, "--nthreads", "1",
                                           "--no-nanny", "--no-dashboard"], stdout=logs, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        victim = procs[-1]
        with distributed.Client(address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        lose: Callable[[], None] = {
            "kill": lambda: os.kill(victim.pid, signal.SIGKILL),
            "stop": lambda: os.kill(victim.pid, signal.SIGSTOP),
            "stop-ttl300": lambda: os.kill(victim.pid, signal.SIGSTOP),
            "net": netns.cut if netns else lambda: None,
        }[kind]
        bench = subprocess.Popen([sys.executable, "-m", "loadbench", "bench", "--connectors", "null", "--concurrency",
                                  "4", "--warmup", "0", "--seconds", str(seconds), "--quiet", "--json", "--runs-dir",
                                  str(tmp / "runs"), "--cluster", address],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with distributed.Client(address, timeout="30s", set_as_default=False) as client:
            while sum(len(t) for t in client.processing().values()) < 2:
                time.sleep(0.05)
        time.sleep(1.5)
        lose()
        lost_at = time.monotonic()
        out, err = bench.communicate(timeout=300)
        exited = time.monotonic() - lost_at
        entry = json.loads(out)["connectors"][0]
        d = entry["distributed"]
        if bench.returncode != 1 or not d["partial"]:
            sys.exit(f"{kind}: expected exit 1 and a partial run, got {bench.returncode}: {err.strip()}")
        return d["coordination"]["window_end_to_result_seconds"], exited, bench.returncode, entry["error"]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if netns:
            netns.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--kinds", default="kill,stop,stop-ttl300,net")
    o = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="loadbench-generator-loss-"))
    print(f"null connector, 2 generators, one lost 1.5 s into a {o.seconds:g} s window; {o.rounds} rounds "
          f"(median, min-max)")
    print(f"{'loss':<12} {'window end->result s':>22} {'loss->exit s':>18}  exit  error")
    for kind in o.kinds.split(","):
        if kind == "net" and (os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip")):
            print(f"{kind:<12} left out: needs root, ip and nft")
            continue
        rows = [round_of(kind, o.seconds, tmp) for _ in range(o.rounds)]
        to_result, to_exit = [r[0] for r in rows], [r[1] for r in rows]
        print(f"{kind:<12} {statistics.median(to_result):>8.2f} ({min(to_result):.2f}-{max(to_result):.2f})"
              f" {statistics.median(to_exit):>8.2f} ({min(to_exit):.2f}-{max(to_exit):.2f})  "
              f"{rows[0][2]:>4}  {rows[0][3].split('; the merged')[0].split(') ', 1)[-1]}")


if __name__ == "__main__":
    main()
