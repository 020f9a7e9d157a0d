"""The smooth correlated-noise exploration policy: bounded, correlated, seeded, and it travels."""

import gymnasium as gym
import numpy as np
import pytest

from amiwm.envs import make_env
from amiwm.envs.policies import RandomPolicy, SmoothNoisePolicy, make_policy
from amiwm.errors import AmiError


def actions(policy, n: int = 2000) -> np.ndarray:
    policy.reset(None, {})
    return np.stack([policy(None, {}) for _ in range(n)])


def test_bounded_correlated_and_seeded() -> None:
    space = gym.spaces.Box(np.array([0.0, -2.0]), np.array([512.0, 2.0]), dtype=np.float32)
    a = actions(SmoothNoisePolicy(space, seed=3))
    assert (a >= space.low).all() and (a <= space.high).all() and a.dtype == np.float32
    u = (a - (space.low + space.high) / 2) / ((space.high - space.low) / 2)
    lag1 = [np.corrcoef(u[:-1, i], u[1:, i])[0, 1] for i in range(2)]
    white = actions(RandomPolicy(space, seed=3))
    w = (white - (space.low + space.high) / 2) / ((space.high - space.low) / 2)
    assert min(lag1) > 0.4 and abs(np.corrcoef(w[:-1, 0], w[1:, 0])[0, 1]) < 0.1
    assert u.std() > 0.5  # it uses the range, not a small jitter around the centre
    np.testing.assert_array_equal(a, actions(SmoothNoisePolicy(space, seed=3)))
    assert not np.array_equal(a, actions(SmoothNoisePolicy(space, seed=4)))


def test_it_travels_farther_than_uniform_random() -> None:
    """Net displacement of a point moved by the actions (relative moves, no walls) over 20
    steps: consecutive actions agree, so it gets far; uniform noise mostly cancels out."""
    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def travel(policy) -> float:
        out = []
        for _ in range(200):
            policy.reset(None, {})
            out.append(np.linalg.norm(sum(policy(None, {}) for _ in range(20))))
        return float(np.mean(out))

    smooth, uniform = travel(SmoothNoisePolicy(space, 0)), travel(RandomPolicy(space, 0))
    assert smooth > 2 * uniform, (smooth, uniform)


def test_auto_picks_drift_in_rooms_and_smooth_elsewhere() -> None:
    assert type(make_policy("auto", make_env("two-rooms"), 0)).__name__ == "DriftingWalkPolicy"
    assert isinstance(make_policy("auto", gym.make("Pendulum-v1"), 0), SmoothNoisePolicy)
    with pytest.raises(AmiError, match="bounded Box"):
        SmoothNoisePolicy(gym.spaces.Box(-np.inf, np.inf, (2,)), 0)
