"""BatchNorm whose statistics span the global batch under torch.distributed (gloo or nccl)."""

from __future__ import annotations

import torch
from torch import nn

from amiwm.nn.collectives import global_count, global_sum, is_distributed


class BatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics span the global batch under torch.distributed.

    torch's SyncBatchNorm is GPU-only; this one works with gloo on CPU too. In a single process,
    or in eval mode, it is exactly nn.BatchNorm1d (same parameters, buffers and state-dict keys).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        xf = x.float()
        n = global_count(xf.shape[0], xf.device)
        mean = global_sum(xf.sum(0)) / n
        var = global_sum((xf - mean).square().sum(0)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum
                if m is None:  # cumulative average, as nn.BatchNorm1d
                    m = 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean, m)
                self.running_var.lerp_(var * n / max(n - 1, 1), m)
        y = (xf - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight + self.bias
        return y.to(x.dtype)
