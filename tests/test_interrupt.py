"""Ctrl-C during a run closes the measured window, verifies, writes a report marked
interrupted, and exits 130."""

from __future__ import annotations

import signal
import time


def test_ctrl_c_stops_the_run_and_still_writes_an_interrupted_report(cli):
    proc = cli.popen("bench", "--seconds", "120", "--warmup", "0.2", "--concurrency", "4", "--accounts", "1000")
    for line in proc.stderr:  # plain progress lines: stderr is not a terminal
        if "opening" in line:
            break
    time.sleep(2.0)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 20
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    report = cli.only_report()
    assert report["interrupted"] is True
    assert report["status"] == "interrupted"
    (entry,) = report["connectors"]
    assert entry["interrupted"] is True
    assert 0.5 < entry["measured_seconds"] < 60
    assert entry["committed"] > 0
    assert entry["verification"]["passed"] is True
    assert "(interrupted)" in out


def test_ctrl_c_skips_the_connectors_not_yet_run(cli):
    proc = cli.popen("bench", "--connectors", "sqlite,null", "--seconds", "120", "--warmup", "0", "--accounts", "100")
    for line in proc.stderr:
        if "sqlite: opening" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    entries = cli.only_report()["connectors"]
    assert [(e["name"], e["status"]) for e in entries] == [("sqlite", "ok")], entries
