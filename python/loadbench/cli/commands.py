"""The command line: ``loadbench bench | prep | verify | matrix | demo | report | plot | compare |
export | services``.

Every failure the user can cause or meet is one line on stderr and a non-zero exit: 2 for bad
input (before anything runs, no report written), 1 when the system under test fails, 99 when a
``--threshold`` is breached (k6's code; a failed run exits 1 still), 130 when interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterator, TypeVar

import click
from rich.console import Console

from loadbench import __version__, connectors, outputs, secrets
from loadbench.cli.display import (
    LiveDisplay,
    compare_table,
    comparison_table,
    entries,
    fault_table,
    generator_tables,
    merged_table,
    schedule_lines,
    summary_table,
    sweep_table,
)
from loadbench.connectors import compose, local_servers, postgres as postgres_service
from loadbench.errors import ConfigError, LoadbenchError, OutputError
from loadbench.report import (
    configuration_results as results,
    hlog,
    publish,
    results_log,
    store,
    table,
    thresholds as limits,
)
from loadbench.report.merge import merge_histograms
from loadbench.run import audit, config as defaults, core as engine, faults as fault_schedule, presets, runner, sweeps
from loadbench.run.config import DEFAULT_ALPHA, DEFAULT_CONCURRENCY, PlanOptions, RunPlan, make_plan
from loadbench.run.profiling import profile_lines
from loadbench.settings import Settings

_F = TypeVar("_F", bound=Callable[..., Any])


def _options(*options: Callable[[Any], Any]) -> Callable[[_F], _F]:
    """A decorator applying ``options`` in the order listed (as they show in --help)."""
    def apply(fn: _F) -> _F:
        for option in reversed(options):
            fn = option(fn)
        return fn
    return apply


_ENV_FILE = click.option("--env-file", type=click.Path(path_type=Path),
                         help="Read settings from this file (default ./.env).")
_RUNS_DIR = click.option("--runs-dir", type=click.Path(path_type=Path),
                         help="Where reports, results.jsonl (and the default SQLite file) go (env LOADBENCH_RUNS_DIR; "
                              f"default {defaults.DEFAULT_RUNS_DIR}).")
_SERVER_PID = click.option("--server-pid", "server_pids", type=int, multiple=True, metavar="PID",
                           help="Sample CPU and memory of this database server process and its children during the "
                                "run (repeatable; default: what the connector knows, none for SQLite).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout instead of the table.")


def _parse_thresholds(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[limits.Threshold, ...]:
    return limits.parse_all(value)  # a malformed one: ConfigError, exit 2 before anything runs


def _parse_faults(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[fault_schedule.Fault, ...]:
    return fault_schedule.parse_all(value)  # a malformed one: ConfigError, exit 2 before anything runs


_THRESHOLD = click.option(
    "--threshold", "thresholds", multiple=True, metavar="EXPR", callback=_parse_thresholds,
    help="Pass/fail check at the end, k6-style: [CONNECTOR:]METRIC OP NUMBER with METRIC one of tps, error_rate "
         "(failed / all operations), p50_ms, p95_ms, p99_ms, p999_ms, max_ms, mean_ms and OP one of < <= > >= "
         "(e.g. 'p99_ms<50', 'postgres:tps>1000'); repeatable. A breach exits 99.")
_QUIET = click.option("--quiet", is_flag=True, help="No live progress.")
_WIDE = click.option("--wide", is_flag=True,
                     help="Every column in the final tables (default: a compact table that fits 100 columns).")

# Where the load goes: bench, prep, verify and matrix.
_target_options = _options(
    click.option("--connectors", "connector_names", metavar="A,B",
                 help="Connectors to use, comma-separated. Default: every configured one (not null)."),
    click.option("--initial-balance", type=int,
                 help=f"Balance of each account (env SEED_INITIAL_BALANCE; default {defaults.DEFAULT_INITIAL_BALANCE})."),
    _ENV_FILE,
    _RUNS_DIR,
    # Each connector module's own flags (--pg-mode, --isolation, --inflight, ...).
    *(click.option(f.option, f.dest, type=click.Choice(f.choices) if f.choices else f.type, help=f.help)
      for f in connectors.flags()),
)
_ACCOUNTS = click.option("--accounts", type=int,
                         help=f"Accounts to seed (env SEED_ACCOUNTS; default {defaults.DEFAULT_ACCOUNTS}).")
# What is loaded, beyond test-1's accounts: bench and prep.
_scenario_options = _options(
    click.option("--config-id", metavar="ID[,ID]|all",
                 help="Configuration presets to run under, comma-separated, or all (see README: base-0, wal-1, ..., "
                      "pg-base-0, ...). Default: the connectors as configured; for write, each one's base preset."),
    click.option("--set", "set_values", multiple=True, metavar="NAME=VALUE",
                 help="Scenario files: override an integer var (e.g. --set scale=10), repeatable."),
)

# How each run goes: bench and matrix.
_run_options = _options(
    click.option("--seconds", type=float, help=f"Length of the measured window, seconds (default {defaults.DEFAULT_SECONDS:g}, "
                                                    f"at least {defaults.MIN_SECONDS:g})."),
    click.option("--warmup", type=float, help="Warmup before the window, seconds, not counted "
                                                   f"(default seconds/10, max {defaults.MAX_WARMUP_DEFAULT:g})."),
    click.option("--seed", type=int, help="Seed of the account choice (default: random, recorded in the report)."),
    click.option("--max-tries", type=int, help="Attempts per operation on retryable errors such as busy "
                                                   f"(default {defaults.DEFAULT_MAX_TRIES})."),
    click.option("--op-timeout", type=float,
                 help=f"Per-attempt timeout, seconds; 0 disables (default {defaults.DEFAULT_OP_TIMEOUT:g})."),
    click.option("--operations", type=int,
                 help="End the window after this many operations (split over the workers); --seconds bounds it."),
    click.option("--rate", type=float,
                 help="Open loop: start operations on a schedule at this total rate (ops/s) and measure latency "
                      "from each one's intended start (default 0: closed loop)."),
    click.option("--arrival", type=click.Choice(defaults.ARRIVALS),
                 help=f"Open loop: gaps between intended starts, exponential or constant (default {defaults.DEFAULT_ARRIVAL})."),
    click.option("--max-lag", type=float,
                 help="Open loop: skip (and count) operations that could not start within this many seconds of "
                      "their intended start (default 0: never skip)."),
    click.option("--scatter", is_flag=True,
                 help="Scatter account ids with a fixed permutation, so the hottest Zipf ranks are not the lowest ids."),
    click.option("--threads", type=int,
                 help="Event-loop threads driving network connectors' sessions (default 0: one per core). "
                      "Blocking connectors (SQLite) use one thread per session."),
    click.option("--open-parallelism", type=int,
                 help="Network connectors: sessions being opened at once, at most, so thousands of sessions do "
                      f"not storm the server (default {defaults.DEFAULT_OPEN_PARALLELISM})."),
    click.option("--skip-prep", is_flag=True, help="Do not seed the accounts first."),
    click.option("--verify/--no-verify", default=None, help="Check money is conserved after the run (env VERIFY; default on)."),
    click.option("--skip-capacity-check", is_flag=True,
                 help="Run even when the estimate says the machine cannot hold the run (memory, threads, file "
                      "descriptors); it then fails with the resource named when it runs out."),
    click.option("--max-failure-share", type=float, metavar="SHARE",
                 help="A connector whose failed operations exceed this share of its operations fails the run, as "
                      f"one that committed nothing does (default {defaults.DEFAULT_MAX_FAILURE_SHARE:g}; 1: no limit; "
                      "the write test does not count "
                      "busy failures, its answer on SQLite without a busy timeout)."),
    click.option("--iterations", type=int, default=None,
                 help="Run each point this many times; the report gives mean and spread per point (default 1)."),
    _THRESHOLD,
    _SERVER_PID,
    _JSON,
    _QUIET,
)


def _runs_dir(settings: Settings, runs_dir: Path | None, write: bool = True) -> Path:
    """The runs directory; with ``write``, checked before anything runs: created if needed, a
    directory, writable (tried), with a results.jsonl that takes appends, its stale temporary files
    removed. Without, only read (compare): it need not exist, but must not be a file."""
    runs = runs_dir if runs_dir is not None else settings.path("LOADBENCH_RUNS_DIR", defaults.DEFAULT_RUNS_DIR)
    if not write:
        if runs.exists() and not runs.is_dir():
            raise ConfigError(f"runs directory {runs} is not a directory")
        return runs
    outputs.check_directory(runs, "runs directory")
    outputs.check_file(runs / results_log.FILE_NAME, "results log", append=True)
    return runs


def _check_results_dir(plan: RunPlan) -> None:
    """The write test's results directory and files, before anything runs."""
    if not (plan.concurrency_levels and plan.results_dir):
        return
    outputs.check_directory(plan.results_dir, "results directory")
    named = [{"name": s.name, "configuration_id": s.configuration_id} for s in plan.connectors]
    for config_id in set(results.configuration_ids({"connectors": named}).values()):
        outputs.check_file(plan.results_dir / f"{config_id}.json", "results file")


