"""
loadbench's native engine (private: use loadbench.run.core)
"""
from __future__ import annotations
import collections.abc
import typing
__all__: list[str] = ['Arrival', 'ConnectorConfigError', 'ConnectorError', 'Counters', 'ErrorKind', 'HistogramSummary', 'OperationResult', 'Phase', 'Progress', 'Run', 'RunConfig', 'RunResult', 'SecondPoint', 'audit', 'check', 'connector_capabilities', 'connector_kinds', 'library_versions', 'mysql_transfer_procedure', 'prep', 'redis_scripts', 'reported_percentiles', 'resource_needs', 'serve_rpc', 'sql_check', 'sql_execute', 'sql_query', 'sql_seed', 'verify']
class ConnectorError(RuntimeError):
    pass
class ConnectorConfigError(ConnectorError):
    pass
class Arrival:
    """
    Open loop: gaps between intended starts, exponential (poisson) or constant (regular).
    
    Members:
    
      poisson
    
      regular
    """
    __members__: typing.ClassVar[dict[str, Arrival]]
    poisson: typing.ClassVar[Arrival]
    regular: typing.ClassVar[Arrival]
    @typing.overload
    def __eq__(self, other: Arrival) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Arrival) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class RunConfig:
    """
    One run's configuration (the engine's side of loadbench.run.config.RunPlan). Seconds are floats; 0 disables op_timeout_seconds, max_lag_seconds, rate, operations and threads (threads 0: one event loop per core). ValueError from Run on values out of range.
    """
    def __init__(self, *, concurrency: typing.SupportsInt | typing.SupportsIndex, threads: typing.SupportsInt | typing.SupportsIndex, open_parallelism: typing.SupportsInt | typing.SupportsIndex, warmup_seconds: typing.SupportsFloat | typing.SupportsIndex, seconds: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, stream_offset: typing.SupportsInt | typing.SupportsIndex, max_tries: typing.SupportsInt | typing.SupportsIndex, op_timeout_seconds: typing.SupportsFloat | typing.SupportsIndex, operations: typing.SupportsInt | typing.SupportsIndex, rate: typing.SupportsFloat | typing.SupportsIndex, arrival: Arrival, max_lag_seconds: typing.SupportsFloat | typing.SupportsIndex, drain_seconds: typing.SupportsFloat | typing.SupportsIndex = -1.0) -> None:
        ...
    @property
    def arrival(self) -> Arrival:
        ...
    @property
    def concurrency(self) -> int:
        """
        sessions (logical clients), one operation in flight each
        """
    @property
    def drain_seconds(self) -> float:
        """
        after the window, how long its operations in flight may take to complete; < 0: op_timeout_seconds + 0.2, or 10 without a timeout
        """
    @property
    def max_lag_seconds(self) -> float:
        """
        open loop: > 0 skips operations this late
        """
    @property
    def max_tries(self) -> int:
        """
        attempts per operation on retryable errors
        """
    @property
    def op_timeout_seconds(self) -> float:
        """
        per attempt; 0 disables
        """
    @property
    def open_parallelism(self) -> int:
        """
        sessions being opened at once, at most
        """
    @property
    def operations(self) -> int:
        """
        > 0: the window closes after this many operations
        """
    @property
    def rate(self) -> float:
        """
        open loop: total operations/s; 0: closed loop
        """
    @property
    def seconds(self) -> float:
        """
        length of the measured window
        """
    @property
    def seed(self) -> int:
        ...
    @property
    def stream_offset(self) -> int:
        """
        the first random stream of this run's sessions
        """
    @property
    def threads(self) -> int:
        """
        event-loop threads of an async connector (0: one per core)
        """
    @property
    def warmup_seconds(self) -> float:
        """
        warmup before the measured window, not counted
        """
