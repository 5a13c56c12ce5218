"""Adapter ring: one running bot per data directory (an exclusive ``flock`` on ``run.lock``).

Why: a second ``botkit run`` on the same ``--data-dir`` (a manual start beside the systemd
service, two units with one path) would share the order journal and the fill ledger with the
first: each would resolve the other's pending intents at its start, count positions into the
same rows, and in sim mode delete the running bot's journal. The lock is taken before
anything in the directory is touched and released when the run ends — or when the process
dies, however (the kernel drops a dead process's locks: a ``kill -9`` leaves nothing stale).
The directory is the mode's (and venue's) own, so a sim bot and a live bot beside it do not
collide.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from botkit.errors import BotkitError, ConfigError, JournalError
from botkit.orders.storage_errors import storage_passing

__all__ = ["DataDirLock", "LOCK_FILE", "held", "unusable_dir"]

LOCK_FILE = "run.lock"


class DataDirLock:
    """The held lock of one data directory; :meth:`release` it when the run ends."""

    def __init__(self, root: Path, *, mark: bool = True) -> None:
        """Take the lock of ``root`` (created if missing) or raise.

        :attr:`unclean` is the pid of the run before when that run was killed rather than
        stopped (it left the file marked running): the runtime says so, since nothing
        else would (a headless QA pass: out-of-memory kills restarted silently).
        ``mark=False`` (a command that holds the directory for a moment, such as
        ``botkit kill-switch reset``) leaves the file as it is, so that a killed run's
        mark waits for the bot's next start.

        A lock held by someone else is asked for again for up to :data:`_PATIENCE`
        seconds: ``botkit doctor --bot`` looks at it for an instant (:func:`held`), and a
        bot restarted at that instant must not be refused for good (exit 2; a review).

        Raises:
            ConfigError: another running process holds it (its pid, from the file, is in
                the message).
        """
        self.path = root / LOCK_FILE
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # it was a raw traceback, exit 1 and no alert (a QA pass)
            raise unusable_dir(root, exc) from None
        try:
            _flock_patiently(fd)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").split(" ")[0].strip() or "?"
            os.close(fd)
            raise ConfigError(
                f"the data directory {root} is in use by another running bot (pid {holder}): "
                "two bots on one order journal and fill ledger would resolve and count each "
                "other's orders. Stop the other one first, or give this one its own --data-dir"
            ) from None
        self._mark = mark
        self.unclean: int | None = None
        try:
            if mark:
                self.unclean = _unclean(os.pread(fd, 64, 0))
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()} {RUNNING}\n".encode())
        except OSError as exc:
            os.close(fd)
            raise unusable_dir(root, exc) from None
        self._fd: int | None = fd

    def release(self) -> None:
        """Let another run have the directory (idempotent), marked as left in order."""
        if self._fd is not None:
            # in place, the same length: a full disk does not refuse it (no new block)
            if self._mark:
                with contextlib.suppress(OSError):
                    os.pwrite(self._fd, f"{os.getpid()} {STOPPED}\n".encode(), 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def held(root: Path) -> bool:
    """Whether a running process holds the lock of ``root`` (taking nothing: a shared
    lock tried and let go at once; a directory that cannot be opened reads as not held).

    Why: ``botkit doctor --bot`` judged a bot by its ``health.json`` alone, and called a
    running bot whose data directory had turned read-only "not running"."""
    try:
        fd = os.open(root / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


_PATIENCE = 0.5
"""Seconds a lock held by someone else is asked for again before the start is refused."""


def _flock_patiently(fd: int) -> None:
    """``flock(LOCK_EX)`` without blocking, tried again for :data:`_PATIENCE` seconds;
    raises BlockingIOError when another process keeps it (a running bot)."""
    deadline = time.monotonic() + _PATIENCE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)  # once, at start: the event loop has nothing else to do yet


RUNNING = "running"
STOPPED = "stopped"  # the same length as RUNNING: see release()


def _unclean(previous: bytes) -> int | None:
    """The pid of the run before when it never released the lock: killed (SIGKILL, the
    out-of-memory killer, a power loss), so it could neither say so nor send an alert.
    None after a release (or a file of an older botkit, which wrote the pid alone)."""
    words = previous.decode(errors="replace").split()
    if len(words) == 2 and words[1] == RUNNING and words[0].isdigit():
        return int(words[0])
    return None


def unusable_dir(root: Path, exc: OSError) -> BotkitError:
    """A data directory that cannot be written: a full disk passes (JournalError, exit 1:
    restarted), anything else needs the operator (ConfigError, exit 2)."""
    why = f"the data directory {root} cannot be written ({exc.strerror or exc})"
    if storage_passing(exc):
        return JournalError(f"{why}: free disk space; the bot starts again on its own")
    return ConfigError(
        f"{why}: give the bot's user write access to it (and a writable disk), or choose "
        "another --data-dir"
    )
