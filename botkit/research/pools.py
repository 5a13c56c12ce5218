"""Where trials run: in this process, in local worker processes, or as Ray tasks.

Every pool takes :class:`~botkit.research.evaluate.TrialJob` objects and gives back
:class:`~botkit.research.evaluate.TrialOutcome` objects; the study driver
(:mod:`botkit.research.study`) asks Optuna for parameters and tells it the results, so the
storage has one writer per driver and workers need no database (except to report pruning
checkpoints). The dataset is shipped once: to each local worker process when it starts,
or into Ray's object store with one ``ray.put`` (each Ray worker process then keeps the
deserialised copy for the trials it runs).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from botkit.backtest.candles import CandleSeries
from botkit.errors import ConfigError
from botkit.research.evaluate import TrialJob, TrialOutcome, evaluate

__all__ = ["InProcessPool", "LocalPool", "Pool", "RayPool"]


class Pool(Protocol):
    """What the driver needs from an executor of trials."""

    capacity: int
    """How many trials run at once."""

    ahead: int
    """Trials queued beyond :attr:`capacity`: a worker that finishes starts its next trial
    at once instead of idling while the driver tells Optuna the result and asks for the
    next parameters (tens of milliseconds on SQLite, serial in the driver). 0 asks only
    when a worker is free (``--jobs 1``: strictly one trial after the other, so TPE sees
    every result before its next ask)."""

    def submit(self, job: TrialJob) -> None:
        """Start a trial."""
        ...

    def wait_any(self) -> list[TrialOutcome]:
        """Block until at least one started trial finishes; return the finished ones."""
        ...

    def in_flight(self) -> int:
        """Trials started and not returned yet."""
        ...

    def close(self) -> None:
        """Stop the workers (cancelling what has not started)."""
        ...


class InProcessPool:
    """``--jobs 1``: trials run one at a time in the driver's process."""

    capacity = 1
    ahead = 0  # the driver is the worker: nothing to overlap

    def __init__(self, series: CandleSeries) -> None:
        self.series = series
        self._queue: list[TrialJob] = []

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)

    def wait_any(self) -> list[TrialOutcome]:
        job = self._queue.pop(0)
        return [evaluate(job, self.series)]

    def in_flight(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._queue.clear()


_SERIES: CandleSeries | None = None


def _init_worker(series: CandleSeries) -> None:
    global _SERIES
    _SERIES = series


def _run_in_worker(job: TrialJob) -> TrialOutcome:
    assert _SERIES is not None
    return evaluate(job, _SERIES)


class LocalPool:
    """``--jobs N``: N worker processes (spawned: no state inherited from the driver),
    each given the dataset once when it starts."""

    def __init__(self, series: CandleSeries, jobs: int) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, not {jobs}")
        self.capacity = jobs
        self.ahead = 1  # one trial queued: the next free worker starts it at once
        self._pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(series,),
        )
        self._futures: set[Future[TrialOutcome]] = set()

    def submit(self, job: TrialJob) -> None:
        self._futures.add(self._pool.submit(_run_in_worker, job))

    def wait_any(self) -> list[TrialOutcome]:
        done, self._futures = wait(self._futures, return_when=FIRST_COMPLETED)
        return [f.result() for f in done]

    def in_flight(self) -> int:
        return len(self._futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


_RAY_CACHE: dict[str, CandleSeries] = {}


def _ray_evaluate(refs: Sequence[Any], job: TrialJob) -> TrialOutcome:
    """A Ray task's body. The dataset's ref arrives wrapped in a list, so Ray does not
    resolve it per call: it is fetched and deserialised once per worker process."""
    import ray

    ref = refs[0]
    key = ref.hex()
    series = _RAY_CACHE.get(key)
    if series is None:
        series = _RAY_CACHE[key] = ray.get(ref)
    return evaluate(job, series)


class RayPool:
    """``--ray ADDRESS``: each trial is a Ray task (1 CPU) on the cluster at ``address``
    (``auto``: the cluster this machine is part of, ``local``: a new single-node instance
    for this run), reading the dataset from Ray's object store.

    Args:
        series: the dataset (``ray.put`` once).
        address: passed to ``ray.init``.
        capacity: trials in flight; default the cluster's CPU count.
        init: extra ``ray.init`` keywords (a test limits ``num_cpus``).
    """

    def __init__(
        self,
        series: CandleSeries,
        address: str,
        *,
        capacity: int | None = None,
        init: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "--ray needs Ray: pip install 'botkit[ray]' (docs/research.md)"
            ) from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            kwargs.update(init or {})
            try:
                ray.init(address=address, **kwargs)
            except ConnectionError as exc:
                raise ConfigError(
                    f"cannot reach a Ray cluster at {address!r}: {exc} (start one with "
                    "'ray start --head', or pass --ray local for a one-machine instance)"
                ) from None
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self.capacity = capacity or max(cpus, 1)
        self.ahead = 1  # one task queued: Ray starts it on the next free CPU
        self._ref = ray.put(series)
        self._task = ray.remote(num_cpus=1)(_ray_evaluate)
        self._pending: list[Any] = []

    def submit(self, job: TrialJob) -> None:
        self._pending.append(self._task.remote([self._ref], job))

    def wait_any(self) -> list[TrialOutcome]:
        ready, self._pending = self._ray.wait(self._pending, num_returns=1)
        return [self._ray.get(r) for r in ready]

    def in_flight(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        for ref in self._pending:
            self._ray.cancel(ref, force=True)
        self._pending.clear()
        if self._owns:
            self._ray.shutdown()
