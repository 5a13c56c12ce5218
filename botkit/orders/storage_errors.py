"""Which storage errors mean what (the order journal's, the fill ledger's, the paper
account's, the data directory's).

Two questions, asked where a store is opened or written: is this error the storage's (a
disk, a file) rather than a bug in the SQL (:func:`storage_failure`: those become
:class:`~botkit.errors.JournalError`), and can it pass with no one editing anything
(:func:`storage_passing`: a full disk — exit 1, restarted — rather than exit 2)?
"""

from __future__ import annotations

import errno
import sqlite3

__all__ = ["storage_failure", "storage_passing"]


def storage_failure(exc: BaseException) -> bool:
    """True for SQLite errors of the storage (disk full, I/O, locked, corrupt file).

    Those become :class:`~botkit.errors.JournalError`. Errors that mean a bug in the
    SQL or its parameters (``IntegrityError``, ``ProgrammingError``...) are left as
    they are: advice about disk space would only mislead.
    """
    return isinstance(exc, sqlite3.OperationalError | sqlite3.InternalError) or (
        type(exc) is sqlite3.DatabaseError
    )


_PASSING = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})


def storage_passing(exc: BaseException) -> bool:
    """True when opening a store failed for a reason that can pass with no one editing
    anything (a full disk, a quota, an I/O error): exit 1, which a service manager
    restarts, not exit 2 (bad configuration: not restarted). Why: a bot whose disk was full
    at a restart stayed down after the space was freed (a headless QA pass)."""
    if isinstance(exc, OSError):
        return exc.errno in _PASSING
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "disk is full" in text or "disk i/o error" in text
    )
