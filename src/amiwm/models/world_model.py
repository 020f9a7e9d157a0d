"""The JEPA world model: encoder + action-conditioned predictor, predicting latents only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from amiwm.config import ModelConfig
from amiwm.errors import AmiError
from amiwm.frames import fit_frames
from amiwm.models.encoders import build_encoder
from amiwm.models.predictors import build_predictor

ArrayLike = np.ndarray | torch.Tensor


class WorldModel(nn.Module):
    """Encoder (observation -> latent) and predictor (latents, actions -> next latents).

    Observations: uint8 frames (..., H, W, C) or float sensor vectors (..., D), raw units; the
    model normalises with the statistics stored in its config. A model trained on an imported
    robot corpus (``config.resize`` set) also takes frames as its camera delivers them (any
    size; grayscale or RGBA) and fits them with ``amiwm.frames.fit_frames`` as the importer did.
    Actions: raw units (..., A). A model trained with ``proprio`` also takes the robot state
    of every observation, raw units (..., S), normalised with the stored state mean/std.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.encoder = build_encoder(config)
        self.predictor = build_predictor(config)
        a = max(config.action_dim, 1)
        mean = config.action_mean or [0.0] * a
        std = config.action_std or [1.0] * a
        self.register_buffer(
            "action_mean", torch.tensor(mean, dtype=torch.float32), persistent=False
        )
        self.register_buffer("action_std", torch.tensor(std, dtype=torch.float32), persistent=False)
        d = int(config.obs_shape[-1])  # sensors: one statistic per channel
        omean = config.obs_mean or [0.0] * d
        ostd = config.obs_std or [1.0] * d
        self.register_buffer("obs_mean", torch.tensor(omean, dtype=torch.float32), persistent=False)
        self.register_buffer("obs_std", torch.tensor(ostd, dtype=torch.float32), persistent=False)
        if config.proprio and config.state_dim < 1:
            raise AmiError("model.proprio needs model.state_dim >= 1 (filled from the data)")
        s = max(config.state_dim, 1)
        smean = torch.tensor(config.state_mean or [0.0] * s, dtype=torch.float32)
        sstd = torch.tensor(config.state_std or [1.0] * s, dtype=torch.float32)
        self.register_buffer("state_mean", smean, persistent=False)
        self.register_buffer("state_std", sstd, persistent=False)

    # ----------------------------------------------------------------- inputs
    def _obs(self, obs: ArrayLike) -> torch.Tensor:
        x = torch.as_tensor(obs)
        shape = tuple(self.config.obs_shape)
        if self.config.modality == "frames" and self.config.resize:
            x = self._camera_frames(x, shape)
        if tuple(x.shape[x.ndim - len(shape) :]) != shape:
            raise AmiError(
                f"observation has shape {tuple(x.shape)}, the model expects (..., "
                f"{', '.join(map(str, shape))})"
            )
        if self.config.modality == "frames":
            if x.dtype != torch.uint8:
                if x.is_floating_point() and not torch.isfinite(x).all():
                    raise AmiError("observation contains NaN or Inf")
                x = x.round().clamp(0, 255).to(torch.uint8)
            return x
        x = x.float()
        if not torch.isfinite(x).all():
            raise AmiError("observation contains NaN or Inf")
        return (x - self.obs_mean) / self.obs_std

    def camera_frames(self, frames: ArrayLike) -> torch.Tensor:
        """Frames as the camera delivers them -> the model's (..., *obs_shape) uint8 frames,
        exactly as the importer fitted them (a model without a camera: unchanged)."""
        x = torch.as_tensor(frames)
        if not self.config.resize:
            return x
        return self._camera_frames(x, tuple(self.config.obs_shape))

    def _camera_frames(self, x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Frames as the camera delivers them -> the model's frames, exactly as on import."""
        cam = tuple(self.config.camera_shape)
        if cam and cam[-1] == 1 and x.ndim >= 2 and tuple(x.shape[-2:]) == cam[:2]:
            x = x.unsqueeze(-1)  # grayscale (..., H, W)
        if x.ndim >= 3 and tuple(x.shape[-3:]) != shape:
            x = fit_frames(x, (shape[0], shape[1]), self.config.resize)
        return x

    def _state(self, state: ArrayLike | None, lead: tuple[int, ...]) -> torch.Tensor | None:
        """Robot states (*lead, S) in raw units -> normalised; None for a model without them."""
        if not self.config.proprio:
            if state is not None:
                raise AmiError("this model was trained without robot state (--proprio); pass none")
            return None
        if state is None:
            raise AmiError(
                "this model takes the robot state too (trained with --proprio true); pass "
                f"state (..., {self.config.state_dim}) with the observations"
            )
        s = torch.as_tensor(state, dtype=torch.float32, device=self.state_mean.device)
        want = (*lead, self.config.state_dim)
        if tuple(s.shape) != want:
            raise AmiError(
                f"state has shape {tuple(s.shape)}, the model expects {want} for these observations"
            )
        if not torch.isfinite(s).all():
            raise AmiError("state contains NaN or Inf")
        return (s - self.state_mean) / self.state_std

    def _actions(self, actions: ArrayLike) -> torch.Tensor:
        a = torch.as_tensor(actions, dtype=torch.float32, device=self.action_mean.device)
        want = max(self.config.action_dim, 1)
        if a.shape[-1] != want:
            raise AmiError(f"actions have {a.shape[-1]} dimensions, the model expects {want}")
        if not torch.isfinite(a).all():
            raise AmiError("actions contain NaN or Inf")
        if not self.config.action_conditioning:
            return torch.zeros_like(a)
        return (a - self.action_mean) / self.action_std

    # ----------------------------------------------------------------- API
    def encode(self, obs: ArrayLike, state: ArrayLike | None = None) -> torch.Tensor:
        """Observations (..., *obs_shape) -> latents (..., latent_dim); `state` (..., S), the
        robot state of each observation, is required by (and only by) a ``proprio`` model."""
        x = self._obs(obs).to(self.action_mean.device)
        lead = tuple(x.shape[: x.ndim - len(self.config.obs_shape)])
        return self._encode(self.encoder, x, self._state(state, lead))

    def _encode(self, encoder: nn.Module, x: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        """Checked inputs (`_obs`, `_state`) through `encoder` (this model's or an EMA copy)."""
        lead = x.shape[: x.ndim - len(self.config.obs_shape)]
        flat = x.reshape(-1, *self.config.obs_shape)
        z = encoder(flat) if s is None else encoder(flat, s.reshape(-1, s.shape[-1]))
        return z.reshape(*lead, -1)

    def predict(self, latents: torch.Tensor, actions: ArrayLike) -> torch.Tensor:
        """Teacher-forced next latents: (B, T, D), (B, T, A) -> (B, T, D); output t ~ z_{t+1}."""
        a = self._actions(actions)
        return self._predict(latents, a)

    def _predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        h = self.config.history
        if z.shape[1] <= h:
            return self.predictor(z, a)
        outs = [self.predictor(z[:, :h], a[:, :h])]
        outs += [
            self.predictor(z[:, t - h + 1 : t + 1], a[:, t - h + 1 : t + 1])[:, -1:]
            for t in range(h, z.shape[1])
        ]
        return torch.cat(outs, dim=1)

    def rollout_latents(self, latents: torch.Tensor, actions: ArrayLike) -> torch.Tensor:
        """Imagine the future from a context of latents, feeding predictions back in.

        latents: (B, h, D) context z_0..z_{h-1}. actions: (B, h - 1 + n, A): the h - 1 actions
        taken inside the context, then the n actions to imagine. Returns (B, n, D), the
        predicted z_h..z_{h+n-1}. This is the one rollout used by training and planning.
        """
        a = self._actions(actions)
        return self._rollout(latents, a)

    def _rollout(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        # a Markov predictor gives the same last output from the last latent alone (2.5x
        # less work per plan than feeding it the whole history)
        hist = 1 if getattr(self.predictor, "markov", False) else self.config.history
        h = z.shape[1]
        n = a.shape[1] - (h - 1)
        if n < 1:
            raise AmiError(f"rollout needs at least {h} actions for a context of {h} latents")
        seq = list(z.unbind(1))
        for k in range(n):
            end = h + k
            start = max(0, end - hist)
            zin = torch.stack(seq[start:end], dim=1)
            seq.append(self.predictor(zin, a[:, start:end])[:, -1])
        return torch.stack(seq[h:], dim=1)

    def rollout(
        self, obs_history: ArrayLike, actions: ArrayLike, state: ArrayLike | None = None
    ) -> torch.Tensor:
        """Encode observations (B, h, *obs_shape) (and, for a proprio model, their states
        (B, h, S)) and roll out actions (B, h - 1 + n, A)."""
        return self.rollout_latents(self.encode(obs_history, state), actions)

    @torch.no_grad()
    def surprise(
        self, obs: ArrayLike, actions: ArrayLike, state: ArrayLike | None = None
    ) -> torch.Tensor:
        """How far reality departs from prediction: (B, h + 1, *obs), (B, h, A) -> (B,).

        The last observation is predicted from the h before it and the actions between them;
        surprise is the squared distance between predicted and encoded latent, divided by
        latent_dim. A proprio model takes the observations' states (B, h + 1, S) too.
        """
        z = self.encode(obs, state)
        if z.ndim != 3 or z.shape[1] < 2:
            raise AmiError("surprise needs observations (B, h + 1, ...) with h >= 1")
        pred = self.rollout_latents(z[:, :-1], actions)[:, -1]
        return (pred - z[:, -1]).pow(2).mean(-1)

    def forecast(self, window: ArrayLike, actions: ArrayLike | None, readout, horizon=None):
        """Sensor readings of the next steps: latest raw rows (n, D), actions (history - 1 +
        H, A) ending with the plan, a ``ForecastReadout`` (``amiwm.monitoring.forecast`` fits
        one) -> (H, D) raw readings; batched (B, ...) too. See ``amiwm.models.forecast``."""
        from amiwm.models.forecast import forecast

        return forecast(self, window, actions, readout, horizon)

    # ----------------------------------------------------------------- persistence
    def save_pretrained(self, path: str | Path) -> Path:
        """Write config.json + model.safetensors (+ manifest with checksums) atomically."""
        from amiwm.checkpoint import save_checkpoint

        return save_checkpoint(Path(path), self.config, self.state_dict())

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu") -> WorldModel:
        """Load a checkpoint directory (or a training run directory: its latest checkpoint)."""
        from amiwm.checkpoint import load_checkpoint

        config, state = load_checkpoint(Path(path))
        model = cls(config)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise AmiError(
                f"{path}: weights do not match config.json ({exc.args[0][:120]})"
            ) from None
        return model.to(device).eval()

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
