"""Action blocks: k env steps per stored step, in collection and when an agent acts."""

import json

import numpy as np
import pytest

from amiwm.data.collect import collect
from amiwm.data.store import EpisodeStore
from amiwm.envs import make_env
from amiwm.envs.blocks import ActionBlocks
from amiwm.errors import AmiError


def test_collect_in_blocks_keeps_every_kth_frame_and_concatenates_actions(tmp_path):
    """The same seeded random policy with k = 1 and k = 3: the k = 3 store is the k = 1 store
    subsampled, its actions the three env actions between kept frames."""
    collect("two-rooms", 2, 12, tmp_path / "a.h5", policy="random", seed=4, progress=False)
    collect(
        "two-rooms",
        2,
        4,
        tmp_path / "b.h5",
        policy="random",
        seed=4,
        progress=False,
        action_block=3,
    )
    with EpisodeStore(tmp_path / "a.h5") as a, EpisodeStore(tmp_path / "b.h5") as b:
        assert b.attrs["metadata_json"]["action_block"] == 3
        assert b.attrs["action_space"]["shape"] == [6]
        for e in range(2):
            ea, eb = a.episode(e), b.episode(e)
            np.testing.assert_array_equal(eb["observations"], ea["observations"][::3])
            np.testing.assert_allclose(eb["states"], ea["states"][::3])
            np.testing.assert_array_equal(eb["actions"][:-1], ea["actions"][:12].reshape(4, 6))
            assert not eb["actions"][-1].any()


def test_wrapper_runs_k_steps_and_reports_success_at_any_of_them():
    env = make_env("two-rooms")
    blocks = ActionBlocks(make_env("two-rooms"), 4)
    assert blocks.action_space.shape == (8,)
    np.testing.assert_array_equal(blocks.action_space.low, np.tile(env.action_space.low, 4))
    obs, _ = env.reset(seed=1)
    obs_b, _ = blocks.reset(seed=1)
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (4, 2)).astype(np.float32)
    for sub in a:
        obs, *_, info = env.step(sub)
    obs_b, _, _, _, info_b = blocks.step(a.reshape(-1))
    np.testing.assert_array_equal(obs_b, obs)
    assert info_b["env_steps"] == 4
    with pytest.raises(AmiError, match="4 x 2 = 8 values, got 2"):
        blocks.step(np.zeros(2, np.float32))


def test_wrapper_runs_the_first_steps_of_each_block_when_told():
    """execute=2 of blocks of 4: an agent replanning inside blocks; the rest is dropped."""
    env, blocks = make_env("two-rooms"), ActionBlocks(make_env("two-rooms"), 4, execute=2)
    env.reset(seed=1)
    blocks.reset(seed=1)
    a = np.random.default_rng(0).uniform(-1, 1, (4, 2)).astype(np.float32)
    for sub in a[:2]:
        obs, *_, info = env.step(sub)
    obs_b, _, _, _, info_b = blocks.step(a.reshape(-1))
    np.testing.assert_array_equal(obs_b, obs)
    np.testing.assert_allclose(info_b["pos"], info["pos"])
    assert info_b["env_steps"] == 2 and blocks.action_space.shape == (8,)
    for bad in (0, 5, 1.5):
        with pytest.raises(AmiError, match="--block-steps must be an integer from 1 to the"):
            ActionBlocks(make_env("two-rooms"), 4, execute=bad)


def test_bad_block_is_one_line(tmp_path):
    with pytest.raises(AmiError, match="--action-block must be an integer >= 1"):
        collect("two-rooms", 1, 5, tmp_path / "c.h5", progress=False, action_block=0)
    assert not (tmp_path / "c.h5").exists()


def test_eval_runs_a_block_model_in_blocks(tmp_path, capsys):
    """`eval` on two-rooms with a model trained on blocks of 2: the env takes 4-d actions, runs
    all of each or, with --block-steps 1, the first env action of each before replanning."""
    from amiwm.cli import main

    collect("two-rooms", 6, 20, tmp_path / "b.h5", seed=1, progress=False, action_block=2)
    main(["train", "--dataset", str(tmp_path / "b.h5"), "--out", str(tmp_path / "run"),
          "--steps", "3", "--batch-size", "8", "--quiet"])  # fmt: skip
    from amiwm.rundir import RunDir

    assert RunDir(tmp_path / "run").action_block == 2
    capsys.readouterr()
    args = ["eval", "--checkpoint", str(tmp_path / "run"), "--episodes", "1", "--samples", "8",
            "--elites", "2", "--iterations", "1", "--no-graph", "--json", "--quiet"]  # fmt: skip
    assert main(args) == 0
    whole = json.loads(capsys.readouterr().out)
    assert main([*args, "--block-steps", "1"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert whole["episodes"] == single["episodes"] == 1 and single["replans"] >= 1
    assert main([*args, "--block-steps", "3"]) == 1
    assert "--block-steps must be an integer from 1 to the action block's 2" in (
        capsys.readouterr().err
    )
