"""What a scenario file needs to know about a connector's SQL: the dialect's name (the key SQL is
written under in a file: ``[tables.accounts] sqlite = "..."``), its placeholder style, and the
dialect it falls back to when a file has no SQL of its own for it.

Connector modules declare their dialects (:mod:`loadbench.connectors`); scenario files
(:mod:`loadbench.scenarios.files`) only read these objects and never name a dialect.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SqlDialect:
    """A SQL dialect. ``placeholder`` is the mark of parameters: ``?`` (``?1``, ``?2``: SQLite) or
    ``$`` (``$1``, ``$2``: PostgreSQL); with ``numbered`` False the mark alone, one per occurrence
    bound in order (``?``: MySQL/MariaDB, where a name used twice is bound twice). ``parent``: the dialect whose SQL is used when a
    file gives none for this one. ``runs_sql``: False for a connector that accepts scenario files
    and runs nothing (null: it measures the harness), whose name is no key in a file."""

    name: str
    placeholder: str = "?"
    numbered: bool = True
    parent: str | None = None
    runs_sql: bool = True

    def __post_init__(self) -> None:
        if self.placeholder not in ("?", "$"):
            raise ValueError(f"placeholder must be '?' or '$', got {self.placeholder!r}")
