"""Two-Rooms navigation (PLDM / EB-JEPA style): a point agent, a wall with one door, 64x64 RGB.

Coordinates are continuous pixels: ``x`` = column, ``y`` = row, origin at the top-left corner.
Pixel ``(row i, col j)`` covers ``[j, j+1) x [i, i+1)``; its centre is ``(j + 0.5, i + 0.5)``.
Walls are axis-aligned rectangles ``(x0, y0, x1, y1)``; a point is free when it lies strictly
outside every (closed) wall rectangle. The collision and drawing helpers only depend on the wall
list, so multi-room layouts can reuse them by overriding :meth:`TwoRoomsEnv._layout`.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from amiwm.errors import AmiError

Rect = tuple[float, float, float, float]

WALL_COLOR = (0, 0, 255)  # walls live in the blue channel only
AGENT_CHANNEL = 0  # the agent blob lives in the red channel only
_EPS = 1e-3  # distance (px) kept between a stopped agent and the wall face it hit


def entry_time(px: float, py: float, dx: float, dy: float, rect: Rect) -> float | None:
    """Segment parameter t in [0, 1] where ``p + t*d`` first touches the closed ``rect``."""
    x0, y0, x1, y1 = rect
    t0, t1 = 0.0, 1.0
    for p, d, lo, hi in ((px, dx, x0, x1), (py, dy, y0, y1)):
        if d == 0.0:
            if p < lo or p > hi:
                return None
            continue
        a, b = (lo - p) / d, (hi - p) / d
        if a > b:
            a, b = b, a
        t0, t1 = max(t0, a), min(t1, b)
        if t0 > t1:
            return None
    return t0


def point_free(x: float, y: float, walls: tuple[Rect, ...]) -> bool:
    """True when ``(x, y)`` is strictly outside every closed wall rectangle."""
    return not any(x0 <= x <= x1 and y0 <= y <= y1 for x0, y0, x1, y1 in walls)


def move_point(
    x: float, y: float, dx: float, dy: float, walls: tuple[Rect, ...]
) -> tuple[float, float]:
    """Move a free point by ``(dx, dy)``, stopping just before the first wall face on the way."""
    hits = [t for r in walls if (t := entry_time(x, y, dx, dy, r)) is not None]
    if not hits:
        return x + dx, y + dy
    t = max(0.0, min(hits) - _EPS / math.hypot(dx, dy))
    nx, ny = x + t * dx, y + t * dy
    return (nx, ny) if point_free(nx, ny, walls) else (x, y)


def draw_walls(size: int, walls: tuple[Rect, ...], color: tuple[int, int, int]) -> np.ndarray:
    """Static (size, size, 3) uint8 image; a pixel is wall when its centre is inside a wall."""
    c = np.arange(size) + 0.5
    mask = np.zeros((size, size), dtype=bool)
    for x0, y0, x1, y1 in walls:
        mask |= ((c >= y0) & (c <= y1))[:, None] & ((c >= x0) & (c <= x1))[None, :]
    img = np.zeros((size, size, 3), dtype=np.uint8)
    img[mask] = color
    return img


class TwoRoomsEnv(gym.Env):
    """Point-agent navigation between two rooms joined by one door; observations are images.

    Action: displacement ``(dx, dy)`` in px, rescaled to norm <= ``max_step_norm``. Start and
    goal are sampled in opposite rooms; success when within ``goal_radius`` of the goal.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        size: int = 64,
        max_steps: int = 200,
        wall_thickness: int = 2,
        door_y: float = 32.0,
        door_size: float = 10.0,
        max_step_norm: float = 2.45,
        goal_radius: float = 1.5,
        blob_sigma: float = 1.2,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise AmiError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        t = wall_thickness
        if size < 8 * t + 4 or t < 1:
            raise AmiError(f"size={size}, wall_thickness={t} leave no room; use size >= 8*t + 4")
        half = door_size / 2
        if door_size <= 0 or door_y - half < t or door_y + half > size - t:
            raise AmiError(f"door (y={door_y}, size={door_size}) must lie inside the inner wall")
        if max_steps < 1 or max_step_norm <= 0 or goal_radius < 0 or blob_sigma <= 0:
            raise AmiError("max_steps, max_step_norm and blob_sigma must be > 0, goal_radius >= 0")
        self.size, self.max_steps, self.wall_thickness = size, max_steps, t
        self.door_y, self.door_size = float(door_y), float(door_size)
        self.max_step_norm, self.goal_radius = float(max_step_norm), float(goal_radius)
        self.blob_sigma, self.render_mode = float(blob_sigma), render_mode
        self.walls, self.rooms = self._layout()
        self._background = draw_walls(size, self.walls, WALL_COLOR)
        self._blob_r = math.ceil(4 * self.blob_sigma)
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        m = self.max_step_norm
        self.action_space = gym.spaces.Box(-m, m, (2,), np.float32)
        self._pos = np.zeros(2)
        self._goal = np.zeros(2)
        self._steps = 0
        self._frame: np.ndarray | None = None

    # ------------------------------------------------------------------ geometry
    def _layout(self) -> tuple[tuple[Rect, ...], tuple[Rect, ...]]:
        """Wall rectangles and room rectangles (rooms: convex free regions, index = room id)."""
        s, t = float(self.size), float(self.wall_thickness)
        x0, x1 = s / 2 - t / 2, s / 2 + t / 2
        lo, hi = self.door_y - self.door_size / 2, self.door_y + self.door_size / 2
        walls = (
            (0.0, 0.0, t, s),  # left border
            (s - t, 0.0, s, s),  # right border
            (0.0, 0.0, s, t),  # top border
            (0.0, s - t, s, s),  # bottom border
            (x0, 0.0, x1, lo),  # middle wall above the door
            (x0, hi, x1, s),  # middle wall below the door
        )
        rooms = ((t, t, x0, s - t), (x1, t, s - t, s - t))
        return walls, rooms

    @property
    def door_center(self) -> np.ndarray:
        """Centre of the door opening, (x, y)."""
        return np.array([self.size / 2, self.door_y])

    def is_free(self, pos: Any) -> bool:
        """True when ``pos`` is inside the arena and not in (or on) a wall."""
        x, y = float(pos[0]), float(pos[1])
        inside = 0.0 < x < self.size and 0.0 < y < self.size
        return inside and point_free(x, y, self.walls)

    def room_of(self, pos: Any) -> int:
        """0 for the left room, 1 for the right room (split at the middle of the wall)."""
        return int(float(pos[0]) >= self.size / 2)

    def clip_move(self, pos: Any, delta: Any) -> np.ndarray:
        """Where a move of ``delta`` from ``pos`` ends (norm rescaled, walls applied); no state."""
        dx, dy = float(delta[0]), float(delta[1])
        if not (math.isfinite(dx) and math.isfinite(dy)):
            raise ValueError(f"action must be finite, got {[dx, dy]}")
        n = math.hypot(dx, dy)
        if n > self.max_step_norm:
            dx, dy = dx * self.max_step_norm / n, dy * self.max_step_norm / n
        if n == 0.0:
            return np.array([float(pos[0]), float(pos[1])])
        return np.array(move_point(float(pos[0]), float(pos[1]), dx, dy, self.walls))

    def sample_free(self, rng: np.random.Generator, room: int | None = None) -> np.ndarray:
        """Uniform point in ``room`` (random room if None), at least 1 px away from its walls."""
        if room is None:
            room = int(rng.integers(len(self.rooms)))
        x0, y0, x1, y1 = self.rooms[room]
        return rng.uniform((x0 + 1.0, y0 + 1.0), (x1 - 1.0, y1 - 1.0))

    def geodesic_distance(self, a: Any, b: Any) -> float:
        """Shortest free-path length (px): straight within a room, else through the door."""
        a, b = np.asarray(a, dtype=float)[:2], np.asarray(b, dtype=float)[:2]
        if self.room_of(a) == self.room_of(b) and self._segment_free(a, b):
            return float(np.linalg.norm(a - b))
        if a[0] > b[0]:
            a, b = b, a
        if self._segment_free(a, b):
            return float(np.linalg.norm(a - b))
        x0, _, x1, _ = self.walls[4]
        lo, hi = self.door_y - self.door_size / 2, self.door_y + self.door_size / 2
        ys = np.linspace(lo, hi, 201)
        # Path a -> (x0, y1) -> (x1, y2) -> b; skip an end when the point is already in the door.
        p1 = np.stack([np.full_like(ys, x0), ys], 1) if a[0] < x0 else a[None]
        p2 = np.stack([np.full_like(ys, x1), ys], 1) if b[0] > x1 else b[None]
        d = (
            np.linalg.norm(p1 - a, axis=1)[:, None]
            + np.linalg.norm(p1[:, None] - p2[None], axis=2)
            + np.linalg.norm(p2 - b, axis=1)[None, :]
        )
        return float(d.min())

    def _segment_free(self, a: np.ndarray, b: np.ndarray) -> bool:
        d = b - a
        return all(entry_time(a[0], a[1], d[0], d[1], r) is None for r in self.walls)

    # ------------------------------------------------------------------ rendering
    def render_at(self, pos: Any) -> np.ndarray:
        """Observation with the agent at ``pos`` (does not change the env state)."""
        img = self._background.copy()
        x, y, r, s = float(pos[0]), float(pos[1]), self._blob_r, self.size
        c0, r0 = max(int(x) - r, 0), max(int(y) - r, 0)
        c1, r1 = min(int(x) + r + 1, s), min(int(y) + r + 1, s)
        if c0 >= c1 or r0 >= r1:
            return img
        k = -0.5 / self.blob_sigma**2
        gx = np.exp(k * (np.arange(c0, c1) + 0.5 - x) ** 2)
        gy = np.exp(k * (np.arange(r0, r1) + 0.5 - y) ** 2)
        img[r0:r1, c0:c1, AGENT_CHANNEL] = (np.outer(gy, gx) * 255.0 + 0.5).astype(np.uint8)
        return img

    def goal_observation(self) -> np.ndarray:
        """Observation with the agent at the goal."""
        return self.render_at(self._goal)

    def render(self) -> np.ndarray | None:
        """The current frame (same as the last observation) in ``rgb_array`` mode, else None."""
        if self.render_mode != "rgb_array" or self._frame is None:
            return None
        return self._frame.copy()

    # ------------------------------------------------------------------ gym API
    def _info(self) -> dict[str, Any]:
        dist = float(np.linalg.norm(self._pos - self._goal))
        return {
            "pos": self._pos.astype(np.float32),
            "goal": self._goal.astype(np.float32),
            "distance": dist,
            "is_success": dist <= self.goal_radius,
        }

    def _check_point(self, name: str, value: Any) -> np.ndarray:
        p = np.asarray(value, dtype=float).reshape(-1)
        if p.shape != (2,) or not np.isfinite(p).all() or not self.is_free(p):
            raise ValueError(f"options[{name!r}]={value!r} must be an (x, y) point in free space")
        return p

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Sample start and goal in opposite rooms unless ``options`` fixes 'start'/'goal'."""
        super().reset(seed=seed)
        options = options or {}
        rng = self.np_random
        start = self._check_point("start", options["start"]) if "start" in options else None
        goal = self._check_point("goal", options["goal"]) if "goal" in options else None
        if start is None:
            room = int(rng.integers(2)) if goal is None else 1 - self.room_of(goal)
            start = self.sample_free(rng, room)
        if goal is None:
            goal = self.sample_free(rng, 1 - self.room_of(start))
        self._pos, self._goal, self._steps = start, goal, 0
        self._frame = self.render_at(self._pos)
        return self._frame, self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move by ``action`` (clipped to ``max_step_norm``, stopped by walls)."""
        a = np.asarray(action, dtype=float).reshape(-1)
        if a.shape != (2,):
            raise ValueError(f"action must have shape (2,), got {np.shape(action)}")
        if np.isnan(a).any():
            raise ValueError(f"action contains NaN: {a.tolist()}; policies must output numbers")
        self._pos = self.clip_move(self._pos, a)
        self._steps += 1
        self._frame = self.render_at(self._pos)
        info = self._info()
        terminated = bool(info["is_success"])
        truncated = self._steps >= self.max_steps
        return self._frame, float(terminated), terminated, truncated, info
