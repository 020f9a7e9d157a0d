"""Slow sensor drift: a long EWMA of each channel's read-out residual against its own start.

A drifting sensor moves a little every row. The latent state follows part of it, so the
read-out residual of that channel (what the state does not explain) grows slowly, too slowly
for the short-smoothed surprise score to see among the noise. Per group, the residual of each
channel is referenced to its mean over the group's first BASELINE rows (removes a unit's own
offset, which a new engine has and the healthy training engines do not show), smoothed with
weight LAMBDA per row, divided by its healthy spread, and the largest |value| over channels
is the statistic (0 while the baseline is being taken). The classic EWMA chart (Roberts 1959),
one per channel; `drift_reference` scales it so that its healthy 99th percentile matches the
other score's, and the monitor takes the larger of the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

BASELINE = 30  # rows that set a group's own residual baseline
LAMBDA = 0.1  # EWMA weight of a new row (about 20 rows of memory)
QUANTILE = 0.99


@dataclass
class DriftState:
    """What one group carries between chunks."""

    total: np.ndarray | None = None  # sum of the residuals of the baseline rows so far
    count: int = 0
    ewma: np.ndarray | None = None  # EWMA of the referenced residual after the last row


def referenced_ewma(state: DriftState, r: np.ndarray) -> tuple[int, np.ndarray]:
    """Residuals (N, D) of a group's next rows -> (k, (N - k, D)): the first k rows went into
    the baseline; the EWMA of the referenced residual of the rest. Updates `state`."""
    n, d = r.shape
    if state.total is None:
        state.total = np.zeros(d)
    k = min(n, max(BASELINE - state.count, 0))
    state.total = state.total + r[:k].sum(0)
    state.count += k
    if k == n:
        return k, np.zeros((0, d))
    u = (r[k:] - state.total / state.count).astype(np.float64)
    prev = np.zeros(d) if state.ewma is None else state.ewma
    e, _ = lfilter([LAMBDA], [1.0, LAMBDA - 1.0], u, axis=0, zi=((1.0 - LAMBDA) * prev)[None])
    state.ewma = e[-1]
    return k, e


def drift_statistic(
    state: DriftState, r: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Residuals (N, D) of a group's next rows -> (N,) statistic (NaN on baseline rows) and
    (N,) the channel that sets it (-1 on baseline rows); updates `state`."""
    stat = np.full(len(r), np.nan, np.float32)
    arg = np.full(len(r), -1, np.int64)
    k, e = referenced_ewma(state, r)
    z = np.abs(e) / scale
    if len(z):
        stat[k:], arg[k:] = z.max(1), z.argmax(1)
    return stat, arg


def drift_reference(
    residuals: Sequence[np.ndarray], scores: Sequence[np.ndarray]
) -> tuple[np.ndarray | None, float]:
    """From healthy runs' residuals (T, D) and their other score (T,): each channel's healthy
    RMS of the EWMA, and the gain that gives the statistic the score's healthy 99th
    percentile. (None, 1.0) when no run is longer than the baseline."""
    ewmas = [referenced_ewma(DriftState(), np.asarray(r, np.float64))[1] for r in residuals]
    ewmas = [e for e in ewmas if len(e)]
    if not ewmas:
        return None, 1.0
    scale = np.sqrt((np.concatenate(ewmas) ** 2).mean(0)) + 1e-9
    stat = np.concatenate([(np.abs(e) / scale).max(1) for e in ewmas])
    other = np.concatenate([np.asarray(s, np.float64) for s in scores])
    other = other[np.isfinite(other)]
    if not other.size:
        return None, 1.0
    gain = float(np.quantile(other, QUANTILE) / max(np.quantile(stat, QUANTILE), 1e-9))
    return scale.astype(np.float32), gain
