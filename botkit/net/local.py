"""Adapter ring: an in-process :class:`~botkit.net.transport.Transport` onto the simulator's router.

Paper trading and backtests run the executor's REST calls against a simulated
exchange in the same process. :class:`LocalTransport` hands each
:class:`RestRequest` straight to :meth:`botkit.sim.api.SimApi.handle` — the
same routes the HTTP simulator serves — and wraps the answer in a
:class:`RestResponse`. Nothing above the transport changes: the
:class:`~botkit.venues.advanced_trade.rest_client.RestClient` builds, signs, rate-limits,
retries and decodes exactly as it does against Coinbase ("one transport seam:
only what is injected differs").

No socket, no task, no ``await`` inside :meth:`LocalTransport.send`: awaiting
it runs the request to completion without yielding to the event loop, so a
replay's order of operations depends only on the order of calls, and the same
calls at the same ``now`` values give byte-identical responses.

**The JWT is not verified.** Verification exists to stop a remote party from
acting on someone's account; here the caller *is* the account holder, in the
same process, with no network between them, so there is nothing to
authenticate. The ``Authorization`` header is accepted and ignored, which is
what lets the client's signing code path stay identical to live. (Signature
and clock-skew behaviour is tested against the HTTP simulator, which does
verify.)
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from botkit.net.rest_types import RestRequest, RestResponse
from botkit.sim.api import SimApi

__all__ = ["LocalTransport"]


class LocalTransport:
    """The transport seam, served in-process by a :class:`SimApi` (no sockets).

    Args:
        api: the router over the (paper or simulated) exchange.
        user_id: the exchange user every request acts for; it must exist in
            the exchange (``exchange.add_user``) before the first private call.
        now: the time of each request (wall time in paper mode, the virtual
            clock in a backtest); the exchange advances to it.
        on_request: called after every handled request, even one that raised,
            because the engine may have changed state first (the paper broker
            flushes its journal and publishes user-channel events here).

    Attributes:
        requests: how many requests were handled.
    """

    def __init__(
        self,
        api: SimApi,
        *,
        user_id: str = "paper",
        now: Callable[[], float],
        on_request: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        self.user_id = user_id
        self._now = now
        self._on_request = on_request
        self.requests = 0

    async def send(self, request: RestRequest) -> RestResponse:
        """Answer ``request`` synchronously; the URL's scheme and host are ignored.

        Exceptions from the engine (bugs, not exchange answers) propagate
        unchanged rather than becoming a retried 500.
        """
        return self.send_sync(request)

    def send_sync(self, request: RestRequest) -> RestResponse:
        """The same as :meth:`send`, for synchronous callers (tools, benchmarks)."""
        parts = urlsplit(request.url)
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        self.requests += 1
        try:
            answer = self.api.handle(
                request.method,
                parts.path or "/",
                query,
                request.body,
                self.user_id,
                self._now(),
            )
        finally:
            if self._on_request is not None:
                self._on_request()
        headers = {"content-type": answer.content_type}
        headers.update({k.lower(): v for k, v in answer.headers.items()})
        body = b"" if request.method.upper() == "HEAD" else answer.body_bytes()
        return RestResponse(answer.status, body, headers)

    async def close(self) -> None:
        """Nothing to release; the transport stays usable (as the aiohttp one reopens)."""
