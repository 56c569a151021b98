"""A server killed near the window's end: the verification after the run cannot connect. That says
nothing about the data, so the connector's verification is "not checked" with the reason, and the
run fails (exit 1) naming it; it is never a failed verification (which would claim money was
wrong: the outside review once saw "verify FAILED" here while the money, read with the server's own
client, was intact)."""

from __future__ import annotations

import json
import time

import pytest


@pytest.mark.parametrize("fault, audit", [("kill", False), ("freeze", False), ("freeze", True)])
def test_verification_that_cannot_connect_is_not_checked_and_fails_the_run(cli, own_redis, fault, audit):
    # kill: the connection is refused. freeze (SIGSTOP, never resumed): the kernel still completes
    # the handshake, and nothing answers; each control-plane reply waits at most 15 s. With --audit
    # the ledger is not read after that (it would wait out the same silence), and the line says so.
    redis_server = own_redis()  # it gets killed or frozen
    proc = cli.popen("bench", "--connectors", "redis", "--accounts", "1000", "--concurrency", "4", "--seconds", "3",
                     "--warmup", "0", "--op-timeout", "0.5", "--quiet", *(["--audit"] if audit else []),
                     env={"REDIS_URL": redis_server.url})
    try:
        deadline = time.monotonic() + 60
        while "cmdstat_evalsha" not in redis_server.cli("INFO", "commandstats"):  # the transfers have begun
            assert time.monotonic() < deadline and proc.poll() is None, "no transfer reached the server"
            time.sleep(0.05)
        time.sleep(0.5)
        began = time.monotonic()
        redis_server.kill() if fault == "kill" else redis_server.pause()
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    (entry,) = json.loads(cli.reports()[0].read_text())["connectors"]
    assert entry["status"] == "failed"
    assert entry["verification"]["checked"] is False
    assert entry["verification"]["reason"].startswith("verification could not run: "), entry["verification"]
    assert "passed" not in entry["verification"]
    assert "could not run" in entry["error"]
    assert "verification failed" not in (out + err).lower()
    expected = "cannot connect" if fault == "kill" else "no answer from the server within 15 s"
    assert err.strip().splitlines()[-1].startswith(f"loadbench: redis: verification could not run: {expected}"), err
    # The rest of the 3 s window, the drain (--op-timeout 0.5), and one control-plane reply's 15 s.
    assert took < 3 + 15 + 10, took
    assert "Traceback" not in err
    if audit:
        assert entry["audit"] == {"checked": False, "violation": "audit: not checked: the server did not answer the "
                                                                 "verification before it"}
        assert "redis: audit: not checked: the server did not answer the verification before it" in out + err
