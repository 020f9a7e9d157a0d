"""amiwm/PushT-v0: gym-pusht's pixels (no action marker), relative actions, restorable states."""

import math

import numpy as np
import pytest

pytest.importorskip("gym_pusht", reason="needs the pusht extra: pip install 'amiwm[pusht]'")

from amiwm.envs import make_env  # noqa: E402
from amiwm.errors import AmiError  # noqa: E402


@pytest.fixture(scope="module")
def env():
    e = make_env("pusht")
    yield e
    e.close()


def test_spaces_and_relative_actions(env):
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert env.action_space.low.tolist() == [-1, -1] and env.action_space.high.tolist() == [1, 1]
    assert info["state"].shape == (10,)
    start = np.array([200.0, 250.0, 350.0, 350.0, 0.5, 0, 0, 0, 0, 0])
    _, info = env.reset(seed=0, options={"state": start})
    for _ in range(3):
        *_, info = env.step(np.array([1.0, 0.0], np.float32))
    # three steps of +100 px targets move the agent right, not up or down
    assert info["agent_pos"][0] - 200 > 100 and abs(info["agent_pos"][1] - 250) < 5


def test_frames_come_from_the_observation_not_render(env):
    """gym-pusht's render() draws the commanded target; the frames must not depend on it."""
    s = np.array([100.0, 100.0, 300.0, 300.0, 1.0, 0, 0, 0, 0, 0])
    frames = []
    for a in ([1.0, 1.0], [-1.0, 1.0]):
        env.reset(seed=0, options={"state": s})
        env.unwrapped._env._last_action = None
        obs, *_ = env.step(np.array(a, np.float32))
        # same state afterwards -> same frame, whatever target was commanded
        _, info = env.reset(seed=0, options={"state": env.unwrapped.get_state()})
        frames.append((obs, env.unwrapped._env.get_obs()))
    for obs, fresh in frames:
        np.testing.assert_array_equal(obs, fresh)


def test_set_state_restores_and_replays_exactly(env):
    obs, info = env.reset(seed=3)
    rng = np.random.default_rng(1)
    states, frames, actions = [info["state"]], [obs], []
    for _ in range(20):
        actions.append(rng.uniform(-1, 1, 2).astype(np.float32))
        obs, *_, info = env.step(actions[-1])
        states.append(info["state"])
        frames.append(obs)
    obs, info = env.reset(seed=7, options={"state": states[8]})
    np.testing.assert_array_equal(info["state"], states[8])
    np.testing.assert_array_equal(obs, frames[8])
    for a in actions[8:]:
        obs, *_, info = env.step(a)
    np.testing.assert_allclose(info["state"], states[-1], atol=1e-6)


def test_blocks_draw_only_the_frames_they_keep(env, monkeypatch):
    """Inside an action block gym-pusht draws nothing; states and kept frames are unchanged."""
    from amiwm.envs.blocks import ActionBlocks

    blocks = np.random.default_rng(2).uniform(-1, 1, (3, 10)).astype(np.float32)
    env.reset(seed=3)
    plain, plain_states = [], []
    for block in blocks:
        for a in block.reshape(5, 2):
            obs, *_, info = env.step(a)
        plain.append(obs.copy())
        plain_states.append(info["state"])
    inner = env.unwrapped._env
    draws = []
    real = inner._render
    monkeypatch.setattr(inner, "_render", lambda *a, **k: draws.append(1) or real(*a, **k))
    wrapped = ActionBlocks(env, 5)
    wrapped.reset(seed=3)
    for block, frame, state in zip(blocks, plain, plain_states, strict=True):
        obs, *_, info = wrapped.step(block)
        np.testing.assert_array_equal(obs, frame)
        np.testing.assert_allclose(info["state"], state)
    assert len(draws) == 1 + 3  # the reset and each block's last step
    assert env.unwrapped.skip_frame is False and inner.obs_type == "pixels"
    env.step(np.zeros(2, np.float32))
    assert len(draws) == 5  # a plain step draws again


def test_success_tolerances(env):
    s = np.array([100.0, 100.0, 300.0, 300.0, 1.0, 0, 0, 0, 0, 0])
    cases = [
        ({}, True),
        ({0: 15.0}, True),  # agent 15 px off
        ({0: 25.0}, False),  # agent 25 px off
        ({2: 15.0, 3: 15.0}, False),  # block 21 px off
        ({4: math.pi / 9 - 0.02}, True),
        ({4: math.pi / 9 + 0.02}, False),
        ({4: 2 * math.pi}, True),  # angles wrap
    ]
    for shift, expected in cases:
        goal = s.copy()
        for i, v in shift.items():
            goal[i] += v
        _, info = env.reset(seed=0, options={"state": s, "goal_state": goal})
        assert info["is_success"] is expected, shift


def test_bad_state_is_one_line(env):
    with pytest.raises(AmiError, match="10 finite numbers"):
        env.reset(options={"state": [1.0] * 5})


def test_collect_gym_pusht_dict_observation(tmp_path):
    """The outside env itself: namespace imported, pixels from the dict, no render() overlay."""
    from amiwm.data.collect import collect
    from amiwm.data.store import EpisodeStore

    out = collect("gym_pusht/PushT-v0", 1, 5, tmp_path / "g.h5", progress=False,
                  env_kwargs={"obs_type": "pixels_agent_pos"})  # fmt: skip
    with EpisodeStore(out) as s:
        meta = s.attrs["metadata_json"]
        assert (
            meta["frames_from"] == "observation.pixels" and meta["state_source"] == "obs.agent_pos"
        )
        assert s.obs_shape == (64, 64, 3) and s.state_dim == 2 and s.attrs["policy"] == "smooth"


def test_push_policy_moves_the_block_more_than_smooth_noise():
    """The scripted mixture pushes: the block travels farther than under smooth noise."""
    from amiwm.envs.policies import make_policy

    far = {}
    for name in ("smooth", "push"):
        env = make_env("pusht")
        act = make_policy(name, env, seed=0)
        moved = []
        for k in range(4):
            obs, info = env.reset(seed=100 + k)
            act.reset(obs, info)
            start = info["block_pose"][:2].copy()
            best = 0.0
            for _ in range(60):
                obs, *_, info = env.step(act(obs, info))
                best = max(best, float(np.linalg.norm(info["block_pose"][:2] - start)))
            moved.append(best)
        env.close()
        far[name] = float(np.mean(moved))
    assert far["push"] > far["smooth"] and far["push"] > 40, far


def test_push_policy_refuses_other_envs():
    from amiwm.envs.policies import make_policy

    with pytest.raises(AmiError, match="amiwm/PushT-v0"):
        make_policy("push", make_env("two-rooms"), seed=0)
