"""Adapter ring: a small state file replaced atomically — or, when no new file can be made
(a full disk), overwritten in place.

Why: the files whose loss costs the most on a full disk — the kill switch, the risk
protections, the restart memory that holds back a crash loop's alerts — are exactly the
ones written when the disk is full. A replacement needs a new block; an overwrite of a file
kept padded to its size needs none. A write torn there by a crash reads as unreadable JSON,
which each caller treats as it must (the kill switch: a ConfigError for the operator; the
restart memory: forgotten, one more alert).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["replace_or_overwrite"]


def replace_or_overwrite(path: Path, payload: bytes, *, durable: bool = False) -> None:
    """Write ``payload`` as ``path``'s whole content: by an atomic replacement, else in
    place over the existing file (padded with spaces to its size: no old tail is left).
    ``durable``: fsync the file and the directory (a power cut must not lose it).

    Raises:
        OSError: neither could be done (no file yet, a read-only disk).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # a full disk: no empty .tmp left behind
        if not path.is_file():
            raise
        with open(path, "r+b") as fh:
            fh.write(payload.ljust(os.fstat(fh.fileno()).st_size))
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        return
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
