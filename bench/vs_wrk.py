#!/usr/bin/env python3
"""loadbench's rpc connector vs wrk against the same bundled rpc server (SQLite, fast mode), same
connection count, same transfer body (uniform 0-based ids, amount 1..100): rounds alternate the two
tools. Prints requests/s of each, the ratio, and the latency percentiles each tool reports.

    .venv/bin/python bench/vs_wrk.py [--connections 64] [--seconds 5] [--rounds 5] [--threads 1]

Both tools run closed loops (one request in flight per connection) on --threads threads; wrk's
requests/s counts every response, loadbench's operations/s every transfer completed in the measured
window (committed + rejected + failed). The server, both clients and SQLite share this machine's
cores, so the tool that spends less CPU per request leaves more for the server.

Target (README): median ratio loadbench/wrk >= 0.9, and p50/p90/p99 within the noise of wrk's.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from _anchor import loadbench, loadbench_report, summarise
from _rpc_server import rpc_server

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local accounts = {accounts}
math.randomseed(os.time())
request = function()
  local body = string.format('{{"name":"transfer","args":{{"from_id":%d,"to_id":%d,"amount":%d}}}}',
    math.random(0, accounts - 1), math.random(0, accounts - 1), math.random(1, 100))
  return wrk.format(nil, nil, nil, body)
end
"""

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(url: str, script: Path, connections: int, threads: int, seconds: float) -> tuple[float, dict]:
    """(requests/s, {percentile: ms}) of one wrk run."""
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(seconds)}s", "--latency",
                          "-s", str(script), url + "/rpc"], check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        sys.exit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {}
    for p, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        pct[p] = float(value) * UNITS[unit]
    return rps, pct


def run_loadbench(env: dict, accounts: int, connections: int, threads: int, seconds: float) -> tuple[float, dict]:
    report = loadbench_report("--connectors", "sqlite-rpc", "--accounts", str(accounts), "--skip-prep", "--no-verify",
                              "--concurrency", str(connections), "--threads", str(threads), "--seconds", str(seconds),
                              "--warmup", "1", "--alpha", "0", env=env)
    entry = report["connectors"][0]
    lat = entry["latency"]
    pct = {p: lat[f"p{p}"] for p in ("50", "90", "99")}
    return entry["throughput"]["operations_per_s"], pct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="client threads of each tool")
    parser.add_argument("--server-threads", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()

    with rpc_server(args.server_threads, prefix="lb-vs-wrk-") as (url, _, env, tmp):
        loadbench("prep", "--connectors", "sqlite-rpc", "--accounts", str(args.accounts), env=env)
        script = tmp / "transfer.lua"
        script.write_text(WRK_SCRIPT.format(accounts=args.accounts))
        print(f"rpc-server (SQLite fast, {args.server_threads} thread) at {url}, {args.accounts:,} accounts, "
              f"{args.connections} connections, {args.threads} client thread(s), {args.seconds:g} s per run")
        print(f"{'round':>5} {'wrk req/s':>10} {'loadbench/s':>12} {'ratio':>6}   "
              f"{'wrk p50/p90/p99 ms':>22}   {'loadbench p50/p90/p99 ms':>26}")
        ratios = []
        for r in range(args.rounds):
            # Alternate which tool goes first, so a drift in the machine's state hits both.
            order = ("wrk", "loadbench") if r % 2 == 0 else ("loadbench", "wrk")
            results = {}
            for tool in order:
                if tool == "wrk":
                    results[tool] = run_wrk(url, script, args.connections, args.threads, args.seconds)
                else:
                    results[tool] = run_loadbench(env, args.accounts, args.connections, args.threads, args.seconds)
            (w_rps, w_pct), (l_rps, l_pct) = results["wrk"], results["loadbench"]
            ratios.append(l_rps / w_rps)
            fmt = lambda p: "/".join(f"{p[k]:.2f}" for k in ("50", "90", "99"))  # noqa: E731
            print(f"{r + 1:>5} {w_rps:>10.0f} {l_rps:>12.0f} {ratios[-1]:>6.3f}   {fmt(w_pct):>22}   {fmt(l_pct):>26}",
                  flush=True)
        print(f"loadbench/wrk requests/s: {summarise(ratios)}")


if __name__ == "__main__":
    main()
