"""The strategy loader: from a ``--strategy`` spec and a TOML table to a ready strategy class.

Specs, tried in this order:

* ``path/to/file.py:Class`` (or ``path/to/file.py`` if the file defines exactly one);
* ``package.module:Class`` (imported normally, so installed packages work);
* ``name``: an entry point of the group ``botkit.strategies`` (how a pip-installed
  strategy package announces itself), else ``<strategies dir>/<name>.py`` (the shipped
  folder), whose single Strategy subclass is taken.

Only classes **defined** in the file or module count (``cls.__module__`` is checked, as in
Freqtrade's resolver): ``from strategies.ema_cross import EmaCross`` at the top of
another file must not make that file "an EMA strategy". Everything that can go wrong —
bad path, missing class, not a Strategy, wrong ``API_VERSION``, invalid or unknown
parameter — is a :class:`~botkit.errors.ConfigError` whose message names the culprit (the
CLI turns it into exit code 2), because a typo in a config file must stop the bot before
it trades, not halfway through.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError

from botkit.errors import ConfigError
from botkit.strategy.base import API_VERSION, Strategy
from botkit.strategy.context import BotContext

__all__ = [
    "ENTRY_POINT_GROUP",
    "ParamInfo",
    "StrategyInfo",
    "build_params",
    "check_api_version",
    "create_strategy",
    "default_strategies_dir",
    "describe",
    "list_strategies",
    "load_strategy",
    "read_toml",
]

ENTRY_POINT_GROUP = "botkit.strategies"


def default_strategies_dir() -> Path:
    """The shipped ``strategies/`` folder (next to the ``botkit`` package in a checkout)."""
    return Path(__file__).resolve().parents[2] / "strategies"


# -- loading ---------------------------------------------------------------------------------


def load_strategy(spec: str, *, strategies_dir: Path | None = None) -> type[Strategy]:
    """Resolve ``spec`` to a Strategy subclass and check its API version.

    Raises:
        ConfigError: the spec cannot be resolved (the message says why and what exists).
    """
    spec = spec.strip()
    if not spec:
        raise ConfigError("empty strategy spec; use path/file.py:Class, module:Class or a name")
    target, sep, cls_name = spec.rpartition(":")
    if not sep:
        target, cls_name = spec, ""
    if target.endswith(".py") or "/" in target or "\\" in target:
        cls = _pick(_import_file(Path(target)), cls_name, spec)
    elif sep:
        cls = _pick(_import_module(target), cls_name, spec)
    else:
        cls = _by_name(spec, strategies_dir or default_strategies_dir())
    check_api_version(cls)
    return cls


def check_api_version(cls: type[Strategy]) -> None:
    """Refuse a strategy written for another plugin API version."""
    version = getattr(cls, "API_VERSION", None)
    if version != API_VERSION:
        raise ConfigError(
            f"strategy {cls.__module__}:{cls.__qualname__} declares API_VERSION={version!r}, "
            f"but this botkit implements API_VERSION={API_VERSION}; update the strategy "
            "(docs/strategies.md lists the changes) or install a matching botkit"
        )


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ConfigError(f"strategy file {path} does not exist")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    name = f"botkit_strategy_{resolved.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up while defining
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # any error in user code at import time is a config problem
        del sys.modules[name]
        raise ConfigError(f"importing strategy file {path} failed: {exc!r}") from exc
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"strategy module {name!r} not found ({exc})") from exc
    except Exception as exc:  # user code failed at import time
        raise ConfigError(f"importing strategy module {name!r} failed: {exc!r}") from exc


def _defined_in(module: ModuleType) -> list[type[Strategy]]:
    """Strategy subclasses defined in ``module`` itself (not imported into it)."""
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Strategy) and obj is not Strategy and obj.__module__ == module.__name__
    ]


def _pick(module: ModuleType, cls_name: str, spec: str) -> type[Strategy]:
    defined = _defined_in(module)
    names = ", ".join(sorted(c.__name__ for c in defined)) or "none"
    if not cls_name:
        if len(defined) != 1:
            raise ConfigError(
                f"{spec}: expected exactly one Strategy subclass defined there, found {names}; "
                "name one with :Class"
            )
        return defined[0]
    obj = getattr(module, cls_name, None)
    if obj is None:
        raise ConfigError(f"{spec}: no class {cls_name!r} (strategies defined there: {names})")
    if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
        raise ConfigError(f"{spec}: {cls_name} is not a botkit Strategy subclass")
    if obj.__module__ != module.__name__:
        raise ConfigError(
            f"{spec}: {cls_name} is imported into that file from {obj.__module__}, not defined "
            f"there; load it from where it is defined (strategies defined there: {names})"
        )
    return obj


def _by_name(name: str, strategies_dir: Path) -> type[Strategy]:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                obj = ep.load()
            except Exception as exc:  # a broken installed plugin
                raise ConfigError(f"entry point {name!r} ({ep.value}) failed: {exc!r}") from exc
            if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
                raise ConfigError(f"entry point {name!r} ({ep.value}) is not a Strategy subclass")
            return obj
    path = strategies_dir / f"{name}.py"
    if path.is_file():
        return _pick(_import_file(path), "", name)
    known = sorted({*_shipped_names(strategies_dir), *_entry_point_names()})
    raise ConfigError(
        f"unknown strategy {name!r}: not an entry point ({ENTRY_POINT_GROUP}) nor a file in "
        f"{strategies_dir}; available: {', '.join(known) or 'none'}. "
        "Or use path/to/file.py:Class or package.module:Class"
    )


def _shipped_names(strategies_dir: Path) -> list[str]:
    if not strategies_dir.is_dir():
        return []
    return sorted(p.stem for p in strategies_dir.glob("*.py") if not p.name.startswith("_"))


def _entry_point_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


# -- parameters ------------------------------------------------------------------------------


def read_toml(path: Path) -> dict[str, Any]:
    """Read the bot's TOML config.

    Raises:
        ConfigError: missing file or a syntax error (with tomllib's line and column).
    """
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def build_params(cls: type[Strategy], raw: Mapping[str, Any] | None) -> BaseModel:
    """Validate a ``[strategy.params]`` table against ``cls.Params``.

    Unknown keys are refused even if the model would ignore them: a misspelt parameter
    silently falling back to its default is exactly the bug a config check must catch.

    Raises:
        ConfigError: naming each bad field, what was given and what is expected.
    """
    model = cls.Params
    data = dict(raw or {})
    where = f"strategy {cls.strategy_name()} parameters"
    if model.model_config.get("extra") != "allow":
        unknown = sorted(set(data) - _field_keys(model))
        if unknown:
            known = ", ".join(sorted(model.model_fields)) or "none"
            raise ConfigError(
                f"{where}: unknown parameter(s) {', '.join(unknown)} (known: {known})"
            )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            f" (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"{where} are invalid: {problems}") from exc


def create_strategy(
    cls: type[Strategy], ctx: BotContext, raw_params: Mapping[str, Any] | None
) -> Strategy:
    """Validate the parameters, instantiate the strategy and attach it to its context.

    Everything that can be checked is checked here, before ``on_start``.
    """
    check_api_version(cls)
    strategy = cls(ctx, build_params(cls, raw_params))
    ctx.attach(strategy)
    return strategy


def _field_keys(model: type[BaseModel]) -> set[str]:
    keys = set(model.model_fields)
    keys |= {f.alias for f in model.model_fields.values() if f.alias}
    return keys


# -- listing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """One parameter: name, type, default (``"required"`` when none) and description."""

    name: str
    type: str
    default: str
    description: str


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    """One loadable strategy, for ``botkit strategies``."""

    name: str
    cls: str
    summary: str
    params: tuple[ParamInfo, ...]
    source: str


def describe(
    name: str, cls: type[Strategy], source: str, *, ref: str | None = None
) -> StrategyInfo:
    """A :class:`StrategyInfo` for ``cls``: docstring summary and parameters with defaults."""
    doc = inspect.getdoc(cls) or ""
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    params = []
    for field_name, info in cls.Params.model_fields.items():
        default = "required" if info.is_required() else repr(info.get_default())
        annotation = getattr(info.annotation, "__name__", str(info.annotation))
        params.append(ParamInfo(field_name, annotation, default, info.description or ""))
    ref = ref or f"{cls.__module__}:{cls.__qualname__}"
    return StrategyInfo(name, ref, summary, tuple(params), source)


def list_strategies(*, strategies_dir: Path | None = None) -> list[StrategyInfo]:
    """Every strategy loadable by name: the shipped folder, then entry points.

    A file or plugin that fails to load is skipped here (and reported by ``load_strategy``
    when asked for by name), so one broken plugin does not hide the others.
    """
    folder = strategies_dir or default_strategies_dir()
    out: list[StrategyInfo] = []
    for name in _shipped_names(folder):
        try:
            path = folder / f"{name}.py"
            cls = _by_name_file(path, name)
            out.append(describe(name, cls, str(folder), ref=f"{path}:{cls.__qualname__}"))
        except ConfigError:
            continue
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception:  # a broken plugin is left out here, reported when loaded by name
            continue
        if inspect.isclass(obj) and issubclass(obj, Strategy):
            out.append(describe(ep.name, obj, f"entry point {ep.value}"))
    return out


def _by_name_file(path: Path, name: str) -> type[Strategy]:
    cls = _pick(_import_file(path), "", name)
    check_api_version(cls)
    return cls
