"""Adapter ring: the typed Coinbase Exchange REST client (an ``OrderVenue``).

Every call goes through :class:`~botkit.net.rest_base.RestClientBase` (a fresh HMAC
signature per attempt with :class:`botkit.auth.hmac_sign.ExchangeHmacSigner`, rate limits,
the retry table, clock resync from ``GET /time``); this class supplies Exchange's endpoints,
shapes (:mod:`botkit.venues.exchange.models`) and error map
(:mod:`botkit.venues.exchange.errors_map`).

**The signed URL is the sent URL.** Exchange signs the path *with* its query. The HTTP
stack (yarl, under aiohttp) normalises a URL before sending it — ``%3A`` in an ISO date
goes out as ``:`` — so a signature over the un-normalised text would not match what the
server reads. :meth:`ExchangeRestClient.prepare_request` normalises the URL the same way
first and signs that.

**Create-order and exactly-once.** The executor journals an Advanced Trade-shaped body
(:meth:`botkit.orders.intents.OrderIntent.body`); :meth:`ExchangeRestClient.submit_order_body`
translates it with :func:`~botkit.venues.exchange.models.exchange_create_body` (a pure
function of the journaled bytes: every re-send is byte-identical) and POSTs it. Exchange does
**not** deduplicate ``client_oid`` (reference §1.B.1), so:

* the create is a **non-idempotent** call: a timeout, reset or 5xx is not retried blindly
  (a second POST would be a second order); the executor resolves the unknown outcome by
  its lookup (:meth:`list_orders`, matching ``client_oid``), and
  :meth:`order_by_client_oid` (``GET /orders/client:<oid>``) answers the same question in
  one request. 401/403/429 are still retried: Exchange answered them before acting.
* should a server refuse a duplicate ``client_oid`` (the simulator can), the open order
  with it is looked up and returned as the echo, so the executor's echo check applies.
* Exchange answers the whole order (``status: pending``); its id, product, side and
  ``client_oid`` are the echo.
* any other 400, and a 404 ``Product not found``, is a final
  :class:`~botkit.errors.OrderRejected` (InsufficientFunds for "Insufficient funds");
  a bad passphrase is not a rejection of the order and stays InvalidPassphrase.

Not here yet: the Exchange WebSocket (``level2``, ``matches``, ``user``), rate-limit pacing
at Exchange's figures (15/s per profile): the shared limiter's defaults apply.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from yarl import URL

from botkit.auth.clock import SystemClock
from botkit.auth.hmac_sign import ExchangeHmacSigner
from botkit.auth.jwt import PresignedTokens
from botkit.auth.signing import RequestSigner
from botkit.clock import Clock
from botkit.errors import BadRequest, ConfigError, ExchangeError, InvalidPassphrase, NotFound
from botkit.net.ratelimit import RateLimiter
from botkit.net.rest_base import RestClientBase
from botkit.net.rest_types import ApiCall, RestRequest, RestResponse, encode_query
from botkit.net.retrying import CallTrace
from botkit.orders.model import CancelResult, CreateOrderResult, Order, OrdersPage, SuccessResponse
from botkit.venues.exchange.errors_map import (
    error_from_response,
    is_duplicate_client_oid,
    order_rejected,
)
from botkit.venues.exchange.models import (
    Account,
    Book,
    Candle,
    ExchangeOrder,
    Fees,
    Fill,
    Product,
    ServerTime,
    Ticker,
    Trade,
    exchange_create_body,
    exchange_statuses,
    neutral_order,
    neutral_status,
)
from botkit.venues.exchange.settings import ExchangeVenueSettings

__all__ = ["ExchangeRestClient", "Page"]


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, newest first, with Exchange's cursors.

    ``after`` (the ``CB-AFTER`` header) pages to **older** items, ``before`` (``CB-BEFORE``)
    to newer ones; both are "" when the page is empty.
    """

    items: list[T]
    before: str = ""
    after: str = ""


