"""Bottom layer under models and training: collectives and global-batch normalisation."""

from amiwm.nn.batchnorm import BatchNorm1d
from amiwm.nn.collectives import (
    average,
    broadcast_json,
    global_count,
    global_std,
    global_sum,
    is_distributed,
    rank,
    world_size,
)

__all__ = [
    "BatchNorm1d",
    "average",
    "broadcast_json",
    "global_count",
    "global_std",
    "global_sum",
    "is_distributed",
    "rank",
    "world_size",
]
