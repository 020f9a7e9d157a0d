"""The per-channel drift statistic: streaming, baseline, scale and gain."""

import numpy as np
import pytest

from amiwm.monitoring.drift import BASELINE, DriftState, drift_reference, drift_statistic


def test_drift_statistic_is_the_same_in_any_chunking():
    r = np.random.default_rng(0).normal(size=(120, 4))
    scale = np.array([1.0, 2.0, 0.5, 1.0])
    whole, arg = drift_statistic(DriftState(), r, scale)
    state = DriftState()
    parts = [
        drift_statistic(state, r[i:j], scale) for i, j in [(0, 7), (7, 31), (31, 32), (32, 120)]
    ]
    assert np.allclose(whole, np.concatenate([p[0] for p in parts]), equal_nan=True)
    assert (arg == np.concatenate([p[1] for p in parts])).all()
    assert np.isnan(whole[:BASELINE]).all() and np.isfinite(whole[BASELINE:]).all()
    assert (arg[:BASELINE] == -1).all() and (arg[BASELINE:] >= 0).all()


def test_a_slow_ramp_on_one_channel_stands_out_and_is_named():
    rng = np.random.default_rng(1)
    healthy = [rng.normal(size=(200, 5)) + rng.normal(size=5) for _ in range(20)]  # own offsets
    scores = [np.abs(rng.normal(size=200)) for _ in healthy]
    scale, gain = drift_reference(healthy, scores)
    assert scale.shape == (5,) and gain > 0
    stat = np.concatenate([drift_statistic(DriftState(), r, scale)[0] for r in healthy])
    # the gain gives the statistic the other score's healthy 99th percentile
    assert gain * np.nanquantile(stat, 0.99) == pytest.approx(
        np.quantile(np.concatenate(scores), 0.99), rel=1e-6
    )
    x = rng.normal(size=(200, 5)) + 3.0  # an offset of its own: the baseline removes it
    x[100:, 3] += 0.05 * np.arange(1, 101)  # 0.05 residual std per row from row 100
    s, j = drift_statistic(DriftState(), x, scale)
    assert np.nanmax(s[BASELINE:100]) < np.nanquantile(stat, 0.999)
    assert s[160:].min() > np.nanquantile(stat, 0.999)
    assert (j[160:] == 3).all()


def test_drift_reference_without_long_runs_is_off():
    assert drift_reference([np.zeros((BASELINE, 3))], [np.zeros(BASELINE)]) == (None, 1.0)
    assert drift_reference([], []) == (None, 1.0)
