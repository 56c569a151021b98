"""One run of one connector through the native engine.

The run takes over the calling thread (as worker 0) with the GIL released; the other workers are
native threads that never hold it. While it runs, Ctrl-C and SIGTERM close the measured window
early and the result comes back marked ``interrupted``.
"""

from __future__ import annotations

from typing import Callable

from loadbench import _core
from loadbench.config import ConnectorSpec, RunPlan
from loadbench.errors import ConfigError, RunFailed
from loadbench.secrets import scrub

ProgressCallback = Callable[[dict], None]


def _native_call(spec: ConnectorSpec, what: str, fn, *args):
    """Calls into the core; its errors become one scrubbed line naming the connector: bad
    configuration (a wrong password, a malformed URL) as ConfigError, the rest as RunFailed."""
    try:
        return fn(*args)
    except _core.ConnectorConfigError as exc:
        raise ConfigError(f"{spec.name}: {scrub(str(exc), spec.secrets)}") from None
    except _core.ConnectorError as exc:
        raise RunFailed(f"{spec.name}: {what}: {scrub(str(exc), spec.secrets)}") from None
    except ValueError as exc:  # a bad option value the Python side did not catch
        raise ConfigError(f"{spec.name}: {scrub(str(exc), spec.secrets)}") from None


def check(spec: ConnectorSpec) -> None:
    """Connects once (raises ConfigError or RunFailed when it cannot)."""
    _native_call(spec, "unreachable", _core.check, spec.core_dict())


def prep(plan: RunPlan, spec: ConnectorSpec) -> None:
    _native_call(spec, "prep", _core.prep, plan.scenario_dict(), spec.core_dict())


def verify(plan: RunPlan, spec: ConnectorSpec) -> dict | None:
    """The verification result (None when the connector keeps no data)."""
    return _native_call(spec, "verify", _core.verify, plan.scenario_dict(), spec.core_dict())


def run(plan: RunPlan, spec: ConnectorSpec, on_progress: ProgressCallback | None = None) -> dict:
    """Runs the load on this thread and returns the core's result dict (see ``_core.pyi``).

    ``on_progress`` is called about four times a second from the engine's monitor thread.
    """
    native = _native_call(spec, "start", _core.Run, plan.core_config(spec), plan.scenario_dict(), spec.core_dict())
    result = native.run(on_progress)
    if result["error"] and result["interrupted"]:
        raise KeyboardInterrupt  # Ctrl-C while the sessions were opening
    if result["error"]:
        raise RunFailed(f"{spec.name}: {scrub(result['error'], spec.secrets)}")
    result["error_examples"] = {k: scrub(v, spec.secrets) for k, v in result["error_examples"].items()}
    return result
