"""torch.distributed helpers for exact global-batch statistics (no-ops in a single process)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.distributed.nn.functional import all_reduce


def world_size() -> int:
    """Number of processes, 1 when torch.distributed is not initialised."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank, 0 when torch.distributed is not initialised."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_distributed() -> bool:
    """True when there are several processes to reduce over."""
    return world_size() > 1


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """Differentiable all-reduce sum over ranks (x itself in a single process).

    The backward pass all-reduces the incoming gradient too, so when every rank computes the same
    loss from the reduced value, each rank's local gradient is world_size times the gradient of
    that loss; DDP's averaging over ranks then gives exactly the full-batch gradient.
    """
    return all_reduce(x, op=dist.ReduceOp.SUM) if is_distributed() else x


def global_count(n: int, device: torch.device | str = "cpu") -> int:
    """Total number of rows over ranks when each rank holds n."""
    if not is_distributed():
        return n
    t = torch.tensor([n], dtype=torch.long, device=device)
    dist.all_reduce(t)
    return int(t.item())
