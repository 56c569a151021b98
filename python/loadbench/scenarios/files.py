"""Scenarios defined in TOML files: parse, validate, and turn into the plain data the core runs.

The format is described by ``schema/scenario-v1.schema.json`` (JSON Schema, draft 2020-12, over the
table the TOML parses to: for editors, and checked on every load after the rules below, which give
the more specific message where both apply).

Everything a file can get wrong is found here, before any load starts, and reported as one
:class:`~loadbench.errors.ConfigError` line naming the file and the TOML key (and the line, where
the TOML parser gives one): ``path/to/file.toml: ops.transfer.params.amount: unknown generator
'gaussian'``. SQL that does not prepare is caught by :func:`check_sql` against the database itself.

The format (README, "Scenario files", has an example):

- ``name``, ``description``; ``mix = "random" | "exact"``.
- ``[vars]``: integers; wherever the file wants an integer it may name one instead (``rows =
  "accounts"``), and ``--set NAME=VALUE`` overrides it.
- ``[tables.NAME]``: the DDL per dialect (``sqlite = "..."``, ``postgres = "..."``). Prep drops the
  tables (in reverse order) and creates them (in file order).
- ``[pools.NAME]``: ``faker = "provider"`` (+ ``size``, ``args``), generated once before the run, or
  ``values = [...]``.
- ``[generators.NAME]``: a generator shared by several parameters (one counter for a sequence).
- ``[seed.TABLE]``: ``rows``, ``sql`` (one INSERT) and ``params``.
- ``[ops.NAME]``: ``weight``, ``transaction``, ``sql`` or ``statements`` (each a string, a
  per-dialect table, or ``{sql = ..., reject_when = "no rows"}``), ``params``, ``keys``.
- ``[[verify]]``: ``sql`` and ``expect`` (an integer expression over vars, ``seeded(TABLE)`` and
  ``committed(OP)``) or ``expect_sql`` (another query that must give the same answer).

A parameter is ``"NAME"`` (a named generator), ``{use = "NAME", distinct_from = "P"}``, or an
inline generator: ``{generator = "uniform", min, max}``, ``{generator = "zipf", n, alpha, min = 1,
scatter = false}``, ``{generator = "sequence", start = 1, step = 1, scope = "session" | "global"}``,
``{generator = "pool", pool = "NAME"}``, ``{generator = "constant", value = ...}`` (or ``var =
"NAME"``, or ``null = true`` for NULL). SQL names parameters ``:name``; they are bound, never spliced into the text.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, cast

import jsonschema

from loadbench.errors import ConfigError
from loadbench.scenarios import fake_pools
from loadbench.scenarios.fake_pools import Pool
from loadbench.sql_dialect import SqlDialect

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

GENERATORS = ("uniform", "zipf", "sequence", "pool", "constant")
MIXES = ("random", "exact")
MAX_OPERATIONS = 255
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A scenario's name (it names report files): \w is Unicode letters, digits and '_'.
_REPORT_NAME = re.compile(r"[\w.-]+")
MAX_NAME_BYTES = 200
_TOP_KEYS = {"name", "description", "mix", "vars", "tables", "pools", "generators", "seed", "ops", "verify"}


def builtin_dir() -> Path:
    """Where the shipped scenario files are."""
    return Path(str(resources.files("loadbench.scenarios")))


def builtin_names() -> list[str]:
    """The shipped scenario files, by stem (``test-1``, ``write``, ``tpcb``)."""
    return sorted(p.stem for p in builtin_dir().glob("*.toml"))


def resolve_path(test: str) -> Path | None:
    """The scenario file ``bench TEST`` means, or None when TEST is a built-in front end (``test-1``,
    ``write``) or nothing known: a path to a ``.toml`` file, else a shipped file by name
    (``tpcb``, ``test-1.toml``)."""
    if test in ("test-1", "write"):
        return None
    path = Path(test)
    if path.suffix == ".toml":
        if path.exists() or len(path.parts) > 1:
            return path
        shipped = builtin_dir() / path.name
        return shipped if shipped.is_file() else path
    shipped = builtin_dir() / f"{test}.toml"
    return shipped if shipped.is_file() else None


# --- the parsed scenario ------------------------------------------------------------------------

@dataclass(frozen=True)
class Generator:
    key: str  # where it was declared, for errors
    kind: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Param:
    name: str
    generator: int  # index into Scenario.generators
    distinct_from: str | None = None


@dataclass(frozen=True)
class Statement:
    key: str                    # e.g. ops.transfer.statements[0]
    sql: Mapping[str, str]      # by dialect ("*": every dialect)
    reject_if_no_rows: bool = False


@dataclass(frozen=True)
class Operation:
    name: str
    weight: float
    transaction: bool
    params: tuple[Param, ...]
    statements: tuple[Statement, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Seed:
    table: str
    rows: int
    statement: Statement
    params: tuple[Param, ...]


@dataclass(frozen=True)
class Check:
    key: str
    name: str
    sql: str
    expect: str | int | None = None
    expect_sql: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file; :meth:`core_dict` gives the core's plain data for one dialect."""

    path: Path
    name: str
    description: str
    sha256: str
    mix: str
    vars: Mapping[str, int]
    tables: tuple[tuple[str, Mapping[str, str]], ...]
    pools: Mapping[str, Pool]
    generators: tuple[Generator, ...]
    seeds: tuple[Seed, ...]
    operations: tuple[Operation, ...]
    checks: tuple[Check, ...]

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {message}")

    def operation_names(self) -> list[str]:
        return [op.name for op in self.operations]

    def seeded(self) -> dict[str, int]:
        return {s.table: s.rows for s in self.seeds}

    def ddl(self, dialect: SqlDialect) -> list[str]:
        """Prep's script: drop every table (reverse order), then create them (file order)."""
        creates = [_for_dialect(sql, dialect, lambda: self.error(f"tables.{name}", f"no DDL for {dialect.name} "
                                                                                     f"(add tables.{name}.{dialect.name})"))
                   for name, sql in self.tables]
        return self.teardown() + creates

    def teardown(self) -> list[str]:
        return [f"DROP TABLE IF EXISTS {name}" for name, _ in reversed(self.tables)]

    def create_tables(self, dialect: SqlDialect) -> list[str]:
        return self.ddl(dialect)[len(self.tables):]

    def statements(self, dialect: SqlDialect) -> tuple[list[str], list[str], list[list[int]]]:
        """The operations' statements for ``dialect`` with numbered placeholders, the TOML key of
        each, and per operation the statement index of each of its steps (identical SQL is
        prepared once)."""
        texts: list[str] = []
        keys: list[str] = []
        steps: list[list[int]] = []
        for op in self.operations:
            indices = []
            for st in op.statements:
                sql, _ = self._translate(st, dialect)
                if sql not in texts:
                    texts.append(sql)
                    keys.append(st.key)
                indices.append(texts.index(sql))
            steps.append(indices)
        return texts, keys, steps

    def seed_sql(self, seed: Seed, dialect: SqlDialect) -> str:
        return self._translate(seed.statement, dialect)[0]

    def _translate(self, st: Statement, dialect: SqlDialect) -> tuple[str, list[str]]:
        sql = _for_dialect(st.sql, dialect, lambda: self.error(st.key, f"no SQL for {dialect.name}"))
        return to_positional(sql, dialect.placeholder, dialect.numbered)

    def core_dict(self, dialect: SqlDialect, pools: Mapping[str, list[str]],
                  sequence_offsets: Mapping[int, int] | None = None) -> dict[str, Any]:
        """The core's scenario: ``{"name", "sql": {pools, generators, statements, operations, mix,
        seeds}}``, with ``pools`` the generated values by pool name. ``sequence_offsets`` (by
        generator index) moves a sequence past the values earlier runs on the same data took: it
        starts at ``start + step * offset`` (see :meth:`sequence_taken_by_seeds`)."""
        pool_names = list(self.pools)
        texts, _, steps = self.statements(dialect)
        operations = []
        for op, indices in zip(self.operations, steps):
            names = [p.name for p in op.params]
            op_steps = []
            for st, index in zip(op.statements, indices):
                _, slots = self._translate(st, dialect)
                op_steps.append({"statement": index, "slots": [names.index(s) for s in slots],
                                 "reject_if_no_rows": st.reject_if_no_rows})
            operations.append({"name": op.name, "weight": op.weight, "transaction": op.transaction,
                               "params": [_core_param(p, names) for p in op.params], "steps": op_steps,
                               "keys": [names.index(k) for k in op.keys]})
        seeds = []
        for seed in self.seeds:
            sql, slots = self._translate(seed.statement, dialect)
            names = [p.name for p in seed.params]
            seeds.append({"name": seed.table, "rows": seed.rows, "sql": sql,
                          "params": [_core_param(p, names) for p in seed.params],
                          "slots": [names.index(s) for s in slots]})
        generators = []
        for i, g in enumerate(self.generators):
            d = {"kind": g.kind, **{k: v for k, v in g.fields.items() if k != "pool"}}
            if g.kind == "pool":
                d["pool"] = pool_names.index(g.fields["pool"])
            if g.kind == "sequence" and sequence_offsets and sequence_offsets.get(i):
                d["start"] = g.fields["start"] + g.fields["step"] * sequence_offsets[i]
                if not -2**63 <= d["start"] < 2**63:
                    raise self.error(g.key, "the sequence ran past 64 bits over this invocation's runs")
            generators.append(d)
        return {
            "name": self.name,
            "sql": {
                "pools": [list(pools[name]) for name in pool_names],
                "generators": generators,
                "statements": texts,
                "operations": operations,
                "mix": self.mix,
                "seeds": seeds,
            },
        }

    def sequences(self) -> list[int]:
        """The indices (into :attr:`generators`) of the sequence generators."""
        return [i for i, g in enumerate(self.generators) if g.kind == "sequence"]

    def sequence_taken_by_seeds(self) -> dict[int, int]:
        """Per sequence generator, the values prep's seed rows take: seeds draw in one session, in
        file order, each parameter once per row, so a seed and an operation sharing a named
        sequence never produce the same value."""
        taken = {i: 0 for i in self.sequences()}
        for seed in self.seeds:
            for p in seed.params:
                if p.generator in taken:
                    taken[p.generator] += seed.rows
        return taken

    def sequence_uses_per_operation(self) -> dict[int, int]:
        """Per sequence generator, the most values one operation draws from it (one per parameter
        that uses it; a retry reuses them)."""
        uses = {i: 0 for i in self.sequences()}
        for op in self.operations:
            for i in uses:
                uses[i] = max(uses[i], sum(1 for p in op.params if p.generator == i))
        return uses

    def describe(self) -> dict[str, Any]:
        """What the report records of the scenario."""
        return {"name": self.name, "file": str(self.path), "sha256": self.sha256, "mix": self.mix,
                "vars": dict(self.vars), "operations": [{"name": op.name, "weight": op.weight} for op in self.operations]}


