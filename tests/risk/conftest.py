"""The strategy tests' fixtures (the real simulator, executor and a context factory), for the
protections test that runs through a strategy context."""

from __future__ import annotations

from tests.strategy.conftest import executor, make_context, manual_clock, sim

__all__ = ["executor", "make_context", "manual_clock", "sim"]
