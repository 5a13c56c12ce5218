"""Paper trading: a simulated broker fed by real (or recorded) market data.

See docs/paper.md. The pure parts (fill model, exchange state) live beside the
simulator's engine and share its rules; the adapters (journal, broker wiring,
replay) keep I/O out of them.
"""

__all__: list[str] = []
