"""Collectives over torch.distributed ranks that reduce to the identity in a single process.

Global-batch statistics (SIGReg, VICReg, BatchNorm, the logged latent spread) are computed with
these, so N processes compute what one process computes on the whole batch.
"""

from __future__ import annotations

import json
from typing import Any

import torch
import torch.distributed as dist


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
    return _AllReduceSum.apply(x) if is_distributed() else x


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; the gradient of a sum is the sum of the ranks' incoming gradients."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


def global_count(n: int, device: torch.device | str = "cpu") -> int:
    """Total number of rows over ranks when each rank holds n."""
    if not is_distributed():
        return n
    t = torch.tensor([n], dtype=torch.long, device=device)
    dist.all_reduce(t)
    return int(t.item())


def broadcast_json(obj: Any, device: torch.device | str = "cpu") -> Any:
    """Rank 0's JSON-serialisable value on every rank (no pickle)."""
    if not is_distributed():
        return obj
    data = json.dumps(obj).encode() if rank() == 0 else b""
    size = torch.tensor([len(data)], dtype=torch.long, device=device)
    dist.broadcast(size, 0)
    buf = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if rank() == 0:
        buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buf, 0)
    return json.loads(buf.cpu().numpy().tobytes().decode())


def average(values: torch.Tensor) -> torch.Tensor:
    """Mean over ranks of a detached vector (the value itself in a single process)."""
    if not is_distributed():
        return values
    out = values.detach().clone()
    dist.all_reduce(out)
    return out / world_size()


def global_std(x: torch.Tensor) -> torch.Tensor:
    """Per-column standard deviation of rows (N, D) over every rank's rows."""
    n = global_count(x.shape[0], x.device)
    mean = global_sum(x.sum(0)) / n
    return (global_sum((x - mean).square().sum(0)) / max(n - 1, 1)).sqrt()
