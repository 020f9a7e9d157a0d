"""TwoRoomsEnv: geometry, collisions, episode logic, rendering, registration."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from amiwm.envs import ENV_ALIASES, make_env, resolve_env_id
from amiwm.envs.two_rooms import TwoRoomsEnv
from amiwm.errors import AmiError

WALL_X0, WALL_X1 = 31.0, 33.0
DOOR_LO, DOOR_HI = 27.0, 37.0


@pytest.fixture
def env() -> TwoRoomsEnv:
    return TwoRoomsEnv(render_mode="rgb_array")


def test_spaces_and_obs(env: TwoRoomsEnv) -> None:
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert env.action_space.shape == (2,) and env.action_space.dtype == np.float32
    assert np.allclose(env.action_space.high, 2.45)
    assert set(info) >= {"pos", "goal", "distance", "is_success"}
    assert info["pos"].dtype == np.float32 and info["pos"].shape == (2,)
    assert info["goal"].dtype == np.float32 and isinstance(info["distance"], float)
    assert np.array_equal(env.render(), obs)
    assert np.array_equal(env.goal_observation(), env.render_at(info["goal"]))


def test_walls_drawn_in_blue_only(env: TwoRoomsEnv) -> None:
    bg = env.render_at((-50.0, -50.0))  # agent off-screen: only walls remain
    assert bg[:, :, 0].max() == 0 and bg[:, :, 1].max() == 0
    blue = bg[:, :, 2] > 0
    assert blue[:, :2].all() and blue[:, -2:].all() and blue[:2].all() and blue[-2:].all()
    assert blue[:27, 31:33].all() and blue[37:, 31:33].all()
    assert not blue[27:37, 31:33].any()  # the door is open
    assert not blue[2:62, 2:31].any() and not blue[2:62, 33:62].any()


def test_check_env_passes(env: TwoRoomsEnv) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)


def test_gymnasium_make_and_aliases() -> None:
    import amiwm.envs  # noqa: F401  (second import must be harmless)

    env = gymnasium.make("amiwm/TwoRooms-v0", render_mode="rgb_array")
    obs, _ = env.reset(seed=1)
    obs2, *_ = env.step(np.zeros(2, dtype=np.float32))
    assert obs.shape == (64, 64, 3) and np.array_equal(env.render(), obs2)
    assert resolve_env_id("two-rooms") == ENV_ALIASES["two-rooms"] == "amiwm/TwoRooms-v0"
    assert isinstance(make_env("two-rooms", max_steps=5).unwrapped, TwoRoomsEnv)
    assert make_env("two-rooms", max_steps=5).unwrapped.max_steps == 5
    with pytest.raises(AmiError, match="two-rooms"):
        resolve_env_id("three-rooms")
    with pytest.raises(AmiError):
        make_env("nope/Nothing-v0")


def test_cannot_cross_wall_outside_door(env: TwoRoomsEnv) -> None:
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(200):
        side = int(rng.integers(2))
        # Stay > 3 px (the max vertical drift over 10 pushes) away from the door opening.
        above = rng.random() < 0.5
        y = rng.uniform(3.0, DOOR_LO - 3.5) if above else rng.uniform(DOOR_HI + 3.5, 61.0)
        x = rng.uniform(25.0, 30.9) if side == 0 else rng.uniform(33.1, 39.0)
        env.reset(options={"start": (x, y)})
        push = np.array([2.45 if side == 0 else -2.45, rng.uniform(-0.3, 0.3)], np.float32)
        for _ in range(10):
            _, _, _, _, info = env.step(push)
            px = float(info["pos"][0])
            assert (px < WALL_X0) if side == 0 else (px > WALL_X1)
            assert env.is_free(info["pos"])
    # Diagonal moves that would cut the wall corner next to the door are stopped too.
    env.reset(options={"start": (30.5, 25.0)})
    _, _, _, _, info = env.step(np.array([2.4, 0.3], np.float32))
    assert info["pos"][0] < WALL_X0


def test_can_pass_through_door(env: TwoRoomsEnv) -> None:
    env.reset(options={"start": (20.0, 32.0), "goal": (60.0, 60.0)})
    assert env.room_of((20.0, 32.0)) == 0
    for _ in range(12):
        _, _, _, _, info = env.step(np.array([2.45, 0.0], np.float32))
    assert info["pos"][0] > WALL_X1 + 10 and env.room_of(info["pos"]) == 1
    for _ in range(12):
        _, _, _, _, info = env.step(np.array([-2.45, 0.0], np.float32))
    assert env.room_of(info["pos"]) == 0


def test_never_leaves_border(env: TwoRoomsEnv) -> None:
    rng = np.random.default_rng(1)
    env.reset(seed=1)
    for i in range(3000):
        # Mostly long pushes in one of four directions, to hammer the border walls.
        d = [(2.45, 0), (-2.45, 0), (0, 2.45), (0, -2.45)][(i // 50) % 4]
        a = np.array(d, np.float32) + rng.normal(0, 0.5, 2).astype(np.float32)
        _, _, _, _, info = env.step(a)
        x, y = info["pos"]
        assert 2.0 < x < 62.0 and 2.0 < y < 62.0
        assert env.is_free(info["pos"])


def test_action_norm_is_clipped(env: TwoRoomsEnv) -> None:
    env.reset(options={"start": (10.0, 10.0)})
    _, _, _, _, info = env.step(np.array([10.0, 0.0], np.float32))
    assert info["pos"][0] == pytest.approx(12.45, abs=1e-4)
    env.reset(options={"start": (10.0, 10.0)})
    _, _, _, _, info = env.step(np.array([2.45, 2.45], np.float32))
    moved = np.linalg.norm(info["pos"] - np.array([10.0, 10.0]))
    assert moved == pytest.approx(2.45, abs=1e-4)


def test_nan_action_raises(env: TwoRoomsEnv) -> None:
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0], np.float32))


def test_success_terminates_at_goal_radius(env: TwoRoomsEnv) -> None:
    _, info = env.reset(options={"start": (10.0, 10.0), "goal": (13.0, 10.0)})
    assert not info["is_success"] and info["distance"] == pytest.approx(3.0)
    _, r, term, trunc, info = env.step(np.array([1.0, 0.0], np.float32))  # distance 2 > 1.5
    assert (r, term, info["is_success"]) == (0.0, False, False)
    _, r, term, trunc, info = env.step(np.array([0.6, 0.0], np.float32))  # distance 1.4
    assert (r, term, trunc, info["is_success"]) == (1.0, True, False, True)


def test_truncation_at_max_steps() -> None:
    env = TwoRoomsEnv(max_steps=7)
    env.reset(seed=3)
    flags = [env.step(np.zeros(2, np.float32))[3] for _ in range(7)]
    assert flags == [False] * 6 + [True]


def test_start_goal_in_opposite_rooms(env: TwoRoomsEnv) -> None:
    rooms_of_start = set()
    for seed in range(300):
        _, info = env.reset(seed=seed)
        s, g = info["pos"], info["goal"]
        assert env.room_of(s) != env.room_of(g)
        assert env.is_free(s) and env.is_free(g)
        for p in (s, g):  # at least ~1 px from every wall
            assert 3.0 - 1e-4 <= p[1] <= 61.0 + 1e-4
            assert p[0] <= 30.0 + 1e-4 or p[0] >= 34.0 - 1e-4
        rooms_of_start.add(env.room_of(s))
    assert rooms_of_start == {0, 1}


def test_reset_options_validated(env: TwoRoomsEnv) -> None:
    with pytest.raises(ValueError, match="start"):
        env.reset(options={"start": (32.0, 10.0)})  # inside the middle wall
    with pytest.raises(ValueError, match="goal"):
        env.reset(options={"goal": (1.0, 30.0)})  # inside the border
    _, info = env.reset(seed=0, options={"goal": (50.0, 50.0)})
    assert env.room_of(info["pos"]) == 0 and np.allclose(info["goal"], (50.0, 50.0))


def test_determinism_with_seed() -> None:
    def rollout(seed: int) -> list[np.ndarray]:
        env = TwoRoomsEnv()
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [obs]
        for _ in range(30):
            out.append(env.step(env.action_space.sample())[0])
        return out

    a, b, c = rollout(5), rollout(5), rollout(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("pos", [(10.0, 10.0), (20.3, 45.7), (32.0, 32.0), (60.5, 3.2)])
def test_render_at_blob_position(env: TwoRoomsEnv, pos: tuple[float, float]) -> None:
    env.reset(seed=0)
    state = env.unwrapped._pos.copy()
    img = env.render_at(pos)
    red = img[:, :, 0]
    row, col = np.unravel_index(np.argmax(red), red.shape)
    assert np.hypot(col + 0.5 - pos[0], row + 0.5 - pos[1]) <= 1.0
    assert red.max() > 150 and img[:, :, 1].max() == 0
    assert np.array_equal(env.unwrapped._pos, state)  # state unchanged


def test_geometry_helpers(env: TwoRoomsEnv) -> None:
    assert np.allclose(env.door_center, (32.0, 32.0))
    assert env.room_of((10.0, 10.0)) == 0 and env.room_of((50.0, 10.0)) == 1
    assert env.is_free((10.0, 10.0)) and env.is_free((32.0, 32.0))
    assert not env.is_free((32.0, 10.0)) and not env.is_free((1.0, 10.0))
    rng = np.random.default_rng(0)
    pts = [env.sample_free(rng, 1) for _ in range(100)]
    assert all(env.is_free(p) and env.room_of(p) == 1 for p in pts)
    assert env.geodesic_distance((10.0, 10.0), (20.0, 10.0)) == pytest.approx(10.0)
    assert env.geodesic_distance((10.0, 32.0), (50.0, 32.0)) == pytest.approx(40.0)
    # Around the corners (31, 27) and (33, 27): longer than the straight line.
    expected = np.hypot(21, 17) + 2 + np.hypot(17, 17)
    assert env.geodesic_distance((10.0, 10.0), (50.0, 10.0)) == pytest.approx(expected, abs=1e-3)
    assert env.geodesic_distance((50.0, 10.0), (10.0, 10.0)) == pytest.approx(expected, abs=1e-3)


def test_bad_constructor_args() -> None:
    with pytest.raises(AmiError):
        TwoRoomsEnv(door_y=3.0)
    with pytest.raises(AmiError):
        TwoRoomsEnv(render_mode="human")
