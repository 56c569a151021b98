"""A server whose SYNs go unanswered (a firewall that drops, a host that is down): the first
connection check of every network connector gives up within its connect timeout (10 s) with one
line naming the connector, instead of waiting out the kernel's SYN retries (over two minutes;
PostgreSQL's blocking connect and Convex's first call once did).

The unanswering server is a listening socket that never accepts, its accept queue filled: Linux
then drops further SYNs, as a firewall would, with no root needed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import clean_env

CONNECT_TIMEOUT_S = 10
# The connect timeout, plus the interpreter's start and the report on a loaded 2-core machine;
# far below the kernel's SYN retries (127 s), which is what a missing timeout waits.
BOUND_S = CONNECT_TIMEOUT_S + 15


@pytest.fixture(scope="module")
def unanswering_port() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # more than the accept queue holds: the queue is full from here on
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    probe = socket.socket()
    probe.settimeout(1.0)
    with pytest.raises(TimeoutError):  # the premise: a connect here is never answered
        probe.connect(("127.0.0.1", port))
    probe.close()
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def settings(port: int) -> dict[str, dict[str, str]]:
    """Per connector, the environment pointing it at the unanswering port."""
    http = f"http://127.0.0.1:{port}"
    return {
        "postgres": {"PG_URL": f"postgresql://loadbench:secret@127.0.0.1:{port}/bank"},
        "mysql": {"MYSQL_URL": f"mysql://loadbench:secret@127.0.0.1:{port}/bank"},
        "redis": {"REDIS_URL": f"redis://127.0.0.1:{port}/0"},
        "sqlite-rpc": {"SQLITE_RPC_URL": http},
        "convex": {"CONVEX_URL": http},
        "supabase-rest": {"SUPABASE_REST_URL": http, "SUPABASE_ANON_KEY": "key",
                          "SUPABASE_DB_URL": f"postgresql://loadbench:secret@127.0.0.1:{port}/bank"},
        "spacetimedb": {"STDB_URL": http, "STDB_MODULE": "bank"},
    }


@pytest.fixture(scope="module")
def outcomes(unanswering_port, tmp_path_factory) -> dict[str, tuple[float, subprocess.CompletedProcess]]:
    """Every connector's bench against the port, all at once (each waits its connect timeout, so
    one at a time would take a minute): connector -> (seconds it took, finished process)."""
    started = {}
    for name, env in settings(unanswering_port).items():
        cwd = tmp_path_factory.mktemp(name)
        proc = subprocess.Popen([sys.executable, "-m", "loadbench", "bench", "--connectors", name, "--seconds", "2",
                                 "--warmup", "0", "--quiet"], cwd=cwd,
                                env=clean_env({"LOADBENCH_SERVICES_DIR": str(cwd / "services"), **env}), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        started[name] = (time.monotonic(), proc)
    ended: dict[str, float] = {}
    deadline = time.monotonic() + 180
    while len(ended) < len(started) and time.monotonic() < deadline:
        for name, (_, proc) in started.items():
            if name not in ended and proc.poll() is not None:
                ended[name] = time.monotonic()
        time.sleep(0.05)
    done = {}
    for name, (began, proc) in started.items():
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
        took = ended.get(name, time.monotonic()) - began
        done[name] = (took, subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.parametrize("connector", list(settings(0)))
def test_first_check_gives_up_within_the_connect_timeout(outcomes, connector):
    took, result = outcomes[connector]
    assert took < BOUND_S, (took, result.stderr)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("loadbench: error:")]
    assert len(lines) == 1, result.stderr
    assert connector in lines[0]
    assert "secret" not in result.stderr + result.stdout
