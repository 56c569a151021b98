"""Output is never lost or corrupt: output paths are checked before any load (one line, exit 2),
the final table is printed before the report is written, a failed write is one line (path and
reason) with exit 1 and leaves no half-written or temporary file, results.jsonl never keeps half a
line, temporary files of killed writers are removed by the next run, and every file takes the
umask's mode.

Read-only places and full disks are real: a read-only tmpfs and a 64 KiB tmpfs when root (mount
needs CAP_SYS_ADMIN), else those tests are skipped; a short write is also made without root, with
RLIMIT_FSIZE (the kernel then writes up to the limit and returns a short count, or EFBIG)."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loadbench import outputs
from loadbench.report import results_log
from tests.conftest import Cli, clean_env


def _mount(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (read-only places and full disks are made with tmpfs)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(name, options)``: a tmpfs at tmp_path/name, unmounted at the end."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        path = tmp_path / name
        _mount(path, options)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture(scope="module")
def made_report(tmp_path_factory) -> Path:
    """A real report (null, 0.2 s) for the commands that read one."""
    return Cli(tmp_path_factory.mktemp("made")).bench("--connectors", "null", "--seconds", "0.2")


def one_error_line(result, code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadbench: error: "), result.stderr
    return lines[0]


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


# --- checked before any load -----------------------------------------------------------------------

BENCH = ("bench", "--connectors", "null", "--seconds", "0.2", "--warmup", "0", "--quiet")


def test_a_file_as_the_results_dir_of_the_write_test_is_refused_before_any_load(cli):
    (cli.cwd / "results").write_text("a file")
    result = cli("bench", "write", "--configs", "1", "--total-writes", "50", "--results-dir", "results",
                 "--connectors", "sqlite", "--quiet")
    assert one_error_line(result) == "loadbench: error: results directory results is not a directory"
    assert cli.reports() == [] and not (cli.cwd / "db" / "base-0.db").exists()  # nothing prepped, nothing run


def test_a_directory_where_the_results_file_goes_is_refused_before_any_load(cli):
    (cli.cwd / "results" / "base-0.json").mkdir(parents=True)
    result = cli("bench", "write", "--configs", "1", "--total-writes", "50", "--connectors", "sqlite", "--quiet")
    assert one_error_line(result) == "loadbench: error: results file results/base-0.json is a directory"
    assert cli.reports() == [] and not (cli.cwd / "db" / "base-0.db").exists()


def test_a_file_as_the_runs_dir_is_refused(cli):
    (cli.cwd / "runs").write_text("a file")
    assert one_error_line(cli(*BENCH)) == "loadbench: error: runs directory runs is not a directory"


def test_a_directory_as_results_jsonl_is_refused_before_any_load(cli):
    (cli.runs / "results.jsonl").mkdir(parents=True)
    assert one_error_line(cli(*BENCH)) == "loadbench: error: results log runs/results.jsonl is a directory"
    assert cli.reports() == []


def test_sqlite_file_naming_a_directory_is_refused_before_any_load(cli):
    (cli.cwd / "dbdir").mkdir()
    result = cli("bench", "--connectors", "sqlite", "--seconds", "0.2", "--quiet", env={"SQLITE_FILE": "dbdir"})
    line = one_error_line(result)
    assert line == "loadbench: error: SQLITE_FILE='dbdir' (from environment): dbdir is a directory, not a database file"
    assert cli.reports() == [] and files_in(cli.cwd / "dbdir") == []


def test_export_to_a_directory_is_refused_before_reading_the_report(cli, made_report):
    report = made_report
    (cli.cwd / "out.hlog").mkdir()
    line = one_error_line(cli("export", str(report), "--hlog", "--out", "out.hlog"))
    assert line == "loadbench: error: export file out.hlog is a directory"
    assert files_in(cli.cwd / "out.hlog") == []


def test_export_into_a_missing_directory_is_refused(cli, made_report):
    report = made_report
    line = one_error_line(cli("export", str(report), "--hlog", "--out", "nowhere/out.hlog"))
    assert line == "loadbench: error: export file nowhere/out.hlog: nowhere does not exist"


def test_plot_into_a_file_is_refused_before_any_figure(cli, made_report):
    report = made_report
    (cli.cwd / "figs").write_text("a file")
    line = one_error_line(cli("plot", str(report), "--out", "figs"))
    assert line == "loadbench: error: figures directory figs is not a directory"


def test_read_only_places_are_refused_before_any_load(cli, tmpfs, made_report):
    report = made_report
    ro = tmpfs("ro", "ro,size=1m")
    cases = {
        # an unwritable runs/ (it exists) and --runs-dir on a read-only mount (it must be created there)
        ("--runs-dir", str(ro)): f"runs directory {ro} is not writable: Read-only file system",
        ("--runs-dir", str(ro / "runs")): f"cannot create runs directory {ro / 'runs'}: Read-only file system",
    }
    for args, message in cases.items():
        assert one_error_line(cli(*BENCH, *args)) == f"loadbench: error: {message}"
    line = one_error_line(cli("bench", "--connectors", "sqlite", "--seconds", "0.2", "--quiet",
                              env={"SQLITE_FILE": str(ro / "x.sqlite")}))
    assert line == (f"loadbench: error: SQLITE_FILE={str(ro / 'x.sqlite')!r} (from environment): directory {ro} "
                    "is not writable: Read-only file system")
    line = one_error_line(cli("bench", "--connectors", "sqlite", "--config-id", "base-0", "--seconds", "0.2",
                              "--quiet", env={"LOADBENCH_DB_DIR": str(ro)}))
    assert line.endswith(f"directory {ro} is not writable: Read-only file system")
    line = one_error_line(cli("export", str(report), "--hlog", "--out", str(ro / "x.hlog")))
    assert line == f"loadbench: error: export file {ro / 'x.hlog'} is not writable: Read-only file system"
    line = one_error_line(cli("plot", str(report), "--out", str(ro / "figs")))
    assert line == f"loadbench: error: cannot create figures directory {ro / 'figs'}: Read-only file system"
    assert cli.reports() == []


# --- a full disk -----------------------------------------------------------------------------------

def _fill(directory: Path, leave: int) -> None:
    """Fills the filesystem of ``directory`` until about ``leave`` bytes are free."""
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    (directory / "filler").write_bytes(b"x" * max(free - leave, 0))


def test_a_full_disk_prints_the_table_then_one_line_and_leaves_no_partial_file(cli, tmpfs):
    runs = tmpfs("runs", "size=64k")
    earlier = b'{"timestamp":"t","points":[]}\n'
    (runs / "results.jsonl").write_bytes(earlier)
    _fill(runs, leave=4096)  # a null report is about 40 kB
    result = cli(*BENCH)
    line = one_error_line(result, code=1)
    assert line.startswith("loadbench: error: cannot write report runs/test-1-") and line.endswith(
        ".json: No space left on device")
    # The figures survive: the table's header and a latency with its unit.
    assert "null" in result.stdout and "TPS" in result.stdout and "p99" in result.stdout
    assert re.search(r"\d (ns|µs|ms|s)\b", result.stdout), result.stdout
    assert "report:" not in result.stdout
    assert files_in(runs) == ["filler", "results.jsonl"]  # no report, no temporary file
    assert (runs / "results.jsonl").read_bytes() == earlier


def _run_limited(code: str, fsize: int, cwd: Path) -> subprocess.CompletedProcess:
    """Python ``code`` in a child whose files cannot grow past ``fsize`` bytes (RLIMIT_FSIZE)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, preexec_fn=limit, timeout=120)


