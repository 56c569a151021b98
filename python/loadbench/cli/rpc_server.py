"""The bundled rpc server: ``loadbench rpc-server``.

A native (Boost.Beast) HTTP/1.1 server that speaks the keynote-style JSON RPC and runs each call
on one of loadbench's own connectors, so an application-server tier can be measured end to end
with nothing else installed. The protocol: ``POST /rpc`` with ``{"name": ..., "args": {...}}``,

- ``transfer`` ``{"from_id", "to_id", "amount"}`` (0-based ids) -> ``{"ok": true}``, or
  ``{"ok": true, "result": {"transferred": false}}`` when the balance does not cover it;
- ``seed`` ``{"accounts", "initialBalance"}`` -> recreates the accounts;
- ``verify`` ``{"accounts", "initialBalance"}`` -> ``{"accounts", "total", "expected", "negative", "passed"}``;
- ``health`` -> ``{"status": "ok"}``;

errors are ``{"ok": false, "error": "...", "kind": "busy" | ...}`` with HTTP 500.
"""

from __future__ import annotations

import sys
from typing import Callable

from loadbench import _core
from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import ConfigError, LoadbenchError, RunFailed
from loadbench.run import core as engine
from loadbench.secrets import scrub


def serve(spec: ConnectorSpec, *, host: str = "127.0.0.1", port: int = 0, threads: int = 0, pool: int = 0,
          on_listening: Callable[[str], None] | None = None) -> int:
    """Serves until SIGINT or SIGTERM; ``on_listening`` gets the URL once the port is bound.

    The backend is contacted once first, as bench does: a wrong password or a malformed
    connection string is a ConfigError (exit 2), an unreachable database RunFailed (exit 1), both
    before the port is bound (the server's pool connects lazily, and would otherwise answer
    ``health`` while every transfer fails)."""
    if not 0 <= port < 65536:
        raise ConfigError(f"--port must be in [0, 65535], got {port}")
    if threads < 0 or pool < 0:
        raise ConfigError("--threads and --pool must be >= 0")
    try:
        engine.check(spec)
    except LoadbenchError as exc:
        raise type(exc)(f"rpc-server: {exc}") from None

    def listening(bound: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        if on_listening is not None:
            on_listening(f"http://{shown}:{bound}")
        sys.stdout.flush()

    config = {"host": host, "port": port, "threads": threads, "pool": pool}
    try:
        _core.serve_rpc(config, spec.core_dict(), listening)
    except _core.ConnectorConfigError as exc:
        raise ConfigError(f"rpc-server: {scrub(str(exc), spec.secrets)}") from None
    except _core.ConnectorError as exc:
        raise RunFailed(scrub(str(exc), spec.secrets)) from None
    return 0
