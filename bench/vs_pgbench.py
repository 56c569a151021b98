#!/usr/bin/env python3
"""loadbench vs pgbench on one throwaway PostgreSQL: test-1's transfer as one function call
(`SELECT transfer(from, to, amount)`), same accounts, same uniform (alpha 0) or Zipf (alpha > 1,
pgbench's random_zipfian) choice, at each concurrency; in each round both tools run back to back,
taking turns to go first. Prints median TPS, the median and range of the rounds' TPS ratios, and
each tool's own CPU time per transaction.

    .venv/bin/python bench/vs_pgbench.py [--concurrency 1,8,32,64] [--seconds 10] [--rounds 2]
                                         [--pipeline 8] [--pin]

--pin puts the server on the first CPU and both clients on the others, so that neither tool's
work takes CPU from the server: the TPS ratio then says whether a client keeps up with it.

CPU per transaction: pgbench's is its whole process (rusage of the child, connection setup
included) over the transactions it reports; loadbench's is its process during the measured window
(`client_cpu` in the report) over the operations in the window. The server runs with
synchronous_commit off (and fsync off): with durable commits both tools wait on the disk and the
comparison says nothing about the clients.

Targets (README): loadbench TPS >= 1.0 x pgbench at every concurrency in function mode; loadbench's
CPU per transaction <= pgbench's; with --pipeline K (K transfers in flight per connection),
loadbench exceeds pgbench's TPS at the same connection count.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from _anchor import loadbench, loadbench_report, throwaway_postgres

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from loadbench.connectors.postgres_cluster import find_pg_binary  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pgbench(url: str, script: Path, accounts: int, clients: int, seconds: float) -> tuple[float, float]:
    """(tps, CPU seconds per transaction) of one pgbench run."""
    threads = min(clients, os.cpu_count() or 1)
    before = children_cpu()
    out = subprocess.run([find_pg_binary("pgbench"), "-n", "-M", "prepared", "-f", str(script), "-D",
                          f"accounts={accounts}", "-c", str(clients), "-j", str(threads), "-T", str(int(seconds)), url],
                         check=True, capture_output=True, text=True).stdout
    cpu = children_cpu() - before
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    done = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    return tps, cpu / done


def run_loadbench(env: dict, accounts: int, clients: int, seconds: float, alpha: float, inflight: int,
                  seed: int) -> tuple[float, float]:
    report = loadbench_report("--connectors", "postgres", "--accounts", str(accounts), "--skip-prep", "--no-verify",
                              "--concurrency", str(clients), "--inflight", str(inflight), "--seconds", str(seconds),
                              "--warmup", "1", "--alpha", str(alpha), "--seed", str(seed), env=env)
    entry = report["connectors"][0]
    return entry["throughput"]["operations_per_s"], entry["client_cpu"]["per_operation_us"] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--alpha", type=float, default=0.0, help="0 (uniform) or > 1 (pgbench's zipfian)")
    parser.add_argument("--pipeline", type=int, default=8, help="also run loadbench with this many in flight per connection (0: skip)")
    parser.add_argument("--pin", action="store_true",
                        help="server on the first CPU, the clients on the others: they no longer compete for a core")
    args = parser.parse_args()
    if 0 < args.alpha <= 1:
        sys.exit("pgbench's random_zipfian needs alpha > 1; use 0 for uniform")

    server_cpus = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            sys.exit("--pin needs at least 2 CPUs")
        server_cpus = {cpus[0]}
    with throwaway_postgres(args.alpha, "lb-vs-pgbench-", server_cpus) as (url, env, script):
        if server_cpus:
            os.sched_setaffinity(0, set(cpus[1:]))  # pgbench and loadbench inherit it
            print(f"pinned: server on CPU {cpus[0]}, clients on {cpus[1:]}")
        print(f"PostgreSQL at {url}, {args.accounts:,} accounts, alpha {args.alpha:g}, "
              f"{args.seconds:g} s per run, {args.rounds} rounds, median of rounds")
        print(f"{'clients':>8} {'pgbench tps':>12} {'loadbench tps':>14} {'ratio':>6} {'range':<11}"
              f"{'pgbench cpu/txn':>16} {'loadbench cpu/txn':>18}"
              + (f" {'pipelined x' + str(args.pipeline) + ' tps':>20} {'ratio':>6}" if args.pipeline else ""))

        def fresh_accounts() -> None:
            # Before each tool's run: as balances drain, more transfers are rejected.
            loadbench("prep", "--connectors", "postgres", "--accounts", str(args.accounts), env=env)

        for clients in (int(c) for c in args.concurrency.split(",")):
            pg, lb, piped = [], [], []
            for r in range(args.rounds):
                # The tools take turns going first, so a drift of the machine favours neither.
                def pgbench_round() -> None:
                    fresh_accounts()
                    pg.append(run_pgbench(url, script, args.accounts, clients, args.seconds))

                def loadbench_round() -> None:
                    fresh_accounts()
                    lb.append(run_loadbench(env, args.accounts, clients, args.seconds, args.alpha, 1, r + 1))

                for run in (pgbench_round, loadbench_round) if r % 2 == 0 else (loadbench_round, pgbench_round):
                    run()
                if args.pipeline:
                    fresh_accounts()
                    piped.append(run_loadbench(env, args.accounts, clients, args.seconds, args.alpha,
                                               args.pipeline, r + 1))
            # Each round's two runs are a pair, measured back to back: the ratio is the
            # median of the rounds' ratios (min and max show the spread).
            ratios = [ours[0] / theirs[0] for theirs, ours in zip(pg, lb)]
            line = (f"{clients:>8} {statistics.median(t for t, _ in pg):>12,.0f} "
                    f"{statistics.median(t for t, _ in lb):>14,.0f} {statistics.median(ratios):>6.2f} "
                    f"{min(ratios):>5.2f}-{max(ratios):<5.2f}"
                    f"{statistics.median(c for _, c in pg) * 1e6:>13.1f} us "
                    f"{statistics.median(c for _, c in lb) * 1e6:>15.1f} us")
            if args.pipeline:
                piped_ratios = [q[0] / p[0] for p, q in zip(pg, piped)]
                line += f" {statistics.median(t for t, _ in piped):>20,.0f} {statistics.median(piped_ratios):>6.2f}"
            print(line, flush=True)
            print(f"{'':>8} rounds' ratios: {' '.join(f'{x:.2f}' for x in ratios)}", flush=True)


if __name__ == "__main__":
    main()
