"""Each venue's client paces at that venue's documented limits, not Advanced Trade's."""

from __future__ import annotations

from botkit.venues.advanced_trade.rest_client import RestClient
from botkit.venues.exchange.rest_client import ExchangeRestClient
from botkit.venues.prime.rest_client import PrimeRestClient


async def test_default_pacing_is_the_venues_own() -> None:
    clients = [
        RestClient("http://127.0.0.1:9", None),
        ExchangeRestClient("http://127.0.0.1:9", None),
        PrimeRestClient("http://127.0.0.1:9/v1", None, portfolio_id="p"),
    ]
    try:
        rates = [(c.limiter.private.rate, c.limiter.public.rate) for c in clients]
    finally:
        for c in clients:
            await c.close()
    assert rates == [(30.0, 10.0), (15.0, 10.0), (25.0, 100.0)]
