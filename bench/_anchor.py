"""Helpers shared by the side-by-side benchmarks in bench/: build the native anchors, run
loadbench as a user does, and summarise alternating rounds as a ratio."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"


def build_native(target: str) -> Path:
    """Configures and builds a target of bench/CMakeLists.txt (Release) and returns its path."""
    if not (BUILD / "build.ninja").exists() and not (BUILD / "Makefile").exists():
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(BUILD), "-DLOADBENCH_BUILD_BENCH=ON",
                        "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(BUILD), "--target", target, "-j", str(os.cpu_count() or 2)],
                   check=True, stdout=subprocess.DEVNULL)
    return BUILD / "bench" / target


def loadbench(*args: str, env: dict[str, str] | None = None) -> str:
    """Runs ``python -m loadbench ARGS`` and returns its stdout; exits on failure."""
    result = subprocess.run([sys.executable, "-m", "loadbench", *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        sys.exit(f"loadbench {args[0]} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def loadbench_report(*args: str, env: dict[str, str] | None = None) -> dict:
    """Runs ``python -m loadbench bench ARGS --json --quiet`` and returns the report."""
    return json.loads(loadbench("bench", *args, "--json", "--quiet", env=env))


def summarise(ratios: list[float]) -> str:
    return (f"median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, "
            f"{len(ratios)} rounds)")


def pgbench_transfer_script(alpha: float) -> str:
    """test-1's transfer for pgbench: uniform ids (alpha 0) or its random_zipfian (alpha > 1)."""
    pick = "random(1, :accounts)" if alpha == 0 else f"random_zipfian(1, :accounts, {alpha})"
    return (f"\\set from {pick}\n\\set to {pick}\n\\set amount random(1, 100)\n"
            "SELECT transfer(:from, :to, :amount);\n")


@contextlib.contextmanager
def throwaway_postgres(alpha: float, prefix: str, server_cpus: set[int] | None = None):
    """A PostgreSQL cluster for one benchmark (synchronous_commit and fsync off: the clients are
    measured, not the disk), a runs dir, and pgbench's transfer script: yields (url, env, script).
    With server_cpus, the server (postmaster, its helpers, and so every backend it forks later)
    runs on those CPUs only."""
    sys.path.insert(0, str(ROOT / "python"))
    import psutil

    from loadbench.connectors.postgres import postmaster_pid
    from loadbench.connectors.postgres_cluster import PostgresCluster

    cluster = PostgresCluster.create(fsync=False)
    cluster.start()
    if server_cpus:
        (pid,) = postmaster_pid(cluster.data_dir)
        postmaster = psutil.Process(pid)
        for process in [postmaster, *postmaster.children(recursive=True)]:
            process.cpu_affinity(sorted(server_cpus))
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            script = Path(tmp) / "transfer.sql"
            script.write_text(pgbench_transfer_script(alpha))
            yield cluster.url, {"PG_URL": cluster.url, "LOADBENCH_RUNS_DIR": tmp}, script
    finally:
        cluster.destroy()
