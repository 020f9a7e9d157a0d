"""Batch sources for the training loop: seeded per-step draws, read ahead in a thread.

Everything random in a step derives from ``(seed, step)`` (`step_generator`), so a resumed run
draws exactly the batches it would have drawn, and needs no RNG state in its checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import torch

Batch = dict[str, torch.Tensor]
Draw = Callable[[int], tuple[torch.Generator, Batch]]
"""step -> (the step's generator after drawing the batch, the batch)."""


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one step: every random draw of a step comes from it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


class Indexable(Protocol):
    def __len__(self) -> int: ...

    def get_batch(self, indices: list[int]) -> Batch: ...


def window_draw(data: Indexable, batch_size: int, seed: int, shard: slice = slice(None)) -> Draw:
    """Draw `batch_size` random windows per step and keep this rank's contiguous `shard` of
    them: every rank draws the same global batch, so N processes train like one."""

    def draw(step: int) -> tuple[torch.Generator, Batch]:
        g = step_generator(seed, step)
        idx = torch.randint(len(data), (batch_size,), generator=g).tolist()
        return g, data.get_batch(idx[shard])

    return draw


class Prefetcher:
    """Reads step k + 1's batch in a background thread while step k computes (same batches
    as reading in line: bit-identical weights). One reader at a time touches the store."""

    def __init__(self, draw: Draw, start: int, total: int) -> None:
        self.draw, self.total = draw, total
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="amiwm-batches")
        self._pending: Future | None = self._pool.submit(draw, start) if start < total else None

    def next(self, step: int) -> tuple[torch.Generator, Batch]:
        """Step `step`'s batch (the one submitted last), and submit the next step's."""
        assert self._pending is not None
        out = self._pending.result()
        self._pending = self._pool.submit(self.draw, step + 1) if step + 1 < self.total else None
        return out

    def idle(self) -> None:
        """Wait for the read in flight (before something else reads the store)."""
        if self._pending is not None:
            self._pending.result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