def _resolve(env_file: Path | None, runs_dir: Path | None, connector_names: str | None, config_id: str | None = None,
             results_dir: Path | None = None, **plan_args: Any) -> RunPlan:
    settings = Settings.load(env_file)
    runs = _runs_dir(settings, runs_dir)
    # The connector modules' flags go to their builders; the rest is the plan's.
    choices = {f.dest: plan_args.pop(f.dest, None) for f in connectors.flags()}
    specs = connectors.select(settings, runs, connector_names, choices)
    # The write test always runs under a preset (its results file is named after it): the base
    # one unless --config-id says otherwise.
    specs = presets.select(config_id, specs, settings, base_by_default=plan_args.get("test") == "write")
    if results_dir is None:
        results_dir = settings.path("LOADBENCH_RESULTS_DIR", defaults.DEFAULT_RESULTS_DIR)
    plan = make_plan(settings, specs, PlanOptions(runs_dir=runs, results_dir=results_dir, **plan_args))
    _check_results_dir(plan)
    return plan


def _set_vars(values: tuple[str, ...]) -> dict[str, int]:
    """``--set NAME=VALUE`` (repeatable): integer vars of a scenario file."""
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = int(value.replace("_", ""))
        except ValueError:
            raise ConfigError(f"--set {item!r}: expected NAME=INTEGER") from None
        if not sep or not name.strip():
            raise ConfigError(f"--set {item!r}: expected NAME=INTEGER")
    return out


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich's own exits 1; stdout's reader going away (| head) is no failure: print nothing more.
        self.quiet = True
        _stdout_gone()


def _console() -> Console:
    # Not a terminal: COLUMNS if set (a CI log's width), else 160.
    columns = os.environ.get("COLUMNS", "")
    return _Console(width=None if sys.stdout.isatty() else int(columns) if columns.isdigit() and int(columns) > 0 else 160)


def _stdout_gone() -> None:
    """stdout's reader went away (``| head -1``): what is left to print goes nowhere, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _print_table(console: Console, table: Any, wide: bool) -> None:
    """A final table; ``--wide``: at the width it needs when the console is narrower, lines
    longer than the terminal rather than a cell cut to "…" (compact ones fold long names)."""
    if not wide:
        console.print(table)
        return
    needed = console.measure(table, options=console.options.update_width(10_000)).maximum
    width = console.width
    console.width = max(width, needed)  # print(width=) cannot exceed the console's own
    try:
        console.print(table)
    finally:
        console.width = width


@contextlib.contextmanager
def _printing() -> Iterator[None]:
    """Printing to stdout: a reader that goes away (EPIPE) ends the printing quietly, and the
    command goes on (a bench still writes its report) and exits with its own code."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_gone()


