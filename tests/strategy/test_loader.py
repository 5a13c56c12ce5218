"""Loader: every spec form, the __module__ rule, API version and parameter validation."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from botkit.errors import ConfigError
from botkit.strategy.base import API_VERSION, Strategy
from botkit.strategy.loader import (
    build_params,
    list_strategies,
    load_strategy,
    read_toml,
)
from tests.strategy.fixture_strategy import Quoter

ONE = """
from decimal import Decimal
from pydantic import BaseModel
from botkit.strategy.base import Strategy

class Momentum(Strategy):
    \"\"\"Buys strength.

    More text.
    \"\"\"

    class Params(BaseModel):
        lookback: int = 20
        size: Decimal = Decimal("0.01")
        product_id: str
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_file_path_with_and_without_class(tmp_path: Path) -> None:
    path = _write(tmp_path / "mom.py", ONE)
    cls = load_strategy(f"{path}:Momentum")
    assert issubclass(cls, Strategy) and cls.__name__ == "Momentum"
    assert load_strategy(str(path)) is cls  # the only strategy defined there


def test_module_path() -> None:
    assert load_strategy("tests.strategy.fixture_strategy:Quoter") is Quoter


def test_shipped_folder_by_name(tmp_path: Path) -> None:
    _write(tmp_path / "strategies" / "momentum.py", ONE)
    cls = load_strategy("momentum", strategies_dir=tmp_path / "strategies")
    assert cls.__name__ == "Momentum"


def test_imported_class_is_not_defined_there(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mine.py",
        """
        from botkit.strategy.base import Strategy
        from tests.strategy.fixture_strategy import Quoter

        class Mine(Strategy):
            pass
        """,
    )
    with pytest.raises(ConfigError, match="imported into that file"):
        load_strategy(f"{path}:Quoter")
    assert load_strategy(str(path)).__name__ == "Mine"  # Quoter does not count
    _write(
        tmp_path / "s" / "only_import.py", "from tests.strategy.fixture_strategy import Quoter\n"
    )
    with pytest.raises(ConfigError, match="found none"):
        load_strategy("only_import", strategies_dir=tmp_path / "s")


def test_bad_api_version(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "old.py",
        """
        from botkit.strategy.base import Strategy

        class Old(Strategy):
            API_VERSION = 99
        """,
    )
    with pytest.raises(
        ConfigError,
        match=rf"strategy old.py:Old declares API_VERSION=99.*API_VERSION={API_VERSION}",
    ):  # the file the user wrote, not the module name botkit made up for it
        load_strategy(f"{path}:Old")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("nope/missing.py:X", "does not exist"),
        ("tests.strategy.fixture_strategy:Nope", "no class 'Nope'.*Quoter"),
        ("tests.strategy.fixture_strategy:Decimal", "not a botkit Strategy"),
        ("no_such_pkg.mod:X", "not found"),
        ("no_such_strategy", "unknown strategy 'no_such_strategy'"),
        ("", "empty strategy spec"),
    ],
)
def test_bad_specs(spec: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=match):
        load_strategy(spec, strategies_dir=tmp_path)


