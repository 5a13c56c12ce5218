"""Quote-sized fills in paper mode (and so in backtests, which run the same paper broker).

A "$200 of BTC" market buy through botkit's real RestClient over the in-process
transport: REST fills come back in quote (``size_in_quote``) as from Coinbase, the
journal and the report keep base, and the broker's own ``user`` frames, decoded by the
venue protocol's FillTracker, book base in the positions.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path

from botkit.auth.clock import SystemClock
from botkit.auth.factory import generate_cdp_key
from botkit.auth.jwt import JwtSigner
from botkit.market.events import FeedEvent, FillEvent
from botkit.market.requests import Subscription
from botkit.net.ratelimit import RateLimiter
from botkit.orders.fills import FillTracker, rest_fill_amounts
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.orders.positions import Positions
from botkit.paper.broker import PaperBroker
from botkit.paper.journal import PaperJournal
from botkit.paper.setup import PAPER_REST_URL
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.advanced_trade.ws_protocol import FeedProtocol
from tests.paper.harness import BTC, Paper

D = Decimal


async def test_paper_quote_sized_buy_reports_quote_and_books_base(tmp_path: Path) -> None:
    p = Paper()  # asks: 1 BTC at 100, 3 at 101; taker fee 0.6 %
    events: list[FeedEvent] = []
    journal = PaperJournal(tmp_path / "paper.sqlite", durable=False)
    broker = PaperBroker(
        p.ex,
        journal,
        now=lambda: p.now,
        on_event=events.append,
        user_session=FeedProtocol("paper-user", [Subscription("user")], fills=FillTracker()),
    )
    broker.start()
    signer = JwtSigner(generate_cdp_key("ES256"), clock=SystemClock(), nonce=secrets.token_hex)
    client = RestClient(
        PAPER_REST_URL,
        signer,
        transport=broker.transport,
        limiter=RateLimiter(float("inf"), float("inf")),
    )
    try:
        placed = await client.create_order(
            OrderIntent("pq-1", BTC, "BUY", market_ioc(quote_size=D("200")))
        )
        assert placed.success_response is not None
        oid = placed.success_response.order_id
        order = await client.get_order(oid)
        fills = [f async for f in client.iter_fills(order_ids=[oid])]
    finally:
        await client.close()
    base, value, fees = order.filled_size, order.filled_value, order.total_fees
    assert order.status == "FILLED" and base > 1  # walked past the 1 BTC at 100
    assert len(fills) == 2 and all(f.size_in_quote for f in fills)
    assert {f.price: f.size for f in fills} == {D(100): D(100), D(101): (base - 1) * 101}
    amounts = [rest_fill_amounts(f) for f in fills]
    assert sum(a[0] for a in amounts) == base and sum(a[1] for a in amounts) == value
    assert sum(a[2] for a in amounts) == fees

    # the journal (what the report reads) keeps base
    journaled = [f for f in journal.fills() if f.order_id == oid]
    assert sum(f.size for f in journaled) == base
    assert sum(f.price * f.size for f in journaled) == value
    journal.close()

    # the broker's own user frames -> FillTracker -> positions, in base
    positions = Positions({"USD": D("100000"), "BTC": D("10")})
    for e in events:
        if isinstance(e, FillEvent) and e.order_id == oid:
            positions.apply_fill(e.product_id, e.side, e.size, e.price, e.fee)
    assert positions.quantity(BTC) == base
    assert positions.balances() == {"USD": D("100000") - value - fees, "BTC": D("10") + base}
    assert positions.balances()["USD"] == p.balance("USD")[0]