def _core_param(p: Param, names: list[str]) -> dict[str, Any]:
    return {"generator": p.generator, "distinct_from": -1 if p.distinct_from is None else names.index(p.distinct_from)}


def _for_dialect(sql: Mapping[str, str], dialect: SqlDialect, missing: Callable[[], ConfigError]) -> str:
    if "*" in sql:
        return sql["*"]
    for d in (dialect.name, dialect.parent):  # a dialect without its own SQL uses its parent's
        if d is not None and d in sql:
            return sql[d]
    raise missing()


# --- placeholders -------------------------------------------------------------------------------

# Skipped as they are: string literals, quoted identifiers (MySQL's `...` too), comments; `::` is a
# cast, not a name.
_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|--[^\n]*|/\*.*?\*/|::|:([A-Za-z_][A-Za-z0-9_]*)""",
                     re.S)


def parameter_names(sql: str) -> list[str]:
    """The ``:name`` parameters of ``sql``, in order of first appearance."""
    names: list[str] = []
    for m in _TOKENS.finditer(sql):
        if m.group(1) and m.group(1) not in names:
            names.append(m.group(1))
    return names


def to_positional(sql: str, mark: str, numbered: bool = True) -> tuple[str, list[str]]:
    """``sql`` with each ``:name`` replaced by a placeholder of ``mark`` (a dialect's
    ``placeholder``), and the names in parameter order. Numbered (``?1`` for SQLite, ``$1`` for
    PostgreSQL): a name used twice takes one number, and the names are listed once each. Not
    numbered (``?`` for MySQL/MariaDB): every occurrence is a parameter of its own, so the names are
    listed once per occurrence."""
    if not numbered:
        slots: list[str] = []

        def mark_each(m: re.Match[str]) -> str:
            if not m.group(1):
                return m.group(0)
            slots.append(m.group(1))
            return mark

        return _TOKENS.sub(mark_each, sql), slots
    names = parameter_names(sql)

    def replace(m: re.Match[str]) -> str:
        return f"{mark}{names.index(m.group(1)) + 1}" if m.group(1) else m.group(0)

    return _TOKENS.sub(replace, sql), names


# --- loading ------------------------------------------------------------------------------------

def load(path: Path, dialects: Mapping[str, SqlDialect], overrides: Mapping[str, int] | None = None) -> Scenario:
    """Reads and validates a scenario file; every problem is a one-line ConfigError. ``dialects``:
    the SQL dialects of the connectors (:func:`loadbench.connectors.sql_dialects`), the keys a
    file may write SQL under."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such scenario file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    keys = tuple(name for name, d in dialects.items() if d.runs_sql)
    scenario = _Parser(path, hashlib.sha256(raw).hexdigest(), doc, dict(overrides or {}), keys).scenario()
    check_schema(path, doc)
    return scenario


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The scenario files' JSON Schema (``schema/scenario-v1.schema.json``)."""
    text = resources.files("loadbench.scenarios").joinpath("schema/scenario-v1.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@lru_cache(maxsize=1)
def _validator() -> Any:
    return jsonschema.Draft202012Validator(schema())


# A schema error's message quotes the value it is about: cut to keep the error one short line.
_MAX_MESSAGE = 200


def check_schema(path: Path, doc: Mapping[str, Any]) -> None:
    """Raises a one-line ConfigError (``path: ops.x.params.y: message``) when the parsed file
    ``doc`` does not follow the scenario schema."""
    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is None:
        return
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    message = " ".join(error.message.split())
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE - 3] + "..."
    raise ConfigError(f"{path}: {where or 'top level'}: {message} (schema/scenario-v1.schema.json)")


