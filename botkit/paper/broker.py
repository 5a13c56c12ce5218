"""The paper broker: a :class:`PaperExchange` wired to its journal, REST and user stream.

This is the piece that lets the runtime (``--mode paper``) and the backtester run the
*same* executor, risk gate and strategy code as live:

* orders reach the paper exchange through :class:`~botkit.net.local.LocalTransport`, an
  in-process implementation of the REST transport seam: the executor signs and sends
  exactly the requests it sends Coinbase, and gets Coinbase-shaped responses back;
* order changes come back as Coinbase ``user``-channel frames, decoded by the same
  venue's :class:`~botkit.market.session.FeedSession` and :class:`FillTracker` as the live
  user connection, so strategies see the same :class:`OrderUpdate` / :class:`FillEvent`
  objects in every mode;
* market data flows *into* the exchange from the feed's decoded events (level2 book
  changes, market-trade prints), which is what makes fills depend on real prints;
* every state change is committed to the paper journal before the REST response
  returns (an acknowledged order survives ``kill -9``), and the equity curve is
  sampled on market time, never while a held position has no price to value it at.

Time is injected (``now``): wall time in paper mode, the replay's virtual clock in a
backtest; nothing here reads a clock itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from botkit.market.events import BookChanged, FeedEvent, TradesReceived
from botkit.market.session import FeedSession
from botkit.net.local import LocalTransport
from botkit.paper.exchange import PaperExchange
from botkit.paper.journal import PaperJournal
from botkit.paper.records import EquityPoint
from botkit.sim.api import SimApi
from botkit.sim.events import OrderChanged
from botkit.sim.ws_frames import dumps, envelope, rfc3339, user_batches, user_update

__all__ = ["PAPER_USER", "PaperBroker"]

log = logging.getLogger("botkit.paper")

PAPER_USER = "paper"


class PaperBroker:
    """One paper account: exchange + journal + in-process REST + user stream.

    Args:
        exchange: the pure paper exchange (fill model and account state).
        journal: where every change and the equity curve go.
        now: the current time (wall or virtual).
        on_event: receives the user-channel events (order updates, fills), exactly as
            the live feed's callback would.
        user_session: the venue's user-channel protocol (with a fill tracker) that
            decodes the broker's own frames into those events.
        quote: the currency the equity curve is valued in.
        equity_interval: seconds of market time between equity samples (plus one
            after every fill).
    """

    def __init__(
        self,
        exchange: PaperExchange,
        journal: PaperJournal,
        *,
        now: Callable[[], float],
        on_event: Callable[[FeedEvent], None],
        user_session: FeedSession,
        quote: str = "USD",
        equity_interval: float = 1.0,
    ) -> None:
        self.exchange = exchange
        self.journal = journal
        self._now = now
        self.on_event = on_event
        self.quote = quote
        self.equity_interval = equity_interval
        self.api = SimApi(exchange)
        self.transport = LocalTransport(
            self.api, user_id=PAPER_USER, now=now, on_request=self.flush
        )
        self._user = user_session
        self._seq = 0
        self._last_equity: float | None = None
        self._unpriced: list[str] = []  # products an equity point waits for (logged once)
        self.resumed = False

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Resume from the journal if it holds a session; announce open orders. True if resumed."""
        orders, fills, balances = self.journal.load()
        if orders or fills or balances:
            self.exchange.restore(orders, fills, balances)
            self.resumed = True
            log.info(
                "paper session resumed: %d order(s), %d fill(s), %d balance(s)",
                len(orders), len(fills), len(balances),
            )  # fmt: skip
        else:
            self.exchange.add_user(PAPER_USER)
        self._user.connection_opened()
        snapshot = user_batches(self.exchange.open_orders_ws(PAPER_USER), 50)
        self._publish(snapshot)
        self.flush()
        return self.resumed

    def balances(self) -> dict[str, Decimal]:
        """Current totals (available + hold) per currency, for the strategy's context."""
        out: dict[str, Decimal] = {}
        for acct in self.exchange.accounts(PAPER_USER):
            total = Decimal(acct["available_balance"]["value"]) + Decimal(acct["hold"]["value"])
            out[acct["currency"]] = total
        return out

    # -- inputs -------------------------------------------------------------------------------

    def on_market_event(self, event: FeedEvent, *, flush: bool = True) -> None:
        """Feed one decoded market event into the exchange (books, trade prints).

        ``flush=False`` leaves journalling and publishing to the caller's next
        :meth:`flush` (a replay flushes once per record, not once per event).
        """
        if type(event) is BookChanged:
            self.exchange.on_book(event.product_id, self._now())
        elif type(event) is TradesReceived:
            if event.kind != "update":
                return  # the snapshot is recent history: it printed before we were here
            now = self._now()
            by_product: dict[str, list[tuple[str, Decimal, Decimal, str]]] = {}
            for tr in event.trades:  # (no setdefault: it built an empty list per print)
                rows = by_product.get(tr.product_id)
                if rows is None:
                    rows = by_product[tr.product_id] = []
                rows.append((tr.trade_id, tr.price, tr.size, tr.side))
            for pid, rows in by_product.items():
                self.exchange.on_trades(pid, rows, now)
        else:
            return
        if flush:
            self.flush()

    def advance(self, *, flush: bool = True) -> None:
        """Apply what is due (submit/cancel latency, expiries), then flush."""
        self.exchange.advance(self._now())
        if flush:
            self.flush()

    # -- outputs ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Journal what changed, publish order changes as user frames, sample equity.

        Called after every market event and request, so the nothing-changed case is
        kept to a few attribute reads (:meth:`PaperExchange.quiet`).
        """
        now = self._now()
        exchange = self.exchange
        fills = False
        if not exchange.quiet():
            delta = exchange.take_delta()
            fills = bool(delta.fills)
            if delta:  # orders, fills or balances
                self.journal.save(delta, now)
            events = exchange.drain_events()
            if events:
                orders = [e.order for e in events if isinstance(e, OrderChanged)]
                if orders:
                    self._publish([user_update(orders)])
        last = self._last_equity
        if fills or last is None or now - last >= self.equity_interval:
            self.sample_equity(now)

    def sample_equity(self, now: float) -> bool:
        """Value the account at current marks and append a point to the equity curve.

        No point (False) while a held currency's product has no price yet (no valid book
        or print since the start, as right after a restart): it would be valued at zero,
        a fall that never happened. The next :meth:`flush` tries again, so the first
        point comes with the first price. A point's marks are the products that have one.
        """
        missing = self.exchange.unpriced(self.quote)
        if missing:
            if missing != self._unpriced:
                log.info(
                    "equity not sampled until %s has a price (a position is held, and no "
                    "book or trade has arrived yet)", ", ".join(missing),
                )  # fmt: skip
            self._unpriced = missing
            return False
        self._unpriced = []
        value, marks = self.exchange.portfolio_value(self.quote)
        priced = {pid: mark for pid, mark in marks.items() if mark > 0}
        self.journal.record_equity(EquityPoint(now, value, self.quote, priced))
        self._last_equity = now
        return True

    def _publish(self, user_events: list[dict[str, object]]) -> None:
        frame = envelope("user", rfc3339(self._now()), self._seq, user_events)
        self._seq += 1
        for event in self._user.receive(dumps(frame)):
            self.on_event(event)
