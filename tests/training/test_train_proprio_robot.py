"""`ami-cli train --proprio true` on a LeRobot corpus with observation.state."""

import numpy as np
import pytest
import torch

pytest.importorskip("av")
pytest.importorskip("pyarrow")

from amiwm.cli import main  # noqa: E402
from amiwm.data.formats.lerobot_write import LeRobotRecorder  # noqa: E402
from amiwm.models.world_model import WorldModel  # noqa: E402
from amiwm.planning import CEMPlanner  # noqa: E402
from amiwm.planning.agent import WorldModelAgent  # noqa: E402

CAM = "observation.images.top"


def corpus(root, state: bool, episodes: int = 3, t: int = 8):
    rec = LeRobotRecorder(root, 10, {CAM: (48, 64)}, 2, 3 if state else None, "v2.1")
    rng = np.random.default_rng(0)
    for e in range(episodes):
        f = rng.integers(0, 255, (t, 48, 64, 3), dtype=np.uint8)
        a = rng.uniform(-1, 1, (t, 2)).astype(np.float32)
        s = (rng.normal(size=(t, 3)) + e).astype(np.float32) if state else None
        rec.add_episode({CAM: f}, a, s)
    return rec.close()


def test_train_on_corpus_state_then_plan_from_camera_and_joints(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AMIWM_CACHE", str(tmp_path / "cache"))
    src = corpus(tmp_path / "ds", state=True)
    out = tmp_path / "run"
    flags = ["--steps", "2", "--batch-size", "4", "--frame-size", "32", "--quiet"]
    assert (
        main(["train", "--dataset", str(src), "--out", str(out), "--proprio", "true", *flags]) == 0
    )
    model = WorldModel.from_pretrained(out)
    assert model.config.proprio and model.config.state_dim == 3
    camera = np.zeros((48, 64, 3), np.uint8)  # as the camera delivers it: fitted by the model
    joints = np.array([0.1, -0.2, 0.3], np.float32)
    with torch.no_grad():
        assert model.encode(camera[None], joints[None]).shape == (1, model.config.latent_dim)
    agent = WorldModelAgent(model, CEMPlanner(16, 4, 2), horizon=2)
    d = agent.act({"pixels": camera, "state": joints}, {"pixels": camera, "state": -joints})
    assert d.action.shape == (2,)


def test_corpus_without_state_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AMIWM_CACHE", str(tmp_path / "cache"))
    src = corpus(tmp_path / "ds", state=False)
    out = tmp_path / "run"
    args = ["train", "--dataset", str(src), "--out", str(out), "--proprio", "true", "--quiet"]
    assert main([*args, "--steps", "1", "--frame-size", "32"]) != 0
    err = capsys.readouterr().err.strip()
    assert "no robot state" in err and "--proprio false" in err and len(err.splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())