class _Parser:
    def __init__(self, path: Path, sha256: str, doc: dict[str, Any], overrides: dict[str, int], dialects: tuple[str, ...]):
        self.path = path
        self.dialects = dialects
        self.sha256 = sha256
        self.doc = doc
        self.overrides = overrides
        self.vars: dict[str, int] = {}
        self.generators: list[Generator] = []
        self.named: dict[str, int] = {}
        self.table_names: set[str] = set()

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {message}")

    def scenario(self) -> Scenario:
        doc = self.doc
        for key in doc:
            if key not in _TOP_KEYS:
                raise self.fail(key, f"unknown key (expected one of {', '.join(sorted(_TOP_KEYS))})")
        # NFC: a name typed or stored decomposed (e + U+0301) is the same name as the composed one.
        name = doc.get("name", self.path.stem)
        if isinstance(name, str):
            name = unicodedata.normalize("NFC", name)
        # It names the report file (runs/<name>-<timestamp>.json): letters and digits of any script,
        # '_', '-', '.', and short enough for a file name (255 bytes) with the timestamp added.
        if not isinstance(name, str) or not _REPORT_NAME.fullmatch(name) or name.startswith(".") \
                or len(name.encode("utf-8")) > MAX_NAME_BYTES:
            rule = (f"letters or digits (any script), '_', '-' or '.', not starting with '.', at most "
                    f"{MAX_NAME_BYTES} bytes in UTF-8 (it names the report file)")
            if "name" not in doc:
                raise ConfigError(f"{self.path}: the scenario's name is taken from the file name, and {name!r} "
                                  f"cannot be one: it must be {rule}; add name = \"...\" to the file")
            raise self.fail("name", f"must be {rule}, got {name!r}")
        description = doc.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description", "must be a string")
        mix = doc.get("mix", "random")
        if mix not in MIXES:
            raise self.fail("mix", f"must be one of {', '.join(MIXES)}, got {mix!r}")
        self._vars()
        tables = self._tables()
        pools = self._pools()
        for gname, spec in self._table("generators").items():
            self._name(f"generators.{gname}", gname)
            self.named[gname] = self._generator(f"generators.{gname}", spec, pools)
        seeds = tuple(self._seed(table, spec, pools) for table, spec in self._table("seed").items())
        ops_doc = self._table("ops")
        if not ops_doc:
            raise self.fail("ops", "no operation: a scenario needs at least one [ops.NAME]")
        if len(ops_doc) > MAX_OPERATIONS:
            raise self.fail("ops", f"at most {MAX_OPERATIONS} operations")
        operations = tuple(self._operation(n, spec, pools) for n, spec in ops_doc.items())
        if mix == "exact":
            for op in operations:
                if op.weight != int(op.weight):
                    raise self.fail(f"ops.{op.name}.weight", "an exact mix needs integer weights")
            if sum(op.weight for op in operations) > 1_000_000:
                raise self.fail("ops", "an exact mix's weights must sum to at most 1,000,000")
        checks = self._checks({op.name for op in operations}, {s.table for s in seeds})
        return Scenario(self.path, name, description, self.sha256, mix, dict(self.vars), tables, pools,
                        tuple(self.generators), seeds, operations, checks)

    # -- pieces --

    def _table(self, key: str, within: dict[str, Any] | None = None, where: str | None = None) -> dict[str, Any]:
        value = (self.doc if within is None else within).get(key, {})
        if not isinstance(value, dict):
            raise self.fail(where or key, "must be a table")
        return value

    def _name(self, key: str, name: str) -> None:
        if not _NAME.match(name):
            raise self.fail(key, f"{name!r} is not a valid name (letters, digits, _; not starting with a digit)")

    def _vars(self) -> None:
        """Integers, or expressions over the vars above them (``tellers = "10 * scale"``); ``--set``
        overrides a var before the ones below it are worked out."""
        declared = self._table("vars")
        for name in self.overrides:
            if name not in declared:
                known = ", ".join(declared) or "none"
                raise ConfigError(f"--set {name}: {self.path} has no such var (vars: {known})")
        for name, value in declared.items():
            key = f"vars.{name}"
            self._name(key, name)
            if name in self.overrides:
                value = self.overrides[name]
            elif isinstance(value, str):
                _compile_expectation(value, self.vars, set(), set(), lambda m: self.fail(key, m))
                value = evaluate_expectation(value, self.vars, {}, {})
            elif isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(key, "must be an integer or an expression over the vars above it")
            self.vars[name] = value

    def _int(self, key: str, value: Any, minimum: int | None = None) -> int:
        if isinstance(value, str):
            if value not in self.vars:
                raise self.fail(key, f"unknown var {value!r}")
            value = self.vars[value]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer or the name of a var, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        if not -2**63 <= value < 2**63:
            raise self.fail(key, "does not fit in 64 bits")
        return value

    def _number(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {value!r}")
        return float(value)

    def _tables(self) -> tuple[tuple[str, Mapping[str, str]], ...]:
        tables = []
        for name, spec in self._table("tables").items():
            self._name(f"tables.{name}", name)
            tables.append((name, self._sql(f"tables.{name}", spec)))
        self.table_names = {name for name, _ in tables}
        return tuple(tables)

    def _sql(self, key: str, value: Any) -> Mapping[str, str]:
        """SQL given once for every dialect, or per dialect."""
        if isinstance(value, str):
            if not value.strip():
                raise self.fail(key, "is empty")
            return {"*": value}
        if not isinstance(value, dict) or not value:
            raise self.fail(key, "must be SQL text or a table of SQL per dialect (sqlite = ..., postgres = ...)")
        for dialect, sql in value.items():
            if dialect not in self.dialects:
                raise self.fail(f"{key}.{dialect}", f"unknown dialect (expected {', '.join(self.dialects)})")
            if not isinstance(sql, str) or not sql.strip():
                raise self.fail(f"{key}.{dialect}", "must be non-empty SQL text")
        return dict(value)

    def _pools(self) -> dict[str, Pool]:
        pools = {}
        for name, spec in self._table("pools").items():
            key = f"pools.{name}"
            self._name(key, name)
            if not isinstance(spec, dict):
                raise self.fail(key, "must be a table")
            unknown = set(spec) - {"values", "faker", "size", "args"}
            if unknown:
                raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key (expected values, or faker, size, args)")
            if ("values" in spec) == ("faker" in spec):
                raise self.fail(key, "give either values = [...] or faker = \"provider\"")
            if "values" in spec:
                values = spec["values"]
                if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                    raise self.fail(f"{key}.values", "must be a non-empty list of strings")
                pools[name] = Pool(key, values=tuple(values))
                continue
            provider = spec["faker"]
            if not isinstance(provider, str) or not fake_pools.has_provider(provider):
                raise self.fail(f"{key}.faker", f"unknown Faker provider {provider!r}")
            args = spec.get("args", {})
            if not isinstance(args, dict):
                raise self.fail(f"{key}.args", "must be a table of keyword arguments")
            pools[name] = Pool(key, faker=provider, size=self._int(f"{key}.size", spec.get("size", 1000), minimum=1),
                               args=args)
        return pools

    def _generator(self, key: str, spec: Any, pools: Mapping[str, Pool]) -> int:
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table such as {generator = \"uniform\", min = 1, max = 100}")
        kind = spec.get("generator")
        if kind is None:
            raise self.fail(key, f"missing 'generator' (one of {', '.join(GENERATORS)})")
        if kind not in GENERATORS:
            raise self.fail(key, f"unknown generator {kind!r} (known: {', '.join(GENERATORS)})")
        allowed = {"uniform": {"min", "max"}, "zipf": {"n", "alpha", "min", "scatter"},
                   "sequence": {"start", "step", "scope"}, "pool": {"pool"}, "constant": {"value", "null", "var"}}[kind]
        for k in spec:
            if k != "generator" and k != "distinct_from" and k not in allowed:
                raise self.fail(f"{key}.{k}", f"unknown key for a {kind} generator (expected {', '.join(sorted(allowed))})")
        fields: dict[str, Any] = {}
        if kind == "uniform":
            for k in ("min", "max"):
                if k not in spec:
                    raise self.fail(key, f"a uniform generator needs {k}")
                fields[k] = self._int(f"{key}.{k}", spec[k])
            if fields["min"] > fields["max"]:
                raise self.fail(key, f"min {fields['min']} > max {fields['max']}")
        elif kind == "zipf":
            if "n" not in spec:
                raise self.fail(key, "a zipf generator needs n (how many values)")
            fields["n"] = self._int(f"{key}.n", spec["n"], minimum=1)
            if fields["n"] > 2**53:
                raise self.fail(f"{key}.n", "must be at most 2^53")
            alpha = self._number(f"{key}.alpha", spec.get("alpha", 0.0))
            if not alpha >= 0 or alpha == float("inf"):
                raise self.fail(f"{key}.alpha", f"must be a finite number >= 0, got {alpha}")
            fields["alpha"] = alpha
            fields["min"] = self._int(f"{key}.min", spec.get("min", 1))
            scatter = spec.get("scatter", False)
            if not isinstance(scatter, bool):
                raise self.fail(f"{key}.scatter", "must be true or false")
            fields["scatter"] = scatter
        elif kind == "sequence":
            fields["start"] = self._int(f"{key}.start", spec.get("start", 1))
            fields["step"] = self._int(f"{key}.step", spec.get("step", 1))
            scope = spec.get("scope", "session")
            if scope not in ("session", "global"):
                raise self.fail(f"{key}.scope", f"must be session or global, got {scope!r}")
            fields["global"] = scope == "global"
        elif kind == "pool":
            pool = spec.get("pool")
            if pool not in pools:
                raise self.fail(f"{key}.pool", f"unknown pool {pool!r} (pools: {', '.join(pools) or 'none'})")
            fields["pool"] = pool
        else:
            given = [k for k in ("value", "var", "null") if k in spec]
            if len(given) != 1 or spec.get("null", True) is not True:
                raise self.fail(key, "a constant needs one of value = ..., var = \"NAME\" or null = true")
            if "null" in spec:
                fields["value"] = None
            elif "var" in spec:
                if not isinstance(spec["var"], str):
                    raise self.fail(f"{key}.var", "must name a var")
                fields["value"] = self._int(f"{key}.var", spec["var"])
            else:
                value = spec["value"]
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise self.fail(f"{key}.value", "must be a string, an integer or a number")
                fields["value"] = value
        self.generators.append(Generator(key, kind, fields))
        return len(self.generators) - 1

    def _params(self, key: str, spec: Any, pools: Mapping[str, Pool]) -> tuple[Param, ...]:
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table of parameters")
        params: list[Param] = []
        for pname, pspec in spec.items():
            pkey = f"{key}.{pname}"
            self._name(pkey, pname)
            distinct = None
            if isinstance(pspec, str):
                if pspec not in self.named:
                    raise self.fail(pkey, f"unknown generator {pspec!r} (named generators: {', '.join(self.named) or 'none'})")
                index = self.named[pspec]
            elif isinstance(pspec, dict) and "use" in pspec:
                unknown = set(pspec) - {"use", "distinct_from"}
                if unknown:
                    raise self.fail(f"{pkey}.{sorted(unknown)[0]}", "unknown key (with use: only distinct_from)")
                if pspec["use"] not in self.named:
                    raise self.fail(f"{pkey}.use", f"unknown generator {pspec['use']!r}")
                index = self.named[pspec["use"]]
                distinct = pspec.get("distinct_from")
            else:
                index = self._generator(pkey, pspec, pools)
                distinct = pspec.get("distinct_from")
            if distinct is not None:
                earlier = [p.name for p in params]
                if distinct not in earlier:
                    raise self.fail(f"{pkey}.distinct_from", f"must name an earlier parameter (got {distinct!r})")
                g = self.generators[index]
                ranged = (g.kind == "zipf" and g.fields["n"] > 1) or (g.kind == "uniform" and g.fields["max"] > g.fields["min"])
                if not ranged:
                    raise self.fail(f"{pkey}.distinct_from", "needs a zipf or uniform generator of more than one value")
            params.append(Param(pname, index, distinct))
        return tuple(params)

    def _statement(self, key: str, spec: Any) -> Statement:
        reject = False
        if isinstance(spec, dict) and "sql" in spec:
            unknown = set(spec) - {"sql", "reject_when"}
            if unknown:
                raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key (expected sql, reject_when)")
            when = spec.get("reject_when")
            if when not in (None, "no rows"):
                raise self.fail(f"{key}.reject_when", f"must be \"no rows\", got {when!r}")
            reject = when == "no rows"
            spec = spec["sql"]
        return Statement(key, self._sql(key, spec), reject)

    def _check_params_used(self, key: str, statements: tuple[Statement, ...], params: tuple[Param, ...]) -> None:
        declared = {p.name for p in params}
        used: set[str] = set()
        for st in statements:
            for dialect, sql in st.sql.items():
                for name in parameter_names(sql):
                    if name not in declared:
                        where = st.key if dialect == "*" else f"{st.key}.{dialect}"
                        raise self.fail(where, f"parameter :{name} is not declared in {key}.params")
                    used.add(name)
        for p in params:
            if p.name not in used:
                raise self.fail(f"{key}.params.{p.name}", "is declared but no statement uses it")

    def _seed(self, table: str, spec: Any, pools: Mapping[str, Pool]) -> Seed:
        key = f"seed.{table}"
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        unknown = set(spec) - {"rows", "sql", "params"}
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key (expected rows, sql, params)")
        if table not in self.table_names:
            raise self.fail(key, f"no table {table!r} in [tables]")
        for k in ("rows", "sql"):
            if k not in spec:
                raise self.fail(key, f"missing {k}")
        rows = self._int(f"{key}.rows", spec["rows"], minimum=0)
        statement = self._statement(f"{key}.sql", spec["sql"])
        params = self._params(f"{key}.params", spec.get("params", {}), pools)
        self._check_params_used(key, (statement,), params)
        return Seed(table, rows, statement, params)

    def _operation(self, name: str, spec: Any, pools: Mapping[str, Pool]) -> Operation:
        key = f"ops.{name}"
        self._name(key, name)
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        unknown = set(spec) - {"weight", "transaction", "sql", "statements", "params", "keys"}
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}",
                            "unknown key (expected weight, transaction, sql, statements, params, keys)")
        weight = self._number(f"{key}.weight", spec.get("weight", 1))
        if not 0 < weight < float("inf"):
            raise self.fail(f"{key}.weight", f"must be > 0, got {spec.get('weight')}")
        transaction = spec.get("transaction", False)
        if not isinstance(transaction, bool):
            raise self.fail(f"{key}.transaction", "must be true or false")
        if ("sql" in spec) == ("statements" in spec):
            raise self.fail(key, "give either sql = \"...\" (one statement) or statements = [...]")
        statements: tuple[Statement, ...]
        if "sql" in spec:
            statements = (self._statement(f"{key}.sql", spec["sql"]),)
        else:
            items = spec["statements"]
            if not isinstance(items, list) or not items:
                raise self.fail(f"{key}.statements", "must be a non-empty list")
            statements = tuple(self._statement(f"{key}.statements[{i}]", s) for i, s in enumerate(items))
        params = self._params(f"{key}.params", spec.get("params", {}), pools)
        self._check_params_used(key, statements, params)
        keys = spec.get("keys")
        if keys is None:  # the first two zipf or uniform parameters
            keys = [p.name for p in params if self.generators[p.generator].kind in ("zipf", "uniform")][:2]
        if not isinstance(keys, list) or len(keys) > 2:
            raise self.fail(f"{key}.keys", "must be a list of at most 2 parameter names")
        by_name = {p.name: p for p in params}
        for k in keys:
            if k not in by_name:
                raise self.fail(f"{key}.keys", f"{k!r} is not a parameter of {key}")
            if self.generators[by_name[k].generator].kind not in ("zipf", "uniform", "sequence"):
                raise self.fail(f"{key}.keys", f"{k!r} is not an integer parameter (zipf, uniform or sequence)")
        return Operation(name, weight, transaction, params, statements, tuple(keys))

    def _checks(self, operations: set[str], seeds: set[str]) -> tuple[Check, ...]:
        items = self.doc.get("verify", [])
        if not isinstance(items, list):
            raise self.fail("verify", "must be an array of tables: [[verify]]")
        checks = []
        for i, spec in enumerate(items):
            key = f"verify[{i}]"
            if not isinstance(spec, dict):
                raise self.fail(key, "must be a table")
            unknown = set(spec) - {"name", "sql", "expect", "expect_sql"}
            if unknown:
                raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key (expected name, sql, expect, expect_sql)")
            sql = spec.get("sql")
            if not isinstance(sql, str) or not sql.strip():
                raise self.fail(f"{key}.sql", "must be a query")
            if ("expect" in spec) == ("expect_sql" in spec):
                raise self.fail(key, "give either expect (a value) or expect_sql (a query)")
            expect = spec.get("expect")
            if isinstance(expect, str):
                _compile_expectation(expect, self.vars, operations, seeds, lambda m: self.fail(f"{key}.expect", m))
            elif expect is not None and (isinstance(expect, bool) or not isinstance(expect, int)):
                raise self.fail(f"{key}.expect", "must be an integer or an expression such as \"seeded(users) + committed(new_user)\"")
            expect_sql = spec.get("expect_sql")
            if expect_sql is not None and (not isinstance(expect_sql, str) or not expect_sql.strip()):
                raise self.fail(f"{key}.expect_sql", "must be a query")
            checks.append(Check(key, str(spec.get("name", sql.strip())), sql, expect, expect_sql))
        return tuple(checks)


