"""Fault injection on sensor arrays: exact corruption, labels, streaming = batch, validation."""

from __future__ import annotations

import numpy as np
import pytest

from amiwm.envs.faults import (
    FAULT_KINDS,
    RANDOM_RANGES,
    SENSOR_FAULTS,
    Fault,
    SensorFaultStream,
    inject,
    random_fault,
)
from amiwm.errors import AmiError

NAMES = ["t2", "t24", "p30", "nf"]


@pytest.fixture
def values() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)


def test_bias_drift_stuck_change_only_their_channel_from_start(values: np.ndarray) -> None:
    keep = values.copy()
    bias = inject(values, "sensor_bias", "p30", 10, 2.5, channels=NAMES)
    drift = inject(values, "sensor_drift", 1, 20, 0.1)
    stuck = inject(values, "sensor_stuck", -1, 30)
    np.testing.assert_array_equal(values, keep)  # the input is not modified
    for out in (bias, drift, stuck):
        assert out.shape == values.shape and out.dtype == np.float32 and out is not values
    others = [0, 1, 3]
    np.testing.assert_array_equal(bias[:, others], values[:, others])
    np.testing.assert_array_equal(bias[:10], values[:10])
    np.testing.assert_allclose(bias[10:, 2] - values[10:, 2], 2.5, rtol=1e-6)
    np.testing.assert_array_equal(drift[:20], values[:20])
    np.testing.assert_allclose(drift[20:, 1] - values[20:, 1], 0.1 * np.arange(1, 31), atol=1e-5)
    np.testing.assert_array_equal(np.delete(drift, 1, axis=1), np.delete(values, 1, axis=1))
    np.testing.assert_array_equal(stuck[:30], values[:30])
    assert (stuck[30:, 3] == values[29, 3]).all() and not (values[30:, 3] == values[29, 3]).any()
    np.testing.assert_array_equal(stuck[:, :3], values[:, :3])


def test_end_and_edges(values: np.ndarray) -> None:
    out = inject(values, "sensor_bias", 0, 5, 1.0, end=8)
    diff = out[:, 0] - values[:, 0]
    assert np.allclose(diff[5:8], 1.0) and not diff[:5].any() and not diff[8:].any()
    f = Fault("sensor_bias", 5, 0, 1.0, end=8)
    assert f.labels(10).tolist() == [False] * 5 + [True] * 3 + [False] * 2
    assert f.active(5) and f.active(7) and not f.active(8) and not f.active(4)
    np.testing.assert_array_equal(f.inject(values), out)
    late = inject(values, "sensor_bias", 0, 100, 1.0)  # starts after the data ends
    np.testing.assert_array_equal(late, values)
    first = inject(values, "sensor_stuck", 2, 0)  # start 0 freezes at the first reading
    assert (first[:, 2] == values[0, 2]).all()
    engine = np.arange(12, dtype=np.float64).reshape(6, 2)  # float64 real data keeps its dtype
    assert inject(engine, "sensor_bias", 1, 3, 0.5).dtype == np.float64


@pytest.mark.parametrize("kind", SENSOR_FAULTS)
def test_stream_matches_batch(kind: str, values: np.ndarray) -> None:
    for start, end in [(0, None), (1, None), (17, 40), (49, None)]:
        fault = Fault(kind, start, "nf", 0.3, end)
        stream = SensorFaultStream(fault, NAMES.index("nf"))
        rows = np.stack([stream(t, row) for t, row in enumerate(values)])
        np.testing.assert_array_equal(rows, fault.inject(values, channels=NAMES))


def test_bad_faults_raise_one_line(values: np.ndarray) -> None:
    cases = [
        (lambda: inject(values, "sensor_wobble", 0, 1, 1.0), "unknown fault kind"),
        (lambda: inject(values, "sensor_bias", 0, -1, 1.0), "start must be >= 0"),
        (lambda: inject(values, "sensor_bias", "egt", 1, 1.0, channels=NAMES), "unknown channel"),
        (lambda: inject(values, "sensor_bias", "egt", 1, 1.0), "unknown channel"),
        (lambda: inject(values, "sensor_bias", 4, 1, 1.0), "out of range"),
        (lambda: inject(values, "sensor_bias", 0, 1), "needs a magnitude"),
        (lambda: inject(values, "sensor_bias", 0, 1, float("nan")), "finite"),
        (lambda: inject(values, "process_fault", 0, 1, 0.5), "changes the plant"),
        (lambda: inject(values[0], "sensor_bias", 0, 1, 1.0), r"shape \(T, D\)"),
        (lambda: inject(values, "sensor_bias", 0, 5, 1.0, end=5), "end 5 must be > start"),
        (lambda: Fault.from_spec({"kind": "sensor_bias", "strat": 3}), "unknown fault key"),
        (lambda: Fault.from_spec({"start": 3}), "needs a 'kind'"),
        (lambda: Fault.from_spec("sensor_bias"), "must be a dict"),
        (lambda: Fault("sensor_bias", 2.5), "integer step"),
    ]
    for call, match in cases:
        with pytest.raises(AmiError, match=match) as err:
            call()
        assert "\n" not in str(err.value)


def test_spec_round_trip() -> None:
    spec = {"kind": "sensor_drift", "start": 7, "channel": "t24", "magnitude": 0.2, "end": None}
    f = Fault.from_spec(spec)
    assert f.to_dict() == spec and Fault.from_spec(f) is f
    assert Fault.from_spec({"kind": "sensor_stuck"}).start == 0
    assert set(FAULT_KINDS) == set(SENSOR_FAULTS) | {"actuator_degradation", "process_fault"}


def test_random_fault_scaled_by_std_and_reproducible() -> None:
    std = np.array([1.0, 10.0, 100.0, 0.5])
    draws = [random_fault(s, 200, std, channels=NAMES) for s in range(300)]
    assert draws[:5] == [random_fault(s, 200, std, channels=NAMES) for s in range(5)]
    assert {d.kind for d in draws} == set(SENSOR_FAULTS)
    assert {d.channel for d in draws} == set(NAMES)
    for d in draws:
        assert 40 <= d.start <= 120 and d.end is None
        scale = std[NAMES.index(d.channel)]
        lo, hi = RANDOM_RANGES[d.kind]
        assert lo * scale - 1e-9 <= abs(d.magnitude) <= hi * scale + 1e-9
    signs = {np.sign(d.magnitude) for d in draws if d.kind == "sensor_bias"}
    assert signs == {-1.0, 1.0}
    plant = random_fault(1, 100, std, kinds=["process_fault"], targets={"process_fault": ["ua"]})
    assert plant.channel == "ua" and 0.2 <= plant.magnitude <= 0.5
    with pytest.raises(AmiError, match="targets"):
        random_fault(1, 100, std, kinds=["actuator_degradation"])
    with pytest.raises(AmiError, match="std"):
        random_fault(1, 100, [1.0, float("nan")])
    # a drawn fault corrupts a real-engine-like array through the same inject
    data = np.zeros((200, 4))
    d = next(d for d in draws if d.kind == "sensor_bias")
    out = d.inject(data, channels=NAMES)
    assert np.allclose(out[d.start :, NAMES.index(d.channel)], d.magnitude)
    assert not out[: d.start].any()
