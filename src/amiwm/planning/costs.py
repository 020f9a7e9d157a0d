"""Costs on imagined latents (N, H, D) against a goal latent (D,) or (N, D); all return (N,).

Distances are squared Euclidean (sum over D): smooth everywhere, so gradient planners get
useful gradients at the goal, and consistent with the MSE prediction loss of the model.
"""

from __future__ import annotations

import torch

from amiwm.errors import AmiError


def _check(latents: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Validate shapes; return the goal broadcastable against (N, H, D)."""
    if latents.ndim != 3:
        raise AmiError(f"latents must have shape (N, H, D), got {tuple(latents.shape)}")
    n, _, d = latents.shape
    if goal.shape not in ((d,), (n, d), (1, d)):
        raise AmiError(
            f"goal has shape {tuple(goal.shape)}, expected ({d},) or ({n}, {d}) for latents "
            f"{tuple(latents.shape)}"
        )
    return goal if goal.ndim == 1 else goal[:, None]


def final_distance(latents: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance of the last imagined latent to the goal: (N,)."""
    goal = _check(latents, goal)
    return (latents[:, -1:] - goal).square().sum((1, 2))


def summed_distance(
    latents: torch.Tensor, goal: torch.Tensor, discount: float = 1.0
) -> torch.Tensor:
    """Sum over the horizon of discount**t times the squared distance of latent t to the goal."""
    goal = _check(latents, goal)
    dist = (latents - goal).square().sum(-1)  # (N, H)
    if discount == 1.0:
        return dist.sum(-1)
    weights = discount ** torch.arange(latents.shape[1], device=dist.device, dtype=dist.dtype)
    return dist @ weights


def action_penalty(actions: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """weight times the sum of squared actions over the sequence: actions (N, H, A) -> (N,)."""
    if actions.ndim != 3:
        raise AmiError(f"actions must have shape (N, H, A), got {tuple(actions.shape)}")
    return actions.square().sum((1, 2)) * weight
