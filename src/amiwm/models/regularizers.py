"""Anti-collapse regularizers on a batch of latents (N, D)."""

from __future__ import annotations

import math

import torch
from torch import nn

from amiwm.nn import global_count, global_sum, is_distributed


class SIGReg(nn.Module):
    """Sketched Isotropic Gaussian Regularizer (LeJEPA / LeWorldModel).

    Projects the latents on random unit directions and, for each 1-D projection, measures how far
    its empirical characteristic function is from that of N(0, 1) with the Epps-Pulley statistic:
    N * integral of |ecf(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt over t in [-t_max, t_max]
    (trapezoid rule on `knots` points of [0, t_max]; the integrand is even). The mean over
    directions is the loss: near 0 for isotropic Gaussian latents, large for collapsed ones.

    Under torch.distributed (world size > 1) the empirical characteristic function and N are taken
    over the global batch, so every rank must pass a generator in the same state (same directions).
    """

    def __init__(self, projections: int = 256, knots: int = 17, t_max: float = 3.0) -> None:
        super().__init__()
        self.projections = projections
        t = torch.linspace(0.0, t_max, knots)
        dt = t_max / (knots - 1)
        trap = torch.full((knots,), dt)
        trap[0] = trap[-1] = dt / 2
        window = torch.exp(-0.5 * t.square())
        self.register_buffer("t", t, persistent=False)
        self.register_buffer("target", window, persistent=False)  # cf of N(0, 1)
        self.register_buffer("weights", 2.0 * trap * window, persistent=False)

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        z = z.reshape(-1, z.shape[-1]).float()
        dirs = torch.randn(z.shape[-1], self.projections, generator=generator).to(z.device)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        xt = (z @ dirs).unsqueeze(-1) * self.t  # (N, P, K)
        if is_distributed():
            n = global_count(z.shape[0], z.device)
            ecf = global_sum(torch.stack([xt.cos().sum(0), xt.sin().sum(0)])) / n
            err = (ecf[0] - self.target).square() + ecf[1].square()
            return (err @ self.weights).mean() * n
        err = (xt.cos().mean(0) - self.target).square() + xt.sin().mean(0).square()
        return (err @ self.weights).mean() * z.shape[0]


class VICReg(nn.Module):
    """Variance (hinge on each dimension's std) + covariance (off-diagonal) terms of VICReg.

    Under torch.distributed (world size > 1) mean, variance and covariance are global-batch ones.
    """

    def __init__(self, std_target: float = 1.0, cov_weight: float = 0.04) -> None:
        super().__init__()
        self.std_target = std_target
        self.cov_weight = cov_weight

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        z = z.reshape(-1, z.shape[-1]).float()
        n, d = z.shape
        if is_distributed():
            n = global_count(n, z.device)
            z = z - global_sum(z.sum(0)) / n
            cov = global_sum(z.T @ z) / (n - 1)
            var = torch.diagonal(cov)
        elif n < d:  # wide latents (the brief's 8192): the same sum from the n x n Gram matrix
            z = z - z.mean(0)
            var = z.square().sum(0) / (n - 1)
            std = torch.sqrt(var + 1e-4)
            var_loss = torch.relu(self.std_target - std).mean()
            return var_loss + self.cov_weight * off_diagonal_square_sum(z, var, n) / d
        else:
            z = z - z.mean(0)
            var = z.var(0)
            cov = (z.T @ z) / (n - 1)
        std = torch.sqrt(var + 1e-4)
        var_loss = torch.relu(self.std_target - std).mean()
        off = cov - torch.diag(torch.diagonal(cov))
        return var_loss + self.cov_weight * off.square().sum() / d


def off_diagonal_square_sum(z: torch.Tensor, var: torch.Tensor, n: int) -> torch.Tensor:
    """Sum of squared off-diagonal covariance entries of centred rows z (n, d), in O(n^2 d).

    ||C||_F^2 = ||z^T z||_F^2 / (n-1)^2 = ||z z^T||_F^2 / (n-1)^2 (same non-zero singular
    values), minus the diagonal var^2: exact, without the d x d matrix (8192^2 floats at the
    brief's --latent-dim, 17 GFLOP per step and 0.3 GB per copy).
    """
    gram = z @ z.T
    return (gram.square().sum() / (n - 1) ** 2 - var.square().sum()).clamp_min(0.0)


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy) of the normalised singular values of centred latents (RankMe)."""
    z = z.reshape(-1, z.shape[-1]).double()
    s = torch.linalg.svdvals(z - z.mean(0))
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return float(math.exp(-(p * p.log()).sum()))
