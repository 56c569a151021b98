"""Distributed runs on one machine: the null connector (or SQLite, ``--connector sqlite``) on 1, 2
and 4 Dask generator processes at equal total sessions, against the same bench in a single process
(paired rounds, alternating order); the coordination overhead per run (command start to the go,
window end to the merged result) and the start skew.

    .venv/bin/python bench/distributed_scaling.py [--rounds 3] [--seconds 3] [--sessions 8]
        [--connector null|sqlite] [--dask-config quiet|default] [--generator-threads 0]

Each configuration gets its own ``dask scheduler`` and ``dask worker`` processes on loopback
(one task thread each, no nanny), started once, with ``loadbench cluster up``'s Dask settings
(:data:`loadbench.distributed.cluster.QUIET_CONFIG`; ``--dask-config default`` leaves Dask's
defaults); every round runs ``loadbench bench --cluster`` against them as a user would. Ratios
are aggregated ops/s over the single process's in the same round; the median over rounds is
printed, with the min and max. ``cpu/op`` is the generators' process CPU per operation over the
single process's (``client_cpu.per_operation_us``: the worker's Dask threads count, the scheduler
and the coordinator do not), a figure that does not depend on the CPU share the run got.

``--generator-threads T`` gives each generator T event-loop/worker threads (``bench --threads``; 0,
the default: one per core, as the single process has): with N generators of one thread each on N
cores, the cluster runs as many threads as the single process, none waiting for a core at the go.

What a 2-core machine allows: the generators share the two cores with each other (and the
scheduler), so N > 2 generators cannot add throughput; the ratio then measures what splitting
the same load over N processes costs, not scaling. Scaling (aggregated >= 0.95 x N x one
generator's) needs one core per generator at least.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadbench.distributed.cluster import quiet_env

DASK = [sys.executable, str(Path(sys.executable).parent / "dask")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, workers: int, logs: Path, env: dict[str, str]):
        import distributed

        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.procs = [subprocess.Popen([*DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                        self.address.rsplit(":", 1)[1], "--no-dashboard"],
                                       stdout=open(logs / "scheduler.log", "wb"), stderr=subprocess.STDOUT,
                                       start_new_session=True, env=env)]
        time.sleep(1.0)
        for i in range(workers):
            self.procs.append(subprocess.Popen([*DASK, "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                                                "--no-nanny", "--no-dashboard"],
                                               stdout=open(logs / f"worker-{i}.log", "wb"), stderr=subprocess.STDOUT,
                                               start_new_session=True, env=env))
        with distributed.Client(self.address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=120)

    def stop(self) -> None:
        for p in reversed(self.procs):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()


def bench(runs: Path, connector: str, seconds: float, sessions: int, cluster: str | None,
          generator_threads: int = 0) -> tuple[dict, float]:
    """One run; its report's entry and the command's wall time."""
    args = [sys.executable, "-m", "loadbench", "bench", "--connectors", connector, "--concurrency", str(sessions),
            "--seconds", str(seconds), "--warmup", "0.5", "--quiet", "--json", "--runs-dir", str(runs), "--seed", "1"]
    if cluster:
        args += ["--cluster", cluster, "--threads", str(generator_threads)]
    began = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True,
                         env={**os.environ, "VERIFY": "0", "SQLITE_FILE": str(runs / "bench.sqlite")})
    if out.returncode not in (0, 1) or not out.stdout:
        sys.exit(f"bench failed ({out.returncode}): {out.stderr.strip()}")
    if out.returncode == 1:
        print(f"note: a run failed: {out.stderr.strip()}", file=sys.stderr)
    return json.loads(out.stdout)["connectors"][0], time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--generators", default="1,2,4")
    parser.add_argument("--connector", choices=("null", "sqlite"), default="null")
    parser.add_argument("--dask-config", choices=("quiet", "default"), default="quiet")
    parser.add_argument("--generator-threads", type=int, default=0, help="threads per generator (0: one per core)")
    o = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="loadbench-distributed-"))
    (tmp / "runs").mkdir()
    env = {**os.environ, **(quiet_env() if o.dask_config == "quiet" else {})}
    print(f"{o.connector} connector, {o.sessions} sessions in all, {o.seconds:g} s windows, {o.rounds} rounds, "
          f"{os.cpu_count()} cores, nice {os.nice(0)}; Dask config: {o.dask_config}; threads per generator: "
          f"{o.generator_threads or 'one per core'}")
    print(f"{'generators':>10} {'single ops/s':>13} {'cluster ops/s':>14} {'ratio':>6} {'(min-max)':>13} "
          f"{'cpu/op':>7} {'to go s':>8} {'end->result s':>14} {'skew max ms':>12}")
    for n in (int(x) for x in o.generators.split(",")):
        logs = tmp / f"cluster-{n}"
        logs.mkdir()
        cluster = Cluster(n, logs, env)
        try:
            ratios, cpu_ratios, single, multi, to_go, to_result, skews = [], [], [], [], [], [], []
            for r in range(o.rounds):
                order = [None, cluster.address] if r % 2 == 0 else [cluster.address, None]
                got = {}
                for where in order:
                    entry, _ = bench(tmp / "runs", o.connector, o.seconds, o.sessions, where, o.generator_threads)
                    got[where] = entry
                s, c = got[None]["tps"], got[cluster.address]["tps"]
                single.append(s)
                multi.append(c)
                ratios.append(c / s)
                cpu_ratios.append(got[cluster.address]["client_cpu"]["per_operation_us"]
                                  / got[None]["client_cpu"]["per_operation_us"])
                d = got[cluster.address]["distributed"]
                to_go.append(d["coordination"]["to_go_seconds"])
                to_result.append(d["coordination"]["window_end_to_result_seconds"])
                skews.append(d["start_skew_max_ms"])
            print(f"{n:>10} {statistics.median(single):>13,.0f} {statistics.median(multi):>14,.0f} "
                  f"{statistics.median(ratios):>6.3f} {min(ratios):>6.3f}-{max(ratios):<6.3f} "
                  f"{statistics.median(cpu_ratios):>7.3f} {statistics.median(to_go):>8.3f} "
                  f"{statistics.median(to_result):>14.3f} {max(skews):>12.3f}")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