def _show(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    """Prints a bench or sweep outcome (table or JSON) and one line per connector that failed,
    before the report is written: a full disk cannot take the figures with it."""
    text = None
    if as_json:
        try:
            text = json.dumps(report, indent=1, allow_nan=False)
        except ValueError:  # a NaN would be invalid JSON: the table instead; the write names it
            pass
    with _printing():
        if text is not None:
            click.echo(text)
        else:
            shown = table.for_display(report)
            console = _console()
            _print_table(console, sweep_table(shown, wide) if store.kind_of(report) == "sweep" else summary_table(shown, wide),
                         wide)
            _print_sections(console, shown, wide)
            if store.kind_of(report) != "sweep":
                for line in schedule_lines(report):
                    click.echo(table.printable(line, markup=False))
                if report["parameters"].get("concurrency_levels"):
                    console.print(comparison_table(shown))
            for line in [*_kindless_lines(report), *_audit_lines(report), *limits.lines(report.get("thresholds", []))]:
                click.echo(table.printable(line, markup=False))
    for _, _, _, entry in table.runs(report):
        if entry["status"] == "failed":
            click.echo(f"loadbench: {table.printable(entry['error'], markup=False)}", err=True)
        elif entry["status"] == "verification_failed":
            what = f"{_label(entry)}: verification failed: {_describe(entry['verification'])}"
            click.echo(f"loadbench: {table.printable(what, markup=False)}", err=True)
    crossed = [t["expression"] for t in report.get("thresholds", []) if t["passed"] is False]
    if crossed:
        what = f"threshold{'s' if len(crossed) > 1 else ''} breached: {', '.join(crossed)}"
        click.echo(f"loadbench: {table.printable(what, markup=False)}", err=True)


def _print_sections(console: Console, report: dict[str, Any], wide: bool) -> None:
    """After the summary: a ``--cluster`` run's generators and the faults injected, as tables."""
    for extra in [*generator_tables(report, wide), fault_table(report, wide)]:
        if extra is not None:
            _print_table(console, extra, wide)


def _audit_lines(report: dict[str, Any]) -> list[str]:
    """Under the table: each audited connector's server-confirmed commits beside the client's, or
    why its ledger was not checked."""
    return [audit.line(table.entry_label(entry, report), entry["audit"]) if entry["audit"].get("checked", True)
            else f"{table.entry_label(entry, report)}: {entry['audit'].get('violation') or 'audit: not checked'}"
            for _, _, _, entry in table.runs(report) if entry.get("audit")]


def _kindless_lines(report: dict[str, Any]) -> list[str]:
    """Under the table: a connector whose server gave every failure the same kindless answer
    (the entry's ``errors_without_kind``), once per connector."""
    found: dict[str, tuple[int, str]] = {}
    for _, _, _, entry in table.runs(report):
        unkinded = entry.get("errors_without_kind")
        if unkinded:
            label = table.entry_label(entry, report)
            count, example = found.get(label, (0, unkinded["example"]))
            found[label] = (count + unkinded["count"], example)
    lines = []
    for label, (count, example) in found.items():
        example = " ".join(example.split())
        if len(example) > 60:
            example = example[:57] + "..."
        lines.append(f"{label}: the server's errors carry no kind: its {count:,} failures all came back as 'other'"
                     + (f" (e.g. {example!r})" if example else "") + "; serialization or busy answers cannot be "
                     "told apart or retried")
    return lines


def _finish(outcome: publish.BenchOutcome, as_json: bool) -> int:
    """After the report is written (its outcome shown by :func:`_show`): where it went."""
    if not as_json:
        with _printing():
            console = _console()
            console.print(f"report: {table.printable(str(outcome.path))}")
            for path in outcome.results_paths:
                console.print(f"results: {table.printable(str(path))}")
            for line in profile_lines(outcome.report, outcome.path.parent):
                console.print(table.printable(line))
    return outcome.exit_code


def _check_thresholds(plan: RunPlan, thresholds: tuple[limits.Threshold, ...]) -> None:
    """A threshold that names a connector not in the run is bad input, before any load."""
    limits.check_connectors(thresholds, [(spec.name, spec.label) for spec in plan.connectors])


def _sweep(plan: RunPlan, sweep: sweeps.Sweep, as_json: bool, quiet: bool,
           thresholds: tuple[limits.Threshold, ...] = (), wide: bool = False, feed: Any = None) -> int:
    quiet = quiet or as_json
    feed = feed or _NoDashboard()

    def say(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    done = sweeps.run(plan, sweep, lambda p: feed.display(entries(LiveDisplay(p, quiet=quiet))), say)
    feed.interrupted = done.interrupted
    return _finish(publish.sweep(done, show=lambda report: _show(report, as_json, wide), thresholds=thresholds),
                   as_json)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="loadbench")
def cli() -> None:
    """A repeatable database load test."""


@cli.command()
@click.argument("test", default="test-1")
@click.option("--concurrency", type=int,
              help=f"Sessions (clients), each with one transfer in flight (default {DEFAULT_CONCURRENCY}). "
                   "Blocking connectors (SQLite) run a thread per session; network connectors run them all on --threads event loops.")
@click.option("--alpha", type=float, help=f"Zipf exponent of account choice: 0 uniform, higher = hotter (default {DEFAULT_ALPHA}).")
@click.option("--contention-tests", type=(float, float, float, int), default=None,
              metavar="START END STEP CONCURRENCY",
              help="Sweep alpha from START to END (included) by STEP at CONCURRENCY workers; one report holds every point.")
@click.option("--concurrency-tests", type=(int, int, int, float), default=None, metavar="START END STEP ALPHA",
              help="Sweep concurrency (workers) from START to END (included) by STEP at ALPHA; one report holds every point.")
@click.option("--configs", metavar="C[,C]",
              help="write: the concurrency levels, one run each on the same tables "
                   f"(default {','.join(map(str, defaults.DEFAULT_WRITE_LEVELS))}).")
@click.option("--total-writes", type=int, help=f"write: writes per concurrency level (default {defaults.DEFAULT_TOTAL_WRITES}).")
@click.option("--results-dir", type=click.Path(path_type=Path),
              help="write: where results/<configuration-id>.json go (env LOADBENCH_RESULTS_DIR; "
                   f"default {defaults.DEFAULT_RESULTS_DIR}).")
@click.option("--cluster", metavar="tcp://HOST:PORT",
              help="Run the load on the workers of this Dask scheduler, one generator each, and merge their results "
                   "(needs loadbench[distributed]; see loadbench cluster up).")
@click.option("--epochs", type=int,
              help="--cluster: back-to-back windows, one report entry each; workers that join during one are "
                   "enlisted from the next (default 1).")
@click.option("--dashboard", "dashboard_port", is_flag=False, flag_value="0", default=None, metavar="[PORT]",
              help="Serve a live page of the run on http://127.0.0.1:PORT/ (updated every second; without PORT: any "
                   "free port), the HTML report's charts; it prints the URL and stops with the run.")
@_WIDE
@click.option("--fault", "faults", multiple=True, metavar="KIND@T[+D]", callback=_parse_faults,
              help="Inject a fault into the connector's local server T seconds into the window (repeatable): terminate "
                   "(loadbench's sessions), restart, kill (SIGKILL + restart), freeze@T+D (SIGSTOP for D s) on "
                   "PostgreSQL, MariaDB and Redis; netloss@T+D (its loopback TCP port's packets dropped: root + "
                   "nftables) on any connector with a loopback server. The report gets each one's timeline and "
                   "recovery time.")
@click.option("--server-restart", metavar="CMD",
              help="--fault restart/kill: the shell command that (re)starts the server (default: PostgreSQL's "
                   "pg_ctl restart on its data directory, as its owner; MariaDB's and Redis's own command line again).")
@click.option("--audit", is_flag=True, default=False,
              help="test-1: every committed transfer also writes its operation id to a ledger in the same transaction; "
                   "after the run the ledger is checked against what the client heard (lost writes, ambiguous outcomes, "
                   "lost updates) and any loss fails the run (exit 1). sqlite, postgres, mysql, redis.")
@click.option("--profile", is_flag=True, default=False,
              help="CPU flamegraphs (perf, cpu-clock) of the harness and of a local server (services, --server-pid) "
                   "over the measured window, as SVGs beside the report; without perf, one line and no profile.")
@_run_options
@_ACCOUNTS
@_scenario_options
@_target_options
def bench(test: str, contention_tests: tuple[float, float, float, int] | None,
          concurrency_tests: tuple[int, int, int, float] | None, iterations: int | None, as_json: bool, quiet: bool,
          env_file: Path | None, runs_dir: Path | None, connector_names: str | None, set_values: tuple[str, ...],
          thresholds: tuple[limits.Threshold, ...], cluster: str | None, epochs: int | None,
          dashboard_port: str | None, wide: bool, **kwargs: Any) -> int:
    """Seed, load for --seconds at --concurrency, verify, and write a report to runs/ (or sweep alpha or
    concurrency: one report holding every point).

    TEST is test-1 (money transfers, built in), write (inserts across five tables, per preset and
    concurrency level, with results/<configuration-id>.json), or a scenario file: a path to a
    .toml file, or a shipped one by name (tpcb, test-1.toml, write.toml).
    """
    if contention_tests and concurrency_tests:
        raise ConfigError("use one of --contention-tests and --concurrency-tests")
    port = None
    if dashboard_port is not None:
        from loadbench.cli import dashboard

        port = dashboard.parse_port(dashboard_port)
    sweep = None
    makers: tuple[tuple[str, Any, Callable[..., tuple[sweeps.Sweep, Any]]], ...] = (
        ("--contention-tests", contention_tests, sweeps.contention),
        ("--concurrency-tests", concurrency_tests, sweeps.concurrency))
    for flag, given, make in makers:
        if given:
            for fixed in ("concurrency", "alpha"):
                if kwargs[fixed] is not None:
                    raise ConfigError(f"--{fixed} cannot be combined with {flag} (it sets both)")
            sweep, fixed_value = make(*given, iterations=1 if iterations is None else iterations)
            kwargs["concurrency" if flag == "--contention-tests" else "alpha"] = fixed_value
    if sweep is None and iterations not in (None, 1):
        sweep = sweeps.repeat(iterations)
    if sweep is not None and test == "write":
        raise ConfigError("the write test sweeps its own concurrency levels (--configs); "
                          "--contention-tests, --concurrency-tests and --iterations do not apply")
    if epochs is not None and cluster is None:
        raise ConfigError("--epochs needs --cluster")
    if cluster is not None:
        if kwargs.get("faults") or kwargs.get("profile"):
            raise ConfigError("--fault and --profile act on this machine's processes: they do not apply with --cluster")
        if kwargs.get("audit"):
            raise ConfigError("--audit checks one process's log against the ledger: it does not apply with --cluster")
        from loadbench.distributed import coordinator, require

        require()  # before anything else: without the extra, one line naming it
        if sweep is not None:
            raise ConfigError("--cluster runs one bench: --contention-tests, --concurrency-tests and --iterations "
                              "do not apply")
        if port is not None:
            raise ConfigError("--dashboard shows a run of this process: it does not follow a --cluster run")
    plan = _resolve(env_file, runs_dir, connector_names, test=test, set_vars=_set_vars(set_values), **kwargs)
    _check_thresholds(plan, thresholds)
    if cluster is not None:
        done_on_cluster = coordinator.bench(plan, cluster, 1 if epochs is None else epochs,
                                            entries(LiveDisplay(plan, quiet=quiet or as_json)))
        return _finish(coordinator.publish(done_on_cluster, show=lambda report: _show(report, as_json, wide),
                                           thresholds=thresholds), as_json)
    with _dashboard(plan, port) as feed:
        if sweep is not None:
            return _sweep(plan, sweep, as_json, quiet, thresholds, wide, feed)
        done = runner.bench(plan, feed.display(entries(LiveDisplay(plan, quiet=quiet or as_json))))
        feed.interrupted = done.measurement.interrupted
        return _finish(publish.bench(done, show=lambda report: _show(report, as_json, wide), thresholds=thresholds),
                       as_json)


class _NoDashboard:
    """What a run without ``--dashboard`` feeds: nothing."""

    interrupted = False

    def display(self, display: runner.Display) -> runner.Display:
        return display


@contextlib.contextmanager
def _dashboard(plan: RunPlan, port: int | None) -> Iterator[Any]:
    """``--dashboard``: the live page served for as long as the run goes (bound before any load: a
    port in use is bad input); yields what wraps the run's display to feed it (``.display``), and
    takes whether the run was interrupted (``.interrupted``)."""
    if port is None:
        yield _NoDashboard()
        return
    from loadbench.cli import dashboard

    served = dashboard.Dashboard(plan, port)
    url = served.start()
    click.echo(f"dashboard: {url} (live while the run goes)", err=True)
    try:
        yield served
    except BaseException:
        served.interrupted = True
        raise
    finally:
        served.stop()


def _number_list(text: str | None, kind: type, flag: str) -> list[Any] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{flag} is empty")
    try:
        return [kind(t.replace("_", "")) for t in items]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: every value must be {'an integer' if kind is int else 'a number'}") from None


@cli.command()
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--accounts", "accounts_list", metavar="N,N,...",
              help=f"Accounts (rows) to seed at each point, comma-separated (default: SEED_ACCOUNTS, {defaults.DEFAULT_ACCOUNTS}).")
