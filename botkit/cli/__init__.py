"""The ``botkit`` command line: ``main`` parses and dispatches; one module per command group
(``run``: run / strategies / new-strategy; ``paper``: record / backtest; ``doctor``)."""

from __future__ import annotations

from typing import Any

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    # lazy, so importing one command module does not import every other one
    if name == "main":
        from botkit.cli.main import main

        return main
    raise AttributeError(name)
