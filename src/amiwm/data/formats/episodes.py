"""What every robot-corpus reader yields: episodes of frames, actions and optional state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.errors import AmiError


@dataclass
class Episode:
    """One episode: ``frames()`` yields uint8 (n, H, W[, C]) chunks; arrays are (T, dim)."""

    name: str  # for messages: "episode 3 (videos/.../episode_000003.mp4)"
    frames: Callable[[], Iterator[np.ndarray]]
    actions: np.ndarray | None
    state: np.ndarray | None = None
    length: int | None = None  # frames promised by the metadata, when it says


@dataclass
class Camera:
    """One camera stream of a corpus (size and codec as far as the metadata or a probe tell)."""

    key: str
    height: int | None = None
    width: int | None = None
    channels: int | None = None
    codec: str | None = None  # "h264", "av1", ... or "png"/"raw" for images and arrays

    def describe(self) -> str:
        size = f"{self.width}x{self.height}" if self.height and self.width else "size unknown"
        chans = f"x{self.channels}" if self.channels else ""
        return f"{self.key}: {size}{chans} {self.codec or ''}".rstrip()


@dataclass
class Corpus:
    """A corpus found on disk, ready to describe or to read episode by episode."""

    layout: str  # "lerobot", "videos", "images", "hdf5", "npz"
    version: str  # "v2.1", "v3.0", or "" when the layout has none
    root: Path
    cameras: list[Camera]
    camera: str  # the chosen camera key
    num_episodes: int
    num_frames: int | None
    fps: float | None
    action_dim: int | None
    state_dim: int | None
    read: Callable[[], Iterator[Episode]]
    files: Callable[[], list[Path]]  # every file the import reads (for the content key)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.root),
            "layout": self.layout,
            "version": self.version,
            "episodes": self.num_episodes,
            "frames": self.num_frames,
            "fps": self.fps,
            "cameras": [vars(c) for c in self.cameras],
            "camera": self.camera,
            "action_dim": self.action_dim,
            "state_dim": self.state_dim,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def pick_camera(cameras: list[Camera], wanted: str | None, where: str) -> tuple[str, list[str]]:
    """The camera key ``wanted`` names (full key or its last dotted part), else the first."""
    if not cameras:
        raise AmiError(f"{where}: no camera (video or image feature) found")
    keys = [c.key for c in cameras]
    if wanted is None:
        note = f"camera {keys[0]} (of {', '.join(keys)}; pick another with --camera)"
        return keys[0], [note] if len(keys) > 1 else []
    for k in keys:
        if wanted in (k, k.rsplit(".", 1)[-1]):
            return k, []
    raise AmiError(f"{where}: no camera {wanted!r}; cameras: {', '.join(keys)}")


def as_matrix(values: Any, what: str) -> np.ndarray:
    """A (T, dim) float32 array from (T,) or (T, dim) values; an AmiError otherwise."""
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise AmiError(f"{what}: values are not numeric (dtype {arr.dtype})")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise AmiError(f"{what}: expected one vector per frame (T, dim), got shape {arr.shape}")
    return arr.astype(np.float32)
