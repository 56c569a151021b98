"""loadbench: a repeatable database load test with a native engine.

Public API: :mod:`loadbench.config` (run plans), :mod:`loadbench.engine` (one run),
:mod:`loadbench.runner` (prep, run, verify, report), :mod:`loadbench.reports` (read and write
reports), :mod:`loadbench.histogram` (stored latency histograms), :mod:`loadbench.scenario_files`
(scenarios in TOML files), :mod:`loadbench.presets` (configuration presets), :mod:`loadbench.results`
(the write test's results files). ``loadbench._core`` is private.
"""

__version__ = "0.1.0"
