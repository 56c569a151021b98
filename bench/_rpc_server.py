"""The bundled rpc server (``loadbench rpc-server``) as a subprocess for the benchmarks in bench/."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def rpc_server(threads: int, sqlite_mode: str = "fast", prefix: str = "lb-rpc-"):
    """An rpc server over a fresh SQLite file: yields (url, pid, env for loadbench, tmp dir)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        env = {**os.environ, "SQLITE_FILE": str(Path(tmp) / "server.sqlite"), "SQLITE_MODE": sqlite_mode}
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "loadbench", "rpc-server", "--backend", "sqlite", "--port",
                                   str(port), "--threads", str(threads)], env=env, stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            if f":{port}" not in line:
                sys.exit(f"rpc-server did not start: {line!r}")
            url = f"http://127.0.0.1:{port}"
            yield url, server.pid, {"SQLITE_RPC_URL": url, "LOADBENCH_RUNS_DIR": tmp}, Path(tmp)
        finally:
            server.terminate()
            server.wait(timeout=30)
