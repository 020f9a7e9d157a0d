"""The RUL probe's history features and its two-stage fit on synthetic units."""

import numpy as np
import pytest

from amiwm.errors import AmiError
from amiwm.monitoring.rul import (
    RulProbe,
    history_features,
    protocol_weights,
    trailing_mean,
    trailing_slope,
)


def test_trailing_mean_and_slope_match_a_direct_computation():
    z = np.random.default_rng(0).normal(size=(40, 3))
    for w in (1, 5, None):
        m, s = trailing_mean(z, w), trailing_slope(z, w)
        for t in (0, 3, 17, 39):
            lo = 0 if w is None else max(0, t - w + 1)
            assert np.allclose(m[t], z[lo : t + 1].mean(0))
            want = np.polyfit(np.arange(lo, t + 1), z[lo : t + 1], 1)[0] if t > lo else 0.0
            assert np.allclose(s[t], want)


def test_history_features_are_causal():
    rng = np.random.default_rng(1)
    z, cycles = rng.normal(size=(60, 4)), np.arange(1, 61.0)
    full = history_features(z, cycles)
    assert full.shape == (60, 4 * 4 + 1)
    assert np.allclose(history_features(z[:35], cycles[:35]), full[:35])


def test_protocol_weights_are_one_random_cut():
    w = protocol_weights(100)
    assert w.sum() == pytest.approx(1.0)
    assert (w[:29] == 0).all() and w[-1] == 0 and (w[29:99] > 0).all()
    assert protocol_weights(10).sum() == pytest.approx(1.0)


def _units(rng, n):
    feats, targets, cycles = [], [], []
    for _ in range(n):
        life = int(rng.integers(120, 220))
        t = np.arange(1, life + 1.0)
        rul = life - t
        health = np.exp(-rul / 40.0)  # a knee: flat early, steep near failure
        z = np.column_stack([health, -health, rng.normal(size=life)]) + rng.normal(
            0, 0.05, (life, 3)
        )
        feats.append(history_features(z, t))
        targets.append(np.minimum(rul, 125.0))
        cycles.append(t)
    return feats, targets, cycles


def test_probe_learns_rul_from_a_noisy_health_signal():
    rng = np.random.default_rng(2)
    f, y, c = _units(rng, 30)
    probe = RulProbe.fit(f, y, c, cap=125.0)
    ft, yt, ct = _units(rng, 10)
    pred = probe.predict(ft, ct)
    assert all(p.shape == t.shape for p, t in zip(pred, yt, strict=True))
    err = np.sqrt(np.mean((np.concatenate(pred) - np.concatenate(yt)) ** 2))
    spread = np.concatenate(yt).std()
    assert err < 0.5 * spread  # far better than predicting the mean
    assert all(((p >= 0) & (p <= 125)).all() for p in pred)
    assert "stage1" in probe.cv_rmse and len(probe.cv_rmse) > 1


def test_probe_needs_two_units():
    f, y, c = _units(np.random.default_rng(3), 1)
    with pytest.raises(AmiError, match="at least 2"):
        RulProbe.fit(f, y, c, cap=125.0)
