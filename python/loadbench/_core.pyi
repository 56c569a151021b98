"""Type stubs for the native core (private; use loadbench.engine)."""

from typing import Any, Callable

REPORTED_PERCENTILES: list[float]

class ConnectorError(RuntimeError): ...

class Run:
    """One run: config {concurrency, warmup_s, measure_s, seed, max_tries, op_timeout_s, ...},
    scenario {name, accounts, initial_balance, alpha, max_amount} (test-1) or {name, sql: {pools,
    generators, statements, operations, mix, seeds}} (a scenario file, see
    loadbench.scenario_files.Scenario.core_dict), connector {kind, options}."""

    def __init__(self, config: dict[str, Any], scenario: dict[str, Any], connector: dict[str, Any]) -> None: ...
    def run(self, on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Runs to the end on this thread; Ctrl-C or SIGTERM close the window early. on_progress gets
        {phase, elapsed_s, committed, last_second_tps, last_second_p99_ns} about four times a second.
        Returns {error, interrupted, warmup_s, measured_s, sessions, committed, rejected, failed,
        attempts, retries, before_window, after_window, errors, retried_errors, error_examples,
        collision_ops, collision_count, collisions_exact, latency: {count, min_ns, max_ns, mean_ns,
        stddev_ns, clamped, percentiles_ns, significant_figures, highest_trackable_ns, buckets},
        series: [...]}"""

def prep(scenario: dict[str, Any], connector: dict[str, Any]) -> None: ...
def verify(scenario: dict[str, Any], connector: dict[str, Any]) -> dict[str, Any] | None: ...
def sql_check(connector: dict[str, Any], script: list[str], statements: list[str]) -> dict[str, Any] | None:
    """Runs the DDL on a scratch schema and prepares every statement: None, or the first refusal
    {in_script, index, message}."""
def sql_execute(connector: dict[str, Any], script: list[str]) -> None: ...
def sql_seed(scenario: dict[str, Any], connector: dict[str, Any], seed: int) -> None: ...
def sql_query(connector: dict[str, Any], sql: str) -> list[list[str | None]]: ...
def library_versions() -> dict[str, str]: ...
def connector_kinds() -> list[str]: ...
def serve_rpc(config: dict[str, Any], connector: dict[str, Any], on_listening: Callable[[int], None]) -> None:
    """Binds config {host, port, threads, pool, max_tries}, calls on_listening(port), then serves the
    rpc protocol over the connector until SIGINT or SIGTERM (GIL released)."""
