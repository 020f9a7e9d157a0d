import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from amiwm.config import RunConfig
from amiwm.data.store import EpisodeStore
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.training.trainer import train


def tiny(dataset, steps=6, **train_kw) -> RunConfig:
    cfg = RunConfig(dataset=str(dataset))
    m = cfg.model
    m.latent_dim, m.encoder_width, m.predictor_dim, m.predictor_depth = 16, 8, 32, 1
    m.predictor_heads, m.history = 2, 3
    t = cfg.train
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.log_every = steps, 8, 3, 2, 1
    t.sigreg_projections, t.warmup_steps = 32, 2
    for k, v in train_kw.items():
        setattr(t, k, v)
    return cfg


def test_train_writes_checkpoint_and_logs(store, tmp_path):
    out = tmp_path / "run"
    result = train(tiny(store), out, progress=False)
    assert result.step == 6
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(r["loss"] > 0 for r in rows)
    assert list((out / "tb").iterdir())
    model = WorldModel.from_pretrained(out)
    assert model.config.obs_shape == [32, 32, 3] and model.config.action_dim == 2
    assert len(model.config.action_mean) == 2
    with EpisodeStore(store) as s:
        acts = np.concatenate([s.episode(i)["actions"] for i in range(s.num_episodes)])
    seen = model.config.action_seen_low + model.config.action_seen_high  # where planners search
    assert seen == pytest.approx([*acts.min(0), *acts.max(0)])


@pytest.mark.parametrize("regularizer", ["sigreg", "vicreg", "ema"])
def test_loss_decreases(store, tmp_path, regularizer):
    cfg = tiny(store, steps=40, regularizer=regularizer, lr=3e-3, log_every=1)
    train(cfg, tmp_path / regularizer, progress=False)
    rows = [
        json.loads(r) for r in (tmp_path / regularizer / "metrics.jsonl").read_text().splitlines()
    ]
    first = sum(r["pred"] for r in rows[:5]) / 5
    last = sum(r["pred"] for r in rows[-5:]) / 5
    assert last < first


