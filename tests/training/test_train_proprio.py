"""Training with the robot state as a second input (--proprio true)."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from amiwm.cli import main
from amiwm.config import RunConfig
from amiwm.data.store import EpisodeStore
from amiwm.errors import AmiError
from amiwm.evaluation import model_evidence
from amiwm.models.world_model import WorldModel
from amiwm.training.trainer import train


def proprio(dataset, steps=6, **train_kw) -> RunConfig:
    """A tiny run (as tests/training/test_train.py) that takes the robot state."""
    cfg = RunConfig(dataset=str(dataset))
    m = cfg.model
    m.latent_dim, m.encoder_width, m.predictor_dim, m.predictor_depth = 16, 8, 32, 1
    m.predictor_heads, m.history, m.proprio = 2, 3, True
    t = cfg.train
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.log_every = steps, 8, 3, 2, 1
    t.sigreg_projections, t.warmup_steps = 32, 2
    for k, v in train_kw.items():
        setattr(t, k, v)
    return cfg


def test_train_with_state_fills_statistics_and_needs_state(store, tmp_path):
    train(proprio(store, regularizer="ema"), tmp_path / "run", progress=False)
    model = WorldModel.from_pretrained(tmp_path / "run")
    cfg = model.config
    with EpisodeStore(store) as s:
        states = s.dataset("states")[()]
    assert cfg.proprio and cfg.state_dim == 2
    np.testing.assert_allclose(cfg.state_mean, states.mean(0), rtol=1e-5)
    np.testing.assert_allclose(cfg.state_std, states.std(0), rtol=1e-4)
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert np.isfinite(rows[-1]["val_pred"])  # the held-out evaluation ran with states
    obs = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)
    assert model.encode(obs, torch.from_numpy(states[:2])).shape == (2, 16)
    with pytest.raises(AmiError, match="robot state"):
        model.encode(obs)
    assert any(k.startswith("encoder.state_net") for k in model.state_dict())
    evidence = model_evidence(model, store, val_fraction=0.3, horizons=(1, 2))  # takes states
    assert np.isfinite(evidence["rollout"][2]["model"]) and evidence["probe_r2_xy"] is not None


def test_resume_with_state_is_bit_identical(store, tmp_path, monkeypatch):
    import amiwm.training.loss as loss

    full = tmp_path / "full"
    train(proprio(store, regularizer="ema"), full, progress=False)
    real, calls = loss.latent_prediction_loss, {"n": 0}

    def interrupted(model, *args, **kw):
        calls["n"] += model.training
        if calls["n"] == 6:  # dies during step 6; the last checkpoint is step 4
            raise KeyboardInterrupt
        return real(model, *args, **kw)

    part = tmp_path / "part"
    monkeypatch.setattr(loss, "latent_prediction_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(proprio(store, regularizer="ema"), part, progress=False)
    monkeypatch.setattr(loss, "latent_prediction_loss", real)
    assert json.loads((part / "checkpoint" / "state.json").read_text())["step"] == 4
    train(proprio(store, regularizer="ema"), part, resume=True, progress=False)
    for name in ("model", "optimizer", "ema"):
        a = load_file(full / "checkpoint" / f"{name}.safetensors")
        b = load_file(part / "checkpoint" / f"{name}.safetensors")
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_store_without_states_is_refused(tmp_path, store_factory):
    path = store_factory(tmp_path / "nostate.h5", states=False)
    out = tmp_path / "run"
    with pytest.raises(AmiError, match="no robot state") as err:
        train(proprio(path), out, progress=False)
    assert "\n" not in str(err.value) and not out.exists()


def cli_args(store, tmp_path, *extra):
    (tmp_path / "tiny.yaml").write_text(
        "model: {latent_dim: 8, encoder_width: 8, predictor_dim: 32, predictor_depth: 1,"
        " predictor_heads: 2}\n"
        "train: {window: 3, batch_size: 4, checkpoint_every: 2, warmup_steps: 1}\n"
    )
    config = str(tmp_path / "tiny.yaml")
    return ["train", "--dataset", str(store), "--config", config, "--steps", "2", "--quiet", *extra]


@pytest.mark.parametrize("flag", [["--proprio", "true"], ["--set", "model.proprio=true"]])
def test_cli_flag_turns_state_on(store, tmp_path, flag, capsys):
    out = tmp_path / "run"
    assert main([*cli_args(store, tmp_path, "--out", str(out)), *flag]) == 0
    saved = json.loads((out / "checkpoint" / "config.json").read_text())["model"]
    assert saved["proprio"] is True and saved["state_dim"] == 2


def test_cli_default_is_off_and_bad_value_is_refused(store, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*cli_args(store, tmp_path, "--out", str(out))]) == 0
    saved = json.loads((out / "checkpoint" / "config.json").read_text())["model"]
    assert saved["proprio"] is False and saved["state_dim"] == 0
    assert main([*cli_args(store, tmp_path, "--out", str(tmp_path / "b")), "--proprio", "x"]) != 0
    assert "--proprio must be true or false" in capsys.readouterr().err
