"""Soak: ``botkit run`` for minutes to hours against the simulator, with a fault every few seconds.

Run:  .venv/bin/python bench/bench_soak.py [--duration 300] [--fault-every 10] [--warmup 60]

What a bot that trades unattended for weeks needs, measured (issue 20):

* **memory does not grow with the orders**: the bot's resident set (VmRSS, sampled every
  second from ``/proc``) after a warm-up, fitted with a least-squares line, in MB/hour.
  Goal <= 1 MB/hour.
* **it keeps trading**: orders placed per minute, and the longest gap between two
  placements. Goal: no gap longer than the requote interval plus the REST retry budget
  (the sum of the retry policy's back-off delays), whatever the fault.

How: this process runs the simulator (``SimServer``, over plain HTTP on 127.0.0.1) and the
bot runs as a **separate process**, ``python -m botkit run --mode live --live`` pointed at
the simulator through the environment (``SimServer.env_text``: the "live" code path, the
rehearsal the ``sim`` mode is). So the RSS measured is the bot's alone: the simulator keeps
every order like an exchange does, and its memory is not the bot's. The market maker
requotes every ``--requote`` seconds; every ``--fault-every`` seconds the next fault of
:data:`FAULTS` is armed (REST errors, a rate limit, an order accepted but unanswered, a
slow order, WebSocket closes and sequence gaps, and the exchange's clock jumping 120 s
back and forward again: the clock corrections that used to stall the strategy timers).
Placements are read from the bot's JSON log lines (``placed ... client_order_id=...``)
as they arrive, timed on this process's monotonic clock.

``--summary FILE``: the two summary rows of docs/benchmarks.md (longest gap, RSS slope).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from botkit.net.retry_policy import RetryPolicy
from botkit.sim.server import SimServer

sys.path.insert(0, str(Path(__file__).parent))
from _summary import Row, add_summary_argument, command_line, emit  # noqa: E402

__all__ = ["FAULTS", "SoakResult", "main", "soak"]

RSS_GOAL_MB_PER_HOUR = 1.0

Fault = tuple[str, Callable[[SimServer], object]]

FAULTS: tuple[Fault, ...] = (
    ("REST 503 on the next order", lambda s: s.faults.fail_next(503, path=r"/orders$")),
    ("REST 429 (Retry-After 1 s)", lambda s: s.faults.fail_next(429, retry_after=1)),
    ("order accepted, connection reset", lambda s: s.faults.drop_after_accept()),
    ("WebSocket closed (1001)", lambda s: s.ws_faults.close_next(1001)),
    ("REST 500 on the next batch cancel", lambda s: s.faults.fail_next(500, path="batch_cancel")),
    ("exchange clock 120 s behind", lambda s: setattr(s.faults, "clock_offset", -120.0)),
    ("next order delayed 3 s", lambda s: s.faults.delay_next(3.0, path=r"/orders$")),
    ("WebSocket sequence gap", lambda s: s.ws_faults.skip_sequence()),
    ("exchange clock back to true time", lambda s: setattr(s.faults, "clock_offset", 0.0)),
    ("order accepted, 502 answered", lambda s: s.faults.fail_after_accept(502)),
    ("WebSocket dropped (1006)", lambda s: s.ws_faults.drop_next(1006)),
)
"""The faults armed in turn, each bounded (one request or one envelope; the clock stays)."""

CONFIG = """\
[bot]
products = ["BTC-USD"]
channels = ["level2", "ticker", "candles"]

[strategy]
name = "market_maker"

[strategy.params]
product_id = "BTC-USD"
size = "0.001"
half_spread_bps = "0"
requote_seconds = {requote}

[risk]
max_order_notional = "200"
max_position = "0.01"
max_open_orders = 4
price_band_pct = "2"
daily_loss_limit = "{daily_loss_limit}"
"""


def retry_budget(policy: RetryPolicy | None = None) -> float:
    """Seconds one REST call may spend backing off before it gives up (no Retry-After)."""
    p = policy or RetryPolicy()
    return sum(min(p.base_delay * p.factor**i, p.max_delay) for i in range(p.max_attempts - 1))


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour (0 with < 2 samples)."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mt) * (v - mv) for t, v in samples)
    return cov / var * 3600.0


def rss_mb(pid: int) -> float | None:
    """VmRSS of ``pid`` in MB (None once it has exited)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


