import json

import pytest
import torch

from amiwm.checkpoint import load_checkpoint, save_checkpoint
from amiwm.config import ModelConfig
from amiwm.errors import AmiError


def write(tmp_path):
    cfg = ModelConfig(latent_dim=8)
    path = save_checkpoint(tmp_path / "ck", cfg, {"w": torch.arange(1000.0)})
    return cfg, path


def test_roundtrip_and_manifest(tmp_path):
    cfg, path = write(tmp_path)
    loaded, weights = load_checkpoint(path)
    assert loaded == cfg
    assert torch.equal(weights["w"], torch.arange(1000.0))
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"config.json", "model.safetensors"}
    assert not list(tmp_path.glob(".ck.*"))  # no temporary leftovers


def test_truncated_weights_are_refused(tmp_path):
    _, path = write(tmp_path)
    f = path / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(AmiError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_flipped_byte_is_refused(tmp_path):
    _, path = write(tmp_path)
    f = path / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[-10] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(AmiError, match="checksum"):
        load_checkpoint(path)


def test_missing_and_foreign_dirs(tmp_path):
    with pytest.raises(AmiError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "other").mkdir()
    with pytest.raises(AmiError, match="not an amiwm checkpoint"):
        load_checkpoint(tmp_path / "other")


def test_overwrite_is_atomic_swap(tmp_path):
    cfg, path = write(tmp_path)
    save_checkpoint(path, cfg, {"w": torch.zeros(3)})
    _, weights = load_checkpoint(path)
    assert torch.equal(weights["w"], torch.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_interrupted_swap_recovers_previous(tmp_path):
    _, path = write(tmp_path)
    path.rename(tmp_path / ".ck.old-123")  # crash after moving the old one aside
    _, weights = load_checkpoint(path)
    assert torch.equal(weights["w"], torch.arange(1000.0))


def test_a_checkpoint_of_version_0_1_0_still_loads_and_computes_the_same():
    """A checkpoint written by amiwm 0.1.0 (before the restructuring): same latents, same
    imagined next latent, to float rounding."""
    import json
    from pathlib import Path

    import numpy as np
    import torch

    from amiwm.models.world_model import WorldModel

    fixture = Path(__file__).parent / "fixtures" / "checkpoint-v0.1.0"
    expected = json.loads((fixture / "expected.json").read_text())
    model = WorldModel.from_pretrained(fixture)
    assert model.config.encoder == "conv" and model.config.action_mean == [0.1, -0.1]
    obs = np.asarray(expected["obs"], np.uint8)
    with torch.no_grad():
        z = model.encode(obs)
        nxt = model.rollout_latents(z[:1, None], np.asarray(expected["actions"], np.float32))
    np.testing.assert_allclose(z.numpy(), expected["latents"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nxt.numpy(), expected["next"], rtol=1e-5, atol=1e-6)
