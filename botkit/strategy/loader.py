"""The strategy loader: from a ``--strategy`` spec and a TOML table to a ready strategy class.

Specs, tried in this order:

* ``path/to/file.py:Class`` (or ``path/to/file.py`` if the file defines exactly one);
* ``package.module:Class`` (imported normally, so installed packages work);
* ``name``: looked up along one search path, first match wins:

  1. ``./strategies/<name>.py`` in the working directory (where ``botkit new-strategy``
     writes, so what it wrote runs by name);
  2. an entry point of the group ``botkit.strategies`` (how a pip-installed strategy
     package announces itself);
  3. the shipped strategies (``ema_cross``, ``market_maker``, ...): the repository's
     top-level ``strategies/`` in a checkout; in an installed botkit the same files,
     which the wheel build (``setup.py``) copies into the package as data, in
     ``botkit/_strategies/``.

  A file's single Strategy subclass is taken. An explicit ``strategies_dir`` (the
  ``--dir`` of ``botkit strategies``, tests) replaces the two folders.

Only classes **defined** in the file or module count (``cls.__module__`` is checked, as in
Freqtrade's resolver): ``from strategies.ema_cross import EmaCross`` at the top of
another file must not make that file "an EMA strategy". Everything that can go wrong —
bad path, missing class, not a Strategy, wrong ``API_VERSION``, invalid or unknown
parameter — is a :class:`~botkit.errors.ConfigError` whose message names the culprit (the
CLI turns it into exit code 2), because a typo in a config file must stop the bot before
it trades, not halfway through.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import logging
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import AliasChoices, BaseModel, ValidationError

from botkit.errors import ConfigError
from botkit.strategy.base import API_VERSION, HOOKS, Strategy
from botkit.strategy.context import BotContext

log = logging.getLogger("botkit.strategy")

__all__ = [
    "ENTRY_POINT_GROUP",
    "SHIPPED_DIRNAME",
    "ParamInfo",
    "StrategyInfo",
    "build_params",
    "check_api_version",
    "check_shape",
    "create_strategy",
    "default_strategies_dir",
    "describe",
    "strategy_search_path",
    "list_strategies",
    "load_strategy",
    "read_toml",
]

ENTRY_POINT_GROUP = "botkit.strategies"


SHIPPED_DIRNAME = "_strategies"
"""The shipped strategies' folder inside an installed ``botkit`` package (see setup.py)."""


def default_strategies_dir() -> Path:
    """The shipped strategies: inside the installed package, else the checkout's folder.

    A wheel carries them as package data in ``botkit/_strategies/`` (setup.py copies the
    repository's ``strategies/`` there at build time); a checkout or an editable install
    has only the repository's top-level ``strategies/``, next to the ``botkit`` package.
    """
    package = Path(__file__).resolve().parents[1]
    installed = package / SHIPPED_DIRNAME
    return installed if installed.is_dir() else package.parent / "strategies"


def strategy_search_path(strategies_dir: Path | None = None) -> list[Path]:
    """The folders a strategy name is looked up in, in order (without duplicates).

    ``./strategies`` of the working directory comes first, so ``botkit new-strategy NAME``
    followed by ``botkit run --strategy NAME`` works from any project folder; the shipped
    folder last. ``strategies_dir`` replaces both.
    """
    if strategies_dir is not None:
        return [strategies_dir]
    out: list[Path] = []
    for folder in (Path.cwd() / "strategies", default_strategies_dir()):
        if not any(_same_dir(folder, seen) for seen in out):
            out.append(folder)
    return out


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


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
        cls = _by_name(spec, strategy_search_path(strategies_dir))
    check_api_version(cls)
    check_shape(cls)
    return cls