# --- expectations -------------------------------------------------------------------------------

def _compile_expectation(text: str, variables: Mapping[str, int], operations: set[str], seeds: set[str],
                         fail: Callable[[str], ConfigError]) -> ast.Expression:
    """Validates an integer expression: + - * and parentheses over integers, vars,
    ``seeded(TABLE)`` and ``committed(OP)``. Returns the parsed tree."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise fail(f"cannot parse {text!r}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in ("seeded", "committed") and len(node.args) == 1
                    and not node.keywords and isinstance(node.args[0], ast.Name)):
                raise fail(f"{text!r}: only seeded(TABLE) and committed(OPERATION) may be called")
            arg = node.args[0].id
            if node.func.id == "seeded" and arg not in seeds:
                raise fail(f"{text!r}: no [seed.{arg}]")
            if node.func.id == "committed" and arg not in operations:
                raise fail(f"{text!r}: no operation {arg!r}")
        elif isinstance(node, ast.Name):
            continue  # checked below, outside calls
        elif not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.USub,
                                   ast.UAdd, ast.Load)) and not (isinstance(node, ast.Constant) and isinstance(node.value, int)):
            raise fail(f"{text!r}: only integers, vars, + - * and seeded()/committed() are allowed")
    called = {id(n.args[0]) for n in ast.walk(tree) if isinstance(n, ast.Call)} | \
             {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in called and node.id not in variables:
            raise fail(f"{text!r}: unknown var {node.id!r}")
    return tree


def evaluate_expectation(text: str | int, variables: Mapping[str, int], seeded: Mapping[str, int],
                         committed: Mapping[str, int]) -> int:
    """The value of an ``expect`` (validated at load) with the given counts."""
    if isinstance(text, int):
        return text
    tree = ast.parse(text, mode="eval")

    def value(node: Any) -> int:  # an ast node of an expression validated at load
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            return cast(int, node.value)  # validated at load: an integer
        if isinstance(node, ast.Name):
            return variables[node.id]
        if isinstance(node, ast.Call):
            called = cast(ast.Name, node.func).id
            return (seeded if called == "seeded" else committed)[cast(ast.Name, node.args[0]).id]
        if isinstance(node, ast.UnaryOp):
            return -value(node.operand) if isinstance(node.op, ast.USub) else value(node.operand)
        left, right = value(node.left), value(node.right)
        return left + right if isinstance(node.op, ast.Add) else left - right if isinstance(node.op, ast.Sub) else left * right

    return value(tree)
