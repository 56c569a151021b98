#!/usr/bin/env python3
"""What ``bench --audit`` costs, and that leaving it off costs nothing: the harness's CPU seconds
per operation (the report's ``client_cpu.seconds`` over committed + rejected + failed) of the same
SQLite test-1 run (mode fast, 1 session, a fixed seed and --operations) with a baseline package
(the build before --audit), with this one without --audit, and with --audit, in paired rounds
whose order alternates. Prints each round and the median ratios off/baseline and on/off.

    .venv/bin/python bench/audit_cost.py BASELINE_SITE_DIR [--rounds 6] [--operations 30000]

BASELINE_SITE_DIR holds a ``loadbench`` package built from the commit before --audit (copy it
from another checkout's venv); it is put first on PYTHONPATH for the baseline runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def cpu_per_op(baseline: str | None, audit: bool, operations: int) -> float:
    with tempfile.TemporaryDirectory(prefix="lb-audit-cost-") as tmp:
        d = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "SQLITE", "MYSQL", "REDIS"))}
        env.update(LOADBENCH_SERVICES_DIR=str(d / "svc"), SQLITE_FILE=str(d / "db.sqlite"), SQLITE_MODE="fast")
        if baseline:
            env["PYTHONPATH"] = baseline
        args = [sys.executable, "-m", "loadbench", "bench", "--connectors", "sqlite", "--quiet", "--warmup", "0",
                "--seconds", "60", "--operations", str(operations), "--concurrency", "1", "--accounts", "10000",
                "--seed", "7", "--runs-dir", str(d / "runs"), *(["--audit"] if audit else [])]
        result = subprocess.run(args, env=env, cwd=d, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        (report,) = (d / "runs").glob("*.json")
        entry = json.loads(report.read_text())["connectors"][0]
        return float(entry["client_cpu"]["seconds"]) / (entry["committed"] + entry["rejected"] + entry["failed"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("baseline")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--operations", type=int, default=30_000)
    a = parser.parse_args()
    runs = {"baseline": [], "off": [], "on": []}
    kinds = [("baseline", a.baseline, False), ("off", None, False), ("on", None, True)]
    for i in range(a.rounds):
        for name, base, audit in kinds if i % 2 == 0 else kinds[::-1]:
            runs[name].append(cpu_per_op(base, audit, a.operations))
        print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1] * 1e6:.2f} us/op" for k, v in runs.items()), flush=True)
    for label, num, den in (("off/baseline", "off", "baseline"), ("on/off", "on", "off")):
        ratios = [x / y for x, y in zip(runs[num], runs[den])]
        print(f"{label}: median {statistics.median(ratios):.3f} (rounds {min(ratios):.2f} to {max(ratios):.2f})")


if __name__ == "__main__":
    main()
