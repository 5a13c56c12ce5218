"""Adapter ring: the typed Coinbase Prime REST client (an ``OrderVenue``).

Every call goes through :class:`~botkit.net.rest_base.RestClientBase` (fresh HMAC
signature per attempt with :class:`botkit.auth.hmac_sign.PrimeHmacSigner`, rate limits, the
retry table, clock resync); this class supplies Prime's endpoints, shapes
(:mod:`botkit.venues.prime.models`) and error map (:mod:`botkit.venues.prime.errors_map`).
Order endpoints are portfolio-scoped: the portfolio id comes from the settings.

**Create-order and exactly-once.** The executor journals an Advanced Trade-shaped body
(:meth:`botkit.orders.intents.OrderIntent.body`); :meth:`PrimeRestClient.submit_order_body`
translates it with :func:`~botkit.venues.prime.models.prime_create_body` (a pure function
of the journaled bytes, so every re-send is byte-identical) and POSTs it to
``/portfolios/{pid}/order``. Prime is **not** idempotent on ``client_order_id``: it refuses
the id only while an order with it is *active*; once that order is done (a market order,
at once) the same id makes a *new* order. So:

* the create is sent as a **non-idempotent** call: a timeout, reset or 5xx is not retried
  blindly; the executor resolves it by listing orders and matching ``client_order_id``
  (:meth:`list_orders`, Prime's own advice: there is no get-by-client-id endpoint).
  401/403/429 are still retried: Prime answered them before acting.
* a "duplicate client_order_id" refusal means an active order already has the id (an
  earlier attempt was accepted): the client finds it among open orders and returns it as
  the echo, Advanced Trade's idempotent answer, so the executor's echo check (product,
  side, id) applies. Not found → :class:`~botkit.errors.OrderRejected`.
* Prime answers ``{"order_id"}`` only; the echo's product, side and client id are the
  intent's own.
* any other 400 is a final :class:`~botkit.errors.OrderRejected` (InsufficientFunds when
  the message says so).

**Server time.** Prime has no time endpoint. :meth:`measure_offset` sends one unsigned GET
(``time_path``) and reads the HTTP ``Date`` header of whatever comes back (a 401 included),
whole seconds, centred (+0.5 s) and taken at the round trip's midpoint: the error is about
±0.5 s plus half the round trip, well inside Prime's 30 s window.

Not here yet: the Prime WebSocket (``l2_data``, ``orders``), edit, and rate-limit
pacing at Prime's figures (25/s per portfolio): the shared limiter's defaults apply.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

from botkit.auth.clock import SystemClock
from botkit.auth.hmac_sign import PrimeHmacSigner
from botkit.auth.signing import RequestSigner
from botkit.clock import Clock
from botkit.errors import BadRequest, ExchangeError, NotFound
from botkit.net.ratelimit import RateLimiter
from botkit.net.rest_base import RestClientBase
from botkit.net.rest_types import ApiCall, RestRequest, RestResponse, encode_query
from botkit.net.retrying import CallTrace
from botkit.orders.model import CancelResult, CreateOrderResult, Order, OrdersPage, SuccessResponse
from botkit.venues.prime.errors_map import (
    error_from_response,
    is_duplicate_client_order_id,
    order_rejected,
)
from botkit.venues.prime.models import (
    Balance,
    BalancesResult,
    CancelAnswer,
    CreateAnswer,
    Fill,
    FillsPage,
    OrderEnvelope,
    Portfolio,
    PortfolioEnvelope,
    Portfolios,
    PrimeOrder,
    PrimeOrdersPage,
    Product,
    ProductsPage,
    neutral_order,
    prime_create_body,
    prime_statuses,
    rfc3339,
)
from botkit.venues.prime.settings import PrimeVenueSettings

__all__ = ["PrimeRestClient"]


class PrimeRestClient(RestClientBase):
    """Coinbase Prime REST, typed; satisfies :class:`botkit.orders.venue_api.OrderVenue`.

    Args:
        base_url: Prime's REST base, ``/v1`` included (``https://api.prime.coinbase.com/v1``).
        signer: a Prime HMAC signer (any :class:`RequestSigner`).
        portfolio_id: the portfolio every order endpoint acts on.
        **kw: :class:`RestClientBase` options (transport, limiter, policy, timeouts...).
    """

    time_path = "/portfolios"
    """Any path: only the ``Date`` header of its (unsigned, so 401) answer is read."""

    native_exits: frozenset[str] = frozenset({"stop_limit"})
    """Prime's ``STOP_LIMIT`` (``stop_price``; it triggers on Coinbase Exchange's last
    trade) takes a stop-limit exit (a SELL stop below the market, a BUY stop above:
    Prime's body has no direction; :func:`~botkit.venues.prime.models.prime_create_body`
    refuses any other); brackets and attached TP/SL are emulated by the running bot."""

    create_deduplicates: bool = False
    """A duplicate ``client_order_id`` is refused only while the first order is
    active: nothing is sent again before a lookup answers."""

    def __init__(
        self, base_url: str, signer: RequestSigner | None, *, portfolio_id: str, **kw: Any
    ) -> None:
        kw.setdefault("presign", 0)  # pre-signing is for JWTs; an HMAC is cheap
        # Prime's documented limits (reference §2.B): 25/s per portfolio, 100/s per IP;
        # every Prime call is signed and portfolio-scoped, so the private bucket paces
        kw.setdefault("limiter", RateLimiter(25.0, 100.0))
        super().__init__(base_url, signer, **kw)
        self.portfolio_id = portfolio_id

    @classmethod
    def from_settings(
        cls, settings: PrimeVenueSettings, *, clock: Clock | None = None, **kw: Any
    ) -> PrimeRestClient:
        """A client with a :class:`PrimeHmacSigner` built from ``settings``."""
        signer = PrimeHmacSigner(
            settings.access_key,
            settings.signing_key.get_secret_value(),
            settings.passphrase.get_secret_value(),
            clock=clock or SystemClock(),
        )
        return cls(settings.rest_url, signer, portfolio_id=settings.portfolio_id, **kw)

    @property
    def _pf(self) -> str:
        return f"/portfolios/{self.portfolio_id}"

    # -- the venue's hooks -----------------------------------------------------------------

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str], *, now: float
    ) -> ExchangeError:
        return error_from_response(status, body, headers, now=now)

    def server_seconds(self, response: RestResponse) -> float:
        """Prime's clock from the ``Date`` header (whole seconds, so +0.5 to centre it)."""
        value = response.headers.get("date")
        if not value:
            raise ExchangeError(
                "Coinbase Prime sent no Date header, so its clock cannot be read; "
                "fix the local clock (NTP) instead",
                status=response.status,
            )
        try:
            return parsedate_to_datetime(value).timestamp() + 0.5
        except (TypeError, ValueError):
            raise ExchangeError(
                f"unreadable Date header {value!r} from Coinbase Prime", status=response.status
            ) from None

    async def measure_offset(self) -> float:
        """Seconds Prime's clock is ahead of ours, from one unsigned request's ``Date``.

        Raises:
            TransportError: the request got no answer at all.
        """
        request = RestRequest("GET", self.base_url + self.time_path, {"Accept": "application/json"})
        t0 = self._wall()
        response = await self.transport.send(request)
        t1 = self._wall()
        return self.server_seconds(response) - (t0 + t1) / 2

    # -- portfolios, balances, products ----------------------------------------------------

    async def portfolios(self) -> list[Portfolio]:
        """``GET /portfolios``: the portfolios this key can see (with their entity ids)."""
        return (await self.get("/portfolios", Portfolios)).portfolios

    async def portfolio(self) -> Portfolio:
        return (await self.get(self._pf, PortfolioEnvelope)).portfolio

    async def balances(self, symbols: Iterable[str] | None = None) -> list[Balance]:
        """Trading balances of the portfolio (``amount`` includes ``holds``)."""
        result = await self.get(
            f"{self._pf}/balances",
            BalancesResult,
            symbols=list(symbols) if symbols is not None else None,
            balance_type="TRADING_BALANCES",
        )
        return result.balances

    async def products(self, *, limit: int = 250) -> list[Product]:
        """Every spot product the portfolio can see, following the cursor."""
        out: list[Product] = []
        cursor: str | None = None
        while True:
            page = await self.get(
                f"{self._pf}/products", ProductsPage, limit=limit, cursor=cursor or None
            )
            out += page.products
            if not page.pagination.has_next or not page.pagination.next_cursor:
                return out
            cursor = page.pagination.next_cursor

    # -- orders (the OrderVenue protocol) --------------------------------------------------

    async def submit_order_body(
        self, body: bytes, *, client_order_id: str, trace: CallTrace | None = None
    ) -> CreateOrderResult:
        """POST the Prime translation of the journaled body (see the module docstring).

        Raises:
            OrderRejected: Prime refused the order (a 400), the configuration has no Prime
                equivalent, or the client id is in use by another active order.
        """
        doc = _echo_fields(body)
        call = ApiCall(
            "POST",
            f"{self._pf}/order",
            body=prime_create_body(body),
            idempotent=False,
            client_order_id=client_order_id,
        )
        try:
            response = await self.call(call, trace)
        except BadRequest as exc:
            if is_duplicate_client_order_id(exc):
                existing = await self.find_open_order(client_order_id, doc["product_id"])
                if existing is not None:
                    return _echo(existing.id, existing.product_id, existing.side, client_order_id)
            raise order_rejected(exc) from exc
        answer = self.decode(response, CreateAnswer)
        return _echo(answer.order_id, doc["product_id"], doc["side"], client_order_id)

    async def find_open_order(self, client_order_id: str, product_id: str) -> PrimeOrder | None:
        """The active order with this client id, by paging ``open_orders`` (None if none)."""
        cursor: str | None = None
        while True:
            page = await self.get(
                f"{self._pf}/open_orders",
                PrimeOrdersPage,
                product_ids=[product_id],
                limit=250,
                cursor=cursor or None,
            )
            for order in page.orders:
                if order.client_order_id == client_order_id:
                    return order
            if not page.pagination.has_next or not page.pagination.next_cursor:
                return None
            cursor = page.pagination.next_cursor

    def start_presigning(self) -> None:
        """Nothing to prepare: an HMAC signature costs microseconds (no token pool)."""

    async def get_order(self, order_id: str) -> Order:
        return neutral_order(await self.get_prime_order(order_id))

    async def get_prime_order(self, order_id: str) -> PrimeOrder:
        """The order in Prime's own shape (``net_average_filled_price``, ``user_context``...)."""
        return (await self.get(f"{self._pf}/orders/{order_id}", OrderEnvelope)).order

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
        """One page of the portfolio's orders, newest first; dates are Unix seconds.

        ``order_status`` takes botkit's (Advanced Trade) names; ``OPEN`` also asks for
        Prime's ``PENDING`` (accepted, not yet working).
        """
        query = encode_query(
            {
                "order_statuses": prime_statuses(order_status) if order_status else None,
                "product_ids": list(product_ids) if product_ids is not None else None,
                "order_side": order_side,
                "start_date": rfc3339(start_date) if start_date is not None else None,
                "end_date": rfc3339(end_date) if end_date is not None else None,
                "limit": limit,
                "cursor": cursor or None,
                "sort_direction": "DESC",
            }
        )
        response = await self.call(ApiCall("GET", f"{self._pf}/orders", query))
        page = self.decode(response, PrimeOrdersPage)
        return OrdersPage(
            orders=[neutral_order(o) for o in page.orders],
            has_next=page.pagination.has_next and bool(page.pagination.next_cursor),
            cursor=page.pagination.next_cursor,
        )

    async def iter_orders(self, **filters: Any) -> AsyncIterator[Order]:
        """Every matching order (see :meth:`list_orders`), following the cursor."""
        cursor: str | None = None
        while True:
            page = await self.list_orders(cursor=cursor, **filters)
            for order in page.orders:
                yield order
            if not page.has_next:
                return
            cursor = page.cursor

    async def cancel_orders(self, order_ids: Iterable[str]) -> list[CancelResult]:
        """Cancel each order (Prime cancels one per request); a repeat is harmless.

        An unknown order is ``UNKNOWN_CANCEL_ORDER``; one already done is
        ``INVALID_CANCEL_REQUEST`` (Prime answers a 400). Other errors are raised.
        """
        out: list[CancelResult] = []
        for order_id in order_ids:
            call = ApiCall(
                "POST", f"{self._pf}/orders/{order_id}/cancel", answers=(NotFound, BadRequest)
            )
            try:
                answer = self.decode(await self.call(call), CancelAnswer)
            except NotFound:
                out.append(CancelResult(success=False, failure_reason="UNKNOWN_CANCEL_ORDER",
                                        order_id=order_id))  # fmt: skip
                continue
            except BadRequest:
                out.append(CancelResult(success=False, failure_reason="INVALID_CANCEL_REQUEST",
                                        order_id=order_id))  # fmt: skip
                continue
            out.append(CancelResult(success=True, order_id=answer.id or order_id))
        return out

    # -- fills -----------------------------------------------------------------------------

    async def backfill_fills(self, order_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every fill of these orders, in the fill shape the fill tracker reads (Advanced
        Trade's §2.8 field names: ``filled_quantity`` is the base ``size``). The feed's REST
        backfill after an ``orders`` gap."""
        rows: list[dict[str, Any]] = []
        for order_id in order_ids:
            for f in await self.order_fills(order_id):
                rows.append(
                    {
                        "order_id": f.order_id or order_id,
                        "trade_id": f.id,
                        "product_id": f.product_id,
                        "side": f.side.upper(),
                        "price": f.price,
                        "size": f.filled_quantity,
                        "commission": f.commission,
                    }
                )
        return rows

    async def order_fills(self, order_id: str) -> list[Fill]:
        """Every fill of one order, following the cursor."""
        return await self._fills(f"{self._pf}/orders/{order_id}/fills", {})

    async def portfolio_fills(self, *, start: float, end: float | None = None) -> list[Fill]:
        """The portfolio's fills from ``start`` (Unix seconds; Prime requires a start)."""
        window = {"start_date": rfc3339(start), "end_date": rfc3339(end) if end else None}
        return await self._fills(f"{self._pf}/fills", window)

    async def _fills(self, path: str, filters: dict[str, str | None]) -> list[Fill]:
        out: list[Fill] = []
        cursor: str | None = None
        while True:
            query = encode_query({**filters, "limit": 250, "cursor": cursor or None})
            page = self.decode(await self.call(ApiCall("GET", path, query)), FillsPage)
            out += page.fills
            if not page.pagination.has_next or not page.pagination.next_cursor:
                return out
            cursor = page.pagination.next_cursor


def _echo_fields(body: bytes) -> dict[str, str]:
    doc = json.loads(body)
    return {"product_id": str(doc.get("product_id", "")), "side": str(doc.get("side", ""))}


def _echo(order_id: str, product_id: str, side: str, client_order_id: str) -> CreateOrderResult:
    return CreateOrderResult(
        success=True,
        success_response=SuccessResponse(
            order_id=order_id, product_id=product_id, side=side, client_order_id=client_order_id
        ),
    )
