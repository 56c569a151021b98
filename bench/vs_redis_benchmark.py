#!/usr/bin/env python3
"""loadbench vs redis-benchmark on one throwaway redis-server: test-1's transfer as a Lua script
(the redis connector's own, loadbench.connectors.redis.transfer_script()) run with EVALSHA on two random accounts (redis-benchmark's
__rand_int__: keys account:000000000000 .. account:<accounts - 1>, zero-padded to 12 digits), at
equal connections and pipeline depth; in each round both tools run back to back, taking turns to
go first, on freshly seeded accounts. Prints median requests/s, p50/p99 latency, the median and
range of the rounds' ratios, and each tool's own CPU time per request. Money is checked after
every run (with redis-cli): the total never changes, no balance is negative.

    .venv/bin/python bench/vs_redis_benchmark.py [--connections 1,8,32] [--pipeline 1,16]
                                                 [--seconds 5] [--rounds 2] [--accounts 100000]
                                                 [--anchor-only]

redis-benchmark cannot randomize an argument other than by __rand_int__ (a 12-digit number), so
its amount is fixed (--amount, 50: the mean of test-1's uniform 1..100); it runs a number of
requests, not a time, so each run's count is sized from the first run to last about --seconds.
Its CPU per request is its whole process (rusage of the child) over the requests it made.

Targets (issue 14): loadbench requests/s >= 0.9 x redis-benchmark's (which does almost nothing per
request); latency percentiles agree within noise.

loadbench runs as a user runs it (python -m loadbench bench --connectors redis --inflight P
--concurrency C --alpha 0), its requests/s, p50 and p99 taken from its report (committed and
rejected transfers over the measured window, after a 1 s warmup); --anchor-only runs
redis-benchmark alone. redis-benchmark is one thread; loadbench drives its connections from one
event-loop thread per core (the default), or --threads N (loadbench's own --threads): on 2 cores,
where redis-server needs one, --threads 1 gives both tools one client thread.
"""

from __future__ import annotations

import argparse
import csv
import io
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _anchor import loadbench_report  # noqa: E402
from tests.servers import RedisServer, find_binary  # noqa: E402

from loadbench.connectors.redis import transfer_script  # noqa: E402

SCRIPT = transfer_script()  # the connector's text: both tools name it by the same SHA1
INITIAL_BALANCE = 1000
KEY = "account:__rand_int__"  # redis-benchmark writes a fresh random 12-digit number per occurrence


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_accounts(server: RedisServer, accounts: int) -> None:
    """Before each tool's run: every account back to the initial balance (server-side, one script)."""
    server.cli("FLUSHALL")
    server.cli("EVAL", "for i = 0, tonumber(ARGV[1]) - 1 do "
                       "redis.call('SET', string.format('account:%012d', i), ARGV[2]) end return 1",
               "0", str(accounts), str(INITIAL_BALANCE))


def check_money(server: RedisServer, accounts: int, after: str) -> None:
    out = server.cli("EVAL", "local total, negative, changed, count = 0, 0, 0, 0 "
                             "for i = 0, tonumber(ARGV[1]) - 1 do "
                             "local v = redis.call('GET', string.format('account:%012d', i)) "
                             "if v then count = count + 1 v = tonumber(v) total = total + v "
                             "if v < 0 then negative = negative + 1 end "
                             "if v ~= tonumber(ARGV[2]) then changed = changed + 1 end end end "
                             "return {count, total, negative, changed, redis.call('DBSIZE')}",
                     "0", str(accounts), str(INITIAL_BALANCE))
    count, total, negative, changed, keys = (int(x) for x in out.split())
    if (count, total, negative, keys) != (accounts, accounts * INITIAL_BALANCE, 0, accounts):
        sys.exit(f"money not conserved after {after}: {count} accounts ({keys} keys), total {total} "
                 f"(expected {accounts * INITIAL_BALANCE}), {negative} negative")
    if changed == 0:
        sys.exit(f"{after} moved no money: no balance changed")


