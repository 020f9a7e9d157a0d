"""Remaining useful life from frozen latents: a two-stage probe, RMSE and the PHM08 score.

Stage 1 is a ridge map from each row's history features to the capped RUL; the feature set is
one of FEATURE_SETS (the latent and the mean latent of the unit's last 30 rows; or those plus
the means over the last 10 and all rows so far and the elapsed cycle count). Stage 2 reads the
trajectory of the stage-1 score (the score, its trailing means and slopes, the cycle count)
through random Fourier features and a ridge: it can bend the straight line into the knee of
the capped target. The feature set, the ridge strengths, the kernel width and whether stage 2
is used at all are chosen by cross-validation over training units, scored as the C-MAPSS
test protocol scores (a random cut per unit: every row from the 30th to the one before last,
each unit weighing the same). The encoder stays frozen and never sees a label.
"""

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
ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1)
WINDOWS = (10, 30)  # trailing means of the latent (and the mean since the unit's first row)
GAMMAS = (1.0, 2.0, 4.0)  # stage-2 kernel widths (on standardised trajectory features)
N_FOURIER = 300
FOLDS = 5
MIN_CYCLES = 30  # the protocol keeps at least 30 rows of a cut unit
FEATURE_SETS = {  # stage-1 candidates; the cross-validation picks one
    "latent+mean30": ("latent", "mean30"),
    "history": ("latent", "mean10", "mean30", "mean_all", "cycle"),
}


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


def trailing_mean(z: np.ndarray, window: int | None) -> np.ndarray:
    """(T, D) -> (T, D): mean of the last `window` rows up to each row (None: all rows)."""
    c = np.cumsum(np.vstack([np.zeros((1, z.shape[1])), z]), axis=0)
    i = np.arange(len(z))
    lo = np.zeros_like(i) if window is None else np.maximum(0, i - window + 1)
    return (c[i + 1] - c[lo]) / (i + 1 - lo)[:, None]


def trailing_slope(z: np.ndarray, window: int | None) -> np.ndarray:
    """(T, D) -> (T, D): least-squares slope per row over the last `window` rows (None: all);
    0 on the first row."""
    n = len(z)
    i = np.arange(n, dtype=np.float64)
    zero = np.zeros((1, z.shape[1]))
    cz = np.cumsum(np.vstack([zero, z]), axis=0)
    ciz = np.cumsum(np.vstack([zero, z * i[:, None]]), axis=0)
    ci, cii = np.concatenate([[0], np.cumsum(i)]), np.concatenate([[0], np.cumsum(i**2)])
    hi = np.arange(1, n + 1)
    lo = np.zeros(n, np.int64) if window is None else np.maximum(0, hi - window)
    m, sx, sxx = hi - lo, ci[hi] - ci[lo], cii[hi] - cii[lo]
    den = m * sxx - sx**2
    den = np.where(den > 0, den, np.inf)
    return (m[:, None] * (ciz[hi] - ciz[lo]) - sx[:, None] * (cz[hi] - cz[lo])) / den[:, None]


def feature_columns(name: str, latent_dim: int) -> np.ndarray:
    """Columns of history_features() in the feature set `name` (see FEATURE_SETS)."""
    blocks = {"latent": 0, "mean10": 1, "mean30": 2, "mean_all": 3}
    cols = [
        np.arange(latent_dim) + blocks[b] * latent_dim for b in FEATURE_SETS[name] if b in blocks
    ]
    if "cycle" in FEATURE_SETS[name]:
        cols.append(np.array([4 * latent_dim]))
    return np.concatenate(cols)


