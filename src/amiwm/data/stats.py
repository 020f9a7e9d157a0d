"""Data statistics, computed once per store: the shapes, names, normalisation statistics and
action bounds a world model takes from its training data (`data_stats`), and the streaming
per-column moments behind them and behind ``ami-cli data inspect``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from amiwm.errors import AmiError

if TYPE_CHECKING:
    from amiwm.data.store import EpisodeStore


@dataclass
class Moments:
    """Per-column count, mean, population std, min and max of rows (N, D), in float64."""

    count: int
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def of(cls, blocks: Iterable[np.ndarray], dim: int | tuple[int, ...]) -> Moments:
        """Moments of the rows of every block, merged block by block (Chan et al.), so a store
        larger than memory is read once."""
        n, mean, m2 = 0, np.zeros(dim), np.zeros(dim)
        lo, hi = np.full(dim, np.inf), np.full(dim, -np.inf)
        for block in blocks:
            x = np.asarray(block, np.float64)
            k = len(x)
            if not k:
                continue
            bm = x.mean(0)
            delta = bm - mean
            total = n + k
            mean = mean + delta * (k / total)
            m2 = m2 + ((x - bm) ** 2).sum(0) + delta**2 * (n * k / total)
            n = total
            lo, hi = np.minimum(lo, x.min(0)), np.maximum(hi, x.max(0))
        return cls(n, mean, np.sqrt(m2 / max(n, 1)), lo, hi)


def observation_moments(store: EpisodeStore) -> Moments:
    """Moments of every observation row (sensor stores; frames are normalised by the encoder)."""
    blocks = (
        store.read(s, min(store.num_steps, s + 65536))["observations"]
        for s in range(0, store.num_steps, 65536)
    )
    return Moments.of(blocks, tuple(int(d) for d in store.obs_shape))


def action_moments(store: EpisodeStore) -> Moments | None:
    """Moments of the real actions (each episode's last row is padding), None without any."""
    if not store.has_actions:
        return None
    starts, lengths = store.episode_starts, store.episode_lengths
    blocks = (
        store.read(int(s), int(s + n - 1))["actions"]
        for s, n in zip(starts, lengths, strict=True)
        if n > 1
    )
    m = Moments.of(blocks, store.action_dim)
    return m if m.count else None


def state_moments(store: EpisodeStore) -> Moments | None:
    """Moments of every robot-state row (``/states``), None when the store has none."""
    if not store.has_states:
        return None
    dset = store.dataset("states")  # not store.read: that would decode the frames too
    blocks = (dset[s : s + 65536] for s in range(0, store.num_steps, 65536))
    return Moments.of(blocks, store.state_dim)


def data_stats(store: EpisodeStore, context: int, states: bool = False) -> dict[str, Any]:
    """The ModelConfig fields that come from data: modality, obs_shape (sensors: ``[context, D]``
    windows), action_dim, action mean/std/low/high, sensor mean/std, channel and action names,
    and for an imported robot corpus the camera's frame shape and the resize policy; with
    ``states`` (a model that takes the robot state too) state_dim and the state's mean/std
    (std floored like an action's: a joint that never moves must not blow up).

    Sensor statistics are global over every row (per-window normalisation would erase the slow
    drift that carries remaining life); an action std is floored at 1e-3 of its magnitude (a
    constant action such as C-MAPSS setting3 must not blow up a slightly different value).
    Action bounds come from the store's action space, else the observed range; the observed
    range is kept apart too (``action_seen_low/high``: where planners search).
    """
    shape = [int(s) for s in store.obs_shape]
    out: dict[str, Any] = {"modality": store.modality, "obs_shape": shape}
    acts = action_moments(store)
    dim = store.action_dim if store.has_actions else 0
    out["action_dim"] = dim
    if acts is None:
        out.update(action_mean=[0.0], action_std=[1.0])
    else:
        floor = 1e-3 * np.maximum(np.abs(acts.mean), 1.0)
        out.update(action_mean=acts.mean.tolist(), action_std=np.maximum(acts.std, floor).tolist())
    out["action_low"], out["action_high"] = _bounds(store, dim, acts)
    if acts is not None and dim:
        out["action_seen_low"], out["action_seen_high"] = acts.min.tolist(), acts.max.tolist()
    if store.modality == "frames" and store.attrs.get("camera_shape"):  # an imported corpus
        out["camera_shape"] = [int(v) for v in store.attrs["camera_shape"]]
        out["resize"] = str(store.attrs.get("resize", "crop"))
    if store.modality == "sensors":
        if len(shape) != 1:
            raise AmiError(f"{store.path}: sensor observations must be rows (N, D)")
        obs = observation_moments(store)
        d = shape[0]
        out["obs_shape"] = [context, d] if context > 1 else [d]
        out["obs_mean"] = obs.mean.tolist()
        out["obs_std"] = np.maximum(obs.std, 1e-6).tolist()
        names = store.attrs.get("channels")
        out["channels"] = [str(c) for c in names] if names else [f"s{i}" for i in range(d)]
        names = store.attrs.get("action_names")
        out["action_names"] = [str(c) for c in names] if names else []
    if states:
        st = state_moments(store)
        if st is None or not st.count:
            raise AmiError(f"{store.path} has no robot state (/states) to take as an input")
        floor = 1e-3 * np.maximum(np.abs(st.mean), 1.0)
        out["state_dim"] = int(store.state_dim)
        out["state_mean"] = st.mean.tolist()
        out["state_std"] = np.maximum(st.std, floor).tolist()
    return out


def _bounds(store: EpisodeStore, dim: int, acts: Moments | None) -> tuple[list, list]:
    """Bounds from the store's action space when finite; else the observed range."""
    if not dim:
        return [], []
    space = store.attrs.get("action_space")
    if isinstance(space, dict) and "low" in space and "high" in space:
        low = np.broadcast_to(np.asarray(space["low"], dtype=np.float64), (dim,))
        high = np.broadcast_to(np.asarray(space["high"], dtype=np.float64), (dim,))
        if np.isfinite(low).all() and np.isfinite(high).all():
            return low.tolist(), high.tolist()
    if acts is None:
        return [-1.0] * dim, [1.0] * dim
    return acts.min.tolist(), acts.max.tolist()
