"""Maze-v0: layouts by seed, connectivity, exact geodesic distances, far goals, gym API."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from amiwm.envs import MAZE_ID, make_env
from amiwm.envs.maze import MazeEnv, segments_free
from amiwm.envs.policies import make_policy
from amiwm.errors import AmiError


def centres(env: MazeEnv) -> list[np.ndarray]:
    return [np.array([(x0 + x1) / 2, (y0 + y1) / 2]) for x0, y0, x1, y1 in env.rooms]


@pytest.mark.parametrize("seed", range(8))
def test_every_room_reachable_and_layout_depends_on_seed(seed):
    env = MazeEnv(layout_seed=seed, min_goal_steps=0)
    assert len(env.rooms) == 9 and len(env.doors) == 8  # a spanning tree of the 3x3 rooms
    c = centres(env)
    d = np.array([[env.geodesic_distance(a, b) for b in c] for a in c])
    assert np.isfinite(d).all()
    assert (d >= np.linalg.norm(np.array(c)[:, None] - np.array(c)[None], axis=2) - 1e-6).all()
    assert env.doors == MazeEnv(layout_seed=seed, min_goal_steps=0).doors
    assert env.doors != MazeEnv(layout_seed=seed + 100, min_goal_steps=0).doors
    assert len(MazeEnv(layout_seed=seed, extra_doors=2, min_goal_steps=0).doors) == 10


def test_geodesic_distance_around_a_door_jamb():
    env = MazeEnv(rooms=2, layout_seed=0, min_goal_steps=0)
    door = next(d for d in env.doors if d[2] == "v")
    x0, y0, x1, y1 = env.door_box(door)
    # both points 3 px beside the wall and 4 px past the jamb: path = 5 + wall + 5 px
    y = y0 - 4 if y0 - 4 > env.rooms[door[0]][1] + 1 else y1 + 4
    a, b = np.array([x0 - 3, y]), np.array([x1 + 3, y])
    assert env.is_free(a) and env.is_free(b)
    assert env.geodesic_distance(a, b) == pytest.approx(10 + (x1 - x0), abs=0.05)
    assert env.geodesic_distance(b, a) == pytest.approx(env.geodesic_distance(a, b))
    mid = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    assert env.geodesic_distance(a, mid) == pytest.approx(np.linalg.norm(a - mid), abs=1e-9)
    # a room with no door to the other side has to go the long way round
    far = [env.geodesic_distance(p, q) for p in centres(env) for q in centres(env)]
    assert max(far) > 40


def test_segments_free_matches_wall_blocking():
    walls = ((10.0, 0.0, 12.0, 20.0),)
    p = np.array([[0.0, 5.0], [0.0, 25.0], [11.0, -5.0]])
    q = np.array([[20.0, 5.0], [20.0, 25.0], [11.0, 30.0]])
    assert segments_free(p, q, walls).tolist() == [False, True, False]


def test_reset_puts_goals_at_least_100_steps_away():
    env = make_env("maze")
    u = env.unwrapped
    assert env.spec.id == MAZE_ID and u.min_goal_steps == 100
    for seed in range(10):
        _, info = env.reset(seed=seed)
        steps = u.geodesic_distance(info["pos"], info["goal"]) / u.max_step_norm
        assert steps >= 100
        assert u.room_of(info["pos"]) != u.room_of(info["goal"])
    obs, _ = env.reset(seed=3, options={"start": [10.0, 10.0]})
    assert u.geodesic_distance([10.0, 10.0], u._goal) >= 100 * u.max_step_norm
    assert np.array_equal(env.reset(seed=5)[0], env.reset(seed=5)[0])


def test_check_env_walls_and_bad_settings():
    env = MazeEnv()
    check_env(env)
    env.reset(seed=0)
    wall = env.walls[4]  # an inner wall piece: the agent never ends inside it
    pos = np.array([wall[0] - 0.5, (wall[1] + wall[3]) / 2])
    if env.is_free(pos):
        assert env.clip_move(pos, [1.0, 0.0])[0] < wall[0]
    with pytest.raises(AmiError, match="cannot hold doors"):
        MazeEnv(rooms=8)
    with pytest.raises(AmiError, match="steps apart"):
        MazeEnv(min_goal_steps=1000)


def test_drift_policy_crosses_many_doors():
    env = make_env("maze")
    u = env.unwrapped
    policy = make_policy("drift", env, seed=0)
    obs, info = env.reset(seed=0)
    policy.reset(obs, info)
    rooms = {u.room_of(info["pos"])}
    changes, last = 0, u.room_of(info["pos"])
    for _ in range(400):
        obs, _, term, trunc, info = env.step(policy(obs, info))
        room = u.room_of(info["pos"])
        changes += room != last
        last = room
        rooms.add(room)
        if term or trunc:
            break
    assert changes >= 3 and len(rooms) >= 3