@click.option("--concurrency", "concurrency_list", metavar="N,N,...",
              help=f"Worker counts, comma-separated (default {DEFAULT_CONCURRENCY}).")
@click.option("--alpha", "alpha_list", metavar="A,A,...",
              help=f"Zipf exponents, comma-separated (default {DEFAULT_ALPHA}).")
@_WIDE
@_run_options
@_target_options
def matrix(file: Path | None, accounts_list: str | None, concurrency_list: str | None, alpha_list: str | None,
           iterations: int | None, seconds: float | None, warmup: float | None, as_json: bool, quiet: bool,
           env_file: Path | None, runs_dir: Path | None, connector_names: str | None,
           thresholds: tuple[limits.Threshold, ...], wide: bool, **kwargs: Any) -> int:
    """Run every combination of accounts x concurrency x alpha (from flags, or FILE, a TOML file with
    lists `accounts`, `concurrency`, `alpha` and optional `iterations`, `seconds`, `warmup`,
    `connectors`; flags win). One report holds every point."""
    from loadbench.analysis import matrix_file

    spec = matrix_file.load(file) if file is not None else {}
    accounts = _number_list(accounts_list, int, "--accounts") or spec.get("accounts")
    concurrency = _number_list(concurrency_list, int, "--concurrency") or spec.get("concurrency")
    alpha = _number_list(alpha_list, float, "--alpha") or spec.get("alpha")
    if kwargs["skip_prep"] and accounts and len(accounts) > 1:
        raise ConfigError("--skip-prep cannot be used with more than one accounts value (each one is seeded)")
    plan = _resolve(env_file, runs_dir, connector_names or spec.get("connectors"),
                    seconds=seconds if seconds is not None else spec.get("seconds"),
                    warmup=warmup if warmup is not None else spec.get("warmup"),
                    accounts=accounts[0] if accounts else None, concurrency=concurrency[0] if concurrency else None,
                    alpha=alpha[0] if alpha else None, **kwargs)
    _check_thresholds(plan, thresholds)
    sweep = sweeps.grid(accounts or [plan.accounts], concurrency or [plan.concurrency], alpha or [plan.alpha],
                        iterations if iterations is not None else spec.get("iterations", 1))
    return _sweep(plan, sweep, as_json, quiet, thresholds, wide)


