"""`ami-cli train --nproc 2` (torchrun + DDP, gloo on CPU) against one process: the same run.

--batch-size is the global batch, so 2 processes x 4 windows must give the losses and weights
of 1 process x 8 (to float rounding), through global BatchNorm, SIGReg and VICReg statistics
and the within-window variance term;
a run stopped by its time limit and resumed on 2 processes is bit-identical to an
uninterrupted one; errors are one line, not one per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from amiwm.config import RunConfig
from amiwm.data.store import EpisodeStore
from amiwm.models.world_model import WorldModel

STEPS = 8


def config(tmp: Path, store: Path, regularizer: str) -> Path:
    cfg = RunConfig(dataset=str(store))
    m, t = cfg.model, cfg.train
    m.latent_dim, m.encoder_width, m.predictor_dim, m.predictor_depth = 16, 8, 32, 1
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.log_every = STEPS, 8, 3, 4, 1
    t.sigreg_projections, t.warmup_steps, t.regularizer = 32, 2, regularizer
    t.motion_weight = 1.0 if regularizer == "vicreg" else 0.0  # its std pools ranks too
    path = tmp / f"{regularizer}.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def train(cfg: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "amiwm.cli", "train", "--config", str(cfg), "--out", str(out)]
    cmd += ["--device", "cpu", "--quiet", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)


def ok(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, r.stdout + r.stderr


def rows(out: Path) -> list[dict]:
    return [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]


def weights(out: Path, name: str = "model") -> dict[str, torch.Tensor]:
    return load_file(out / "checkpoint" / f"{name}.safetensors")


def data_of(run: Path) -> Path:
    return Path(json.loads((run / "config.json").read_text())["dataset"])


def same_model(a: Path, b: Path) -> None:
    """The predictor's weights equal to float rounding, and the latents the two encoders give.

    Encoder weights are not compared one by one: a bias feeding a BatchNorm, or the mean of a
    GroupNorm group's filters, has an exact gradient of 0, so Adam turns rounding noise into
    lr-sized steps of either sign there; the normalisation cancels them, the latents do not.
    """
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in (k for k in wa if k.startswith("predictor.")):
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-4, atol=1e-5, msg=k)
    ma = WorldModel.from_pretrained(a / "checkpoint")
    mb = WorldModel.from_pretrained(b / "checkpoint")
    with EpisodeStore(data_of(a)) as store:
        obs = store.read(0, store.num_steps)["observations"]
    with torch.no_grad():
        torch.testing.assert_close(mb.encode(obs), ma.encode(obs), rtol=1e-3, atol=1e-3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, store_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ddp-train")
    store = store_factory(tmp / "data.h5", episodes=8, length=12)
    out = {}
    for reg in ("sigreg", "vicreg"):
        cfg = config(tmp, store, reg)
        out[reg], out[f"{reg}2"] = tmp / reg, tmp / f"{reg}2"
        ok(train(cfg, out[reg]))
        ok(train(cfg, out[f"{reg}2"], "--nproc", "2"))
        out[f"{reg}.yaml"] = cfg
    return out


@pytest.mark.parametrize("reg", ["sigreg", "vicreg"])
def test_two_processes_train_like_one(runs, reg):
    one, two = rows(runs[reg]), rows(runs[f"{reg}2"])
    assert [r["step"] for r in two] == list(range(1, STEPS + 1))  # rank 0 logs, once per step
    for a, b in zip(one, two, strict=True):
        for k in ("loss", "pred", "rollout", "reg", "motion", "latent_std"):
            assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-5), (a["step"], k)
    same_model(runs[reg], runs[f"{reg}2"])
    # the steps did move the weights: the comparison is not between two initialisations
    first = rows(runs[reg])[0]["loss"]
    assert abs(one[-1]["loss"] - first) > 1e-3


def test_time_limit_then_resume_on_two_processes_is_bit_identical(runs, tmp_path):
    cfg, out = runs["vicreg.yaml"], tmp_path / "stopped"
    ok(train(cfg, out, "--nproc", "2", "--max-minutes", "1e-6"))  # stops after one step
    stopped_at = json.loads((out / "checkpoint" / "state.json").read_text())["step"]
    assert 1 <= stopped_at < STEPS
    ok(train(cfg, out, "--nproc", "2", "--resume"))
    full = runs["vicreg2"]
    for name in ("model", "optimizer"):
        a, b = weights(full, name), weights(out, name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert [r["step"] for r in rows(out)] == list(range(1, STEPS + 1))


def test_two_process_checkpoint_resumes_on_one_process(runs, tmp_path):
    cfg, out = runs["sigreg.yaml"], tmp_path / "moved"
    ok(train(cfg, out, "--nproc", "2", "--max-minutes", "1e-6"))
    ok(train(cfg, out, "--resume"))
    same_model(runs["sigreg"], out)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--batch-size", "7"], "multiple of the 2 processes"),
        (["--dataset", "missing.h5"], "missing.h5"),
    ],
)
def test_errors_are_one_line_from_all_processes(runs, tmp_path, flags, message):
    out = tmp_path / "bad"
    r = train(runs["vicreg.yaml"], out, "--nproc", "2", *flags)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()  # nothing written


def test_bad_nproc_is_refused(runs, tmp_path):
    r = train(runs["vicreg.yaml"], tmp_path / "x", "--nproc", "0")
    assert r.returncode == 1 and "--nproc must be >= 1" in r.stderr


def test_bad_device_with_nproc_is_refused_before_launching(runs, tmp_path):
    r = train(runs["vicreg.yaml"], tmp_path / "x", "--nproc", "2", "--device=tpu")
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: --device must be cpu, cuda, cuda:N or auto, got 'tpu'"], r.stderr
    assert not (tmp_path / "x").exists()
