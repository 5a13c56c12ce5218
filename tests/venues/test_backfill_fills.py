"""Each venue's REST fills, as the feed's backfill reads them after a ``user`` gap.

A fill missed on the WebSocket (an order that finished while the user channel was down: the
reconnect's snapshot lists open orders only) is recovered from REST by
``client.backfill_fills`` → ``FillTracker.reconcile_rest_fills``. The amounts must be the
exchange's own, on every venue: Exchange's ``fee`` and Prime's ``filled_quantity`` are mapped
onto the fill tracker's field names.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from botkit.auth.clock import SystemClock
from botkit.net.ratelimit import RateLimiter
from botkit.orders.fills import FillTracker
from botkit.orders.intents import OrderIntent, market_ioc
from botkit.sim.exchange_rest import ExchangeSimServer
from botkit.sim.prime_rest import PrimeSimServer
from botkit.sim.server import SimServer
from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.exchange.settings import ExchangeVenueSettings
from botkit.venues.prime.rest_client import PrimeRestClient
from botkit.venues.prime.settings import PrimeVenueSettings


async def _client(sim: SimServer, venue: str) -> tuple[Any, Any, str]:
    """(client, dialect server or None, the exchange user the key trades as)."""
    unlimited = RateLimiter(float("inf"), float("inf"))
    if venue == "advanced_trade":
        from botkit.auth.factory import make_jwt_signer
        from botkit.runtime.settings import load_settings

        key = sim.add_key("ES256")
        signer = make_jwt_signer(key, load_settings(env_file=None), clock=SystemClock())
        return RestClient(sim.rest_url, signer, limiter=unlimited), None, "default"
    if venue == "exchange":
        ex = await ExchangeSimServer.sharing(sim).start()
        k = ex.add_key()
        settings = ExchangeVenueSettings(
            api_key=k.key, api_secret=k.secret, passphrase=k.passphrase, rest_url=ex.rest_url
        )
        return ExchangeRestClient.from_settings(settings, limiter=unlimited), ex, k.profile_id
    pr = await PrimeSimServer.sharing(sim).start()
    p = pr.add_key()
    psettings = PrimeVenueSettings(
        access_key=p.access_key,
        signing_key=p.signing_key,
        passphrase=p.passphrase,
        portfolio_id=p.portfolio_ids[0],
        rest_url=pr.rest_url,
    )
    return PrimeRestClient.from_settings(psettings, limiter=unlimited), pr, p.portfolio_ids[0]


@pytest.mark.parametrize("venue", ["advanced_trade", "exchange", "prime"])
async def test_backfill_recovers_a_finished_orders_fills_with_the_exchanges_amounts(
    venue: str,
) -> None:
    async with SimServer(tick_interval=0) as sim:
        client, server, user = await _client(sim, venue)
        try:
            coid = str(uuid.uuid4())
            intent = OrderIntent(coid, "BTC-USD", "BUY", market_ioc(base_size=Decimal("0.25")))
            placed = await client.submit_order_body(intent.body(), client_order_id=coid)
            oid = placed.success_response.order_id
            order = sim.exchange.get_order(user, oid)
            assert order["status"] == "FILLED" and int(order["number_of_fills"]) >= 1
            rows = await client.backfill_fills([oid])
            [fill] = FillTracker().reconcile_rest_fills(rows)
            assert fill.order_id == oid and fill.source == "rest" and fill.side == "BUY"
            assert fill.size == Decimal(order["filled_size"]) == Decimal("0.25")
            assert fill.fee == Decimal(order["total_fees"]) > 0
            assert fill.size * fill.price == pytest.approx(Decimal(order["filled_value"]))
            assert await client.backfill_fills([]) == []
        finally:
            await client.close()
            if server is not None:
                await server.stop()
