"""Adapter ring: apply the pure retry table (:mod:`botkit.net.retry_policy`) with tenacity.

One :class:`RetryController` lives for one logical call. tenacity asks it, in
this order, ``retry`` → ``wait`` → ``stop`` → ``before_sleep``; the controller
computes a single :class:`~botkit.net.retry_policy.Decision` in ``retry`` and the
other hooks only read it, so the table is the one source of truth. The sleep
is injected (tests pass a recorder and never sleep for real).
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState

from botkit.errors import ClockSkew, ExchangeError
from botkit.net.retry_policy import Decision, RetryPolicy, decide, rule_for

__all__ = ["CallTrace", "RetryController"]

log = logging.getLogger("botkit.rest")


@dataclass
class CallTrace:
    """What happened during one call's attempts (the executor reads it).

    Attributes:
        errors: the error of every failed attempt, in order.
        attempts: attempts made.
        resyncs: clock resynchronisations done.
    """

    errors: list[BaseException] = field(default_factory=list)
    attempts: int = 0
    resyncs: int = 0

    @property
    def maybe_processed(self) -> bool:
        """Some attempt may have reached the exchange's order engine (timeout, reset, 5xx)."""
        return any(rule_for(e).outcome_unknown for e in self.errors)


class RetryController:
    """The per-call state behind tenacity's retry/wait/stop/before_sleep hooks.

    Args:
        label: ``METHOD /path`` for logs.
        policy: delays and caps.
        rng: jitter source (seeded in tests).
        idempotent: whether unknown outcomes may be retried.
        clock_suspect: asks the client whether its clock is currently suspect.
        client_order_id: logged with every retry of a create-order.
        trace: collects the attempt errors.
        on_retry: called with the cause (the error's class name) before each retry.
        answers: errors that answer the call (:attr:`ApiCall.answers`): no "giving up" line.
    """

    def __init__(
        self,
        *,
        label: str,
        policy: RetryPolicy,
        rng: random.Random,
        idempotent: bool,
        clock_suspect: Callable[[], bool],
        client_order_id: str | None = None,
        trace: CallTrace | None = None,
        on_retry: Callable[[str], None] | None = None,
        answers: tuple[type[Exception], ...] = (),
    ) -> None:
        self.answers = answers
        self.on_retry = on_retry
        self.label = label
        self.policy = policy
        self.rng = rng
        self.idempotent = idempotent
        self.clock_suspect = clock_suspect
        self.client_order_id = client_order_id
        self.trace = trace if trace is not None else CallTrace()
        self.counts: Counter[str] = Counter()
        self.decision = Decision(False, "none")
        self.resync_pending = False
        self.saw_clock_skew = False

    def retry(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        if error is None:
            return False
        self.trace.errors.append(error)
        if isinstance(error, ClockSkew):
            self.saw_clock_skew = True
        reason = rule_for(error).reason
        self.counts[reason] += 1
        self.decision = decide(
            error,
            occurrence=self.counts[reason],
            idempotent=self.idempotent,
            clock_suspect=self.clock_suspect() or self.saw_clock_skew,
            policy=self.policy,
            rng=self.rng,
        )
        if not self.decision.retry:
            self._give_up(error, state.attempt_number)
        return self.decision.retry

    def wait(self, state: RetryCallState) -> float:
        return self.decision.delay

    def stop(self, state: RetryCallState) -> bool:
        if state.attempt_number < self.policy.max_attempts:
            return False
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None:
            self._give_up(error, state.attempt_number)
        return True

    def before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        d = self.decision
        if self.on_retry is not None:
            self.on_retry(type(error).__name__ if error is not None else "unknown")
        self.resync_pending = self.resync_pending or d.resync_clock
        log.warning(
            "retry %s after attempt %d: %s (%s)%s%s; waiting %.3fs",
            self.label,
            state.attempt_number,
            d.reason,
            _summary(error),
            f"; client_order_id={self.client_order_id}" if self.client_order_id else "",
            "; resyncing clock" if d.resync_clock else "",
            d.delay,
        )

    def _give_up(self, error: BaseException, attempts: int) -> None:
        if (attempts > 1 or self.decision.reason != "fatal") and not isinstance(
            error, self.answers
        ):
            log.warning(
                "giving up %s after %d attempt(s): %s%s",
                self.label,
                attempts,
                _summary(error),
                f"; client_order_id={self.client_order_id}" if self.client_order_id else "",
            )
        error.add_note(f"botkit: {self.label} gave up after {attempts} attempt(s)")

    def retrying(self, sleep: Callable[[float], Awaitable[None]]) -> AsyncRetrying:
        """A tenacity loop wired to this controller."""
        return AsyncRetrying(
            retry=self.retry,
            wait=self.wait,
            stop=self.stop,
            before_sleep=self.before_sleep,
            sleep=sleep,
            reraise=True,
        )


def _summary(error: BaseException | None) -> str:
    if isinstance(error, ExchangeError):
        return f"{type(error).__name__} HTTP {error.status} {error.code}".rstrip()
    return type(error).__name__ if error is not None else "-"
