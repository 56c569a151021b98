"""How long ``loadbench plot`` takes over N reports (issue 16's goal: 10 reports in under 5 s),
wall clock and CPU (the command and its drawing processes), against an anchor: ``loadbench plot``
of one report, and, with --against REF, against the plot code of a git ref on the same reports;
in paired rounds of alternating order, so a loaded machine slows both alike.

    .venv/bin/python bench/plot_speed.py --reports 10 --rounds 3
    .venv/bin/python bench/plot_speed.py --reports 10 --rounds 6 --against main   # before vs after
    .venv/bin/python bench/plot_speed.py --from 'runs/test-1-*.json'              # reports of your own
    .venv/bin/python bench/plot_speed.py --format both --against main   # this tree's plot --format both

``--format`` is given to this tree's ``plot`` only (REF's may not have it; a REF before it wrote
PNG and SVG). The 1-minute load average is printed before the first round and after each.

Without --from it makes one short report (sqlite and null, 1 s) and plots N copies of it: a
figure costs the same whatever the numbers in it. "This tree" is the installed package (what
``python -m loadbench`` runs); REF is a copy of it with REF's ``python/loadbench`` laid over it,
so this build's compiled core serves both: fit for Python-only differences such as the plots.
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path


def timed(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, children included) of one command."""
    before = os.times()
    began = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - began
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def package_at(ref: str, into: Path) -> dict[str, str]:
    """A copy of the installed loadbench package with ``ref``'s Python sources laid over it, under
    ``into``; returns the environment that imports it first."""
    import loadbench

    installed = Path(loadbench.__file__).parent
    shutil.copytree(installed, into / "loadbench", ignore=shutil.ignore_patterns("__pycache__"))
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "python/loadbench"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                target = into / "loadbench" / Path(member.name).relative_to("python/loadbench")
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = tar.extractfile(member)
                assert extracted is not None
                target.write_bytes(extracted.read())
    return {**os.environ, "PYTHONPATH": str(into)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--from", dest="source", help="glob of reports to plot instead of copies of a fresh one")
    parser.add_argument("--against", metavar="REF", help="git ref whose plot code to time on the same reports")
    parser.add_argument("--format", choices=("png", "svg", "both"), help="this tree's plot --format (default: its default)")
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
        variants: list[tuple[str, list[str], dict[str, str] | None]] = [
            (f"{len(reports)} reports, this tree", reports, None),
            ("1 report (anchor), this tree", reports[:1], None),
        ]
        if args.against:
            variants.append((f"{len(reports)} reports, {args.against}", reports, package_at(args.against, work / "ref")))
        found: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in variants}
        loads = [os.getloadavg()[0]]
        for round_ in range(args.rounds):
            for i, (name, paths, env) in enumerate(variants if round_ % 2 == 0 else variants[::-1]):
                fmt = ["--format", args.format] if args.format and env is None else []
                found[name].append(timed([*loadbench, "plot", *paths, *fmt, "--out", str(work / f"out-{i}")], env))
            loads.append(os.getloadavg()[0])
        for name, _, _ in variants:
            walls, cpus = sorted(w for w, _ in found[name]), sorted(c for _, c in found[name])
            print(f"{name}: wall median {statistics.median(walls):.2f} s (min {walls[0]:.2f}), "
                  f"CPU median {statistics.median(cpus):.2f} s (min {cpus[0]:.2f})")
        n, anchor = found[variants[0][0]], found[variants[1][0]]
        print(f"wall ratio {len(reports)} reports / 1 report: median "
              f"{statistics.median(a[0] / b[0] for a, b in zip(n, anchor)):.2f}")
        if args.against:
            old = found[variants[2][0]]
            print(f"this tree / {args.against}, paired: wall median "
                  f"{statistics.median(a[0] / b[0] for a, b in zip(n, old)):.2f}, CPU median "
                  f"{statistics.median(a[1] / b[1] for a, b in zip(n, old)):.2f}")
        print(f"on {os.cpu_count()} cores, load average (1 min) before and after each round: "
              f"{', '.join(f'{load:.1f}' for load in loads)}")


if __name__ == "__main__":
    main()
