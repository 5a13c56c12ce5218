"""Risk: the pre-trade engine and kill switch (``engine``, pure) and its wiring to a persisted kill
switch and order cancellation (``gate``).
"""

__all__: list[str] = []
