"""``bench --dashboard``: the report's page live on loopback while a run goes, seen in headless
Chromium; it ends with the run, Ctrl-C included, and a port it cannot have is bad input."""

from __future__ import annotations

import http.client
import signal
import socket
import time

import pytest

from tests.browser import browser
from tests.conftest import free_port


def _url(proc) -> str:
    """The URL the bench prints on stderr before the load starts."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("dashboard: "):
            return line.split()[1]
        assert line or proc.poll() is None, f"bench ended: {proc.stderr.read()}"
    raise AssertionError("no dashboard URL")


def _live(page, what: str) -> str:
    return page.inner_text(f"[data-live={what}]")


def test_the_live_page_shows_numbers_that_change_while_the_run_goes(cli, tmp_path):
    with browser() as v:  # started first: a browser takes seconds to start on a loaded machine
        proc = cli.popen("bench", "--connectors", "null", "--seconds", "6", "--warmup", "1", "--concurrency", "1",
                         "--dashboard", "--quiet")
        try:
            url = _url(proc)
            assert url.startswith("http://127.0.0.1:")
            page = v.page
            page.goto(url, wait_until="load")
            page.wait_for_function("document.querySelector('[data-live=tps]') && "
                                   "document.querySelector('[data-live=tps]').innerText !== ''", timeout=15000)
            first = (_live(page, "elapsed"), _live(page, "committed"))
            page.wait_for_timeout(2200)
            second = (_live(page, "elapsed"), _live(page, "committed"))
            assert first != second and first[0] != second[0], (first, second)
            assert v.charts().get("tps", 0) > 0  # the live series is drawn
            variance = v.screenshot(tmp_path / "live.png")
            # The run ends: the page gets the last model (the finished entry's charts) and says so.
            assert proc.wait(timeout=30) == 0
            page.wait_for_function("document.querySelector('[data-live=status]').innerText === 'finished'",
                                   timeout=10000)
            drawn = v.charts()
            assert drawn["spectrum"] > 0 and drawn["cdf"] > 0, drawn
            assert v.console_errors == [] and v.external_requests == []
            assert variance > 8
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def test_ctrl_c_ends_the_run_and_the_page_promptly(cli):
    proc = cli.popen("bench", "--connectors", "null", "--seconds", "60", "--concurrency", "1", "--dashboard",
                     "--quiet")
    try:
        url = _url(proc)
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/events")
        events = conn.getresponse()
        assert events.status == 200 and events.getheader("Content-Type") == "text/event-stream"
        assert events.readline().startswith(b"data: {")
        time.sleep(1.5)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert time.monotonic() - began < 3
        rest = events.read()  # the stream ends with the run: its last event says so
        assert b"event: end" in rest and b'"status": "interrupted"' in rest, proc.stderr.read()
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=2).close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.parametrize("port, message", [("abc", "expected a port number"), ("70000", "a port is 0 to 65535"),
                                           ("{busy}", "in use")])
def test_a_port_it_cannot_have_is_one_line_and_exit_2_before_any_load(cli, port, message):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port() if port == "{busy}" else 0))
        taken.listen()
        port = port.replace("{busy}", str(taken.getsockname()[1]))
        result = cli("bench", "--connectors", "null", "--seconds", "1", "--dashboard", port)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert cli.reports() == []
