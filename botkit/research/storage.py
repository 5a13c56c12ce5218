"""Optuna plumbing shared by the driver and the workers: the import (an optional extra),
the storage and the pruner."""

from __future__ import annotations

from typing import Any

from botkit.errors import ConfigError

__all__ = ["make_pruner", "open_storage"]


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "botkit optimize needs Optuna: pip install 'botkit[research]' (docs/research.md)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_storage(url: str) -> Any:
    """Optuna storage for ``url``: a SQLAlchemy URL, or a file path taken as SQLite.

    SQLite waits up to 60 s for a lock (several writers share one file).
    """
    optuna = _optuna()
    if "://" not in url:
        url = f"sqlite:///{url}"
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    try:
        return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a missing driver, no server
        raise ConfigError(f"cannot open the study storage {url!r}: {exc}") from None


def make_pruner(name: str) -> Any:
    """``median`` (Optuna's MedianPruner after 4 complete trials) or ``none``."""
    optuna = _optuna()
    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
