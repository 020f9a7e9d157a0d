"""`ami-cli eval` on reacher with a model trained with its state as a target: by default it
plans in the joint angles its read-out reads (the recipe's state cost), from frames alone."""

import json

import pytest

from amiwm.cli import main
from amiwm.config import RunConfig
from amiwm.data.collect import collect
from amiwm.training.trainer import train

pytest.importorskip("dm_control", reason="needs the dmc extra: pip install 'amiwm[dmc]'")


def _run(store, out, state_weight: float):
    cfg = RunConfig(dataset=str(store))
    m = cfg.model
    m.latent_dim, m.encoder_width, m.predictor_dim, m.predictor_depth = 8, 8, 32, 1
    m.predictor = "mlp"
    t = cfg.train
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.log_every = 3, 4, 3, 3, 1
    t.sigreg_projections, t.warmup_steps, t.val_fraction = 16, 1, 0.34
    t.state_weight, t.state_angles = state_weight, [0, 1] if state_weight else []
    train(cfg, out, progress=False)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rs")
    store = collect("reacher", 6, 8, d / "r.h5", seed=1, progress=False, action_block=5)
    return _run(store, d / "read", 1.0), _run(store, d / "plain", 0.0)


def _eval(run, capsys, *flags):
    args = ["eval", "--checkpoint", str(run), "--env", "reacher", "--goal-offset", "10"]
    args += ["--budget", "5", "--episodes", "2", "--samples", "8", "--elites", "2", "--json"]
    code = main([*args, *flags])
    out, err = capsys.readouterr()
    return (json.loads(out) if code == 0 else None), err.strip().splitlines()


def test_a_state_target_model_plans_in_the_angles_it_reads(runs, capsys):
    read, plain = runs
    got, _ = _eval(read, capsys)
    assert (got["state_cost"], got["state_cost_entries"]) == (100.0, [0, 1])
    got, _ = _eval(read, capsys, "--state-cost", "3", "--state-cost-entries", "4,5")
    assert (got["state_cost"], got["state_cost_entries"]) == (3.0, [4, 5])  # the target's xy
    assert _eval(read, capsys, "--state-cost", "0")[0]["state_cost"] == 0.0
    got, _ = _eval(plain, capsys)  # no read-out: latent distance alone
    assert (got["state_cost"], got["state_cost_entries"]) == (0.0, [])


@pytest.mark.parametrize(
    ("which", "flags", "message"),
    [
        (0, ["--state-cost-entries", "7"], "state entry 7 is not read out"),
        (0, ["--state-cost", "-2"], "--state-cost must be a positive weight"),
        (1, ["--state-cost", "5"], "has no state read-out"),
        (1, ["--state-cost-entries", "0"], "--state-cost-entries needs a --state-cost weight"),
    ],
)
def test_bad_state_costs_get_one_line(runs, capsys, which, flags, message):
    got, err = _eval(runs[which], capsys, *flags)
    assert got is None and len(err) == 1 and message in err[0]
