"""Core ring: the retry policy as data — one table, one pure decision function.

Every REST attempt that fails ends up here with its typed error (from
:mod:`botkit.venues.advanced_trade.errors_map` or the transport's error mapping). :func:`decide`
looks the error up in :data:`RULES` and says whether to retry, after how long,
and whether to resynchronise the clock first. The async side
(``botkit.net.retrying``) only *applies* decisions with tenacity, so there are
no special cases at call sites and the whole policy is readable in one screen.

Why these rules (reference §2.11, §2.12, anchors §5.3–5.4):

* 401/403/429 and timestamp errors are answered **before** Coinbase does
  anything, so retrying them is safe for every request, orders included.
* A 5xx, a timeout or a reset leaves the outcome **unknown**: only idempotent
  calls are repeated. Create-order counts as idempotent because every attempt
  carries the same ``client_order_id`` (§2.5); the executor resolves what is
  still unknown afterwards.
* A 403 ``PERMISSION_DENIED`` ("Missing required scopes", §2.12) names a scope the key
  lacks; scopes do not change between two attempts, so it is never retried (a cancel-all
  at shutdown would only wait for the same answer). A 403 without that code (a gateway's
  HTML page, a bare ``Forbidden``) gets one re-signed retry.
* A 401 is not always a bad key (SDK issue #132: valid JWTs rejected at
  random), so the first one is simply re-signed; a repeated one, or one while
  the clock is suspect, is treated as skew (Coinbase's 401 body is a bare
  ``Unauthorized``, so skew cannot be told apart from the body).

Time and randomness come in as arguments (``rng`` is a ``random.Random``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from botkit.errors import (
    AuthError,
    BotkitError,
    ClockSkew,
    ConnectionLost,
    IpNotAllowed,
    PermissionDenied,
    RateLimited,
    RequestTimeout,
    ServerError,
)

__all__ = [
    "CODE_RULES",
    "RULES",
    "Decision",
    "RetryPolicy",
    "Rule",
    "When",
    "backoff_delay",
    "decide",
    "rule_for",
]


class When(StrEnum):
    """Which calls a rule retries."""

    NEVER = "never"
    ALWAYS = "always"  # the request was not processed: safe for any call
    IDEMPOTENT = "idempotent"  # outcome unknown: only calls that are safe to repeat


class Wait(StrEnum):
    NONE = "none"
    BACKOFF = "backoff"
    RETRY_AFTER = "retry_after"  # server hint, else backoff


@dataclass(frozen=True, slots=True)
class Rule:
    """How one kind of failure is handled.

    Attributes:
        reason: short label used in logs and counters.
        when: which calls are retried.
        max_retries: retries allowed for this reason within one call.
        wait: how long to wait before the retry.
        resync_from: resync the clock from the n-th occurrence on (1-based); 0 never.
        outcome_unknown: the request may have been processed (the executor must
            resolve a create-order by ``client_order_id``).
    """

    reason: str
    when: When
    max_retries: int = 0
    wait: Wait = Wait.NONE
    resync_from: int = 0
    outcome_unknown: bool = False


# Checked before RULES: (class, Coinbase's error code, rule). A code Coinbase sends for a
# refusal that no retry can change.
CODE_RULES: tuple[tuple[type[BaseException], str, Rule], ...] = (
    (IpNotAllowed, "PERMISSION_DENIED", Rule("ip_not_allowed", When.NEVER)),
    (PermissionDenied, "PERMISSION_DENIED", Rule("missing_scope", When.NEVER)),
)
# Most specific class first: the first isinstance match wins.
RULES: tuple[tuple[type[BaseException], Rule], ...] = (
    (ClockSkew, Rule("clock_skew", When.ALWAYS, 2, Wait.NONE, resync_from=1)),
    (AuthError, Rule("unauthorized", When.ALWAYS, 3, Wait.NONE, resync_from=2)),
    (IpNotAllowed, Rule("ip_not_allowed", When.NEVER)),
    (PermissionDenied, Rule("forbidden", When.ALWAYS, 1, Wait.NONE)),
    (RateLimited, Rule("rate_limited", When.ALWAYS, 6, Wait.RETRY_AFTER)),
    (ServerError, Rule("server_error", When.IDEMPOTENT, 4, Wait.BACKOFF, outcome_unknown=True)),
    (RequestTimeout, Rule("timeout", When.IDEMPOTENT, 4, Wait.BACKOFF, outcome_unknown=True)),
    (
        ConnectionLost,
        Rule("connection_lost", When.IDEMPOTENT, 4, Wait.BACKOFF, outcome_unknown=True),
    ),
)
# BadRequest, NotFound, OrderRejected, InvalidPassphrase, ConfigError...: never retried.
FATAL = Rule("fatal", When.NEVER)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Tunable numbers around the table (tests shrink the delays to milliseconds).

    Attributes:
        base_delay: first backoff delay in seconds.
        max_delay: cap of one backoff delay (and of a server ``Retry-After``).
        factor: exponential growth per attempt.
        max_attempts: hard cap of attempts per call, whatever the reasons.
        suspect_resync: resync on the *first* 401 when the clock is suspect.
        max_retry_after: cap on a server's ``Retry-After``; never scaled, because
            retrying earlier than the server asked only earns another 429.
    """

    base_delay: float = 0.25
    max_delay: float = 10.0
    factor: float = 2.0
    max_attempts: int = 8
    suspect_resync: bool = True
    max_retry_after: float = 60.0

    def scaled(self, scale: float) -> RetryPolicy:
        """The same policy with every delay multiplied by ``scale`` (for fast tests)."""
        return RetryPolicy(
            self.base_delay * scale,
            self.max_delay * scale,
            self.factor,
            self.max_attempts,
            self.suspect_resync,
            self.max_retry_after,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a failed attempt."""

    retry: bool
    reason: str
    delay: float = 0.0
    resync_clock: bool = False
    outcome_unknown: bool = False


def rule_for(error: BaseException) -> Rule:
    """The table row for ``error`` (:data:`FATAL` when none matches)."""
    code = getattr(error, "code", None)
    if code:
        for cls, wanted, rule in CODE_RULES:
            if code == wanted and isinstance(error, cls):
                return rule
    for cls, rule in RULES:
        if isinstance(error, cls):
            return rule
    return FATAL


def backoff_delay(retry_number: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * factor**(n-1))]``.

    Full jitter spreads a herd of clients that failed together (AWS architecture
    blog, "Exponential Backoff And Jitter"); ``retry_number`` starts at 1.
    """
    ceiling = min(policy.max_delay, policy.base_delay * policy.factor ** max(0, retry_number - 1))
    return rng.uniform(0.0, ceiling)


def decide(
    error: BaseException,
    *,
    occurrence: int,
    idempotent: bool,
    clock_suspect: bool,
    policy: RetryPolicy,
    rng: random.Random,
) -> Decision:
    """Decide what to do about one failed attempt.

    Args:
        error: the typed error of the attempt.
        occurrence: how many times this rule's reason has now occurred in this call (1-based).
        idempotent: whether the call is safe to repeat when its outcome is unknown.
        clock_suspect: the signing clock is known to be off or unverified.
        policy: delays and caps.
        rng: jitter source.
    """
    rule = rule_for(error)
    if not isinstance(error, BotkitError):
        return Decision(False, "unexpected")
    allowed = rule.when is When.ALWAYS or (rule.when is When.IDEMPOTENT and idempotent)
    if not allowed or occurrence > rule.max_retries:
        return Decision(False, rule.reason, outcome_unknown=rule.outcome_unknown)
    resync = rule.resync_from > 0 and (
        occurrence >= rule.resync_from or (clock_suspect and policy.suspect_resync)
    )
    delay = 0.0
    if rule.wait is Wait.BACKOFF:
        delay = backoff_delay(occurrence, policy, rng)
    elif rule.wait is Wait.RETRY_AFTER:
        hint = error.retry_after if isinstance(error, RateLimited) else None
        if hint is None:
            delay = backoff_delay(occurrence, policy, rng)
        else:
            delay = min(hint, policy.max_retry_after)
    return Decision(True, rule.reason, delay, resync, rule.outcome_unknown)