@dataclass
class SoakResult:
    """What one soak measured (times in seconds since the bot process started)."""

    duration: float
    requote: float
    placed: list[float] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    faults: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: int = 0
    summary: str = ""
    returncode: int | None = None
    log: list[str] = field(default_factory=list)
    """Every bot log line and fault, timestamped (kept only with ``--bot-log``)."""
    keep_log: bool = False

    def longest_gap(self) -> tuple[float, float]:
        """(gap, time it began) of the longest pause between two placements.

        The pause from the last placement to the end of the run counts too (a bot that
        stalled for good must not look fine); the run ends ``duration`` seconds after the
        bot process started, a little after it really does (imports come first).
        """
        best = (0.0, 0.0)
        ends = [*self.placed[1:], self.duration] if self.placed else []
        for a, b in zip(self.placed, ends, strict=False):
            if b - a > best[0]:
                best = (b - a, a)
        return best

    def fault_before(self, t: float) -> str:
        """The last fault armed before ``t`` (what a gap probably followed)."""
        armed = [(at, name) for at, name in self.faults if at <= t]
        return f"{armed[-1][1]} at {armed[-1][0]:.0f} s" if armed else "none"


async def _read_log(stream: asyncio.StreamReader, t0: float, result: SoakResult) -> None:
    """Parse the bot's JSON log lines: placements, warnings, errors."""
    while line := await stream.readline():
        now = time.monotonic() - t0
        if result.keep_log:
            result.log.append(f"{now:8.2f} {line.decode(errors='replace').rstrip()}")
        try:
            doc = json.loads(line)
        except ValueError:
            result.errors.append(line.decode(errors="replace").rstrip()[:300])
            continue
        msg, level = str(doc.get("msg", "")), doc.get("level")
        if msg.startswith("placed "):
            result.placed.append(now)
        if level == "WARNING":
            result.warnings += 1
        elif level in ("ERROR", "CRITICAL"):
            result.errors.append(f"{now:.0f} s {msg[:300]}")


async def _sample_rss(pid: int, t0: float, result: SoakResult, every: float) -> None:
    while (mb := rss_mb(pid)) is not None:
        result.rss.append((time.monotonic() - t0, mb))
        await asyncio.sleep(every)


async def _faults(sim: SimServer, t0: float, result: SoakResult, every: float) -> None:
    i = 0
    while True:
        await asyncio.sleep(every)
        name, arm = FAULTS[i % len(FAULTS)]
        arm(sim)
        result.faults.append((time.monotonic() - t0, name))
        if result.keep_log:
            result.log.append(f"{time.monotonic() - t0:8.2f} FAULT {name}")
        i += 1


