"""Data-collection policies: bounds, door crossings, coverage, factory."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from amiwm.envs import make_env
from amiwm.envs.policies import (
    POLICY_NAMES,
    DriftingWalkPolicy,
    RandomPolicy,
    make_policy,
)
from amiwm.envs.two_rooms import TwoRoomsEnv
from amiwm.errors import AmiError


def run_episodes(env: gymnasium.Env, policy, episodes: int, steps: int, seed: int) -> list:
    """Positions (steps+1, 2) per episode; the goal is moved out of reach so nothing terminates."""
    out = []
    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        policy.reset(obs, info)
        traj = [info["pos"]]
        for _ in range(steps):
            a = policy(obs, info)
            assert a.dtype == np.float32 and env.action_space.contains(a)
            obs, _, term, trunc, info = env.step(a)
            traj.append(info["pos"])
            if term or trunc:
                break
        out.append(np.array(traj))
    return out


def crossed(traj: np.ndarray) -> bool:
    rooms = traj[:, 0] >= 32.0
    return bool(rooms.any() and (~rooms).any())


def test_random_policy_in_bounds_and_stays_in_arena() -> None:
    env = TwoRoomsEnv(goal_radius=0.0)
    policy = make_policy("random", env, seed=0)
    assert isinstance(policy, RandomPolicy)
    for traj in run_episodes(env, policy, episodes=10, steps=100, seed=0):
        assert (traj > 2.0).all() and (traj < 62.0).all()
        assert all(env.is_free(p) for p in traj)


def test_random_policy_uniform_and_seeded() -> None:
    space = gymnasium.spaces.Box(-1.0, 3.0, (3,), np.float32)
    p1, p2 = RandomPolicy(space, seed=1), RandomPolicy(space, seed=1)
    xs = np.stack([p1(None, {}) for _ in range(2000)])
    ys = np.stack([p2(None, {}) for _ in range(2000)])
    assert np.array_equal(xs, ys)
    assert xs.min() >= -1.0 and xs.max() <= 3.0
    assert xs.mean() == pytest.approx(1.0, abs=0.1) and xs.std() == pytest.approx(
        4 / 12**0.5, abs=0.1
    )
    with pytest.raises(AmiError):
        RandomPolicy(gymnasium.spaces.Discrete(3), seed=0)


def test_drift_policy_crosses_door_and_covers_both_rooms() -> None:
    env = TwoRoomsEnv(goal_radius=0.0)
    policy = make_policy("drift", env, seed=0)
    assert isinstance(policy, DriftingWalkPolicy)
    trajs = run_episodes(env, policy, episodes=100, steps=100, seed=100)
    frac = np.mean([crossed(t) for t in trajs])
    assert frac >= 0.35, frac  # ~0.25 from drift alone, ~0.57 with door steering
    pts = np.concatenate(trajs)
    assert all(env.is_free(p) for p in pts[::7])
    # Covers both rooms, spread over most of the arena (4x4 grid of 16 px cells).
    assert (pts[:, 0] < 31).mean() > 0.25 and (pts[:, 0] > 33).mean() > 0.25
    cells = {(int(x // 16), int(y // 16)) for x, y in pts}
    assert len(cells) == 16


def test_drift_policy_moves_smoothly() -> None:
    env = TwoRoomsEnv(goal_radius=0.0)
    policy = DriftingWalkPolicy(env, seed=3, door_fraction=0.0)
    obs, info = env.reset(seed=3)
    policy.reset(obs, info)
    actions = []
    for _ in range(200):
        a = policy(obs, info)
        actions.append(a)
        obs, *_, info = env.step(a)
    acts = np.array(actions)
    norms = np.linalg.norm(acts, axis=1)
    assert norms.min() >= 0.5 * 2.45 - 1e-4 and norms.max() <= 2.45 + 1e-4
    # Heading drifts slowly: consecutive actions mostly point the same way (unlike random).
    cos = (acts[1:] * acts[:-1]).sum(1) / (norms[1:] * norms[:-1])
    assert np.median(cos) > 0.8


def test_door_fraction_one_always_crosses() -> None:
    env = TwoRoomsEnv(goal_radius=0.0)
    policy = DriftingWalkPolicy(env, seed=1, door_fraction=1.0)
    trajs = run_episodes(env, policy, episodes=30, steps=100, seed=7)
    assert np.mean([crossed(t) for t in trajs]) >= 0.9


def test_drift_policy_deterministic() -> None:
    def go() -> np.ndarray:
        env = make_env("two-rooms", goal_radius=0.0)
        return np.concatenate(run_episodes(env, make_policy("drifting-walk", env, 4), 3, 50, 9))

    assert np.array_equal(go(), go())


def test_make_policy_errors() -> None:
    assert POLICY_NAMES == ("auto", "random", "drift", "setpoints", "smooth", "push")
    env = TwoRoomsEnv()
    with pytest.raises(AmiError, match="random"):
        make_policy("greedy", env, seed=0)
    other = gymnasium.make("Pendulum-v1")
    with pytest.raises(AmiError, match="drift"):
        make_policy("drift", other, seed=0)
    assert isinstance(make_policy("random", other, seed=0), RandomPolicy)
