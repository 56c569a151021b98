#!/usr/bin/env python3
"""test-1 built in (TransferScenario) vs test-1.toml (the file-defined scenario engine) on one
SQLite file: same statements, same Zipf choice, same seed per round, alternating (each round runs
both, the side that goes first alternating too) so both see the same machine state; prints each
round and the median ratio of committed transfers per second.

    .venv/bin/python bench/file_vs_builtin.py [--rounds 6] [--seconds 3] [--concurrency 1] [--mode wal]

Target (README): file / built-in >= 0.90.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _anchor import loadbench, loadbench_report, summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--mode", default="wal", help="SQLITE_MODE for both sides (default wal)")
    # tmpfs by default, as bench/sqlite_vs_plain.py: the disk's variance would swamp the harness's.
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                        help="where the database file goes (default /dev/shm)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lb-file-bench-", dir=args.dir) as tmp:
        env = {"SQLITE_FILE": str(Path(tmp) / "bench.sqlite"), "SQLITE_MODE": args.mode, "LOADBENCH_RUNS_DIR": tmp}
        common = ["--connectors", "sqlite", "--concurrency", str(args.concurrency), "--seconds", str(args.seconds),
                  "--warmup", str(args.warmup), "--no-verify"]
        sides = {
            "built-in": ["test-1", "--accounts", str(args.accounts)],
            "file": ["test-1.toml", "--set", f"accounts={args.accounts}"],
        }
        print(f"SQLite mode={args.mode}, {args.concurrency} session(s), {args.seconds:g} s per round after "
              f"{args.warmup:g} s warmup, {args.accounts:,} accounts, alpha 0.5, file in {tmp}")
        ratios = []
        for r in range(1, args.rounds + 1):
            tps = {}
            order = list(sides.items()) if r % 2 else list(reversed(sides.items()))
            for side, test in order:
                # Both sides start from freshly seeded accounts (prep inside bench) and draw the same
                # transfers from the same seed.
                report = loadbench_report(*test, *common, "--seed", str(r), env=env)
                tps[side] = report["connectors"][0]["tps"]
            ratios.append(tps["file"] / tps["built-in"])
            print(f"  round {r}: built-in {tps['built-in']:>10,.0f} TPS   file {tps['file']:>10,.0f} TPS   "
                  f"ratio {ratios[-1]:.3f}")
        print(f"  {loadbench('verify', '--connectors', 'sqlite', '--accounts', str(args.accounts), env=env).strip()}")
        print(f"  file / built-in: {summarise(ratios)}")


if __name__ == "__main__":
    main()
