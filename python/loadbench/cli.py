"""The command line: ``loadbench bench | prep | verify | services``.

Every failure the user can cause or meet is one line on stderr and a non-zero exit: 2 for bad
input (before anything runs, no report written), 1 when the system under test fails, 130 when
interrupted.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import click
from rich.console import Console

from loadbench import __version__, connectors, engine, hlog, reports, runner
from loadbench import services as svc
from loadbench.config import RunPlan, Settings, make_plan
from loadbench.display import LiveDisplay, schedule_lines, summary_table
from loadbench.errors import ConfigError, LoadbenchError


def _plan_options(fn):
    """Options shared by bench, prep and verify."""
    options = [
        click.option("--connectors", "connector_names", metavar="A,B",
                     help="Connectors to use, comma-separated. Default: every configured one (not null)."),
        click.option("--accounts", type=int, help="Accounts to seed (env SEED_ACCOUNTS; default 100000)."),
        click.option("--initial-balance", type=int,
                     help="Balance of each account (env SEED_INITIAL_BALANCE; default 1000)."),
        click.option("--env-file", type=click.Path(path_type=Path), help="Read settings from this file (default ./.env)."),
        click.option("--runs-dir", type=click.Path(path_type=Path),
                     help="Where reports (and the default SQLite file) go (env LOADBENCH_RUNS_DIR; default runs)."),
        click.option("--pg-mode", type=click.Choice(connectors.PG_MODES),
                     help="PostgreSQL-protocol transfer: one function call, or BEGIN/UPDATE/UPDATE/COMMIT "
                          "(env PG_MODE; default function, statements for cockroachdb)."),
        click.option("--isolation", type=click.Choice(connectors.ISOLATIONS),
                     help="PostgreSQL-protocol isolation level (env PG_ISOLATION; default read_committed, "
                          "serializable for cockroachdb)."),
        click.option("--inflight", type=int,
                     help="Transfers in flight per PostgreSQL connection, pipelined (env MAX_INFLIGHT_PER_WORKER; "
                          "default 1)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _runs_dir(settings: Settings, runs_dir: Path | None) -> Path:
    runs = runs_dir if runs_dir is not None else Path(settings.string("LOADBENCH_RUNS_DIR", "runs"))
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create runs directory {runs}: {exc.strerror}") from None
    return runs


def _resolve(env_file: Path | None, runs_dir: Path | None, connector_names: str | None, pg_mode: str | None,
             isolation: str | None, inflight: int | None, **plan_args) -> RunPlan:
    settings = Settings.load(env_file)
    runs = _runs_dir(settings, runs_dir)
    choices = connectors.Choices(pg_mode=pg_mode, isolation=isolation, inflight=inflight)
    specs = connectors.select(settings, runs, connector_names, choices)
    return make_plan(settings, specs, runs_dir=runs, **plan_args)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="loadbench")
def cli() -> None:
    """A repeatable database load test."""


@cli.command()
@click.argument("test", default="test-1")
@click.option("--seconds", type=float, help="Length of the measured window, seconds (default 10).")
@click.option("--concurrency", type=int, help="Worker threads, one session each (default 10).")
@click.option("--alpha", type=float, help="Zipf exponent of account choice: 0 uniform, higher = hotter (default 0.5).")
@click.option("--warmup", type=float, help="Warmup before the window, seconds, not counted (default seconds/10, max 30).")
@click.option("--seed", type=int, help="Seed of the account choice (default: random, recorded in the report).")
@click.option("--max-tries", type=int, help="Attempts per operation on retryable errors such as busy (default 10).")
@click.option("--op-timeout", type=float, help="Per-attempt timeout, seconds; 0 disables (default 30).")
@click.option("--operations", type=int,
              help="End the window after this many operations (split over the workers); --seconds bounds it.")
@click.option("--rate", type=float,
              help="Open loop: start operations on a schedule at this total rate (ops/s) and measure latency "
                   "from each one's intended start (default 0: closed loop).")
@click.option("--arrival", type=click.Choice(["poisson", "regular"]),
              help="Open loop: gaps between intended starts, exponential or constant (default poisson).")
@click.option("--max-lag", type=float,
              help="Open loop: skip (and count) operations that could not start within this many seconds of "
                   "their intended start (default 0: never skip).")
@click.option("--scatter", is_flag=True,
              help="Scatter account ids with a fixed permutation, so the hottest Zipf ranks are not the lowest ids.")
@click.option("--threads", type=int,
              help="Event-loop threads driving network connectors' sessions (default 0: one per core). "
                   "Blocking connectors (SQLite) use one thread per session.")
@click.option("--skip-prep", is_flag=True, help="Do not seed the accounts first.")
@click.option("--verify/--no-verify", default=None, help="Check money is conserved after the run (env VERIFY; default on).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout instead of the table.")
@click.option("--quiet", is_flag=True, help="No live progress.")
@_plan_options
def bench(test, as_json, quiet, env_file, runs_dir, connector_names, **kwargs) -> int:
    """Seed, load for --seconds at --concurrency, verify, and write a report to runs/."""
    plan = _resolve(env_file, runs_dir, connector_names, test=test, **kwargs)
    outcome = runner.bench(plan, LiveDisplay(plan, quiet=quiet or as_json))
    if as_json:
        click.echo(json.dumps(outcome.report, indent=1))
    else:
        console = Console(width=None if sys.stdout.isatty() else 160)
        console.print(summary_table(outcome.report))
        for line in schedule_lines(outcome.report):
            click.echo(line)
        console.print(f"report: {outcome.path}")
    for entry in outcome.report["connectors"]:
        if entry["status"] == "failed":
            click.echo(f"loadbench: {entry['error']}", err=True)
        elif entry["status"] == "verification_failed":
            click.echo(f"loadbench: {entry['name']}: verification failed: {_describe(entry['verification'])}", err=True)
    return outcome.exit_code


@cli.command()
@_plan_options
def prep(env_file, runs_dir, connector_names, accounts, initial_balance, **choices) -> int:
    """Create the schema and seed the accounts (resets them if present)."""
    plan = _resolve(env_file, runs_dir, connector_names, accounts=accounts, initial_balance=initial_balance,
                    **choices)
    for spec in plan.connectors:
        began = time.monotonic()
        engine.prep(plan, spec)
        click.echo(f"{spec.name}: seeded {plan.accounts:,} accounts with {plan.initial_balance:,} each "
                   f"in {time.monotonic() - began:.2f} s")
    return 0


@cli.command()
@_plan_options
def verify(env_file, runs_dir, connector_names, accounts, initial_balance, **choices) -> int:
    """Check that money is conserved and no balance is negative."""
    plan = _resolve(env_file, runs_dir, connector_names, accounts=accounts, initial_balance=initial_balance,
                    **choices)
    failed = False
    for spec in plan.connectors:
        check = engine.verify(plan, spec)
        if check is None:
            click.echo(f"{spec.name}: nothing to verify (the connector keeps no data)")
            continue
        failed |= not check["passed"]
        click.echo(f"{spec.name}: {'passed' if check['passed'] else 'FAILED'}: {_describe(check)}")
    return 1 if failed else 0


@cli.group()
def services() -> None:
    """Local servers for benchmarking: a throwaway PostgreSQL cluster."""


def _services_runs(runs_dir: Path | None, env_file: Path | None) -> Path:
    return _runs_dir(Settings.load(env_file), runs_dir)


_services_options = [
    click.option("--runs-dir", type=click.Path(path_type=Path), help="Where the services' state lives (default runs)."),
    click.option("--env-file", type=click.Path(path_type=Path), help="Read settings from this file (default ./.env)."),
]


def _with_services_options(fn):
    for option in reversed(_services_options):
        fn = option(fn)
    return fn


@services.command("up")
@click.argument("name", type=click.Choice(svc.SERVICES))
@_with_services_options
def services_up(name, runs_dir, env_file) -> int:
    """Start a local cluster (initdb + pg_ctl on a free loopback port); the postgres connector uses it
    when PG_URL is not set."""
    cluster = svc.up(name, _services_runs(runs_dir, env_file))
    click.echo(f"{name}: running at {cluster.url} (data {cluster.data_dir})")
    return 0


@services.command("down")
@click.argument("name", type=click.Choice(svc.SERVICES))
@_with_services_options
def services_down(name, runs_dir, env_file) -> int:
    """Stop the local cluster and delete its data."""
    stopped = svc.down(name, _services_runs(runs_dir, env_file))
    click.echo(f"{name}: stopped" if stopped else f"{name}: was not running")
    return 0


@services.command("status")
@_with_services_options
def services_status(runs_dir, env_file) -> int:
    """Local services, and whether every configured connector can be reached."""
    settings = Settings.load(env_file)
    runs = _runs_dir(settings, runs_dir)
    cluster = svc.running_postgres(runs)
    click.echo(f"local postgres: {'running at ' + cluster.url if cluster else 'not running'}")
    unreachable = 0
    for name, spec in connectors.configured(settings, runs).items():
        try:
            engine.check(spec)
            click.echo(f"{name}: reachable ({spec.target})")
        except LoadbenchError as exc:
            unreachable += 1
            click.echo(f"{name}: NOT reachable: {exc}")
    return 1 if unreachable else 0


@cli.command()
@click.argument("report_path", metavar="REPORT", type=click.Path(path_type=Path))
@click.option("--hlog", "as_hlog", is_flag=True, required=True, help="Write an HdrHistogram interval log (.hlog).")
@click.option("--out", type=click.Path(path_type=Path), help="Output file (default: the report's name with .hlog).")
def export(report_path, as_hlog, out) -> int:
    """Export a report's latency histograms for other tools."""
    report = reports.load(report_path)
    target = out or report_path.with_suffix(".hlog")
    hlog.export(report, target)
    click.echo(f"wrote {target}")
    return 0


def _describe(check: dict) -> str:
    if "error" in check:
        return check["error"]
    return (f"{check['accounts']:,} accounts, total {check['total']:,} (expected {check['expected_total']:,}), "
            f"{check['negative_balances']} negative")


def _terminate(signum, frame) -> None:
    # SIGTERM (kill, a CI timeout) ends a run the way Ctrl-C does: window closed, report written.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``loadbench`` and ``python -m loadbench``."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = cli.main(args=argv, prog_name="loadbench", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        code = exc.exit_code
    except click.UsageError as exc:
        _error(exc.format_message(), 2)
    except click.Abort:  # Ctrl-C outside a run
        _error("interrupted", 130)
    except KeyboardInterrupt:
        _error("interrupted", 130)
    except LoadbenchError as exc:
        _error(str(exc), exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str, code: int) -> None:
    print(f"loadbench: error: {message}", file=sys.stderr)
    sys.exit(code)
