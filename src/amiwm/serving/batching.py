"""Micro-batching: one worker thread owns the model; concurrent requests share forward passes.

Requests become jobs on a queue. The worker takes the first job, then keeps collecting for at
most `wait_ms` while more requests are known to be on their way (announced by the HTTP layer
before it parses their bodies), so a lone client never waits and concurrent clients share one
batch. Jobs of the same kind and key (e.g. same plan budget) run as one call of `runner`; if a
batched call fails, its jobs are retried one by one so one bad request cannot fail the others.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from amiwm.errors import AmiError

log = logging.getLogger("amiwm.serving")

Runner = Callable[[str, Hashable, list[Any]], list[Any]]
"""runner(kind, key, payloads) -> one result (or Exception instance) per payload."""


class Busy(Exception):
    """The queue is full: the server is overloaded."""


@dataclass
class Job:
    kind: str
    key: Hashable
    payload: Any
    rows: int = 1
    future: Future = field(default_factory=Future)
    queued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Runs jobs on one worker thread, stacking compatible jobs into one runner call.

    max_rows: rows (observations, sequences, plans) per runner call, by kind, with "*" as the
    default. on_batch(kind, jobs, seconds) is called after every runner call (for metrics).
    """

    def __init__(
        self,
        runner: Runner,
        *,
        max_rows: dict[str, int] | None = None,
        wait_ms: float = 2.0,
        max_queue: int = 256,
        on_batch: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.runner = runner
        self.max_rows = {"*": 256, **(max_rows or {})}
        self.wait = wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._arriving = 0
        self._thread = threading.Thread(target=self._loop, name="amiwm-model", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer side
    def announce(self, delta: int) -> None:
        """+1 when a request that will submit a job starts arriving, -1 when it is done."""
        with self._lock:
            self._arriving += delta

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, kind: str, key: Hashable, payload: Any, rows: int = 1) -> Future:
        """Queue a job; its future gets the result. Raises Busy when the queue is full."""
        if not self._thread.is_alive():
            raise RuntimeError("the model worker has stopped")
        if self._queue.qsize() >= self.max_queue:
            raise Busy(f"server busy: {self.max_queue} requests queued; retry later")
        job = Job(kind, key, payload, rows)
        self._queue.put(job)
        return job.future

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs, then stop the worker."""
        self._queue.put(None)
        self._thread.join(timeout)

    # ------------------------------------------------------------------ worker side
    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            groups: dict[tuple[str, Hashable], list[Job]] = {}
            for job in batch:
                groups.setdefault((job.kind, job.key), []).append(job)
            for (kind, key), jobs in groups.items():
                self._run_group(kind, key, jobs)
            if stop:
                return

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        batch, deadline = [first], time.perf_counter() + self.wait
        cap = 4 * self.max_rows["*"]
        while len(batch) < cap:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.perf_counter()
                if left <= 0 or self._arriving <= 0:
                    break
                try:
                    job = self._queue.get(timeout=min(left, 0.0005))
                except queue.Empty:
                    continue
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _run_group(self, kind: str, key: Hashable, jobs: list[Job]) -> None:
        limit = self.max_rows.get(kind, self.max_rows["*"])
        chunk: list[Job] = []
        rows = 0
        for job in jobs:
            if chunk and rows + job.rows > limit:
                self._run(kind, key, chunk)
                chunk, rows = [], 0
            chunk.append(job)
            rows += job.rows
        if chunk:
            self._run(kind, key, chunk)

    def _run(self, kind: str, key: Hashable, jobs: list[Job]) -> None:
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]  # drop cancelled
        if not jobs:
            return
        t0 = time.perf_counter()
        try:
            results = self.runner(kind, key, [j.payload for j in jobs])
            if len(results) != len(jobs):
                raise RuntimeError(f"runner returned {len(results)} results for {len(jobs)} jobs")
        except Exception as exc:
            if len(jobs) > 1:
                for job in jobs:  # isolate the failing request
                    self._retry(kind, key, job)
                return
            results = [exc]
        if self.on_batch is not None:
            self.on_batch(kind, len(jobs), time.perf_counter() - t0)
        for job, result in zip(jobs, results, strict=True):
            _settle(job.future, result)

    def _retry(self, kind: str, key: Hashable, job: Job) -> None:
        t0 = time.perf_counter()
        try:
            result = self.runner(kind, key, [job.payload])[0]
        except Exception as exc:
            result = exc
        if self.on_batch is not None:
            self.on_batch(kind, 1, time.perf_counter() - t0)
        _settle(job.future, result)


def _settle(future: Future, result: Any) -> None:
    if isinstance(result, BaseException):
        if not isinstance(result, AmiError):
            log.error("model worker error", exc_info=result)
        future.set_exception(result)
    else:
        future.set_result(result)
