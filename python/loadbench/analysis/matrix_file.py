"""The TOML file of ``loadbench matrix``: the grid, and a few settings of its runs.

    accounts = [1000, 100000]     # rows seeded (each value re-seeds)
    concurrency = [1, 10, 50]     # workers
    alpha = [0.0, 1.5]            # Zipf exponent
    iterations = 3                # runs per point (optional, default 1)
    seconds = 5                   # measured window, s (optional)
    warmup = 0.5                  # s (optional)
    connectors = ["sqlite"]       # (optional)

A scalar is accepted where a list is expected (``alpha = 1.5``). Flags win over the file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9 and 3.10
    import tomli as tomllib

from loadbench.errors import ConfigError, read_input

LISTS = {"accounts": int, "concurrency": int, "alpha": float}
SCALARS = {"iterations": int, "seconds": float, "warmup": float}


def _number(path: Path, key: str, value: Any, kind: type) -> Any:
    # bool is an int to Python, never a number to a user.
    ok = isinstance(value, int) and not isinstance(value, bool) if kind is int else (
        isinstance(value, (int, float)) and not isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{path}: {key} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    return kind(value)


def load(path: Path) -> dict[str, Any]:
    """The file's settings, checked for type (ranges are checked with the flags')."""
    try:
        data = tomllib.loads(read_input(path, "matrix file"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not TOML: {exc}") from None
    known = [*LISTS, *SCALARS, "connectors"]
    found: dict[str, Any] = {}
    for key, value in data.items():
        if key in LISTS:
            values = value if isinstance(value, list) else [value]
            if not values:
                raise ConfigError(f"{path}: {key} is an empty list")
            found[key] = [_number(path, key, v, LISTS[key]) for v in values]
        elif key in SCALARS:
            found[key] = _number(path, key, value, SCALARS[key])
        elif key == "connectors":
            names = value if isinstance(value, list) else [value]
            if not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{path}: connectors must be a list of names, got {value!r}")
            found[key] = ",".join(names)
        else:
            raise ConfigError(f"{path}: unknown key {key!r} (known: {', '.join(known)})")
    return found
