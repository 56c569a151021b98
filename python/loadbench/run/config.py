"""Configuration: flags, then the environment, then a ``.env`` file, then defaults.

Every value is validated here, before anything runs, and a bad one becomes a one-line
:class:`~loadbench.errors.ConfigError` that names the setting and where it came from.
The result is a :class:`RunPlan`: plain, immutable data that the runner executes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import psutil

from loadbench import _core
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import ConfigError
from loadbench.settings import Settings

if TYPE_CHECKING:
    from loadbench.run.faults import Fault
    from loadbench.scenarios.files import Scenario

TESTS = ("test-1", "write")
ARRIVALS = ("poisson", "regular")
DEFAULT_ARRIVAL = "poisson"
DEFAULT_RUNS_DIR = "runs"
DEFAULT_RESULTS_DIR = "results"

DEFAULT_SECONDS = 10.0
# The shortest measured window --seconds may ask for. Below it the window is comparable to the time
# the workers take to be scheduled after the start signal (several ms on a loaded 2-core machine):
# `--seconds 0.001` measured nothing at all. Windows under one second are measured, but have no
# full second, so no per-second statistics (series.tps_mean and tps_stddev are null).
MIN_SECONDS = 0.1
# A connector whose failed operations exceed this share of its operations is a failed connector
# (--max-failure-share); one with no committed operation always is.
DEFAULT_MAX_FAILURE_SHARE = 0.1
# Failures that are the write test's answer rather than a fault: SQLite without a busy timeout
# answers concurrent writers with BUSY (README, "The write test"). Not counted against the share.
WRITE_EXPECTED_FAILURES = ("busy",)
DEFAULT_CONCURRENCY = 10
DEFAULT_ALPHA = 0.5
DEFAULT_ACCOUNTS = 100_000
DEFAULT_INITIAL_BALANCE = 1_000
DEFAULT_MAX_AMOUNT = 100
DEFAULT_MAX_TRIES = 10
DEFAULT_OP_TIMEOUT = 30.0
DEFAULT_TOTAL_WRITES = 100_000
DEFAULT_WRITE_LEVELS = (1, 2, 4, 8, 16, 32, 64, 128)
# A run of a fixed number of operations is bounded by --seconds only when given.
UNBOUNDED_SECONDS = 7 * 24 * 3600.0
DEFAULT_OPEN_PARALLELISM = 64
MAX_WARMUP_DEFAULT = 30.0
MAX_ACCOUNTS = 2**53  # the Zipf sampler's key space: exact doubles


def default_warmup(seconds: float) -> float:
    """A tenth of the measured window, at most 30 s."""
    return min(seconds / 10.0, MAX_WARMUP_DEFAULT)


MAX_SESSIONS = 2**20  # --concurrency: Linux's default ceiling on one process's descriptors (fs.nr_open)
MAX_DURATION_S = 365 * 24 * 3600.0  # --seconds, --warmup, --op-timeout, --max-lag
MAX_RATE = 1e9  # --rate: one intended start per nanosecond, the engine clock's resolution

@dataclass(frozen=True)
class RunPlan:
    """Everything one ``bench`` invocation will do, validated."""

    test: str
    seconds: float
    warmup_seconds: float
    concurrency: int
    alpha: float
    accounts: int
    initial_balance: int
    max_amount: int
    seed: int
    max_tries: int
    op_timeout_seconds: float
    operations: int
    threads: int
    open_parallelism: int  # network connectors: sessions being opened at once, at most
    rate: float          # open loop: total operations/s; 0: closed loop
    arrival: str         # poisson | regular
    max_lag_seconds: float  # open loop: skip operations later than this (s); 0: never
    scatter: bool
    prep: bool
    verify: bool
    connectors: tuple[ConnectorSpec, ...]
    runs_dir: Path
    server_pids: tuple[int, ...] = ()  # --server-pid: database processes to sample (not a parameter of the load)
    profile: bool = False  # --profile: CPU flamegraphs of the measured window (loadbench.run.profiling)
    faults: "tuple[Fault, ...]" = ()  # --fault: injected into the server during the window (loadbench.run.faults)
    server_restart: str | None = None  # --server-restart: the command that restarts the server (faults)
    audit: bool = False  # --audit: test-1's ledger of every commit, checked after the run (loadbench.run.audit)
    scenario: "Scenario | None" = None        # a scenario file (write, tpcb, path.toml); None: test-1
    pools: Mapping[str, list[str]] = field(default_factory=dict)  # its generated pools
    concurrency_levels: tuple[int, ...] = ()  # write: one run per level
    results_dir: Path | None = None           # write: where results/<configuration-id>.json go
    max_failure_share: float = DEFAULT_MAX_FAILURE_SHARE  # above it (failed / operations), a connector failed
    expected_failures: tuple[str, ...] = ()   # error kinds not counted against max_failure_share
    capacity_check: bool = True  # refuse, before anything runs, a run the machine cannot hold (capacity.py)
    # The first random stream of this run's sessions: the sessions of every earlier run of the
    # invocation on the same data store (a write level, a sweep's run), so that no session replays
    # an earlier one's choices (and re-inserts its rows). Set per run by the runner.
    stream_offset: int = 0
    # Per sequence generator (index into scenario.generators), how many values earlier runs on the
    # same data may have taken: this run's sequences continue after them. Set per run by the runner.
    sequence_offsets: Mapping[int, int] = field(default_factory=dict)

    def core_scenario(self, connector: ConnectorSpec) -> dict[str, Any]:
        """The core's scenario dict for one connector (a file scenario depends on its dialect)."""
        if self.scenario is None or connector.dialect is None:
            return self.scenario_dict()
        return self.scenario.core_dict(connector.dialect, self.pools, self.sequence_offsets)

    def scenario_dict(self) -> dict[str, Any]:
        return {
            "name": self.test,
            "accounts": self.accounts,
            "initial_balance": self.initial_balance,
            "alpha": self.alpha,
            "max_amount": self.max_amount,
            "scatter": self.scatter,
        } | ({"audit": True} if self.audit else {})

    def core_config(self, connector: ConnectorSpec) -> _core.RunConfig:
        """The engine's config for one connector: --concurrency connections, each with its sessions.
        Its fields are named as the CLI's flags and the report's parameters."""
        return _core.RunConfig(
            concurrency=self.concurrency * connector.sessions_per_connection,
            threads=self.threads,
            open_parallelism=self.open_parallelism,
            warmup_seconds=self.warmup_seconds,
            seconds=self.seconds,
            seed=self.seed,
            stream_offset=self.stream_offset,
            max_tries=self.max_tries,
            op_timeout_seconds=self.op_timeout_seconds,
            operations=self.operations,
            rate=self.rate,
            arrival=_core.Arrival.__members__[self.arrival],
            max_lag_seconds=self.max_lag_seconds,
        )

    def parameters(self) -> dict[str, Any]:
        """The plan as the report records it (test-1's own parameters are kept, at their defaults,
        for other scenarios, so readers of older reports find every field)."""
        params = {
            "seconds": self.seconds,
            "warmup_seconds": self.warmup_seconds,
            "concurrency": self.concurrency,
            "alpha": self.alpha,
            "accounts": self.accounts,
            "initial_balance": self.initial_balance,
            "max_amount": self.max_amount,
            "seed": self.seed,
            "max_tries": self.max_tries,
            "op_timeout_seconds": self.op_timeout_seconds,
            "operations": self.operations,
            "threads": self.threads,
            "open_parallelism": self.open_parallelism,
            "rate": self.rate,
            "arrival": self.arrival,
            "max_lag_seconds": self.max_lag_seconds,
            "scatter": self.scatter,
            "prep": self.prep,
            "verify": self.verify,
            "max_failure_share": self.max_failure_share,
            "connectors": sorted({c.name for c in self.connectors}, key=[c.name for c in self.connectors].index),
            "faults": [f.text for f in self.faults],
            "audit": self.audit,
        }
        if self.scenario is not None:
            params["scenario"] = self.scenario.describe()
        if any(c.configuration_id for c in self.connectors):
            params["configuration_ids"] = [c.configuration_id or c.name for c in self.connectors]
        if self.concurrency_levels:
            params["concurrency_levels"] = list(self.concurrency_levels)
        if self.expected_failures:
            params["failure_share_excludes"] = list(self.expected_failures)
        return params


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    return value