@cli.command()
@click.argument("test", default="test-1")
@_ACCOUNTS
@_scenario_options
@_target_options
def prep(test: str, env_file: Path | None, runs_dir: Path | None, connector_names: str | None, accounts: int | None,
         initial_balance: int | None, set_values: tuple[str, ...], **choices: Any) -> int:
    """Create the schema and seed it (resets it if present): test-1's accounts, or a scenario
    file's tables and seed rows."""
    plan = _resolve(env_file, runs_dir, connector_names, test=test, accounts=accounts,
                    initial_balance=initial_balance, set_vars=_set_vars(set_values), **choices)
    runner.preflight(plan)  # reachable, the file's SQL prepares (and a superuser warned of)
    for spec in plan.connectors:
        began = time.monotonic()
        engine.prep(plan, spec)
        if plan.scenario is None:
            what = f"seeded {plan.accounts:,} accounts with {plan.initial_balance:,} each"
        else:
            seeded = plan.scenario.seeded()
            tables = len(plan.scenario.tables)
            what = f"created the {tables} table{'s' if tables != 1 else ''} of {plan.scenario.name}, seeded " + (
                ", ".join(f"{rows:,} {table}" for table, rows in seeded.items()) if seeded else "nothing")
        click.echo(f"{spec.label}: {what} in {time.monotonic() - began:.2f} s")
    return 0


@cli.command()
@_ACCOUNTS
@_target_options
def verify(env_file: Path | None, runs_dir: Path | None, connector_names: str | None, accounts: int | None,
           initial_balance: int | None, **choices: Any) -> int:
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


@cli.command()
@click.option("--seconds", type=float, default=10.0, show_default=True, help="Length of each measured window, seconds.")
@click.option("--concurrency", type=int, default=50, show_default=True, help="Worker threads, one session each.")
@click.option("--alpha", type=float, default=1.5, show_default=True,
              help="Zipf exponent of account choice (1.5: a few hot accounts take most transfers).")
@click.option("--systems", metavar="A,B", help="Connectors to show, comma-separated. Default: every configured one.")
@click.option("--accounts", type=int, help=f"Accounts to seed (env SEED_ACCOUNTS; default {defaults.DEFAULT_ACCOUNTS}).")
@click.option("--skip-prep", is_flag=True, help="Do not seed the accounts first.")
@click.option("--no-animation", is_flag=True, help="Plain lines instead of bars (also when stdout is not a terminal).")
@_WIDE
@_SERVER_PID
@_ENV_FILE
@_RUNS_DIR
def demo(seconds: float, concurrency: int, alpha: float, systems: str | None, accounts: int | None, skip_prep: bool,
         no_animation: bool, wide: bool, server_pids: tuple[int, ...], env_file: Path | None, runs_dir: Path | None) -> int:
    """Run the systems available here side by side at high contention, with live bars."""
    from loadbench.cli import demo as showcase

    settings = Settings.load(env_file)
    runs = _runs_dir(settings, runs_dir)
    # The flags are checked first, with every configured connector, before anything is started.
    plan = make_plan(settings, tuple(connectors.configured(settings, runs).values()),
                     PlanOptions(seconds=seconds, concurrency=concurrency, alpha=alpha, accounts=accounts,
                                 skip_prep=skip_prep, runs_dir=runs, server_pids=server_pids))
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    chosen = showcase.choose(settings, runs, systems, say=click.echo,
                             ask=(lambda q: click.confirm(q, default=True)) if interactive else (lambda q: False))
    plan = dataclasses.replace(plan, connectors=connectors.select(settings, runs, chosen))
    done = runner.bench(plan, entries(showcase.BarsDisplay(plan, animate=not no_animation and sys.stdout.isatty())))
    outcome = publish.bench(done, show=lambda report: _show(report, as_json=False, wide=wide))
    return _finish(outcome, as_json=False)


@cli.command()
@click.argument("report_paths", metavar="REPORT...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--csv", "as_csv", is_flag=True, help="Print a flat CSV instead: one row per connector run, ms and %.")
@click.option("--merge", is_flag=True,
              help="Merge the latency histograms of every run of each connector across the reports, and print "
                   "the merged distribution (exact: the histograms add bucket by bucket).")
@_THRESHOLD
@click.option("--html", "html_out", type=click.Path(path_type=Path), metavar="OUT.html",
              help="Write one self-contained HTML page (interactive charts, no network needed) of the reports, "
                   "side by side when several.")
