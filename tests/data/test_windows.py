"""Window dataset: windows stay inside episodes, batched reads equal item reads, splits."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import amiwm.data.windows as windows
from amiwm.data.store import EpisodeWriter
from amiwm.data.windows import WindowDataset, split_episodes
from amiwm.errors import AmiError

LENGTHS = [3, 10, 1, 7, 4, 12]


def tagged_store(path: Path, lengths: list[int] = LENGTHS, actions: bool = True) -> Path:
    """Frames/actions/states tagged with (episode, step) so every row says where it came from."""
    dims = {"action_dim": 2 if actions else None, "state_dim": 2}
    with EpisodeWriter(path, obs_shape=(4, 4, 3), obs_dtype=np.uint8, **dims) as w:
        for e, length in enumerate(lengths):
            steps = np.arange(length)
            obs = np.zeros((length, 4, 4, 3), np.uint8)
            obs[:, :, :, 0] = e
            obs[:, :, :, 1] = steps[:, None, None]
            tags = np.stack([np.full(length, e), steps], 1).astype(np.float32)
            w.add_episode(obs, tags[:-1] + 0.5 if actions else None, tags)
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tagged_store(tmp_path / "tagged.h5")


@pytest.mark.parametrize(("length", "stride"), [(1, 1), (3, 1), (4, 2), (7, 3), (12, 1)])
def test_windows_stay_inside_one_episode(store: Path, length: int, stride: int) -> None:
    ds = WindowDataset(store, length, stride=stride, with_states=True)
    expected = [(e, t) for e, n in enumerate(LENGTHS) for t in range(0, n - length + 1, stride)]
    assert len(ds) == len(expected)
    for i, (e, t) in enumerate(expected):
        item = ds[i]
        obs, act, st = item["obs"], item["actions"], item["states"]
        assert obs.shape == (length, 4, 4, 3) and obs.dtype == torch.uint8
        assert act.shape == (length - 1, 2) and act.dtype == torch.float32
        assert (obs[..., 0] == e).all()
        assert obs[:, 0, 0, 1].tolist() == list(range(t, t + length))
        assert st[:, 0].tolist() == [e] * length and st[:, 1].tolist() == list(range(t, t + length))
        # actions come from the same episode, step k -> k + 1, never the padding row
        assert act[:, 0].tolist() == [e + 0.5] * (length - 1)
        assert act[:, 1].tolist() == [k + 0.5 for k in range(t, t + length - 1)]


def test_episode_subset(store: Path) -> None:
    ds = WindowDataset(store, 3, episodes=[5, 1])
    seen = {int(ds[i]["obs"][0, 0, 0, 0]) for i in range(len(ds))}
    assert seen == {1, 5} and len(ds) == (10 - 2) + (12 - 2)
    assert "states" not in ds[0]
    with pytest.raises(AmiError, match="out of range"):
        WindowDataset(store, 3, episodes=[6])
    assert len(WindowDataset(store, 13)) == 0 and len(WindowDataset(store, 2, episodes=[2])) == 0
    empty = WindowDataset(store, 4, episodes=[], with_states=True).get_batch([])
    assert {k: tuple(v.shape) for k, v in empty.items()} == {
        "obs": (0, 4, 4, 4, 3),
        "actions": (0, 3, 2),
        "states": (0, 4, 2),
    }
    with pytest.raises(AmiError, match="window length"):
        WindowDataset(store, 0)


@pytest.mark.parametrize("preload", [True, False])
def test_get_batch_equals_getitem(
    store: Path, preload: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not preload:  # force actions/states to be read from HDF5 too
        monkeypatch.setattr(windows, "PRELOAD_BYTES", 0)
    ds = WindowDataset(store, 3, with_states=True)
    rng = np.random.default_rng(0)
    for indices in ([0], [4, 3, 2, 1, 0], [5, 5, -1, 0, 7], rng.integers(0, len(ds), 40)):
        batch = ds.get_batch(indices)
        assert set(batch) == {"obs", "actions", "states"}
        for key, value in batch.items():
            expected = torch.stack([ds[int(i)][key] for i in indices])
            assert value.dtype == expected.dtype
            torch.testing.assert_close(value, expected, rtol=0, atol=0)
    with pytest.raises(IndexError):
        ds.get_batch([len(ds)])
    with pytest.raises(IndexError):
        ds[-len(ds) - 1]


def test_store_without_actions(tmp_path: Path) -> None:
    ds = WindowDataset(tagged_store(tmp_path / "na.h5", actions=False), 2)
    assert set(ds[0]) == {"obs"} and set(ds.get_batch([0, 1])) == {"obs"}


def test_sensor_windows(tmp_path: Path) -> None:
    path = tmp_path / "v.h5"
    with EpisodeWriter(path, obs_shape=(3,), obs_dtype=np.float32, action_dim=1) as w:
        w.add_episode(np.arange(15, dtype=np.float32).reshape(5, 3), np.zeros((4, 1)))
    ds = WindowDataset(path, 2)
    assert ds[1]["obs"].dtype == torch.float32
    assert ds.get_batch([3, 0])["obs"][0].tolist() == [[9, 10, 11], [12, 13, 14]]
    with pytest.raises(AmiError, match="no /states"):
        WindowDataset(path, 2, with_states=True)


def test_pickle_and_dataloader_workers(store: Path) -> None:
    ds = WindowDataset(store, 2)
    clone = pickle.loads(pickle.dumps(ds))
    torch.testing.assert_close(clone[7]["obs"], ds[7]["obs"], rtol=0, atol=0)
    loader = DataLoader(ds, batch_size=8, num_workers=2, shuffle=False)
    obs = torch.cat([b["obs"] for b in loader])
    torch.testing.assert_close(obs, ds.get_batch(range(len(ds)))["obs"], rtol=0, atol=0)


def test_split_episodes() -> None:
    train, val = split_episodes(20, 0.25, seed=1)
    assert len(val) == 5 and sorted(train + val) == list(range(20))
    assert not set(train) & set(val)
    assert split_episodes(20, 0.25, seed=1) == (train, val)
    assert split_episodes(20, 0.25, seed=2) != (train, val)
    for n, frac in ((2, 0.01), (2, 0.99), (3, 0.9), (5, 0.05)):
        tr, va = split_episodes(n, frac, seed=0)
        assert len(tr) >= 1 and len(va) >= 1 and sorted(tr + va) == list(range(n))
    assert split_episodes(1, 0.5, seed=0) == ([0], [])
    assert split_episodes(4, 0.0, seed=0) == ([0, 1, 2, 3], [])
    for bad in (-0.1, 1.0):
        with pytest.raises(AmiError, match="val_fraction"):
            split_episodes(4, bad, seed=0)