def _duration(name: str, value: float) -> float:
    """A finite number of seconds no longer than MAX_DURATION_S (the engine's clock counts
    nanoseconds in 64 bits: about 292 years from its origin, far beyond any run)."""
    value = _finite(name, value)
    if value > MAX_DURATION_S:
        raise ConfigError(f"{name} must be at most {MAX_DURATION_S:,.0f} s (a year), got {value:g}")
    return value


# The checks of the values a sweep varies; ``name`` is the flag the value came from.

def check_alpha(alpha: float, name: str = "--alpha") -> float:
    alpha = _finite(name, alpha)
    if alpha < 0:
        raise ConfigError(f"{name} must be >= 0, got {alpha:g}")
    return alpha


def check_concurrency(concurrency: int, name: str = "--concurrency") -> int:
    if concurrency < 1:
        raise ConfigError(f"{name} must be >= 1, got {concurrency}")
    if concurrency > MAX_SESSIONS:
        raise ConfigError(f"{name} must be at most {MAX_SESSIONS:,} sessions (every session needs a thread or a "
                          f"descriptor, and Linux allows one process at most 2^20 descriptors), got {concurrency:,}")
    return concurrency


def check_accounts(accounts: int, name: str = "--accounts") -> int:
    if not 2 <= accounts <= MAX_ACCOUNTS:
        raise ConfigError(f"{name} must be in [2, 2^53], got {accounts}")
    return accounts