def test_resume_is_bit_identical(store, tmp_path, monkeypatch):
    import amiwm.training.loss as loss

    full = tmp_path / "full"
    kw = {"regularizer": "ema", "idm_weight": 1.0}  # every training-only module resumes too
    train(tiny(store, steps=6, **kw), full, progress=False)
    real, calls = loss.latent_prediction_loss, {"n": 0}

    def interrupted(model, *args, **kw):
        calls["n"] += model.training  # count training steps, not validation passes
        if calls["n"] == 6:  # dies during step 6; the last checkpoint is step 4
            raise KeyboardInterrupt
        return real(model, *args, **kw)

    part = tmp_path / "part"
    monkeypatch.setattr(loss, "latent_prediction_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(store, steps=6, **kw), part, progress=False)
    monkeypatch.setattr(loss, "latent_prediction_loss", real)
    assert json.loads((part / "checkpoint" / "state.json").read_text())["step"] == 4
    train(tiny(store, steps=6, **kw), part, resume=True, progress=False)
    a = load_file(full / "checkpoint" / "model.safetensors")
    b = load_file(part / "checkpoint" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for name in ("optimizer", "ema", "idm"):
        oa = load_file(full / "checkpoint" / f"{name}.safetensors")
        ob = load_file(part / "checkpoint" / f"{name}.safetensors")
        assert all(torch.equal(oa[k], ob[k]) for k in oa)
    steps = [json.loads(r)["step"] for r in (part / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_inverse_dynamics_term_reads_the_actions_back(store, tmp_path):
    cfg = tiny(store, steps=40, lr=3e-3, log_every=1, idm_weight=1.0)
    train(cfg, tmp_path / "idm", progress=False)
    rows = [json.loads(r) for r in (tmp_path / "idm" / "metrics.jsonl").read_text().splitlines()]
    first = sum(r["idm"] for r in rows[:5]) / 5
    last = sum(r["idm"] for r in rows[-5:]) / 5
    assert last < first
    assert (tmp_path / "idm" / "checkpoint" / "idm.safetensors").exists()
    WorldModel.from_pretrained(tmp_path / "idm")  # the head is not part of the model
    train(tiny(store, steps=2), tmp_path / "none", progress=False)
    none = (tmp_path / "none" / "metrics.jsonl").read_text().splitlines()
    assert all(json.loads(r)["idm"] == 0 for r in none)
    assert not (tmp_path / "none" / "checkpoint" / "idm.safetensors").exists()


def test_inverse_dynamics_needs_actions_and_a_sane_weight(store, tmp_path):
    with pytest.raises(AmiError, match="idm_weight must be >= 0"):
        train(tiny(store, idm_weight=-1.0), tmp_path / "neg", progress=False)
    with pytest.raises(AmiError, match="window >= 3"):
        train(tiny(store, idm_weight=1.0, window=2), tmp_path / "short", progress=False)
    cfg = tiny(store, idm_weight=1.0)
    cfg.model.action_conditioning = False
    with pytest.raises(AmiError, match="needs actions"):
        train(cfg, tmp_path / "blind", progress=False)
    assert not any((tmp_path / n).exists() for n in ("neg", "short", "blind"))  # nothing written


def test_within_window_hinge_counts_only_what_moves_inside_a_window():
    from amiwm.training.loss import within_window_hinge

    static = torch.randn(32, 1, 8).expand(32, 4, 8)  # differs between windows, never inside
    assert within_window_hinge(static, 0.5) == pytest.approx(0.5, abs=0.01)
    moving = torch.randn(32, 4, 8)
    assert within_window_hinge(moving, 0.5) == 0


def test_within_window_term_is_logged_and_lowered(store, tmp_path):
    cfg = tiny(store, steps=30, lr=3e-3, log_every=1, motion_weight=1.0, motion_std=2.0)
    train(cfg, tmp_path / "m", progress=False)
    rows = [json.loads(r) for r in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["motion"] for r in rows[-5:]) < sum(r["motion"] for r in rows[:5])
    with pytest.raises(AmiError, match="motion_weight must be >= 0"):
        train(tiny(store, motion_weight=float("nan")), tmp_path / "nan", progress=False)
    assert not (tmp_path / "nan").exists()


def test_same_seed_same_weights_different_seed_differs(store, tmp_path):
    train(tiny(store, steps=3), tmp_path / "a", progress=False)
    train(tiny(store, steps=3), tmp_path / "b", progress=False)
    train(tiny(store, steps=3, seed=1), tmp_path / "c", progress=False)
    a, b, c = (load_file(tmp_path / n / "checkpoint" / "model.safetensors") for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_large_latent_dim_trains(store, tmp_path):
    cfg = tiny(store, steps=2)
    cfg.model.latent_dim = 8192
    train(cfg, tmp_path / "big", progress=False)
    assert WorldModel.from_pretrained(tmp_path / "big").config.latent_dim == 8192


def test_bf16_trains(store, tmp_path):
    result = train(tiny(store, steps=2, precision="bf16"), tmp_path / "bf16", progress=False)
    assert result.loss == result.loss  # finite, not NaN


def test_existing_out_is_refused_and_untouched(store, tmp_path):
    out = tmp_path / "run"
    train(tiny(store, steps=2), out, progress=False)
    before = (out / "checkpoint" / "model.safetensors").read_bytes()
    with pytest.raises(AmiError, match="different config"):
        train(tiny(store, steps=2, lr=0.5), out, progress=False)
    with pytest.raises(AmiError, match="already holds a run"):
        train(tiny(store, steps=2), out, progress=False)
    with pytest.raises(AmiError, match="different config"):
        train(tiny(store, steps=2, lr=0.5), out, resume=True, progress=False)
    assert (out / "checkpoint" / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: setattr(c.model, "architecture", "gpt"), "unknown --architecture"),
        (lambda c: setattr(c.train, "objective", "pixels"), "unknown --objective"),
        (lambda c: setattr(c.train, "precision", "fp8"), "unknown --precision"),
        (lambda c: setattr(c, "dataset", "/nonexistent.h5"), "not found"),
    ],
)
def test_bad_config_values(store, tmp_path, mutate, message):
    cfg = tiny(store)
    mutate(cfg)
    with pytest.raises(AmiError, match=message):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_no_actions_with_conditioning_is_refused(tmp_path, store_factory):
    data = store_factory(tmp_path / "noact.h5", actions=False)
    with pytest.raises(AmiError, match="no actions"):
        train(tiny(data), tmp_path / "run", progress=False)
    cfg = tiny(data, steps=2)
    cfg.model.action_conditioning = False
    train(cfg, tmp_path / "run2", progress=False)


def test_nan_in_data_is_refused(tmp_path, store_factory):
    data = store_factory(tmp_path / "nan.h5", nan_row=3)
    with pytest.raises(AmiError, match="NaN|Inf|non-finite"):
        train(tiny(data), tmp_path / "run", progress=False)


def test_nan_loss_stops_without_poisoned_checkpoint(store, tmp_path, monkeypatch):
    import amiwm.training.loss as loss

    real = loss.latent_prediction_loss
    calls = {"n": 0}

    def poisoned(model, *args, **kw):
        terms = real(model, *args, **kw)
        calls["n"] += model.training
        if calls["n"] == 3 and model.training:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(loss, "latent_prediction_loss", poisoned)
    out = tmp_path / "run"
    with pytest.raises(AmiError, match="loss became nan at step 3"):
        train(tiny(store, steps=6), out, progress=False)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2
    weights = load_file(out / "checkpoint" / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_kill_9_then_resume_is_bit_identical(store, tmp_path):
    """A real SIGKILL in the middle of `ami-cli train`, then --resume: same weights."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "tiny.yaml").write_text(
        "model: {latent_dim: 16, encoder_width: 8, predictor_dim: 32}\n"
        "train: {window: 3, checkpoint_every: 3, log_every: 1, warmup_steps: 2}\n"
    )

    def cli(out: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "amiwm.cli",
            "train",
            "--dataset",
            str(store),
            "--steps",
            "60",
            "--batch-size",
            "8",
            "--out",
            str(tmp_path / out),
            "--config",
            str(tmp_path / "tiny.yaml"),
            "--quiet",
        ]

    subprocess.run(cli("full"), check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen(cli("killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "killed" / "checkpoint" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["step"] >= 9:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())["step"]
    assert killed_at < 60
    r = subprocess.run([*cli("killed"), "--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    a = load_file(tmp_path / "full" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "checkpoint" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_collapse_is_reported():
    from amiwm.training.trainer import collapse_warning

    assert collapse_warning(0.9, 30.0, 64) is None
    assert "latent std" in collapse_warning(1e-4, 30.0, 64)
    assert "effective rank" in collapse_warning(0.9, 1.1, 64)


def test_collapsed_run_logs_warning(store, tmp_path, monkeypatch):
    import amiwm.training.trainer as trainer

    monkeypatch.setattr(trainer, "effective_rank", lambda z: 1.0)  # as if all latents coincide
    train(tiny(store, steps=2), tmp_path / "run", progress=False)
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["collapse"] is True and rows[-1]["effective_rank"] == 1.0


@pytest.mark.parametrize(
    ("device", "message"),
    [("tpu", "--device must be cpu, cuda, cuda:N or auto"), ("cuda:7", "cuda:7")],
)
def test_bad_device_is_refused_before_anything_is_written(store, tmp_path, device, message):
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the GPU asked for")
    with pytest.raises(AmiError, match=message):
        train(tiny(store), tmp_path / "run", progress=False, device=device)
    assert not (tmp_path / "run").exists()


def test_auto_device_trains_here(store, tmp_path):
    r = train(tiny(store, steps=2), tmp_path / "run", progress=False, device="auto")
    assert r.step == 2


def test_a_run_cut_by_the_clock_ends_annealed(store, tmp_path):
    """With a time budget far shorter than its steps, the cosine schedule follows the clock:
    the learning rate falls from the peak to about 10% of it by the time the run stops."""
    from amiwm.training.loop import lr_at

    assert lr_at(500, 1000, 1.0, 10) > 0.5 and lr_at(500, 1000, 1.0, 10, spent=1.0) == 0.1
    assert lr_at(5, 1000, 1.0, 10, spent=1.0) == 0.6  # warm-up is by steps
    cfg = tiny(store, steps=100_000, checkpoint_every=100_000, log_every=1, warmup_steps=1)
    result = train(cfg, tmp_path / "cut", progress=False, max_seconds=6.0)
    rows = [json.loads(r) for r in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert 3 <= result.step < 100_000
    lrs = [r["lr"] for r in rows]
    assert lrs[1] > 0.8 * cfg.train.lr and lrs[-1] < 0.2 * cfg.train.lr, lrs
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:], strict=False))
