"""The one typed error tree of botkit.

Every failure botkit raises is a :class:`BotkitError`. Each class's docstring
says what the bot *does* about it, so a strategy author or an operator can tell
from the type alone whether to fix config, wait, or page someone::

    BotkitError
    ├── ConfigError                 bad settings, keys or files: fix and restart
    ├── TransportError              the request may not have reached Coinbase
    │   ├── RequestTimeout
    │   ├── ConnectionLost
    │   └── OrderOutcomeUnknown     create-order outcome could not be resolved
    ├── ExchangeError               Coinbase answered with an error
    │   ├── BadRequest              400
    │   │   └── InvalidPassphrase   400 (Exchange/Prime HMAC)
    │   ├── AuthError               401
    │   │   └── ClockSkew           401 / 400 caused by the local clock
    │   ├── PermissionDenied        403 missing scope
    │   │   └── IpNotAllowed        403 IP allow-list
    │   ├── NotFound                404
    │   ├── RateLimited             429
    │   ├── ServerError             5xx
    │   └── OrderRejected           HTTP 200 with success:false
    │       └── InsufficientFunds
    ├── FeedError                   WebSocket feed problems
    │   ├── SequenceGap
    │   ├── StaleFeed
    │   ├── BookInvalid
    │   └── FeedSubscriptionError   error frame (auth failure, too many L2 streams)
    ├── StrategyError               a strategy hook raised
    └── ComponentFailed             a long-lived task kept crashing: the bot stops (exit 1)

Errors never carry secret material: only key *names*, statuses, Coinbase's own
error codes and messages, and request ids.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadRequest",
    "BookInvalid",
    "BotkitError",
    "ClockSkew",
    "ComponentFailed",
    "ConfigError",
    "ConnectionLost",
    "ExchangeError",
    "FeedError",
    "FeedSubscriptionError",
    "InsufficientFunds",
    "InvalidPassphrase",
    "IpNotAllowed",
    "JournalError",
    "KillSwitchNotSaved",
    "NotFound",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "PermissionDenied",
    "RateLimited",
    "RequestTimeout",
    "SequenceGap",
    "ServerError",
    "StaleFeed",
    "StrategyError",
    "TransportError",
]


class BotkitError(Exception):
    """Root of every botkit error; catch this to catch them all."""


class ConfigError(BotkitError):
    """Settings, keys or files are unusable.

    The bot refuses to start (CLI exit code 2). The message names what is wrong
    and how to fix it, and never echoes secret material.
    """


class KillSwitchNotSaved(ConfigError):
    """The kill switch tripped, but its file could not be written (a full or read-only
    disk, permissions).

    The open orders are cancelled all the same, then the bot stops with exit code 2,
    which a service manager with ``RestartPreventExitStatus=2`` does not restart: a
    restart would not know the switch had tripped and would trade again. Fix the disk,
    find out why it tripped (the log says), then start the bot.
    """


class TransportError(BotkitError):
    """The request may not have reached Coinbase, or its answer was lost.

    Idempotent calls are retried; a create-order is retried only with the same
    ``client_order_id`` and otherwise resolved by asking the exchange about it.
    """


class RequestTimeout(TransportError):
    """No answer within the configured timeout. Outcome unknown: see TransportError."""


class ConnectionLost(TransportError):
    """The connection was reset or refused. Outcome unknown: see TransportError."""


class OrderOutcomeUnknown(TransportError):
    """A create-order's outcome is still unknown after retries and a lookup by client_order_id.

    The intent stays unresolved in the journal; no new order is accepted for it, and it is
    resolved again at the next start-up (or by the user channel) before anything else happens.
    An exit's order is asked about again on the product's next prints instead (the exit
    keeps it meanwhile, never a second one: docs/strategies.md).
    """


class ExchangeError(BotkitError):
    """Coinbase answered, with an error.

    Attributes:
        status: HTTP status (200 for business failures such as order rejects).
        code: Coinbase's error code (``INVALID_ARGUMENT``, ``PERMISSION_DENIED``,
            a failure reason...), or ``""`` when the body had none.
        message: Coinbase's message, or the raw body when it was not JSON.
        request_id: the request id header, when the server sent one.
        hint: what the user can likely do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        request_id: str | None = None,
        hint: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        # a refusal answered 200 (Advanced Trade's success: false) is not an HTTP error: its
        # reason says it ("HTTP 200: PREVIEW_..." read as if the request had failed)
        shown = self.status if self.status >= 300 else 0
        said = self.message.split(":", 1)[0].strip()
        code = "" if said == self.code else self.code  # said once (Prime repeats it)
        parts = [f"HTTP {shown}" if shown else "", code, self.message]
        text = ": ".join(p for p in parts if p)
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.hint:
            text += f". {self.hint}"
        return text


