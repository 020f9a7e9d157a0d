"""Sensor forecasts: roll the latent state forward under actions, read the readings out.

Rows and actions follow the store's convention: ``actions[k]`` is the action taken between row
k and row k + 1, so forecast step j (the row j steps after the last one) follows action
``n - 2 + j`` of a window of n rows. The read-out is linear and per horizon (it is fitted on
frozen latents by ``amiwm.monitoring.forecast``; this module only applies it, so the model
layer needs no data): step j's readings are predicted from the predictor's latent for step j,
the latest encoded latent and (for an action-conditioned model) step j's normalised action.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from amiwm.errors import AmiError


@dataclass
class ForecastReadout:
    """Per-horizon ridge read-out: features of step j -> step j's normalised readings.

    ``weights`` (H, F + 1, D) act on features standardised with ``mean``/``std`` (H, F);
    the last row of each is the bias. ``residual`` (H, D): the in-sample residual std of each
    horizon, in normalised units (how far off the fit was on its own data)."""

    weights: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    residual: np.ndarray

    @property
    def horizon(self) -> int:
        return int(self.weights.shape[0])

    def apply(self, feats: np.ndarray) -> np.ndarray:
        """(B, H', F) features, H' <= horizon -> (B, H', D) normalised readings."""
        h = feats.shape[1]
        if h > self.horizon:
            raise AmiError(f"the read-out was fitted up to horizon {self.horizon}, asked for {h}")
        f = (feats - self.mean[:h]) / self.std[:h]
        w = self.weights[:h]
        return np.einsum("bhf,hfd->bhd", f, w[:, :-1]) + w[:, -1]


def rows_needed(model) -> int:
    """Rows of a window the forecast reads: `history` windows of `context` rows."""
    return model.config.rows_per_obs + model.config.history - 1


def _as_batch(x: np.ndarray | torch.Tensor, ndim: int) -> tuple[np.ndarray, bool]:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == ndim:
        return a[None], True
    return a, False


@torch.no_grad()
def latent_features(
    model, window: np.ndarray, actions: np.ndarray | None, horizon: int
) -> np.ndarray:
    """Read-out features (B, horizon, F) of windows (B, n, D) raw rows, n >= rows_needed,
    and actions (B, >= history - 1 + horizon, A) raw (aligned at the end; None: no actions)."""
    cfg = model.config
    if horizon < 1:
        raise AmiError(f"--horizon must be >= 1, got {horizon}")
    c, h = cfg.rows_per_obs, cfg.history
    need = rows_needed(model)
    if window.ndim != 3 or window.shape[1] < need:
        raise AmiError(
            f"a forecast needs at least {need} rows (context {c} + history {h} - 1), "
            f"got {window.shape[1] if window.ndim == 3 else window.shape}"
        )
    b = len(window)
    rows = window[:, -need:]
    if c > 1:
        obs = np.lib.stride_tricks.sliding_window_view(rows, c, axis=1).transpose(0, 1, 3, 2)
    else:
        obs = rows
    z = model.encode(np.ascontiguousarray(obs)).float()  # (B, h, L)
    a_dim = max(cfg.action_dim, 1)
    steps = h - 1 + horizon
    if actions is None:
        acts = np.zeros((b, steps, a_dim), np.float32)
    else:
        if actions.ndim != 3 or actions.shape[1] < steps or actions.shape[2] != a_dim:
            got = actions.shape[1:] if actions.ndim == 3 else actions.shape
            raise AmiError(
                f"a forecast of {horizon} steps needs {steps} actions of {a_dim} dimensions "
                f"(history {h} - 1 inside the window, then one per step), got {tuple(got)}"
            )
        acts = actions[:, -steps:]
    pred = model.rollout_latents(z, torch.from_numpy(np.ascontiguousarray(acts))).cpu().numpy()
    now = np.repeat(z[:, -1:].cpu().numpy(), horizon, axis=1)
    parts = [pred, now]
    if cfg.action_conditioning and cfg.action_dim > 0:
        mean, std = model.action_mean.cpu().numpy(), model.action_std.cpu().numpy()
        parts.append((acts[:, h - 1 :] - mean) / std)
    return np.concatenate(parts, axis=2).astype(np.float64)


def forecast(
    model, window, actions, readout: ForecastReadout, horizon: int | None = None
) -> np.ndarray:
    """Readings (raw units) of the next `horizon` rows (default: the read-out's horizon).

    window (n, D) or (B, n, D): the latest raw rows, n >= context + history - 1; actions
    (m, A) or (B, m, A), m >= history - 1 + horizon, the last `horizon` being the plan (one
    per step: the action leading to it), the ones before those taken between the window's last
    rows; None for a model without actions. Returns (horizon, D) or (B, horizon, D)."""
    if model.config.modality != "sensors":
        raise AmiError("forecasts need a sensor model (trained on cmapss:, csv:, tep: or sensors)")
    horizon = readout.horizon if horizon is None else horizon
    w, single = _as_batch(window, 2)
    a = None
    if actions is not None:
        a, _ = _as_batch(actions, 2)
        if len(a) != len(w):
            raise AmiError(f"{len(w)} windows but {len(a)} action sequences")
    if not np.isfinite(w).all() or (a is not None and not np.isfinite(a).all()):
        raise AmiError("window or actions contain NaN or Inf")
    xn = readout.apply(latent_features(model, w, a, horizon))
    mean = model.obs_mean.cpu().numpy().astype(np.float64)
    std = model.obs_std.cpu().numpy().astype(np.float64)
    out = (xn * std + mean).astype(np.float32)
    return out[0] if single else out
