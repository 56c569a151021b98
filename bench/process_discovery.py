"""What finding a database server's processes costs: loadbench's walk of /proc/PID/task/TID/children
from the postmaster, against psutil's ``children(recursive=True)`` (which reads the parent of every
process on the machine), on a throwaway PostgreSQL with --backends idle connections, plus one
sample of the whole group (CPU times and RSS of every process).

    .venv/bin/python bench/process_discovery.py --backends 20 --rounds 200
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import psutil

from loadbench.connectors import postgres
from loadbench.connectors.postgres_cluster import PostgresCluster, find_pg_binary
from loadbench.run import resources as resource_usage


def per_call_ms(fn, rounds: int) -> tuple[float, float]:
    """Median and minimum milliseconds of one call of ``fn``."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1e3)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=int, default=20, help="idle client connections to hold open")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    cluster = PostgresCluster.create(fsync=False)
    clients: list[subprocess.Popen] = []
    try:
        cluster.start()
        psql = find_pg_binary("psql")
        clients = [subprocess.Popen([psql, cluster.url, "-Xqc", "SELECT pg_sleep(600)"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(args.backends)]
        (postmaster,) = postgres.postmaster_pid(cluster.data_dir)
        deadline = time.monotonic() + 30
        while len(resource_usage.children(postmaster)) < args.backends and time.monotonic() < deadline:
            time.sleep(0.1)
        tree = resource_usage.descendants([postmaster])
        walk = per_call_ms(lambda: resource_usage.descendants([postmaster]), args.rounds)
        scan = per_call_ms(lambda: psutil.Process(postmaster).children(recursive=True), args.rounds)
        group = resource_usage.ProcessGroup([postmaster], descendants=True)
        group.sample()
        sample = per_call_ms(group.sample, args.rounds)
        print(f"{len(tree)} processes (postmaster, {args.backends} backends, its own workers); "
              f"{len(psutil.pids())} processes on the machine")
        print(f"discovery, /proc children walk:   median {walk[0]:.3f} ms, min {walk[1]:.3f} ms")
        print(f"discovery, psutil children scan: median {scan[0]:.3f} ms, min {scan[1]:.3f} ms")
        print(f"one sample of the group:          median {sample[0]:.3f} ms, min {sample[1]:.3f} ms")
    finally:
        for client in clients:
            client.kill()
            client.wait()
        cluster.destroy()


if __name__ == "__main__":
    main()