def test_a_report_write_cut_short_is_one_line_and_leaves_nothing(cli):
    # Without root: RLIMIT_FSIZE makes the report's write come up short, as a full disk does.
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))  # a report is 10 kB or more
    cli.runs.mkdir()
    earlier = b'{"timestamp":"t","points":[]}\n'
    (cli.runs / "results.jsonl").write_bytes(earlier)
    proc = subprocess.run([sys.executable, "-m", "loadbench", *BENCH], cwd=cli.cwd, env=clean_env(),
                          capture_output=True, text=True, preexec_fn=limit, timeout=120)
    line = one_error_line(proc, code=1)
    assert line.startswith("loadbench: error: cannot write report runs/test-1-") and line.endswith(": File too large")
    assert "TPS" in proc.stdout and "null" in proc.stdout
    assert files_in(cli.runs) == ["results.jsonl"] and (cli.runs / "results.jsonl").read_bytes() == earlier


def test_a_results_line_cut_short_is_taken_back_whole(tmp_path):
    log = tmp_path / "results.jsonl"
    earlier = b'{"timestamp":"t","points":[]}\n' * 10
    log.write_bytes(earlier)
    child = _run_limited(f"""
        from pathlib import Path
        from loadbench.report import results_log
        try:
            results_log.append_line(Path({str(log)!r}), b'{{"points":[],"padding":"' + b'x' * 5000 + b'"}}\\n')
        except OSError as exc:
            print("refused:", exc)
    """, fsize=len(earlier) + 1000, cwd=tmp_path)
    assert child.stdout.startswith("refused: [Errno 28] No space left on device (wrote 1000 of 5027 bytes)"), child
    assert log.read_bytes() == earlier  # the 1000 bytes that went in were cut back off