def _iso(ts: float) -> str:
    """Unix seconds → ``2026-12-05T08:00:00.000000Z``, the form Exchange's date filters take."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ExchangeRestClient(RestClientBase):
    """Coinbase Exchange REST, typed; satisfies :class:`botkit.orders.venue_api.OrderVenue`.

    Args:
        base_url: Exchange's REST base (``https://api.exchange.coinbase.com``).
        signer: an Exchange HMAC signer (any :class:`RequestSigner`); None for public data.
        **kw: :class:`RestClientBase` options (transport, limiter, policy, timeouts...).
    """

    time_path = "/time"

    native_exits: frozenset[str] = frozenset({"stop_limit"})
    """Exchange has stop orders (``stop: loss|entry`` + ``stop_price`` on a limit order,
    GTC only; :func:`~botkit.venues.exchange.models.exchange_create_body` translates
    ``stop_limit_stop_limit_gtc``), but no bracket and no attached exits: those are
    emulated by the running bot."""

    create_deduplicates: bool = False
    """``client_oid`` is not deduplicated (reference §1.B.1): nothing is sent again
    before a lookup answers."""

    def __init__(self, base_url: str, signer: RequestSigner | None, **kw: Any) -> None:
        kw.setdefault("presign", 0)  # pre-signing is for JWTs; an HMAC costs microseconds
        # Exchange's documented limits (reference §1.B): private 15/s per profile, public
        # 10/s per IP (bursts of 30 and 15 not used: one second's worth is the safe side)
        kw.setdefault("limiter", RateLimiter(15.0, 10.0))
        super().__init__(base_url, signer, **kw)

    @classmethod
    def from_settings(
        cls, settings: ExchangeVenueSettings, *, clock: Clock | None = None, **kw: Any
    ) -> ExchangeRestClient:
        """A client with an :class:`ExchangeHmacSigner` built from ``settings``."""
        signer = ExchangeHmacSigner(
            settings.api_key,
            settings.api_secret.get_secret_value(),
            settings.passphrase.get_secret_value(),
            clock=clock or SystemClock(),
            decimal_timestamp=settings.decimal_timestamp,
        )
        return cls(settings.rest_url, signer, **kw)

    # -- the venue's hooks -----------------------------------------------------------------

    def prepare_request(
        self, call: ApiCall, *, presigned: bool = True
    ) -> tuple[RestRequest, PresignedTokens | None]:
        """Build and sign one attempt; the URL is normalised as the HTTP stack will send it."""
        url = str(URL(call.url(self.base_url)))
        headers = {"Accept": "application/json"}
        if call.body:
            headers["Content-Type"] = "application/json"
        if call.private:
            if self.signer is None:
                raise ConfigError(f"{call.label} needs an Exchange API key; none is configured")
            headers.update(self.signer.sign(call.method, url, call.body))
        return RestRequest(call.method, url, headers, call.body), None

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str], *, now: float
    ) -> ExchangeError:
        return error_from_response(status, body, headers, now=now)

    def server_seconds(self, response: RestResponse) -> float:
        """``GET /time``'s ``epoch`` (float seconds)."""
        return self.decode(response, ServerTime).epoch

    def start_presigning(self) -> None:
        """Nothing to prepare: an HMAC signature costs microseconds (no token pool)."""

    def _page(self, response: RestResponse, kind: type[T]) -> Page[T]:
        items = self.decode(response, list[kind])  # type: ignore[valid-type]
        headers = response.headers
        return Page(items=items, before=headers.get("cb-before", ""),
                    after=headers.get("cb-after", ""))  # fmt: skip

    # -- public market data ----------------------------------------------------------------

    async def server_time(self) -> float:
        """Exchange's clock (Unix seconds)."""
        return self.server_seconds(await self.call(ApiCall("GET", "/time", private=False)))

    async def products(self) -> list[Product]:
        return await self.get("/products", list[Product], private=False)

    async def product(self, product_id: str) -> Product:
        return await self.get(f"/products/{product_id}", Product, private=False)

    async def book(self, product_id: str, *, level: int = 2) -> Book:
        """Level 1 (best bid/ask) or 2 (aggregated) book."""
        return await self.get(f"/products/{product_id}/book", Book, private=False, level=str(level))

    async def ticker(self, product_id: str) -> Ticker:
        return await self.get(f"/products/{product_id}/ticker", Ticker, private=False)

    async def candles(
        self,
        product_id: str,
        *,
        granularity: int = 60,
        start: float | None = None,
        end: float | None = None,
    ) -> list[Candle]:
        """Up to 300 candles, newest first (Exchange ignores a lone ``start`` or ``end``)."""
        both = start is not None and end is not None
        return await self.get(
            f"/products/{product_id}/candles",
            list[Candle],
            private=False,
            granularity=str(granularity),
            start=_iso(start) if both and start is not None else None,
            end=_iso(end) if both and end is not None else None,
        )

    async def trades(
        self, product_id: str, *, limit: int = 100, before: str = "", after: str = ""
    ) -> Page[Trade]:
        query = encode_query({"limit": str(limit), "before": before or None,
                              "after": after or None})  # fmt: skip
        call = ApiCall("GET", f"/products/{product_id}/trades", query, private=False)
        return self._page(await self.call(call), Trade)

    # -- private: accounts, fees, fills ----------------------------------------------------

    async def accounts(self) -> list[Account]:
        """Every currency account of the key's profile."""
        return await self.get("/accounts", list[Account])

    async def account(self, account_id: str) -> Account:
        return await self.get(f"/accounts/{account_id}", Account)

    async def fees(self) -> Fees:
        return await self.get("/fees", Fees)

    async def fills(
        self,
        *,
        order_id: str | None = None,
        product_id: str | None = None,
        limit: int = 100,
        before: str = "",
        after: str = "",
    ) -> Page[Fill]:
        """One page of fills (one of ``order_id``/``product_id`` is required), newest first."""
        if not order_id and not product_id:
            raise ValueError("fills need an order_id or a product_id (Exchange requires one)")
        query = encode_query({"order_id": order_id, "product_id": product_id,
                              "limit": str(limit), "before": before or None,
                              "after": after or None})  # fmt: skip
        return self._page(await self.call(ApiCall("GET", "/fills", query)), Fill)

    async def backfill_fills(self, order_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every fill of these orders, in the fill shape the fill tracker reads (Advanced
        Trade's §2.8 field names: Exchange's ``fee`` is the ``commission``; ``size`` is
        base on Exchange). The feed's REST backfill after a ``user`` gap."""
        rows: list[dict[str, Any]] = []
        for order_id in order_ids:
            async for f in self.iter_fills(order_id=order_id):
                rows.append(
                    {
                        "order_id": f.order_id or order_id,
                        "trade_id": str(f.trade_id),
                        "product_id": f.product_id,
                        "side": f.side.upper(),
                        "price": str(f.price),
                        "size": str(f.size),
                        "commission": str(f.fee),
                    }
                )
        return rows

    async def iter_fills(self, **filters: Any) -> AsyncIterator[Fill]:
        """Every fill matching ``filters`` (see :meth:`fills`), following ``CB-AFTER``."""
        after = ""
        limit = int(filters.pop("limit", 100))
        while True:
            page = await self.fills(limit=limit, after=after, **filters)
            for fill in page.items:
                yield fill
            if len(page.items) < limit or not page.after:
                return
            after = page.after

    # -- orders (the OrderVenue protocol) --------------------------------------------------

    async def submit_order_body(
        self, body: bytes, *, client_order_id: str, trace: CallTrace | None = None
    ) -> CreateOrderResult:
        """POST the Exchange translation of the journaled body (see the module docstring).

        Raises:
            OrderRejected: Exchange refused the order, or the body has no Exchange form.
        """
        call = ApiCall(
            "POST",
            "/orders",
            body=exchange_create_body(body),
            idempotent=False,
            client_order_id=client_order_id,
        )
        try:
            response = await self.call(call, trace)
        except InvalidPassphrase:
            raise
        except BadRequest as exc:
            if is_duplicate_client_oid(exc):
                existing = await self.order_by_client_oid(client_order_id)
                if existing is not None:
                    return _echo(existing, client_order_id)
            raise order_rejected(exc) from exc
        except NotFound as exc:  # "Product not found"
            raise order_rejected(exc) from exc
        return _echo(self.decode(response, ExchangeOrder), client_order_id)

    async def order_by_client_oid(self, client_oid: str) -> ExchangeOrder | None:
        """``GET /orders/client:<oid>``: the order with this client id, None on 404."""
        try:
            return await self.get(f"/orders/client:{client_oid}", ExchangeOrder)
        except NotFound:
            return None

    async def get_order(self, order_id: str) -> Order:
        return neutral_order(await self.get_exchange_order(order_id))

    async def get_exchange_order(self, order_id: str) -> ExchangeOrder:
        """The order in Exchange's own shape (``order_id`` may be ``client:<oid>``)."""
        return await self.get(f"/orders/{order_id}", ExchangeOrder)

    async def list_orders(
        self,
        *,
        product_ids: Iterable[str] | None = None,
        order_status: Iterable[str] | None = None,
        order_side: str | None = None,
        start_date: float | None = None,
        end_date: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> OrdersPage:
        """One page of the profile's orders, newest first; dates are Unix seconds.

        Exchange filters by one product and by its own coarser statuses; the side and the
        exact (botkit) status are filtered here, so a page may hold fewer than ``limit``
        orders while ``has_next`` is still true. ``cursor`` is Exchange's ``CB-AFTER``.
        """
        products = list(product_ids or [])
        if len(products) > 1:
            raise ValueError("Coinbase Exchange lists orders of one product (or all) per call")
        wanted = set(order_status or [])
        query = encode_query(
            {
                "product_id": products[0] if products else None,
                "status": exchange_statuses(wanted),
                "start_date": _iso(start_date) if start_date is not None else None,
                "end_date": _iso(end_date) if end_date is not None else None,
                "limit": str(limit),
                "after": cursor or None,
            }
        )
        page = self._page(await self.call(ApiCall("GET", "/orders", query)), ExchangeOrder)
        orders = [
            neutral_order(o)
            for o in page.items
            if (order_side is None or o.side.upper() == order_side)
            and (not wanted or neutral_status(o) in wanted)
        ]
        more = len(page.items) >= limit and bool(page.after)
        return OrdersPage(orders=orders, has_next=more, cursor=page.after if more else "")

    async def cancel_orders(self, order_ids: Iterable[str]) -> list[CancelResult]:
        """Cancel each order (Exchange cancels one per request); a repeat is harmless.

        An unknown order is ``UNKNOWN_CANCEL_ORDER``; one already done is
        ``INVALID_CANCEL_REQUEST`` (Exchange: 400 "Order already done").
        """
        out: list[CancelResult] = []
        for order_id in order_ids:
            try:
                response = await self.call(
                    ApiCall("DELETE", f"/orders/{order_id}", answers=(NotFound, BadRequest))
                )
            except NotFound:
                out.append(CancelResult(success=False, failure_reason="UNKNOWN_CANCEL_ORDER",
                                        order_id=order_id))  # fmt: skip
                continue
            except InvalidPassphrase:
                raise
            except BadRequest:
                out.append(CancelResult(success=False, failure_reason="INVALID_CANCEL_REQUEST",
                                        order_id=order_id))  # fmt: skip
                continue
            out.append(CancelResult(success=True, order_id=_cancelled_id(response) or order_id))
        return out

    async def cancel_all(self, product_id: str | None = None) -> list[str]:
        """``DELETE /orders``: cancel every open order (of one product); the ids cancelled.

        Exchange's cancel-all is best effort: call again until it returns nothing.
        """
        query = encode_query({"product_id": product_id})
        response = await self.call(ApiCall("DELETE", "/orders", query))
        return self.decode(response, list[str])


def _cancelled_id(response: RestResponse) -> str:
    """The id from a cancel answer: a JSON string (current docs) or a one-element array."""
    try:
        value = json.loads(response.body)
    except ValueError:
        return ""
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else ""


def _echo(order: ExchangeOrder, client_order_id: str) -> CreateOrderResult:
    return CreateOrderResult(
        success=True,
        success_response=SuccessResponse(
            order_id=order.id,
            product_id=order.product_id,
            side=order.side.upper(),
            client_order_id=order.client_oid or client_order_id,
        ),
    )
