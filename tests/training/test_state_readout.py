"""The recorded robot state as a training-only target (train.state_weight)."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from amiwm.config import ModelConfig, RunConfig
from amiwm.errors import AmiError
from amiwm.models.readout import StateReadout
from amiwm.models.world_model import WorldModel
from amiwm.training.loss import latent_prediction_loss
from amiwm.training.trainer import train


def test_target_reads_angles_as_cos_sin_and_normalises_the_rest():
    cfg = ModelConfig(latent_dim=4, state_dim=3, state_mean=[1.0, 0.0, -2.0])
    cfg.state_std = [2.0, 1.0, 4.0]
    head = StateReadout(cfg, angles=[1])
    s = torch.tensor([[3.0, math.pi / 2, 2.0], [1.0, math.pi / 2 + 2 * math.pi, -2.0]])
    t = head.target(s)
    assert t.shape == (2, 4) and head(torch.zeros(5, 4)).shape == (5, 4)
    torch.testing.assert_close(t[:, :2], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    torch.testing.assert_close(t[0, 2:], t[1, 2:], atol=1e-5, rtol=0)  # one target per angle
    torch.testing.assert_close(t[0, 2:], torch.tensor([0.0, 1.0]), atol=1e-6, rtol=0)


def test_entries_choose_what_is_read_out():
    cfg = ModelConfig(latent_dim=4, state_dim=4, state_mean=[1.0, 0.0, 5.0, -2.0])
    cfg.state_std = [2.0, 1.0, 1.0, 4.0]
    head = StateReadout(cfg, angles=[1], entries=[1, 3])  # entries 0 and 2 left out
    t = head.target(torch.tensor([[9.0, 0.0, 9.0, 2.0]]))
    assert head.net.out_features == 3
    torch.testing.assert_close(t, torch.tensor([[1.0, 1.0, 0.0]]))


def tiny(dataset, **train_kw) -> RunConfig:
    cfg = RunConfig(dataset=str(dataset))
    m = cfg.model
    m.latent_dim, m.encoder_width, m.predictor_dim, m.predictor_depth = 16, 8, 32, 1
    t = cfg.train
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.log_every = 6, 8, 3, 2, 1
    t.warmup_steps, t.state_weight, t.state_angles = 2, 1.0, [0]
    for k, v in train_kw.items():
        setattr(t, k, v)
    return cfg


def test_training_reads_the_state_out(store, tmp_path):
    full = tmp_path / "full"
    train(tiny(store), full, progress=False)
    model = WorldModel.from_pretrained(full)
    assert not model.config.proprio and model.config.state_dim == 2  # a target, not an input
    assert model.encode(torch.zeros(2, 32, 32, 3, dtype=torch.uint8)).shape == (2, 16)
    rows = [json.loads(r) for r in (full / "metrics.jsonl").read_text().splitlines()]
    assert all(r["state"] > 0 for r in rows) and rows[-1]["state"] < rows[0]["state"] * 2

    head = load_file(full / "checkpoint" / "readout.safetensors")  # resumes with the run
    assert head["net.weight"].shape == (3, 16)  # 1 normalised entry, 1 angle as (cos, sin)


def test_the_state_term_trains_the_encoder():
    cfg = tiny("unused").model
    cfg.obs_shape, cfg.action_dim, cfg.state_dim = [32, 32, 3], 2, 2
    cfg.state_mean, cfg.state_std = [0.0, 0.0], [1.0, 1.0]
    model = WorldModel(cfg)
    batch = {
        "obs": torch.randint(0, 255, (4, 3, 32, 32, 3), dtype=torch.uint8),
        "actions": torch.randn(4, 2, 2),
        "states": torch.randn(4, 3, 2),
    }
    tc = tiny("unused").train
    terms = latent_prediction_loss(model, batch, tc, None, readout=StateReadout(cfg, [0]))
    terms["state"].backward()
    assert terms["state"] > 0 and model.encoder.net[0].weight.grad.abs().sum() > 0


def test_the_state_rollout_term_trains_the_predictor():
    """train.state_rollout_weight: the read-out of the imagined latents answers for the
    recorded future states, so the predictor gets a gradient from the state."""
    cfg = tiny("unused").model
    cfg.obs_shape, cfg.action_dim, cfg.state_dim = [32, 32, 3], 2, 2
    cfg.state_mean, cfg.state_std = [0.0, 0.0], [1.0, 1.0]
    torch.manual_seed(0)
    model, head = WorldModel(cfg), StateReadout(cfg, [0])
    batch = {
        "obs": torch.randint(0, 255, (4, 3, 32, 32, 3), dtype=torch.uint8),
        "actions": torch.randn(4, 2, 2),
        "states": torch.randn(4, 3, 2),
    }
    tc = tiny("unused").train
    assert latent_prediction_loss(model, batch, tc, None, readout=head)["state_rollout"] == 0
    tc.state_rollout_weight, tc.rollout_weight = 1.0, 0.0  # teacher-forced latents then
    terms = latent_prediction_loss(model, batch, tc, None, readout=head)
    terms["state_rollout"].backward()
    grads = [p.grad for p in model.predictor.parameters() if p.grad is not None]
    assert terms["state_rollout"] > 0 and sum(float(g.abs().sum()) for g in grads) > 0
    head.zero_grad()
    with torch.no_grad():  # the term compares the readings of latents 1.. with states 1..
        z = model.encode(batch["obs"])
        pred = model._predict(z[:, :-1], model._actions(batch["actions"]))
        want = F.mse_loss(head(pred), head.target(batch["states"])[:, 1:])
    assert float(terms["state_rollout"].detach()) == pytest.approx(float(want), rel=1e-5)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"state_weight": -1.0}, "state_weight must be >= 0"),
        ({"state_rollout_weight": -1.0}, "state_rollout_weight must be >= 0"),
        ({"state_weight": 0.0, "state_rollout_weight": 1.0}, "needs the read-out"),
        ({"state_angles": [0, 0]}, "distinct indices"),
        ({"state_angles": [2]}, "the state has 2 entries"),
        ({"state_entries": [0, 5]}, "state_entries .* the state has 2 entries"),
        ({"state_entries": [1]}, "state_angles \\[0\\] must be among"),
    ],
)
def test_bad_settings_are_refused_in_one_line(store, tmp_path, change, message):
    out = tmp_path / "run"
    with pytest.raises(AmiError, match=message) as err:
        train(tiny(store, **change), out, progress=False)
    assert "\n" not in str(err.value) and not (out / "checkpoint").exists()


def test_store_without_states_is_refused(tmp_path, store_factory):
    path = store_factory(tmp_path / "nostate.h5", states=False)
    with pytest.raises(AmiError, match="no robot state.*train.state_weight=0"):
        train(tiny(path), tmp_path / "run", progress=False)
