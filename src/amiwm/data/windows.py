"""Fixed-length training windows read lazily from an episode store."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch.utils.data import Dataset

from amiwm.data.store import EpisodeStore
from amiwm.errors import AmiError

PRELOAD_BYTES = 64 << 20  # actions/states smaller than this are kept in memory
_MERGE_GAP = 0  # merge only windows that overlap or touch (extra rows cost decoding)


class WindowDataset(Dataset):
    """Windows of ``length`` consecutive steps, each fully inside one episode.

    Item ``i`` is a dict: ``obs`` (length, *obs_shape) (uint8 frames stay uint8), ``actions``
    (length - 1, A) float32 when the store has actions, ``states`` (length, S) when
    ``with_states``. ``actions[k]`` is the action taken between ``obs[k]`` and ``obs[k + 1]``.
    Observations are always read from disk on demand; actions/states are kept in memory when
    they are small (< 64 MiB each). Safe to use in forked DataLoader workers. The dataset is
    empty when no selected episode has ``length`` steps.

    ``context > 1`` (sensor stores): each observation is the window of the ``context`` rows
    ending at that step, shape (context, D), the episode's first row repeated before its start.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        length: int,
        episodes: Sequence[int] | None = None,
        stride: int = 1,
        with_states: bool = False,
        context: int = 1,
    ) -> None:
        if length < 1:
            raise AmiError(f"window length must be >= 1, got {length}")
        if stride < 1:
            raise AmiError(f"window stride must be >= 1, got {stride}")
        if context < 1:
            raise AmiError(f"context must be >= 1, got {context}")
        self.store = store = EpisodeStore(path)
        if context > 1 and (store.modality != "sensors" or len(store.obs_shape) != 1):
            raise AmiError(f"{store.path}: a context of rows needs a sensor store (rows, D)")
        self.context = int(context)
        if with_states and not store.has_states:
            raise AmiError(f"{store.path} has no /states; collect with states or drop with_states")
        self.length = int(length)
        self.stride = int(stride)
        self.with_states = with_states
        n = store.num_episodes
        eps = list(range(n)) if episodes is None else [int(e) for e in episodes]
        bad = [e for e in eps if not 0 <= e < n]
        if bad:
            raise AmiError(f"episode id {bad[0]} out of range: {store.path} has {n} episodes")
        if len(set(eps)) != len(eps):
            raise AmiError("episode ids must be unique")
        self.episodes = eps
        starts, lengths = store.episode_starts, store.episode_lengths
        per_ep = [
            starts[e] + np.arange(0, lengths[e] - self.length + 1, self.stride, dtype=np.int64)
            for e in eps
        ]
        # may be empty (no episode long enough, or no episodes selected): callers check len()
        self._starts = np.concatenate(per_ep) if per_ep else np.zeros(0, np.int64)
        firsts = [np.full(len(w), starts[e], np.int64) for w, e in zip(per_ep, eps, strict=True)]
        self._first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
        names = ["observations"] + ["actions"] * store.has_actions + ["states"] * with_states
        self._keys = {"observations": "obs", "actions": "actions", "states": "states"}
        self._names = names
        self._memory: dict[str, np.ndarray] = {}
        for name in names[1 if context == 1 else 0 :]:
            dset = store.dataset(name)
            if dset.size * dset.dtype.itemsize <= PRELOAD_BYTES:
                self._memory[name] = dset[()]
        store.close()  # reopened lazily in whichever process reads

    def __len__(self) -> int:
        return int(self._starts.size)

    def _rows(self, name: str) -> int:
        return self.length - 1 if name == "actions" else self.length

    def _index(self, indices: Any) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise IndexError(f"window index {bad} out of range for {n} windows")
        return np.where(idx < 0, idx + n, idx)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.context > 1:
            return {k: v[0] for k, v in self.get_batch([i]).items()}
        start = int(self._starts[self._index([i])[0]])
        out = {}
        for name in self._names:
            src = self._memory.get(name)
            if src is None:
                src = self.store.dataset(name)
            out[self._keys[name]] = torch.from_numpy(src[start : start + self._rows(name)])
        return out

    def get_batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Stacked windows (B, ...) in the order of ``indices``; reads in file order."""
        index = self._index(indices)
        starts = self._starts[index]
        out = {}
        for name in self._names:
            if name == "observations" and self.context > 1:
                out["obs"] = torch.from_numpy(self._context_obs(starts, self._first[index]))
                continue
            rows = self._rows(name)
            src = self._memory.get(name)
            if src is None:
                src = self.store.dataset(name)
                arr = _gather_h5(src, starts, rows)
            else:
                arr = src[starts[:, None] + np.arange(rows)]
            out[self._keys[name]] = torch.from_numpy(arr)
        return out

    def _context_obs(self, starts: np.ndarray, firsts: np.ndarray) -> np.ndarray:
        c = self.context
        idx = np.maximum(starts[:, None] + np.arange(1 - c, self.length), firsts[:, None])
        src = self._memory.get("observations")
        if src is None:  # too large to keep: one sorted fancy read of the rows needed
            need, inverse = np.unique(idx, return_inverse=True)
            rows = self.store.dataset("observations")[need][inverse.reshape(idx.shape)]
        else:
            rows = src[idx]
        return np.ascontiguousarray(sliding_window_view(rows, c, axis=1).transpose(0, 1, 3, 2))


def context_windows(rows: np.ndarray, context: int) -> np.ndarray:
    """Rows (T, D) -> (T, context, D): the window ending at each row, the first row repeated
    before the start (as in training)."""
    rows = np.asarray(rows)
    pad = np.concatenate([np.repeat(rows[:1], context - 1, axis=0), rows])
    return np.ascontiguousarray(sliding_window_view(pad, context, axis=0).transpose(0, 2, 1))


def _gather_h5(dset: h5py.Dataset, starts: np.ndarray, rows: int) -> np.ndarray:
    """Read ``dset[s : s + rows]`` for every s: one read per group of nearby windows."""
    shape = dset.shape[1:]
    if starts.size == 0 or rows == 0:
        return np.zeros((starts.size, rows, *shape), dset.dtype)
    order = np.argsort(starts, kind="stable")
    s = starts[order]
    # windows all have the same length, so a new group starts where the gap gets too large
    new = np.concatenate([[True], s[1:] > s[:-1] + rows + _MERGE_GAP])
    group = np.cumsum(new) - 1
    g_start = s[new]
    g_stop = np.maximum.reduceat(s + rows, np.flatnonzero(new))
    sizes = g_stop - g_start
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    buf = np.empty((int(sizes.sum()), *shape), dset.dtype)
    for a, b, o in zip(g_start.tolist(), g_stop.tolist(), offsets.tolist(), strict=True):
        dset.read_direct(buf, np.s_[a:b], np.s_[o : o + b - a])
    pos = np.empty_like(starts)
    pos[order] = offsets[group] + (s - g_start[group])
    return buf[pos[:, None] + np.arange(rows)]


def split_episodes(
    num_episodes: int, val_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Deterministic random train/validation split of episode ids (both sorted).

    With ``num_episodes >= 2`` and ``val_fraction > 0`` each side gets at least one episode;
    ``val_fraction == 0`` puts everything in train.
    """
    if num_episodes < 1:
        raise AmiError(f"cannot split {num_episodes} episodes; the store needs at least one")
    if not 0.0 <= val_fraction < 1.0:
        raise AmiError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(num_episodes * val_fraction))
    if val_fraction > 0 and num_episodes >= 2:
        n_val = min(max(n_val, 1), num_episodes - 1)
    elif num_episodes < 2:
        n_val = 0
    perm = np.random.default_rng(seed).permutation(num_episodes)
    return sorted(perm[n_val:].tolist()), sorted(perm[:n_val].tolist())
