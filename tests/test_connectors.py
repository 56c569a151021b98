"""The connector registry: Python's kinds are the core's, and a system is known in one module only
(loadbench/connectors/<system>.py), so adding one needs no edit elsewhere in the package."""

from __future__ import annotations

import ast
from pathlib import Path

import loadbench
from loadbench import _core, connectors
from tests.conftest import _SETTINGS

PACKAGE = Path(loadbench.__file__).parent

# Literals outside connectors/ that equal a connector's name, each unavoidable:
ALLOWED = {
    # The bundled rpc server (C++, cpp/net/rpc_server) has a SQLite and a PostgreSQL backend and
    # no other: its --backend choices are the server's, not the registry's.
    ("cli/commands.py", "sqlite"),
    ("cli/commands.py", "postgres"),
    # Not the null connector: JSON Schema's type name "null", and a scenario file's constant
    # generator key (`null = true`).
    ("report/untrusted.py", "null"),
    ("scenarios/files.py", "null"),
}


def test_the_python_kinds_are_the_cores():
    assert sorted(connectors.KINDS) == sorted(_core.connector_kinds())


def test_every_module_declares_what_the_registry_reads():
    for module in connectors.MODULES:
        assert module.TYPES and all(t.name for t in module.TYPES), module.__name__
        assert all(p.kind == module.KIND for p in module.PRESETS), module.__name__
        assert module.BASE_PRESET is None or module.BASE_PRESET in {p.id for p in module.PRESETS}


def test_names_presets_flags_and_dialects_are_unique():
    names = [t.name for m in connectors.MODULES for t in m.TYPES]
    assert len(names) == len(set(names))
    presets = [p.id for m in connectors.MODULES for p in m.PRESETS]
    assert len(presets) == len(set(presets))
    dests = [f.dest for f in connectors.flags()]
    assert len(dests) == len(set(dests))
    dialects = [d.name for m in connectors.MODULES for d in m.DIALECTS]
    assert len(dialects) == len(set(dialects))


def test_the_tests_clear_every_setting_a_connector_reads():
    # tests/conftest.py drops these from the environment of every command it runs.
    assert set(connectors.env_vars()) - {"LOADBENCH_DB_DIR"} <= set(_SETTINGS)


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_module_outside_connectors_names_a_connector():
    known = set(connectors.KINDS) | set(connectors.CONNECTOR_TYPES) | set(connectors.sql_dialects())
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("connectors/"):
            continue
        for line, text in _string_literals(ast.parse(path.read_text(encoding="utf-8"))):
            if text in known and (rel, text) not in ALLOWED:
                found.append(f"{rel}:{line}: {text!r}")
    assert found == []


def test_the_check_sees_a_connector_named_outside_connectors():
    # The check above is only worth something if it finds what it looks for.
    tree = ast.parse('"""sqlite in a docstring is prose."""\nif spec.kind == "sqlite":\n    pass\n')
    assert [text for _, text in _string_literals(tree)] == ["sqlite"]
