"""End-to-end CLI runs in a subprocess, as a user would type them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    return subprocess.run(
        [sys.executable, "-m", "amiwm.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    r = cli(
        "collect",
        "--env",
        "two-rooms",
        "--episodes",
        "4",
        "--steps",
        "20",
        "--out",
        "d.h5",
        "--seed",
        "1",
        "--quiet",
        cwd=d,
    )
    assert r.returncode == 0, r.stderr
    return d


def test_collect_inspect_train_end_to_end(workdir):
    r = cli("data", "inspect", "d.h5", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "4" in r.stdout and "amiwm/TwoRooms-v0" in r.stdout
    (workdir / "tiny.yaml").write_text(
        "model: {latent_dim: 16, encoder_width: 8, predictor_dim: 32, predictor_depth: 1,"
        " predictor_heads: 2}\ntrain: {window: 3, sigreg_projections: 32, checkpoint_every: 2}\n"
    )
    r = cli(
        "train",
        "--dataset",
        "d.h5",
        "--architecture",
        "jepa-world-model",
        "--latent-dim",
        "24",
        "--objective",
        "latent-state-prediction",
        "--action-conditioning",
        "true",
        "--precision",
        "fp32",
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--lr",
        "1e-3",
        "--seed",
        "0",
        "--out",
        "run",
        "--config",
        "tiny.yaml",
        "--quiet",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    cfg = json.loads((workdir / "run" / "checkpoint" / "config.json").read_text())
    assert cfg["model"]["latent_dim"] == 24  # flag overrides the file
    assert cfg["model"]["predictor_dim"] == 32  # file overrides the default
    assert cfg["train"]["steps"] == 3
    r = cli("train", "--out", "run", "--resume", "--steps", "5", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert json.loads((workdir / "run" / "checkpoint" / "state.json").read_text())["step"] == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "d.h5", "--architecture", "gpt"], "unknown --architecture 'gpt'"),
        (["train", "--dataset", "d.h5", "--objective", "pixels"], "unknown --objective"),
        (["train", "--dataset", "d.h5", "--precision", "fp8"], "unknown --precision"),
        (["train", "--dataset", "d.h5", "--action-conditioning", "maybe"], "true or false"),
        (["train", "--dataset", "missing.h5"], "not found"),
        (["train", "--dataset", "d.h5", "--bogus"], "unrecognized arguments: --bogus"),
        (["collect", "--env", "NoSuchEnv-v9", "--out", "x.h5"], "NoSuchEnv-v9"),
        (["data", "inspect", "missing.h5"], "not found"),
    ],
)
def test_bad_input_one_line_error(workdir, args, message):
    r = cli(*args, cwd=workdir)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr


def test_corrupt_dataset_is_refused(workdir):
    (workdir / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(2000))
    r = cli("train", "--dataset", "bad.h5", "--out", "badrun", cwd=workdir)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert not (workdir / "badrun").exists()


def test_collect_refuses_to_overwrite(workdir):
    before = (workdir / "d.h5").read_bytes()
    r = cli("collect", "--episodes", "1", "--steps", "5", "--out", "d.h5", cwd=workdir)
    assert r.returncode != 0
    assert (workdir / "d.h5").read_bytes() == before
