"""The two ways a command fails: the user asked for something that cannot be (exit 2), or the
system under test failed while we ran (exit 1). Both carry one line for the user."""

from pathlib import Path


class LoadbenchError(Exception):
    """A failure to report as one line; ``exit_code`` is what the command exits with."""

    exit_code = 1


class ConfigError(LoadbenchError):
    """Bad input: a flag, an environment variable, a .env value, a URL, a file."""

    exit_code = 2


class RunFailed(LoadbenchError):
    """The system under test failed (could not connect, verification failed, ...)."""

    exit_code = 1


class OutputError(LoadbenchError):
    """A file could not be written after the run (a full disk, a failing device): the line names the
    path and the reason. Nothing half-written is left behind."""

    exit_code = 1


def read_input(path: Path, what: str) -> str:
    """The text of a file the user named (a report, a matrix file); a missing or unreadable one is a
    one-line ConfigError naming ``what`` it should have been."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
