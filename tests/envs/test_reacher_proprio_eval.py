"""`ami-cli eval` on reacher with a model that takes the joint readings: the goal is the pose."""

import json

import pytest

from amiwm.cli import main
from amiwm.config import RunConfig
from amiwm.data.collect import collect
from amiwm.training.trainer import train

pytest.importorskip("dm_control", reason="needs the dmc extra: pip install 'amiwm[dmc]'")


@pytest.fixture(scope="module")
def proprio_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("rp")
    store = collect("reacher", 6, 8, d / "r.h5", seed=1, progress=False, action_block=5)
    cfg = RunConfig(dataset=str(store))
    m = cfg.model
    m.latent_dim, m.encoder_width, m.predictor_dim, m.predictor_depth = 8, 8, 32, 1
    m.predictor, m.proprio = "mlp", True
    t = cfg.train
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.log_every = 3, 4, 3, 3, 1
    t.sigreg_projections, t.warmup_steps, t.val_fraction = 16, 1, 0.34
    train(cfg, d / "run", progress=False)
    return d / "run"


def _eval(run, capsys, *flags):
    args = ["eval", "--checkpoint", str(run), "--env", "reacher", "--goal-offset", "10"]
    args += ["--budget", "5", "--episodes", "2", "--samples", "8", "--elites", "2", "--json"]
    assert main([*args, *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_leaves_the_joint_velocities_free_by_default(proprio_run, capsys):
    got = _eval(proprio_run, capsys)
    assert got["free_state"] == [2, 3] and got["episodes"] == 2
    assert _eval(proprio_run, capsys, "--free-state", "0,4")["free_state"] == [0, 4]
    assert main(["eval", "--checkpoint", str(proprio_run), "--env", "reacher", "--free-state",
                 "6"]) != 0  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "distinct indices in 0..5" in err[0]
