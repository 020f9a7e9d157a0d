"""Encoders: observation -> latent vector. Frames are uint8 (..., H, W, C); sensors are float."""

from __future__ import annotations

import torch
from torch import nn

from amiwm.config import ModelConfig
from amiwm.nn import BatchNorm1d


def projector(in_dim: int, latent_dim: int, hidden: int = 512) -> nn.Sequential:
    """MLP head with BatchNorm, as in LeWorldModel; the regularizer acts on its output.

    The BatchNorm matters: SIGReg's gradient vanishes at total collapse (cos(t * 0) = 1), and
    with LayerNorm instead we measured collapse within 150 steps. Its statistics span the global
    batch when training on several processes.
    """
    return nn.Sequential(
        nn.Linear(in_dim, hidden), BatchNorm1d(hidden), nn.GELU(), nn.Linear(hidden, latent_dim)
    )


def frames_to_float(frames: torch.Tensor) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float in [-1, 1]."""
    x = frames.permute(0, 3, 1, 2)
    # under bf16 autocast contiguous NCHW measured 10-20% faster conv steps on the CPU; in fp32
    # the channels-last view is 15% faster (benchmarks/brief_command.py, two-rooms training)
    if torch.is_autocast_enabled(x.device.type):
        x = x.contiguous()
    return x.float().div(127.5).sub(1.0)


class ConvEncoder(nn.Module):
    """Small strided conv net: four stride-2 stages to a 4x4 map, then a projector."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h, w, c = cfg.obs_shape
        width = cfg.encoder_width
        chans = [c, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.GroupNorm(8, cout), nn.GELU()]
        self.net = nn.Sequential(*layers, nn.Flatten())
        feat = chans[-1] * (h // 16) * (w // 16)
        self.head = projector(feat, cfg.latent_dim)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames_to_float(frames))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(frames))


class ViTEncoder(nn.Module):
    """A small Vision Transformer: 8x8 patches, CLS token, pre-norm blocks, then a projector."""

    def __init__(self, cfg: ModelConfig, dim: int = 192, depth: int = 4, heads: int = 3) -> None:
        super().__init__()
        h, w, c = cfg.obs_shape
        patch = 8
        self.patchify = nn.Conv2d(c, dim, patch, patch)
        n = (h // patch) * (w // patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        block = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = projector(dim, cfg.latent_dim)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.patchify(frames_to_float(frames)).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.norm(self.blocks(x))[:, 0]

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(frames))


class MLPEncoder(nn.Module):
    """Sensor vectors (already normalised) -> latent."""

    def __init__(self, cfg: ModelConfig, hidden: int = 256) -> None:
        super().__init__()
        d = 1
        for s in cfg.obs_shape:
            d *= s
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.GELU())
        self.head = projector(hidden, cfg.latent_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TemporalEncoder(nn.Module):
    """Sensor windows (N, context, D), globally normalised -> latent.

    1-D convolutions over time (two of them with stride 2), then the flattened map: the
    order of steps is kept, so slow drift inside the window (which carries remaining life)
    survives. No per-window normalisation for the same reason.
    """

    def __init__(self, cfg: ModelConfig, width: int = 64) -> None:
        super().__init__()
        steps, d = cfg.obs_shape
        self.net = nn.Sequential(
            nn.Conv1d(d, width, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(width, width, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            feat = self.net(torch.zeros(1, d, steps)).shape[1]
        self.head = projector(feat, cfg.latent_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float().transpose(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_encoder(cfg: ModelConfig) -> nn.Module:
    """The observation encoder; with ``cfg.proprio`` it also takes the robot state
    (`ProprioEncoder`: forward(obs, state))."""
    name = cfg.resolved_encoder()
    if cfg.modality == "frames":
        base = ViTEncoder(cfg) if name == "vit" else ConvEncoder(cfg)
    else:
        base = TemporalEncoder(cfg) if name == "temporal" else MLPEncoder(cfg)
    if cfg.proprio:
        from amiwm.models.proprio import ProprioEncoder

        return ProprioEncoder(base, cfg)
    return base
