"""Action-conditioned read-out: each new reading predicted from the world-model state.

For row t the features are the predictor's latent forecast for t (made from the `history`
latents before t and their actions), the `lags` latents before t and the `lags` most recent
actions (normalised as the model does). A ridge map from them to the row's normalised readings,
fitted on healthy runs, gives a residual whose healthy covariance comes from out-of-fold
residuals (contiguous folds: what a reading the fit never saw looks like, not the in-sample
fit); the score is the Mahalanobis distance (healthy mean 1 after dividing by `ref`). A fault
the controller compensates (the actions moved, the readings did not) leaves the readings where
the actions say they should not be: it is a residual here even when the latent surprise is
small. Contributions are reconstruction-based (Alcala & Qin 2009): (P r)_j^2 / P_jj, the drop
in distance when channel j alone is corrected; they name the channels that depart most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amiwm.errors import AmiError


@dataclass
class DynamicReadout:
    weights: np.ndarray  # (features + 1, channels)
    precision: np.ndarray  # (channels, channels): inverse healthy out-of-fold covariance
    ref: float  # healthy mean distance
    lags: int

    def distance(self, feats: np.ndarray, xn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,) distance / ref (healthy out-of-fold mean 1) and (N, D) contributions of the
        normalised rows `xn`."""
        r = xn - (feats @ self.weights[:-1] + self.weights[-1])
        pr = r @ self.precision
        d = np.einsum("nd,nd->n", r, pr) / self.ref
        contrib = pr**2 / np.diag(self.precision)
        return d.astype(np.float32), contrib.astype(np.float32)


def features(
    pred: np.ndarray, ctx_z: np.ndarray, ctx_a: np.ndarray | None, lags: int
) -> np.ndarray:
    """(N, F): forecast latent, the last `lags` latents and actions of each context."""
    parts = [pred, *(ctx_z[:, -k] for k in range(1, lags + 1))]
    if ctx_a is not None:
        parts += [ctx_a[:, -k] for k in range(1, lags + 1)]
    return np.concatenate(parts, axis=1).astype(np.float64)


def fit_dynamic(
    feats: np.ndarray,
    xn: np.ndarray,
    lags: int,
    alpha: float = 0.01,
    folds: int = 5,
    shrink: float = 0.1,
) -> DynamicReadout:
    """Ridge read-out on healthy rows; covariance of contiguous out-of-fold residuals, shrunk
    by `shrink` toward its diagonal."""
    from amiwm.evaluation import ridge_fit

    n = len(feats)
    if n < 5 * folds:
        raise AmiError(f"the dynamic read-out needs at least {5 * folds} healthy rows, got {n}")
    w = ridge_fit(feats, xn, alpha)
    r = np.empty_like(xn, dtype=np.float64)
    edges = np.linspace(0, n, folds + 1).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        test = np.zeros(n, bool)
        test[lo:hi] = True
        wf = ridge_fit(feats[~test], xn[~test], alpha)
        r[test] = xn[test] - (feats[test] @ wf[:-1] + wf[-1])
    cov = np.cov(r.T)
    cov = (1 - shrink) * cov + shrink * np.diag(np.diag(cov)) + 1e-9 * np.eye(len(cov))
    prec = np.linalg.inv(cov)
    ref = float(np.mean(np.einsum("nd,de,ne->n", r, prec, r)))  # healthy, out of fold
    return DynamicReadout(w.astype(np.float64), prec, ref, lags)