async def soak(
    duration: float,
    *,
    requote: float,
    fault_every: float,
    seed: int,
    bot_pythonpath: str | None = None,
    bot_tracemalloc: str | None = None,
    tracemalloc_every: float = 300.0,
    keep_log: bool = False,
    daily_loss_limit: str = "1000",
) -> SoakResult:
    """Run the simulator here and the bot as a child process for ``duration`` seconds.

    ``bot_pythonpath`` (a directory holding another ``botkit`` package, e.g. an older
    commit's ``git archive``) runs that code as the bot, for a before/after comparison
    against the same simulator. ``bot_tracemalloc`` (an absolute directory) runs the bot through
    ``bench/soak_tracemalloc.py``: ``tracemalloc`` on, a heap snapshot every
    ``tracemalloc_every`` seconds (and on SIGUSR1) written there (the RSS then includes
    the tracing's own overhead: use it to locate growth, not for the slope figure).
    ``daily_loss_limit`` (quote): the market maker loses in the simulated market, and an
    hour's losses can reach 1 000, trip the kill switch and leave the bot idle; a memory
    soak sets it out of reach.
    """
    result = SoakResult(duration, requote, keep_log=keep_log)
    async with SimServer(seed=seed, tick_interval=0.1) as sim:
        key = sim.add_key("ES256")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "COINBASE_"))}
        env.update(
            BOTKIT_COINBASE__REST_URL=sim.rest_url,
            BOTKIT_COINBASE__WS_MARKET_URL=sim.ws_market_url,
            BOTKIT_COINBASE__WS_USER_URL=sim.ws_user_url,
            BOTKIT_COINBASE__API_KEY=key.name,
            BOTKIT_COINBASE__API_SECRET=SimServer.secret_of(key),
            PYTHONUNBUFFERED="1",
        )
        if bot_pythonpath:
            env["PYTHONPATH"] = bot_pythonpath
        with tempfile.TemporaryDirectory(prefix="botkit-soak-") as tmp:
            config = Path(tmp) / "soak.toml"
            config.write_text(CONFIG.format(requote=requote, daily_loss_limit=daily_loss_limit))
            entry = ["-m", "botkit"]
            if bot_tracemalloc:
                wrapper = Path(__file__).with_name("soak_tracemalloc.py")
                entry = [str(wrapper), bot_tracemalloc, "--every"]
                entry += [str(tracemalloc_every), "--"]
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *entry,
                "run",
                "--config",
                str(config),
                "--mode",
                "live",
                "--live",
                "--duration",
                str(duration),
                "--data-dir",
                str(Path(tmp) / "data"),
                "--log-level",
                "INFO",
                cwd=tmp,  # no stray .env is read
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            t0 = time.monotonic()
            assert proc.stdout is not None and proc.stderr is not None
            tasks = [
                asyncio.create_task(_sample_rss(proc.pid, t0, result, 1.0)),
                asyncio.create_task(_faults(sim, t0, result, fault_every)),
            ]
            reader = asyncio.create_task(_read_log(proc.stderr, t0, result))
            try:
                out = await asyncio.wait_for(proc.stdout.read(), duration + 120)
                await asyncio.wait_for(proc.wait(), 30)
                await reader
            finally:
                for task in tasks:
                    task.cancel()
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            text = out.decode(errors="replace")
            result.summary = text[text.find("botkit run summary") :].rstrip()
            result.returncode = proc.returncode
    return result


