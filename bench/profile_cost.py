#!/usr/bin/env python3
"""What ``bench --profile`` costs: TPS of the same run with and without it, in paired rounds
whose order alternates (plain first, then profiled first, ...), so both see the same machine
state; prints each round and the median ratio profiled / plain.

    .venv/bin/python bench/profile_cost.py [--rounds 5] [--seconds 5] [--connectors sqlite] [--pg]

``--pg`` runs against a throwaway PostgreSQL (fsync off), profiling harness and server; without
it SQLite on /dev/shm, where the harness does all the work and the cost shows most.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path
from typing import Iterator

from _anchor import loadbench_report, summarise, throwaway_postgres


@contextlib.contextmanager
def _target(pg: bool) -> Iterator[tuple[list[str], dict[str, str]]]:
    if pg:
        with throwaway_postgres(0.0, "lb-profile-cost-") as (_url, env, _script):
            yield ["--connectors", "postgres"], env
    else:
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        with tempfile.TemporaryDirectory(prefix="lb-profile-cost-", dir=shm) as tmp:
            yield ["--connectors", "sqlite"], {"SQLITE_FILE": f"{tmp}/bench.sqlite", "LOADBENCH_RUNS_DIR": tmp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL instead of SQLite")
    args = parser.parse_args()
    with _target(args.pg) as (target, env):
        common = [*target, "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--concurrency",
                  str(args.concurrency), "--accounts", str(args.accounts), "--alpha", "0"]
        loadbench_report(*common, env=env)  # seeds once; the rounds skip prep
        ratios = []
        for i in range(args.rounds):
            tps = {}
            for profiled in ((False, True) if i % 2 == 0 else (True, False)):
                extra = ["--skip-prep", *(["--profile"] if profiled else [])]
                entry = loadbench_report(*common, *extra, env=env)["connectors"][0]
                if profiled and not (entry.get("profile") or {}).get("harness"):
                    raise SystemExit("the profiled run recorded no profile (perf missing or not permitted?)")
                tps[profiled] = entry["tps"]
            ratios.append(tps[True] / tps[False])
            print(f"round {i + 1}: plain {tps[False]:,.0f} TPS, profiled {tps[True]:,.0f} TPS, "
                  f"ratio {ratios[-1]:.3f}", flush=True)
        print(f"profiled / plain TPS: {summarise(ratios)}")


if __name__ == "__main__":
    main()
