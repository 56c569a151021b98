"""loadbench: a repeatable database load test with a native engine.

Public API: :mod:`loadbench.run.config` (run plans), :mod:`loadbench.run.core` (one run),
:mod:`loadbench.runner` (prep, run, verify, report), :mod:`loadbench.report.build` (read and write
reports), :mod:`loadbench.report.histogram` (stored latency histograms), :mod:`loadbench.scenarios.files`
(scenarios in TOML files), :mod:`loadbench.run.presets` (configuration presets), :mod:`loadbench.report.configuration_results`
(the write test's results files). ``loadbench._core`` is private.
"""

__version__ = "0.1.0"
