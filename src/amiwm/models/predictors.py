"""Predictors: (latents z_0..z_t, actions a_0..a_t) -> next latents z_1..z_{t+1}.

Both predictors are causal: output t depends only on z_{<=t} and a_{<=t}, so one forward pass
over a window gives every teacher-forced prediction at once.
"""

from __future__ import annotations

import torch
from torch import nn

from amiwm.config import ModelConfig


class AdaLNBlock(nn.Module):
    """Pre-norm transformer block whose norms are modulated by the action (adaptive LayerNorm).

    The action embedding yields a shift, scale and gate for the attention and MLP branches;
    the gates start at zero so each block starts as the identity (as in DiT / LeWorldModel).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.modulation = nn.Sequential(nn.GELU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        h = self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        x = x + gate1 * h
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class TransformerPredictor(nn.Module):
    """Causal transformer over a history of latents, actions injected with AdaLN."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        dim = cfg.predictor_dim
        self.inp = nn.Linear(cfg.latent_dim, dim)
        self.pos = nn.Parameter(torch.randn(1, cfg.history, dim) * 0.02)
        self.action = nn.Sequential(
            nn.Linear(max(cfg.action_dim, 1), dim), nn.GELU(), nn.Linear(dim, dim)
        )
        self.blocks = nn.ModuleList(
            AdaLNBlock(dim, cfg.predictor_heads) for _ in range(cfg.predictor_depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, cfg.latent_dim)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        t = z.shape[1]
        x = self.inp(z) + self.pos[:, :t]
        cond = self.action(a)
        mask = torch.ones(t, t, dtype=torch.bool, device=z.device).triu(1)
        for block in self.blocks:
            x = block(x, cond, mask)
        return z + self.out(self.norm(x))


class MLPPredictor(nn.Module):
    """Markov predictor: z_{t+1} = z_t + MLP([z_t, a_t]); ignores older history."""

    markov = True  # each output depends on its own position only: rollouts feed one latent

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        dim = cfg.predictor_dim
        self.net = nn.Sequential(
            nn.Linear(cfg.latent_dim + max(cfg.action_dim, 1), 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, cfg.latent_dim),
        )

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + self.net(torch.cat([z, a], dim=-1))


def build_predictor(cfg: ModelConfig) -> nn.Module:
    return MLPPredictor(cfg) if cfg.predictor == "mlp" else TransformerPredictor(cfg)
