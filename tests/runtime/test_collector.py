"""``[bot] gc_freeze``: a live bot freezes what start-up built, out of the cyclic
collector's reach (a full collection held the event loop ~24 ms on a live bot with a
BTC-USD-sized book; bench/bench_collector.py measures it), and leaves the collector alone
when told not to. A real ``BotRuntime`` in live mode against the simulator."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from botkit.runtime.bot import BotRuntime
from botkit.sim.server import SimServer
from botkit.sim.ws import WsConfig
from tests.runtime.live_run import run_live
from tests.strategy.exit_helpers import quiet_market


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()  # the freeze is the process's: each case starts from none, leaves none
    yield
    gc.unfreeze()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("freeze", [True, False])
async def test_a_live_bot_freezes_its_start_up_objects_unless_told_not_to(
    tmp_path: Path, unfrozen: None, freeze: bool
) -> None:
    seen: list[int] = []

    def done(runtime: BotRuntime) -> bool:
        seen.append(gc.get_freeze_count())
        return runtime.stats.orders >= 1

    async with SimServer(
        seed=5, tick_interval=0, ws_config=WsConfig(heartbeat_interval=0.2), market=quiet_market()
    ) as sim:
        env = tmp_path / "sim.env"
        env.write_text(sim.env_text(sim.add_key("ES256")))
        config = {
            "bot": {"mode": "live", "products": ["BTC-USD"], "gc_freeze": freeze},
            "strategy": {"name": "market_maker", "params": {"size": "0.001"}},
            "risk": {"max_order_notional": "10000"},
        }
        await run_live(config, env, tmp_path / "data", done)
    assert gc.get_freeze_count() == 0  # thawed when the run ended (an embedder's next run)
    assert seen, "the bot never reported its health"
    if freeze:
        assert seen[-1] > 10_000  # its modules, classes, models, the first book...
    else:
        assert seen[-1] == 0
