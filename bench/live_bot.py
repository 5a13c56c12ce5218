"""A live-mode ``botkit run`` child against a ``botkit sim`` in another process (for bench/).

Shared by ``bench_runtime.py`` (spawn → first subscribe) and ``bench_memory.py`` (peak RSS).
Why another process: in ``--mode sim`` the simulator (matching engine, candle history, its
aiohttp server) lives in the bot's own process, so its figures are an upper bound; a bot on
Coinbase runs ``--mode live``, which is what these children run, exactly as a user does
(``python -m botkit --env-file .env run --mode live --live``), pointed at the simulator by
the ``.env`` lines ``botkit sim`` prints. The user channel is on (the key is there).

* **Spawn → first subscribe**: ``time.time()`` just before the child is spawned → the ``ts``
  of the bot's "first subscription acknowledged" log line (interpreter start, imports,
  config, venue, connect, subscribe).
* **Peak RSS**: the child's ``VmHWM`` (the kernel's high-water mark of its memory), read
  from ``/proc/<pid>/status`` every 10 ms until it exits (monotonic, so the last read is
  the peak up to the last ~10 ms of shutdown), so nothing in the child is instrumented.
  Not ``ru_maxrss`` from ``wait4``: Linux carries the parent's high-water mark into a
  child spawned with ``vfork``/``fork`` + ``exec``, so a child of a large bench process
  reported the *bench's* peak (130 MB for every run once ``bench_runtime.py`` had grown).
* **The BTC-USD-sized book**: the simulator's admin API arms ``oversize_snapshot`` (30 000
  padded levels, a ~3 MB frame) before each big run; it pads the next level2 snapshot.

**Bytecode**: as an installed botkit runs (pip compiles it at install), the children read
cached bytecode: ``PYTHONDONTWRITEBYTECODE`` (set in some shells and CI images) is dropped
and the cache goes to ``PYTHONPYCACHEPREFIX`` under the temp dir, out of the source tree;
:func:`run_live_bot` callers make one spawn per tree first, not counted, which fills it.
``bytecode=False`` measures the other case (every module compiled at every start).

``pythonpath`` runs the bot from another botkit tree (e.g. ``git archive`` of an older
commit with the compiled kernel copied in), so old and new can be interleaved in one run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["LiveRun", "SimProcess", "run_live_bot"]

PAD_LEVELS = 30_000
PYCACHE = str(Path(tempfile.gettempdir()) / "botkit-bench-pycache")


class SimProcess:
    """``python -m botkit sim`` (plain HTTP, no rate limits) for the lifetime of a ``with``."""

    def __init__(self) -> None:
        self.token = "bench-" + os.urandom(6).hex()
        self.env_text = ""
        self.admin_url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - its stderr, shown if it dies

    def check(self) -> None:
        """Raise with the simulator's stderr if it is not running any more."""
        assert self._proc is not None
        if self._proc.poll() is not None:
            self._log.seek(0)
            raise RuntimeError(
                f"botkit sim exited ({self._proc.returncode}): {self._log.read()[-3000:]}"
            )

    def __enter__(self) -> SimProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOTKIT_")}
        cmd = [sys.executable, "-m", "botkit", "sim", "--port", "0", "--no-rate-limits"]
        self._proc = proc = subprocess.Popen(
            [*cmd, "--admin-token", self.token],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            start_new_session=True,  # a signal to the bench's process group is not for it
        )
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(x.startswith("BOTKIT_COINBASE__API_SECRET") for x in lines):
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("botkit sim exited before printing its .env lines")
            lines.append(line.strip())
            if line.startswith("# admin API: "):
                self.admin_url = line.split()[3]
        self.env_text = "\n".join(x for x in lines if x.startswith("BOTKIT_")) + "\n"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    def arm_big_snapshot(self) -> None:
        """Pad the next level2 snapshot to a BTC-USD-sized book (the admin API)."""
        body = json.dumps({"action": "oversize_snapshot", "pad_levels": PAD_LEVELS}).encode()
        req = urllib.request.Request(
            self.admin_url + "/ws_faults",
            data=body,
            headers={"X-Sim-Admin-Token": self.token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()


@dataclass(frozen=True)
class LiveRun:
    """One live child: peak RSS (MB) and spawn → first subscribe acknowledged (s)."""

    peak_mb: float
    first_subscribe: float


def run_live_bot(
    sim: SimProcess,
    seconds: float,
    *,
    big: bool,
    pythonpath: str | None = None,
    config: str | None = None,
    bytecode: bool = True,
) -> LiveRun:
    """Run ``botkit run --mode live --live --duration seconds`` against ``sim`` once.

    ``config`` is the text of a bot TOML (e.g. ``[bot]\\nloop = "uvloop"``), None for none.
    """
    if big:
        sim.arm_big_snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "sim.env").write_text(sim.env_text)
        cmd = [sys.executable, "-m", "botkit", "--env-file", str(folder / "sim.env"), "run"]
        cmd += ["--mode", "live", "--live", "--duration", str(seconds)]
        cmd += ["--data-dir", str(folder / "data")]
        if config is not None:
            (folder / "bot.toml").write_text(config)
            cmd += ["--config", str(folder / "bot.toml")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOTKIT_")}
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if bytecode:
            env["PYTHONPYCACHEPREFIX"] = PYCACHE
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        with open(folder / "stderr", "w+") as err:
            t0 = time.time()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=folder)
            killer = threading.Timer(seconds + 60, proc.kill)
            killer.start()
            peak = [0.0]
            exited = threading.Event()
            poller = threading.Thread(target=_poll_hwm, args=(proc.pid, peak, exited))
            poller.start()
            try:
                _, status, _usage = os.wait4(proc.pid, 0)
            finally:
                exited.set()
                poller.join()
                killer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            log = err.read()
    sim.check()
    if proc.returncode != 0:
        raise RuntimeError(f"live bot failed ({proc.returncode}): {log[-3000:]}")
    sub = next(
        json.loads(x)["ts"] for x in log.splitlines() if "first subscription acknowledged" in x
    )
    return LiveRun(peak_mb=peak[0], first_subscribe=sub - t0)


def _poll_hwm(pid: int, peak: list[float], exited: threading.Event) -> None:
    """Keep ``peak[0]`` at the child's VmHWM (MB) until it exits."""
    path = f"/proc/{pid}/status"
    while not exited.is_set():
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]) / 1024)
                        break
        except OSError:
            return
        exited.wait(0.01)
