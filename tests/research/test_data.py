"""--data: downloaded history (botkit.history's on-disk layout) and the synthetic walk."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from botkit.errors import ConfigError
from botkit.history.store import series_dir, store_candles
from botkit.research.data import load_dataset


def _store(root: Path) -> None:
    rows = [
        (1_767_225_600 + 3600 * i, "100.5", "105", "99.25", f"{100 + i}", "1.5") for i in range(5)
    ]
    directory = series_dir(root / "history", "BTC-USD", "ONE_HOUR")
    store_candles(directory, "ONE_HOUR", [((rows[0][0], rows[-1][0] + 3600), rows)])


def test_a_downloaded_series_by_folder_and_by_product_granularity(tmp_path):
    _store(tmp_path)
    by_name = load_dataset("BTC-USD/ONE_HOUR", data_dir=tmp_path)
    folder = tmp_path / "history" / "coinbase" / "BTC-USD" / "ONE_HOUR"
    by_folder = load_dataset(str(folder))
    assert by_name == by_folder
    assert by_name.product_id == "BTC-USD" and by_name.granularity == 3600
    assert len(by_name) == 5 and by_name.close[-1] == Decimal("104")
    assert by_name.low[0] == Decimal("99.25")
    cut = load_dataset("BTC-USD/ONE_HOUR", data_dir=tmp_path, start=1_767_225_600 + 3600,
                       end=1_767_225_600 + 3 * 3600)  # fmt: skip
    assert list(cut.start) == [1_767_229_200, 1_767_232_800]


def test_missing_history_says_how_to_download_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default data directory, botkit-data, in here
    with pytest.raises(ConfigError, match="botkit download --products ETH-USD --granularity"):
        load_dataset("ETH-USD/ONE_MINUTE")
    with pytest.raises(ConfigError, match="unknown granularity"):
        load_dataset("ETH-USD/ONE_WEEK", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="synthetic:N"):
        load_dataset("nonsense", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="--source sim --rest-url <sim's REST URL> --prod"):
        load_dataset("sim/ETH-USD/ONE_MINUTE", data_dir=tmp_path)  # the simulator's folder
    with pytest.raises(ConfigError, match=f"download --data-dir {tmp_path} --products"):
        load_dataset("ETH-USD/ONE_MINUTE", data_dir=tmp_path)  # not botkit-data: named
    with pytest.raises(ConfigError, match="--end is not after --start"):
        load_dataset("ETH-USD/ONE_MINUTE", data_dir=tmp_path, start=200, end=100)


def test_synthetic_is_the_same_every_time():
    a, b = load_dataset("synthetic:50:9"), load_dataset("synthetic:50:9")
    assert a == b and len(a) == 50
    assert load_dataset("synthetic:50:8") != a
