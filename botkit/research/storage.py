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

    SQLite waits up to 60 s for a lock (several writers share one file) and runs in WAL
    mode with ``synchronous=NORMAL``: each of a trial's dozen small transactions would
    otherwise wait for an fsync, which made the driver's share of a short trial a quarter
    (bench/bench_research.py). A crash loses nothing committed; a power cut may lose the
    last trials, which a resumed study runs again.
    """
    optuna = _optuna()
    if "://" not in url:
        url = f"sqlite:///{url}"
    kwargs: dict[str, Any] = {}
    sqlite = url.startswith("sqlite")
    if sqlite:
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        _sqlite_pragmas()
    try:
        return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a missing driver, no server
        raise ConfigError(f"cannot open the study storage {url!r}: {exc}") from None


_PRAGMAS_SET = False


def _sqlite_pragmas() -> None:
    """WAL and ``synchronous=NORMAL`` on every new SQLite connection (once per process)."""
    global _PRAGMAS_SET
    if _PRAGMAS_SET:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        del connection_record
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    event.listen(Engine, "connect", on_connect)
    _PRAGMAS_SET = True


def make_pruner(name: str) -> Any:
    """``median`` (Optuna's MedianPruner after 4 complete trials) or ``none``."""
    optuna = _optuna()
    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
