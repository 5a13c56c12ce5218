"""Backtest: replay a recording through the real bot on a virtual clock (``runner``)."""

__all__: list[str] = []