class Phase:
    """
    A run's phase, in order.
    
    Members:
    
      opening
    
      warmup
    
      measuring
    
      stopping
    
      done
    """
    __members__: typing.ClassVar[dict[str, Phase]]
    done: typing.ClassVar[Phase]
    measuring: typing.ClassVar[Phase]
    opening: typing.ClassVar[Phase]
    stopping: typing.ClassVar[Phase]
    warmup: typing.ClassVar[Phase]
    @typing.overload
    def __eq__(self, other: Phase) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Phase) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class Progress:
    """
    Where a run stands (Run.run's on_progress gets one about every 250 ms).
    """
    def __init__(self, *, phase: Phase, elapsed_seconds: typing.SupportsFloat | typing.SupportsIndex, committed: typing.SupportsInt | typing.SupportsIndex, last_second_tps: typing.SupportsFloat | typing.SupportsIndex, last_second_p99_ns: typing.SupportsInt | typing.SupportsIndex, reconnects: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def committed(self) -> int:
        """
        counted so far (whole seconds of the measured window)
        """
    @property
    def elapsed_seconds(self) -> float:
        """
        in the current phase
        """
    @property
    def last_second_p99_ns(self) -> int:
        ...
    @property
    def last_second_tps(self) -> float:
        ...
    @property
    def phase(self) -> Phase:
        ...
    @property
    def reconnects(self) -> int:
        """
        connections re-established since the run started (process-wide)
        """
class ErrorKind:
    """
    Why an operation failed (its .name is the report's key).
    
    Members:
    
      busy
    
      serialization
    
      deadlock
    
      constraint
    
      connection
    
      timeout
    
      protocol
    
      other
    
      unfinished
    """
    __members__: typing.ClassVar[dict[str, ErrorKind]]
    busy: typing.ClassVar[ErrorKind]
    connection: typing.ClassVar[ErrorKind]
    constraint: typing.ClassVar[ErrorKind]
    deadlock: typing.ClassVar[ErrorKind]
    other: typing.ClassVar[ErrorKind]
    protocol: typing.ClassVar[ErrorKind]
    serialization: typing.ClassVar[ErrorKind]
    timeout: typing.ClassVar[ErrorKind]
    unfinished: typing.ClassVar[ErrorKind]
    @typing.overload
    def __eq__(self, other: ErrorKind) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: ErrorKind) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class HistogramSummary:
    """
    A latency histogram (HdrHistogram layout): its statistics, the reported_percentiles() and every non-empty bucket, in ns.
    """
    def __init__(self, *, count: typing.SupportsInt | typing.SupportsIndex, min_ns: typing.SupportsInt | typing.SupportsIndex, max_ns: typing.SupportsInt | typing.SupportsIndex, mean_ns: typing.SupportsFloat | typing.SupportsIndex, stddev_ns: typing.SupportsFloat | typing.SupportsIndex, clamped: typing.SupportsInt | typing.SupportsIndex, percentiles_ns: collections.abc.Mapping[str, typing.SupportsInt | typing.SupportsIndex], significant_figures: typing.SupportsInt | typing.SupportsIndex, highest_trackable_ns: typing.SupportsInt | typing.SupportsIndex, buckets: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]]) -> None:
        ...
    @property
    def buckets(self) -> list[tuple[int, int]]:
        """
        (value_ns, count) of every non-empty bucket
        """
    @property
    def clamped(self) -> int:
        """
        values above highest_trackable_ns, recorded at it
        """
    @property
    def count(self) -> int:
        ...
    @property
    def highest_trackable_ns(self) -> int:
        ...
    @property
    def max_ns(self) -> int:
        ...
    @property
    def mean_ns(self) -> float:
        ...
    @property
    def min_ns(self) -> int:
        ...
    @property
    def percentiles_ns(self) -> dict[str, int]:
        """
        {"50": ns, ..., "99.99": ns}
        """
    @property
    def significant_figures(self) -> int:
        ...
    @property
    def stddev_ns(self) -> float:
        """
        population standard deviation
        """
