"""Classical TEP fault detectors for benchmarks/tep.py: PCA (T^2 + Q), dynamic PCA, ARX + EWMA.

Each detector is fitted on normal rows (x: XMEAS (T, 41), u: XMV (T, 11)) and returns one score
per row (NaN where its lags are not yet filled); thresholds are set by the caller.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def ewma(s: np.ndarray, w: float) -> np.ndarray:
    """Exponentially weighted moving average (weight ``w`` on the new value), NaN prefix kept."""
    out = np.full(len(s), np.nan)
    ok = np.flatnonzero(np.isfinite(s))
    if ok.size:
        y = s[ok[0] :]
        out[ok[0] :] = lfilter([w], [1, w - 1], y, zi=[(1 - w) * y[0]])[0]
    return out


def lagged(z: np.ndarray, lags: int) -> np.ndarray:
    """Rows [z_t, z_{t-1}, ..., z_{t-lags}] (NaN where a lag is before the start)."""
    parts = []
    for k in range(lags + 1):
        p = np.full_like(z, np.nan)
        p[k:] = z[: len(z) - k]
        parts.append(p)
    return np.hstack(parts)


class PCA:
    """PCA on standardised rows; the combined index T^2 / mean + Q / mean (means on fit rows).

    Components: the fewest that explain ``variance`` of the normal rows' variance.
    ``lags`` > 0 makes it dynamic PCA (Ku et al. 1995): each row is [v_t, ..., v_{t-lags}].
    """

    def __init__(self, v: np.ndarray, lags: int = 0, variance: float = 0.9) -> None:
        self.lags = lags
        z = lagged(v, lags)[lags:]
        self.mu, self.sd = z.mean(0), z.std(0) + 1e-9
        zn = (z - self.mu) / self.sd
        _, s, vt = np.linalg.svd(zn, full_matrices=False)
        ev = s**2 / (len(zn) - 1)
        self.k = int(np.searchsorted(np.cumsum(ev) / ev.sum(), variance)) + 1
        self.p, self.ev = vt[: self.k].T, ev[: self.k]
        t2, q = self._stats(zn)
        self.t2_ref, self.q_ref = t2.mean(), q.mean()

    def _stats(self, zn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = zn @ self.p
        t2 = (t**2 / self.ev).sum(1)
        q = ((zn - t @ self.p.T) ** 2).sum(1)
        return t2, q

    def score(self, v: np.ndarray) -> np.ndarray:
        zn = (lagged(v, self.lags) - self.mu) / self.sd
        t2, q = self._stats(np.nan_to_num(zn))
        s = t2 / self.t2_ref + q / self.q_ref
        s[: self.lags] = np.nan
        return s


class ARX:
    """One-step ARX: XMEAS_t from XMEAS_{t-1..t-lags}, XMV_{t..t-lags} (ridge least squares);
    the score is the EWMA of the Mahalanobis distance of the residual (covariance on fit rows)."""

    def __init__(self, x: np.ndarray, u: np.ndarray, lags: int = 2, smoothing: float = 0.2):
        self.lags, self.w = lags, smoothing
        self.mu_x, self.sd_x = x.mean(0), x.std(0) + 1e-9
        self.mu_u, self.sd_u = u.mean(0), u.std(0) + 1e-9
        f, y = self._design(x, u)
        f, y = f[lags:], y[lags:]
        fb = np.hstack([f, np.ones((len(f), 1))])
        reg = 1e-2 * len(f) * np.eye(fb.shape[1])
        reg[-1, -1] = 0
        self.coef = np.linalg.solve(fb.T @ fb + reg, fb.T @ y)
        r = y - fb @ self.coef
        cov = np.cov(r.T) + 1e-6 * np.eye(r.shape[1])
        self.prec = np.linalg.inv(cov)

    def _design(self, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xn, un = (x - self.mu_x) / self.sd_x, (u - self.mu_u) / self.sd_u
        past = lagged(xn, self.lags)[:, xn.shape[1] :]
        return np.hstack([past, lagged(un, self.lags)]), xn

    def residual(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        f, y = self._design(x, u)
        r = y - np.hstack([np.nan_to_num(f), np.ones((len(f), 1))]) @ self.coef
        r[: self.lags] = np.nan
        return r

    def score(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        r = self.residual(x, u)
        d = np.einsum("ti,ij,tj->t", r, self.prec, r)
        return ewma(d, self.w)

    def top3(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(T, 3) XMEAS indices with the largest EWMA of reconstruction-based contributions
        (P r)_j^2 / P_jj (as the amiwm monitor names channels); -1 before the lags fill."""
        r = self.residual(x, u)
        c = (r @ self.prec) ** 2 / np.diag(self.prec)
        out = np.full((len(x), 3), -1, np.int64)
        sm = np.stack([ewma(c[:, j], self.w) for j in range(c.shape[1])], 1)
        ok = np.isfinite(sm[:, 0])
        out[ok] = np.argsort(-sm[ok], axis=1)[:, :3]
        return out