def run_redis_benchmark(server: RedisServer, sha: str, connections: int, pipeline: int, requests: int,
                        accounts: int, amount: int) -> tuple[float, float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, CPU seconds per request, requests) of one redis-benchmark run."""
    before = children_cpu()
    env = None
    argv = [find_binary("redis-benchmark"), "-h", server.host, "-p", str(server.port), "-c", str(connections),
            "-P", str(pipeline), "-n", str(requests), "-r", str(accounts), "--csv"]
    if server.password:
        argv += ["-a", server.password]
    result = subprocess.run([*argv, "EVALSHA", sha, "2", KEY, KEY, str(amount)], capture_output=True, text=True, env=env)
    cpu = children_cpu() - before
    if result.returncode != 0:
        sys.exit(f"redis-benchmark failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-500:]}")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    if len(rows) != 1 or "rps" not in rows[0]:
        sys.exit(f"redis-benchmark printed no result: {result.stdout.strip()[-300:]} {result.stderr.strip()[-300:]}")
    row = rows[0]
    return (float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]), cpu / requests, requests)


def run_loadbench(server: RedisServer, connections: int, pipeline: int, seconds: float, accounts: int,
                  seed: int, threads: int) -> tuple[float, float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, CPU seconds per request, requests) of one loadbench run: the redis
    connector in script mode (the same script, by the same SHA1, on the same keys),
    `connections` connections with `pipeline` transfers in flight on each (--concurrency, --inflight),
    uniform accounts (alpha 0, as __rand_int__). CPU is the report's client_cpu (the whole process
    over the measured window) per operation."""
    with tempfile.TemporaryDirectory(prefix="lb-vs-redis-benchmark-") as runs:
        report = loadbench_report("--connectors", "redis", "--accounts", str(accounts), "--skip-prep", "--no-verify",
                                  "--concurrency", str(connections), "--inflight", str(pipeline),
                                  "--seconds", str(seconds), "--warmup", "1", "--alpha", "0", "--seed", str(seed),
                                  "--threads", str(threads),
                                  env={"REDIS_URL": server.url, "REDIS_MODE": "script", "LOADBENCH_RUNS_DIR": runs})
    entry = report["connectors"][0]
    if entry["failed"]:
        sys.exit(f"loadbench: {entry['failed']} transfers failed: {entry.get('errors')}")
    requests = entry["committed"] + entry["rejected"]
    return (entry["throughput"]["operations_per_s"], entry["latency"]["p50"], entry["latency"]["p99"],
            entry["client_cpu"]["per_operation_us"] / 1e6, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--pipeline", default="1,16", help="requests in flight per connection, each value in turn")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--amount", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0,
                        help="loadbench's event-loop threads (0: its default, one per core)")
    parser.add_argument("--anchor-only", action="store_true", help="run redis-benchmark only")
    args = parser.parse_args()

    server = RedisServer.create()
    try:
        sha = server.cli("SCRIPT", "LOAD", SCRIPT)
        version = server.cli("INFO", "server").split("redis_version:")[1].split()[0]
        print(f"Redis {version} at 127.0.0.1:{server.port}, {args.accounts:,} accounts, EVALSHA {sha[:12]}..., "
              f"amount {args.amount}, about {args.seconds:g} s per run, {args.rounds} rounds, median of rounds, "
              f"loadbench threads {args.threads or 'one per core'}")
        with_loadbench = not args.anchor_only
        print(f"{'conns':>6} {'pipe':>5} {'redis-benchmark rps':>20} {'p50 ms':>7} {'p99 ms':>7} {'cpu/req':>9}"
              + (f" {'loadbench rps':>14} {'p50 ms':>7} {'p99 ms':>7} {'cpu/req':>9} {'ratio':>6} {'range':<11}"
                 if with_loadbench else ""))
        rate = 50_000.0  # requests/s, corrected after each run: sizes the next run's count
        for pipeline in (int(p) for p in args.pipeline.split(",")):
            for connections in (int(c) for c in args.connections.split(",")):
                rb, lb = [], []
                for r in range(args.rounds):
                    def anchor_round() -> None:
                        nonlocal rate
                        fresh_accounts(server, args.accounts)
                        requests = max(1000, int(rate * args.seconds))
                        rb.append(run_redis_benchmark(server, sha, connections, pipeline, requests, args.accounts,
                                                      args.amount))
                        rate = rb[-1][0]
                        check_money(server, args.accounts, "redis-benchmark")

                    def loadbench_round() -> None:
                        fresh_accounts(server, args.accounts)
                        lb.append(run_loadbench(server, connections, pipeline, args.seconds, args.accounts, r + 1,
                                                 args.threads))
                        check_money(server, args.accounts, "loadbench")

                    # A first run at this setting, unmeasured, sizes the runs that count.
                    if r == 0:
                        anchor_round()
                        rb.clear()
                    # The tools take turns going first, so a drift of the machine favours neither.
                    for run in (anchor_round, loadbench_round) if r % 2 == 0 else (loadbench_round, anchor_round):
                        if run is loadbench_round and not with_loadbench:
                            continue
                        run()
                line = (f"{connections:>6} {pipeline:>5} {statistics.median(x[0] for x in rb):>20,.0f} "
                        f"{statistics.median(x[1] for x in rb):>7.3f} {statistics.median(x[2] for x in rb):>7.3f} "
                        f"{statistics.median(x[3] for x in rb) * 1e6:>6.2f} us")
                if with_loadbench and lb:
                    ratios = [ours[0] / theirs[0] for theirs, ours in zip(rb, lb)]
                    line += (f" {statistics.median(x[0] for x in lb):>14,.0f} {statistics.median(x[1] for x in lb):>7.3f} "
                             f"{statistics.median(x[2] for x in lb):>7.3f} {statistics.median(x[3] for x in lb) * 1e6:>6.2f} us "
                             f"{statistics.median(ratios):>6.2f} {min(ratios):>5.2f}-{max(ratios):<5.2f}")
                print(line, flush=True)
                print(f"{'':>12} rounds' redis-benchmark rps: {' '.join(f'{x[0]:,.0f}' for x in rb)}"
                      + (f"; loadbench rps: {' '.join(f'{x[0]:,.0f}' for x in lb)}" if lb else ""), flush=True)
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
