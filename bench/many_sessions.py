#!/usr/bin/env python3
"""Many open HTTP sessions from one loadbench process: --sessions keep-alive connections to the
bundled rpc server (SQLite), each with one transfer in flight, on --threads event-loop threads.
Reports whether every session opened and stayed up (sessions, failed, reconnects), the throughput,
and the harness's resident memory per session: (peak RSS at --sessions - peak RSS at --baseline
sessions) / (--sessions - --baseline).

    .venv/bin/python bench/many_sessions.py [--sessions 10000] [--threads 2] [--seconds 5]

Each side needs a descriptor per connection: this script raises RLIMIT_NOFILE to its hard limit
(children inherit it) and fails early if that is still too few.
"""

from __future__ import annotations

import argparse
import resource
import sys

from _anchor import loadbench, loadbench_report
from _rpc_server import rpc_server


def raise_nofile(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        sys.exit(f"RLIMIT_NOFILE is {soft}, {needed} needed: raise the hard limit (ulimit -Hn)")
    return soft


def run(env: dict, sessions: int, threads: int, seconds: float, open_parallelism: int) -> dict:
    report = loadbench_report("--connectors", "sqlite-rpc", "--accounts", "100000", "--skip-prep", "--no-verify",
                              "--concurrency", str(sessions), "--threads", str(threads), "--seconds", str(seconds),
                              "--warmup", "1", "--open-parallelism", str(open_parallelism), env=env)
    return report["connectors"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--server-threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--open-parallelism", type=int, default=256)
    args = parser.parse_args()
    limit = raise_nofile(args.sessions + 1000)

    with rpc_server(args.server_threads, prefix="lb-many-") as (url, _, env, _tmp):
        loadbench("prep", "--connectors", "sqlite-rpc", "--accounts", "100000", env=env)
        print(f"rpc-server (SQLite fast) at {url}; RLIMIT_NOFILE {limit}")
        rows = {}
        for sessions in (args.baseline, args.sessions):
            entry = run(env, sessions, args.threads, args.seconds, args.open_parallelism)
            harness = entry["resources"]["harness"]
            rows[sessions] = (entry, harness["rss_bytes_max"])
            print(f"sessions {entry['sessions']:>6} connections {entry['connections']:>6}: "
                  f"{entry['throughput']['operations_per_s']:>8.0f} transfers/s, failed {entry['failed']}, "
                  f"reconnects {entry['reconnects']}, p99 {entry['latency']['p99']:.1f} ms, "
                  f"harness RSS peak {harness['rss_bytes_max'] / 2**20:.1f} MiB", flush=True)
        (_, rss_small), (big, rss_big) = rows[args.baseline], rows[args.sessions]
        per_session = (rss_big - rss_small) / (args.sessions - args.baseline)
        held = big["sessions"] == args.sessions and big["failed"] == 0
        print(f"{args.sessions} sessions held: {'yes' if held else 'NO'}; RSS per session "
              f"{per_session / 1024:.1f} KiB")
        if not held:
            sys.exit(1)


if __name__ == "__main__":
    main()
