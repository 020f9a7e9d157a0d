"""bf16 on a CPU that runs it slowly: honoured, with one note saying what fp32 would give."""

import json

import torch

from amiwm.config import ModelConfig, RunConfig, TrainConfig
from amiwm.models.world_model import WorldModel
from amiwm.training import precision
from amiwm.training.loss import WorldModelLoss, build_regularizer
from amiwm.training.trainer import train


def small_objective(prec: str) -> tuple[WorldModelLoss, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    cfg = ModelConfig(obs_shape=[16, 16, 3], latent_dim=8, encoder_width=8, predictor_dim=16)
    tc = TrainConfig(precision=prec)
    obj = WorldModelLoss(WorldModel(cfg).train(), tc, build_regularizer(tc))
    batch = {
        "obs": torch.randint(0, 256, (4, 3, 16, 16, 3), dtype=torch.uint8),
        "actions": torch.randn(4, 2, 2),
    }
    return obj, batch


def test_probe_leaves_the_model_untouched():
    obj, batch = small_objective("bf16")
    before = {k: v.clone() for k, v in obj.model.state_dict().items()}
    ratio = precision.bf16_slowdown(obj, batch, reps=1)
    assert ratio > 0
    after = obj.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm stats too
    assert all(p.grad is None for p in obj.model.parameters())
    assert obj.cfg.precision == "bf16"


def test_note_only_for_slow_bf16_on_cpu(monkeypatch):
    obj, batch = small_objective("bf16")
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "bf16_slowdown", lambda *a, **k: 3.04)
    note = precision.bf16_note(obj, batch, cpu)
    assert "bf16 kept as asked" in note and "about 3.0x faster" in note
    monkeypatch.setattr(precision, "bf16_slowdown", lambda *a, **k: 0.8)
    assert precision.bf16_note(obj, batch, cpu) is None
    fp32, _ = small_objective("fp32")
    assert precision.bf16_note(fp32, batch, cpu) is None


def test_train_says_it_once_and_keeps_bf16(store, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision, "bf16_slowdown", lambda *a, **k: 2.5)
    cfg = RunConfig(dataset=str(store))
    m, t = cfg.model, cfg.train
    m.latent_dim, m.encoder_width, m.predictor_dim = 16, 8, 32
    t.steps, t.batch_size, t.window, t.precision = 3, 8, 3, "bf16"
    train(cfg, tmp_path / "run", progress=False)
    err = capsys.readouterr().err
    assert err.count("--precision fp32 would train about 2.5x faster") == 1
    saved = RunConfig.from_dict(json.loads((tmp_path / "run/config.json").read_text()))
    assert saved.train.precision == "bf16"