def test_a_torn_line_from_elsewhere_stays_apart_and_is_skipped(tmp_path):
    log = tmp_path / "results.jsonl"
    whole = json.dumps({"timestamp": "t1", "points": []})
    log.write_text(whole + "\n" + '{"timestamp": "t2", "poi')  # a writer killed mid-line
    results_log.append_line(log, (json.dumps({"timestamp": "t3", "points": []}) + "\n").encode())
    assert log.read_text().splitlines() == [whole, '{"timestamp": "t2", "poi', '{"timestamp": "t3", "points": []}']
    warnings: list[str] = []
    assert [line["timestamp"] for line in results_log.read(log, warn=warnings.append)] == ["t1", "t3"]
    assert warnings == [f"{log}:2: not a results line, skipped"]


# --- names claimed, temporary files of dead writers removed --------------------------------------------

def test_a_report_name_is_claimed_never_overwritten(tmp_path):
    (tmp_path / "r.json").write_text("first")
    (tmp_path / "r-2.json").write_text("second")
    assert outputs.claim(tmp_path, "r", ".json", b"third") == tmp_path / "r-3.json"
    assert [(tmp_path / n).read_text() for n in ("r.json", "r-2.json", "r-3.json")] == ["first", "second", "third"]
    assert files_in(tmp_path) == ["r-2.json", "r-3.json", "r.json"]  # no temporary file left


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_temporary_files_of_dead_writers_are_removed_when_a_run_starts(cli):
    cli.runs.mkdir()
    results = cli.cwd / "results"
    results.mkdir()
    dead, alive = _dead_pid(), os.getpid()
    report, base = "test-1-20260101T000000Z.json", "base-0.json"
    stale = [cli.runs / f"{outputs.temp_prefix(report, dead)}abcd1234.tmp",
             results / f"{outputs.temp_prefix(base, dead)}x1y2z3w4.tmp"]
    live = [cli.runs / f"{outputs.temp_prefix(report, alive)}abcd1234.tmp",
            results / f"{outputs.temp_prefix(base, alive)}q1q2q3q4.tmp"]
    others = [cli.runs / ".not-ours.tmp", cli.runs / f".{report}.otherhost.{dead}.abcd1234.tmp"]  # not ours to judge
    for path in (*stale, *live, *others):
        path.write_bytes(b"")
    result = cli("bench", "write", "--configs", "1", "--total-writes", "40", "--connectors", "sqlite", "--quiet")
    assert result.returncode == 0, result.stderr
    assert [p.exists() for p in stale] == [False, False]
    assert [p.exists() for p in (*live, *others)] == [True] * 4