def report(r: SoakResult, warmup: float) -> list[str]:
    """The printed lines (also what docs/benchmarks.md quotes)."""
    after = [(t, mb) for t, mb in r.rss if t >= warmup]
    slope = slope_per_hour(after)
    budget = retry_budget()
    goal_gap = r.requote + budget
    gap, gap_from = r.longest_gap()
    minutes = (r.placed[-1] - r.placed[0]) / 60 if len(r.placed) > 1 else 0.0
    lines = [
        f"soak: botkit run (market_maker, requote {r.requote:g} s) against the simulator, "
        f"{r.duration:.0f} s, {len(r.faults)} faults, Python {sys.version.split()[0]}",
        f"  orders placed:   {len(r.placed)} ({len(r.placed) / minutes if minutes else 0:.1f}"
        " per minute)",
        f"  longest gap:     {gap:.1f} s, from {gap_from:.0f} s (last fault before it: "
        f"{r.fault_before(gap_from)}); goal <= {goal_gap:.1f} s (requote {r.requote:g} s + "
        f"retry budget {budget:.2f} s): "
        + ("NOT met (no orders)" if len(r.placed) < 2 else "met" if gap <= goal_gap else "NOT met"),
    ]
    if after:
        lines.append(
            f"  RSS:             {r.rss[0][1]:.1f} MB at start, {after[0][1]:.1f} MB after the "
            f"{warmup:.0f} s warm-up, {r.rss[-1][1]:.1f} MB at the end, peak "
            f"{max(mb for _, mb in r.rss):.1f} MB"
        )
        halves = [after[: len(after) // 2], after[len(after) // 2 :]]
        lines.append(
            f"  RSS slope:       {slope:+.2f} MB/hour after warm-up ({len(after)} samples); "
            f"goal <= {RSS_GOAL_MB_PER_HOUR:g}: "
            f"{'met' if slope <= RSS_GOAL_MB_PER_HOUR else 'NOT met'}"
        )
        # still rising at the end, or a ramp that flattened (a bound reached late)?
        lines.append(
            "  RSS slope/half:  "
            + ", ".join(f"{slope_per_hour(h):+.2f}" for h in halves)
            + " MB/hour (first, second half after the warm-up)"
        )
    else:
        lines.append("  RSS:             no sample after the warm-up (raise --duration)")
    lines.append(f"  log:             {r.warnings} warnings, {len(r.errors)} errors")
    lines += [f"    {e}" for e in r.errors[:10]]
    lines.append(f"  bot exit code:   {r.returncode}")
    lines += ["  " + line for line in r.summary.splitlines()]
    return lines


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def summary_rows(r: SoakResult, warmup: float) -> list[Row]:
    """The summary table's rows: the longest gap against its goal, the RSS slope against 1 MB/h."""
    goal_gap = r.requote + retry_budget()
    gap, _ = r.longest_gap()
    minutes = (r.placed[-1] - r.placed[0]) / 60 if len(r.placed) > 1 else 0.0
    rate = f"{len(r.placed) / minutes:.0f}" if minutes else "0"
    run = f"{_span(r.duration)}, {len(r.faults)} faults, {rate} orders/min"
    rows = [
        Row(
            key="soak.longest_gap",
            target="soak: no stall > requote + retry budget (unattended)",
            measured=f"longest gap {gap:.1f} s (goal {goal_gap:.1f} s) over {run}",
            met=len(r.placed) >= 2 and gap <= goal_gap,
            command=command_line(),
            competitor="-",
        )
    ]
    after = [(t, mb) for t, mb in r.rss if t >= warmup]
    if after:
        slope = slope_per_hour(after)
        halves = [after[: len(after) // 2], after[len(after) // 2 :]]
        rows.append(
            Row(
                key="soak.rss_slope",
                target=f"soak: RSS slope ≤ {RSS_GOAL_MB_PER_HOUR:g} MB/hour after warm-up "
                "(unattended)",
                measured=f"{slope:+.2f} MB/h after the {_span(warmup)} warm-up (halves "
                + ", ".join(f"{slope_per_hour(h):+.2f}" for h in halves)
                + f"); {after[0][1]:.1f} → {r.rss[-1][1]:.1f} MB; {run}",
                met=slope <= RSS_GOAL_MB_PER_HOUR,
                command=command_line(),
                competitor="-",
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=180.0, help="seconds (default 180)")
    ap.add_argument("--fault-every", type=float, default=10.0, help="seconds between faults")
    ap.add_argument("--warmup", type=float, default=None, help="seconds (default: 1/3, <= 60)")
    ap.add_argument("--requote", type=float, default=2.0, help="market maker requote seconds")
    ap.add_argument("--seed", type=int, default=1, help="simulator market seed")
    ap.add_argument("--bot-pythonpath", help="run the bot from this botkit tree (comparisons)")
    ap.add_argument(
        "--bot-tracemalloc",
        metavar="DIR",
        help="run the bot with tracemalloc on, heap snapshots written to DIR "
        "(compare: bench/soak_tracemalloc.py --diff A B)",
    )
    ap.add_argument("--rss-out", metavar="FILE", help="write the RSS samples (seconds, MB) here")
    ap.add_argument(
        "--tracemalloc-every", type=float, default=300.0, help="seconds between snapshots"
    )
    ap.add_argument(
        "--bot-log", metavar="FILE", help="write the bot's log lines and the faults here"
    )
    ap.add_argument(
        "--daily-loss-limit",
        default="1000",
        help="the bot's [risk] daily_loss_limit (quote); a memory soak sets it out of reach, "
        "since a tripped kill switch leaves the bot idle",
    )
    add_summary_argument(ap)
    args = ap.parse_args()
    if Decimal(args.daily_loss_limit) <= 0:
        ap.error("--daily-loss-limit must be a positive amount of quote currency")
    warmup = args.warmup if args.warmup is not None else min(60.0, args.duration / 3)
    result = asyncio.run(
        soak(
            args.duration,
            requote=args.requote,
            fault_every=args.fault_every,
            seed=args.seed,
            bot_pythonpath=args.bot_pythonpath,
            bot_tracemalloc=str(Path(args.bot_tracemalloc).resolve())
            if args.bot_tracemalloc
            else None,
            tracemalloc_every=args.tracemalloc_every,
            keep_log=bool(args.bot_log),
            daily_loss_limit=args.daily_loss_limit,
        )
    )
    print("\n".join(report(result, warmup)))
    emit(summary_rows(result, warmup), args.summary)
    if args.rss_out:
        lines = [f"{t:.1f}\t{mb:.3f}\n" for t, mb in result.rss]
        Path(args.rss_out).write_text("".join(lines))
    if args.bot_log:
        Path(args.bot_log).write_text("".join(line + "\n" for line in result.log))


if __name__ == "__main__":
    main()
