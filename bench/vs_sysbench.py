#!/usr/bin/env python3
"""loadbench vs sysbench on one throwaway MariaDB: test-1's transfer (bench/sysbench_transfer.lua:
CALL transfer(?, ?, ?), one round trip; or as statements: BEGIN, both rows locked in id order, the
debit and the credit, COMMIT), same accounts, same
uniform (alpha 0) choice of ids, at each thread count; in each round both tools run back to back,
taking turns to go first, on freshly seeded accounts. Prints median TPS, the median and range of the
rounds' TPS ratios, p99 latency, and each tool's own CPU time per transaction. Money is checked
after every run (with the `mariadb` client): the total never changes, no balance is negative.

    .venv/bin/python bench/vs_sysbench.py [--threads 1,8,32] [--seconds 10] [--rounds 2]
                                          [--accounts 100000] [--mode procedure|statements]
                                          [--lb-threads 0] [--anchor-only]

At each thread count N both tools hold N connections: sysbench runs N threads, one connection
each; loadbench runs N sessions (one connection each) on --lb-threads event-loop threads (0: one
per core, at most N), so it drives the same connections with more sessions per thread.

The server runs with innodb_flush_log_at_trx_commit=0 (commits not flushed each time): with
durable commits both tools wait on the disk and the comparison says nothing about the clients.
sysbench's CPU per transaction is its whole process (rusage of the child) over the transactions it
reports; a transaction is one transfer, committed or refused (too little money), retries included.

Targets (issue 14): loadbench TPS >= 1.0 x sysbench at every thread count; loadbench's CPU per
transaction <= sysbench's; with pipelining or more sessions per thread, more than sysbench at equal
connections.

loadbench's CPU per transaction is its process during the measured window (`client_cpu` in the
report) over the transactions in the window, as in vs_pgbench.py. With --anchor-only, only sysbench
runs.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _anchor import loadbench_report

from loadbench.connectors.mysql import transfer_procedure

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.servers import MariaDbServer, find_binary  # noqa: E402

LUA = Path(__file__).resolve().parent / "sysbench_transfer.lua"
INITIAL_BALANCE = 1000

# test-1's transfer as one round trip (mode procedure): moves `amount` from a to b if a can cover it,
# locking the two rows in id order, and returns no result set: the CALL's status counts the rows
# touched (2 or 3 when moved, 0 or 1 when refused). The text is the mysql connector's own
# (transfer_procedure(), the procedure loadbench's prep creates), so loadbench calls `transfer` as it
# always does; sysbench_transfer.lua calls `transfer_quiet`, the same procedure under the name it was
# written for. Both tools run the same server code.
TRANSFER_PROCEDURES = (transfer_procedure("transfer"), transfer_procedure("transfer_quiet"))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prepare_schema(server: MariaDbServer) -> None:
    server.sql("DROP TABLE IF EXISTS accounts; CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL) "
               "ENGINE=InnoDB; DROP PROCEDURE IF EXISTS transfer; DROP PROCEDURE IF EXISTS transfer_quiet")
    for procedure in TRANSFER_PROCEDURES:  # the client splits at ';' unless told another delimiter
        server.sql(f"DELIMITER //\n{procedure}//\nDELIMITER ;")


def fresh_accounts(server: MariaDbServer, accounts: int) -> None:
    """Before each tool's run: as balances drain, more transfers are refused."""
    server.sql(f"TRUNCATE accounts; INSERT INTO accounts SELECT seq, {INITIAL_BALANCE} FROM seq_1_to_{accounts}")


def check_money(server: MariaDbServer, accounts: int, after: str) -> None:
    count, total, negative, changed = (int(x) for x in server.sql(
        f"SELECT COUNT(*), SUM(balance), SUM(balance < 0), SUM(balance <> {INITIAL_BALANCE}) FROM accounts").split("\t"))
    if (count, total, negative) != (accounts, accounts * INITIAL_BALANCE, 0):
        sys.exit(f"money not conserved after {after}: {count} accounts, total {total} "
                 f"(expected {accounts * INITIAL_BALANCE}), {negative} negative")
    if changed == 0:
        sys.exit(f"{after} moved no money: no balance changed")


def run_sysbench(server: MariaDbServer, threads: int, seconds: float, accounts: int, mode: str,
                 alpha: float) -> tuple[float, float, float]:
    """(TPS, p99 latency in ms, CPU seconds per transaction) of one sysbench run."""
    before = children_cpu()
    result = subprocess.run(
        [find_binary("sysbench"), str(LUA), "--db-driver=mysql", f"--mysql-host={server.host}",
         f"--mysql-port={server.port}", f"--mysql-user={server.user_name}", f"--mysql-password={server.password}",
         f"--mysql-db={server.database}", f"--threads={threads}", f"--time={int(seconds)}", "--events=0",
         "--percentile=99", f"--accounts={accounts}", f"--mode={mode}", f"--alpha={alpha}", "run"],
        capture_output=True, text=True, cwd=LUA.parent)
    cpu = children_cpu() - before
    if result.returncode != 0:
        sys.exit(f"sysbench failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-500:]}")
    out = result.stdout
    done, tps = re.search(r"transactions:\s+(\d+)\s+\(([\d.]+) per sec", out).groups()
    p99 = float(re.search(r"99th percentile:\s+([\d.]+)", out).group(1))
    return float(tps), p99, cpu / int(done)


