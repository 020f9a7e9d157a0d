"""Costs on imagined latents (N, H, D) against a goal; all return (N,).

A goal is one latent (D,) or one per candidate (N, D), or a set of latents (1 or N, K, D) that
are all the goal (one pose with any velocity, say): a latent is then as far from it as from its
nearest member. Distances are squared Euclidean (sum over D): smooth everywhere, so gradient
planners get useful gradients at the goal, and consistent with the MSE prediction loss.
"""

from __future__ import annotations

import torch

from amiwm.errors import AmiError


def distances(latents: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Squared distance of each imagined latent to the goal (its nearest member for a set):
    latents (N, H, D), goal (D,), (N, D), (1, D) or a set (1 or N, K, D) -> (N, H)."""
    if latents.ndim != 3:
        raise AmiError(f"latents must have shape (N, H, D), got {tuple(latents.shape)}")
    n, _, d = latents.shape
    shape = tuple(goal.shape)
    if goal.ndim == 3 and shape[0] in (1, n) and shape[1] >= 1 and shape[2] == d:
        goal = goal.expand(n, -1, -1)  # ||z||^2 - 2 z.g + ||g||^2: no (N, H, K, D) tensor
        cross = latents @ goal.transpose(1, 2)  # (N, H, K)
        sq = latents.square().sum(-1, keepdim=True) - 2 * cross + goal.square().sum(-1)[:, None]
        return sq.clamp_min(0).amin(-1)
    if shape not in ((d,), (n, d), (1, d)):
        raise AmiError(
            f"goal has shape {shape}, expected ({d},), ({n}, {d}) or a set (1 or {n}, K, {d}) "
            f"for latents {tuple(latents.shape)}"
        )
    return (latents - (goal if goal.ndim == 1 else goal[:, None])).square().sum(-1)


def final_distance(latents: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance of the last imagined latent to the goal: (N,)."""
    return distances(latents[:, -1:], goal)[:, 0]


def summed_distance(
    latents: torch.Tensor, goal: torch.Tensor, discount: float = 1.0
) -> torch.Tensor:
    """Sum over the horizon of discount**t times the squared distance of latent t to the goal."""
    dist = distances(latents, goal)  # (N, H)
    if discount == 1.0:
        return dist.sum(-1)
    weights = discount ** torch.arange(latents.shape[1], device=dist.device, dtype=dist.dtype)
    return dist @ weights


def action_penalty(actions: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """weight times the sum of squared actions over the sequence: actions (N, H, A) -> (N,)."""
    if actions.ndim != 3:
        raise AmiError(f"actions must have shape (N, H, A), got {tuple(actions.shape)}")
    return actions.square().sum((1, 2)) * weight
