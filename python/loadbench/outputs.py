"""Files loadbench writes: checked before any load, written whole or not at all, never overwriting
another run's report, and with the permissions the umask gives.

- **Checked first.** :func:`check_directory` and :func:`check_file` run before any load: a file
  where a directory is expected (or the reverse), a directory that cannot be created, or one that
  cannot be written (tried with a real temporary file: root ignores permission bits, a read-only
  mount does not) is a one-line :class:`~loadbench.errors.ConfigError` (exit 2).
- **Whole or nothing.** Every file is written to a temporary file beside its target, flushed to
  disk (fsync), and then moved into place in one step: :func:`replace` (``rename(2)``: for files
  that are meant to be replaced, such as ``export --out``) or :func:`claim` (``link(2)``, which
  never replaces: a report's name is claimed, and a name another run took makes it try the next
  suffix). A write that fails removes its temporary file and raises OSError.
- **Temporary files** are named ``.<target name>.<host>.<writer's PID>.<random>.tmp``. One left by
  a writer that was killed (SIGKILL, a power cut) is removed by :func:`clean_stale_temps`, which
  each run calls on its output directories: it removes those of this host whose PID is no longer
  alive (a directory shared by hosts, over NFS, keeps other hosts' writers' files; containers that
  share a directory and a host name but not their PIDs should not share a runs directory).
- **Permissions**: ``0666 & ~umask`` for every file (reports, figures, exports, results files and
  ``results.jsonl`` alike), as ``open(2)`` would create them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from loadbench.errors import ConfigError

_TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp$")
# This host, as a temporary file's name carries it: letters, digits and dashes.
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
MAX_NAME_ATTEMPTS = 10_000  # suffixes -2, -3, ... tried before giving up on a name


def reason(exc: OSError) -> str:
    """The system's words for an OSError ("No space left on device"), without the path."""
    return exc.strerror or str(exc)


def umask() -> int:
    """The process's umask (read from /proc without changing it; else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a new file: what ``open(path, O_CREAT, 0o666)`` gives under the umask."""
    return 0o666 & ~umask()


def temp_prefix(name: str, pid: int | None = None) -> str:
    """How the temporary file of a target called ``name`` written by process ``pid`` (default: this
    one) of this host begins; a random part and ``.tmp`` follow."""
    return f".{name}.{HOST}.{os.getpid() if pid is None else pid}."


def _new_temp(directory: Path, name: str) -> tuple[int, Path]:
    """A new, empty temporary file in ``directory`` for a target called ``name``, with the mode of a
    new file (mkstemp creates 0600)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=temp_prefix(name), suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, Path(tmp)


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd``, then fsync: a short write (a full disk) is an OSError."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]
    os.fsync(fd)


def _sync_directory(directory: Path) -> None:
    """Makes a new name in ``directory`` durable; best effort (not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` for the caller to write; on success it is flushed and
    replaces ``path`` in one rename, so readers see the old file, the new one, or none: never half.
    On any failure it is removed and the exception propagates."""
    fd, tmp = _new_temp(path.parent, path.name)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


def replace(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` whole or not at all (see :func:`replacing`); raises OSError."""
    with replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)


def claim(directory: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Writes ``data`` to ``directory/<stem><suffix>``, or, when another file has that name, to
    ``<stem>-2<suffix>``, ``<stem>-3<suffix>``, ...: never replacing a file. The finished temporary
    file is hard-linked onto the name (``link(2)`` fails with EEXIST when another run took it first,
    and the next name is tried). Where the filesystem has no hard links, the name is claimed with
    ``O_CREAT | O_EXCL`` and the temporary file renamed onto it. Returns the path written; raises
    OSError, leaving nothing behind."""
    fd, tmp = _new_temp(directory, stem + suffix)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        for n in range(1, MAX_NAME_ATTEMPTS + 1):
            target = directory / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                    raise
                try:  # no hard links here: claim the name, then move the data onto it
                    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
                except FileExistsError:
                    continue
                os.replace(tmp, target)
            _sync_directory(directory)
            return target
        raise OSError(errno.EEXIST, f"{MAX_NAME_ATTEMPTS} names from {stem}{suffix} on are all taken")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OverflowError:
        return False
    return True


def clean_stale_temps(directory: Path) -> list[Path]:
    """Removes the temporary files that writers which died left in ``directory`` (named as
    :func:`replacing` and :func:`claim` name them, by this host, with a PID no process has);
    returns them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if not match or match["host"] != HOST or _alive(int(match["pid"])):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _try_write(directory: Path) -> None:
    """Creates and removes a temporary file in ``directory``: the only test of writability that
    holds for root and read-only mounts alike. Raises OSError."""
    fd, tmp = _new_temp(directory, "write-test")
    os.close(fd)
    os.unlink(tmp)


def check_directory(directory: Path, what: str) -> Path:
    """``directory`` exists (created with its parents if needed), is a directory, and a file can be
    created in it; stale temporary files in it are removed. Else a one-line ConfigError naming
    ``what`` it is for (e.g. "runs directory")."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{what} {directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {what} {directory}: {reason(exc)}") from None
    try:
        _try_write(directory)
    except OSError as exc:
        raise ConfigError(f"{what} {directory} is not writable: {reason(exc)}") from None
    clean_stale_temps(directory)
    return directory


def check_file(path: Path, what: str, append: bool = False) -> Path:
    """``path`` can be written as a file: its directory exists and takes new files, and ``path`` is
    not a directory (or other non-regular file). With ``append``, an existing file must also open
    for appending (nothing is written). Else a one-line ConfigError naming ``what`` it is for."""
    directory = path.parent
    if not directory.is_dir():
        state = "does not exist" if not directory.exists() else "is not a directory"
        raise ConfigError(f"{what} {path}: {directory} {state}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {reason(exc)}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ConfigError(f"{what} {path} is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        raise ConfigError(f"{what} {path} is not a regular file")
    try:
        _try_write(directory)
        if append and mode is not None:
            os.close(os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC))
    except OSError as exc:
        raise ConfigError(f"{what} {path} is not writable: {reason(exc)}") from None
    return path


def check_database_file(path: Path, what: str) -> Path:
    """A database file (SQLite) that will be opened for writing, with its journal beside it: its
    directory exists and takes new files, and ``path`` is a regular file that opens for writing, or
    absent. Else a one-line ConfigError starting with ``what`` (e.g. "SQLITE_FILE='x' (from .env)")."""
    directory = path.parent
    if not directory.is_dir():
        state = "does not exist" if not directory.exists() else "is not a directory"
        raise ConfigError(f"{what}: directory {directory} {state}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(f"{what}: {path}: {reason(exc)}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ConfigError(f"{what}: {path} is a directory, not a database file")
    if mode is not None and not stat.S_ISREG(mode):
        raise ConfigError(f"{what}: {path} is not a regular file")
    try:
        _try_write(directory)
    except OSError as exc:
        raise ConfigError(f"{what}: directory {directory} is not writable: {reason(exc)}") from None
    if mode is not None:
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
        except OSError as exc:
            raise ConfigError(f"{what}: {path} is not writable: {reason(exc)}") from None
    return path
