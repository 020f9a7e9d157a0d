"""Maze-v0: the two-rooms point agent in a grid of rooms joined by doors (long-horizon goals).

Same rendering and physics as :class:`~amiwm.envs.two_rooms.TwoRoomsEnv` (walls are rectangles,
the agent is a red blob, moves stop at wall faces). The arena is split into ``rooms x rooms``
rooms by walls of ``wall_thickness``; ``layout_seed`` picks which walls get a door (a random
spanning tree of the rooms, so every room is reachable, plus ``extra_doors`` loops) and where
each door sits along its wall. ``reset`` puts the goal at least ``min_goal_steps`` maximum-length
steps away along the shortest free path. Shortest paths bend only at door jambs, so
:meth:`MazeEnv.geodesic_distance` is exact up to ``_EPS`` on a visibility graph of jamb corners.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from scipy.sparse.csgraph import shortest_path

from amiwm.envs.two_rooms import Rect, TwoRoomsEnv
from amiwm.errors import AmiError

_EPS = 0.01  # offset (px) of visibility-graph nodes from the jamb corners, into free space
Door = tuple[int, int, str, float]  # room a, room b (a < b), wall "v" (x = const) or "h", centre


def segments_free(p: np.ndarray, q: np.ndarray, walls: tuple[Rect, ...]) -> np.ndarray:
    """For segments p[i] -> q[i] (M, 2): True where the segment touches no closed wall rect."""
    r = np.asarray(walls, dtype=float)  # (R, 4)
    d = q - p
    t0 = np.zeros((len(p), len(r)))
    t1 = np.ones((len(p), len(r)))
    hit = np.ones((len(p), len(r)), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in (0, 1):
            lo, hi = r[None, :, k], r[None, :, k + 2]
            pk, dk = p[:, k : k + 1], d[:, k : k + 1]
            a, b = (lo - pk) / dk, (hi - pk) / dk
            still = dk == 0.0
            hit &= ~still | ((pk >= lo) & (pk <= hi))
            t0 = np.where(still, t0, np.maximum(t0, np.minimum(a, b)))
            t1 = np.where(still, t1, np.minimum(t1, np.maximum(a, b)))
    return ~(hit & (t0 <= t1)).any(1)


class MazeEnv(TwoRoomsEnv):
    """A ``rooms x rooms`` grid of rooms; doors chosen by ``layout_seed``; far goals.

    Defaults (64 px, 3x3 rooms, steps of at most 0.7 px) make goals >= 100 steps away common.
    """

    def __init__(
        self,
        size: int = 64,
        rooms: int = 3,
        layout_seed: int = 0,
        extra_doors: int = 0,
        door_size: float = 6.0,
        max_step_norm: float = 0.7,
        min_goal_steps: float = 100.0,
        max_steps: int = 400,
        wall_thickness: int = 2,
        goal_radius: float = 1.5,
        blob_sigma: float = 1.2,
        render_mode: str | None = None,
    ) -> None:
        if rooms < 1 or extra_doors < 0 or min_goal_steps < 0:
            raise AmiError("maze needs rooms >= 1, extra_doors >= 0 and min_goal_steps >= 0")
        cell = size / rooms
        if cell - wall_thickness < door_size + 4 or door_size <= 0:
            raise AmiError(
                f"rooms of {cell - wall_thickness:.1f} px cannot hold doors of {door_size} px; "
                "use a larger size, fewer rooms or smaller doors"
            )
        self.n_rooms, self.layout_seed, self.extra_doors = rooms, layout_seed, extra_doors
        self.min_goal_steps = float(min_goal_steps)
        self.doors: list[Door] = []
        super().__init__(
            size=size,
            max_steps=max_steps,
            wall_thickness=wall_thickness,
            door_y=size / 2,
            door_size=door_size,
            max_step_norm=max_step_norm,
            goal_radius=goal_radius,
            blob_sigma=blob_sigma,
            render_mode=render_mode,
        )
        self._nodes = self._jamb_nodes()
        n = len(self._nodes)
        i, j = np.triu_indices(n, 1)
        ok = segments_free(self._nodes[i], self._nodes[j], self.walls)
        w = np.zeros((n, n))
        w[i[ok], j[ok]] = np.linalg.norm(self._nodes[i[ok]] - self._nodes[j[ok]], axis=1)
        self._node_dist = shortest_path(np.maximum(w, w.T), directed=False) if n else w
        if self.min_goal_steps > 0 and self._longest() < self.min_goal_steps * max_step_norm:
            raise AmiError(
                f"layout_seed={layout_seed}: no two points are {min_goal_steps} steps apart; "
                "lower min_goal_steps or max_step_norm"
            )

    # ------------------------------------------------------------------ layout
    def _bounds(self, i: int) -> tuple[float, float]:
        """Free extent of room row/column i along one axis."""
        s, t, n = float(self.size), float(self.wall_thickness), self.n_rooms
        lo = t if i == 0 else i * s / n + t / 2
        hi = s - t if i == n - 1 else (i + 1) * s / n - t / 2
        return lo, hi

    def _pick_doors(self) -> list[Door]:
        """A random spanning tree of the room grid (+ extra edges); door centres along walls."""
        n = self.n_rooms
        rng = np.random.default_rng(self.layout_seed)
        edges = [(r * n + c, r * n + c + 1, "v") for r in range(n) for c in range(n - 1)]
        edges += [(r * n + c, (r + 1) * n + c, "h") for r in range(n - 1) for c in range(n)]
        order = rng.permutation(len(edges))
        parent = list(range(n * n))

        def root(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        chosen, spare = [], []
        for k in order:  # Kruskal with random order: a uniform-ish random spanning tree
            a, b, kind = edges[k]
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb
                chosen.append((a, b, kind))
            else:
                spare.append((a, b, kind))
        chosen += spare[: self.extra_doors]
        half = self.door_size / 2
        doors = []
        for a, b, kind in chosen:
            r, c = divmod(a, n)
            lo, hi = self._bounds(r if kind == "v" else c)
            doors.append((a, b, kind, float(rng.uniform(lo + half + 1.0, hi - half - 1.0))))
        return doors

    def _layout(self) -> tuple[tuple[Rect, ...], tuple[Rect, ...]]:
        s, t, n = float(self.size), float(self.wall_thickness), self.n_rooms
        self.doors = self._pick_doors()
        walls: list[Rect] = [
            (0.0, 0.0, t, s),
            (s - t, 0.0, s, s),
            (0.0, 0.0, s, t),
            (0.0, s - t, s, s),
        ]
        opening = {(a, b): centre for a, b, _, centre in self.doors}
        half = self.door_size / 2
        for k in range(1, n):
            w0, w1 = k * s / n - t / 2, k * s / n + t / 2
            for i in range(n):
                lo, hi = max(i * s / n - t / 2, 0.0), min((i + 1) * s / n + t / 2, s)
                for kind, pair in (
                    ("v", (i * n + k - 1, i * n + k)),
                    ("h", ((k - 1) * n + i, k * n + i)),
                ):
                    spans = [(lo, hi)]
                    if pair in opening:
                        spans = [(lo, opening[pair] - half), (opening[pair] + half, hi)]
                    for a, b in spans:
                        walls.append((w0, a, w1, b) if kind == "v" else (a, w0, b, w1))
        rooms = []
        for r in range(n):
            y0, y1 = self._bounds(r)
            for c in range(n):
                x0, x1 = self._bounds(c)
                rooms.append((x0, y0, x1, y1))
        return tuple(walls), tuple(rooms)

    def door_box(self, door: Door) -> Rect:
        """The opening of a door as a rectangle (x0, y0, x1, y1) inside its wall."""
        a, b, kind, centre = door
        s, t, n, half = (
            float(self.size),
            float(self.wall_thickness),
            self.n_rooms,
            self.door_size / 2,
        )
        if kind == "v":
            x = (a % n + 1) * s / n
            return (x - t / 2, centre - half, x + t / 2, centre + half)
        y = (a // n + 1) * s / n
        return (centre - half, y - t / 2, centre + half, y + t / 2)

    def _jamb_nodes(self) -> np.ndarray:
        pts = []
        for door in self.doors:
            x0, y0, x1, y1 = self.door_box(door)
            e = _EPS
            if door[2] == "v":  # outside the wall in x, inside the opening in y
                pts += [(x0 - e, y0 + e), (x1 + e, y0 + e), (x0 - e, y1 - e), (x1 + e, y1 - e)]
            else:
                pts += [(x0 + e, y0 - e), (x0 + e, y1 + e), (x1 - e, y0 - e), (x1 - e, y1 + e)]
        return np.asarray(pts, dtype=float).reshape(-1, 2)

    @property
    def door_center(self) -> np.ndarray:
        """Centre of the first door (x, y); see :meth:`door_waypoints` for the others."""
        x0, y0, x1, y1 = self.door_box(self.doors[0]) if self.doors else (0, 0, 0, 0)
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    def room_of(self, pos: Any) -> int:
        """Room index row * rooms + column of the grid cell holding ``pos``."""
        n, s = self.n_rooms, float(self.size)
        c = min(max(int(float(pos[0]) * n / s), 0), n - 1)
        r = min(max(int(float(pos[1]) * n / s), 0), n - 1)
        return r * n + c

    def door_waypoints(self, pos: Any, rng: np.random.Generator) -> list[np.ndarray]:
        """Waypoints through a random door of the room at ``pos``: in front, centre, beyond."""
        room = self.room_of(pos)
        mine = [d for d in self.doors if room in d[:2]]
        if not mine:
            return []
        door = mine[int(rng.integers(len(mine)))]
        x0, y0, x1, y1 = self.door_box(door)
        c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        axis = np.array([1.0, 0.0]) if door[2] == "v" else np.array([0.0, 1.0])
        side = 1.0 if room == door[0] else -1.0  # +1: from room a to room b (+x or +y)
        off = self.wall_thickness / 2
        return [c - side * (off + 3.0) * axis, c, c + side * (off + 4.0) * axis]

    # ------------------------------------------------------------------ distances
    def geodesic_distance(self, a: Any, b: Any) -> float:
        """Shortest free-path length (px) between two free points (inf if none)."""
        a, b = np.asarray(a, dtype=float)[:2], np.asarray(b, dtype=float)[:2]
        if segments_free(a[None], b[None], self.walls)[0]:
            return float(np.linalg.norm(a - b))
        nodes = self._nodes
        if not len(nodes):
            return math.inf
        k = len(nodes)
        ends = np.concatenate([np.repeat(a[None], k, 0), np.repeat(b[None], k, 0)])
        vis = segments_free(ends, np.concatenate([nodes, nodes]), self.walls)
        da = np.where(vis[:k], np.linalg.norm(nodes - a, axis=1), np.inf)
        db = np.where(vis[k:], np.linalg.norm(nodes - b, axis=1), np.inf)
        return float((da[:, None] + self._node_dist + db[None, :]).min())

    def _longest(self) -> float:
        """Largest geodesic distance between room corners (a lower bound on the maze's span)."""
        pts = [(x0 + 1.0, y0 + 1.0) for x0, y0, _, _ in self.rooms]
        pts += [(x1 - 1.0, y1 - 1.0) for _, _, x1, y1 in self.rooms]
        return max(self.geodesic_distance(p, q) for p in pts for q in pts)

    def sample_far(self, rng: np.random.Generator, start: np.ndarray) -> np.ndarray:
        """A free point at least ``min_goal_steps`` maximum-length steps from ``start``."""
        want = self.min_goal_steps * self.max_step_norm
        for _ in range(2000):
            p = self.sample_free(rng)
            if self.geodesic_distance(start, p) >= want:
                return p
        raise AmiError(f"no point {self.min_goal_steps} steps from {start.tolist()} in this maze")

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start anywhere, goal >= ``min_goal_steps`` away, unless ``options`` fixes them."""
        gym.Env.reset(self, seed=seed)
        options = options or {}
        rng = self.np_random
        start = self._check_point("start", options["start"]) if "start" in options else None
        goal = self._check_point("goal", options["goal"]) if "goal" in options else None
        if start is None:
            start = self._far_start(rng) if goal is None else self.sample_far(rng, goal)
        if goal is None:
            goal = self.sample_far(rng, start)
        self._pos, self._goal, self._steps = start, goal, 0
        self._frame = self.render_at(self._pos)
        return self._frame, self._info()

    def _far_start(self, rng: np.random.Generator) -> np.ndarray:
        """A start with some room centre ``min_goal_steps`` away (a few tries, else any)."""
        want = self.min_goal_steps * self.max_step_norm
        centres = [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in self.rooms]
        for _ in range(200):
            s = self.sample_free(rng)
            if max(self.geodesic_distance(s, c) for c in centres) >= want:
                return s
        return self.sample_free(rng)
