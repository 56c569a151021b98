"""Type stubs for the native core (private; use loadbench.engine)."""

from typing import Any, Callable

REPORTED_PERCENTILES: list[float]

class ConnectorError(RuntimeError): ...
class ConnectorConfigError(ConnectorError): ...

class Run:
    """One run: config {concurrency, warmup_s, measure_s, seed, max_tries, op_timeout_s, ...},
    scenario {name, accounts, initial_balance, alpha, max_amount} (test-1) or {name, sql: {pools,
    generators, statements, operations, mix, seeds}} (a scenario file, see
    loadbench.scenario_files.Scenario.core_dict), connector {kind, options}."""

    def __init__(self, config: dict[str, Any], scenario: dict[str, Any], connector: dict[str, Any]) -> None: ...
    def run(self, on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Runs to the end, blocking this thread (GIL released); Ctrl-C or SIGTERM close the window
        early (or call off the opening), and the run returns within about a second: sessions in
        flight get 0.2 s, are interrupted, and 0.2 s later abandoned (counted in after_window and in
        abandoned). on_progress gets
        {phase, elapsed_s, committed, last_second_tps, last_second_p99_ns} about four times a second.
        Returns {error, interrupted, warmup_s, measured_s, sessions, committed, rejected, failed,
        attempts, retries, before_window, after_window, errors, retried_errors, error_examples,
        collision_ops, collision_count, collisions_exact, abandoned, latency: {count, min_ns, max_ns, mean_ns,
        stddev_ns, clamped, percentiles_ns, significant_figures, highest_trackable_ns, buckets},
        series: [...]}"""

# The control-plane calls below run on a thread of their own while the caller waits in 50 ms
# slices running Python's signal handlers: what a handler raises (KeyboardInterrupt) comes out of
# the call, and with timeout_s > 0 so does TimeoutError; the call is then cancelled, and abandoned
# if it has not returned 0.1 s later.
def check(connector: dict[str, Any], timeout_s: float = 0.0) -> None: ...
def prep(scenario: dict[str, Any], connector: dict[str, Any]) -> None: ...
def verify(scenario: dict[str, Any], connector: dict[str, Any], timeout_s: float = 0.0) -> dict[str, Any] | None: ...
def sql_check(connector: dict[str, Any], script: list[str], statements: list[str]) -> dict[str, Any] | None:
    """Runs the DDL on a scratch schema and prepares every statement: None, or the first refusal
    {in_script, index, message}."""
def sql_execute(connector: dict[str, Any], script: list[str], timeout_s: float = 0.0) -> None: ...
def sql_seed(scenario: dict[str, Any], connector: dict[str, Any], seed: int) -> None: ...
def sql_query(connector: dict[str, Any], sql: str, timeout_s: float = 0.0) -> list[list[str | None]]: ...
def resource_needs(config: dict[str, Any], scenario: dict[str, Any], connector: dict[str, Any]) -> dict[str, Any]:
    """What a run would need of the machine, from the real sizes of the engine's structures and the
    connector's footprint: {sessions, connections, blocking, threads, descriptors,
    descriptors_per_connection, memory_bytes, bytes_per_session, thread_bytes}. Connects to nothing."""
def library_versions() -> dict[str, str]: ...
def connector_kinds() -> list[str]: ...
def serve_rpc(config: dict[str, Any], connector: dict[str, Any], on_listening: Callable[[int], None]) -> None:
    """Binds config {host, port, threads, pool, max_tries}, calls on_listening(port), then serves the
    rpc protocol over the connector until SIGINT or SIGTERM (GIL released)."""