def test_a_writer_killed_during_the_report_write_leaves_a_temp_file_that_the_next_run_removes(cli, made_report):
    report = json.loads(made_report.read_text())
    cli.runs.mkdir()
    before = cli.reports()
    # A child writes a real report and is SIGKILLed while the data is on its way to disk (in fsync).
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import json, os, sys, time
        from pathlib import Path
        from loadbench.report import store
        def hang(fd):
            print("writing", flush=True)
            time.sleep(600)
        os.fsync = hang
        store.write(json.loads({json.dumps(report)!r}), Path("runs"))
    """)], cwd=cli.cwd, env=clean_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    (temp,) = [p for p in cli.runs.iterdir() if p.name.endswith(".tmp")]
    assert temp.name.startswith(".test-1-") and f".{outputs.HOST}.{child.pid}." in temp.name
    assert temp.stat().st_size > 0
    assert cli.reports() == before  # no report under its final name
    cli.bench("--connectors", "null", "--seconds", "0.2")
    assert not temp.exists()
    assert not [p for p in cli.runs.iterdir() if p.name.endswith(".tmp")]
    assert len(cli.reports()) == len(before) + 1


# --- modes -----------------------------------------------------------------------------------------

def test_every_output_file_takes_the_umask_mode(cli):
    previous = os.umask(0o027)  # inherited by the commands started below
    try:
        report = cli.bench("--connectors", "null", "--seconds", "0.2")
        assert cli("export", str(report), "--hlog").returncode == 0
        plotted = cli("plot", str(report), "--format", "both", "--out", "figs")
        assert plotted.returncode == 0, plotted.stderr
        written = cli("bench", "write", "--configs", "1", "--total-writes", "40", "--connectors", "sqlite", "--quiet")
        assert written.returncode == 0, written.stderr
    finally:
        os.umask(previous)
    files = [report, cli.runs / "results.jsonl", report.with_suffix(".hlog"), *(cli.cwd / "figs").iterdir(),
             cli.cwd / "results" / "base-0.json"]
    modes = {str(p.relative_to(cli.cwd)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert len(modes) == 3 + 8 + 1 and set(modes.values()) == {"0o640"}, modes


# --- printing ----------------------------------------------------------------------------------------

def _with_stdout_gone(cli: Cli, *args: str) -> subprocess.CompletedProcess:
    """The command with a stdout whose reader has already gone (as ``| head -1`` after its line):
    every write to it fails with EPIPE."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "loadbench", *args], cwd=cli.cwd, env=clean_env(), stdout=write,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, timeout=120)
    finally:
        os.close(write)


def test_a_reader_that_goes_away_ends_the_printing_quietly(cli, made_report):
    report = made_report
    for args in (["report", str(report)], ["report", "--csv", str(report)], ["report", "--merge", str(report)],
                 ["compare", str(report), str(report), "--json"], ["compare", str(report), str(report)],
                 ["export", str(report), "--hlog", "--out", "x.hlog"]):
        result = _with_stdout_gone(cli, *args)
        assert (result.returncode, result.stderr) == (0, ""), args
    assert (cli.cwd / "x.hlog").is_file()
    # A bench whose table (or JSON) cannot be printed still writes its report and results line.
    for extra in ([], ["--json"]):
        before = len(cli.reports())
        result = _with_stdout_gone(cli, *BENCH, *extra)
        assert (result.returncode, result.stderr) == (0, ""), extra
        assert len(cli.reports()) == before + 1 and len(cli.results()) == before + 1


def test_report_refuses_csv_and_merge_together(cli, made_report):
    # --html is a third way out of report: any two of them are one line, exit 2, nothing written.
    for pair in (["--csv", "--merge"], ["--csv", "--html", "x.html"], ["--merge", "--html", "x.html"]):
        line = one_error_line(cli("report", *pair, str(made_report)))
        assert line == ("loadbench: error: --csv, --merge and --html cannot be combined (--csv prints every run, "
                        "--merge their sum, --html writes a page)"), pair
        assert not (cli.cwd / "x.html").exists()
