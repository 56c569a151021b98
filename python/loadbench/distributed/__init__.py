"""Distributed load generation on Dask: one run, many generator machines, one exact report.

``loadbench bench ... --cluster tcp://HOST:PORT`` runs the bench's load on the workers of a Dask
scheduler (:mod:`loadbench.distributed.coordinator`, the CLI process as a Dask client), one
generator per worker (:mod:`loadbench.distributed.generator`, the native engine in the worker
process), and merges their results into one report (:mod:`loadbench.distributed.results`).
``loadbench cluster up|down|status`` (:mod:`loadbench.distributed.cluster`) starts a scheduler and
workers on loopback to try it on one machine.

Dask (PyPI ``distributed``) is an optional dependency: ``pip install 'loadbench[distributed]'``.
"""

from __future__ import annotations

from types import ModuleType

from loadbench.errors import ConfigError

EXTRA = "loadbench[distributed]"


def require() -> ModuleType:
    """The ``distributed`` package, or a one-line ConfigError naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise ConfigError(f"--cluster and loadbench cluster need Dask: pip install '{EXTRA}'") from None
