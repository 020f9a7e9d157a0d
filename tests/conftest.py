"""Fixtures shared by every test package: tiny episode stores."""

from pathlib import Path

import numpy as np
import pytest

from amiwm.data.store import EpisodeWriter


def make_store(
    path: Path,
    episodes: int = 6,
    length: int = 12,
    size: int = 32,
    actions: bool = True,
    nan_row: int | None = None,
) -> Path:
    """A tiny frames store: a bright square that moves by the action each step (with its
    position as the state); each episode's last action is padding (zero)."""
    rng = np.random.default_rng(0)
    margin, clip, half = size // 4, size // 8, max(1, size // 16)
    with EpisodeWriter(
        path,
        obs_shape=(size, size, 3),
        obs_dtype=np.uint8,
        action_dim=2 if actions else None,
        state_dim=2,
        attrs={"env_id": "synthetic"},
    ) as w:
        for _ in range(episodes):
            pos = rng.uniform(margin, size - margin, 2)
            obs, act, st = [], [], []
            for _t in range(length):
                frame = np.zeros((size, size, 3), np.uint8)
                x, y = pos.astype(int)
                frame[y - half : y + half, x - half : x + half, 0] = 255
                a = rng.uniform(-1, 1, 2).astype(np.float32)
                obs.append(frame)
                act.append(a)
                st.append(pos.astype(np.float32).copy())
                pos = np.clip(pos + a, clip, size - clip)
            act[-1] = np.zeros(2, np.float32)
            a_arr = np.stack(act)
            if nan_row is not None:
                a_arr[nan_row] = np.nan
                nan_row = None
            w.add_episode(np.stack(obs), a_arr if actions else None, np.stack(st))
    return path


@pytest.fixture
def store(tmp_path) -> Path:
    return make_store(tmp_path / "tiny.h5")


@pytest.fixture(scope="session")
def store_factory():
    return make_store
