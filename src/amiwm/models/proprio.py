"""Robot state (proprioception) as a second encoder input.

Fusion: the normalised state goes through a small MLP; its embedding is concatenated with the
observation encoder's features (conv map, ViT CLS token, sensor features) and the one
BatchNorm projector maps both to the latent. Fusing before the projector (not after it) keeps
a single latent head, so the anti-collapse regularizer, the predictor and every planner see
one latent exactly as without state; the frame path is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from amiwm.config import ModelConfig
from amiwm.models.encoders import projector

STATE_WIDTH = 64  # width of the state embedding


class ProprioEncoder(nn.Module):
    """(observations (N, *obs_shape), normalised states (N, S)) -> latents (N, latent_dim).

    `base` is an observation encoder with ``features`` and a ``head``; its head is replaced by
    one that takes the features and the state embedding together.
    """

    def __init__(self, base: nn.Module, cfg: ModelConfig, width: int = STATE_WIDTH) -> None:
        super().__init__()
        feat = base.head[0].in_features
        base.head = projector(feat + width, cfg.latent_dim)
        self.base = base
        self.state_net = nn.Sequential(
            nn.Linear(max(cfg.state_dim, 1), width),
            nn.GELU(),
            nn.Linear(width, width),
            nn.GELU(),
        )

    def forward(self, obs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        fused = torch.cat([self.base.features(obs), self.state_net(state.float())], dim=-1)
        return self.base.head(fused)
