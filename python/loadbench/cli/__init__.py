"""The command line: ``loadbench`` (:func:`main`), its commands (:mod:`loadbench.cli.commands`),
the demo, the live display and the bundled rpc server's command side."""

from loadbench.cli.commands import cli, main

__all__ = ["cli", "main"]
