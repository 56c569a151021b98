"""The two ways a command fails: the user asked for something that cannot be (exit 2), or the
system under test failed while we ran (exit 1). Both carry one line for the user."""


class LoadbenchError(Exception):
    """A failure to report as one line; ``exit_code`` is what the command exits with."""

    exit_code = 1


class ConfigError(LoadbenchError):
    """Bad input: a flag, an environment variable, a .env value, a URL, a file."""

    exit_code = 2


class RunFailed(LoadbenchError):
    """The system under test failed (could not connect, verification failed, ...)."""

    exit_code = 1
