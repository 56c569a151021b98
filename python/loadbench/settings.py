"""Settings: the environment and a ``.env`` file, each value with where it came from.

Flags win over both and are applied by the caller (:mod:`loadbench.run.config`, the connector
modules); a bad value is a one-line :class:`~loadbench.errors.ConfigError` naming the variable and
its origin.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Mapping, overload

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from loadbench.errors import ConfigError


class Settings:
    """Environment variables and ``.env`` values, each with where it came from.

    The process environment wins over ``.env`` (python-dotenv's own rule); flags win over both,
    and are applied by the caller.
    """

    def __init__(self, environ: Mapping[str, str], dotenv: Mapping[str, str], dotenv_path: Path | None):
        self._environ = dict(environ)
        self._dotenv = dict(dotenv)
        self.dotenv_path = dotenv_path
        self._fallback: dict[str, tuple[str, str]] = {}
        self._override: dict[str, tuple[str, str]] = {}

    @classmethod
    def load(cls, env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> "Settings":
        """Reads ``env_file`` (or ``./.env`` if it exists); a line that does not parse is an error."""
        path = env_file if env_file is not None else Path(".env")
        values: dict[str, str] = {}
        if env_file is not None and not path.is_file():
            state = "is a directory" if path.is_dir() else "is not a regular file" if path.exists() else "does not exist"
            raise ConfigError(f"env file {path} {state}")
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read {path}: {exc}") from None
            for binding in parse_stream(io.StringIO(text)):
                if binding.error:
                    # The line is not shown: it may hold a password (an unclosed quote in one, say).
                    line = binding.original.line
                    name = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=", binding.original.string)
                    what = (f"the value of {name.group(1)} (an unclosed quote?)" if name
                            else "this line (expected NAME=VALUE)")
                    raise ConfigError(f"{path}:{line}: cannot parse {what}")
            values = {k: v for k, v in dotenv_values(path).items() if v is not None}
        return cls(os.environ if environ is None else environ, values, path if path.is_file() else None)

    def get(self, name: str) -> tuple[str, str] | None:
        """``(value, origin)`` for a set variable, else None."""
        if name in self._override:
            return self._override[name]
        if name in self._environ:
            return self._environ[name], "environment"
        if name in self._dotenv:
            return self._dotenv[name], str(self.dotenv_path or ".env")
        return self._fallback.get(name)

    def with_fallback(self, values: Mapping[str, str], origin: str) -> "Settings":
        """These settings, and ``values`` for the names they do not set, each from ``origin`` (a
        local service's settings, say, when the user set none)."""
        layered = Settings(self._environ, self._dotenv, self.dotenv_path)
        layered._fallback = {**{k: (v, origin) for k, v in values.items()}, **self._fallback}
        layered._override = dict(self._override)
        return layered

    def overriding(self, values: Mapping[str, str], origin: str) -> "Settings":
        """These settings with ``values`` winning over the environment and ``.env`` (a flag's)."""
        layered = self.with_fallback({}, origin)
        layered._override.update({k: (v, origin) for k, v in values.items()})
        return layered

    @overload
    def string(self, name: str, default: str) -> str: ...

    @overload
    def string(self, name: str, default: None = None) -> str | None: ...

    def string(self, name: str, default: str | None = None) -> str | None:
        found = self.get(name)
        return found[0] if found else default

    def path(self, name: str, default: str) -> Path:
        """A setting naming a file or directory, ``~`` expanded; empty counts as unset (``NAME=`` in
        a .env file): never the current
        directory by accident."""
        value = self.string(name)
        return Path(value if value and value.strip() else default).expanduser()

    def services_dir(self) -> Path:
        """Where ``loadbench services`` keeps the state of the servers it started: one place per
        user, whatever the working directory. ``LOADBENCH_SERVICES_DIR`` (empty counts as unset),
        else ``$XDG_STATE_HOME/loadbench/services`` (the XDG Base Directory rule: an unset, empty
        or relative ``XDG_STATE_HOME`` means ``~/.local/state``). Made absolute, so that it names
        the same directory from wherever it is read."""
        own = self.string("LOADBENCH_SERVICES_DIR")
        if own and own.strip():
            return Path(own).expanduser().absolute()
        xdg = self.string("XDG_STATE_HOME")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path("~/.local/state").expanduser()
        return (base / "loadbench" / "services").absolute()

    def integer(self, name: str, default: int, minimum: int) -> int:
        found = self.get(name)
        if found is None:
            return default
        value, origin = found
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{name}={value!r} (from {origin}) must be an integer >= {minimum}") from None
        if number < minimum:
            raise ConfigError(f"{name}={value!r} (from {origin}) must be an integer >= {minimum}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        found = self.get(name)
        if found is None:
            return default
        value, origin = found
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={value!r} (from {origin}) must be true or false (1/0, yes/no, on/off)")