@_WIDE
def report(report_paths: tuple[Path, ...], as_csv: bool, merge: bool, thresholds: tuple[limits.Threshold, ...],
           html_out: Path | None, wide: bool) -> int:
    """Print reports' tables again (single runs or sweeps), merge their histograms, or write them
    as an HTML page. With --threshold, judge each report by those thresholds (instead of the ones
    it was run with) and exit 99 when one is breached."""
    if sum((as_csv, merge, html_out is not None)) > 1:
        raise ConfigError("--csv, --merge and --html cannot be combined (--csv prints every run, --merge their sum, "
                          "--html writes a page)")
    if thresholds and (as_csv or merge):
        raise ConfigError("--threshold judges each report's table: it cannot be combined with --csv or --merge")
    if html_out is not None:
        outputs.check_file(html_out, "HTML report")  # before reading: a place that cannot take it is bad input
    loaded = [(path, store.load(path)) for path in report_paths]  # every report read before any output
    judged = False
    if thresholds:
        for path, data in loaded:
            names = [(e["name"], e["name"] + (f" {e['configuration_id']}" if e.get("configuration_id") else ""))
                     for _, _, _, e in table.runs(data)]
            try:
                limits.check_connectors(thresholds, names)
            except ConfigError as exc:
                raise ConfigError(f"report {path}: {exc}") from None
            data["thresholds"] = limits.evaluate(data, thresholds)
            judged |= limits.breached(data["thresholds"])
    if html_out is not None:
        from loadbench.analysis import html_report

        html_report.plotly_js()  # plotly missing: one line, before anything is written
        try:
            html_report.write(html_out, [(path.name, data) for path, data in loaded], [path for path, _ in loaded])
        except OSError as exc:
            raise OutputError(f"cannot write {html_out}: {outputs.reason(exc)}") from None
        with _printing():
            click.echo(f"wrote {table.printable(str(html_out), markup=False)}")
        return limits.EXIT_BREACHED if judged else 0
    with _printing():
        if merge:
            merged = {table.printable(name): value
                      for name, value in merge_histograms([data for _, data in loaded]).items()}
            _console().print(merged_table(merged, len(loaded)))
        elif as_csv:
            # The csv module quotes every field holding a comma, quote or line break: one row per run.
            rows = [row for path, data in loaded for row in table.rows(data, path)]
            columns = list(dict.fromkeys(key for row in rows for key in row))
            writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        else:
            for _, data in loaded:
                shown = table.for_display(data)
                _print_table(_console(), sweep_table(shown, wide) if store.kind_of(data) == "sweep"
                             else summary_table(shown, wide), wide)
                _print_sections(_console(), shown, wide)
                for line in [*_kindless_lines(data), *limits.lines(data.get("thresholds", []))]:
                    click.echo(table.printable(line, markup=False))
    return limits.EXIT_BREACHED if judged else 0


@cli.command()
@click.argument("report_paths", metavar="REPORT...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path),
              help="Directory for the figures (default: plots/ beside each report).")
@click.option("--format", "file_format", type=click.Choice(["png", "svg", "both"]), default="png", show_default=True,
              help="Figure file format: PNG (120 dpi), SVG (text kept as text) or both; each format is one more "
                   "draw of every figure. For an interactive view: report --html.")
def plot(report_paths: tuple[Path, ...], out: Path | None, file_format: str) -> int:
    """Draw a report's figures as PNG (or SVG, --format): TPS per connector, latency percentiles and
    distribution, per-second TPS; TPS and p99 against the swept variable for sweeps."""
    loaded = [(path, store.load(path)) for path in report_paths]  # every report read before any figure
    try:
        from loadbench.analysis import plots
    except ImportError as exc:
        raise ConfigError(f"plotting needs matplotlib and pandas ({exc.name} is missing): "
                          "pip install 'loadbench[analysis]'") from None
    directories = {path: out if out is not None else path.parent / "plots" for path, _ in loaded}
    for directory in dict.fromkeys(directories.values()):  # every one checked before any figure is drawn
        outputs.check_directory(directory, "figures directory")
    formats = plots.FORMATS if file_format == "both" else (file_format,)
    with plots.drawing([(path, data, directories[path]) for path, data in loaded], formats) as results:
        for (path, _), result in zip(loaded, results):
            try:
                written = result()
            except OSError as exc:
                raise OutputError(f"cannot write figures to {directories[path]}: {outputs.reason(exc)}") from None
            except ValueError as exc:  # histograms of different layouts in one sweep point
                raise ConfigError(f"report {path}: {exc}") from None
            with _printing():
                for figure in written:
                    click.echo(table.printable(str(figure), markup=False))
    return 0


@cli.command()
@click.argument("a", required=False, metavar="A")
@click.argument("b", required=False, metavar="B")
@click.option("--refs", nargs=2, default=None, metavar="REF1 REF2",
              help="Build and bench two git refs of a loadbench checkout (one after the other), then compare them.")
@click.option("--repo", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="The loadbench checkout whose refs --refs builds.")
@click.option("--bench-args", default="", metavar="'FLAGS'",
              help="Flags of each bench of --refs, as one string, e.g. '--seconds 5 --connectors sqlite' "
                   "(default: bench's defaults).")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when a change beyond the noise makes B worse.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON rows instead of the table.")
@_ENV_FILE
@_RUNS_DIR
def compare(a: str | None, b: str | None, refs: tuple[str, str] | None, repo: Path, bench_args: str,
            fail_on_regression: bool, as_json: bool, env_file: Path | None, runs_dir: Path | None) -> int:
    """Compare A and B, each a report file or a git sha (or ref) with results in runs/results.jsonl:
    TPS and latency percentiles side by side, % change, and whether it is beyond the noise."""
    from loadbench.analysis import compare as comparison

    if refs and (a or b):
        raise ConfigError("give either A and B or --refs REF1 REF2, not both")
    if not refs and not (a and b):
        raise ConfigError("compare needs A and B (report files or git shas), or --refs REF1 REF2")
    runs = _runs_dir(Settings.load(env_file), runs_dir, write=bool(refs))
    if refs:
        from loadbench.analysis import refs as bench_refs

        args = bench_refs.parse_bench_args(bench_args)
        a, b = (str(p) for p in bench_refs.bench_refs(repo, refs, args, runs, lambda line: click.echo(line, err=True)))
    assert a is not None and b is not None  # checked above, or set from --refs
    side_a, side_b = comparison.resolve_both(a, b, runs)
    changes = comparison.compare(side_a, side_b)
    differ = comparison.setup_differences(side_a.setup, side_b.setup)
    # On stderr, before the figures: a change may be the setup's, not the code's.
    if differ:
        click.echo(f"loadbench: warning: A and B ran under different setups ({len(differ)} difference"
                   f"{'s' if len(differ) > 1 else ''}); a change below may come from them, not from the code:", err=True)
        for d in differ:
            click.echo(f"  {table.printable(comparison.describe_difference(d), markup=False)}", err=True)
    elif side_a.setup is None or side_b.setup is None:
        click.echo("loadbench: warning: the setup of " + ("A" if side_a.setup is None else "B") + " is not recorded "
                   "(a results.jsonl line from before setups were kept): differences cannot be named", err=True)
    with _printing():
        if as_json:
            click.echo(json.dumps({"a": side_a.label, "b": side_b.label, "differences": differ,
                                   "changes": comparison.as_dicts(changes)}, indent=1, allow_nan=False))
        else:
            shown = [dataclasses.replace(c, point=table.printable(c.point), connector=table.printable(c.connector))
                     for c in changes]
            _console().print(compare_table(shown, table.printable(side_a.label), table.printable(side_b.label)))
    return 1 if fail_on_regression and comparison.regressed(changes) else 0


