"""Finding processes: whether one is alive, and which one listens on a TCP port or a Unix socket.

Used by the connector modules' server finders (which processes to sample during a run) and by
:mod:`loadbench.run.resources`. Seeing another user's sockets needs the right to (root, or being
their owner); without it the answer is ``[]``.
"""

from __future__ import annotations

import psutil


def alive(pid: int) -> bool:
    """``pid`` is a running process: not gone, and not a zombie (a server that exited stays one
    until its parent reaps it, and when that parent is a container's init that can take seconds)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def listening_tcp_pid(port: int) -> list[int]:
    """The process listening on a loopback TCP port (needs the right to see it: root, or its owner)."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return [conn.pid]
    except (psutil.AccessDenied, OSError):
        pass
    return []


def listening_unix_pid(path: str) -> list[int]:
    """The process listening on a Unix socket path (needs the right to see it: root, or its owner)."""
    try:
        for conn in psutil.net_connections(kind="unix"):
            if conn.laddr == path and conn.pid:
                return [conn.pid]
    except (psutil.AccessDenied, OSError):
        pass
    return []
