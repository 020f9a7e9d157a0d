"""The latent-state-prediction loss: teacher forcing + multi-step rollout + anti-collapse,
and optionally inverse dynamics (the action read back from consecutive latents), a
within-window variance term (the latent has to move when the frames do) and a read-out of the
recorded robot state (a training-only target)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from amiwm.config import TrainConfig
from amiwm.models.readout import StateReadout
from amiwm.models.regularizers import SIGReg, VICReg
from amiwm.models.world_model import WorldModel
from amiwm.nn import global_count, global_std, global_sum


def build_regularizer(cfg: TrainConfig) -> nn.Module | None:
    if cfg.regularizer == "sigreg":
        return SIGReg(cfg.sigreg_projections, cfg.sigreg_knots)
    if cfg.regularizer == "vicreg":
        return VICReg()
    return None  # "ema": the target encoder is a moving average, no batch regularizer


class InverseDynamics(nn.Module):
    """Training-only head: three consecutive latents (z_{t-1}, z_t, z_{t+1}) -> the
    normalised action a_t (the first two give the motion that the action then changes; on
    reacher's random torques neither two nor three latents read it back in 11 minutes: README).

    Its loss makes the encoder keep what the actions change (a reacher's arm, a pusher's
    agent), which a batch-wide anti-collapse term alone lets the latent drop when other
    features (a target ball that differs between episodes) already spread it (PLDM uses such
    a term)."""

    def __init__(self, latent_dim: int, action_dim: int, width: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3 * latent_dim, width), nn.GELU(), nn.Linear(width, max(action_dim, 1))
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, W, D) -> the actions a_1..a_{W-2} (B, W - 2, A)."""
        return self.net(torch.cat([z[:, :-2], z[:, 1:-1], z[:, 2:]], dim=-1))


def build_inverse(model: WorldModel, cfg: TrainConfig) -> InverseDynamics | None:
    """The inverse-dynamics head of a run with ``train.idm_weight > 0`` (RunConfig.validate
    checked it can have one), else None."""
    if cfg.idm_weight <= 0:
        return None
    return InverseDynamics(model.config.latent_dim, model.config.action_dim)


def build_state_readout(model: WorldModel, cfg: TrainConfig) -> StateReadout | None:
    """The state read-out of a run with ``train.state_weight > 0`` (its model config holds the
    data's state statistics), else None."""
    if cfg.state_weight <= 0:
        return None
    return StateReadout(model.config, cfg.state_angles, cfg.state_entries)


def within_window_hinge(z: torch.Tensor, target: float, across_ranks: bool = True) -> torch.Tensor:
    """Hinge on each dimension's std within windows (B, W, D): deviations from each window's
    own mean, pooled over the batch, asked to reach `target`.

    A batch-wide anti-collapse term is met by features that differ between episodes but never
    within one (reacher's target ball); this one can only be met by what changes inside a
    window, which in a deterministic render is what the actions and the dynamics moved.
    With `across_ranks` under torch.distributed the std pools the global batch (every rank
    must call it: training steps, not the lead's validation)."""
    dev = z - z.mean(1, keepdim=True)
    n, sq = dev.shape[0] * (dev.shape[1] - 1), dev.square().sum((0, 1))
    if across_ranks:
        n, sq = global_count(n, z.device), global_sum(sq)
    std = torch.sqrt(sq / max(n, 1) + 1e-4)
    return torch.relu(target - std).mean()


def latent_prediction_loss(
    model: WorldModel,
    batch: dict[str, torch.Tensor],
    cfg: TrainConfig,
    regularizer: nn.Module | None,
    target_encoder: nn.Module | None = None,
    generator: torch.Generator | None = None,
    inverse: nn.Module | None = None,
    readout: StateReadout | None = None,
) -> dict[str, torch.Tensor]:
    """Loss terms for a batch of windows: obs (B, W, ...) or, with a frozen encoder, their
    latents (B, W, D) under "latents"; actions (B, W - 1, A) in raw units; for a model that
    takes the robot state (``proprio``), states (B, W, S) in raw units.

    pred: teacher-forced next-latent MSE over the W - 1 transitions; rollout: MSE of the
    autoregressive rollout from the first latent over the same transitions; reg: the
    anti-collapse term on the latents of the batch; idm: MSE of the normalised actions read
    back by the `inverse` head from the latents around them (zero without one); motion: the
    within-window hinge (`within_window_hinge`, zero unless ``cfg.motion_weight > 0``);
    state: MSE of the recorded states (B, W, S) read back from the latents by the `readout`
    head (zero without one); state_rollout: the same head on the rollout's imagined latents
    (teacher-forced ones without a rollout) against the states they stand for.
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
        guess = inverse(z) if inverse is not None else None
    z, target, pred = z.float(), target.float(), pred.float()
    terms = {"pred": F.mse_loss(pred, target[:, 1:])}
    terms["rollout"] = (
        F.mse_loss(roll.float(), target[:, 1:]) if roll is not None else pred.new_zeros(())
    )
    terms["reg"] = regularizer(z, generator) if regularizer is not None else z.new_zeros(())
    terms["idm"] = F.mse_loss(guess.float(), a[:, 1:]) if guess is not None else z.new_zeros(())
    terms["state"], terms["state_rollout"] = z.new_zeros(()), z.new_zeros(())
    if readout is not None:
        goal = readout.target(batch["states"])
        terms["state"] = F.mse_loss(readout(z), goal)
        if cfg.state_rollout_weight > 0:
            imagined = (roll if roll is not None else pred).float()
            terms["state_rollout"] = F.mse_loss(readout(imagined), goal[:, 1:])
    terms["motion"] = (
        within_window_hinge(z, cfg.motion_std, across_ranks=model.training)
        if cfg.motion_weight > 0
        else z.new_zeros(())
    )
    terms["loss"] = (
        terms["pred"]
        + cfg.rollout_weight * terms["rollout"]
        + cfg.reg_scale * terms["reg"]
        + cfg.idm_weight * terms["idm"]
        + cfg.motion_weight * terms["motion"]
        + cfg.state_weight * terms["state"]
        + cfg.state_rollout_weight * terms["state_rollout"]
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
        inverse: nn.Module | None = None,
        readout: StateReadout | None = None,
    ) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg
        self.regularizer, self.target_encoder = regularizer, target_encoder
        self.inverse, self.readout = inverse, readout

    def forward(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        return latent_prediction_loss(
            self.model,
            batch,
            self.cfg,
            self.regularizer,
            self.target_encoder,
            generator,
            self.inverse,
            self.readout,
        )
