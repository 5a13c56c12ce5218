"""Type stub of the compiled level loop (``_l2kernel.pyx``); see ``botkit.market.book``."""

from typing import Any

KERNEL_VERSION: int
SOURCE_SHA256: str
DONE: int
DONE_CROSSED: int

def bind_level_type(cls: type) -> bool: ...
def apply_levels(book: Any, ups: list[Any], start: int = 0) -> int: ...
