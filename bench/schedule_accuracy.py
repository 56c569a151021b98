#!/usr/bin/env python3
"""How precisely loadbench keeps an open-loop schedule, and how it compares with `pgbench -R`.

Part 1, the null connector at 10k, 100k and 1M operations/s (regular and Poisson arrivals): the
achieved rate and the start lag (actual start - intended start) p50, p99 and max. The null
connector does no work, so this is the harness's own precision.

Part 2, one throwaway PostgreSQL, test-1's transfer as a function call at the same rate and
connection count from both tools: pgbench -R (its "schedule lag" average and max, its latency
average, which pgbench also counts from the scheduled start) beside loadbench --rate.

    .venv/bin/python bench/schedule_accuracy.py [--seconds 5] [--pg-rate 2000] [--pg-clients 8]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from _anchor import loadbench, loadbench_report, throwaway_postgres

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from loadbench.connectors.postgres_cluster import find_pg_binary  # noqa: E402


def null_schedule(rate: int, arrival: str, seconds: float, sessions: int) -> str:
    entry = loadbench_report("--connectors", "null", "--rate", str(rate), "--arrival", arrival, "--seconds",
                             str(seconds), "--warmup", "1", "--concurrency", str(sessions))["connectors"][0]
    s = entry["schedule"]
    lag = s["lag"]
    return (f"{rate:>10,} {arrival:>8} {s['achieved_per_s']:>12,.0f} {100 * s['achieved_per_s'] / rate:>7.2f}% "
            f"{lag['p50'] * 1000:>9.1f} {lag['p99'] * 1000:>9.1f} {lag['max'] * 1000:>10.1f} "
            f"{'yes' if s['sustained'] else 'NO':>9}")


def pgbench_at_rate(url: str, script: Path, accounts: int, clients: int, rate: int, seconds: float) -> dict:
    out = subprocess.run([find_pg_binary("pgbench"), "-n", "-M", "prepared", "-f", str(script), "-D",
                          f"accounts={accounts}", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
                          "-R", str(rate), "-T", str(int(seconds)), url], check=True, capture_output=True,
                         text=True).stdout
    lag = re.search(r"rate limit schedule lag: avg ([\d.]+) \(max ([\d.]+)\) ms", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    return {"lag_avg": float(lag.group(1)), "lag_max": float(lag.group(2)), "latency_avg": float(latency.group(1)),
            "tps": float(tps.group(1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--sessions", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--pg-rate", type=int, default=2000)
    parser.add_argument("--pg-clients", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()

    print(f"Part 1: null connector, {args.sessions} sessions, {args.seconds:g} s (lag in microseconds)")
    print(f"{'target/s':>10} {'arrival':>8} {'achieved/s':>12} {'':>8} {'lag p50':>9} {'lag p99':>9} "
          f"{'lag max':>10} {'sustained':>9}")
    for rate in (10_000, 100_000, 1_000_000):
        for arrival in ("regular", "poisson"):
            print(null_schedule(rate, arrival, args.seconds, args.sessions), flush=True)

    with throwaway_postgres(0, "lb-schedule-") as (url, env, script):
        loadbench("prep", "--connectors", "postgres", "--accounts", str(args.accounts), env=env)
        pg = pgbench_at_rate(url, script, args.accounts, args.pg_clients, args.pg_rate, args.seconds)
        loadbench("prep", "--connectors", "postgres", "--accounts", str(args.accounts), env=env)
        entry = loadbench_report("--connectors", "postgres", "--accounts", str(args.accounts), "--skip-prep",
                                 "--no-verify", "--concurrency", str(args.pg_clients), "--rate", str(args.pg_rate),
                                 "--seconds", str(args.seconds), "--warmup", "1", "--alpha", "0",
                                 env=env)["connectors"][0]
    s = entry["schedule"]
    print(f"\nPart 2: PostgreSQL, {args.pg_clients} connections, {args.pg_rate:,}/s Poisson, {args.seconds:g} s (ms)")
    print(f"{'tool':>10} {'tps':>8} {'lag avg':>8} {'lag p99':>8} {'lag max':>8} {'latency avg':>12} {'latency p99':>12}")
    print(f"{'pgbench':>10} {pg['tps']:>8,.0f} {pg['lag_avg']:>8.3f} {'-':>8} {pg['lag_max']:>8.3f} "
          f"{pg['latency_avg']:>12.3f} {'-':>12}")
    print(f"{'loadbench':>10} {s['achieved_per_s']:>8,.0f} {s['lag']['mean']:>8.3f} {s['lag']['p99']:>8.3f} "
          f"{s['lag']['max']:>8.3f} {entry['latency']['mean']:>12.3f} {entry['latency']['p99']:>12.3f}")


if __name__ == "__main__":
    main()
