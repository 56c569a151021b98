"""loadbench: a repeatable database load test with a native engine.

Public API: :mod:`loadbench.run.config` (run plans), :mod:`loadbench.run.core` (one run),
:mod:`loadbench.run.runner` (prep, run, verify), :mod:`loadbench.report.build` (reports from runs),
:mod:`loadbench.report.store` (read and write reports), :mod:`loadbench.report.table` (reports as rows and
DataFrames: ``load_all``), :mod:`loadbench.report.histogram` (stored latency histograms), :mod:`loadbench.scenarios.files`
(scenarios in TOML files), :mod:`loadbench.run.presets` (configuration presets), :mod:`loadbench.report.configuration_results`
(the write test's results files). ``loadbench._core`` is private.
"""

__version__ = "0.1.0"