def check_shape(cls: type[Strategy]) -> None:
    """Refuse a ``Params`` that is not a pydantic model (it crashed the CLI with a raw
    traceback), and warn of ``on_*`` methods botkit never calls (a misspelt hook, say
    ``on_tick``, was silently never called)."""
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise ConfigError(
            f"strategy {cls.__qualname__}: Params must be a pydantic model "
            "(from pydantic import BaseModel; class Params(BaseModel): ...), "
            f"got {params!r}"
        )
    for name in sorted(vars(cls)):
        if name.startswith("on_") and name not in HOOKS and callable(getattr(cls, name)):
            close = difflib.get_close_matches(name, HOOKS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            log.warning(
                "strategy %s defines %s, which botkit never calls (hooks: %s)%s",
                cls.__qualname__, name, ", ".join(HOOKS), hint,
            )  # fmt: skip


def check_api_version(cls: type[Strategy]) -> None:
    """Refuse a strategy written for another plugin API version."""
    version = getattr(cls, "API_VERSION", None)
    if version != API_VERSION:
        module = sys.modules.get(cls.__module__)
        origin = getattr(module, "__file__", None)
        where = (  # a strategy file's module has a made-up name: the file is what the user wrote
            Path(origin).name
            if origin and cls.__module__.startswith("botkit_strategy_")
            else cls.__module__
        )
        raise ConfigError(
            f"strategy {where}:{cls.__qualname__} declares API_VERSION={version!r}, "
            f"but this botkit implements API_VERSION={API_VERSION}; update the strategy "
            "(docs/strategies.md lists the changes) or install a matching botkit"
        )


def _import_file(path: Path) -> ModuleType:
    if path.is_dir():
        raise ConfigError(f"strategy file {path} is a directory: give the .py file")
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


def _by_name(name: str, folders: list[Path]) -> type[Strategy]:
    """``name`` along the search path: the working directory's folder, entry points, shipped."""
    *own, shipped = folders
    for folder in own:
        if (folder / f"{name}.py").is_file():
            return _pick(_import_file(folder / f"{name}.py"), "", name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                obj = ep.load()
            except Exception as exc:  # a broken installed plugin
                raise ConfigError(f"entry point {name!r} ({ep.value}) failed: {exc!r}") from exc
            if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
                raise ConfigError(f"entry point {name!r} ({ep.value}) is not a Strategy subclass")
            return obj
    path = shipped / f"{name}.py"
    if path.is_file():
        return _pick(_import_file(path), "", name)
    known = sorted({*(n for f in folders for n in _shipped_names(f)), *_entry_point_names()})
    where = " nor ".join(f"{f}/{name}.py" for f in folders)
    raise ConfigError(
        f"unknown strategy {name!r}: not an entry point ({ENTRY_POINT_GROUP}) nor a file "
        f"({where}); available: {', '.join(known) or 'none'}. "
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
        ConfigError: missing, unreadable or not UTF-8, or a syntax error (with tomllib's
            line and column).
    """
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"config file {path} is a directory: give the .toml file") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8 "
            "(TOML files must be)"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def check_param_names(cls: type[Strategy], names: Iterable[str], where: str) -> None:
    """Refuse parameter names ``cls.Params`` does not have (unless it allows extras).

    Raises:
        ConfigError: ``where``: the unknown names and the known ones.
    """
    model = cls.Params
    if model.model_config.get("extra") == "allow":
        return
    unknown = sorted(set(names) - _field_keys(model))
    if unknown:
        known = ", ".join(sorted(_field_keys(model))) or "none"
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)} (known: {known})")


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
    check_param_names(cls, data, where)
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
    """The keys pydantic fills a field from: its alias (or its name when it has none, or
    the model populates by name), and the names of its ``validation_alias``."""
    by_name = bool(model.model_config.get("populate_by_name"))
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if field.alias:
            keys.add(field.alias)
        if not field.alias or by_name:
            keys.add(name)
        choices = field.validation_alias
        if isinstance(choices, str):
            keys.add(choices)
        elif isinstance(choices, AliasChoices):
            keys |= {c for c in choices.choices if isinstance(c, str)}
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
    doc = (inspect.getdoc(cls) or "").strip()
    summary = " ".join(re.split(r"\n\s*\n", doc, maxsplit=1)[0].split())  # first paragraph
    params = []
    for field_name, info in cls.Params.model_fields.items():
        default = "required" if info.is_required() else repr(info.get_default())
        kind = info.annotation
        annotation = (  # Literal['ticker', 'book'] shows its values; a class its name
            kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")
        )
        params.append(ParamInfo(field_name, annotation, default, info.description or ""))
    ref = ref or f"{cls.__module__}:{cls.__qualname__}"
    return StrategyInfo(name, ref, summary, tuple(params), source)


def list_strategies(*, strategies_dir: Path | None = None) -> list[StrategyInfo]:
    """Every strategy loadable by name, in search-path order; a name listed once.

    A file or plugin that fails to load is skipped here (and reported by ``load_strategy``
    when asked for by name), so one broken plugin does not hide the others. A name found
    earlier on the search path hides the same name later, as ``load_strategy`` does.
    """
    *own, shipped = strategy_search_path(strategies_dir)
    out: list[StrategyInfo] = []
    seen: set[str] = set()

    def add_folder(folder: Path) -> None:
        for name in _shipped_names(folder):
            if name in seen:
                continue
            try:
                path = folder / f"{name}.py"
                cls = _by_name_file(path, name)
            except ConfigError:
                continue
            seen.add(name)
            out.append(describe(name, cls, str(folder), ref=f"{path}:{cls.__qualname__}"))

    for folder in own:
        add_folder(folder)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:
            continue
        try:
            obj = ep.load()
        except Exception:  # a broken plugin is left out here, reported when loaded by name
            continue
        if inspect.isclass(obj) and issubclass(obj, Strategy):
            seen.add(ep.name)
            out.append(describe(ep.name, obj, f"entry point {ep.value}"))
    add_folder(shipped)
    return out


def _by_name_file(path: Path, name: str) -> type[Strategy]:
    cls = _pick(_import_file(path), "", name)
    check_api_version(cls)
    return cls
