"""Pools of realistic values (names, emails, titles, bodies, words), generated with Faker once
before a run and handed to the core as plain lists, so the hot path never calls Python. Seeded
from the run's seed: the same seed gives the same pools."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from loadbench.errors import ConfigError


@dataclass(frozen=True)
class Pool:
    """A pool a scenario file declares (``[pools.NAME]``): literal values, or ``size`` values of a
    Faker provider called with ``args``."""

    key: str
    values: tuple[str, ...] | None = None  # literal
    faker: str | None = None
    size: int = 1000
    args: Mapping[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _faker() -> Any:
    from faker import Faker

    return Faker()


def has_provider(name: str) -> bool:
    """Whether Faker has a public generator method of this name (``name``, ``email``, ``sentence``...)."""
    if not name or name.startswith("_"):
        return False
    try:
        return callable(getattr(_faker(), name))
    except AttributeError:
        return False


def generate(pools: Mapping[str, "Pool"], seed: int, where: str) -> dict[str, list[str]]:
    """Every pool's values; a provider that rejects its ``args`` is a ConfigError naming the pool."""
    fake = _faker()
    fake.seed_instance(seed)
    out: dict[str, list[str]] = {}
    for name, pool in pools.items():
        if pool.values is not None:
            out[name] = list(pool.values)
            continue
        provider = getattr(fake, pool.faker or "")
        try:
            out[name] = [str(provider(**pool.args)) for _ in range(pool.size)]
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{where}: {pool.key}.args: Faker's {pool.faker}() refused them: {exc}") from None
    return out