def check_server_pids(pids: tuple[int, ...]) -> tuple[int, ...]:
    for pid in pids:
        if pid <= 0 or not psutil.pid_exists(pid):
            raise ConfigError(f"--server-pid {pid}: no such process")
    return tuple(pids)


@dataclass(frozen=True)
class PlanOptions:
    """A run's options as given (flags, or a caller's choice): None where not given, and
    :func:`make_plan` applies the settings (env, ``.env``) and the defaults above. Times in s,
    ``rate`` in operations/s, ``max_failure_share`` a fraction in [0, 1]; ``configs`` is the write
    test's comma-separated concurrency levels as written."""

    test: str = "test-1"
    seconds: float | None = None
    warmup: float | None = None
    concurrency: int | None = None
    alpha: float | None = None
    accounts: int | None = None
    initial_balance: int | None = None
    seed: int | None = None
    max_tries: int | None = None
    op_timeout: float | None = None
    operations: int | None = None
    threads: int | None = None
    open_parallelism: int | None = None
    rate: float | None = None
    arrival: str | None = None
    max_lag: float | None = None
    scatter: bool = False
    skip_prep: bool = False
    verify: bool | None = None
    runs_dir: Path | None = None
    server_pids: tuple[int, ...] = ()
    profile: bool = False
    faults: "tuple[Fault, ...]" = ()
    server_restart: str | None = None
    audit: bool = False
    set_vars: Mapping[str, int] | None = None
    configs: str | None = None
    total_writes: int | None = None
    results_dir: Path | None = None
    max_failure_share: float | None = None
    skip_capacity_check: bool = False


