"""Datasets for candle backtests and studies: downloaded history or a seeded walk.

``--data`` names one product's candles at one granularity:

* a series folder of ``botkit download`` (docs/data.md):
  ``botkit-data/history/coinbase/BTC-USD/ONE_HOUR``;
* ``PRODUCT/GRANULARITY`` (or ``SOURCE/PRODUCT/GRANULARITY``), looked up under
  ``<data_dir>/history`` (``coinbase`` when no source is given);
* ``synthetic:N[:SEED]``: N one-minute candles of a seeded random walk (BTC-USD), to try
  things offline.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from botkit.backtest.candles import CandleSeries
from botkit.backtest.synthetic import synthetic_series
from botkit.errors import ConfigError

__all__ = ["load_dataset"]


def load_dataset(
    spec: str,
    *,
    data_dir: Path = Path("botkit-data"),
    start: int | None = None,
    end: int | None = None,
    product_id: str | None = None,
) -> CandleSeries:
    """The candles ``spec`` names, within ``[start, end)`` when given.

    Raises:
        ConfigError: nothing there (the message says how to download it).
    """
    from botkit.history.ranges import granularity_seconds
    from botkit.history.store import DEFAULT_SOURCE, iter_rows

    if spec.startswith("synthetic:"):
        parts = spec.split(":")
        try:
            n = int(parts[1])
            seed = int(parts[2]) if len(parts) > 2 else 1
        except (IndexError, ValueError):
            raise ConfigError(f"--data {spec!r}: write synthetic:N or synthetic:N:SEED") from None
        return synthetic_series(n, seed=seed, product_id=product_id or "BTC-USD")
    path = Path(spec)
    if not path.is_dir():
        bits = spec.strip("/").split("/")
        if len(bits) == 2:
            bits = [DEFAULT_SOURCE, *bits]
        if len(bits) != 3:
            raise ConfigError(
                f"--data {spec!r} is not a folder; write a series folder of botkit download, "
                "PRODUCT/GRANULARITY (e.g. BTC-USD/ONE_HOUR) or synthetic:N"
            )
        path = data_dir / "history" / bits[0] / bits[1] / bits[2]
    granularity, product, source = path.name, path.parent.name, path.parent.parent.name
    root = path.parent.parent.parent
    try:
        seconds = granularity_seconds(granularity)
    except ValueError as exc:
        raise ConfigError(
            f"--data {spec!r}: {exc}. Fix: name a series folder of botkit download "
            "(history/SOURCE/PRODUCT/GRANULARITY), PRODUCT/GRANULARITY or synthetic:N"
        ) from None
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"--end is not after --start: no candles in [{start}, {end})")
    rows = list(iter_rows(root, product, granularity, start or 0, end or 2**62, source=source))
    if not rows:
        where = ""
        if root.parent != Path("botkit-data"):  # download writes DATA_DIR/history/...
            where += f" --data-dir {root.parent}"
        if source != DEFAULT_SOURCE:  # --source only names the folder: the URL says where from
            where += f" --source {source} --rest-url <{source}'s REST URL>"
        raise ConfigError(
            f"no {product} {granularity} candles in {path}: fetch them with "
            f"'botkit download{where} --products {product} --granularity {granularity} "
            "--days 30'"
        )
    return CandleSeries(
        product,
        seconds,
        [r[0] for r in rows],
        [Decimal(r[1]) for r in rows],
        [Decimal(r[2]) for r in rows],
        [Decimal(r[3]) for r in rows],
        [Decimal(r[4]) for r in rows],
        [Decimal(r[5]) for r in rows],
    )
