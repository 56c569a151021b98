"""Reading JSON that loadbench did not necessarily write: reports and ``results.jsonl`` lines that
people pass around. Whatever a file holds, reading it costs bounded time and memory and ends in
the document or in one line saying what is wrong with it.

The limits (the README lists them):

- a report file: at most :data:`MAX_REPORT_BYTES`; a ``results.jsonl`` line: at most
  :data:`MAX_LINE_BYTES`; either: at most :data:`MAX_VALUES` values (all checked before parsing);
- nesting: at most :data:`MAX_DEPTH` levels of arrays and objects (a report has 8);
- numbers: finite (``NaN``, ``Infinity`` and overflowing ones such as ``1e999`` are refused: JSON has
  no such numbers, though Python's json module reads and writes them), integers of at most 20
  digits;
- histograms: see :func:`loadbench.report.histogram.check_stored`.

Schema validation of long arrays (per-second series, histogram buckets, resource samples) goes
through :func:`fast_validator`: each array item is checked by a plain function generated from the
item's own schema, many times faster than jsonschema's general walk, so a long report loads in
seconds, not minutes; an item it refuses, and any schema it does not handle, go to jsonschema.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonschema

from loadbench.errors import ConfigError

MAX_REPORT_BYTES = 64 * 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024
# What parsing costs is the values it builds (a [value, count] bucket is three: ~130 bytes of Python
# objects for ~15 bytes of text), so they are bounded too, counted from the text before parsing.
# 5 M: about 40 connector-hours of per-second data (series, timeSeries and keynote-2's copy of it in
# results, resource samples: ~34 values a second), or 1.6 M histogram buckets; parsing that takes
# about 3 s and 250 MB.
MAX_VALUES = 5_000_000
MAX_DEPTH = 64
MAX_DIGITS = 20  # 2^64 - 1, the largest seed, has 20

class Refused(ValueError):
    """A document beyond the limits; the message says which."""


def read_limited(path: Path, what: str, limit: int = MAX_REPORT_BYTES) -> str:
    """The text of ``path`` (UTF-8), read only up to ``limit`` bytes: a larger, missing, unreadable
    or non-UTF-8 file is a one-line ConfigError naming ``what`` it should have been."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ConfigError(f"{what} {path} is larger than {limit // (1024 * 1024)} MiB, the most loadbench reads")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None


def _no_constant(name: str) -> Any:
    raise Refused(f"holds {name}, which is not a JSON number (only finite numbers are)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused(f"holds the number {text[:40]}, beyond the range of a double")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise Refused(f"holds a number of more than {MAX_DIGITS} digits")
    return int(text)


def _check_depth(doc: Any) -> None:
    """Arrays and objects at most MAX_DEPTH deep (iteratively: the check itself cannot recurse)."""
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Refused(f"nests arrays and objects deeper than {MAX_DEPTH} levels")
        for value in node.values() if type(node) is dict else node:
            if type(value) is dict or type(value) is list:
                stack.append((value, depth + 1))


def parse(text: str) -> Any:
    """JSON within the limits above; raises :class:`Refused` (beyond them) or json.JSONDecodeError."""
    # Every value but the first of an array or object follows a comma; arrays and objects open with
    # a bracket. Commas and brackets inside strings count too: the bound errs on the safe side.
    values = text.count(",") + text.count("[") + text.count("{")
    if values > MAX_VALUES:
        raise Refused(f"holds about {values:,} values, more than the {MAX_VALUES:,} loadbench reads")
    try:
        doc = json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded_int)
    except RecursionError:  # the C parser stops at the interpreter's recursion limit (about 1000)
        raise Refused(f"nests arrays and objects deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        if isinstance(exc, (Refused, json.JSONDecodeError)):
            raise
        raise Refused(str(exc)) from None
    if type(doc) is dict or type(doc) is list:
        _check_depth(doc)
    return doc


# --- schema validation with a fast path for long arrays ------------------------------------------

FAST_ITEMS_FROM = 16  # arrays shorter than this go through jsonschema as usual

_ANNOTATIONS = {"description", "title", "$comment", "format", "examples", "default"}
_SUPPORTED = _ANNOTATIONS | {"type", "properties", "required", "additionalProperties", "minimum", "maximum",
                             "exclusiveMinimum", "exclusiveMaximum", "enum", "const", "$ref", "items",
                             "prefixItems", "minItems", "maxItems", "propertyNames"}
# jsonschema's types: a bool is no number, and 1.0 is an integer.
_TYPE_TESTS = {
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
    "string": "type({v}) is str",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
    "number": "(type({v}) is int or type({v}) is float)",
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",
}
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _same(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema has it: true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and bool(a == b)
    return bool(a == b)


class _Unsupported(Exception):
    pass


class _Generator:
    """Python source of a function ``ok(item) -> bool`` that accepts exactly what an item schema
    accepts, for the subset of JSON Schema the report schemas use in their arrays (the keywords in
    ``_SUPPORTED``); anything else raises _Unsupported."""

    def __init__(self, resolve: Callable[[str], Any]):
        self.resolve = resolve
        self.lines: list[str] = []
        self.constants: list[Any] = []
        self.names = 0

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def var(self) -> str:
        self.names += 1
        return f"v{self.names}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def node(self, schema: Any, v: str, depth: int, nesting: int = 0) -> None:
        if schema is True or schema == {}:
            return
        if schema is False:
            self.emit(depth, "return False")
            return
        if not isinstance(schema, dict) or nesting > 16 or set(schema) - _SUPPORTED:
            raise _Unsupported
        if "$ref" in schema:
            if set(schema) - _ANNOTATIONS - {"$ref"}:
                raise _Unsupported
            self.node(self.resolve(schema["$ref"]), v, depth, nesting + 1)
            return
        if "type" in schema:
            names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
            self.emit(depth, f"if not ({' or '.join(_TYPE_TESTS[n].format(v=v) for n in names)}): return False")
        if "const" in schema:
            self.emit(depth, f"if not _same({v}, {self.constant(schema['const'])}): return False")
        if "enum" in schema:
            self.emit(depth, f"if not any(_same({v}, e) for e in {self.constant(list(schema['enum']))}): return False")
        number = _TYPE_TESTS["number"].format(v=v)
        for key, op in _BOUNDS.items():
            if key in schema:
                bound = schema[key]
                if type(bound) not in (int, float):
                    raise _Unsupported
                self.emit(depth, f"if {number} and not ({v} {op} {bound!r}): return False")
        if {"properties", "required", "additionalProperties", "propertyNames"} & set(schema):
            self.emit(depth, f"if type({v}) is dict:")
            self.emit(depth + 1, "pass")
            required = list(schema.get("required", ()))
            if required:
                self.emit(depth + 1, f"if not {self.constant(frozenset(required))} <= {v}.keys(): return False")
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties", True)
            if extra is False:
                self.emit(depth + 1, f"if not {v}.keys() <= {self.constant(frozenset(properties))}: return False")
            elif extra is not True:
                # A schema for the values of keys not in properties (counts by kind: {kind: count}).
                key, value = self.var(), self.var()
                self.emit(depth + 1, f"for {key}, {value} in {v}.items():")
                self.emit(depth + 2, f"if {key} in {self.constant(frozenset(properties))}: continue")
                self.node(extra, value, depth + 2, nesting + 1)
            if "propertyNames" in schema:
                key = self.var()
                self.emit(depth + 1, f"for {key} in {v}:")
                self.emit(depth + 2, "pass")
                self.node(schema["propertyNames"], key, depth + 2, nesting + 1)
            for key, sub in properties.items():
                inner = self.var()
                self.emit(depth + 1, f"{inner} = {v}.get({key!r}, _MISSING)")
                self.emit(depth + 1, f"if {inner} is not _MISSING:")
                self.emit(depth + 2, "pass")
                self.node(sub, inner, depth + 2, nesting + 1)
        if {"items", "prefixItems", "minItems", "maxItems"} & set(schema):
            self.emit(depth, f"if type({v}) is list:")
            self.emit(depth + 1, "pass")
            if "minItems" in schema:
                self.emit(depth + 1, f"if len({v}) < {int(schema['minItems'])}: return False")
            if "maxItems" in schema:
                self.emit(depth + 1, f"if len({v}) > {int(schema['maxItems'])}: return False")
            prefix = schema.get("prefixItems", [])
            for i, sub in enumerate(prefix):
                inner = self.var()
                self.emit(depth + 1, f"if len({v}) > {i}:")
                self.emit(depth + 2, f"{inner} = {v}[{i}]")
                self.node(sub, inner, depth + 2, nesting + 1)
            if "items" in schema:
                inner = self.var()
                self.emit(depth + 1, f"for {inner} in {v}[{len(prefix)}:]:")
                self.emit(depth + 2, "pass")
                self.node(schema["items"], inner, depth + 2, nesting + 1)

    def function(self, schema: Any) -> Callable[[Any], bool]:
        self.emit(1, "pass")
        self.node(schema, "v0", 1)
        self.emit(1, "return True")
        source = "def ok(v0):\n" + "\n".join(self.lines) + "\n"
        namespace = {"K": self.constants, "_same": _same, "_MISSING": object()}
        exec(compile(source, "<item schema>", "exec"), namespace)  # source built above from the schema, not input
        ok: Callable[[Any], bool] = namespace["ok"]  # type: ignore[assignment]
        return ok


def _pointer(doc: Any, fragment: str) -> Any:
    node = doc
    for part in [p for p in fragment.lstrip("/").split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def fast_validator(validator_class: Any, docs: dict[str, dict[str, Any]], kind: str) -> jsonschema.protocols.Validator:
    """A validator for ``docs[kind]`` (schemas by name, each with its ``$id``) whose ``items``
    keyword first checks a long array with a function generated from the item schema; only an item
    that function refuses goes through jsonschema, which then gives the error (or, should the two
    ever differ, the verdict: the function may refuse more, never accept more)."""
    by_id = {doc["$id"]: doc for doc in docs.values()}
    compiled: dict[int, Callable[[Any], bool] | None] = {}

    def walk(node: Any, root: dict[str, Any]) -> None:
        if isinstance(node, dict):
            items = node.get("items")
            if isinstance(items, dict) and id(items) not in compiled:
                def resolve(ref: str, root: dict[str, Any] = root) -> Any:
                    base, _, fragment = ref.partition("#")
                    return _pointer(by_id[base] if base else root, fragment)
                try:
                    compiled[id(items)] = _Generator(resolve).function(items)
                except (_Unsupported, KeyError, IndexError, ValueError, TypeError):
                    compiled[id(items)] = None
            for value in node.values():
                walk(value, root)
        elif isinstance(node, list):
            for value in node:
                walk(value, root)

    for doc in docs.values():
        walk(doc, doc)
    standard_items = validator_class.VALIDATORS["items"]

    def items(validator: Any, items_schema: Any, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
        ok = compiled.get(id(items_schema))
        if ok is None or not isinstance(instance, list) or len(instance) < FAST_ITEMS_FROM:
            yield from standard_items(validator, items_schema, instance, schema)
            return
        for i in range(len(schema.get("prefixItems", ())), len(instance)):
            if not ok(instance[i]):
                errors = list(validator.descend(instance[i], items_schema, path=i))
                if errors:
                    yield from errors
                    return

    from referencing import Registry, Resource

    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs.values())
    extended = jsonschema.validators.extend(validator_class, {"items": items})
    return extended(docs[kind], registry=registry)
