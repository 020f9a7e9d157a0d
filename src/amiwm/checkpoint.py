"""Checkpoint directories: JSON + safetensors only (never pickle), written atomically, checksummed.

A checkpoint is a directory holding config.json, model.safetensors, optional extra tensor files
(optimizer state, EMA weights), an optional state.json, and manifest.json with the SHA-256 of
every file. It is written to a temporary sibling directory and renamed into place, so a crash
leaves either the old or the new checkpoint, never a mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from amiwm.config import ModelConfig, RunConfig
from amiwm.errors import AmiError

FORMAT = "amiwm-checkpoint"
VERSION = 1
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync(path: Path) -> None:
    """Flush a file or directory to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    path: Path,
    config: ModelConfig,
    weights: dict[str, torch.Tensor],
    *,
    run: dict[str, Any] | None = None,
    tensors: dict[str, dict[str, torch.Tensor]] | None = None,
    state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically; `tensors` maps file stem -> extra tensors."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    cfg = {"model": dataclasses.asdict(config), **(run or {})}
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in weights.items()}, tmp / "model.safetensors"
    )
    for stem, group in (tensors or {}).items():
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in group.items()},
            tmp / f"{stem}.safetensors",
        )
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")
    files = sorted(p.name for p in tmp.iterdir())
    for name in files:
        fsync(tmp / name)
    manifest = {"format": FORMAT, "version": VERSION, "files": {n: _sha256(tmp / n) for n in files}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    fsync(tmp / MANIFEST)
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def resolve(path: Path) -> Path:
    """A checkpoint dir, or a run dir holding `checkpoint/`; recovers from an interrupted swap."""
    path = Path(path)
    for candidate in (path, path / "checkpoint"):
        if (candidate / MANIFEST).is_file():
            return candidate
        olds = sorted(candidate.parent.glob(f".{candidate.name}.old-*"))
        if not candidate.exists() and olds and (olds[-1] / MANIFEST).is_file():
            return olds[-1]
    if not path.exists():
        raise AmiError(f"checkpoint not found: {path}")
    raise AmiError(f"{path} is not an amiwm checkpoint (no {MANIFEST}); pass a training --out dir")


def verify(path: Path) -> dict[str, Any]:
    """Check the manifest and every file's checksum; return the manifest."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
        assert manifest["format"] == FORMAT
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise AmiError(f"{path / MANIFEST} is corrupt; the checkpoint cannot be trusted") from None
    if manifest.get("version") != VERSION:
        raise AmiError(f"{path}: checkpoint format version {manifest.get('version')} unsupported")
    for name, digest in files.items():
        f = path / name
        if not f.is_file():
            raise AmiError(f"checkpoint {path} is missing {name}; it is incomplete")
        if _sha256(f) != digest:
            raise AmiError(f"checkpoint file {f} is corrupt or truncated (checksum mismatch)")
    return manifest


def load_checkpoint(path: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Verified (config, model weights) of a checkpoint or run directory."""
    ckpt = resolve(path)
    verify(ckpt)
    config = RunConfig.from_dict({"model": read_json(ckpt / "config.json").get("model", {})}).model
    return config, load_tensors(ckpt / "model.safetensors")


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError) as exc:
        raise AmiError(f"cannot read {path}: {exc}") from None


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AmiError(f"cannot read {path}: {exc}") from None