class BadRequest(ExchangeError):
    """400: the request was malformed. Not retried; it is a bug or bad input."""


class InvalidPassphrase(BadRequest):
    """400 "Invalid Passphrase" (Exchange/Prime HMAC keys). Fix the passphrase setting."""


class AuthError(ExchangeError):
    """401: the signature or token was rejected.

    The executor re-signs and retries a bounded number of times (Coinbase
    sometimes rejects valid JWTs), then resyncs the clock; if that fails it
    gives up with this error and the hint lists the usual causes.
    """


class ClockSkew(AuthError):
    """The local clock is too far from Coinbase's (timestamp expired / JWT not yet valid).

    The executor measures the offset with ``GET /time``, corrects the signing
    clock and retries. Raised to the caller only if correction fails.
    """


class PermissionDenied(ExchangeError):
    """403: the key lacks a permission (scope). One re-signed retry, then raised.

    The hint names the permission to enable (View, Trade, Transfer) in the CDP portal.
    """


class IpNotAllowed(PermissionDenied):
    """403 because the caller's IP is not on the key's allow-list. Not retried."""


class NotFound(ExchangeError):
    """404: unknown order, account or product. Not retried."""


class RateLimited(ExchangeError):
    """429: too many requests. The executor waits ``retry_after`` seconds, then retries.

    Attributes:
        retry_after: seconds to wait, from ``Retry-After``/``x-ratelimit-reset``,
            or None when the server gave no hint (jittered backoff is used).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class ServerError(ExchangeError):
    """5xx: Coinbase failed. Idempotent calls are retried; create-order outcome is unknown
    and is resolved by ``client_order_id`` before anything is retried."""


class OrderRejected(ExchangeError):
    """Coinbase refused the order (HTTP 200, ``success: false``). Not retried.

    Attributes:
        reason: the failure reason (``INVALID_LIMIT_PRICE_POST_ONLY``, ...).
    """

    def __init__(self, message: str, *, reason: str, **kw: object) -> None:
        self.reason = reason
        kw.setdefault("code", reason)
        super().__init__(message, **kw)  # type: ignore[arg-type]


class InsufficientFunds(OrderRejected):
    """The order needs more balance than is available. Not retried; the risk engine is told."""


class FeedError(BotkitError):
    """A WebSocket feed problem. The feed recovers on its own (resubscribe/reconnect)."""


class SequenceGap(FeedError):
    """Messages were lost (``sequence_num`` jumped). Books are invalidated and re-snapshotted."""


class StaleFeed(FeedError):
    """No message within the watchdog interval. The feed reconnects."""


class BookInvalid(FeedError):
    """A product's order book cannot be trusted (gap, reconnect, crossed book) until a fresh
    snapshot arrives. The risk engine refuses new orders on that product meanwhile."""


class FeedSubscriptionError(FeedError):
    """Coinbase answered a subscribe with an error frame (e.g. "authentication failure" — a bad
    JWT or a misspelled channel — or "too many L2 streams"). The message carries the likely fix."""


class JournalError(BotkitError):
    """A journal (order intents, the fill ledger, or the paper account) could not be written:
    disk full, I/O error, permissions, or a database held by another process past the busy
    timeout.

    The write that failed did not happen (each is one transaction), so the journal is
    consistent up to the last one that did. An order whose intent could not be journalled
    is not sent. The bot then stops (exit code 1): carrying on would let what it does
    drift from what it can recover. Fix the cause and restart; the session resumes from
    the journal (pending intents are resolved with the exchange first).

    Attributes:
        path: the journal file.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class StrategyError(BotkitError):
    """A strategy hook raised. Logged with the traceback; the bot keeps running, and a
    strategy that keeps failing is halted with its orders cancelled (not its exits').
    ``on_start`` raising stops the bot (exit 1): a strategy that could not start is not
    run half made — unless exits protect positions: then it is halted and the bot runs
    for them."""


class ComponentFailed(BotkitError):
    """A long-lived part of the bot (a feed connection, the strategy driver, the health
    reporter...) raised an unexpected exception and could not be restarted: it crashed
    more often than the supervisor's restart budget allows within its window.

    Every crash before that was logged with its traceback and the component restarted
    with backoff. This one stops the bot gracefully (open orders are left as they are
    unless ``--cancel-on-exit``) and ``botkit run`` exits 1, so a service manager
    restarts the whole process instead of leaving it half alive. The message names the
    component and the last error; the log has the tracebacks.

    Attributes:
        component: the name of the component that failed.
    """

    def __init__(self, message: str, *, component: str = "") -> None:
        super().__init__(message)
        self.component = component