class Counters:
    """
    A run's operation counts (in the measured window unless named otherwise).
    """
    def __init__(self, *, committed: typing.SupportsInt | typing.SupportsIndex, rejected: typing.SupportsInt | typing.SupportsIndex, failed: typing.SupportsInt | typing.SupportsIndex, attempts: typing.SupportsInt | typing.SupportsIndex, retries: typing.SupportsInt | typing.SupportsIndex, errors: collections.abc.Mapping[ErrorKind, typing.SupportsInt | typing.SupportsIndex], retried_errors: collections.abc.Mapping[ErrorKind, typing.SupportsInt | typing.SupportsIndex], collision_ops: typing.SupportsInt | typing.SupportsIndex, collision_count: typing.SupportsInt | typing.SupportsIndex, before_window: typing.SupportsInt | typing.SupportsIndex, after_window: typing.SupportsInt | typing.SupportsIndex, reconnects: typing.SupportsInt | typing.SupportsIndex, scheduled: typing.SupportsInt | typing.SupportsIndex, dropped: typing.SupportsInt | typing.SupportsIndex, unstarted: typing.SupportsInt | typing.SupportsIndex, drained: typing.SupportsInt | typing.SupportsIndex = 0, drained_max_ns: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    @property
    def after_window(self) -> int:
        """
        begun at or after the window's end, a start racing the stop (not counted)
        """
    @property
    def attempts(self) -> int:
        """
        every try, retries included
        """
    @property
    def before_window(self) -> int:
        """
        begun during warmup (open loop: intended then), wherever they completed (not counted)
        """
    @property
    def collision_count(self) -> int:
        """
        the sum of those holders
        """
    @property
    def collision_ops(self) -> int:
        """
        operations that started on a key another in-flight operation held
        """
    @property
    def committed(self) -> int:
        ...
    @property
    def drained(self) -> int:
        """
        begun in the window, completed after it in the drain (counted with their outcome)
        """
    @property
    def drained_max_ns(self) -> int:
        """
        the longest latency of those drained (ns; 0 when none)
        """
    @property
    def dropped(self) -> int:
        """
        open loop: skipped for max_lag_seconds
        """
    @property
    def errors(self) -> dict[ErrorKind, int]:
        """
        failed operations by kind (kinds with none left out)
        """
    @property
    def failed(self) -> int:
        ...
    @property
    def reconnects(self) -> int:
        """
        connections re-established after a loss (whole run)
        """
    @property
    def rejected(self) -> int:
        ...
    @property
    def retried_errors(self) -> dict[ErrorKind, int]:
        """
        retried attempts by kind
        """
    @property
    def retries(self) -> int:
        """
        tries after the first
        """
    @property
    def scheduled(self) -> int:
        """
        open loop: intended starts in the window
        """
    @property
    def unstarted(self) -> int:
        """
        open loop: never begun
        """
class SecondPoint:
    """
    One interval of the per-second series (the last one may be shorter).
    """
    def __init__(self, *, t_s: typing.SupportsFloat | typing.SupportsIndex, duration_s: typing.SupportsFloat | typing.SupportsIndex, committed: typing.SupportsInt | typing.SupportsIndex, rejected: typing.SupportsInt | typing.SupportsIndex, failed: typing.SupportsInt | typing.SupportsIndex, p50_ns: typing.SupportsInt | typing.SupportsIndex, p95_ns: typing.SupportsInt | typing.SupportsIndex, p99_ns: typing.SupportsInt | typing.SupportsIndex, max_ns: typing.SupportsInt | typing.SupportsIndex, errors: collections.abc.Mapping[ErrorKind, typing.SupportsInt | typing.SupportsIndex] = {}) -> None:
        ...
    @property
    def committed(self) -> int:
        ...
    @property
    def duration_s(self) -> float:
        """
        its length, seconds
        """
    @property
    def errors(self) -> dict[ErrorKind, int]:
        """
        failed operations by kind in the interval (kinds with none left out)
        """
    @property
    def failed(self) -> int:
        ...
    @property
    def max_ns(self) -> int:
        ...
    @property
    def p50_ns(self) -> int:
        """
        of committed + rejected
        """
    @property
    def p95_ns(self) -> int:
        ...
    @property
    def p99_ns(self) -> int:
        ...
    @property
    def rejected(self) -> int:
        ...
    @property
    def t_s(self) -> float:
        """
        end of the interval, seconds since the measured window opened
        """
class OperationResult:
    """
    One operation type of a scenario file: its counts and latency.
    """
    def __init__(self, *, name: str, committed: typing.SupportsInt | typing.SupportsIndex, rejected: typing.SupportsInt | typing.SupportsIndex, failed: typing.SupportsInt | typing.SupportsIndex, retries: typing.SupportsInt | typing.SupportsIndex, latency: HistogramSummary) -> None:
        ...
    @property
    def committed(self) -> int:
        ...
    @property
    def failed(self) -> int:
        ...
    @property
    def latency(self) -> HistogramSummary:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def rejected(self) -> int:
        ...
    @property
    def retries(self) -> int:
        ...
class RunResult:
    """
    What Run.run measured.
    """
    def __init__(self, *, error: str, interrupted: bool, warmup_seconds: typing.SupportsFloat | typing.SupportsIndex, measured_seconds: typing.SupportsFloat | typing.SupportsIndex, window_start_unix_ns: typing.SupportsInt | typing.SupportsIndex, window_end_unix_ns: typing.SupportsInt | typing.SupportsIndex, sessions: typing.SupportsInt | typing.SupportsIndex, threads: typing.SupportsInt | typing.SupportsIndex, cpu_seconds: typing.SupportsFloat | typing.SupportsIndex, counters: Counters, error_examples: collections.abc.Mapping[ErrorKind, str], collisions_exact: bool, abandoned: typing.SupportsInt | typing.SupportsIndex, latency: HistogramSummary, service: HistogramSummary | None, lag: HistogramSummary | None, operations: collections.abc.Sequence[OperationResult], series: collections.abc.Sequence[SecondPoint], go_unix_ns: typing.SupportsInt | typing.SupportsIndex = 0, first_start_unix_ns: typing.SupportsInt | typing.SupportsIndex = 0, drain_seconds: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
        ...
    def with_error_examples(self, examples: collections.abc.Mapping[ErrorKind, str]) -> RunResult:
        """
        A copy with these error examples (the caller's redacted ones).
        """
    @property
    def abandoned(self) -> int:
        """
        operations in flight when the run gave up waiting for them (those begun in the window are failures of kind unfinished)
        """
    @property
    def collisions_exact(self) -> bool:
        ...
    @property
    def counters(self) -> Counters:
        ...
    @property
    def cpu_seconds(self) -> float:
        """
        CPU time of this process during the measured window
        """
    @property
    def drain_seconds(self) -> float:
        """
        how long the drain after the window took: until every session returned or the run gave up
        """
    @property
    def error(self) -> str:
        """
        non-empty when the run could not start (a session failed to open)
        """
    @property
    def error_examples(self) -> dict[ErrorKind, str]:
        """
        one message per error kind seen
        """
    @property
    def first_start_unix_ns(self) -> int:
        """
        when the first operation began, wall clock ns; 0 when none did
        """
    @property
    def go_unix_ns(self) -> int:
        """
        when the clock started (warmup, then the window), wall clock ns; 0 when it never did
        """
    @property
    def interrupted(self) -> bool:
        """
        Ctrl-C or SIGTERM closed the window early
        """
    @property
    def lag(self) -> HistogramSummary | None:
        """
        open loop: actual start - intended start (None in a closed loop)
        """
    @property
    def latency(self) -> HistogramSummary:
        """
        committed + rejected operations in the window
        """
    @property
    def measured_seconds(self) -> float:
        """
        actual length of the measured window
        """
    @property
    def operations(self) -> list[OperationResult]:
        """
        per operation type (scenario files with several)
        """
    @property
    def series(self) -> list[SecondPoint]:
        ...
    @property
    def service(self) -> HistogramSummary | None:
        """
        open loop: from the actual start (None in a closed loop)
        """
    @property
    def sessions(self) -> int:
        ...
    @property
    def threads(self) -> int:
        ...
    @property
    def warmup_seconds(self) -> float:
        ...
    @property
    def window_end_unix_ns(self) -> int:
        ...
    @property
    def window_start_unix_ns(self) -> int:
        """
        the measured window on the wall clock (UTC, ns since the epoch); 0 when it never opened
        """
class Run:
    def __init__(self, config: RunConfig, scenario: dict[str, typing.Any], connector: dict[str, typing.Any]) -> None:
        ...
    def audit_log(self) -> dict[int, bytes] | None:
        """
        --audit: {stream: bytes}, one byte per attempt of the session with that random stream, in order (0 no answer, 1 committed, 2 rejected, 3 failed with the server's answer); sealed by this call. None without --audit.
        """
    def open(self) -> None:
        """
        Starts a held run: its sessions open, then it waits at the gate for release() (returns at once).
        """
    def release(self, start_unix_ns: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Starts the clock (warmup, then the window) at this wall-clock instant (ns since the epoch; now if past).
        """
    def result(self) -> RunResult:
        """
        The result, once wait() returned True.
        """
    def run(self, on_progress: collections.abc.Callable[[Progress], None] | None = None) -> RunResult:
        """
        Runs to the end on this thread (GIL released); Ctrl-C or SIGTERM close the window early (RunResult.interrupted). on_progress gets a Progress about four times a second.
        """
    def stop(self) -> None:
        """
        Closes the window now (before release(): calls the run off). Any thread.
        """
    def wait(self, seconds: typing.SupportsFloat | typing.SupportsIndex) -> bool:
        """
        Waits up to seconds (GIL released); True once the run ended.
        """
    def wait_held(self, seconds: typing.SupportsFloat | typing.SupportsIndex) -> bool:
        """
        Waits up to seconds (GIL released) until every session has opened and the run waits at the gate; False on timeout or when the run ended first (a session could not open).
        """
def audit(scenario: dict[str, typing.Any], connector: dict[str, typing.Any], log: dict[int, bytes], first_stream: typing.SupportsInt | typing.SupportsIndex, timeout_s: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> dict[str, typing.Any]:
    """
    --audit: reads the connector's ledger, balances and durability settings and compares them with the client's log (Run.audit_log(); first_stream: the run's RunConfig.stream_offset). A dict of counts (see scenarios/transfer_audit.hpp) with passed, identity_holds and durability {setting: value}. ConnectorConfigError when the connector keeps no ledger.
    """
def check(connector: dict[str, typing.Any], timeout_s: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
    """
    Connects once; raises ConnectorConfigError or ConnectorError when it cannot. Every control-plane call here raises what a signal handler raised (Ctrl-C) and TimeoutError after timeout_s (> 0), leaving the call cancelled or abandoned.
    """
def connector_capabilities() -> dict[str, dict[str, typing.Any]]:
    """
    What each connector kind supports, said by the connector itself: {kind: {sql_dialect: str | None (scenario files' dialect key; None: no SQL scenarios), placeholder: str | None ('?1' or '$1'), model: 'blocking' | 'event_loop', pipelining: bool, audit: bool (test-1 --audit), library_versions: {library: version}}}.
    """
def connector_kinds() -> list[str]:
    ...
def library_versions() -> dict[str, str]:
    ...
def mysql_transfer_procedure(name: str = 'transfer') -> str:
    """
    The mysql connector's CREATE PROCEDURE statement of test-1's transfer, under `name` (prep creates it as `transfer`).
    """
def prep(scenario: dict[str, typing.Any], connector: dict[str, typing.Any]) -> None:
    ...
def redis_scripts() -> dict[str, str]:
    """
    The redis connector's Lua scripts, as it loads them (SCRIPT LOAD; EVALSHA names each by its SHA1): {'transfer': test-1's transfer, 'audited_transfer': the same text with --audit's ledger step}.
    """
def reported_percentiles() -> list[float]:
    """
    The percentiles every HistogramSummary.percentiles_ns holds, keyed by their shortest form ("99.9").
    """
def resource_needs(config: RunConfig, scenario: dict[str, typing.Any], connector: dict[str, typing.Any]) -> dict[str, typing.Any]:
    """
    What a run would need of the machine, from the real sizes of the engine's and the connector's structures: {sessions, connections, blocking, threads, descriptors, descriptors_per_connection, memory_bytes, bytes_per_session, thread_bytes}. Connects to nothing.
    """
def serve_rpc(config: dict[str, typing.Any], connector: dict[str, typing.Any], on_listening: collections.abc.Callable[[int], None]) -> None:
    """
    Binds, calls on_listening(port), then serves the rpc protocol until SIGINT or SIGTERM.
    """
def sql_check(connector: dict[str, typing.Any], script: collections.abc.Sequence[str], statements: collections.abc.Sequence[str]) -> dict[str, typing.Any] | None:
    """
    Runs the DDL on a scratch schema and prepares every statement: None, or the first refusal.
    """
def sql_execute(connector: dict[str, typing.Any], script: collections.abc.Sequence[str], timeout_s: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
    ...
def sql_query(connector: dict[str, typing.Any], sql: str, timeout_s: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> list[list[str | None]]:
    ...
def sql_seed(scenario: dict[str, typing.Any], connector: dict[str, typing.Any], seed: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def verify(scenario: dict[str, typing.Any], connector: dict[str, typing.Any], timeout_s: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> dict[str, typing.Any] | None:
    ...
