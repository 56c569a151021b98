"""How long ``loadbench plot`` takes over N reports (issue 16's goal: 10 reports in under 5 s),
wall clock and CPU (the command and its drawing processes), against an anchor: ``loadbench plot``
of one report, in paired rounds of alternating order, so a loaded machine slows both alike.

    .venv/bin/python bench/plot_speed.py --reports 10 --rounds 3
    .venv/bin/python bench/plot_speed.py --from 'runs/test-1-*.json'      # reports of your own

Without --from it makes one short report (sqlite and null, 1 s) and plots N copies of it: a
figure costs the same whatever the numbers in it.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, children included) of one command."""
    before = os.times()
    began = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--from", dest="source", help="glob of reports to plot instead of copies of a fresh one")
    args = parser.parse_args()
    loadbench = [sys.executable, "-m", "loadbench"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.source:
            reports = sorted(glob.glob(args.source))[: args.reports]
        else:
            subprocess.run([*loadbench, "bench", "--connectors", "sqlite,null", "--seconds", "1", "--warmup", "0.2",
                            "--accounts", "2000", "--quiet", "--runs-dir", str(work / "runs")],
                           check=True, stdout=subprocess.DEVNULL)
            (made,) = (work / "runs").glob("test-1-*.json")
            reports = []
            for i in range(args.reports):
                copy = work / f"test-1-copy{i:02d}.json"
                shutil.copy(made, copy)
                reports.append(str(copy))
        n, anchor = [], []
        for round_ in range(args.rounds):
            runs = [("n", reports), ("anchor", reports[:1])]
            for name, paths in runs if round_ % 2 == 0 else runs[::-1]:
                wall, cpu = timed([*loadbench, "plot", *paths, "--out", str(work / f"out-{name}")])
                (n if name == "n" else anchor).append((wall, cpu))
        for name, found in ((f"{len(reports)} reports", n), ("1 report (anchor)", anchor)):
            walls, cpus = sorted(w for w, _ in found), sorted(c for _, c in found)
            print(f"{name}: wall median {walls[len(walls) // 2]:.2f} s (min {walls[0]:.2f}), "
                  f"CPU median {cpus[len(cpus) // 2]:.2f} s")
        ratios = sorted(a[0] / b[0] for a, b in zip(n, anchor))
        print(f"wall ratio {len(reports)} reports / 1 report: median {ratios[len(ratios) // 2]:.2f} "
              f"on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
