"""The analysis notebook runs top to bottom on the reports of a short run, so it cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "analysis.ipynb"


def test_the_analysis_notebook_executes_on_fresh_reports(sample_runs, monkeypatch):
    monkeypatch.setenv("LOADBENCH_RUNS_DIR", str(sample_runs.runs))  # the kernel inherits it
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "2 reports, 10 connector runs" in text
    # Histograms are merged per connector *and settings*: the labels carry each run's settings.
    single = next(p for p in sample_runs.reports() if "sweep" not in p.name)
    for entry in json.loads(single.read_text())["connectors"]:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(entry["settings"].items()))
        label = ", ".join(part for part in (entry["name"], settings) if part)
        assert f"{label}, concurrency=" in text, (label, text)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # Latest run: TPS, percentiles, timeline; merged CDF; sweep: TPS and p99 vs alpha.
    assert len(images) == 6
