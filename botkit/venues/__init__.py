"""Venue folders: everything specific to one exchange API. Only the wiring (runtime venue opening,
the simulator, the CLI) and the modules listed in tests/test_architecture.py import them.
"""

__all__: list[str] = []
