"""Remaining useful life from frozen latents: a ridge probe, RMSE and the PHM08 score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from amiwm.data.windows import context_windows
from amiwm.errors import AmiError
from amiwm.evaluation import ridge_fit, ridge_predict
from amiwm.models.world_model import WorldModel

RUL_CAP = 125  # the standard piecewise-linear target: constant until 125 cycles from failure
ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
TRAIL = 30  # the probe also sees the mean latent of the last TRAIL rows (chosen by CV)


def model_columns(model: WorldModel, table: Any) -> np.ndarray:
    """The table's sensor columns in the model's channel order (error if one is missing)."""
    channels = model.config.channels
    if not channels:
        if table.sensors.shape[1] != model.config.obs_shape[-1]:
            raise AmiError(
                f"{table.source}: {table.sensors.shape[1]} sensor columns, the model expects "
                f"{model.config.obs_shape[-1]}"
            )
        return table.sensors
    index = {c: i for i, c in enumerate(table.channels)}
    missing = [c for c in channels if c not in index]
    if missing:
        raise AmiError(f"{table.source}: missing column(s) the model needs: {', '.join(missing)}")
    return table.sensors[:, [index[c] for c in channels]]


@torch.inference_mode()
def unit_features(
    model: WorldModel, table: Any, batch: int = 2048, trail: int = TRAIL
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Probe features of every row and the row indices of each unit, in unit order.

    Row t is encoded from the window of rows ending at t, as in training; its features are
    [z_t, mean of z over the last `trail` rows of the unit].
    """
    x = model_columns(model, table)
    context = model.config.rows_per_obs
    obs, rows = [], []
    for g in table.groups():
        idx = np.flatnonzero(table.group == g)
        idx = idx[np.argsort(table.time[idx], kind="stable")]
        obs.append(context_windows(x[idx], context) if context > 1 else x[idx])
        rows.append(idx)
    windows = np.concatenate(obs)
    z = np.concatenate(
        [
            model.encode(windows[i : i + batch]).float().numpy()
            for i in range(0, len(windows), batch)
        ]
    )
    feats, start = [], 0
    for r in rows:
        zu = z[start : start + len(r)]
        start += len(r)
        c = np.cumsum(np.vstack([np.zeros((1, zu.shape[1])), zu]), axis=0)
        i = np.arange(len(r))
        lo = np.maximum(0, i - trail + 1)
        feats.append(np.hstack([zu, (c[i + 1] - c[lo]) / (i + 1 - lo)[:, None]]))
    return np.concatenate(feats), rows


def rul_targets(table: Any, rows: list[np.ndarray], cap: float = RUL_CAP) -> np.ndarray:
    """Capped cycles to the last row of each unit (a run to failure), for `rows` per unit."""
    out = [np.minimum(table.time[r].max() - table.time[r], cap) for r in rows]
    return np.concatenate(out).astype(np.float64)


def phm08_score(pred: np.ndarray, true: np.ndarray) -> float:
    """PHM08 challenge score: late predictions (d > 0) cost exp(d/10) - 1, early exp(-d/13) - 1."""
    d = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


@dataclass
class RulProbe:
    """Ridge regression from standardised latent features to capped RUL."""

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    alpha: float
    cap: float

    @classmethod
    def fit(cls, z: np.ndarray, y: np.ndarray, units: np.ndarray, cap: float) -> RulProbe:
        """Choose the ridge strength by 5-fold cross-validation over units, then refit."""
        mean, std = z.mean(0), z.std(0) + 1e-6
        x = (z - mean) / std
        fold = np.asarray(units) % 5
        best, best_err = ALPHAS[0], np.inf
        for alpha in ALPHAS:
            err = 0.0
            for f in range(5):
                tr, te = fold != f, fold == f
                if not te.any() or not tr.any():
                    continue
                w = ridge_fit(x[tr], y[tr], alpha)
                err += float(((np.clip(ridge_predict(w, x[te]), 0, cap) - y[te]) ** 2).sum())
            if err < best_err:
                best, best_err = alpha, err
        return cls(mean, std, ridge_fit(x, y, best), best, cap)

    def predict(self, z: np.ndarray) -> np.ndarray:
        return np.clip(ridge_predict(self.weights, (z - self.mean) / self.std), 0.0, self.cap)


def evaluate_rul(
    model: WorldModel, train: Any, test: Any, test_rul: np.ndarray, cap: float = RUL_CAP
) -> dict[str, Any]:
    """Fit the probe on every row of run-to-failure `train` units; score each `test` unit's
    last row against its true RUL (capped, as in the standard protocol)."""
    test_rul = np.asarray(test_rul, np.float64)
    n_units = len(test.groups())
    if len(test_rul) != n_units:
        raise AmiError(f"{n_units} test units but {len(test_rul)} RUL values; they must match")
    z, rows = unit_features(model, train)
    y = rul_targets(train, rows, cap)
    units = np.concatenate([np.full(len(r), i) for i, r in enumerate(rows)])
    probe = RulProbe.fit(z, y, units, cap)
    z_test, test_rows = unit_features(model, test)
    pred = probe.predict(z_test[np.cumsum([len(r) for r in test_rows]) - 1])
    true = np.minimum(test_rul, cap)
    return {
        "rmse": float(np.sqrt(np.mean((pred - true) ** 2))),
        "score": phm08_score(pred, true),
        "predictions": pred.round(2).tolist(),
        "true_rul": true.tolist(),
        "units": [str(g) for g in test.groups()],
        "train_rmse": float(np.sqrt(np.mean((probe.predict(z) - y) ** 2))),
        "alpha": probe.alpha,
        "cap": cap,
    }
