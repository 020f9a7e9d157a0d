"""amiwm/Reacher-v0: pixels rendered headless, restorable states, the protocol's success test."""

import numpy as np
import pytest

pytest.importorskip("dm_control", reason="needs the dmc extra: pip install 'amiwm[dmc]'")

from amiwm.envs import make_env  # noqa: E402
from amiwm.errors import AmiError  # noqa: E402


@pytest.fixture(scope="module")
def env():
    e = make_env("reacher")
    yield e
    e.close()


def test_spaces_frames_and_state(env):
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8 and obs.std() > 5
    assert env.action_space.shape == (2,) and env.action_space.low.tolist() == [-1, -1]
    assert info["state"].shape == (6,) and "is_success" not in info
    obs2, _, _, _, info2 = env.step(np.ones(2, np.float32))
    assert not np.array_equal(obs, obs2) and not np.allclose(info["joints"], info2["joints"])
    again, info3 = env.reset(seed=0)
    np.testing.assert_array_equal(again, obs)
    np.testing.assert_array_equal(info3["state"], info["state"])


def test_set_state_restores_and_replays_exactly(env):
    obs, info = env.reset(seed=1)
    rng = np.random.default_rng(0)
    states, frames, actions = [info["state"]], [obs], []
    for _ in range(20):
        actions.append(rng.uniform(-1, 1, 2).astype(np.float32))
        obs, *_, info = env.step(actions[-1])
        states.append(info["state"])
        frames.append(obs)
    obs, info = env.reset(seed=99, options={"state": states[5]})
    np.testing.assert_array_equal(info["state"], states[5])
    np.testing.assert_array_equal(obs, frames[5])
    for a in actions[5:]:
        obs, *_, info = env.step(a)
    np.testing.assert_allclose(info["state"], states[-1], atol=1e-9)


def test_success_is_joint_tolerance(env):
    _, info = env.reset(seed=2)
    s = info["state"]
    for shift, expected in ((0.0, True), (0.04, True), (0.06, False), (2 * np.pi, True)):
        goal = s.copy()
        goal[1] += shift
        _, info = env.reset(seed=2, options={"state": s, "goal_state": goal})
        assert info["is_success"] is expected, shift


def test_bad_state_is_one_line(env):
    with pytest.raises(AmiError, match="6 finite numbers"):
        env.reset(options={"state": [0.0, 1.0]})
    with pytest.raises(AmiError, match="goal_state must have 6"):
        env.reset(options={"goal_state": [0.0]})


def test_blocks_render_only_the_frames_they_keep(env, monkeypatch):
    from amiwm.envs.blocks import ActionBlocks

    blocks = np.random.default_rng(2).uniform(-1, 1, (3, 10)).astype(np.float32)
    env.reset(seed=3)
    plain = []
    for block in blocks:
        for a in block.reshape(5, 2):
            obs = env.step(a)[0]
        plain.append(obs.copy())
    inner = env.unwrapped
    renders = []
    real = inner._render
    monkeypatch.setattr(inner, "_render", lambda: renders.append(1) or real())
    wrapped = ActionBlocks(env, 5)
    wrapped.reset(seed=3)
    kept = [wrapped.step(block)[0] for block in blocks]
    assert len(renders) == 1 + 3  # the reset and each block's last step
    for a, b in zip(plain, kept, strict=True):
        np.testing.assert_array_equal(a, b)
    assert inner.skip_frame is False
    env.step(np.zeros(2, np.float32))
    assert len(renders) == 5  # a plain step renders again
