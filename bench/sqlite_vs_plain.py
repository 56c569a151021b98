#!/usr/bin/env python3
"""loadbench vs a plain sqlite3 loop: test-1's transfer on one SQLite file, one thread, same
pragmas, same Zipf account choice, alternating rounds (plain, loadbench, plain, ...) so both see
the same machine state; prints each round and the median ratio of operations per second.

    .venv/bin/python bench/sqlite_vs_plain.py [--rounds 5] [--seconds 5] [--modes wal,fast]

Target (README): loadbench / plain >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from _anchor import build_native, loadbench, loadbench_report, summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--modes", default="wal,fast")
    # tmpfs by default: the disk's own variance (write-back bursts, a neighbour's I/O) would swamp
    # the difference being measured, and a faster database makes harness overhead easier to see.
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                        help="where the database file goes (default /dev/shm)")
    args = parser.parse_args()
    plain_loop = build_native("sqlite_plain_loop")

    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix="lb-sqlite-bench-", dir=args.dir) as tmp:
            db = Path(tmp) / "bench.sqlite"
            env = {"SQLITE_FILE": str(db), "SQLITE_MODE": mode, "LOADBENCH_RUNS_DIR": tmp}
            common = ["--connectors", "sqlite", "--accounts", str(args.accounts)]
            print(f"mode={mode}: one thread, {args.seconds:g} s per round after {args.warmup:g} s warmup, "
                  f"{args.accounts:,} accounts, alpha {args.alpha:g}, file in {tmp}")
            ratios = []
            for r in range(1, args.rounds + 1):
                # Both sides start from freshly seeded accounts: as balances drain, more transfers
                # are rejected (cheaper), so a later run on the same data would look faster.
                loadbench("prep", *common, env=env)
                plain = json.loads(subprocess.run(
                    [str(plain_loop), str(db), mode, str(args.warmup), str(args.seconds), str(args.accounts),
                     str(args.alpha), str(r)], check=True, capture_output=True, text=True).stdout)
                report = loadbench_report(*common, "--no-verify", "--concurrency", "1", "--seconds",
                                          str(args.seconds), "--warmup", str(args.warmup), "--alpha",
                                          str(args.alpha), "--seed", str(r), env=env)
                ours = report["connectors"][0]["throughput"]["operations_per_s"]
                ratios.append(ours / plain["ops_per_s"])
                print(f"  round {r}: plain {plain['ops_per_s']:>10,.0f} ops/s   loadbench {ours:>10,.0f} ops/s   "
                      f"ratio {ratios[-1]:.3f}")
            print(f"  {loadbench('verify', *common, env=env).strip()}")
            print(f"  loadbench / plain: {summarise(ratios)}")


if __name__ == "__main__":
    main()