@cli.command("rpc-server")
@click.option("--backend", type=click.Choice(["sqlite", "postgres"]), default="sqlite", show_default=True,
              help="The database behind the server, reached through loadbench's own connector (SQLITE_FILE / "
                   "SQLITE_MODE, or PG_URL / a `services up postgres` cluster).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=0, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--threads", type=int, default=0, show_default=True, help="Event-loop threads (0: one per core).")
@click.option("--pool", type=int, default=0, show_default=True,
              help="PostgreSQL connections in all, shared by the threads (0: 8 per thread); SQLite uses one "
                   "connection per thread.")
@_ENV_FILE
@_RUNS_DIR
def rpc_server(backend: str, host: str, port: int, threads: int, pool: int, env_file: Path | None, runs_dir: Path | None) -> int:
    """Serve the keynote-style JSON RPC (POST /rpc: transfer, seed, verify, health) over HTTP/1.1
    on a native Boost.Beast server, backed by SQLite or PostgreSQL, until Ctrl-C or SIGTERM. Point
    SQLITE_RPC_URL or PG_RPC_URL at the URL it prints to measure client -> app server -> database."""
    from loadbench.cli import rpc_server as server

    settings = Settings.load(env_file)
    runs = _runs_dir(settings, runs_dir)
    spec = connectors.select(settings, runs, backend)[0]
    return server.serve(spec, host=host, port=port, threads=threads, pool=pool,
                        on_listening=lambda url: click.echo(f"rpc-server: {backend} ({spec.target}) at {url}"))


@cli.group()
def services() -> None:
    """Throwaway servers for benchmarking: postgres, mariadb, redis and postgrest run here;
    cockroachdb, supabase, spacetimedb and convex in containers (--docker). Their state is per user
    (--services-dir), so any directory sees them."""


_services_options = [
    click.option("--services-dir", type=click.Path(path_type=Path),
                 help="Where the services' state lives (env LOADBENCH_SERVICES_DIR; default "
                      "$XDG_STATE_HOME/loadbench/services, i.e. ~/.local/state/loadbench/services)."),
    click.option("--env-file", type=click.Path(path_type=Path), help="Read settings from this file (default ./.env)."),
    # Services state used to live in the runs directory; the flag is refused with the new one named.
    click.option("--runs-dir", type=click.Path(path_type=Path), hidden=True),
]


def _with_services_options(fn: _F) -> _F:
    for option in reversed(_services_options):
        fn = option(fn)
    return fn


def _services_dir(settings: Settings, services_dir: Path | None, runs_dir: Path | None) -> Path:
    """The per-user services directory; a cluster that an older loadbench recorded in the runs
    directory (``runs/services/postgres.json``) is moved into it, and said so."""
    if runs_dir is not None:
        raise ConfigError("services: --runs-dir is gone: services state is per user now (--services-dir DIR, "
                          "env LOADBENCH_SERVICES_DIR)")
    found = services_dir.absolute() if services_dir is not None else settings.services_dir()
    legacy = settings.path("LOADBENCH_RUNS_DIR", defaults.DEFAULT_RUNS_DIR) / "services"
    moved = postgres_service.adopt_legacy_state(legacy, found)
    if moved:
        click.echo(f"postgres: moved its state from {legacy} to {found} (services state is per user now)", err=True)
    return found


def _service_name(name: str, docker: bool) -> str:
    local, contained = list(connectors.local_services()), list(compose.DOCKER_SERVICES)
    if name in (contained if docker else local):
        return name
    if name in contained:
        raise ConfigError(f"{name} runs in a container only: loadbench services up {name} --docker")
    if name in local:
        raise ConfigError(f"{name} has no --docker service: loadbench services up {name}")
    raise ConfigError(f"unknown service {name!r} (here: {', '.join(local)}; with --docker: {', '.join(contained)})")


_NAME = click.argument("name", metavar="NAME")
_DOCKER = click.option("--docker", is_flag=True,
                       help="A system loadbench cannot install natively (cockroachdb, supabase, spacetimedb, convex), "
                            "from the compose.yaml shipped with loadbench; needs a Docker engine.")


def _say_settings(name: str, env_path: Path) -> None:
    click.echo(f"{name}: settings (with any password) in {env_path}: bench --env-file {env_path}")


@services.command("up")
@_NAME
@_DOCKER
@_with_services_options
def services_up(name: str, docker: bool, services_dir: Path | None, env_file: Path | None, runs_dir: Path | None) -> int:
    """Start a local server (postgres, mariadb, redis, postgrest: a fresh data directory, a free
    loopback port, an unprivileged user); its connector uses it when its URL is not set. Printed
    URLs have their password masked; the full settings go to a file only you can read."""
    found = _services_dir(Settings.load(env_file), services_dir, runs_dir)
    if docker:
        url, env_path = compose.up(_service_name(name, True), found)
        click.echo(f"{name}: healthy at {url} (docker compose project {compose.PROJECT})")
        if compose.DOCKER_SERVICES[name].note:
            click.echo(f"{name}: then {compose.DOCKER_SERVICES[name].note}")
        _say_settings(name, env_path)
        return 0
    where = connectors.local_services()[_service_name(name, False)].up(found)
    click.echo(f"{name}: running at {where}")
    _say_settings(name, local_servers.env_file(found, name))
    return 0


@services.command("down")
@_NAME
@_DOCKER
@_with_services_options
def services_down(name: str, docker: bool, services_dir: Path | None, env_file: Path | None, runs_dir: Path | None) -> int:
    """Stop the local server and delete its data (--docker: its containers and their volumes)."""
    found = _services_dir(Settings.load(env_file), services_dir, runs_dir)
    if docker:
        compose.down(_service_name(name, True), found)
        click.echo(f"{name}: removed")
        return 0
    stopped = connectors.local_services()[_service_name(name, False)].down(found)
    click.echo(f"{name}: stopped" if stopped else f"{name}: was not running")
    return 0


