"""The goal-offset protocol: pairs from held-out episodes, start states set, floors, one-liners."""

import json
from pathlib import Path

import numpy as np
import pytest

from amiwm.cli import main
from amiwm.data.collect import collect
from amiwm.envs import make_env
from amiwm.errors import AmiError
from amiwm.planning.protocol import GoalTask, ZeroAgent, evaluate_protocol, goal_pairs


@pytest.fixture(scope="module")
def rooms(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("proto")
    collect("two-rooms", 6, 30, d / "d.h5", seed=3, progress=False)
    return d


def test_pairs_are_seeded_and_offset(rooms):
    a = goal_pairs(rooms / "d.h5", [4, 5], offset=10, count=5, seed=1)
    b = goal_pairs(rooms / "d.h5", [4, 5], offset=10, count=5, seed=1)
    c = goal_pairs(rooms / "d.h5", [4, 5], offset=10, count=5, seed=2)
    assert [(p.episode, p.step) for p in a] == [(p.episode, p.step) for p in b]
    assert [(p.episode, p.step) for p in a] != [(p.episode, p.step) for p in c]
    from amiwm.data.store import EpisodeStore

    with EpisodeStore(rooms / "d.h5") as s:
        for p in a:
            ep = s.episode(p.episode)
            assert p.episode in (4, 5) and len(p.actions) == p.step
            np.testing.assert_array_equal(p.goal_frame, ep["observations"][p.step + 10])
            np.testing.assert_allclose(p.start_state, ep["states"][p.step])


def test_start_state_is_the_recorded_one(rooms):
    pairs = goal_pairs(rooms / "d.h5", [5], offset=5, count=3, seed=0)
    task = GoalTask(rooms / "d.h5", None, budget=10, tolerance=None)
    assert task.mode == "rooms"
    env = make_env("two-rooms")
    for p in pairs:
        obs, info = task.reset(p, seed=0)
        np.testing.assert_allclose(info["pos"], p.start_state, atol=1e-5)
        np.testing.assert_array_equal(obs, env.unwrapped.render_at(p.start_state))
        assert not task.success(obs, info, p) or np.linalg.norm(p.goal_state - p.start_state) < 2
    task.close()


class Replay:
    """An agent that plays each pair's recorded actions from its start (pairs in order)."""

    def __init__(self, store: Path, pairs):
        self.store, self.pairs, self.i, self.t = store, pairs, -1, 0

    def reset(self):
        self.i, self.t = self.i + 1, 0

    def act(self, obs, goal):
        from amiwm.data.store import EpisodeStore
        from amiwm.planning.base import Decision

        p = self.pairs[self.i]
        with EpisodeStore(self.store) as s:
            a = s.episode(p.episode)["actions"][p.step + self.t]
        self.t += 1
        return Decision(a, plan_ms=1.0)


def test_floors_and_an_agent_that_follows_the_recording(rooms):
    """Replaying the recorded actions reaches every goal: success 100% (it can fail)."""

    pairs = goal_pairs(rooms / "d.h5", [4, 5], offset=8, count=6, seed=0)
    r = evaluate_protocol(
        Replay(rooms / "d.h5", pairs), rooms / "d.h5", [4, 5], offset=8, budget=8, pairs=6
    )
    assert r["success_rate"] == 1.0 and r["episodes"] == 6 and r["replans"] > 0
    lo, hi = r["success_ci95"]
    assert lo < 1.0 and hi == pytest.approx(1.0)
    f = r["floors"]
    assert set(f) == {"already_successful", "random", "do_nothing"}
    assert f["do_nothing"]["success_rate"] == f["already_successful"]["success_rate"]
    assert r["protocol"]["start_from"] == "rooms" and r["protocol"]["pairs"] == 6


def test_bad_inputs_are_one_liners(rooms):
    with pytest.raises(AmiError, match="longer than every held-out episode"):
        goal_pairs(rooms / "d.h5", [5], offset=500, count=3, seed=0)
    with pytest.raises(AmiError, match="budget must be >= 1"):
        evaluate_protocol(None, rooms / "d.h5", [5], offset=5, budget=0)
    with pytest.raises(AmiError, match="no held-out episodes"):
        goal_pairs(rooms / "d.h5", [], offset=5, count=3, seed=0)
    with pytest.raises(AmiError, match="goal-offset must be >= 1"):
        goal_pairs(rooms / "d.h5", [5], offset=0, count=3, seed=0)
    collect("Pendulum-v1", 2, 10, rooms / "pend.h5", policy="random", progress=False)
    with pytest.raises(AmiError, match="--tolerance"):
        GoalTask(rooms / "pend.h5", None, budget=5, tolerance=None)
    with pytest.raises(AmiError, match="collected in Pendulum-v1, not two-rooms"):
        GoalTask(rooms / "pend.h5", "two-rooms", budget=5, tolerance=0.1)


def test_outside_env_by_replay_and_tolerance(rooms):
    """An env that cannot be put in a state: replayed to the start, success by tolerance."""
    store = rooms / "pend2.h5"
    collect("Pendulum-v1", 3, 20, store, policy="smooth", progress=False)
    r = evaluate_protocol(None, store, [1, 2], offset=5, budget=5, pairs=4, tolerance=1e-6)
    assert r["protocol"]["start_from"] == "replay"
    assert r["floors"]["already_successful"]["success_rate"] == 0.0
    r = evaluate_protocol(None, store, [1, 2], offset=5, budget=5, pairs=4, tolerance=1e3)
    assert r["floors"]["already_successful"]["success_rate"] == 1.0


def test_zero_agent_is_inside_the_space():
    import gymnasium as gym

    a = ZeroAgent(gym.spaces.Box(1.0, 2.0, (2,), np.float32)).act(None, None).action
    assert a.tolist() == [1.0, 1.0]


def test_cli_eval_protocol_on_two_rooms(rooms, capsys):
    d = rooms
    (d / "tiny.yaml").write_text(
        "model: {latent_dim: 16, encoder_width: 8, predictor_dim: 32, predictor_depth: 1}\n"
        "train: {window: 3, checkpoint_every: 5, val_fraction: 0.34}\n"
    )
    train = ["train", "--dataset", str(d / "d.h5"), "--steps", "3", "--batch-size", "4"]
    assert main([*train, "--config", str(d / "tiny.yaml"), "--out", str(d / "run"), "--quiet"]) == 0
    capsys.readouterr()
    args = ["eval", "--checkpoint", str(d / "run"), "--goal-offset", "5", "--budget", "4",
            "--episodes", "3", "--samples", "8", "--elites", "2", "--iterations", "1",
            "--json"]  # fmt: skip
    assert main(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["protocol"]["held_out_episodes"] == 2 and r["episodes"] == 3
    assert r["plan_ms_median"] > 0 and 0 <= r["floors"]["random"]["success_rate"] <= 1
    assert main([*args[:-1], "--goal-offset", "999"]) == 1
    assert "longer than every held-out episode" in capsys.readouterr().err
    # subgoals from the store the goals come from would hand the planner the goals' episodes
    assert main([*args, "--graph-data", str(d / "d.h5")]) == 1
    assert "is the store the goals are drawn from" in capsys.readouterr().err


def test_protocol_in_action_blocks(rooms):
    """A store of blocks of 2 env steps: offsets are env steps (a multiple of the block), the
    budget is spent in blocks, and replaying the recorded blocks reaches every goal."""
    store = rooms / "blocks.h5"
    collect("two-rooms", 6, 15, store, seed=3, progress=False, action_block=2)

    pairs = goal_pairs(store, [4, 5], offset=4, count=5, seed=0)
    r = evaluate_protocol(
        Replay(store, pairs), store, [4, 5], offset=8, budget=7, pairs=5, video=rooms / "ep.gif"
    )
    assert r["protocol"]["action_block"] == 2 and r["protocol"]["decisions"] == 4
    assert r["success_rate"] == 1.0
    assert (rooms / "ep.gif").stat().st_size > 0
    with pytest.raises(AmiError, match="not a whole number of the store's action blocks of 2"):
        evaluate_protocol(None, store, [4, 5], offset=5, budget=8, pairs=2)


def test_protocol_replanning_inside_blocks(rooms):
    """block_steps 1 of blocks of 2: one decision per env step (the budget in env steps), each
    running the first action of the block the agent returns; replaying the recorded env
    actions that way reaches every goal."""
    store = rooms / "blocks1.h5"
    collect("two-rooms", 6, 15, store, seed=3, progress=False, action_block=2)
    pairs = goal_pairs(store, [4, 5], offset=4, count=5, seed=0)

    class EnvStepReplay(Replay):
        def act(self, obs, goal):
            from amiwm.data.store import EpisodeStore
            from amiwm.planning.base import Decision

            p = self.pairs[self.i]
            with EpisodeStore(self.store) as s:
                blocks = s.episode(p.episode)["actions"][p.step :].reshape(-1, 2)
            first = blocks[self.t]  # the recorded env action of this env step
            self.t += 1
            return Decision(np.concatenate([first, -first]), plan_ms=1.0)  # 2nd half dropped

    r = evaluate_protocol(
        EnvStepReplay(store, pairs), store, [4, 5], offset=8, budget=8, pairs=5, execute=1
    )
    assert r["protocol"]["block_steps"] == 1 and r["protocol"]["decisions"] == 8
    assert r["success_rate"] == 1.0 and r["replans"] >= 5
    with pytest.raises(AmiError, match="--block-steps must be an integer from 1 to"):
        evaluate_protocol(None, store, [4, 5], offset=8, budget=8, pairs=2, execute=3)
    with pytest.raises(AmiError, match="holds no action blocks; --block-steps does not apply"):
        evaluate_protocol(None, rooms / "d.h5", [4, 5], offset=8, budget=8, pairs=2, execute=2)


def test_a_proprio_model_sees_views_and_goals_with_their_state(rooms):
    """An agent whose model takes the robot state gets {"pixels", "state"} for its view (the
    state as the store records it, so replaying the recording meets the recorded states) and
    for the goal (the goal's recorded state)."""
    from types import SimpleNamespace

    from amiwm.data.store import EpisodeStore

    pairs = goal_pairs(rooms / "d.h5", [4, 5], offset=6, count=4, seed=0)
    seen = []

    class StateReplay(Replay):
        model = SimpleNamespace(config=SimpleNamespace(proprio=True))

        def act(self, obs, goal):
            p = self.pairs[self.i]
            with EpisodeStore(self.store) as s:
                ep = s.episode(p.episode)
            np.testing.assert_array_equal(goal["pixels"], p.goal_frame)
            np.testing.assert_allclose(goal["state"], p.goal_state)
            np.testing.assert_allclose(obs["state"], ep["states"][p.step + self.t], atol=1e-4)
            np.testing.assert_array_equal(obs["pixels"], ep["observations"][p.step + self.t])
            seen.append(self.t)
            return super().act(obs, goal)

    r = evaluate_protocol(
        StateReplay(rooms / "d.h5", pairs),
        rooms / "d.h5",
        [4, 5],
        offset=6,
        budget=6,
        pairs=4,
        floors=False,
    )
    assert r["success_rate"] == 1.0 and seen