def history_features(z: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """One unit's latents (T, L) in time order and cycle numbers (T,) -> (T, 4L + 1) features."""
    means = [trailing_mean(z, w) for w in (*WINDOWS, None)]
    return np.hstack([z, *means, np.asarray(cycles, np.float64)[:, None] / 100.0])


def _trajectory(score: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    s = score[:, None]
    parts = [s, *(trailing_mean(s, w) for w in WINDOWS), trailing_slope(s, 30)]
    return np.hstack([*parts, trailing_slope(s, None), cycles[:, None] / 100.0])


def protocol_weights(n: int) -> np.ndarray:
    """Row weights of one unit of n rows that make a weighted mean over rows the expected
    error of one random cut (rows MIN_CYCLES .. n-1, 1-based; all rows of a short unit)."""
    w = np.zeros(n)
    lo, hi = (MIN_CYCLES - 1, n - 1) if n > MIN_CYCLES else (0, n)
    w[lo:hi] = 1.0 / (hi - lo)
    return w


@dataclass
class _Ridge:
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    alpha: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, alpha: float) -> _Ridge:
        mean, std = x.mean(0), x.std(0) + 1e-6
        return cls(mean, std, ridge_fit((x - mean) / std, y, alpha), alpha)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ridge_predict(self.weights, (x - self.mean) / self.std)


@dataclass
class _Fourier:
    """Random Fourier features of standardised inputs, the inputs passed through beside them."""

    mean: np.ndarray
    std: np.ndarray
    freq: np.ndarray
    phase: np.ndarray

    @classmethod
    def make(cls, x: np.ndarray, gamma: float, seed: int = 0) -> _Fourier:
        rng = np.random.default_rng(seed)
        d = x.shape[1]
        freq = rng.normal(0.0, gamma / np.sqrt(d), (d, N_FOURIER))
        return cls(x.mean(0), x.std(0) + 1e-6, freq, rng.uniform(0, 2 * np.pi, N_FOURIER))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        u = (x - self.mean) / self.std
        return np.hstack([np.sqrt(2.0 / N_FOURIER) * np.cos(u @ self.freq + self.phase), u])


@dataclass
class RulProbe:
    """Stage-1 ridge on history features, optional stage-2 kernel ridge on the score's
    trajectory; predictions clipped to [0, cap]."""

    stage1: _Ridge
    cap: float
    columns: np.ndarray  # the chosen feature set's columns of history_features()
    features: str  # its name in FEATURE_SETS
    stage2: _Ridge | None = None
    fourier: _Fourier | None = None
    cv_rmse: dict[str, float] | None = None

    @classmethod
    def fit(
        cls, feats: list[np.ndarray], targets: list[np.ndarray], cycles: list[np.ndarray],
        cap: float,
    ) -> RulProbe:  # fmt: skip
        """Fit on per-unit features (T_u, F), capped targets (T_u,) and cycles (T_u,)."""
        if len(feats) < 2:
            raise AmiError(f"the RUL probe needs at least 2 training units, got {len(feats)}")
        x, y = np.concatenate(feats), np.concatenate(targets)
        unit = np.concatenate([np.full(len(f), i) for i, f in enumerate(feats)])
        fold = unit % min(FOLDS, len(feats))
        w = np.concatenate([protocol_weights(len(f)) for f in feats])
        cyc = np.concatenate(cycles)

        def cv_err(pred: np.ndarray) -> float:
            return float(np.sqrt((w * (np.clip(pred, 0, cap) - y) ** 2).sum() / w.sum()))

        def out_of_fold(make, inputs: np.ndarray) -> np.ndarray:
            pred = np.zeros(len(y))
            for f in np.unique(fold):
                tr = fold != f
                pred[~tr] = make(inputs[tr], y[tr]).predict(inputs[~tr])
            return pred

        latent_dim = (x.shape[1] - 1) // 4
        scores, errs = {}, {}
        for name in FEATURE_SETS:
            cols = feature_columns(name, latent_dim)
            for a in ALPHAS:
                fit = lambda a_, b_, a=a: _Ridge.fit(a_, b_, a)  # noqa: E731
                scores[name, a] = out_of_fold(fit, x[:, cols])
                errs[f"stage1 {name} alpha={a:g}"] = cv_err(scores[name, a])
        chosen, alpha = min(scores, key=lambda key: cv_err(scores[key]))
        cols = feature_columns(chosen, latent_dim)
        errs["stage1"] = cv_err(scores[chosen, alpha])
        # stage 2 on the out-of-fold stage-1 scores (what it will see on new units)
        traj = np.concatenate(
            [
                _trajectory(scores[chosen, alpha][unit == i], cyc[unit == i])
                for i in range(len(feats))
            ]
        )
        best = None
        for gamma in GAMMAS:
            fourier = _Fourier.make(traj, gamma)
            phi = fourier(traj)
            for a2 in ALPHAS[:2]:
                e = cv_err(out_of_fold(lambda a_, b_, a2=a2: _Ridge.fit(a_, b_, a2), phi))
                errs[f"stage2 gamma={gamma:g} alpha={a2:g}"] = e
                if best is None or e < best[0]:
                    best = (e, fourier, a2)
        probe = cls(_Ridge.fit(x[:, cols], y, alpha), cap, cols, chosen, cv_rmse=errs)
        if best[0] < errs["stage1"]:
            probe.fourier = best[1]
            probe.stage2 = _Ridge.fit(probe.fourier(traj), y, best[2])
        return probe

    @property
    def alpha(self) -> float:
        return self.stage1.alpha

    def predict(self, feats: list[np.ndarray], cycles: list[np.ndarray]) -> list[np.ndarray]:
        """Per-unit predictions of every row (each unit's rows in time order)."""
        out = []
        for f, c in zip(feats, cycles, strict=True):
            s = self.stage1.predict(f[:, self.columns])
            if self.stage2 is not None:
                s = self.stage2.predict(self.fourier(_trajectory(s, np.asarray(c, np.float64))))
            out.append(np.clip(s, 0.0, self.cap))
        return out


@torch.inference_mode()
def unit_features(
    model: WorldModel, table: Any, batch: int = 2048
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """History features of every row and the row indices of each unit, in unit order.

    Row t is encoded from the window of rows ending at t, as in training; its features are
    history_features() of the unit's latents up to t (causal: a cut unit gets the same)."""
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
        feats.append(history_features(z[start : start + len(r)], table.time[r]))
        start += len(r)
    return feats, rows


def rul_targets(table: Any, rows: list[np.ndarray], cap: float = RUL_CAP) -> list[np.ndarray]:
    """Capped cycles to the last row of each unit (a run to failure), for `rows` per unit."""
    return [np.minimum(table.time[r].max() - table.time[r], cap).astype(np.float64) for r in rows]


def phm08_score(pred: np.ndarray, true: np.ndarray) -> float:
    """PHM08 challenge score: late predictions (d > 0) cost exp(d/10) - 1, early exp(-d/13) - 1."""
    d = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def evaluate_rul(
    model: WorldModel, train: Any, test: Any, test_rul: np.ndarray, cap: float = RUL_CAP
) -> dict[str, Any]:
    """Fit the probe on every row of run-to-failure `train` units; score each `test` unit's
    last row against its true RUL (capped, as in the standard protocol)."""
    test_rul = np.asarray(test_rul, np.float64)
    n_units = len(test.groups())
    if len(test_rul) != n_units:
        raise AmiError(f"{n_units} test units but {len(test_rul)} RUL values; they must match")
    feats, rows = unit_features(model, train)
    y = rul_targets(train, rows, cap)
    cycles = [train.time[r] for r in rows]
    probe = RulProbe.fit(feats, y, cycles, cap)
    test_feats, test_rows = unit_features(model, test)
    pred = np.array([p[-1] for p in probe.predict(test_feats, [test.time[r] for r in test_rows])])
    true = np.minimum(test_rul, cap)
    fitted = np.concatenate(probe.predict(feats, cycles))
    return {
        "rmse": float(np.sqrt(np.mean((pred - true) ** 2))),
        "score": phm08_score(pred, true),
        "predictions": pred.round(2).tolist(),
        "true_rul": true.tolist(),
        "units": [str(g) for g in test.groups()],
        "train_rmse": float(np.sqrt(np.mean((fitted - np.concatenate(y)) ** 2))),
        "alpha": probe.alpha,
        "features": probe.features,
        "stage2": probe.stage2 is not None,
        "cv_rmse": probe.cv_rmse,
        "cap": cap,
    }
