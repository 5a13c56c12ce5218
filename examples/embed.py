"""Embed botkit in your own asyncio program: run a bot as one task among yours.

The runtime is a library object: build a config in code (no TOML file needed), start
``BotRuntime.run()`` as a task, read its live counters, and stop it gracefully with
``request_stop()`` when *your* program decides (here: after 5 seconds).
Signal handling stays with the host program (``install_signals=False``).

    python examples/embed.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from botkit import BotRuntime, RunOptions, load_settings, parse_bot_config, render_summary

__all__ = ["main"]


async def main() -> int:
    config = parse_bot_config(
        {
            "bot": {"mode": "sim", "products": ["BTC-USD"]},
            "strategy": {
                "name": "market_maker",
                "params": {"half_spread_bps": "0", "requote_seconds": 0.5},
            },
            "risk": {"max_order_notional": "200", "max_position": "0.01", "max_open_orders": 4},
        },
        source="embed.py",
    )
    with tempfile.TemporaryDirectory() as data:
        options = RunOptions(data_dir=Path(data), install_signals=False)
        bot = BotRuntime(config, load_settings(env_file=None), options)
        task = asyncio.create_task(bot.run())
        await asyncio.wait({task}, timeout=5)  # your own program runs here meanwhile
        print(f"live counters while running: {bot.stats.line()}")
        bot.request_stop()  # graceful: on_stop, journal closed, summary numbers final
        result = await task
    print(render_summary(result.stats, result.elapsed))
    print(f"embedded bot placed {result.stats.orders} orders")
    return 0 if result.stats.orders >= 1 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
