"""The write test's results files: ``results/<configuration-id>.json``, one per configuration
preset, one entry per concurrency level, in the shape existing consumers read (camelCase; times in
ms), described by ``schema/results-v1.schema.json``. Built from the run report's entries, so the
two never disagree.

- ``writesPerSecond``: committed writes / measured seconds (the window closes when the last of the
  level's writes completes).
- ``avgWriteTime``, ``minWriteTime``, ``maxWriteTime``, ``p95``, ``p99``: latency of the writes that
  completed (committed or rejected), retries included, ms.
- ``errorCount``: writes that failed after their retries (by kind in ``errorsByKind``).
- ``totalDuration``: the measured window, ms.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from loadbench.report.store import write_atomic


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("loadbench.report").joinpath("schema/results-v1.schema.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def validate(doc: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when ``doc`` does not follow the results schema."""
    jsonschema.validate(doc, schema())


def configuration_ids(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(connector, preset) -> the results file's id: the preset, or connector-preset where one preset
    ran on several connectors."""
    pairs = {(e["name"], e.get("configuration_id") or e["name"]) for e in report["connectors"]}
    connectors_per_preset = Counter(preset for _, preset in pairs)
    return {pair: pair[1] if connectors_per_preset[pair[1]] == 1 else f"{pair[0]}-{pair[1]}" for pair in pairs}


def build(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The results documents of a write report, by configuration id."""
    ids = configuration_ids(report)
    total = report["parameters"]["operations"]
    docs: dict[str, dict[str, Any]] = {}
    for entry in report["connectors"]:
        config_id = ids[(entry["name"], entry.get("configuration_id") or entry["name"])]
        doc = docs.setdefault(config_id, {
            "testName": report["test"],
            "configurationId": config_id,
            "timestamp": report["started_at"],
            "connector": entry["name"],
            "settings": entry["settings"],
            "configurations": [],
            "failures": [],
        })
        if entry["status"] == "failed":
            doc["failures"].append(entry["error"])
            if "latency" not in entry:
                continue  # it could not run: nothing measured
            # It ran and failed by the rule (no commit, or too many failures): its figures stay.
        lat = entry["latency"]
        verification = entry["verification"]
        doc["configurations"].append({
            "concurrency": entry["sessions"],
            "totalWrites": total,
            "successfulWrites": entry["committed"],
            "errorsByKind": entry["errors"],
            "verified": verification["passed"] if verification["checked"] else None,
            "metrics": {
                "avgWriteTime": lat["mean"],
                "minWriteTime": lat["min"],
                "maxWriteTime": lat["max"],
                "p95": lat["p95"],
                "p99": lat["p99"],
                "writesPerSecond": entry["tps"],
                "errorCount": entry["failed"],
                "totalDuration": round(entry["measured_seconds"] * 1000, 3),
            },
        })
    return docs


def write_all(report: dict[str, Any], results_dir: Path) -> tuple[Path, ...]:
    """Validates and writes every results file of the report (atomically); returns their paths."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for config_id, doc in build(report).items():
        validate(doc)
        path = results_dir / f"{config_id}.json"
        write_atomic(path, json.dumps(doc, indent=1, allow_nan=False))
        paths.append(path)
    return tuple(paths)


def load(path: Path) -> dict[str, Any]:
    """Reads and validates one results file."""
    doc: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    validate(doc)
    return doc
