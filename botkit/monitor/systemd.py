"""Adapter ring: systemd's ``Type=notify`` protocol, spoken by hand, and the watchdog loop.

Under ``Type=notify`` systemd waits for the bot to say ``READY=1`` before it calls the
unit started, shows its ``STATUS=`` line in ``systemctl status``, and, with
``WatchdogSec=``, restarts it when it stops sending ``WATCHDOG=1`` for that long. The
protocol is one datagram per message on the AF_UNIX socket named by ``NOTIFY_SOCKET``
(a path, or ``@name`` for an abstract socket), each line ``KEY=value``; that is all
``sd_notify(3)`` does, so it is spoken here in a few lines rather than through a
dependency (libsystemd is not on a Pi's slim images, nor in a container).

What makes the watchdog useful for a trading bot is *when* it is fed:
:func:`watchdog_loop` sends ``WATCHDOG=1`` only while the health model's verdict is not
``down``. A wedged event loop sends nothing (the loop runs on it), and a bot whose feed
is down or whose journal failed stops feeding the watchdog too, so systemd restarts it
after ``WatchdogSec`` instead of leaving it half alive. ``degraded`` (a stale product, a
tripped kill switch) still feeds it: a restart cannot fix those and would only churn.

systemd arms the watchdog once the unit has started (``READY=1``) and disarms it when the
unit stops (``STOPPING=1`` or ``systemctl stop``), so the ``down`` of start-up and
shutdown never trips it; shutdown is bounded by ``TimeoutStopSec=`` instead.

Nothing here raises on a send failure: a bot must never stop trading because systemd's
socket went away. A failure is logged once at WARNING (again only after a send worked).
Outside systemd (``NOTIFY_SOCKET`` unset) every method is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

__all__ = ["IDLE_STATUS_REFRESH", "SdNotifier", "watchdog_loop"]

log = logging.getLogger("botkit.systemd")

IDLE_STATUS_REFRESH = 10.0
"""Seconds between STATUS refreshes when the watchdog is disabled."""

MAX_STATUS = 200
"""Characters of STATUS kept (``systemctl status`` shows one line)."""


class SdNotifier:
    """Sends ``sd_notify`` messages to one socket; a no-op when there is none.

    Args:
        address: the ``NOTIFY_SOCKET`` value: an absolute path, or ``@name`` for a
            socket in the abstract namespace; None (or empty) disables notification.
        watchdog_usec: ``WATCHDOG_USEC``, the watchdog timeout in microseconds; None or
            0 when the watchdog is disabled.
    """

    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        if address and not address.startswith(("/", "@")):
            # systemd >= 254 may also name vsock:... sockets (VMs); not spoken here
            log.warning("NOTIFY_SOCKET=%r is not a unix socket path: not notifying", address)
            address = None
        self.address = address or None
        self._target = "\0" + address[1:] if address and address[0] == "@" else address
        self._usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SdNotifier:
        """The notifier systemd asked for through the environment.

        ``WATCHDOG_USEC`` counts only when ``WATCHDOG_PID`` is absent or names this
        process: a child started by the bot must not feed (or think it owns) the parent's
        watchdog. A malformed value disables the watchdog rather than failing the start.
        """
        usec: int | None = None
        pid = environ.get("WATCHDOG_PID", "").strip()
        if not pid or pid == str(os.getpid()):
            try:
                usec = int(environ.get("WATCHDOG_USEC", "").strip() or 0)
            except ValueError:
                log.warning(
                    "WATCHDOG_USEC=%r is not a number: watchdog disabled",
                    environ.get("WATCHDOG_USEC"),
                )
        return cls(environ.get("NOTIFY_SOCKET", "").strip() or None, watchdog_usec=usec)

    @property
    def enabled(self) -> bool:
        """True under systemd (a notify socket is set)."""
        return self._target is not None

    @property
    def watchdog_interval(self) -> float | None:
        """The watchdog timeout in seconds (ping at least every half of it); None if off."""
        if self._target is None or self._usec is None:
            return None
        return self._usec / 1e6

    # -- messages --------------------------------------------------------------------------

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: start-up is complete (systemd arms the watchdog from here)."""
        return self.notify(READY=1, **({"STATUS": status} if status is not None else {}))

    def status(self, text: str) -> bool:
        """``STATUS=``: one line for ``systemctl status``."""
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: still alive and able to work."""
        return self.notify(WATCHDOG=1)

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: shutting down (systemd disarms the watchdog)."""
        return self.notify(STOPPING=1, **({"STATUS": status} if status is not None else {}))

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines in one datagram; True when it was sent.

        Values are flattened to one line (a newline would start a new assignment).
        Never raises: a failure is logged once at WARNING, and False is returned.
        """
        if self._target is None or not fields:
            return False
        text = "\n".join(f"{k}={_one_line(str(v))}" for k, v in fields.items())
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)  # never stall the event loop on a full queue
                self._sock = sock
            self._sock.sendto(text.encode(), self._target)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "systemd notify to %s failed: %s (further failures at DEBUG)", self.address, exc
                )
            else:
                log.debug("systemd notify to %s failed: %s", self.address, exc)
            return False
        self._warned = False
        return True

    def close(self) -> None:
        """Close the socket (a later message opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(value: str) -> str:
    line = " ".join(value.split())
    return line if len(line) <= MAX_STATUS else line[: MAX_STATUS - 3] + "..."


MARKET_GRACE = 150.0
"""Seconds a market-data-only outage is fed to the watchdog (past the 60 s feed-down alert
and its delivery) before it may restart the bot."""


async def watchdog_loop(
    notifier: SdNotifier,
    verdict: Callable[[], str],
    status: Callable[[], str],
    *,
    idle_refresh: float = IDLE_STATUS_REFRESH,
    market_grace: float = MARKET_GRACE,
) -> None:
    """Feed systemd's watchdog while the bot is not ``down``, and keep STATUS current.

    Runs forever (spawn it under the supervisor once ``READY=1`` is sent). Every half
    watchdog interval: ``WATCHDOG=1`` when ``verdict()`` is not ``"down"``, and
    ``STATUS=status()`` whenever the line changed, in one datagram. With the watchdog
    disabled it only refreshes STATUS every ``idle_refresh`` seconds.

    ``"market-down"`` (down only because no product has market data:
    :func:`botkit.runtime.health.watchdog_verdict`) is fed for ``market_grace`` seconds
    first. Why: a venue outage is not mended by a restart, and systemd's 30 s watchdog
    killed the bot before its 60 s feed-down alert could go out, so the operator got a
    routine-looking "stopped" instead (a headless QA pass); an outage longer than the grace
    still restarts it, as a wedged feed would need.
    """
    timeout = notifier.watchdog_interval
    period = timeout / 2 if timeout is not None else idle_refresh
    last: str | None = None
    clock = asyncio.get_running_loop().time
    market_since: float | None = None
    while True:
        fields: dict[str, str | int] = {}
        now, said = clock(), verdict()
        if said == "market-down":
            market_since = now if market_since is None else market_since
            said = "down" if now - market_since >= market_grace else "market-down"
        else:
            market_since = None
        if timeout is not None and said != "down":
            fields["WATCHDOG"] = 1
        line = _one_line(status())
        if line != last:
            fields["STATUS"] = line
        if fields and notifier.notify(**fields) and "STATUS" in fields:
            last = line
        await asyncio.sleep(period)
