"""In-memory columns of a memory store: what `nearest`, `latents()` and the graph read.

Each segment's latents, squared norms and small fields are cached once (segments are
append-only), so a query touches no disk; full records are read from disk by id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Records:
    """Remembered transitions as arrays, one row per record."""

    id: np.ndarray  # (n,) int64, global and stable
    latent: np.ndarray  # (n, D) float32
    action: np.ndarray  # (n, A) float32
    next_latent: np.ndarray  # (n, D) float32
    episode: np.ndarray  # (n,) int64
    time: np.ndarray  # (n,) int64, step within the episode
    frame_ref: np.ndarray  # (n,) int64, caller-defined frame reference, -1 = none
    wall: np.ndarray  # (n,) float64, unix seconds when appended

    def __len__(self) -> int:
        return len(self.id)

    @classmethod
    def from_array(cls, rec: np.ndarray) -> Records:
        return cls(*(np.array(rec[f]) for f in cls.__dataclass_fields__))


class Block:
    """Cached columns of one segment: slots [0, n) read, `ok` marks those that verify."""

    def __init__(self, number: int, rows: int, dim: int) -> None:
        self.number = number
        self.n = 0
        self.latent = np.zeros((rows, dim), np.float32)
        self.sq = np.full(rows, np.inf, np.float32)  # squared norms; inf = not a valid record
        self.episode = np.zeros(rows, np.int64)
        self.time = np.zeros(rows, np.int64)
        self.wall = np.zeros(rows, np.float64)
        self.hop = np.zeros(rows, np.float32)  # ||next_latent - latent||
        self.ok = np.zeros(rows, bool)

    def add(self, rec: np.ndarray, ok: np.ndarray) -> None:
        s = slice(self.n, self.n + len(rec))
        self.latent[s] = np.where(ok[:, None], rec["latent"], 0)
        self.sq[s] = np.where(ok, np.square(self.latent[s]).sum(1), np.inf)
        self.episode[s], self.time[s], self.wall[s] = rec["episode"], rec["time"], rec["wall"]
        step = np.where(ok[:, None], rec["next_latent"] - rec["latent"], 0)
        self.hop[s] = np.sqrt(np.square(step).sum(1))
        self.ok[s] = ok
        self.n += len(rec)


def column(blocks: list[Block], name: str, per_segment: int, dim: int) -> np.ndarray:
    """One column ("id", "latent", "episode", ...) over the valid records of `blocks`."""
    if name == "id":
        parts = [b.number * per_segment + np.nonzero(b.ok[: b.n])[0] for b in blocks]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    parts = [getattr(b, name)[: b.n][b.ok[: b.n]] for b in blocks]
    return np.concatenate(parts) if parts else getattr(Block(0, 0, dim), name)


def candidates(
    blocks: list[Block], q: np.ndarray, k: int, per_segment: int
) -> tuple[np.ndarray, np.ndarray]:
    """Ids (Q, m) of the m = min(k, valid) records nearest each query and their latents.

    Ranked by the expanded float32 distance |z|^2 - 2 q.z, block by block; exact distances
    are the caller's job. Needs at least one valid record.
    """
    cand_id, cand_d = [], []
    for b in blocks:
        d2 = b.sq[: b.n][None] - 2 * (q @ b.latent[: b.n].T)  # (Q, n); |q|^2 left out
        kk = min(k, b.n)
        top = np.argpartition(d2, kk - 1, axis=1)[:, :kk]
        cand_id.append(top + b.number * per_segment)
        cand_d.append(np.take_along_axis(d2, top, 1))
    valid = int(sum(b.ok[: b.n].sum() for b in blocks))
    ids, d2 = np.concatenate(cand_id, 1), np.concatenate(cand_d, 1)
    kk = min(k, valid)  # invalid rows have d2 = inf and sort last
    top = np.argpartition(d2, kk - 1, axis=1)[:, :kk]
    ids = np.take_along_axis(ids, top, 1)
    by_number = {b.number: b for b in blocks}
    seg, slot = np.divmod(ids, per_segment)
    z = np.empty((*ids.shape, q.shape[1]), np.float32)
    for s in np.unique(seg):
        m = seg == s
        z[m] = by_number[int(s)].latent[slot[m]]
    return ids, z