def make_plan(settings: Settings, connectors: tuple[ConnectorSpec, ...], options: PlanOptions = PlanOptions()) -> RunPlan:
    """Validates ``options`` against settings and defaults; a bad value is a one-line ConfigError.

    ``options.test`` is ``test-1`` (the built-in transfer), ``write`` (write.toml per concurrency
    level of ``configs``, ``total_writes`` each) or a scenario file (a path, or a shipped file's name).
    """
    o = options
    test, seconds, warmup, concurrency, alpha = o.test, o.seconds, o.warmup, o.concurrency, o.alpha
    accounts, initial_balance, seed, max_tries, op_timeout = o.accounts, o.initial_balance, o.seed, o.max_tries, o.op_timeout
    operations, threads, open_parallelism, rate, arrival = o.operations, o.threads, o.open_parallelism, o.rate, o.arrival
    max_lag, scatter, verify, set_vars, configs = o.max_lag, o.scatter, o.verify, o.set_vars, o.configs
    total_writes, max_failure_share = o.total_writes, o.max_failure_share
    from loadbench import connectors as registry
    from loadbench.scenarios import fake_pools, files as scenario_files

    scenario = None
    if test != "test-1":
        path = scenario_files.builtin_dir() / "write.toml" if test == "write" else scenario_files.resolve_path(test)
        if path is None:
            known = ", ".join([*TESTS, *(n for n in scenario_files.builtin_names() if n not in TESTS)])
            raise ConfigError(f"unknown test {test!r} (known: {known}, or a path to a .toml scenario file)")
        scenario = scenario_files.load(path, registry.sql_dialects(), set_vars)
        for flag, value in (("--alpha", alpha), ("--accounts", accounts), ("--initial-balance", initial_balance),
                            ("--scatter", scatter or None)):
            if value is not None:
                raise ConfigError(f"{flag} applies to test-1 only (a scenario file sets its own generators and "
                                  f"vars: use --set NAME=VALUE)")
    elif set_vars:
        raise ConfigError("--set applies to scenario files (test-1 takes --accounts, --alpha, ...)")
    levels: tuple[int, ...] = ()
    if test == "write":
        levels, operations, seconds, warmup = _write_levels(configs, total_writes, concurrency, operations, seconds,
                                                            warmup)
        concurrency = levels[0]
    elif configs is not None or total_writes is not None:
        raise ConfigError(f"{'--configs' if configs is not None else '--total-writes'} applies to the write test only")
    seconds = _duration("--seconds", DEFAULT_SECONDS if seconds is None else seconds)
    if seconds < MIN_SECONDS:
        raise ConfigError(f"--seconds must be >= {MIN_SECONDS:g} (a shorter window measures the workers' start, "
                          f"not the database), got {seconds:g}")
    warmup = _duration("--warmup", default_warmup(seconds) if warmup is None else warmup)
    if warmup < 0:
        raise ConfigError(f"--warmup must be >= 0, got {warmup:g}")
    concurrency = check_concurrency(DEFAULT_CONCURRENCY if concurrency is None else concurrency)
    alpha = check_alpha(DEFAULT_ALPHA if alpha is None else alpha)
    if accounts is None:
        accounts = settings.integer("SEED_ACCOUNTS", DEFAULT_ACCOUNTS, minimum=2)
    else:
        check_accounts(accounts)
    if initial_balance is None:
        initial_balance = settings.integer("SEED_INITIAL_BALANCE", DEFAULT_INITIAL_BALANCE, minimum=0)
    elif initial_balance < 0:
        raise ConfigError(f"--initial-balance must be >= 0, got {initial_balance}")
    if accounts * initial_balance >= 2**63:
        raise ConfigError("SEED_ACCOUNTS x SEED_INITIAL_BALANCE does not fit in a 64-bit total")
    max_tries = DEFAULT_MAX_TRIES if max_tries is None else max_tries
    if max_tries < 1:
        raise ConfigError(f"--max-tries must be >= 1, got {max_tries}")
    op_timeout = _duration("--op-timeout", DEFAULT_OP_TIMEOUT if op_timeout is None else op_timeout)
    if op_timeout < 0:
        raise ConfigError(f"--op-timeout must be >= 0 (0 disables it), got {op_timeout:g}")
    operations = 0 if operations is None else operations
    if operations < 0:
        raise ConfigError(f"--operations must be >= 0 (0: run for --seconds), got {operations}")
    threads = 0 if threads is None else threads
    if threads < 0:
        raise ConfigError(f"--threads must be >= 0 (0: one per core), got {threads}")
    open_parallelism = DEFAULT_OPEN_PARALLELISM if open_parallelism is None else open_parallelism
    if open_parallelism < 1:
        raise ConfigError(f"--open-parallelism must be >= 1, got {open_parallelism}")
    rate = _finite("--rate", 0.0 if rate is None else rate)
    if rate < 0:
        raise ConfigError(f"--rate must be >= 0 (0: closed loop), got {rate:g}")
    if rate > MAX_RATE:
        raise ConfigError(f"--rate must be at most {MAX_RATE:.0e} operations/s (one intended start per nanosecond, "
                          f"the resolution of the engine's clock), got {rate:g}")
    arrival = arrival or DEFAULT_ARRIVAL
    if arrival not in ARRIVALS:
        raise ConfigError(f"--arrival must be one of {', '.join(ARRIVALS)}, got {arrival!r}")
    max_lag = _duration("--max-lag", 0.0 if max_lag is None else max_lag)
    if max_lag < 0:
        raise ConfigError(f"--max-lag must be >= 0 (0: never skip), got {max_lag:g}")
    if max_lag > 0 and rate == 0:
        raise ConfigError("--max-lag needs --rate (it skips operations that fall behind a schedule)")
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**63)
    elif not 0 <= seed < 2**64:
        raise ConfigError(f"--seed must be in [0, 2^64), got {seed}")
    max_failure_share = _finite("--max-failure-share",
                                DEFAULT_MAX_FAILURE_SHARE if max_failure_share is None else max_failure_share)
    if not 0 <= max_failure_share <= 1:
        raise ConfigError(f"--max-failure-share must be in [0, 1] (1: no limit), got {max_failure_share:g}")
    if verify is None:
        verify = settings.boolean("VERIFY", True)
    if not connectors:
        raise ConfigError("no connector selected")
    pools: dict[str, list[str]] = {}
    if scenario is not None:
        for spec in connectors:
            if spec.dialect is None:
                raise ConfigError(f"connector {spec.name!r} cannot run scenario files (it speaks no SQL)")
            if spec.dialect.runs_sql:
                scenario.ddl(spec.dialect)  # every table has DDL for it
                scenario.statements(spec.dialect)
            if spec.sessions_per_connection > 1:
                for op in scenario.operations:
                    if op.transaction or len(op.statements) > 1:
                        raise scenario.error(f"ops.{op.name}", f"a transaction or several statements cannot be "
                                             f"pipelined ({spec.name}: --inflight must be 1)")
        pools = fake_pools.generate(scenario.pools, seed, str(scenario.path))
    if o.faults:
        from loadbench.run import faults as fault_schedule

        if test == "write":
            raise ConfigError("--fault applies to one run (test-1 or a scenario file), not to the write test's levels")
        fault_schedule.check(o.faults, seconds, connectors)
        if o.operations is not None:
            raise ConfigError("--fault needs a window of --seconds; --operations may end it before a fault")
    elif o.server_restart is not None:
        raise ConfigError("--server-restart is the restart command of --fault restart/kill; give --fault")
    if o.audit:
        from loadbench.run import audit

        audit.check(test, connectors, prep=not o.skip_prep)
    return RunPlan(
        test=test if scenario is None else scenario.name,
        seconds=seconds,
        warmup_seconds=warmup,
        concurrency=concurrency,
        alpha=alpha,
        accounts=accounts,
        initial_balance=initial_balance,
        max_amount=DEFAULT_MAX_AMOUNT,
        seed=seed,
        max_tries=max_tries,
        op_timeout_seconds=op_timeout,
        operations=operations,
        threads=threads,
        open_parallelism=open_parallelism,
        rate=rate,
        arrival=arrival,
        max_lag_seconds=max_lag,
        scatter=scatter,
        prep=not o.skip_prep,
        verify=verify,
        connectors=connectors,
        runs_dir=o.runs_dir if o.runs_dir is not None else settings.path("LOADBENCH_RUNS_DIR", DEFAULT_RUNS_DIR),
        server_pids=check_server_pids(o.server_pids),
        profile=o.profile,
        faults=o.faults,
        server_restart=o.server_restart,
        audit=o.audit,
        scenario=scenario,
        pools=pools,
        concurrency_levels=levels,
        results_dir=o.results_dir,
        max_failure_share=max_failure_share,
        capacity_check=not o.skip_capacity_check,
        expected_failures=WRITE_EXPECTED_FAILURES if test == "write" else (),
    )


