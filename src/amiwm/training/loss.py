"""The latent-state-prediction loss: teacher forcing + multi-step rollout + anti-collapse."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from amiwm.config import TrainConfig
from amiwm.models.regularizers import SIGReg, VICReg
from amiwm.models.world_model import WorldModel
from amiwm.nn import global_std


def build_regularizer(cfg: TrainConfig) -> nn.Module | None:
    if cfg.regularizer == "sigreg":
        return SIGReg(cfg.sigreg_projections, cfg.sigreg_knots)
    if cfg.regularizer == "vicreg":
        return VICReg()
    return None  # "ema": the target encoder is a moving average, no batch regularizer


def latent_prediction_loss(
    model: WorldModel,
    batch: dict[str, torch.Tensor],
    cfg: TrainConfig,
    regularizer: nn.Module | None,
    target_encoder: nn.Module | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Loss terms for a batch of windows: obs (B, W, ...) or, with a frozen encoder, their
    latents (B, W, D) under "latents"; actions (B, W - 1, A) in raw units; for a model that
    takes the robot state (``proprio``), states (B, W, S) in raw units.

    pred: teacher-forced next-latent MSE over the W - 1 transitions; rollout: MSE of the
    autoregressive rollout from the first latent over the same transitions; reg: the
    anti-collapse term on the latents of the batch.
    """
    given = batch.get("latents")
    obs = batch["obs"] if given is None else given
    b, w = obs.shape[:2]
    actions = batch.get("actions")
    if actions is None:
        actions = torch.zeros(b, w - 1, max(model.config.action_dim, 1), device=obs.device)
    a = model._actions(actions)
    states = batch.get("states") if model.config.proprio and given is None else None
    bf16 = cfg.precision == "bf16"
    with torch.autocast(obs.device.type, dtype=torch.bfloat16, enabled=bf16):
        z = model.encode(obs, states) if given is None else given
        if target_encoder is not None:
            with torch.no_grad():
                x = model._obs(obs)
                s = model._state(states, (b, w)) if given is None else None
                target = model._encode(target_encoder, x, s)
        else:
            target = z
        pred = model._predict(z[:, :-1], a)
        roll = model._rollout(z[:, :1], a) if cfg.rollout_weight > 0 else None
    z, target, pred = z.float(), target.float(), pred.float()
    terms = {"pred": F.mse_loss(pred, target[:, 1:])}
    terms["rollout"] = (
        F.mse_loss(roll.float(), target[:, 1:]) if roll is not None else pred.new_zeros(())
    )
    terms["reg"] = regularizer(z, generator) if regularizer is not None else z.new_zeros(())
    terms["loss"] = (
        terms["pred"] + cfg.rollout_weight * terms["rollout"] + cfg.reg_scale * terms["reg"]
    )
    flat = z.detach().reshape(-1, z.shape[-1])
    # like BatchNorm: global statistics in training mode, where every rank runs the same step
    terms["latent_std"] = (global_std(flat) if model.training else flat.std(0)).mean()
    return terms


class WorldModelLoss(nn.Module):
    """The loss as a module (what DistributedDataParallel wraps): batch, generator -> terms."""

    def __init__(
        self,
        model: WorldModel,
        cfg: TrainConfig,
        regularizer: nn.Module | None,
        target_encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg
        self.regularizer, self.target_encoder = regularizer, target_encoder

    def forward(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        return latent_prediction_loss(
            self.model, batch, self.cfg, self.regularizer, self.target_encoder, generator
        )
