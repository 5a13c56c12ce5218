"""Orders: intents and their wire body, the order state machine, fills, positions (pure), and the
executor, its journal and start-up reconciliation (adapters).
"""

__all__: list[str] = []