def _write_levels(configs: str | None, total_writes: int | None, concurrency: int | None, operations: int | None,
                  seconds: float | None, warmup: float | None) -> tuple[tuple[int, ...], int, float, float]:
    """The write test's concurrency levels, writes per level, window bound and warmup."""
    if configs is not None and concurrency is not None:
        raise ConfigError("give --configs (the write test's concurrency levels) or --concurrency, not both")
    if operations is not None and total_writes is not None:
        raise ConfigError("give --total-writes or --operations, not both")
    levels: tuple[int, ...]
    if configs is None:
        levels = (concurrency,) if concurrency is not None else DEFAULT_WRITE_LEVELS
    else:
        try:
            levels = tuple(int(c) for c in configs.split(",") if c.strip())
        except ValueError:
            raise ConfigError(f"--configs must be comma-separated concurrency levels such as 1,2,4, got {configs!r}") from None
        if not levels:
            raise ConfigError("--configs is empty")
        if len(set(levels)) != len(levels):
            raise ConfigError("--configs names a concurrency level twice")
    if any(c < 1 for c in levels):
        raise ConfigError(f"every concurrency level must be >= 1, got {min(levels)}")
    for c in levels:
        check_concurrency(c, "--configs")
    total = total_writes if total_writes is not None else operations if operations is not None else DEFAULT_TOTAL_WRITES
    if total < 1:
        raise ConfigError(f"--total-writes must be >= 1, got {total}")
    # A fixed total of writes: no warmup (every write counts), and no time limit unless asked.
    return levels, total, UNBOUNDED_SECONDS if seconds is None else seconds, 0.0 if warmup is None else warmup