def run_loadbench(server: MariaDbServer, threads: int, seconds: float, accounts: int, mode: str,
                  alpha: float, seed: int, lb_threads: int, runs_dir: str) -> tuple[float, float, float]:
    """(TPS, p99 latency in ms, CPU seconds per transaction) of one loadbench run on the accounts
    fresh_accounts() seeded (no prep, no verify: check_money() reads them after), with N sessions
    and so N connections."""
    report = loadbench_report("--connectors", "mysql", "--accounts", str(accounts), "--skip-prep", "--no-verify",
                              "--concurrency", str(threads), "--threads", str(lb_threads), "--seconds", str(seconds),
                              "--warmup", "1", "--alpha", str(alpha), "--seed", str(seed),
                              "--mysql-mode", mode,
                              env={"MYSQL_URL": server.url, "LOADBENCH_RUNS_DIR": runs_dir})
    entry = report["connectors"][0]
    if entry["connections"] != threads:
        sys.exit(f"loadbench held {entry['connections']} connections, not {threads}")
    return entry["throughput"]["operations_per_s"], entry["p99_ms"], entry["client_cpu"]["per_operation_us"] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--mode", choices=("procedure", "statements"), default="procedure")
    parser.add_argument("--alpha", type=float, default=0.0, help="0 (uniform) or > 0 (sysbench's zipfian exponent)")
    parser.add_argument("--lb-threads", type=int, default=0,
                        help="loadbench's event-loop threads (0: one per core, at most one per session)")
    parser.add_argument("--anchor-only", action="store_true", help="run sysbench only")
    args = parser.parse_args()
    runs_dir = tempfile.mkdtemp(prefix="lb-vs-sysbench-")

    server = MariaDbServer.create(durable=False)
    try:
        prepare_schema(server)
        version = server.sql("SELECT VERSION()")
        print(f"MariaDB {version} at 127.0.0.1:{server.port}, {args.accounts:,} accounts, mode {args.mode}, "
              f"alpha {args.alpha:g}, {args.seconds:g} s per run, {args.rounds} rounds, median of rounds; loadbench on "
              + (f"{args.lb_threads} event-loop thread(s)" if args.lb_threads else "one event-loop thread per core"))
        with_loadbench = not args.anchor_only
        print(f"{'threads':>8} {'sysbench tps':>13} {'p99 ms':>7} {'cpu/txn':>9}"
              + (f" {'loadbench tps':>14} {'p99 ms':>7} {'cpu/txn':>9} {'ratio':>6} {'range':<11} {'cpu ratio':>9}"
                 if with_loadbench else ""))
        for threads in (int(t) for t in args.threads.split(",")):
            sb, lb = [], []
            for r in range(args.rounds):
                def sysbench_round() -> None:
                    fresh_accounts(server, args.accounts)
                    sb.append(run_sysbench(server, threads, args.seconds, args.accounts, args.mode, args.alpha))
                    check_money(server, args.accounts, "sysbench")

                def loadbench_round() -> None:
                    fresh_accounts(server, args.accounts)
                    lb.append(run_loadbench(server, threads, args.seconds, args.accounts, args.mode, args.alpha, r + 1,
                                            args.lb_threads, runs_dir))
                    check_money(server, args.accounts, "loadbench")

                # The tools take turns going first, so a drift of the machine favours neither.
                order = (sysbench_round, loadbench_round) if r % 2 == 0 else (loadbench_round, sysbench_round)
                for run in order:
                    if run is loadbench_round and not with_loadbench:
                        continue
                    run()
            line = (f"{threads:>8} {statistics.median(t for t, _, _ in sb):>13,.0f} "
                    f"{statistics.median(p for _, p, _ in sb):>7.2f} {statistics.median(c for _, _, c in sb) * 1e6:>6.1f} us")
            if with_loadbench and lb:
                # Each round's two runs are a pair, measured back to back: the ratio is the median of
                # the rounds' ratios (min and max show the spread).
                ratios = [lbr[0] / sbr[0] for sbr, lbr in zip(sb, lb)]
                cpu_ratios = [lbr[2] / sbr[2] for sbr, lbr in zip(sb, lb)]
                line += (f" {statistics.median(t for t, _, _ in lb):>14,.0f} {statistics.median(p for _, p, _ in lb):>7.2f} "
                         f"{statistics.median(c for _, _, c in lb) * 1e6:>6.1f} us {statistics.median(ratios):>6.2f} "
                         f"{min(ratios):>5.2f}-{max(ratios):<5.2f} {statistics.median(cpu_ratios):>8.2f}")
            print(line, flush=True)
            print(f"{'':>8} rounds' sysbench tps: {' '.join(f'{t:,.0f}' for t, _, _ in sb)}"
                  + (f"; loadbench tps: {' '.join(f'{t:,.0f}' for t, _, _ in lb)}" if lb else ""), flush=True)
    finally:
        server.destroy()
        shutil.rmtree(runs_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
