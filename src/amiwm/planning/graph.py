"""A graph of remembered latent states that hands far goals to the planner as near subgoals.

Nodes are latents of recorded frames. Edges join consecutive steps of the same episode (the
data proves them reachable) and pairs of latents closer than a small radius (the same place,
seen in two episodes). Flat planning with a straight-line latent cost walks into walls; the
shortest path on this graph goes around them, and the planner only ever chases a subgoal a few
steps ahead, where the straight line is right.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from amiwm.data.store import EpisodeStore
from amiwm.errors import AmiError
from amiwm.evaluation import encode_episodes
from amiwm.models.world_model import WorldModel

TREES = 32  # goals whose shortest-path trees are cached


class LatentGraph:
    """Latent nodes (N, D) with directed edges weighted in environment steps."""

    def __init__(
        self,
        latents: torch.Tensor,
        src: np.ndarray,
        dst: np.ndarray,
        weight: np.ndarray,
        steps_per_hop: int = 1,
    ) -> None:
        self.latents = latents.float().contiguous()
        self.steps_per_hop = steps_per_hop
        n = len(latents)
        self.matrix = coo_matrix((weight, (src, dst)), shape=(n, n)).tocsr()
        self._reversed = self.matrix.T.tocsr()  # Dijkstra from the goal gives distances to it
        self._sq = self.latents.square().sum(1)
        self._goal_node = -1
        self._dist: np.ndarray | None = None
        self._next: np.ndarray | None = None
        # shortest-path trees of the last TREES goals: a server planning for several robots
        # with different goals would otherwise rerun Dijkstra on every request
        self._trees: OrderedDict[bytes, tuple[int, np.ndarray, np.ndarray]] = OrderedDict()

    @property
    def num_nodes(self) -> int:
        return len(self.latents)

    @property
    def num_edges(self) -> int:
        return self.matrix.nnz

    @classmethod
    @torch.inference_mode()
    def from_store(
        cls,
        model: WorldModel,
        path: Path,
        episodes: Sequence[int] | None = None,
        every: int = 2,
        radius_scale: float = 0.35,
        batch: int = 512,
    ) -> LatentGraph:
        """Encode every `every`-th frame of `episodes`; link neighbours in time and in space.

        The spatial radius is `radius_scale` times the median latent distance of one hop.
        """
        with EpisodeStore(path) as store:
            eps = list(range(store.num_episodes) if episodes is None else episodes)
            lengths = store.episode_lengths[eps] if eps else np.zeros(0, np.int64)
        if not eps:
            raise AmiError(f"{path}: no frames to build a latent graph from")
        z = torch.from_numpy(encode_episodes(model, path, eps, batch=batch, every=every)[0])
        ep = np.repeat(np.arange(len(eps)), -(-lengths // every))  # frames kept per episode
        same = ep[1:] == ep[:-1]
        src_t = np.nonzero(same)[0]
        hop = (z[1:] - z[:-1]).norm(dim=1).numpy()[same]
        scale = float(np.median(hop)) if len(hop) else 1.0
        src_s, dst_s, d_s = _pairs_within(z, radius_scale * scale if len(hop) else 0.0)
        src = np.concatenate([src_t, src_t + 1, src_s])
        dst = np.concatenate([src_t + 1, src_t, dst_s])
        w = np.concatenate([np.ones(2 * len(src_t)), d_s / max(scale, 1e-9) + 1e-3])
        return cls(z, src, dst, w * every, steps_per_hop=every)

    def nearest(self, z: torch.Tensor) -> int:
        d = self._sq - 2 * self.latents @ z.float()
        return int(d.argmin())

    def _prepare(self, goal: torch.Tensor) -> int:
        """Shortest paths to the goal's node, computed once per goal (the last TREES kept)."""
        key = goal.float().numpy().tobytes()
        tree = self._trees.get(key)
        if tree is None:
            g = self.nearest(goal)
            dist, pred = dijkstra(self._reversed, indices=g, return_predecessors=True)
            tree = self._trees[key] = (g, dist, pred)
            if len(self._trees) > TREES:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(key)
        self._goal_node, self._dist, self._next = tree
        return self._goal_node

    def steps_to_goal(self, z: torch.Tensor, goal: torch.Tensor) -> float:
        """Shortest-path length (env steps) from the node nearest z to the node nearest goal."""
        self._prepare(goal)
        return float(self._dist[self.nearest(z)])

    def subgoal(self, z: torch.Tensor, goal: torch.Tensor, lookahead: int) -> torch.Tensor:
        """The latent `lookahead` steps along the shortest path from z to the goal (or the goal)."""
        g = self._prepare(goal)
        node = self.nearest(z)
        if not np.isfinite(self._dist[node]) or self._dist[node] <= lookahead:
            return goal
        target = self._dist[node] - lookahead
        while node != g and self._dist[node] > target:
            nxt = self._next[node]
            if nxt < 0:
                break
            node = int(nxt)
        return self.latents[node]

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        m = self.matrix.tocoo()
        save_file(
            {
                "latents": self.latents,
                "src": torch.from_numpy(m.row.astype(np.int64)),
                "dst": torch.from_numpy(m.col.astype(np.int64)),
                "weight": torch.from_numpy(m.data.astype(np.float64)),
                "steps_per_hop": torch.tensor(self.steps_per_hop),
            },
            str(path),
        )

    @classmethod
    def load(cls, path: Path) -> LatentGraph:
        from amiwm.checkpoint import load_tensors

        t = load_tensors(Path(path))
        return cls(
            t["latents"],
            t["src"].numpy(),
            t["dst"].numpy(),
            t["weight"].numpy(),
            int(t["steps_per_hop"]),
        )


def _pairs_within(
    z: torch.Tensor, radius: float, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs (i != j) with ||z_i - z_j|| < radius, computed in chunks."""
    sq = z.square().sum(1)
    src, dst, dist = [], [], []
    for a in range(0, len(z), chunk):
        d2 = sq[a : a + chunk, None] + sq[None] - 2 * z[a : a + chunk] @ z.T
        i, j = torch.nonzero(d2 < radius * radius, as_tuple=True)
        keep = (i + a) != j
        i, j = i[keep], j[keep]
        src.append((i + a).numpy())
        dst.append(j.numpy())
        dist.append(d2[i, j].clamp_min(0).sqrt().numpy())
    return np.concatenate(src), np.concatenate(dst), np.concatenate(dist)
