"""Adapter ring: the typed Advanced Trade REST client (reference §2.2).

Each method is one endpoint: Decimal in, frozen typed results out
(:mod:`botkit.venues.advanced_trade.models`). Paginated lists have a page method and an
``iter_*`` async iterator that follows ``cursor`` (§2.10). All calls share the
engine of :class:`~botkit.net.rest_base.RestClientBase`: fresh signature per
attempt, rate limiting, the retry table, clock resync.

Create-order lives here as :meth:`RestClient.submit_order_body` — the raw,
journal-friendly form — plus :meth:`RestClient.create_order`; exactly-once
placement (journal, lookup by ``client_order_id``) is the executor's job
(:mod:`botkit.orders.executor`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botkit.errors import ExchangeError
from botkit.net.rest_base import RestClientBase
from botkit.net.rest_types import ApiCall, RestResponse, encode_query
from botkit.net.retrying import CallTrace
from botkit.orders.intents import OrderIntent, Side, dec_str
from botkit.orders.venue_api import EXIT_KINDS
from botkit.venues.advanced_trade.errors_map import error_from_response, order_rejected
from botkit.venues.advanced_trade.models import (
    Account,
    AccountsPage,
    CancelResult,
    Candle,
    CreateOrderResult,
    EditResult,
    Fill,
    FillsPage,
    KeyPermissions,
    MarketTrades,
    Order,
    OrdersPage,
    Portfolio,
    PortfolioBreakdown,
    PreviewResult,
    PriceBook,
    Product,
    ProductBook,
    ServerTime,
    TransactionSummary,
    _AccountEnvelope,
    _BreakdownEnvelope,
    _CancelResults,
    _Candles,
    _OrderEnvelope,
    _Portfolios,
    _Products,
)
from botkit.venues.advanced_trade.models import BestBidAsk as _BestBidAsk

__all__ = ["RestClient", "rfc3339"]

_CANCEL_CHUNK = 100  # batch_cancel accepts at most 100 ids (§2.6)


def rfc3339(ts: float) -> str:
    """Unix seconds → the RFC 3339 ``Z`` form Coinbase's list filters take."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class RestClient(RestClientBase):
    """Coinbase Advanced Trade REST, typed. See :class:`RestClientBase` for the arguments."""

    native_exits: frozenset[str] = EXIT_KINDS
    """Advanced Trade takes every exit kind as an order of its own (reference §2.4):
    ``stop_limit_stop_limit_gtc/gtd``, ``trigger_bracket_gtc/gtd`` and an entry's
    ``attached_order_configuration``. The paper broker's client is this class over the
    in-process transport, and the simulator's engine implements all three too."""

    create_deduplicates: bool = True
    """A repeat of a create-order's ``client_order_id`` returns the order it made
    (reference §2.5): re-sending after a failed lookup is safe."""

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str], *, now: float
    ) -> ExchangeError:
        return error_from_response(status, body, headers, now=now)

    def server_seconds(self, response: RestResponse) -> float:
        return self.decode(response, ServerTime).seconds

    async def server_time(self) -> ServerTime:
        """``GET /time`` (public; Coinbase's clock)."""
        return await self.get(self.time_path, ServerTime, private=False)

    def _market(self, path: str) -> tuple[str, bool]:
        """Private path when we have a key (per-user limits), else the public ``/market`` mirror."""
        return (path, True) if self.signer is not None else (f"/market{path}", False)

    # -- accounts ---------------------------------------------------------------------------

    async def list_accounts(self, *, limit: int = 250, cursor: str | None = None) -> AccountsPage:
        return await self.get("/accounts", AccountsPage, limit=limit, cursor=cursor or None)

    async def iter_accounts(self, *, limit: int = 250) -> AsyncIterator[Account]:
        """Every account, following the cursor."""
        cursor: str | None = None
        while True:
            page = await self.list_accounts(limit=limit, cursor=cursor)
            for account in page.accounts:
                yield account
            if not page.has_next or not page.cursor:
                return
            cursor = page.cursor

    async def get_account(self, account_uuid: str) -> Account:
        return (await self.get(f"/accounts/{account_uuid}", _AccountEnvelope)).account

    # -- market data ------------------------------------------------------------------------

    async def products(
        self, product_ids: Iterable[str] | None = None, *, product_type: str | None = None
    ) -> list[Product]:
        """Products, optionally by id and by ``product_type`` (``SPOT`` / ``FUTURE``)."""
        path, private = self._market("/products")
        ids = list(product_ids) if product_ids is not None else None
        return (
            await self.get(
                path, _Products, private=private, product_ids=ids, product_type=product_type
            )
        ).products

    async def product(self, product_id: str) -> Product:
        path, private = self._market(f"/products/{product_id}")
        return await self.get(path, Product, private=private)

    async def product_book(
        self,
        product_id: str,
        *,
        limit: int | None = None,
        aggregation_price_increment: Decimal | None = None,
    ) -> ProductBook:
        """The book; with ``aggregation_price_increment`` levels are grouped into price buckets."""
        path, private = self._market("/product_book")
        increment = (
            dec_str(aggregation_price_increment)
            if aggregation_price_increment is not None
            else None
        )
        return await self.get(
            path,
            ProductBook,
            private=private,
            product_id=product_id,
            limit=limit,
            aggregation_price_increment=increment,
        )

    async def best_bid_ask(self, product_ids: Iterable[str]) -> list[PriceBook]:
        result = await self.get("/best_bid_ask", _BestBidAsk, product_ids=list(product_ids))
        return result.pricebooks

    async def candles(
        self,
        product_id: str,
        *,
        start: int,
        end: int,
        granularity: str = "ONE_MINUTE",
        limit: int | None = None,
    ) -> list[Candle]:
        """Candles newest first; empty buckets are omitted by Coinbase (§2.9)."""
        path, private = self._market(f"/products/{product_id}/candles")
        return (
            await self.get(
                path,
                _Candles,
                private=private,
                start=str(start),
                end=str(end),
                granularity=granularity,
                limit=limit,
            )
        ).candles

    async def market_trades(
        self,
        product_id: str,
        *,
        limit: int = 100,
        start: int | None = None,
        end: int | None = None,
    ) -> MarketTrades:
        """The latest ``limit`` public trades, optionally within ``[start, end)`` (Unix s)."""
        path, private = self._market(f"/products/{product_id}/ticker")
        return await self.get(
            path,
            MarketTrades,
            private=private,
            limit=limit,
            start=str(start) if start is not None else None,
            end=str(end) if end is not None else None,
        )

    # -- account info -----------------------------------------------------------------------

    async def transaction_summary(self) -> TransactionSummary:
        """Fee tier and 30-day volume."""
        return await self.get("/transaction_summary", TransactionSummary)

    async def key_permissions(self) -> KeyPermissions:
        return await self.get("/key_permissions", KeyPermissions)

    # -- portfolios -------------------------------------------------------------------------

    async def list_portfolios(self, *, portfolio_type: str | None = None) -> list[Portfolio]:
        """The user's portfolios (``DEFAULT``/``CONSUMER``/``INTX``); how a bot learns the
        ``retail_portfolio_id`` its accounts, orders and fills carry."""
        return (
            await self.get("/portfolios", _Portfolios, portfolio_type=portfolio_type)
        ).portfolios

    async def portfolio_breakdown(
        self, portfolio_uuid: str, *, currency: str | None = None
    ) -> PortfolioBreakdown:
        """Balances and spot positions of one portfolio, valued in ``currency`` (e.g. USD)."""
        envelope = await self.get(
            f"/portfolios/{portfolio_uuid}", _BreakdownEnvelope, currency=currency
        )
        return envelope.breakdown

    # -- orders -----------------------------------------------------------------------------

    async def submit_order_body(
        self,
        body: bytes,
        *,
        client_order_id: str,
        trace: CallTrace | None = None,
    ) -> CreateOrderResult:
        """POST these exact bytes to ``/orders``; retried only with the same body (same id).

        Raises:
            OrderRejected: HTTP 200 with ``success: false`` (not retried).
        """
        call = ApiCall("POST", "/orders", body=body, client_order_id=client_order_id)
        response = await self.call(call, trace)
        result = self.decode(response, CreateOrderResult)
        if not result.success:
            raise order_rejected(json.loads(response.body), request_id=None)
        return result

    async def create_order(self, intent: OrderIntent) -> CreateOrderResult:
        """Place an order directly (no journal). Prefer
        :class:`botkit.orders.executor.OrderExecutor`."""
        return await self.submit_order_body(intent.body(), client_order_id=intent.client_order_id)

    async def preview_order(
        self, product_id: str, side: Side, order_configuration: dict[str, Any]
    ) -> PreviewResult:
        body = _json(
            {"product_id": product_id, "side": side, "order_configuration": order_configuration}
        )
        response = await self.call(ApiCall("POST", "/orders/preview", body=body))
        return self.decode(response, PreviewResult)

    async def cancel_orders(self, order_ids: Iterable[str]) -> list[CancelResult]:
        """Cancel by order id, in chunks of 100. Cancelling twice is harmless, so it is retried."""
        ids = list(order_ids)
        out: list[CancelResult] = []
        for i in range(0, len(ids), _CANCEL_CHUNK):
            body = _json({"order_ids": ids[i : i + _CANCEL_CHUNK]})
            response = await self.call(ApiCall("POST", "/orders/batch_cancel", body=body))
            out += self.decode(response, _CancelResults).results
        return out

    async def edit_order(self, order_id: str, *, price: Decimal, size: Decimal) -> EditResult:
        """Edit a GTC limit order (both price and size are required, §2.6).

        Not idempotent (a repeated edit fails as equal to the original), so an
        unknown outcome is raised, not retried: re-read the order instead.
        """
        body = _json({"order_id": order_id, "price": dec_str(price), "size": dec_str(size)})
        call = ApiCall("POST", "/orders/edit", body=body, idempotent=False)
        return self.decode(await self.call(call), EditResult)

    async def get_order(self, order_id: str) -> Order:
        return (await self.get(f"/orders/historical/{order_id}", _OrderEnvelope)).order

    async def list_orders(
        self,
        *,
        product_ids: Iterable[str] | None = None,
        order_status: Iterable[str] | None = None,
        order_side: str | None = None,
        start_date: float | None = None,
        end_date: float | None = None,
        order_types: Iterable[str] | None = None,
        time_in_forces: Iterable[str] | None = None,
        product_type: str | None = None,
        sort_by: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> OrdersPage:
        """One page of orders, newest first unless ``sort_by`` (``LIMIT_PRICE``,
        ``LAST_FILL_TIME``, ``LAST_UPDATE_TIME``); dates are Unix seconds."""
        query = encode_query(
            {
                "product_ids": list(product_ids) if product_ids is not None else None,
                "order_status": list(order_status) if order_status is not None else None,
                "order_side": order_side,
                "start_date": rfc3339(start_date) if start_date is not None else None,
                "end_date": rfc3339(end_date) if end_date is not None else None,
                "order_types": list(order_types) if order_types is not None else None,
                "time_in_forces": list(time_in_forces) if time_in_forces is not None else None,
                "product_type": product_type,
                "sort_by": sort_by,
                "limit": limit,
                "cursor": cursor or None,
            }
        )
        response = await self.call(ApiCall("GET", "/orders/historical/batch", query))
        return self.decode(response, OrdersPage)

    async def iter_orders(self, **filters: Any) -> AsyncIterator[Order]:
        """Every matching order (see :meth:`list_orders`), following the cursor."""
        cursor: str | None = None
        while True:
            page = await self.list_orders(cursor=cursor, **filters)
            for order in page.orders:
                yield order
            if not page.has_next or not page.cursor:
                return
            cursor = page.cursor

    async def list_fills(
        self,
        *,
        order_ids: Iterable[str] | None = None,
        trade_ids: Iterable[str] | None = None,
        product_ids: Iterable[str] | None = None,
        start: float | None = None,
        end: float | None = None,
        sort_by: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> FillsPage:
        """One page of fills, newest first (``sort_by="PRICE"``: highest price first);
        ``start``/``end`` (Unix seconds) bound the fills' ``sequence_timestamp``."""
        return await self.get(
            "/orders/historical/fills",
            FillsPage,
            order_ids=list(order_ids) if order_ids is not None else None,
            trade_ids=list(trade_ids) if trade_ids is not None else None,
            product_ids=list(product_ids) if product_ids is not None else None,
            start_sequence_timestamp=rfc3339(start) if start is not None else None,
            end_sequence_timestamp=rfc3339(end) if end is not None else None,
            sort_by=sort_by,
            limit=limit,
            cursor=cursor or None,
        )

    async def backfill_fills(self, order_ids: Sequence[str]) -> list[Fill]:
        """Every fill of these orders: the feed's REST backfill after a ``user`` gap."""
        return [f async for f in self.iter_fills(order_ids=list(order_ids))] if order_ids else []

    async def iter_fills(self, **filters: Any) -> AsyncIterator[Fill]:
        """Every matching fill; fills pages have no ``has_next``: an empty cursor ends (§2.8)."""
        cursor: str | None = None
        while True:
            page = await self.list_fills(cursor=cursor, **filters)
            for fill in page.fills:
                yield fill
            if not page.cursor:
                return
            cursor = page.cursor