@services.command("status")
@_with_services_options
def services_status(services_dir: Path | None, env_file: Path | None, runs_dir: Path | None) -> int:
    """Local services, and whether every configured connector can be reached (exit 0: all of
    them; 1: one is not reachable; 2: one is configured wrongly, e.g. a malformed URL)."""
    settings = Settings.load(env_file)
    found = _services_dir(settings, services_dir, runs_dir)
    if services_dir is not None:  # the connectors find the services where this command looks
        settings = settings.overriding({"LOADBENCH_SERVICES_DIR": str(found)}, "--services-dir")
    for name, service in connectors.local_services().items():
        url = service.running(found)
        click.echo(f"local {name}: {'running at ' + url if url else 'not running'}")
    for name, url in compose.started(found).items():
        click.echo(f"docker {name}: started at {url} (as `services up --docker` recorded; the engine is not asked)")
    runs = _runs_dir(settings, None, write=False)
    code = 0
    for name, kind in connectors.CONNECTOR_TYPES.items():
        if next(m for m in connectors.MODULES if kind in m.TYPES).NO_SERVER is not None:
            continue  # embedded or no database (sqlite, null): nothing to reach, and no file to create here
        try:
            spec = kind.build(settings, runs, {})
            if spec is None:
                continue
            engine.check(spec)
            click.echo(f"{name}: reachable ({spec.target})")
        except ConfigError as exc:
            code = 2
            click.echo(f"{name}: NOT usable: {exc}")
        except LoadbenchError as exc:
            code = max(code, 1)
            click.echo(f"{name}: NOT reachable: {exc}")
    return code


@cli.group()
def cluster() -> None:
    """A Dask scheduler and workers on loopback, to try bench --cluster on one machine (on real machines:
    dask scheduler / dask worker, see the README). State per user, as for services."""


_CLUSTER_DIR = click.option("--services-dir", type=click.Path(path_type=Path),
                            help="Where the cluster's state lives (env LOADBENCH_SERVICES_DIR; default "
                                 "~/.local/state/loadbench/services).")


def _cluster_dir(env_file: Path | None, services_dir: Path | None) -> Path:
    return services_dir.absolute() if services_dir is not None else Settings.load(env_file).services_dir()


@cluster.command("up")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes (generators) to start.")
@_CLUSTER_DIR
@_ENV_FILE
def cluster_up(workers: int, services_dir: Path | None, env_file: Path | None) -> int:
    """Start a scheduler and --workers workers on 127.0.0.1; prints the scheduler's address."""
    from loadbench.distributed import cluster as local_cluster

    state = local_cluster.up(_cluster_dir(env_file, services_dir), workers)
    click.echo(f"cluster: scheduler at {state['address']}, {len(state['workers'])} workers "
               f"(loadbench bench --cluster {state['address']})")
    return 0


@cluster.command("down")
@_CLUSTER_DIR
@_ENV_FILE
def cluster_down(services_dir: Path | None, env_file: Path | None) -> int:
    """Stop the workers and the scheduler cluster up started."""
    from loadbench.distributed import cluster as local_cluster

    stopped = local_cluster.down(_cluster_dir(env_file, services_dir))
    click.echo("cluster: stopped" if stopped else "cluster: was not running")
    return 0


@cluster.command("status")
@_CLUSTER_DIR
@_ENV_FILE
def cluster_status(services_dir: Path | None, env_file: Path | None) -> int:
    """Whether a cluster runs: its address and workers (exit 1 when none runs)."""
    from loadbench.distributed import cluster as local_cluster

    state = local_cluster.status(_cluster_dir(env_file, services_dir))
    if state is None:
        click.echo("cluster: not running")
        return 1
    alive = sum(1 for w in state["workers"] if w["alive"])
    click.echo(f"cluster: scheduler at {state['address']}, {alive} of {len(state['workers'])} workers running")
    return 0


@cli.command()
@click.argument("report_path", metavar="REPORT", type=click.Path(path_type=Path))
@click.option("--hlog", "as_hlog", is_flag=True, required=True, help="Write an HdrHistogram interval log (.hlog).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Output file (default: the report's name with .hlog; - for standard output).")
def export(report_path: Path, as_hlog: bool, out: Path | None) -> int:
    """Export a report's latency histograms for other tools."""
    if out is not None and str(out) == "-":  # the usual spelling of stdout, never a file named "-"
        text = hlog.render(store.load(report_path))
        with _printing():
            click.echo(text, nl=False)
        return 0
    target = out or report_path.with_suffix(".hlog")
    outputs.check_file(target, "export file")  # before reading: a place that cannot take it is bad input
    report = store.load(report_path)
    try:
        hlog.export(report, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {outputs.reason(exc)}") from None
    with _printing():
        click.echo(f"wrote {table.printable(str(target), markup=False)}")
    return 0


def _describe(check: dict[str, Any]) -> str:
    if "error" in check:
        return str(check["error"])
    if "checks" in check:
        failed = [c for c in check["checks"] if not c["passed"]]
        return "; ".join(f"{c['name']}: got {c['actual']}, expected {c['expected']}" for c in failed) or "passed"
    described = (f"{check['accounts']:,} accounts, total {check['total']:,} (expected {check['expected_total']:,}), "
                 f"{check['negative_balances']} negative")
    outside = check.get("outside_accounts", 0)
    if outside:
        described += (f", {outside:,} account{'' if outside == 1 else 's'} outside the seeded ids "
                      f"({table.printable(check.get('outside_example', ''), markup=False)})")
    return described


def _label(entry: dict[str, Any]) -> str:
    preset = entry.get("configuration_id")
    return f"{entry['name']} {preset}" if preset else entry["name"]


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (kill, a CI timeout) ends a run the way Ctrl-C does: window closed, report written.
    raise KeyboardInterrupt


def _raise_open_file_limit() -> None:
    """Thousands of network sessions need thousands of descriptors: lift the soft limit to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``loadbench`` and ``python -m loadbench``."""
    secrets.install_excepthook()  # a bug's traceback never shows a configured secret
    signal.signal(signal.SIGTERM, _terminate)
    _raise_open_file_limit()
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
    except BrokenPipeError:  # stdout's reader went away outside _printing(): nothing left to say
        _stdout_gone()
        code = 0
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str, code: int) -> None:
    print(f"loadbench: error: {secrets.scrub_all(message)}", file=sys.stderr)
    sys.exit(code)