def test_file_that_fails_to_import(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.py", "raise RuntimeError('oops at import')\n")
    with pytest.raises(ConfigError, match="oops at import"):
        load_strategy(f"{path}:X")


def test_params_from_toml_and_errors_name_the_field(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path / "bot.toml",
        """
        [strategy]
        name = "tests.strategy.fixture_strategy:Quoter"
        [strategy.params]
        size = "0.002"
        offset_pct = 2
        """,
    )
    doc = read_toml(cfg)
    cls = load_strategy(doc["strategy"]["name"])
    params = build_params(cls, doc["strategy"]["params"])
    assert isinstance(params, Quoter.Params)
    assert params.size == Decimal("0.002") and params.product_id == "BTC-USD"
    with pytest.raises(ConfigError, match=r"size: .*greater than 0.*got '-1'"):
        build_params(cls, {"size": "-1"})
    with pytest.raises(ConfigError, match=r"offset_pct: .*got 'lots'"):
        build_params(cls, {"offset_pct": "lots"})
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) ofset_pct .*known: "):
        build_params(cls, {"ofset_pct": 1})
    mom = load_strategy(str(_write(tmp_path / "mom.py", ONE)))
    with pytest.raises(ConfigError, match="product_id: Field required"):
        build_params(mom, {})


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML.*line 1"):
        read_toml(_write(tmp_path / "bad.toml", "[strategy\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        read_toml(tmp_path / "missing.toml")


def test_entry_point_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "site" / "fake_botkit_plugin-1.0.dist-info"
    _write(dist / "METADATA", "Metadata-Version: 2.1\nName: fake-botkit-plugin\nVersion: 1.0\n")
    _write(
        dist / "entry_points.txt",
        "[botkit.strategies]\nquoter_ep = tests.strategy.fixture_strategy:Quoter\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert load_strategy("quoter_ep", strategies_dir=tmp_path / "none") is Quoter
    infos = {i.name: i for i in list_strategies(strategies_dir=tmp_path / "none")}
    assert infos["quoter_ep"].cls == "tests.strategy.fixture_strategy:Quoter"


def test_list_strategies(tmp_path: Path) -> None:
    _write(tmp_path / "momentum.py", ONE)
    _write(tmp_path / "broken.py", "raise RuntimeError('x')\n")
    infos = {i.name: i for i in list_strategies(strategies_dir=tmp_path)}
    assert "broken" not in infos
    mom = infos["momentum"]
    assert mom.summary == "Buys strength." and mom.cls == f"{tmp_path / 'momentum.py'}:Momentum"
    params = {p.name: p for p in mom.params}
    assert params["lookback"].default == "20" and params["lookback"].type == "int"
    assert params["size"].default == "Decimal('0.01')"
    assert params["product_id"].default == "required"


def test_a_summary_is_the_docstrings_first_paragraph_and_literals_show_their_values() -> None:
    from botkit.strategy.loader import describe

    breakout, mean_reversion = load_strategy("breakout"), load_strategy("mean_reversion")
    summary = describe("breakout", breakout, "shipped").summary
    assert "\n" not in summary and summary.endswith(".")  # a wrapped first line, whole
    source = {p.name: p for p in describe("mr", mean_reversion, "shipped").params}["source"]
    assert source.type == "Literal['ticker', 'book']"


def test_a_paragraph_break_of_spaces_ends_the_summary_and_aliases_are_the_known_keys() -> None:
    from pydantic import BaseModel, Field

    from botkit.strategy.base import Strategy
    from botkit.strategy.loader import check_param_names, describe

    class Aliased(Strategy):
        class Params(BaseModel):
            fast_window: int = Field(5, alias="fast")

    # a blank line of spaces deeper than the margin survives inspect.getdoc
    Aliased.__doc__ = "First line,\n    still the first paragraph.\n        \n    The body."

    assert describe("a", Aliased, "x").summary == "First line, still the first paragraph."
    check_param_names(Aliased, ["fast"], "here")  # what pydantic fills the field from
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) fast_window \(known: fast\)"):
        check_param_names(Aliased, ["fast_window"], "here")  # silently ignored by pydantic


def test_params_that_are_not_a_pydantic_model_are_a_config_error(tmp_path: Path) -> None:
    """It crashed the CLI with AttributeError: ... has no attribute 'model_config'."""
    path = _write(
        tmp_path / "plain.py",
        """
        from botkit import Strategy

        class Plain(Strategy):
            class Params:
                size = 1
        """,
    )
    with pytest.raises(ConfigError, match="Params must be a pydantic model"):
        load_strategy(f"{path}:Plain")


def test_a_misspelt_hook_is_named_with_the_one_meant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """on_tick was silently never called."""
    path = _write(
        tmp_path / "typo.py",
        """
        from botkit import Strategy

        class Typo(Strategy):
            async def on_tick(self, ticker):
                pass

            async def on_fills(self, fill):
                pass

            def on_ticker(self, ticker):
                pass

            def on_trading_status(self, status):
                pass
        """,
    )
    load_strategy(f"{path}:Typo")
    messages = [r.getMessage() for r in caplog.records]
    assert any("on_tick, which botkit never calls" in m and "on_ticker?" in m for m in messages)
    assert any("on_fills" in m and "did you mean on_fill?" in m for m in messages)
    assert not any("defines on_ticker," in m for m in messages)
    assert not any("defines on_trading_status," in m for m in messages)  # a hook, called


def test_a_strategy_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    """It said "does not exist" of a directory named like a .py file (a QA pass)."""
    folder = tmp_path / "mine.py"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a directory: give the .py file"):
        load_strategy(f"{folder}:Mine")
