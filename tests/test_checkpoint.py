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
